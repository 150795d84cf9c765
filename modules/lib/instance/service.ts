// Running an instance as a service: systemd user units, or pg_ctl directly where there is no
// systemd (containers, CI machines). Both expose the same operations, each returned as the
// commands it runs (for the plan) and a function that runs them.
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { userSystemdEnv } from '../daemon';
import { formatCommand, run, tail } from '../exec';
import { writeFileAtomic } from '../fsutil';
import { ModuleError } from '../runtime';
import type { SiteSettings } from '../settings';
import type { InstanceLayout } from './layout';

export interface Action {
  commands: string[];
  run(): Promise<void>;
}

export interface Service {
  kind: 'systemd' | 'none';
  /** Unit file content (systemd), or null. */
  unitContent(): string | null;
  install(): Action;
  uninstall(): Action;
  start(): Action;
  stop(): Action;
  restart(): Action;
  reload(): Action;
}

const TIMEOUT = 300;

function action(cmds: Array<[string, string[]]>, before?: () => void, onError?: (e: unknown) => never): Action {
  return {
    commands: cmds.map(([f, a]) => formatCommand(f, a)),
    async run() {
      before?.();
      try {
        for (const [f, a] of cmds) await run(f, a, { timeout: TIMEOUT + 10 });
      } catch (err) {
        if (onError) onError(err);
        throw err;
      }
    },
  };
}

/**
 * Startup failures are explained in the server's log, not in pg_ctl's output: quote the startup
 * log and, once the logging collector took over, the newest log file of the instance.
 */
function startFailure(l: InstanceLayout) {
  return (err: unknown): never => {
    const logs: string[] = [l.startupLog];
    try {
      const own = readdirSync(l.logDir).filter((f) => f.startsWith(`${l.version}-${l.name}-`) && f !== basename(l.startupLog));
      const newest = own.map((f) => join(l.logDir, f)).sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
      if (newest) logs.push(newest);
    } catch {
      /* no log directory yet */
    }
    const quoted = logs.flatMap((f) => {
      try {
        const text = tail(readFileSync(f, 'utf8'), 10);
        return text ? [`${f} ends with:\n${text}`] : [];
      } catch {
        return [];
      }
    });
    throw new ModuleError(`instance ${l.id} failed to start${quoted.length ? `; ${quoted.join('\n')}` : `: ${(err as Error).message}`}`);
  };
}

function runtimeDirs(l: InstanceLayout): () => void {
  return () => {
    mkdirSync(l.socketDir, { recursive: true, mode: 0o700 });
    mkdirSync(l.logDir, { recursive: true, mode: 0o700 });
  };
}

export function pgCtlService(l: InstanceLayout): Service {
  const pgCtl = join(l.bindir, 'pg_ctl');
  const startArgs = ['-D', l.datadir, '-w', '-t', String(TIMEOUT), '-s', '-l', l.startupLog];
  return {
    kind: 'none',
    unitContent: () => null,
    install: () => ({ commands: [], run: async () => undefined }),
    uninstall: () => ({ commands: [], run: async () => undefined }),
    start: () => action([[pgCtl, ['start', ...startArgs]]], runtimeDirs(l), startFailure(l)),
    stop: () => action([[pgCtl, ['stop', '-D', l.datadir, '-m', 'fast', '-w', '-t', String(TIMEOUT), '-s']]]),
    restart: () => action([[pgCtl, ['restart', '-m', 'fast', ...startArgs]]], runtimeDirs(l), startFailure(l)),
    reload: () => action([[pgCtl, ['reload', '-D', l.datadir, '-s']]]),
  };
}

/** systemd splits command lines on spaces unless the word is double-quoted. */
function unitWord(word: string): string {
  return /[\s"\\]/.test(word) ? JSON.stringify(word) : word;
}

export function systemdUnit(l: InstanceLayout): string {
  const q = unitWord;
  const pgCtl = q(join(l.bindir, 'pg_ctl'));
  const datadir = q(l.datadir);
  return [
    '# Written by socle.postgresql; changes are overwritten.',
    '[Unit]',
    `Description=PostgreSQL ${l.version} instance ${l.name} (socle.postgresql)`,
    'After=network.target',
    '',
    '[Service]',
    // pg_ctl forks the postmaster and exits once it accepts connections (-w).
    'Type=forking',
    `PIDFile=${q(join(l.datadir, 'postmaster.pid'))}`,
    `ExecStartPre=/bin/mkdir -p ${q(l.socketDir)} ${q(l.logDir)}`,
    `ExecStart=${pgCtl} start -D ${datadir} -w -t ${TIMEOUT} -s -l ${q(l.startupLog)}`,
    `ExecStop=${pgCtl} stop -D ${datadir} -m fast -w -t ${TIMEOUT} -s`,
    `ExecReload=${pgCtl} reload -D ${datadir} -s`,
    `TimeoutSec=${TIMEOUT + 10}`,
    '',
    '[Install]',
    'WantedBy=default.target',
    '',
  ].join('\n');
}

/** systemctl --user needs the user's runtime directory and bus, which `become` does not set. */
function systemctl(args: string[]): [string, string[]] {
  return ['systemctl', ['--user', ...args]];
}

export function systemdService(l: InstanceLayout): Service {
  userSystemdEnv();
  const content = systemdUnit(l);
  return {
    kind: 'systemd',
    unitContent: () => content,
    install: () => {
      const a = action([systemctl(['daemon-reload']), systemctl(['enable', l.unitName])]);
      return {
        commands: [`write ${l.unitFile}`, ...a.commands],
        async run() {
          // ~/.config/systemd/user does not exist for a user that never ran a user unit.
          mkdirSync(dirname(l.unitFile), { recursive: true, mode: 0o755 });
          writeFileAtomic(l.unitFile, content, 0o644);
          await a.run();
        },
      };
    },
    uninstall: () => {
      const a = action([systemctl(['disable', l.unitName]), systemctl(['daemon-reload'])]);
      return {
        commands: [...a.commands.slice(0, 1), `remove ${l.unitFile}`, ...a.commands.slice(1)],
        async run() {
          await run(...systemctl(['disable', l.unitName])).catch(() => undefined);
          rmSync(l.unitFile, { force: true });
          await run(...systemctl(['daemon-reload']));
        },
      };
    },
    start: () => action([systemctl(['start', l.unitName])], undefined, startFailure(l)),
    stop: () => action([systemctl(['stop', l.unitName])]),
    restart: () => action([systemctl(['restart', l.unitName])], undefined, startFailure(l)),
    reload: () => action([systemctl(['reload', l.unitName])]),
  };
}

export function serviceFor(settings: SiteSettings, l: InstanceLayout): Service {
  return settings.serviceManager === 'systemd' ? systemdService(l) : pgCtlService(l);
}
