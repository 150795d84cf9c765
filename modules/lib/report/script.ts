// The script that builds an instance's reports (pgBadger over its logs, pgCluu over the
// collector's statistics) and the pgCluu collector's service definition. The task and the
// schedule (timer or cron) run the same script, so a scheduled report is the one the task makes.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ReportOptions } from '../../generated/report';
import type { DaemonSpec } from '../daemon';
import { shellQuote } from '../exec';
import type { InstanceLayout } from '../instance/layout';
import { sitePath, type SiteSettings } from '../settings';

export interface ReportFiles {
  /** `<version>-<name>`, in file and service names. */
  name: string;
  script: string;
  /** Where a scheduled run appends its output. */
  log: string;
  pgbadger?: { outdir: string; index: string };
  pgcluu?: { outdir: string; statsdir: string; index: string };
}

export function reportFiles(settings: SiteSettings, l: InstanceLayout, opts: ReportOptions): ReportFiles {
  const name = `${l.version}-${l.name}`;
  const path = (t: string) => sitePath(settings, t, { name });
  const out: ReportFiles = { name, script: path('etc/report/{name}.sh'), log: path('log/report-{name}.log') };
  if (opts.pgbadger) {
    const outdir = path(opts.pgbadger.outdir);
    out.pgbadger = { outdir, index: join(outdir, 'index.html') };
  }
  if (opts.pgcluu) {
    const outdir = path(opts.pgcluu.outdir);
    out.pgcluu = { outdir, statsdir: path(opts.pgcluu.statsdir), index: join(outdir, 'index.html') };
  }
  return out;
}

export const collectorName = (files: Pick<ReportFiles, 'name'>) => `socle-pgcluu_collectd-${files.name}`;

/** pgcluu_collectd, in the foreground (the service layer supervises it), as the super-user through the socket. */
export function collectorSpec(settings: SiteSettings, l: InstanceLayout, opts: ReportOptions, files: ReportFiles, port: number): DaemonSpec {
  const p = opts.pgcluu!;
  const collectd = join(dirname(p.execpath), 'pgcluu_collectd');
  const argv = [
    collectd,
    '--interval', String(p.interval),
    '--port', String(port),
    '--dbuser', settings.postgresql.surole.name,
    '--dbname', 'postgres',
    '--psql', join(l.bindir, 'psql'),
    '--pid-file', collectorPidFile(settings, files),
    '--retention', String(p.retention),
    // Without sysstat's sar the host's CPU, memory and disk series are not collected (its
    // system information still is).
    ...(existsSync('/usr/bin/sar') ? [] : ['--disable-sar']),
    files.pgcluu!.statsdir,
  ];
  const passfile = settings.postgresql.auth.passfile;
  return {
    name: collectorName(files),
    description: `pgCluu collector of instance ${l.id}`,
    argv,
    // The socket directory in PGHOST, not --host: pgcluu_collectd takes any --host other than
    // localhost for a remote server and then collects nothing of the host (sysinfo, sar).
    env: { PGHOST: l.socketDir, ...(passfile ? { PGPASSFILE: passfile } : {}) },
    logFile: sitePath(settings, 'log/pgcluu_collectd-{name}.log', { name: files.name }),
  };
}

/** pgcluu_collectd's own pid file (its default is in /var/run/postgresql); the service layer keeps another. */
export const collectorPidFile = (settings: SiteSettings, files: Pick<ReportFiles, 'name'>) => sitePath(settings, '{run_prefix}/report/pgcluu_collectd-{name}.pid', { name: files.name });

const q = shellQuote;

export function scriptText(l: InstanceLayout, opts: ReportOptions, files: ReportFiles, prefix: string): string {
  const lines = [
    '#!/bin/sh',
    `# The reports of instance ${l.id}, written by socle.postgresql's report module (changes are overwritten).`,
    'set -eu',
  ];
  if (opts.pgbadger && files.pgbadger) {
    const b = opts.pgbadger;
    const args = [
      '--incremental', '--outdir', files.pgbadger.outdir,
      ...(b.retention > 0 ? ['--retention', String(b.retention)] : []),
      '--format', 'stderr', '--prefix', prefix, '--jobs', String(b.jobs), '--quiet',
    ];
    lines.push(
      '',
      '# pgBadger, incremental: LAST_PARSED in the output directory keeps where the last run stopped.',
      `mkdir -p ${q(files.pgbadger.outdir)}`,
      `set -- ${q(l.logDir)}/${q(`${l.version}-${l.name}-`)}*.log`,
      `if [ -e "$1" ]; then ${q(b.execpath)} ${args.map(q).join(' ')} "$@"; else echo "no log file of instance ${l.id} yet" >&2; fi`,
    );
  }
  if (opts.pgcluu && files.pgcluu) {
    // pgcluu refuses an output directory that is not empty: a new report is built beside the
    // last one, which it then replaces.
    const out = files.pgcluu.outdir;
    const next = `${out}.new`;
    lines.push(
      '',
      "# pgCluu, from the statistics pgcluu_collectd writes (its service runs while the task declares pgcluu).",
      `if [ -n "$(ls -A ${q(files.pgcluu.statsdir)} 2>/dev/null)" ]; then`,
      `  rm -rf ${q(next)} && mkdir -p ${q(next)}`,
      `  ${q(opts.pgcluu.execpath)} --output ${q(next)} ${q(files.pgcluu.statsdir)}`,
      `  rm -rf ${q(out)} && mv ${q(next)} ${q(out)}`,
      `else echo "no pgCluu statistics of instance ${l.id} yet" >&2; fi`,
    );
  }
  return `${lines.join('\n')}\n`;
}
