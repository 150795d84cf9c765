// The `powa` component of the instance module, on real PostgreSQL with Debian's PoWA packages
// (postgresql-<major>-powa, -pg-qualstats, -pg-stat-kcache, -hypopg): the libraries merged into
// shared_preload_libraries with the user's, the PoWA role (super-user) and database with its
// extensions; enabling PoWA on a running instance reports the pending restart and makes the
// database once restarted; re-runs are no change; drop leaves nothing. Also the `logging` preset
// (pgBadger's parameters, the user's settings winning). Skipped (saying why) when the PoWA
// packages are not installed for the major under test (the Debian 13 container's PostgreSQL 17).
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { runModule, type RunOptions } from '../helpers/module';
import { freePort, makeSandbox, psql, type Sandbox } from '../helpers/sandbox';
import { watchSecrets, type SecretsCheck } from '../helpers/secrets';
import { testedMajor } from '../helpers/versions';

jest.setTimeout(180_000);

const MAJOR = testedMajor();
const NEEDED = ['powa', 'pg_qualstats', 'pg_stat_kcache'].map((e) => `/usr/share/postgresql/${MAJOR}/extension/${e}.control`);
const HAVE_POWA = NEEDED.every((f) => existsSync(f));
if (!HAVE_POWA) {
  // eslint-disable-next-line no-console
  console.warn(`powa tests skipped: PoWA is not installed for PostgreSQL ${MAJOR} (Debian: postgresql-${MAJOR}-powa, -pg-qualstats, -pg-stat-kcache)`);
}
const describeIf = HAVE_POWA ? describe : describe.skip;
const HYPOPG = existsSync(`/usr/share/postgresql/${MAJOR}/extension/hypopg.control`);

const PASSWORD = `p0wa 'pa:ss"\\ wörd`;
const LOOPBACK = { listen_addresses: '127.0.0.1' };

let sb: Sandbox;
let secrets: SecretsCheck;
let ports: { a: number; b: number; c: number };
const run = (args: Record<string, unknown>, opts: RunOptions = {}) => runModule('instance', args, { env: sb.env, ...opts });
const withPowa = (extra: Record<string, unknown> = {}) => ({
  name: 'pw', port: ports.a, settings: { ...LOOPBACK, shared_preload_libraries: 'auto_explain' }, powa: { password: PASSWORD }, ...extra,
});
const q = (env: Record<string, string>, sql: string, db = 'postgres') => psql(env, sql, { PGDATABASE: db });

beforeAll(async () => {
  sb = makeSandbox('socle-powa-');
  ports = { a: await freePort(), b: await freePort(), c: await freePort() };
  secrets = watchSecrets(sb);
});
afterAll(() => sb.cleanup());

describeIf('PoWA on an instance', () => {
  let env: Record<string, string>;

  test('check mode plans the role and the database, and does nothing', () => {
    const { result } = run(withPowa(), { check: true });
    expect(result.failed ? result.msg : 'ok').toBe('ok');
    expect(result.changes).toEqual(expect.arrayContaining(['create role powa (PoWA)', 'create database powa with the extensions of PoWA']));
    expect(existsSync(join(sb.dir, 'srv'))).toBe(false);
  });

  test('creation: libraries merged with the user\'s, super-user role, database with its extensions', () => {
    const { result } = run(withPowa());
    expect(result.failed ? result.msg : 'ok').toBe('ok');
    expect(result.pending_restart).toBe(false);
    expect(result.powa).toEqual({ dbname: 'powa', role: 'powa', libraries: ['pg_stat_statements', 'pg_qualstats', 'pg_stat_kcache'] });
    env = result.env as Record<string, string>;
    expect(q(env, 'SHOW shared_preload_libraries')).toBe('auto_explain, pg_stat_statements, pg_qualstats, pg_stat_kcache');
    expect(q(env, "SELECT rolsuper AND rolcanlogin FROM pg_roles WHERE rolname = 'powa'")).toBe('t');
    const exts = q(env, 'SELECT extname FROM pg_extension ORDER BY 1', 'powa').split('\n');
    expect(exts).toEqual(expect.arrayContaining(['btree_gist', 'pg_stat_statements', 'pg_qualstats', 'pg_stat_kcache', 'powa', ...(HYPOPG ? ['hypopg'] : [])]));
    // The role logs in with its password over TCP (what a remote powa-collector does),
    // and reads the statistics the collector reads (the snapshot functions of remote mode).
    expect(psql({ ...env, PGHOST: '127.0.0.1', PGUSER: 'powa', PGDATABASE: 'powa' }, 'SELECT count(*) >= 0 FROM powa_statements_src(0)', { PGPASSWORD: PASSWORD, PGPASSFILE: '/dev/null' })).toBe('t');
  });

  test('a re-run is no change, check mode agrees, leaving powa out keeps it', () => {
    expect(run(withPowa()).result).toMatchObject({ changed: false, changes: [] });
    expect(run(withPowa(), { check: true }).result).toMatchObject({ changed: false });
    const { result } = run(withPowa({ powa: undefined }));
    expect(result).toMatchObject({ changed: false });
    expect(q(env, 'SHOW shared_preload_libraries')).toMatch(/pg_stat_kcache/);
  });

  test('enabled on a running instance: pending restart, the database after it', () => {
    const plain = { name: 'pw2', port: ports.b, settings: LOOPBACK };
    const env2 = run(plain).result.env as Record<string, string>;
    const { result } = run({ ...plain, powa: { password: PASSWORD } });
    expect(result.failed ? result.msg : 'ok').toBe('ok');
    expect(result).toMatchObject({ changed: true, pending_restart: true });
    expect(result.changes).toContain('create role powa (PoWA)');
    expect(result.warnings?.join('\n')).toMatch(/database powa \(PoWA\) waits for a restart/);
    expect(q(env2, "SELECT count(*) FROM pg_database WHERE datname = 'powa'")).toBe('0');
    const again = run({ ...plain, powa: { password: PASSWORD }, restart_on_changes: true }).result;
    expect(again.failed ? again.msg : 'ok').toBe('ok');
    expect(again.changes).toEqual(expect.arrayContaining([expect.stringMatching(/^restart instance/), expect.stringMatching(/database powa/)]));
    expect(again.pending_restart).toBe(false);
    expect(q(env2, 'SELECT extname FROM pg_extension ORDER BY 1', 'powa')).toMatch(/powa/);
    expect(run({ ...plain, powa: { password: PASSWORD } }).result).toMatchObject({ changed: false, pending_restart: false });
  });

  test('drop leaves nothing of PoWA', () => {
    for (const name of ['pw', 'pw2']) {
      const { result } = run({ name, state: 'absent' });
      expect(result.failed ? result.msg : 'ok').toBe('ok');
    }
    const etc = join(sb.dir, 'srv/etc/powa');
    expect(existsSync(etc) ? readdirSync(etc) : []).toEqual([]);
  });

  test('no secret leaked', async () => expect((await secrets.finish()).leaks).toEqual([]));
});

describe('the logging preset', () => {
  test('pgBadger\'s parameters, the user\'s settings win, a reload applies them', () => {
    const spec = { name: 'lg', port: ports.c, settings: { ...LOOPBACK, log_min_duration_statement: 250 }, logging: { preset: 'pgbadger' } };
    const { result } = run(spec);
    expect(result.failed ? result.msg : 'ok').toBe('ok');
    const env = result.env as Record<string, string>;
    const show = (p: string) => q(env, `SHOW ${p}`);
    expect(q(env, "SELECT '[' || current_setting('log_line_prefix') || ']'")).toBe('[%t [%p]: user=%u,db=%d,app=%a,client=%h ]');
    expect(show('log_min_duration_statement')).toBe('250ms');
    expect([show('log_checkpoints'), show('log_connections'), show('log_disconnections'), show('log_lock_waits')]).toEqual(['on', 'on', 'on', 'on']);
    expect([show('log_temp_files'), show('log_autovacuum_min_duration'), show('lc_messages')]).toEqual(['0', '0', 'C']);
    expect(run(spec).result).toMatchObject({ changed: false });
    // Left out: the preset's parameters go, by a reload.
    const off = run({ ...spec, logging: undefined }).result;
    expect(off).toMatchObject({ changed: true, pending_restart: false });
    expect(run({ name: 'lg', state: 'absent' }).result.failed).toBeFalsy();
  });

  test('a bad preset is refused, naming the option', () => {
    const { result } = run({ name: 'lg2', port: ports.c, logging: { preset: 'verbose' } });
    expect(result.failed).toBe(true);
    expect(result.msg).toMatch(/logging\.preset/);
  });
});
