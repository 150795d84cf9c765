// The standalone postgres_exporter module: one exporter, named by the task, for any data source.
// Plan-then-apply like the rest: its files, then its service, only what differs.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { PostgresExporterOptions } from '../../../generated/postgres_exporter';
import type { Action } from '../../daemon';
import { formatCommand } from '../../exec';
import { withLock } from '../../lock';
import { applySteps, report, type Step } from '../../plan';
import { ModuleError, type ModuleContext, type ModuleResult } from '../../runtime';
import { loadSettings } from '../../settings';
import { privateFileStep } from '../../instance/lifecycle';
import {
  configText,
  exporterFiles,
  exporterLeftovers,
  exporterService,
  exporterSite,
  listenAddress,
  metricsUrl,
  passfileText,
  type ExporterDefinition,
} from './exporter';

/** A password inside the data source would end up in a file and in the process's environment shown by the plan. */
function checkDsn(dsn: string): void {
  if (/(^|\s)password\s*=/i.test(dsn) || /^postgres(ql)?:\/\/[^/@?]*:[^/@?]*@/i.test(dsn) || /[?&]password=/i.test(dsn)) {
    throw new ModuleError("option 'dsn': must not contain a password (give it in option 'password')");
  }
  if (/[\n\r\0]/.test(dsn)) throw new ModuleError("option 'dsn': must not contain a line break or NUL");
}

const asStep = (change: string, a: Action): Step => ({ change, commands: a.commands, apply: a.run });

export async function runExporter(opts: PostgresExporterOptions, ctx: ModuleContext): Promise<ModuleResult> {
  checkDsn(opts.dsn);
  if (opts.password?.includes('\0')) throw new ModuleError("option 'password': must not contain NUL");
  const settings = loadSettings();
  const site = exporterSite(settings);
  const files = exporterFiles(settings, site, opts.name);
  const def: ExporterDefinition = { dsn: opts.dsn, listen: listenAddress(site, opts.port!), ...(opts.password !== undefined ? { passfile: files.passfile } : {}) };
  const service = exporterService(settings, site, files, def);
  const locked = ctx.checkMode ? (fn: () => Promise<ModuleResult>) => fn() : (fn: () => Promise<ModuleResult>) => withLock(join(settings.runPrefix, 'locks', `postgres_exporter-${opts.name}.lock`), settings.lockTimeout, `postgres_exporter ${opts.name}`, fn);
  return locked(async () => {
    const running = service.isRunning();
    const before = running ? 'running' : exporterLeftovers(files).length ? 'stopped' : 'absent';
    const steps: Step[] = [];
    if (opts.state === 'absent') {
      if (running) steps.push(asStep(`stop service ${service.name}`, service.stop()));
      const u = service.uninstall();
      const left = exporterLeftovers(files);
      if (left.length || (u.commands.length && before !== 'absent')) {
        steps.push({ change: `remove postgres_exporter ${opts.name}`, commands: [...u.commands, formatCommand('rm', ['-f', ...left])], async apply() {
          await u.run();
          left.forEach((f) => rmSync(f, { force: true }));
        } });
      }
    } else {
      const conf = privateFileStep(files.configFile, configText(def), `write the configuration of postgres_exporter ${opts.name}`);
      const pass = opts.password !== undefined ? privateFileStep(files.passfile, passfileText(opts.password), `write the password of postgres_exporter ${opts.name}`) : null;
      steps.push(...[conf, pass].filter((s): s is Step => s !== null));
      const installed = service.isInstalled();
      if (!installed) {
        const i = service.install();
        if (i.commands.length) steps.push(asStep(`install service ${service.name}`, i));
      }
      if (opts.state === 'started') {
        // A changed definition or password restarts it (a new password changes no definition).
        if (running && (!installed || pass)) steps.push(asStep(`restart service ${service.name}`, service.restart()));
        else if (!running) steps.push(asStep(`start service ${service.name}`, service.start()));
      } else if (running) {
        steps.push(asStep(`stop service ${service.name}`, service.stop()));
      }
    }
    if (!ctx.checkMode) await applySteps(steps);
    const r = report(steps);
    const state = opts.state === 'absent' ? 'absent' : opts.state === 'started' ? 'running' : 'stopped';
    const describe = (s: string) => `state: ${s}\n${s === 'absent' ? '' : `listen: ${def.listen}\ndsn: ${def.dsn}\n`}`;
    return {
      changed: r.changed,
      msg: r.changed ? `${ctx.checkMode ? 'would ' : ''}${r.changes.join('; ')}` : `postgres_exporter ${opts.name} is ${state}, nothing to change`,
      changes: r.changes,
      commands: r.commands,
      ...(ctx.diff ? { diff: { before: describe(before), after: describe(state) } } : {}),
      ...(state === 'absent' ? {} : { url: metricsUrl(def) }),
      state,
      service: service.name,
    };
  });
}
