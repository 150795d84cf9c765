// The report module: plan-then-apply over the report script, the pgCluu collector's service and
// the schedule; `build: true` then runs the script (always a change, like a restart).
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ReportOptions } from '../../generated/report';
import { PGBADGER_LINE_PREFIX } from '../components/logging';
import { daemonService, type Action } from '../daemon';
import { formatCommand, run } from '../exec';
import { readTextOr, writeFileAtomic } from '../fsutil';
import { findInstance } from '../instance/target';
import { withLock } from '../lock';
import { parseConf } from '../pg/guc';
import { applySteps, report, type Step } from '../plan';
import { ModuleError, type ModuleContext, type ModuleResult } from '../runtime';
import { loadSettings } from '../settings';
import { scheduleFor } from './schedule';
import { collectorName, collectorPidFile, collectorSpec, reportFiles, scriptText } from './script';

const asStep = (change: string, a: Action): Step => ({ change, commands: a.commands, apply: a.run });

function checkOptions(opts: ReportOptions): void {
  const tools: Array<[string, string | undefined]> = [
    ['pgbadger.execpath', opts.pgbadger?.execpath],
    ['pgcluu.execpath', opts.pgcluu?.execpath],
  ];
  for (const [path, file] of tools) {
    if (file !== undefined && !existsSync(file)) throw new ModuleError(`option '${path}': ${file} does not exist (Debian: ${path.split('.')[0]})`);
  }
  if (opts.pgcluu && !existsSync(join(opts.pgcluu.execpath, '..', 'pgcluu_collectd'))) {
    throw new ModuleError(`option 'pgcluu.execpath': no pgcluu_collectd beside ${opts.pgcluu.execpath}`);
  }
  if (opts.pgbadger?.prefix !== undefined && /[\n\r\0]/.test(opts.pgbadger.prefix)) throw new ModuleError("option 'pgbadger.prefix': must not contain a line break or NUL");
  if (opts.state === 'absent' && opts.build) throw new ModuleError("option 'build': cannot build reports with state: absent");
}

export async function runReport(opts: ReportOptions, ctx: ModuleContext): Promise<ModuleResult> {
  checkOptions(opts);
  const settings = loadSettings();
  const l = findInstance(settings, opts.instance);
  const conf = parseConf(readTextOr(l.managedConf, ''));
  const port = Number(conf.get('port') ?? 5432);
  const prefix = opts.pgbadger?.prefix ?? (conf.get('log_line_prefix') as string | undefined) ?? PGBADGER_LINE_PREFIX;
  const files = reportFiles(settings, l, opts);
  const schedule = scheduleFor(settings, files);
  // The collector's service: the declared one, or (pgcluu left out, or absent) one left behind to stop.
  const collector = opts.pgcluu
    ? daemonService(settings, collectorSpec(settings, l, opts, files, port))
    : daemonService(settings, { name: collectorName(files), description: 'pgCluu collector', argv: ['true'], logFile: '/dev/null' });
  const lockFile = join(settings.runPrefix, 'locks', `report-${files.name}.lock`);
  const locked = ctx.checkMode ? (fn: () => Promise<ModuleResult>) => fn() : (fn: () => Promise<ModuleResult>) => withLock(lockFile, settings.lockTimeout, `report ${files.name}`, fn);

  return locked(async () => {
    const before = { script: readTextOr(files.script, null), collector: collector.isRunning() ? 'running' : 'stopped', schedule: schedule.current() };
    const steps: Step[] = [];
    const present = opts.state === 'present';
    // 1. the collector stops first (absent, or pgcluu no longer declared)
    if ((!present || !opts.pgcluu) && collector.isRunning()) steps.push(asStep(`stop service ${collector.name}`, collector.stop()));
    if (!present || !opts.pgcluu) {
      const u = collector.uninstall();
      if (u.commands.length && !present) steps.push(asStep(`remove service ${collector.name}`, u));
    }
    // 2. the schedule
    steps.push(...schedule.steps(present ? opts.schedule : undefined));
    let text: string | null = null;
    if (present) {
      // 3. the script and the collector's statistics directory
      text = scriptText(l, opts, files, prefix);
      if (before.script !== text) {
        steps.push({
          change: `write the report script of ${files.name}`,
          commands: [`write ${files.script} (mode 0700)`],
          async apply() {
            mkdirSync(join(files.script, '..'), { recursive: true, mode: 0o700 });
            writeFileAtomic(files.script, text!, 0o700);
          },
        });
      }
      if (opts.pgcluu && files.pgcluu) {
        const dirs = [files.pgcluu.statsdir, dirname(collectorPidFile(settings, files))].filter((d) => !existsSync(d));
        if (dirs.length) {
          steps.push({
            change: `create the pgCluu statistics directory of ${files.name}`,
            commands: [formatCommand('mkdir', ['-p', '-m', '0700', ...dirs])],
            apply: async () => dirs.forEach((d) => mkdirSync(d, { recursive: true, mode: 0o700 })),
          });
        }
        // 4. the collector: installed, started, restarted when its definition changed
        const installed = collector.isInstalled();
        if (!installed) {
          const i = collector.install();
          if (i.commands.length) steps.push(asStep(`install service ${collector.name}`, i));
        }
        if (!collector.isRunning()) steps.push(asStep(`start service ${collector.name}`, collector.start()));
        else if (!installed) steps.push(asStep(`restart service ${collector.name}`, collector.restart()));
      }
      // 5. the reports, now
      if (opts.build) {
        steps.push({
          change: `build the reports of ${files.name}`,
          commands: [formatCommand('/bin/sh', [files.script])],
          async apply() {
            await run('/bin/sh', [files.script], { timeout: 3600 });
          },
        });
      }
    } else if (before.script !== null) {
      steps.push({ change: `remove the report script of ${files.name}`, commands: [formatCommand('rm', ['-f', files.script])], apply: async () => rmSync(files.script, { force: true }) });
    }

    if (!ctx.checkMode) await applySteps(steps);
    const r = report(steps);
    const after = present
      ? { script: text, collector: opts.pgcluu ? 'running' : 'stopped', schedule: opts.schedule ? { calendar: opts.schedule } : null }
      : { script: null, collector: 'stopped', schedule: null };
    const reports: Record<string, string> = {};
    if (files.pgbadger) reports.pgbadger = files.pgbadger.index;
    if (files.pgcluu) reports.pgcluu = files.pgcluu.index;
    const result: ModuleResult = {
      ...r,
      msg: r.changed ? `report ${files.name}: ${r.changes.join('; ')}` : `report ${files.name}: nothing to change`,
      schedule: ctx.checkMode ? after.schedule : schedule.current(),
    };
    if (present) {
      result.reports = reports;
      result.script = files.script;
      if (opts.pgcluu) result.collector = { service: collector.name, state: ctx.checkMode ? 'running' : collector.isRunning() ? 'running' : 'stopped', statsdir: files.pgcluu!.statsdir };
    }
    if (ctx.diff) result.diff = { before: describe(before), after: describe(after) };
    return result;
  });
}

function describe(s: { script: string | null; collector: string; schedule: unknown }): string {
  return `collector: ${s.collector}\nschedule: ${JSON.stringify(s.schedule)}\nscript: |\n${(s.script ?? '').replace(/^/gm, '  ')}\n`;
}

