// instance_info: the facts of an instance, read-only.
import type { InstanceInfoOptions } from '../../generated/instance_info';
import { withConnection } from '../pg/client';
import { parseConf } from '../pg/guc';
import { ModuleError, type ModuleResult } from '../runtime';
import { loadSettings } from '../settings';
import { envFacts } from './state';
import { exists, layout, resolveVersion } from './layout';
import { runningState } from './status';
import { readFileSync } from 'node:fs';

export async function instanceInfo(opts: InstanceInfoOptions): Promise<ModuleResult> {
  const settings = loadSettings();
  const l = layout(settings, resolveVersion(settings, opts.name, opts.version), opts.name);
  if (!exists(l)) throw new ModuleError(`instance ${l.id} does not exist (no ${l.datadir})`);
  let conf: Map<string, string>;
  try {
    conf = parseConf(readFileSync(l.managedConf, 'utf8'));
  } catch {
    throw new ModuleError(`instance ${l.id} is not managed by socle.postgresql (no ${l.managedConf})`);
  }
  const running = runningState(l.datadir);
  const port = running?.port ?? Number(conf.get('port') ?? 5432);
  const pending = running
    ? await withConnection({ host: running.socketDir || l.socketDir, port, user: settings.postgresql.surole.name }, async (c) =>
        (await c.query('SELECT bool_or(pending_restart) AS p FROM pg_settings')).rows[0].p === true)
    : false;
  return {
    changed: false,
    msg: `instance ${l.id} is ${running ? 'running' : 'stopped'}`,
    name: l.name,
    version: l.version,
    port,
    datadir: l.datadir,
    waldir: l.waldir,
    status: running ? 'running' : 'stopped',
    pending_restart: pending,
    settings: Object.fromEntries(conf),
    env: envFacts(settings, l, port),
  };
}
