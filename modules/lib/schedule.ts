// Scheduled jobs (a dump, a backup): one layer for every satellite, like daemon.ts for daemons.
// A job is a shell script (written by the caller's code, mode 0700, no secret in it) run at the
// times of a systemd calendar expression:
//   - service_manager systemd: a user timer `<name>.timer` and a oneshot `<name>.service`,
//     enabled and started (`systemctl --user enable --now`), so that it survives a reboot of the
//     user's manager (lingering);
//   - service_manager none: one entry of the owner's crontab, under a marker comment naming the
//     job, so that the collection edits only its own lines (the calendar expression translated
//     to cron's five fields; what cron cannot express is refused before anything is written).
// A job is a CompanionService: the instance's service steps install, start, stop and remove it
// with the instance (its "running" is the timer active / the crontab entry present).
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { commandsAction, userSystemctl, userSystemdEnv, type Action, type CompanionService } from './daemon';
import { formatCommand, run, shellQuote } from './exec';
import { readTextOr, writeFileAtomic } from './fsutil';
import { ModuleError } from './runtime';
import type { SiteSettings } from './settings';

export interface JobSpec {
  /** Letters, digits, '-', '_' and '.' (a unit name). */
  name: string;
  description: string;
  /** systemd calendar expression (OnCalendar). */
  onCalendar: string;
  /** The script the job runs (`/bin/sh <script>`), and its text. */
  script: string;
  scriptText: string;
  logFile: string;
}

const MARKER = '# socle.postgresql job ';

// ---------------------------------------------------------------------------------------------
// OnCalendar -> cron

const DOW = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const SHORTHANDS: Record<string, string> = {
  minutely: '*-*-* *:*:00',
  hourly: '*-*-* *:00:00',
  daily: '*-*-* 00:00:00',
  weekly: 'Mon *-*-* 00:00:00',
  monthly: '*-*-01 00:00:00',
  yearly: '*-01-01 00:00:00',
  annually: '*-01-01 00:00:00',
};

/** One field of a calendar expression (`*`, `5`, `1,15`, `1..5`, `*\/15`, `0/30`) as a cron field. */
function cronField(v: string, min: number, max: number): string | null {
  if (v === '*') return '*';
  const parts = v.split(',').map((p) => {
    let m = /^(\d+)\.\.(\d+)$/.exec(p);
    if (m && +m[1] >= min && +m[2] <= max && +m[1] <= +m[2]) return `${+m[1]}-${+m[2]}`;
    m = /^(\*|\d+)\/(\d+)$/.exec(p);
    if (m && +m[2] > 0) return m[1] === '*' ? `*/${+m[2]}` : +m[1] >= min && +m[1] <= max ? `${+m[1]}-${max}/${+m[2]}` : null;
    return /^\d+$/.test(p) && +p >= min && +p <= max ? String(+p) : null;
  });
  return parts.every((p) => p !== null) ? parts.join(',') : null;
}

function cronDow(v: string): string | null {
  const idx = (d: string) => DOW.indexOf(d.toLowerCase().slice(0, 3));
  const parts = v.split(',').map((p) => {
    const m = /^([A-Za-z]+)(?:\.\.([A-Za-z]+))?$/.exec(p);
    if (!m) return null;
    const a = idx(m[1]);
    const b = m[2] ? idx(m[2]) : a;
    if (a < 0 || b < 0 || !/^[a-z]{3,}$/i.test(m[1])) return null;
    return a === b ? String(a) : a < b ? `${a}-${b}` : null;
  });
  return parts.every((p) => p !== null) ? parts.join(',') : null;
}

/**
 * The crontab time fields (`m h dom mon dow`) of a systemd calendar expression, for the forms
 * cron can express: shorthands (`daily`, `weekly`...), `[DOW] [*-MM-DD] [HH:MM[:00]]` with `*`,
 * lists, ranges (`..`) and repetitions (`/`). Seconds must be 0; years and time zones are refused.
 */
export function calendarToCron(expr: string): string {
  const fail = (why: string): never => {
    throw new ModuleError(`'${expr}' cannot be written as a crontab entry (service_manager none): ${why}`);
  };
  let e = expr.trim().replace(/\s+/g, ' ');
  e = SHORTHANDS[e.toLowerCase()] ?? e;
  const tokens = e.split(' ');
  let dow = '*';
  if (tokens.length && /^[A-Za-z]/.test(tokens[0])) dow = cronDow(tokens.shift()!) ?? fail('unknown day of the week');
  let date = '*-*-*';
  if (tokens.length && tokens[0].includes('-')) date = tokens.shift()!;
  let time = '00:00:00';
  if (tokens.length && tokens[0].includes(':')) time = tokens.shift()!;
  if (tokens.length) fail(`unexpected '${tokens.join(' ')}' (time zones are not supported)`);
  const d = date.split('-');
  if (d.length === 2) d.unshift('*');
  if (d.length !== 3) fail('the date must be [YYYY-]MM-DD');
  if (d[0] !== '*') fail('years cannot be expressed');
  const t = time.split(':');
  if (t.length === 2) t.push('00');
  if (t.length !== 3) fail('the time must be HH:MM[:SS]');
  if (!/^0?0$/.test(t[2])) fail('cron runs on whole minutes (seconds must be 00)');
  const minute = cronField(t[1], 0, 59) ?? fail(`bad minutes '${t[1]}'`);
  const hour = cronField(t[0], 0, 23) ?? fail(`bad hours '${t[0]}'`);
  const dom = cronField(d[2], 1, 31) ?? fail(`bad day of the month '${d[2]}'`);
  const month = cronField(d[1], 1, 12) ?? fail(`bad month '${d[1]}'`);
  return `${minute} ${hour} ${dom} ${month} ${dow}`;
}

/**
 * Checks an expression for the site's service manager before anything is written: with
 * systemd, `systemd-analyze calendar` (when present) judges it; without, it must translate to cron.
 */
export function checkCalendar(settings: SiteSettings, expr: string, option: string): void {
  if (settings.serviceManager === 'none') {
    try {
      calendarToCron(expr);
    } catch (err) {
      throw new ModuleError(`option '${option}': ${(err as Error).message}`);
    }
    // Before anything is written: a creation would otherwise fail at its last step.
    const r = spawnSync('crontab', ['-l'], { encoding: 'utf8' });
    if (r.error) {
      throw new ModuleError(`option '${option}': without systemd (service_manager none) a schedule is a crontab entry, and crontab is not available on this host: install cron (Debian cron, RHEL cronie), or remove the schedule`);
    }
    return;
  }
  const r = spawnSync('systemd-analyze', ['calendar', expr], { encoding: 'utf8' });
  if (r.error) return; // no systemd-analyze here: systemctl reports a bad timer at start
  if (r.status !== 0) throw new ModuleError(`option '${option}': not a systemd calendar expression (${(r.stderr || r.stdout).trim().split('\n').pop()})`);
}

// ---------------------------------------------------------------------------------------------
// crontab

function readCrontab(): string {
  const r = spawnSync('crontab', ['-l'], { encoding: 'utf8' });
  if (r.error) throw new ModuleError(`crontab is not available on this host (${r.error.message}): install cron, or use service_manager systemd`);
  // "no crontab for <user>" is an empty crontab.
  return r.status === 0 ? r.stdout : '';
}

async function writeCrontab(text: string): Promise<void> {
  const r = spawnSync('crontab', ['-'], { input: text, encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new ModuleError(`crontab -: ${r.error?.message ?? r.stderr.trim()}`);
}

/**
 * The marker line of a job: its name and its script, so that two prefixes of one user (two site
 * settings files) never take each other's entries for their own.
 */
const markerOf = (name: string, script: string) => `${MARKER}${name} ${script}`;

/** The crontab's lines without the job's marker and entry. */
function withoutEntry(text: string, marker: string): string[] {
  const lines = text.split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] === marker) {
      i++; // its entry
      continue;
    }
    out.push(lines[i]);
  }
  while (out.length && out[out.length - 1] === '') out.pop();
  return out;
}

function entryOf(text: string, marker: string): string | null {
  const lines = text.split('\n');
  const i = lines.indexOf(marker);
  return i >= 0 ? lines[i + 1] ?? '' : null;
}


/** Names of the jobs whose name starts with `prefix` (installed timers, or crontab entries). */
export function installedJobs(settings: SiteSettings, prefix: string): string[] {
  if (settings.serviceManager === 'systemd') {
    try {
      return readdirSync(settings.unitPath).filter((f) => f.startsWith(prefix) && f.endsWith('.timer')).map((f) => f.slice(0, -'.timer'.length));
    } catch {
      return [];
    }
  }
  // Entries, and the scripts of jobs whose entry is removed while their instance is stopped.
  const r = spawnSync('crontab', ['-l'], { encoding: 'utf8' });
  const entries = (r.error || r.status !== 0 ? [] : r.stdout.split('\n'))
    .filter((l) => l.startsWith(MARKER + prefix))
    .map((l) => l.slice(MARKER.length).split(' ')[0])
    .filter((name) => r.stdout.split('\n').includes(markerOf(name, jobFiles(settings, name).script)));
  let scripts: string[] = [];
  try {
    scripts = readdirSync(dirname(jobFiles(settings, prefix).script)).filter((f) => f.startsWith(prefix) && f.endsWith('.sh')).map((f) => f.slice(0, -3));
  } catch {
    /* none */
  }
  return [...new Set([...entries, ...scripts])].sort();
}

function cronJob(settings: SiteSettings, spec: JobSpec): CompanionService {
  const marker = markerOf(spec.name, spec.script);
  // `%` is special in a crontab line (a newline): the script path is quoted, and holds none.
  const entry = () => `${calendarToCron(spec.onCalendar)} /bin/sh ${shellQuote(spec.script)} >>${shellQuote(spec.logFile)} 2>&1`;
  const scriptOk = () => readTextOr(spec.script, null) === spec.scriptText;
  const add: () => Action = () => ({
    commands: [`crontab: ${marker}`, `crontab: ${entry()}`],
    async run() {
      const lines = withoutEntry(readCrontab(), marker);
      await writeCrontab([...lines, marker, entry(), ''].join('\n'));
    },
  });
  const remove: () => Action = () => ({
    commands: [`crontab: remove the entry of ${spec.name}`],
    async run() {
      const text = readCrontab();
      if (entryOf(text, marker) === null) return;
      const lines = withoutEntry(text, marker);
      await writeCrontab(lines.length ? [...lines, ''].join('\n') : '');
    },
  });
  return {
    name: spec.name,
    isRunning: () => entryOf(readCrontab(), marker) !== null,
    isInstalled: () => {
      const e = entryOf(readCrontab(), marker);
      return scriptOk() && (e === null || e === entry());
    },
    install: () => ({
      commands: scriptOk() ? [] : [`write ${spec.script} (mode 0700)`],
      async run() {
        mkdirSync(dirname(spec.script), { recursive: true, mode: 0o700 });
        mkdirSync(dirname(spec.logFile), { recursive: true, mode: 0o700 });
        writeFileAtomic(spec.script, spec.scriptText, 0o700);
      },
    }),
    uninstall: () => {
      const r = remove();
      return { commands: [...r.commands, formatCommand('rm', ['-f', spec.script])], run: async () => { await r.run(); rmSync(spec.script, { force: true }); } };
    },
    start: add,
    stop: remove,
    restart: add,
  };
}

function timerJob(settings: SiteSettings, spec: JobSpec): CompanionService {
  userSystemdEnv();
  const serviceFile = join(settings.unitPath, `${spec.name}.service`);
  const timerFile = join(settings.unitPath, `${spec.name}.timer`);
  const timer = `${spec.name}.timer`;
  const q = (w: string) => (/[\s"\\]/.test(w) ? JSON.stringify(w) : w);
  const service = [
    '# Written by socle.postgresql; changes are overwritten.',
    '[Unit]',
    `Description=${spec.description} (socle.postgresql)`,
    '',
    '[Service]',
    'Type=oneshot',
    `ExecStart=/bin/sh ${q(spec.script)}`,
    `StandardOutput=append:${spec.logFile}`,
    `StandardError=append:${spec.logFile}`,
    '',
  ].join('\n');
  const timerText = [
    '# Written by socle.postgresql; changes are overwritten.',
    '[Unit]',
    `Description=${spec.description}, on schedule (socle.postgresql)`,
    '',
    '[Timer]',
    `OnCalendar=${spec.onCalendar}`,
    // A run missed while the user's manager was down is caught up at its start.
    'Persistent=true',
    '',
    '[Install]',
    'WantedBy=timers.target',
    '',
  ].join('\n');
  const systemctl = userSystemctl;
  const act = commandsAction;
  return {
    name: spec.name,
    isRunning: () => spawnSync('systemctl', ['--user', 'is-active', '--quiet', timer]).status === 0,
    isInstalled: () => readTextOr(serviceFile, null) === service && readTextOr(timerFile, null) === timerText && readTextOr(spec.script, null) === spec.scriptText,
    install: () => ({
      commands: [`write ${spec.script} (mode 0700)`, `write ${serviceFile}`, `write ${timerFile}`, formatCommand('systemctl', ['--user', 'daemon-reload'])],
      async run() {
        mkdirSync(dirname(spec.script), { recursive: true, mode: 0o700 });
        mkdirSync(dirname(spec.logFile), { recursive: true, mode: 0o700 });
        mkdirSync(settings.unitPath, { recursive: true, mode: 0o755 });
        writeFileAtomic(spec.script, spec.scriptText, 0o700);
        writeFileAtomic(serviceFile, service, 0o644);
        writeFileAtomic(timerFile, timerText, 0o644);
        await run(...systemctl('daemon-reload'));
      },
    }),
    uninstall: () => ({
      commands: [formatCommand('systemctl', ['--user', 'disable', '--now', timer]), `remove ${timerFile} ${serviceFile} ${spec.script}`, formatCommand('systemctl', ['--user', 'daemon-reload'])],
      async run() {
        await run(...systemctl('disable', '--now', timer)).catch(() => undefined);
        for (const f of [timerFile, serviceFile, spec.script]) rmSync(f, { force: true });
        await run(...systemctl('daemon-reload'));
      },
    }),
    start: () => act([systemctl('enable', '--now', timer)]),
    stop: () => act([systemctl('disable', '--now', timer)]),
    restart: () => act([systemctl('daemon-reload'), systemctl('enable', timer), systemctl('restart', timer)]),
  };
}

export function scheduledJob(settings: SiteSettings, spec: JobSpec): CompanionService {
  return settings.serviceManager === 'systemd' ? timerJob(settings, spec) : cronJob(settings, spec);
}

/**
 * Steps-free helpers for a job that follows an option rather than the instance's state (a
 * database's `schedule_dump`): what to run so that it is installed and active, or gone.
 */
export function ensureJob(job: CompanionService): Action | null {
  const cmds: string[] = [];
  const todo: Action[] = [];
  const installed = job.isInstalled();
  if (!installed) todo.push(job.install());
  const running = job.isRunning();
  if (!running) todo.push(job.start());
  else if (!installed) todo.push(job.restart());
  for (const a of todo) cmds.push(...a.commands);
  if (!todo.length) return null;
  return { commands: cmds, run: async () => { for (const a of todo) await a.run(); } };
}

/** Where a job's script and log go: `{prefix}/etc/jobs/<name>.sh`, `{prefix}/log/jobs/<name>.log`. */
export function jobFiles(settings: SiteSettings, name: string): { script: string; logFile: string } {
  return { script: join(settings.prefix, 'etc', 'jobs', `${name}.sh`), logFile: join(settings.prefix, 'log', 'jobs', `${name}.log`) };
}

