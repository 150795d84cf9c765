// Companion daemons of an instance (exporters, agents, test helpers): one service layer for
// every satellite. With systemd, a user unit; without it (containers, CI machines), a
// supervised process: started detached with its output appended to a log file, its pid in a pid
// file, stopped with SIGTERM (SIGKILL after a grace period). Secrets reach the daemon through its
// environment (an environment file of mode 0600 for systemd), never through its command line.
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { formatCommand, run } from './exec';
import { readTextOr, rmWithTemps, writeFileAtomic, writePrivateFileAtomic } from './fsutil';
import type { SiteSettings } from './settings';

export interface Action {
  commands: string[];
  run(): Promise<void>;
}

export interface CompanionService {
  /** Unit-like name, e.g. `socle-exporter-15-main`. */
  name: string;
  isRunning(): boolean;
  /** Whether its definition on disk (unit, environment file) is what it should be. */
  isInstalled(): boolean;
  install(): Action;
  uninstall(): Action;
  start(): Action;
  stop(): Action;
  restart(): Action;
}

export interface DaemonSpec {
  /** Letters, digits, '-', '_' and '.' only (a unit name). */
  name: string;
  description: string;
  argv: string[];
  /** Environment of the daemon (secrets allowed: written to a private file, never shown). */
  env?: Record<string, string>;
  logFile: string;
  /** Where the pid file of a supervised process goes (default `{run_prefix}/daemons/<name>.pid`). */
  pidFile?: string;
  /** systemd's EnvironmentFile (default `{prefix}/etc/daemons/<name>.env`), mode 0600. */
  envFile?: string;
}

const STOP_GRACE_MS = 10_000;

export function envText(env: Record<string, string>): string {
  // systemd's EnvironmentFile syntax; values double-quoted with \ and " escaped.
  return Object.entries(env).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"\n`).join('');
}

/** The inverse of envText (for a component that reads back the environment it wrote). */
export function parseEnvText(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"$/.exec(line);
    if (m) out[m[1]] = m[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
  }
  return out;
}

function paths(settings: SiteSettings, spec: DaemonSpec) {
  const dir = join(settings.prefix, 'etc', 'daemons');
  return {
    envFile: spec.envFile ?? join(dir, `${spec.name}.env`),
    pidFile: spec.pidFile ?? join(settings.runPrefix, 'daemons', `${spec.name}.pid`),
    unitFile: join(settings.unitPath, `${spec.name}.service`),
  };
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie is not running: a daemon killed whose parent (PID 1 once the task that started it
  // has exited) does not reap it, as in containers whose PID 1 is no init, stays one.
  const stat = readTextOr(`/proc/${pid}/stat`, '');
  const end = stat.lastIndexOf(')');
  return end < 0 || stat.charAt(end + 2) !== 'Z';
}

function readPid(pidFile: string): number | null {
  const pid = Number(readTextOr(pidFile, '').trim());
  return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A supervised process has no unit file to compare: what it was started with (argv and
 * environment) is kept beside its pid file as a salted hash (the environment may hold a secret:
 * neither it nor an unsalted digest of it is written), so that a changed definition is seen
 * and the process restarted, as systemd's changed unit is.
 */
function definitionFile(pidFile: string): string {
  return `${pidFile.replace(/\.pid$/, '')}.def`;
}

function digest(salt: string, spec: DaemonSpec): string {
  return createHash('sha256').update(salt).update(JSON.stringify({ argv: spec.argv, env: spec.env ?? {} })).digest('hex');
}

function definitionMatches(pidFile: string, spec: DaemonSpec): boolean {
  const [salt, hash] = readTextOr(definitionFile(pidFile), '').trim().split(' ');
  return Boolean(salt && hash) && digest(salt, spec) === hash;
}

function writeDefinition(pidFile: string, spec: DaemonSpec): void {
  const salt = randomBytes(16).toString('hex');
  writeFileAtomic(definitionFile(pidFile), `${salt} ${digest(salt, spec)}\n`, 0o600);
}

/** A supervised process, for service_manager `none`. */
function processDaemon(settings: SiteSettings, spec: DaemonSpec): CompanionService {
  const p = paths(settings, spec);
  const start = (): Action => ({
    commands: [`${formatCommand(spec.argv[0], spec.argv.slice(1))} >>${spec.logFile} 2>&1 &  # pid in ${p.pidFile}`],
    async run() {
      if (readPid(p.pidFile)) return;
      mkdirSync(dirname(p.pidFile), { recursive: true, mode: 0o700 });
      mkdirSync(dirname(spec.logFile), { recursive: true, mode: 0o700 });
      const out = openSync(spec.logFile, 'a', 0o600);
      try {
        const child = spawn(spec.argv[0], spec.argv.slice(1), {
          detached: true,
          stdio: ['ignore', out, out],
          env: { ...process.env, ...(spec.env ?? {}) },
        });
        await new Promise<void>((resolve, reject) => {
          child.once('error', reject);
          child.once('spawn', resolve);
        });
        writeFileAtomic(p.pidFile, `${child.pid}\n`, 0o600);
        writeDefinition(p.pidFile, spec);
        child.unref();
        // A daemon that dies at once (bad option, port taken) is a failed start, not a silent one.
        await sleep(200);
        if (!alive(child.pid!)) {
          rmSync(p.pidFile, { force: true });
          rmSync(definitionFile(p.pidFile), { force: true });
          // Its log is not quoted: a daemon may log its secrets there (the file is 0600).
          throw new Error(`${spec.name} exited at once; see ${spec.logFile}`);
        }
      } finally {
        closeSync(out);
      }
    },
  });
  const stop = (): Action => ({
    commands: [`kill $(cat ${p.pidFile})`],
    async run() {
      const pid = readPid(p.pidFile);
      if (pid) {
        process.kill(pid, 'SIGTERM');
        for (let t = 0; t < STOP_GRACE_MS && alive(pid); t += 100) await sleep(100);
        if (alive(pid)) process.kill(pid, 'SIGKILL');
      }
      // A task killed while it wrote them may have left their temporary files too.
      rmWithTemps(p.pidFile);
      rmWithTemps(definitionFile(p.pidFile));
    },
  });
  return {
    name: spec.name,
    isRunning: () => readPid(p.pidFile) !== null,
    // Nothing to install (the environment is given at each start); a running process started
    // with another definition is "not installed": the caller restarts it.
    isInstalled: () => readPid(p.pidFile) === null || definitionMatches(p.pidFile, spec),
    install: () => ({ commands: [], run: async () => undefined }),
    uninstall: () => ({ commands: [], run: async () => undefined }),
    start,
    stop,
    restart: () => {
      const a = stop();
      const b = start();
      return { commands: [...a.commands, ...b.commands], run: async () => { await a.run(); await b.run(); } };
    },
  };
}

function unitWord(word: string): string {
  return /[\s"\\]/.test(word) ? JSON.stringify(word) : word;
}

/** systemctl --user needs the user's runtime directory and bus, which `become` does not set. */
export function userSystemdEnv(): void {
  const uid = process.getuid?.() ?? 0;
  process.env.XDG_RUNTIME_DIR ??= `/run/user/${uid}`;
  process.env.DBUS_SESSION_BUS_ADDRESS ??= `unix:path=/run/user/${uid}/bus`;
}

/** `systemctl --user <args>`, as [file, args] for run() and formatCommand(). */
export const userSystemctl = (...args: string[]): [string, string[]] => ['systemctl', ['--user', ...args]];

/** An action that runs commands one after the other (and shows them). */
export function commandsAction(cmds: Array<[string, string[]]>): Action {
  return {
    commands: cmds.map(([f, a]) => formatCommand(f, a)),
    async run() {
      for (const [f, a] of cmds) await run(f, a, { timeout: 120 });
    },
  };
}

/** A systemd user unit, with the environment in a private EnvironmentFile. */
function systemdDaemon(settings: SiteSettings, spec: DaemonSpec): CompanionService {
  userSystemdEnv();
  const p = paths(settings, spec);
  const unitName = `${spec.name}.service`;
  const unit = [
    '# Written by socle.postgresql; changes are overwritten.',
    '[Unit]',
    `Description=${spec.description} (socle.postgresql)`,
    '',
    '[Service]',
    'Type=simple',
    `EnvironmentFile=${unitWord(p.envFile)}`,
    `ExecStart=${spec.argv.map(unitWord).join(' ')}`,
    `StandardOutput=append:${spec.logFile}`,
    `StandardError=append:${spec.logFile}`,
    'Restart=on-failure',
    '',
    '[Install]',
    'WantedBy=default.target',
    '',
  ].join('\n');
  const env = envText(spec.env ?? {});
  const systemctl = userSystemctl;
  const act = commandsAction;
  return {
    name: spec.name,
    isRunning: () => spawnSync('systemctl', ['--user', 'is-active', '--quiet', unitName]).status === 0,
    // Enabled too (WantedBy=default.target, the user's manager started at boot by lingering): a
    // Patroni member, an exporter, an agent come back with the host, as the instance's own unit.
    isInstalled: () =>
      readTextOr(p.unitFile, null) === unit && readTextOr(p.envFile, null) === env && spawnSync('systemctl', ['--user', 'is-enabled', '--quiet', unitName]).status === 0,
    install: () => ({
      commands: [`write ${p.unitFile}`, `write ${p.envFile} (mode 0600)`, formatCommand('systemctl', ['--user', 'daemon-reload']), formatCommand('systemctl', ['--user', 'enable', unitName])],
      async run() {
        mkdirSync(dirname(p.unitFile), { recursive: true, mode: 0o755 });
        mkdirSync(dirname(spec.logFile), { recursive: true, mode: 0o700 });
        // The default {prefix}/etc/daemons/ may not exist yet (the temBoard agent's environment).
        mkdirSync(dirname(p.envFile), { recursive: true, mode: 0o700 });
        writePrivateFileAtomic(p.envFile, env);
        writeFileAtomic(p.unitFile, unit, 0o644);
        await run(...systemctl('daemon-reload'));
        await run(...systemctl('enable', unitName));
      },
    }),
    uninstall: () => ({
      commands: [formatCommand('systemctl', ['--user', 'disable', unitName]), `remove ${p.unitFile} ${p.envFile}`, formatCommand('systemctl', ['--user', 'daemon-reload'])],
      async run() {
        // Not enabled (an older install) or already gone: nothing to disable.
        if (existsSync(p.unitFile)) await run(...systemctl('disable', unitName)).catch(() => undefined);
        rmSync(p.unitFile, { force: true });
        rmSync(p.envFile, { force: true });
        await run(...systemctl('daemon-reload'));
      },
    }),
    start: () => act([systemctl('start', unitName)]),
    stop: () => act([systemctl('stop', unitName)]),
    restart: () => act([systemctl('restart', unitName)]),
  };
}

export function daemonService(settings: SiteSettings, spec: DaemonSpec): CompanionService {
  return settings.serviceManager === 'systemd' ? systemdDaemon(settings, spec) : processDaemon(settings, spec);
}

/** For tests and facts: the pid of a supervised daemon, or null. */
export function daemonPid(settings: SiteSettings, name: string, pidFile?: string): number | null {
  return readPid(pidFile ?? join(settings.runPrefix, 'daemons', `${name}.pid`));
}
