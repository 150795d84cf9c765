// The standalone postgres_exporter module, against an instance created by the instance module
// (as if it were another host's): metrics, idempotency, check mode, a password with a space
// (which the exporter itself refuses in a data source), restart on change, removal.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { runModule, type RunOptions } from '../helpers/module';
import { freePort, httpGet, httpUntil, makeSandbox, type Sandbox } from '../helpers/sandbox';

jest.setTimeout(120_000);

const PASSWORD = "m0n 'secret' with spaces";
const describeIf = existsSync('/usr/bin/prometheus-postgres-exporter') ? describe : describe.skip;

let sb: Sandbox;
let pgPort: number;
let port: number;
let port2: number;
const run = (args: Record<string, unknown>, opts: RunOptions = {}) => runModule('postgres_exporter', args, { env: sb.env, ...opts });
const task = (extra: Record<string, unknown> = {}) => ({
  name: 'remote1', dsn: `postgresql://monitoring@127.0.0.1:${pgPort}/postgres?sslmode=disable`, password: PASSWORD, port, ...extra,
});
const up = (b: string) => /^pg_up 1$/m.test(b);

function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((e) => (statSync(join(dir, e)).isDirectory() ? walk(join(dir, e)) : [join(dir, e)]));
}

beforeAll(async () => {
  sb = makeSandbox('socle-exporter-');
  [pgPort, port, port2] = [await freePort(), await freePort(), await freePort()];
  const { result } = runModule('instance', {
    name: 'watched', port: pgPort, settings: { listen_addresses: '127.0.0.1' },
    roles: [{ name: 'monitoring', login: true, password: PASSWORD, memberships: ['pg_monitor'] }],
  }, { env: sb.env });
  expect(result.failed ? result.msg : 'ok').toBe('ok');
});
afterAll(() => sb.cleanup());

describeIf('the postgres_exporter module', () => {
  test('a password in the data source is refused, naming the option', () => {
    const { result } = run(task({ dsn: `postgresql://monitoring:x@127.0.0.1:${pgPort}/postgres` }));
    expect(result).toMatchObject({ failed: true, msg: expect.stringContaining("option 'dsn'") });
  });

  test('check mode plans and does nothing', () => {
    const { result } = run(task(), { check: true, diff: true });
    expect(result).toMatchObject({ changed: true, state: 'running' });
    expect(result.diff.before).toMatch(/^state: absent/);
    expect(walk(sb.dir).filter((f) => /postgres_exporter|prometheus/.test(f.slice(sb.dir.length)))).toEqual([]);
  });

  test('started: metrics of the server, the password nowhere to be seen; a re-run is no change', async () => {
    const { result, stdout } = run(task());
    expect(result.failed ? result.msg : 'ok').toBe('ok');
    expect(result).toMatchObject({ changed: true, state: 'running', url: `http://127.0.0.1:${port}/metrics` });
    expect(stdout).not.toMatch(/m0n|secret/);
    const body = await httpUntil(result.url, up);
    expect(body).toMatch(/^pg_up 1$/m);
    expect(body).toMatch(/^pg_database_size_bytes\{datname="postgres"/m);
    for (const f of walk(sb.dir).filter((x) => statSync(x).isFile() && statSync(x).mode & 0o044)) expect(readFileSync(f, 'utf8')).not.toContain('secret');
    expect(run(task()).result).toMatchObject({ changed: false, changes: [] });
  });

  test('a new port restarts it there; stopped stops it', async () => {
    const moved = run(task({ port: port2 })).result;
    expect(moved.changes).toEqual(expect.arrayContaining([expect.stringMatching(/^restart service socle-postgres_exporter-remote1$/)]));
    expect(await httpUntil(moved.url, up)).toMatch(/^pg_up 1$/m);
    const stopped = run(task({ port: port2, state: 'stopped' })).result;
    expect(stopped).toMatchObject({ changed: true, state: 'stopped' });
    await expect(httpGet(moved.url)).rejects.toThrow();
  });

  test('absent removes every file; again is no change', () => {
    expect(run(task({ state: 'absent' })).result).toMatchObject({ changed: true, state: 'absent' });
    expect(walk(sb.dir).filter((f) => /postgres_exporter|prometheus\//.test(f.slice(sb.dir.length)))).toEqual([]);
    expect(run(task({ state: 'absent' })).result.changed).toBe(false);
  });
});
