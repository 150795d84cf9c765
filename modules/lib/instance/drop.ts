// `state: absent`: the components' services and files, then stop the instance and remove its
// service, data, WAL and passfile entries.
import { writeFileSync } from 'node:fs';
import { formatCommand } from '../exec';
import { readBlock } from '../pg/hba';
import { parseConf } from '../pg/guc';
import { applySteps, type Step } from '../plan';
import type { ModuleResult } from '../runtime';
import type { SiteSettings } from '../settings';
import type { InstanceSpec } from './component';
import { HBA_AUTH_BLOCK } from './config';
import type { InstanceLayout } from './layout';
import { companionSteps, dropSteps, type Components } from './lifecycle';
import { removePassfileStep } from './passfile';
import type { Service } from './service';
import { runningState } from './status';
import { baseFacts, describe, finish, instanceDirs, removeInstanceDirs, type Current } from './state';

export async function drop(settings: SiteSettings, l: InstanceLayout, cur: Current, service: Service, k: Components, opts: InstanceSpec): Promise<ModuleResult> {
  const ctx = k.context.module;
  // The components first (their services stop before the instance, their files go), in reverse order.
  const steps: Step[] = [...companionSteps(k, 'absent'), ...dropSteps(k)];
  if (cur.exists || cur.interrupted) {
    if (runningState(l.datadir)) {
      const stop = service.stop();
      steps.push({ change: `stop instance ${l.id}`, commands: stop.commands, counts: false, apply: stop.run });
    }
    const uninstall = service.uninstall();
    const port = cur.running?.port ?? Number(parseConf(cur.managedText ?? '').get('port') ?? opts.port);
    const passfile = removePassfileStep(settings, port);
    steps.push({
      change: `drop instance ${l.id}`,
      commands: [...uninstall.commands, ...instanceDirs(l).map((d) => formatCommand('rm', ['-rf', d])), ...(passfile?.commands ?? [])],
      async apply() {
        // Marked as remains first: a drop killed half-way is finished by the next task (absent) or
        // cleared before a new creation, instead of leaving a data directory without PG_VERSION.
        writeFileSync(l.creationMarker, `${process.pid}\n`, { mode: 0o600 });
        await uninstall.run();
        removeInstanceDirs(l);
        await passfile?.apply();
      },
    });
  }
  if (!ctx.checkMode) await applySteps(steps);
  const before = describe(cur.exists ? (cur.running ? 'running' : 'stopped') : 'absent', cur.managedText, cur.hbaText ? readBlock(cur.hbaText, HBA_AUTH_BLOCK) : null);
  return finish(steps, { ...baseFacts(l), status: 'absent', pending_restart: false }, { before, after: describe('absent', null, null) }, `instance ${l.id} is absent`, ctx);
}
