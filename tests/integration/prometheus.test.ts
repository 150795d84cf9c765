// The `prometheus` component of the instance module, on real PostgreSQL and Debian's
// prometheus-postgres-exporter: the exporter answers /metrics for its instance, follows the
// instance's state, restarts alone on a new password or port, a standby gets its own, drop
// leaves nothing; the password is in no output, command line or file others can read.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { runModule, runModuleKilledAfter, type RunOptions } from '../helpers/module';
import { freePort, httpGet, httpUntil, makeSandbox, type Sandbox } from '../helpers/sandbox';

jest.setTimeout(180_000);

const EXPORTER = '/usr/bin/prometheus-postgres-exporter';
// Spaces, quotes, URI delimiters and a percent sign: what a key=value DSN or a naive URI breaks on.
const PASSWORD = `pr0m 'pa:ss"@/?#%20 wörd`;
const PASSWORD2 = 'an0ther-Secret';
const LOOPBACK = { listen_addresses: '127.0.0.1' };

const describeIf = existsSync(EXPORTER) ? describe : describe.skip;

let sb: Sandbox;
let ports: { primary: number; standby: number; exp1: number; exp2: number; exp3: number };
const run = (args: Record<string, unknown>, opts: RunOptions = {}) => runModule('instance', args, { env: sb.env, ...opts });
const primary = (extra: Record<string, unknown> = {}) => ({
  name: 'mon', port: ports.primary, settings: LOOPBACK, replrole_password: 'repl-Secret', prometheus: { port: ports.exp1, password: PASSWORD }, ...extra,
});
const standby = (extra: Record<string, unknown> = {}) => ({
  name: 'mon_standby',
  port: ports.standby,
  settings: LOOPBACK,
  standby: { primary_conninfo: `host=127.0.0.1 port=${ports.primary}`, password: 'repl-Secret' },
  prometheus: { port: ports.exp2, password: PASSWORD },
  ...extra,
});

/** The exporters of this test running now, with their command lines. */
function exporterProcesses(): Array<{ pid: number; cmdline: string }> {
  const out = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const cmdline = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmdline.startsWith(EXPORTER)) out.push({ pid: Number(e), cmdline });
    } catch {
      /* gone */
    }
  }
  return out.filter((p) => [ports.exp1, ports.exp2, ports.exp3].some((port) => p.cmdline.includes(`:${port}`)));
}

function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

const metrics = (port: number) => `http://127.0.0.1:${port}/metrics`;
const up = (body: string) => /^pg_up 1$/m.test(body);

beforeAll(async () => {
  sb = makeSandbox('socle-prometheus-');
  sb.writeSettings({ postgresql: { replrole: 'replicator' } });
  ports = { primary: await freePort(), standby: await freePort(), exp1: await freePort(), exp2: await freePort(), exp3: await freePort() };
});
afterAll(() => sb.cleanup());

describeIf('postgres_exporter with each instance', () => {
  test('check mode plans the role, the file and the service, and does nothing', () => {
    const { result } = run(primary(), { check: true });
    expect(result.failed ? result.msg : 'ok').toBe('ok');
    expect(result.changes).toEqual(expect.arrayContaining([
      expect.stringMatching(/^write the configuration of postgres_exporter \d+-mon$/),
      expect.stringMatching(/^start service socle-postgres_exporter-\d+-mon$/),
      'create role prometheus (postgres_exporter)',
    ]));
    expect(existsSync(join(sb.dir, 'srv'))).toBe(false);
    expect(exporterProcesses()).toEqual([]);
  });

  test('a bad option is refused before anything is written, naming it', () => {
    const { result } = run(primary({ prometheus: { port: ports.primary } }));
    expect(result.failed).toBe(true);
    expect(result.msg).toMatch(/option 'prometheus\.port'/);
    expect(existsSync(join(sb.dir, 'srv'))).toBe(false);
  });

  test('creation: /metrics answers pg_up 1 and the instance database, facts give URL and state', async () => {
    const { result, stdout, stderr } = run(primary());
    expect(result.failed ? result.msg : 'ok').toBe('ok');
    expect(result.prometheus).toEqual({ url: metrics(ports.exp1), state: 'running', service: `socle-postgres_exporter-${result.version}-mon` });
    const body = await httpUntil(metrics(ports.exp1), up);
    expect(body).toMatch(/^pg_up 1$/m);
    expect(body).toMatch(/^pg_database_size_bytes\{datname="postgres"[,}].* \d/m);
    // The password: in no output, no command line, no file others can read.
    expect(stdout + stderr).not.toContain(PASSWORD);
    expect(stdout).not.toContain(encodeURIComponent(PASSWORD));
    expect(stdout).not.toContain('pr0m');
    for (const p of exporterProcesses()) expect(p.cmdline).not.toMatch(/pr0m|DATA_SOURCE/);
    const files = walk(join(sb.dir, 'srv'));
    const conf = files.find((f) => f.endsWith(`postgres_exporter-${result.version}-mon.conf`))!;
    expect(statSync(conf).mode & 0o777).toBe(0o600);
    for (const f of files.filter((x) => statSync(x).mode & 0o004)) {
      expect(readFileSync(f, 'utf8')).not.toMatch(/pr0m|pa:ss/);
    }
  });

  test('a re-run is no change, and check mode agrees', () => {
    expect(run(primary()).result).toMatchObject({ changed: false, changes: [] });
    expect(run(primary(), { check: true }).result).toMatchObject({ changed: false });
  });

  test('a new password or port restarts the exporter alone', async () => {
    const postmaster = () => readFileSync(join(sb.dir, 'srv/pgsql', readdirSync(join(sb.dir, 'srv/pgsql'))[0], 'mon/data/postmaster.pid'), 'utf8').split('\n')[0];
    const before = postmaster();
    const pw = run(primary({ prometheus: { port: ports.exp1, password: PASSWORD2 } })).result;
    expect(pw.changes).toEqual(expect.arrayContaining([
      'set password of prometheus',
      expect.stringMatching(/^write the password of postgres_exporter/),
      expect.stringMatching(/^restart service socle-postgres_exporter-/),
    ]));
    expect(pw.changes.filter((c: string) => /instance/.test(c))).toEqual([]);
    expect(await httpUntil(metrics(ports.exp1), up)).toMatch(/^pg_up 1$/m);
    const moved = run(primary({ prometheus: { port: ports.exp3, password: PASSWORD2 } })).result;
    expect(moved.prometheus.url).toBe(metrics(ports.exp3));
    expect(await httpUntil(metrics(ports.exp3), up)).toMatch(/^pg_up 1$/m);
    await expect(httpGet(metrics(ports.exp1))).rejects.toThrow();
    expect(postmaster()).toBe(before);
    // Back to the first port and password for what follows.
    expect(run(primary()).result.changed).toBe(true);
  });

  test('stopping the instance stops its exporter; starting it starts it again', async () => {
    const stopped = run(primary({ state: 'stopped' })).result;
    expect(stopped.changes).toEqual(expect.arrayContaining([expect.stringMatching(/^stop service socle-postgres_exporter-/)]));
    expect(stopped.prometheus.state).toBe('stopped');
    expect(exporterProcesses()).toEqual([]);
    // Without repeating the option: the exporter follows the instance all the same.
    const started = run({ name: 'mon', port: ports.primary, settings: LOOPBACK, replrole_password: 'repl-Secret' }).result;
    expect(started.prometheus.state).toBe('running');
    expect(await httpUntil(metrics(ports.exp1), up)).toMatch(/^pg_up 1$/m);
  });

  test('a standby gets its own exporter on its own port (its role is the primary\'s)', async () => {
    const { result } = run(standby());
    expect(result.failed ? result.msg : 'ok').toBe('ok');
    expect(result.changes).not.toContain('create role prometheus (postgres_exporter)');
    expect(result.prometheus.url).toBe(metrics(ports.exp2));
    expect(await httpUntil(metrics(ports.exp2), up)).toMatch(/^pg_up 1$/m);
    expect(exporterProcesses()).toHaveLength(2);
    expect(run(standby()).result.changed).toBe(false);
  });

  test('a creation killed at any point (issue 12) converges on the next run, exporter included', async () => {
    for (const ms of [300, 1200, 2200]) {
      const exp = await freePort();
      const task = { name: `killed${ms}`, port: await freePort(), settings: LOOPBACK, prometheus: { port: exp, password: PASSWORD2 } };
      await runModuleKilledAfter('instance', task, ms, sb.env);
      const again = run(task);
      expect(again.result.failed ? again.result.msg : 'ok').toBe('ok');
      expect(up(await httpUntil(metrics(exp), up))).toBe(true);
      expect(run(task).result).toMatchObject({ changed: false, changes: [] });
      expect(run({ name: task.name, state: 'absent' }).result.failed).toBeUndefined();
      const left = readdirSync('/proc').filter((e) => /^\d+$/.test(e)).filter((e) => {
        try {
          return readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(`:${exp}`);
        } catch {
          return false;
        }
      });
      expect(left).toEqual([]);
    }
  });

  test('drop leaves no process and no file', () => {
    for (const task of [standby({ state: 'absent' }), primary({ state: 'absent' })]) {
      const { result } = run(task);
      expect(result.changed).toBe(true);
      expect(result.changes).toEqual(expect.arrayContaining([expect.stringMatching(/^stop service socle-postgres_exporter-/)]));
    }
    expect(exporterProcesses()).toEqual([]);
    expect([...walk(join(sb.dir, 'srv')), ...walk(join(sb.dir, 'run'))].map((f) => f.slice(sb.dir.length)).filter((f) => /prometheus|postgres_exporter/.test(f))).toEqual([]);
    expect(run(primary({ state: 'absent' })).result.changed).toBe(false);
  });
});
