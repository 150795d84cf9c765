// Streaming replication with the instance module, on real PostgreSQL over loopback: a primary
// with a slot, a standby through it, a cascading standby, promotion, the facts, and the
// password of the replication role kept out of every output, command line and readable file.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { eventually, filesContaining, freePort, makeSandbox, psql, readableByOthers, type Sandbox } from '../helpers/sandbox';
import { runModule, runModuleKilledAfter, type RunOptions } from '../helpers/module';

jest.setTimeout(180_000);

const REPL_PASSWORD = "r3pl 'pa:ss\\ \"wörd";
const LOOPBACK = { listen_addresses: '127.0.0.1' };

let sb: Sandbox;
let ports: { primary: number; standby: number; cascade: number };
const run = (args: Record<string, unknown>, opts: RunOptions = {}) => runModule('instance', args, { env: sb.env, ...opts });
const info = (name: string) => runModule('instance_info', { name }, { env: sb.env }).result;
const envs: Record<string, Record<string, string>> = {};

function primaryTask(extra: Record<string, unknown> = {}) {
  return { name: 'primary', port: ports.primary, settings: LOOPBACK, replrole_password: REPL_PASSWORD, replication_slots: ['standby1'], ...extra };
}
function standbyTask(extra: Record<string, unknown> = {}) {
  return {
    name: 'standby1',
    port: ports.standby,
    settings: LOOPBACK,
    standby: { primary_conninfo: `host=127.0.0.1 port=${ports.primary}`, password: REPL_PASSWORD, slot: 'standby1' },
    ...extra,
  };
}
function cascadeTask() {
  return {
    name: 'standby2',
    port: ports.cascade,
    settings: LOOPBACK,
    standby: { primary_conninfo: `postgresql://127.0.0.1:${ports.standby}/`, password: REPL_PASSWORD },
  };
}

beforeAll(async () => {
  sb = makeSandbox('socle-standby-');
  sb.writeSettings({ postgresql: { replrole: 'replicator' } });
  ports = { primary: await freePort(), standby: await freePort(), cascade: await freePort() };
});
afterAll(() => sb.cleanup());

describe('a primary and its standbys', () => {
  test('the primary is created with its slot, and accepts the replication role', () => {
    const { result } = run(primaryTask());
    expect(result.failed).toBeUndefined();
    expect(result.changes).toContain('create replication slot standby1');
    envs.primary = result.env;
    expect(psql(envs.primary, "SELECT slot_type FROM pg_replication_slots WHERE slot_name = 'standby1'")).toBe('physical');
    const hba = readFileSync(join(result.datadir, 'pg_hba.conf'), 'utf8');
    expect(hba).toMatch(/^host\s+replication\s+"replicator"\s+all\s+scram-sha-256$/m);
    psql(envs.primary, 'CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 100)');
  });

  test('a password inside primary_conninfo is refused, naming the option, before anything is written', () => {
    const { result } = run({ ...standbyTask(), standby: { primary_conninfo: `host=127.0.0.1 port=${ports.primary} password=oops` } });
    expect(result.failed).toBe(true);
    expect(result.msg).toMatch(/option 'standby\.primary_conninfo': must not contain a password/);
    expect(JSON.stringify(result)).not.toContain('oops');
    expect(existsSync(join(sb.dir, 'srv/pgsql'))).toBe(true);
    expect(readdirSync(join(sb.dir, 'srv/pgsql', readdirSync(join(sb.dir, 'srv/pgsql'))[0]))).toEqual(['primary']);
  });

  test('check mode of a new standby shows the base backup and changes nothing', () => {
    const r = run(standbyTask(), { check: true });
    expect(r.result.failed).toBeUndefined();
    expect(r.result.changed).toBe(true);
    const commands = r.result.commands.join('\n');
    expect(commands).toMatch(/^PGPASSWORD=<standby\.password> \S+\/pg_basebackup --pgdata \S+ --waldir \S+ --wal-method=stream --checkpoint=fast --no-password --dbname '.*user=replicator' --slot standby1$/m);
    expect(r.stdout).not.toContain('r3pl');
    expect(r.result.replication).toEqual({ role: 'standby' });
    expect(existsSync(r.result.datadir)).toBe(false);
  });

  test('the standby is created from a base backup through the slot, and replays what the primary writes', async () => {
    const r = run(standbyTask());
    expect(r.result.failed).toBeUndefined();
    expect(r.result.changed).toBe(true);
    expect(r.result.changes[0]).toBe(`create standby ${r.result.version}/standby1 from a base backup of its upstream`);
    expect(r.stdout).not.toContain('r3pl');
    expect(r.result.replication.role).toBe('standby');
    envs.standby = r.result.env;
    expect(psql(envs.standby, 'SELECT pg_is_in_recovery()')).toBe('t');
    expect(psql(envs.standby, 'SELECT count(*) FROM t')).toBe('100');
    psql(envs.primary, 'INSERT INTO t SELECT generate_series(101, 150)');
    expect(await eventually(() => psql(envs.standby, 'SELECT count(*) FROM t'), '150')).toBe('150');
    expect(await eventually(() => psql(envs.primary, "SELECT active FROM pg_replication_slots WHERE slot_name = 'standby1'"), 't')).toBe('t');
    expect(psql(envs.standby, 'SHOW primary_slot_name')).toBe('standby1');
  });

  test('the password is in no output, no readable file, no configuration and no server log', () => {
    const standbyDir = join(sb.dir, 'srv');
    const holders = filesContaining(standbyDir, 'r3pl');
    // Only the standby's private passfile (mode 0600) holds it; the primary's catalog has a SCRAM verifier.
    expect(holders).toEqual([expect.stringMatching(/\/etc\/replication\/\d+-standby1\.pgpass$/)]);
    expect(statSync(holders[0]).mode & 0o077).toBe(0);
    expect(readableByOthers(join(sb.dir, 'srv', 'etc'))).toEqual([]);
    expect(psql(envs.standby, 'SHOW primary_conninfo')).not.toContain('r3pl');
    expect(psql(envs.standby, 'SHOW primary_conninfo')).toContain('passfile=');
  });

  test('re-running both tasks is no change', () => {
    for (const task of [primaryTask(), standbyTask()]) {
      const { result } = run(task);
      expect(result.failed).toBeUndefined();
      expect({ name: task.name, changed: result.changed, changes: result.changes }).toEqual({ name: task.name, changed: false, changes: [] });
    }
  });

  test('the facts: the primary lists its standby, the standby its upstream and lag', async () => {
    const p = info('primary');
    expect(p.replication.role).toBe('primary');
    expect(p.replication.standbys).toEqual([expect.objectContaining({ name: expect.stringMatching(/standby1$/), state: 'streaming', address: '127.0.0.1' })]);
    expect(typeof p.replication.standbys[0].lag_bytes).toBe('number');
    const s = info('standby1');
    expect(s.replication.role).toBe('standby');
    expect(s.replication.standby).toEqual(expect.objectContaining({ slot: 'standby1', receiver: 'streaming' }));
    expect(s.replication.standby.upstream).toContain(`port=${ports.primary}`);
    expect(typeof s.replication.standby.lag_bytes).toBe('number');
    expect(typeof s.replication.standby.lag_seconds).toBe('number');
    expect(s.replication.standby.replayed_lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
  });

  test("a standby runs no role SQL (the roles are its primary's) but writes the roles' pg_hba.conf records, its own file", () => {
    const app = { name: 'app', hba_records: [{ connection: { address: '10.1.0.0/16' }, database: 'app', method: 'scram-sha-256' }] };
    const { result } = run(standbyTask({ roles: [app] }));
    expect(result.failed).toBeUndefined();
    expect(result.changed).toBe(true);
    // No role SQL: the file, then a reload.
    expect(result.changes).toEqual([expect.stringMatching(/^write pg_hba\.conf records of role app \(\+1\) in /)]);
    expect(result.queries).toEqual(['SELECT pg_reload_conf()']);
    const hba = readFileSync(join(result.datadir, 'pg_hba.conf'), 'utf8');
    expect(hba).toMatch(/# BEGIN socle role "app"\nhost\s+app\s+"app"\s+10\.1\.0\.0\/16\s+scram-sha-256\n# END socle role "app"/);
    const again = run(standbyTask({ roles: [app] })).result;
    expect({ changed: again.changed, changes: again.changes }).toEqual({ changed: false, changes: [] });
  });

  test('databases are not applied on a standby, and the result says so', () => {
    const { result } = run(standbyTask({ databases: [{ name: 'app' }] }));
    expect(result.failed).toBeUndefined();
    expect(result.changed).toBe(false);
    expect(result.warnings).toEqual([expect.stringMatching(/is a standby \(read-only\): its databases were not applied/)]);
  });

  test('replication slots are refused on a demoted standby', () => {
    const { result } = run(standbyTask({ replication_slots: ['x'] }));
    expect(result.failed).toBe(true);
    expect(result.msg).toMatch(/option 'replication_slots': instance \S+ is a standby/);
  });

  test('a cascading standby follows the first standby', async () => {
    const r = run(cascadeTask());
    expect(r.result.failed).toBeUndefined();
    envs.cascade = r.result.env;
    psql(envs.primary, 'INSERT INTO t SELECT generate_series(151, 160)');
    expect(await eventually(() => psql(envs.cascade, 'SELECT count(*) FROM t'), '160')).toBe('160');
    expect(run(cascadeTask()).result.changed).toBe(false);
  });

  test('a changed upstream of a running standby is applied with a reload', async () => {
    // Through the cascade's own upstream written differently: same server, other conninfo.
    const task = { ...cascadeTask(), standby: { primary_conninfo: `host=127.0.0.1 port=${ports.standby} application_name=cascade`, password: REPL_PASSWORD } };
    const { result } = run(task);
    expect(result.failed).toBeUndefined();
    expect(result.changes).toEqual([expect.stringMatching(/^set parameters primary_conninfo in /), ]);
    expect(result.pending_restart).toBe(false);
    expect(await eventually(() => psql(envs.standby, "SELECT count(*) FROM pg_stat_replication WHERE application_name = 'cascade'"), '1')).toBe('1');
    expect(run(task).result.changed).toBe(false);
  });

  test('promotion: the standby becomes a primary, its roles apply in the same task, a re-run is no change', async () => {
    const task = standbyTask({ standby: { ...standbyTask().standby, status: 'promoted' }, roles: [{ name: 'app', login: true }] });
    const check = run(task, { check: true });
    expect(check.result.changes).toEqual(expect.arrayContaining([expect.stringMatching(/^promote instance/)]));
    expect(psql(envs.standby, 'SELECT pg_is_in_recovery()')).toBe('t');
    const { result } = run(task);
    expect(result.failed).toBeUndefined();
    expect(result.changes).toEqual(expect.arrayContaining([expect.stringMatching(/^promote instance/), 'create role app (LOGIN)']));
    expect(psql(envs.standby, 'SELECT pg_is_in_recovery()')).toBe('f');
    expect(psql(envs.standby, "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'app'")).toBe('t');
    psql(envs.standby, 'INSERT INTO t SELECT generate_series(161, 170)');
    // The cascading standby follows its promoted upstream onto the new timeline.
    expect(await eventually(() => psql(envs.cascade, 'SELECT count(*) FROM t'), '170', 100)).toBe('170');
    const again = run(task);
    expect({ changed: again.result.changed, changes: again.result.changes }).toEqual({ changed: false, changes: [] });
    expect(info('standby1').replication.role).toBe('primary');
  });

  test('a promoted instance cannot be demoted again', () => {
    const { result } = run(standbyTask());
    expect(result.failed).toBe(true);
    expect(result.msg).toMatch(/option 'standby\.status': instance \S+ is a primary/);
  });

  test('a standby creation killed during its base backup or start converges on the next run', async () => {
    for (const ms of [250, 900]) {
      const task = { ...cascadeTask(), name: `killed${ms}`, port: await freePort(), standby: { primary_conninfo: `host=127.0.0.1 port=${ports.primary}`, password: REPL_PASSWORD } };
      await runModuleKilledAfter('instance', task, ms, sb.env);
      const again = run(task);
      expect(again.result.failed ? again.result.msg : undefined).toBeUndefined();
      expect(psql(again.result.env, 'SELECT pg_is_in_recovery()')).toBe('t');
      expect(run(task).result.changed).toBe(false);
      expect(run({ name: task.name, state: 'absent' }).result.changed).toBe(true);
    }
  });

  test('dropping a standby removes its private passfile', () => {
    const file = filesContaining(join(sb.dir, 'srv', 'etc'), 'r3pl').find((f) => f.includes('standby2'));
    expect(file).toBeDefined();
    const { result } = run({ name: 'standby2', state: 'absent' });
    expect(result.changed).toBe(true);
    expect(existsSync(file!)).toBe(false);
  });
});
