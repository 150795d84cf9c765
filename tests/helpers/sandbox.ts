// A sandbox for tests that run real PostgreSQL: a temporary folder holding the site settings,
// the instances, sockets, passfile and logs, and free TCP ports. `cleanup()` stops every server
// started under it (also when a test failed) and removes the folder.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dump } from 'js-yaml';
import { testedMajor } from './versions';

export interface Sandbox {
  dir: string;
  settingsFile: string;
  env: NodeJS.ProcessEnv;
  passfile: string;
  writeSettings(extra?: Record<string, unknown>): void;
  cleanup(): void;
}

export function assertUnprivileged(): void {
  if (process.getuid?.() === 0) {
    throw new Error('PostgreSQL refuses to run as root: run the tests with `npm test` (scripts/test.sh drops to an unprivileged user)');
  }
}

export function makeSandbox(prefix = 'socle-it-'): Sandbox {
  assertUnprivileged();
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const settingsFile = join(dir, 'settings.yaml');
  const passfile = join(dir, 'pgpass');
  const base = {
    prefix: join(dir, 'srv'),
    run_prefix: join(dir, 'run'),
    service_manager: 'none',
    lock_timeout: 60,
    // New instances get the major under test (SOCLE_TEST_PG_VERSION, or the newest installed).
    postgresql: { auth: { passfile }, ...(process.env.SOCLE_TEST_PG_VERSION ? { default_version: testedMajor() } : {}) },
  };
  const sb: Sandbox = {
    dir,
    settingsFile,
    passfile,
    env: { ...process.env, SOCLE_SETTINGS: settingsFile },
    writeSettings(extra = {}) {
      writeFileSync(settingsFile, dump(deepMerge(base, extra)));
    },
    cleanup() {
      stopDaemons(dir);
      stopAll(dir);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  sb.writeSettings();
  return sb;
}

function deepMerge(a: Record<string, any>, b: Record<string, any>): Record<string, any> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) {
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && typeof a[k] === 'object' ? deepMerge(a[k], v) : v;
  }
  return out;
}

/** Every supervised daemon (exporter, agent) whose pid file is under `dir`: killed. */
export function stopDaemons(dir: string, depth = 0): void {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  for (const e of entries) {
    const p = join(dir, e);
    let st;
    try {
      st = statSync(p);
    } catch {
      continue;
    }
    if (st.isDirectory() && depth < 8 && e !== 'data') stopDaemons(p, depth + 1);
    else if (st.isFile() && e.endsWith('.pid') && e !== 'postmaster.pid') {
      const pid = Number(readFileSync(p, 'utf8').trim());
      try {
        if (pid > 0) process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
}

/** GET a URL (http or https, any certificate): status and body. */
export async function httpGet(url: string): Promise<{ status: number; body: string }> {
  const mod = url.startsWith('https:') ? await import('node:https') : await import('node:http');
  return new Promise((resolve, reject) => {
    const req = mod.get(url, { rejectUnauthorized: false, timeout: 10_000 } as never, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: timeout`)));
  });
}

/** Polls `url` until `ok(body)` (a daemon just started), at most `tries` x 200 ms; the last answer. */
export async function httpUntil(url: string, ok: (body: string) => boolean, tries = 100): Promise<string> {
  let last = '';
  for (let i = 0; i < tries; i++) {
    try {
      last = (await httpGet(url)).body;
      if (ok(last)) return last;
    } catch (err) {
      last = String(err);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return last;
}

/** Every data directory under `dir` that has a postmaster.pid: stop it, immediately. */
export function stopAll(dir: string): void {
  for (const datadir of findDataDirs(dir)) {
    const pidFile = join(datadir, 'postmaster.pid');
    if (!existsSync(pidFile)) continue;
    const version = readFileSync(join(datadir, 'PG_VERSION'), 'utf8').trim();
    spawnSync(`/usr/lib/postgresql/${version}/bin/pg_ctl`, ['stop', '-D', datadir, '-m', 'immediate', '-w', '-s'], { stdio: 'ignore' });
    if (existsSync(pidFile)) {
      const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
}

function findDataDirs(dir: string, depth = 0): string[] {
  if (depth > 8) return [];
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  if (entries.includes('PG_VERSION') && entries.includes('global')) return [dir];
  return entries.flatMap((e) => {
    const p = join(dir, e);
    try {
      return statSync(p).isDirectory() ? findDataDirs(p, depth + 1) : [];
    } catch {
      return [];
    }
  });
}

/** The first port of the kernel's ephemeral range (outgoing connections, listen(0)). */
function ephemeralLow(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32768;
  } catch {
    return 32768;
  }
}

const PORTS_FROM = 15000;
const PORTS_PER_WORKER = 2000;
/** This jest worker's first port, worked out on the first call. */
let firstPort = 0;
let portCursor = 0;

/** Whether nobody listens on this port of 127.0.0.1 right now. */
function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/**
 * A TCP port nobody listens on right now, which this process has not handed out before.
 * Not the kernel's pick (listen(0)): that one is in the ephemeral range, where the outgoing
 * connection of a test running alongside may take it before the server it is for binds it, and
 * where another jest worker's listen(0) may be handed it again (the likeliest cause of a Patroni
 * cluster of the docs test failing within seconds in CI, once). So each jest worker walks its own
 * slice of the ports below that range, from a random start (two runs side by side rarely meet,
 * and the bind check catches it when they do).
 */
export async function freePort(): Promise<number> {
  if (!firstPort) {
    const worker = Number(process.env.JEST_WORKER_ID ?? 1);
    const span = Math.max(ephemeralLow() - PORTS_FROM, PORTS_PER_WORKER);
    firstPort = PORTS_FROM + (((worker - 1) * PORTS_PER_WORKER) % span);
    portCursor = Math.floor(Math.random() * PORTS_PER_WORKER);
  }
  for (let tries = 0; tries < PORTS_PER_WORKER; tries++) {
    const port = firstPort + (portCursor++ % PORTS_PER_WORKER);
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port in ${firstPort}-${firstPort + PORTS_PER_WORKER - 1}`);
}

/** psql with an instance's env (from the module's `env` fact); returns unaligned, tuples-only output. */
export function psql(env: Record<string, string>, sql: string, extraEnv: NodeJS.ProcessEnv = {}): string {
  return execFileSync(join(env.PATH.split(':')[0], 'psql'), ['-X', '-At', '-v', 'ON_ERROR_STOP=1', '-c', sql], {
    env: { ...process.env, ...env, ...extraEnv },
    encoding: 'utf8',
  }).trim();
}

/** Reads until the wanted value shows (a reload is asynchronous), at most `tries` x 100 ms. */
export async function eventually(read: () => string, want: string, tries = 50): Promise<string> {
  let v = read();
  for (let i = 0; i < tries && v !== want; i++) {
    await new Promise((r) => setTimeout(r, 100));
    v = read();
  }
  return v;
}

/**
 * Reads until `ok` says yes, every 500 ms for `seconds` (a read that throws counts as undefined);
 * throws naming `what` and the last value otherwise. For slower states than eventually() waits
 * for (a Patroni election, a replica catching up).
 */
export async function until<T>(what: string, read: () => T | Promise<T>, ok: (v: T) => boolean, seconds = 90): Promise<T> {
  const attempt = async () => {
    try {
      return await read();
    } catch {
      return undefined as T;
    }
  };
  let v = await attempt();
  for (let i = 0; i < seconds * 2 && !ok(v); i++) {
    await new Promise((r) => setTimeout(r, 500));
    v = await attempt();
  }
  if (!ok(v)) throw new Error(`${what}: still ${JSON.stringify(v)}`);
  return v;
}

/** Every regular file under `dir` (recursively; sockets and files gone meanwhile are skipped). */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let entries: string[];
    try {
      entries = readdirSync(d);
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e);
      try {
        const st = statSync(p);
        if (st.isDirectory()) walk(p);
        else if (st.isFile()) out.push(p);
      } catch {
        /* gone meanwhile */
      }
    }
  };
  walk(dir);
  return out;
}

/** The files under `dir` that hold `secret` (a test's own password): where a leak would be. */
export function filesContaining(dir: string, secret: string): string[] {
  return filesUnder(dir).filter((p) => {
    try {
      return statSync(p).size < 50_000_000 && readFileSync(p).includes(secret);
    } catch {
      return false;
    }
  });
}

/** The files under `dir` that a user other than their owner could read. */
export function readableByOthers(dir: string): string[] {
  return filesUnder(dir).filter((p) => {
    try {
      return (statSync(p).mode & 0o004) !== 0;
    } catch {
      return false;
    }
  });
}
