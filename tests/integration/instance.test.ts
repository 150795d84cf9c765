// The instance module against real PostgreSQL, run as Ansible runs it.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { eventually, freePort, makeSandbox, psql, type Sandbox } from '../helpers/sandbox';
import { MODULES_DIR, runModule, type RunOptions } from '../helpers/module';
import { testedMajor } from '../helpers/versions';

jest.setTimeout(120_000);

let sb: Sandbox;
let port: number;
const run = (args: Record<string, unknown>, opts: RunOptions = {}) => runModule('instance', args, { env: sb.env, ...opts });
const LOOPBACK = { listen_addresses: '127.0.0.1' };

beforeAll(async () => {
  sb = makeSandbox();
  port = await freePort();
});
afterAll(() => sb.cleanup());

describe('a started instance', () => {
  const name = 'main';
  const settings = { ...LOOPBACK, work_mem: '4MB', log_connections: 'on', shared_buffers: '32MB' };
  let env: Record<string, string>;
  let datadir: string;

  test('is created, configured and started', () => {
    const { result } = run({ name, port, settings });
    expect(result.failed).toBeUndefined();
    expect(result.changed).toBe(true);
    expect(result.status).toBe('running');
    expect(result.changes[0]).toMatch(/^create instance \d+\/main$/);
    expect(result.commands.join('\n')).toMatch(/initdb --pgdata/);
    env = result.env;
    datadir = result.datadir;
    expect(env.PGPORT).toBe(String(port));
    expect(psql(env, 'SHOW work_mem')).toBe('4MB');
    expect(psql(env, 'SHOW log_connections')).toBe('on');
    expect(psql(env, 'SELECT current_user')).toBe('postgres');
    expect(existsSync(join(result.datadir, 'socle.conf'))).toBe(true);
  });

  test('a re-run with the same settings, written differently, is no change', () => {
    const { result } = run({ name, port: String(port), settings: { ...LOOPBACK, work_mem: '4096kB', log_connections: true, shared_buffers: '32768kB' } });
    expect(result.changed).toBe(false);
    expect(result.changes).toEqual([]);
    expect(result.pending_restart).toBe(false);
  });

  test('check mode reports a change and changes nothing', () => {
    const conf = readFileSync(join(datadir, 'socle.conf'), 'utf8');
    const { result } = run({ name, port, settings: { ...settings, work_mem: '8MB' } }, { check: true, diff: true });
    expect(result.changed).toBe(true);
    expect(result.changes).toEqual([expect.stringMatching(/^set parameters work_mem in /)]);
    expect(result.diff.before).toContain("work_mem = '4MB'");
    expect(result.diff.after).toContain("work_mem = '8MB'");
    expect(readFileSync(join(result.datadir, 'socle.conf'), 'utf8')).toBe(conf);
    expect(psql(env, 'SHOW work_mem')).toBe('4MB');
  });

  test('a reloadable change is applied with a reload', async () => {
    const { result } = run({ name, port, settings: { ...settings, work_mem: '8MB' } }, { diff: true });
    expect(result.changed).toBe(true);
    expect(result.pending_restart).toBe(false);
    expect(result.commands.join('\n')).toMatch(/pg_ctl reload/);
    expect(await eventually(() => psql(env, 'SHOW work_mem'), '8MB')).toBe('8MB');
  });

  test('a restart-only change is pending until restart_on_changes', async () => {
    const changed = { ...settings, work_mem: '8MB', shared_buffers: '64MB' };
    let { result } = run({ name, port, settings: changed });
    expect(result.changed).toBe(true);
    expect(result.pending_restart).toBe(true);
    expect(result.warnings?.[0]).toMatch(/needs a restart/);
    expect(psql(env, 'SHOW shared_buffers')).toBe('32MB');
    ({ result } = run({ name, port, settings: changed }));
    expect(result.changed).toBe(false);
    expect(result.pending_restart).toBe(true);
    ({ result } = run({ name, port, settings: { ...changed, shared_buffers: '48MB' }, restart_on_changes: true }));
    expect(result.changed).toBe(true);
    expect(result.changes.join('\n')).toMatch(/restart instance/);
    expect(result.pending_restart).toBe(false);
    expect(psql(env, 'SHOW shared_buffers')).toBe('48MB');
  });

  test('stopped, started, restarted', () => {
    const base = { name, port, settings: { ...settings, work_mem: '8MB', shared_buffers: '48MB' } };
    let { result } = run({ ...base, state: 'stopped' });
    expect(result).toMatchObject({ changed: true, status: 'stopped' });
    expect(existsSync(join(result.datadir, 'postmaster.pid'))).toBe(false);
    ({ result } = run({ ...base, state: 'stopped' }));
    expect(result.changed).toBe(false);
    ({ result } = run(base));
    expect(result).toMatchObject({ changed: true, status: 'running' });
    const pid = psql(env, 'SELECT pg_postmaster_start_time()');
    ({ result } = run({ ...base, state: 'restarted' }));
    expect(result.changed).toBe(true);
    expect(psql(env, 'SELECT pg_postmaster_start_time()')).not.toBe(pid);
  });

  test('instance_info returns the facts without changing anything', () => {
    const { result } = runModule('instance_info', { name }, { env: sb.env });
    expect(result).toMatchObject({ changed: false, status: 'running', port, pending_restart: false });
    expect(result.settings.work_mem).toBe('8MB');
    expect(result.env.PGPORT).toBe(String(port));
  });

  test('absent drops it; absent again is no change', () => {
    let { result } = run({ name, port, state: 'absent' });
    expect(result.changed).toBe(true);
    expect(existsSync(result.datadir)).toBe(false);
    expect(existsSync(result.waldir)).toBe(false);
    ({ result } = run({ name, port, state: 'absent' }));
    expect(result.changed).toBe(false);
    const info = runModule('instance_info', { name }, { env: sb.env }).result;
    expect(info.failed).toBe(true);
    expect(info.msg).toMatch(/does not exist/);
  });
});

describe('a stopped instance with a super-user password in the passfile', () => {
  const name = 'secret';
  const password = "p'@ss wörd\"";
  let p: number;

  beforeAll(async () => {
    p = await freePort();
    sb.writeSettings({ postgresql: { surole: { pgpass: true } } });
  });
  afterAll(() => sb.writeSettings());

  test('is created stopped; the password never appears in the output', () => {
    const { result, stdout } = run({ name, port: p, state: 'stopped', settings: LOOPBACK, surole_password: password }, { diff: true });
    expect(result).toMatchObject({ changed: true, status: 'stopped' });
    expect(stdout).not.toContain('wörd');
    expect(stdout).not.toContain('w\\u00f6rd');
    expect(existsSync(join(result.datadir, 'postmaster.pid'))).toBe(false);
    expect(readFileSync(sb.passfile, 'utf8')).toContain(`*:${p}:*:postgres:`);
  });

  test('started, it accepts the password over TCP (scram-sha-256)', () => {
    const { result } = run({ name, port: p, settings: LOOPBACK, surole_password: password });
    expect(result).toMatchObject({ changed: true, status: 'running' });
    const tcp = { ...result.env, PGHOST: '127.0.0.1', PGPASSFILE: '/dev/null' };
    expect(psql(tcp, 'SELECT 1', { PGPASSWORD: password })).toBe('1');
    expect(() => psql(tcp, 'SELECT 1', { PGPASSWORD: 'wrong' })).toThrow();
    expect(psql({ ...tcp, PGPASSFILE: sb.passfile }, 'SELECT 1')).toBe('1');
  });

  test('the same password is no change; a new one is, masked', () => {
    let { result, stdout } = run({ name, port: p, settings: LOOPBACK, surole_password: password });
    expect(result.changed).toBe(false);
    ({ result, stdout } = run({ name, port: p, settings: LOOPBACK, surole_password: 'n3w-Secret' }));
    expect(result.changed).toBe(true);
    expect(result.queries).toEqual(['ALTER ROLE "postgres" PASSWORD \'********\'']);
    expect(stdout).not.toContain('n3w-Secret');
    const tcp = { ...result.env, PGHOST: '127.0.0.1', PGPASSFILE: '/dev/null' };
    expect(psql(tcp, 'SELECT 1', { PGPASSWORD: 'n3w-Secret' })).toBe('1');
  });

  test('absent removes its passfile entry', () => {
    run({ name, port: p, state: 'absent' });
    expect(readFileSync(sb.passfile, 'utf8')).not.toContain(`:${p}:`);
  });
});

describe('bad input and failures leave nothing behind', () => {
  test('every bad option is named in one failure', () => {
    const { result, status } = run({ name: 'bad-name', port: 'abc', state: 'bogus', colour: 'blue' });
    expect(status).toBe(1);
    expect(result.failed).toBe(true);
    expect(result.msg).toMatch(/^instance: invalid options: /);
    expect(result.msg).toContain("option 'name' must not contain '-' or '/'");
    expect(result.msg).toContain("option 'port' must be integer");
    expect(result.msg).toContain("option 'state' must be one of: started, stopped, restarted, absent");
    expect(result.msg).toContain("unknown option 'colour'");
    expect(existsSync(join(sb.dir, 'srv/pgsql', testedMajor(), 'bad-name'))).toBe(false);
  });

  test('an unknown parameter fails before anything is created', async () => {
    const { result } = run({ name: 'typo', port: await freePort(), settings: { work_mme: '4MB' } });
    expect(result.failed).toBe(true);
    expect(result.msg).toContain("option 'settings.work_mme': unknown PostgreSQL parameter");
    expect(existsSync(join(sb.dir, 'srv/pgsql', testedMajor(), 'typo'))).toBe(false);
  });

  test('port and socket directory have one source each', async () => {
    const { result } = run({ name: 'dup', port: await freePort(), settings: { port: 1234, unix_socket_directories: '/tmp' } });
    expect(result.failed).toBe(true);
    expect(result.msg).toContain("option 'settings.port': the port is set with the 'port' option");
    expect(result.msg).toContain("option 'settings.unix_socket_directories': the socket directory is the site setting postgresql.socket_directory");
    expect(existsSync(join(sb.dir, 'srv/pgsql', testedMajor(), 'dup'))).toBe(false);
  });

  test('a start failure (port taken) rolls the creation back', async () => {
    const taken = await freePort();
    const server: Server = createServer();
    await new Promise<void>((r) => server.listen(taken, '127.0.0.1', r));
    try {
      const { result } = run({ name: 'clash', port: taken, settings: LOOPBACK });
      expect(result.failed).toBe(true);
      expect(result.msg).toMatch(/failed to start/);
      expect(result.msg).toMatch(/Address already in use|could not bind/);
      expect(existsSync(join(sb.dir, 'srv/pgsql', testedMajor(), 'clash'))).toBe(false);
    } finally {
      server.close();
    }
  });

  test('bad site settings fail with the file and the path of each bad key', () => {
    const file = join(sb.dir, 'bad-settings.yaml');
    writeFileSync(file, 'postgresql:\n  auth:\n    local: sometimes\n  colour: blue\nlock_timeout: soon\n');
    const { result } = runModule('instance', { name: 'x' }, { env: { ...sb.env, SOCLE_SETTINGS: file } });
    expect(result.failed).toBe(true);
    expect(result.msg).toContain(`settings file ${file}: invalid options:`);
    expect(result.msg).toContain("option 'postgresql.auth.local' must be one of:");
    expect(result.msg).toContain("unknown option 'postgresql.colour'");
    expect(result.msg).toContain("option 'lock_timeout' must be integer");
  });

  test('an unexpected error is a clean failure, with a trace only at -vvv', () => {
    const env = { ...sb.env, SOCLE_SETTINGS: join(sb.dir, 'missing.yaml') };
    let r = runModule('instance', { name: 'x' }, { env });
    expect(r.result).toMatchObject({ failed: true, changed: false });
    expect(r.result.msg).toMatch(/missing\.yaml/);
    r = runModule('instance', { name: 'x' }, { env, verbosity: 3 });
    expect(r.result.exception).toMatch(/ModuleError/);
  });
});

describe('two tasks on one instance at once', () => {
  test('never interleave: one creates, the other finds it done', async () => {
    const p = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'socle-args-'));
    const once = (i: number) =>
      new Promise<Record<string, any>>((resolve) => {
        const f = join(dir, `args${i}`);
        writeFileSync(f, JSON.stringify({ name: 'twice', port: p, settings: LOOPBACK }));
        const child = spawn(process.execPath, [join(MODULES_DIR, 'instance.js'), f], { env: sb.env });
        let out = '';
        child.stdout.on('data', (d) => (out += d));
        child.on('close', () => resolve(JSON.parse(out)));
      });
    const results = await Promise.all([once(1), once(2)]);
    expect(results.map((r) => r.failed ?? false)).toEqual([false, false]);
    expect(results.map((r) => r.changed).sort()).toEqual([false, true]);
    run({ name: 'twice', state: 'absent' });
  });
});


