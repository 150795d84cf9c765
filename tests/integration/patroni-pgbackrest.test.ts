// Patroni members with a pgBackRest stanza, on a 1-member etcd: the leader archives through the
// parameters Patroni gives PostgreSQL, the second member is cloned from the repository's backup
// (not by a base backup); instance_info reports the member; a cluster-wide parameter the DCS
// holds in another unit is no change; a member's task without `patroni` is a clear error that
// writes nothing. Lean on purpose (two members): tests/integration/patroni.test.ts covers the
// cluster's life (switchover, failover, kill -9).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { runModule, type RunOptions } from '../helpers/module';
import { ETCD, ETCDCTL, startEtcd, type EtcdCluster } from '../helpers/etcd';
import { freePort, makeSandbox, psql, until, type Sandbox } from '../helpers/sandbox';
import { watchSecrets, type SecretsCheck } from '../helpers/secrets';

jest.setTimeout(240_000);

const PATRONI = '/usr/bin/patroni';
const PGBACKREST = '/usr/bin/pgbackrest';
const describeIf = existsSync(PATRONI) && existsSync(ETCD) && existsSync(PGBACKREST) ? describe : describe.skip;

const SU_PW = `su 'pw: #1`;
const REST_PW = 'rest "pw" 2';
const BACKUP_PW = 'backup-Secret-3';
const REPL_PW = 'repl: Secret 4';

let sb: Sandbox;
let etcd: EtcdCluster;
let secrets: SecretsCheck;
const nodes = ['n1', 'n2'];
const pg: Record<string, number> = {};
const rest: Record<string, number> = {};
const env: Record<string, Record<string, string>> = {};
let version = '';

const run = (args: Record<string, unknown>, opts: RunOptions = {}) => runModule('instance', args, { env: sb.env, ...opts });
const member = (n: string, extra: Record<string, unknown> = {}) => ({
  name: `pg_${n}`,
  port: pg[n],
  surole_password: SU_PW,
  replrole_password: REPL_PW,
  settings: { listen_addresses: '127.0.0.1', wal_keep_size: '128MB' },
  patroni: { cluster: 'ha', node: n, restapi: { listen: `127.0.0.1:${rest[n]}`, authentication: { username: 'patroni', password: REST_PW } } },
  pgbackrest: { stanza: 'ha', password: BACKUP_PW },
  ...extra,
});
const ok = (r: Record<string, any>) => (r.failed ? `FAILED: ${r.msg}` : 'ok');
const sql = (n: string, q: string) => psql(env[n], q, { PGPASSWORD: SU_PW });
const auth = `Basic ${Buffer.from(`patroni:${REST_PW}`).toString('base64')}`;
const etcdKeys = () => spawnSync(ETCDCTL, ['--endpoints', etcd.hosts.join(','), 'get', '--prefix', '--keys-only', '/service/ha/'], { env: { ...process.env, ETCDCTL_API: '3' }, encoding: 'utf8' }).stdout.trim();
const configFile = (n: string) => join(sb.dir, 'srv', 'etc', 'patroni', `${version}-pg_${n}.yaml`);

beforeAll(async () => {
  sb = makeSandbox('socle-patroni-br-');
  etcd = await startEtcd(sb.dir, 1);
  for (const n of nodes) {
    pg[n] = await freePort();
    rest[n] = await freePort();
  }
  sb.writeSettings({
    postgresql: { replrole: 'replicator' },
    patroni: { etcd: { hosts: etcd.hosts }, ttl: 10, loop_wait: 2, retry_timeout: 4 },
    pgbackrest: { repository: { mode: 'path', path: join(sb.dir, 'repo'), retention: { full: 1 } } },
  });
  // The members' YAML and the backup role's passfiles hold secrets (0600).
  secrets = watchSecrets(sb, [join(sb.dir, 'srv', 'etc', 'patroni'), join(sb.dir, 'srv', 'etc', 'pgbackrest')]);
});
afterAll(() => {
  etcd?.stop();
  sb?.cleanup();
});

describeIf('Patroni members with a pgBackRest stanza', () => {
  test('the first member bootstraps and archives to the stanza through Patroni; a backup is taken', () => {
    const { result } = run(member('n1'));
    expect(ok(result)).toBe('ok');
    expect(result.changes).toContain(`bootstrap Patroni cluster ha with member ${result.version}/pg_n1`);
    expect(result.changes).toContain('create stanza ha');
    version = result.version;
    env.n1 = result.env;
    // Patroni gives PostgreSQL the parameters (its YAML): archiving is on, to the stanza.
    const yaml = readFileSync(configFile('n1'), 'utf8');
    expect(yaml).toMatch(/archive_command: .*--stanza=ha archive-push %p/);
    expect(yaml).toMatch(/create_replica_methods:\n\s+- pgbackrest\n\s+- basebackup/);
    expect(sql('n1', 'SHOW archive_mode')).toBe('on');
    expect(sql('n1', 'SHOW archive_command')).toMatch(/--stanza=ha archive-push %p/);
    const backup = runModule('pgbackrest', { instance: 'pg_n1', state: 'backed_up' }, { env: sb.env }).result;
    expect(ok(backup)).toBe('ok');
    expect(backup.changed).toBe(true);
  });

  test('the second member is restored from the repository, then streams from the leader', async () => {
    const planned = run(member('n2'), { check: true }).result;
    expect(planned.changes).toContain(`clone the leader of Patroni cluster ha into member ${version}/pg_n2 (restored from the backups of stanza ha)`);
    const { result } = run(member('n2'));
    expect(ok(result)).toBe('ok');
    expect(result.patroni).toMatchObject({ cluster: 'ha', node: 'n2', role: 'replica', state: 'running' });
    env.n2 = result.env;
    const log = readFileSync(join(sb.dir, 'srv', 'log', 'patroni', `${version}-pg_n2.log`), 'utf8');
    expect(log).toContain('replica has been created using pgbackrest');
    expect(log).not.toContain('replica has been created using basebackup');
    // pgBackRest's restore wrote the restore_command (the archive): the replica can fetch from it.
    expect(sql('n2', 'SHOW restore_command')).toMatch(/--stanza=ha archive-get/);
    await until('n2 streams', () => sql('n1', "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"), (v) => v === '1');
    sql('n1', 'CREATE TABLE t AS SELECT 42 AS x');
    await until('the row reaches n2', () => sql('n2', 'SELECT x FROM t'), (v) => v === '42');
  });

  test('a re-run of both members is no change', () => {
    for (const n of nodes) {
      const { result } = run(member(n));
      expect(ok(result)).toBe('ok');
      expect(result.changes).toEqual([]);
    }
  });

  // The backup of a member holds Patroni's postgresql.conf (port, archiving into the stanza,
  // synchronous_standby_names): the copy must be a standalone instance of its own.
  test("a copy restored beside the leader is standalone: its own port, no archiving, no synchronous standby to wait for", async () => {
    const copyPort = await freePort();
    const r = runModule('pgbackrest', { instance: 'pg_n1', state: 'restored', to: { name: 'pg_copy', port: copyPort } }, { env: sb.env }).result;
    expect(ok(r)).toBe('ok');
    try {
      const e = { ...env.n1, PGPORT: String(copyPort) };
      const q = "SELECT pg_is_in_recovery()::text || ' ' || current_setting('archive_mode') || ' [' || current_setting('synchronous_standby_names') || ']'";
      expect(psql(e, q, { PGPASSWORD: SU_PW })).toBe('false off []');
      expect(psql(e, 'CREATE TABLE copy_writes (i int); INSERT INTO copy_writes VALUES (1); SELECT count(*) FROM copy_writes', { PGPASSWORD: SU_PW }).split('\n').pop()).toBe('1');
      expect(existsSync(join(sb.dir, 'srv', 'pgsql', version, 'pg_copy', 'data', 'patroni.dynamic.json'))).toBe(false);
    } finally {
      expect(ok(runModule('instance', { name: 'pg_copy', state: 'absent' }, { env: sb.env }).result)).toBe('ok');
    }
  });

  test('instance_info reports the Patroni member', () => {
    const info = runModule('instance_info', { name: 'pg_n2' }, { env: sb.env }).result;
    expect(ok(info)).toBe('ok');
    expect(info.patroni).toMatchObject({ cluster: 'ha', node: 'n2', role: 'replica', state: 'running', rest_url: `http://127.0.0.1:${rest.n2}` });
    expect(info.patroni.config).toBe(configFile('n2'));
  });

  test('a cluster-wide parameter the DCS holds in another unit (131072kB) equals the task\'s (128MB): no change', async () => {
    const r = await fetch(`http://127.0.0.1:${rest.n1}/config`, {
      method: 'PATCH',
      headers: { authorization: auth, 'content-type': 'application/json' },
      body: JSON.stringify({ postgresql: { parameters: { wal_keep_size: '131072kB' } } }),
    });
    expect(r.status).toBe(200);
    const { result } = run(member('n1'));
    expect(ok(result)).toBe('ok');
    expect(result.changes).toEqual([]);
    const config = (await (await fetch(`http://127.0.0.1:${rest.n1}/config`)).json()) as { postgresql: { parameters: Record<string, unknown> } };
    expect(config.postgresql.parameters.wal_keep_size).toBe('131072kB');
    // A different value is still a change.
    const planned = run(member('n1', { settings: { listen_addresses: '127.0.0.1', wal_keep_size: '256MB' } }), { check: true }).result;
    expect(planned.changes).toContain('set cluster-wide parameters wal_keep_size in the DCS');
  });

  test('a member\'s task without `patroni` is a clear error, and writes nothing', async () => {
    const before = statSync(configFile('n2')).mtimeMs;
    const { patroni: _p, ...standalone } = member('n2');
    const { result } = run(standalone);
    expect(result.failed).toBe(true);
    expect(result.msg).toMatch(/option 'patroni': instance .*pg_n2 is member n2 of Patroni cluster ha; converting it to a standalone instance is not supported/);
    expect(statSync(configFile('n2')).mtimeMs).toBe(before);
    expect(run(member('n2')).result.changes).toEqual([]);
    // Also with nothing but the name (no other option).
    expect(run({ name: 'pg_n2', state: 'stopped' }).result.msg).toMatch(/converting it to a standalone instance is not supported/);
  });

  test('absent: both members dropped, the cluster removed from etcd', () => {
    expect(etcdKeys()).not.toBe('');
    for (const n of ['n2', 'n1']) {
      const { result } = run({ name: `pg_${n}`, state: 'absent' });
      expect(ok(result)).toBe('ok');
      expect(result.changed).toBe(true);
    }
    expect(etcdKeys()).toBe('');
  });

  test('no secret leaked', async () => expect((await secrets.finish()).leaks).toEqual([]));
});
