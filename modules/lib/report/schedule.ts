// When the report script runs by itself: a systemd user timer (and its oneshot service), or,
// without systemd (service_manager none), a managed block of the user's crontab. Each returns
// the steps that make it what the task wants (none when it already is), so a re-run is no change.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { userSystemdEnv } from '../daemon';
import { formatCommand, run, shellQuote } from '../exec';
import { readTextOr, writeFileAtomic } from '../fsutil';
import type { Step } from '../plan';
import { ModuleError } from '../runtime';
import type { SiteSettings } from '../settings';
import type { ReportFiles } from './script';

export type Calendar = 'hourly' | 'daily' | 'weekly';

export interface ScheduleFacts {
  calendar: Calendar;
  via: string;
}

export interface Schedule {
  /** What is there now. */
  current(): ScheduleFacts | null;
  steps(wanted: Calendar | undefined): Step[];
}

const unitBase = (files: ReportFiles) => `socle-report-${files.name}`;

function systemdSchedule(settings: SiteSettings, files: ReportFiles): Schedule {
  userSystemdEnv();
  const base = unitBase(files);
  const serviceFile = join(settings.unitPath, `${base}.service`);
  const timerFile = join(settings.unitPath, `${base}.timer`);
  const service = [
    '# Written by socle.postgresql; changes are overwritten.',
    '[Unit]',
    `Description=Reports of PostgreSQL instance ${files.name} (socle.postgresql)`,
    '',
    '[Service]',
    'Type=oneshot',
    `ExecStart=/bin/sh ${JSON.stringify(files.script)}`,
    '',
  ].join('\n');
  const timer = (calendar: Calendar) =>
    [
      '# Written by socle.postgresql; changes are overwritten.',
      '[Unit]',
      `Description=Reports of PostgreSQL instance ${files.name} (socle.postgresql)`,
      '',
      '[Timer]',
      `OnCalendar=${calendar}`,
      'Persistent=true',
      '',
      '[Install]',
      'WantedBy=timers.target',
      '',
    ].join('\n');
  const systemctl = (...args: string[]) => run('systemctl', ['--user', ...args], { timeout: 120 });
  const enabled = () => spawnSync('systemctl', ['--user', 'is-enabled', '--quiet', `${base}.timer`]).status === 0;
  const current = (): ScheduleFacts | null => {
    const m = /^OnCalendar=(\w+)$/m.exec(readTextOr(timerFile, ''));
    return m ? { calendar: m[1] as Calendar, via: `systemd timer ${base}.timer` } : null;
  };
  return {
    current,
    steps(wanted) {
      if (!wanted) {
        if (readTextOr(timerFile, null) === null && readTextOr(serviceFile, null) === null) return [];
        return [{
          change: `remove the schedule of the reports of ${files.name}`,
          commands: [formatCommand('systemctl', ['--user', 'disable', '--now', `${base}.timer`]), `remove ${timerFile} ${serviceFile}`, formatCommand('systemctl', ['--user', 'daemon-reload'])],
          async apply() {
            await systemctl('disable', '--now', `${base}.timer`).catch(() => undefined);
            rmSync(timerFile, { force: true });
            rmSync(serviceFile, { force: true });
            await systemctl('daemon-reload');
          },
        }];
      }
      if (readTextOr(serviceFile, null) === service && readTextOr(timerFile, null) === timer(wanted) && enabled()) return [];
      return [{
        change: `schedule the reports of ${files.name} (${wanted}, systemd timer)`,
        commands: [`write ${serviceFile}`, `write ${timerFile}`, formatCommand('systemctl', ['--user', 'daemon-reload']), formatCommand('systemctl', ['--user', 'enable', '--now', `${base}.timer`])],
        async apply() {
          writeFileAtomic(serviceFile, service);
          writeFileAtomic(timerFile, timer(wanted));
          await systemctl('daemon-reload');
          await systemctl('enable', '--now', `${base}.timer`);
        },
      }];
    },
  };
}

/** The user's crontab (empty when there is none), or a clear error when cron is not installed. */
function readCrontab(): string {
  const r = spawnSync('crontab', ['-l'], { encoding: 'utf8' });
  if (r.error) throw new ModuleError(`option 'schedule': crontab is not available (${r.error.message}); install cron, or use service_manager systemd`);
  // "no crontab for <user>": exit 1, nothing on stdout.
  return r.status === 0 ? r.stdout : '';
}

function cronSchedule(files: ReportFiles): Schedule {
  const begin = `# BEGIN socle.postgresql report ${files.name}`;
  const end = `# END socle.postgresql report ${files.name}`;
  const block = (calendar: Calendar) => [begin, `@${calendar} /bin/sh ${shellQuote(files.script)} >>${shellQuote(files.log)} 2>&1`, end];
  const split = (text: string) => {
    const lines = text.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    const i = lines.indexOf(begin);
    const j = lines.indexOf(end);
    if (i < 0 || j < i) return { others: lines, mine: null as string[] | null };
    return { others: [...lines.slice(0, i), ...lines.slice(j + 1)], mine: lines.slice(i, j + 1) };
  };
  const write = (lines: string[]) =>
    new Promise<void>((resolve, reject) => {
      const r = spawnSync('crontab', ['-'], { input: lines.length ? `${lines.join('\n')}\n` : '', encoding: 'utf8' });
      if (r.status === 0) resolve();
      else reject(new ModuleError(`crontab -: ${(r.stderr || r.error?.message || '').trim()}`));
    });
  return {
    current() {
      const { mine } = split(readCrontab());
      const m = mine ? /^@(\w+) /m.exec(mine.join('\n')) : null;
      return m ? { calendar: m[1] as Calendar, via: 'crontab' } : null;
    },
    steps(wanted) {
      const { others, mine } = split(readCrontab());
      if (!wanted) {
        if (!mine) return [];
        return [{ change: `remove the schedule of the reports of ${files.name}`, commands: ['crontab - (without the block of the reports)'], apply: () => write(others) }];
      }
      const want = block(wanted);
      if (mine && mine.join('\n') === want.join('\n')) return [];
      return [{
        change: `schedule the reports of ${files.name} (${wanted}, crontab)`,
        commands: [`crontab - (block: ${want[1]})`],
        apply: () => write([...split(readCrontab()).others, ...want]),
      }];
    },
  };
}

export function scheduleFor(settings: SiteSettings, files: ReportFiles): Schedule {
  return settings.serviceManager === 'systemd' ? systemdSchedule(settings, files) : cronSchedule(files);
}
