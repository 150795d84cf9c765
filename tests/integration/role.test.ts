// The role module (and the batch API behind it) against real PostgreSQL, run as Ansible runs it.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { planRoles, type RoleSpec } from '../../modules/lib/role';
import { applySteps, report } from '../../modules/lib/plan';
import { loadSettings } from '../../modules/lib/settings';
import { findInstance } from '../../modules/lib/instance/target';
import { md5Verifier, scramVerifier } from '../../modules/lib/pg/scram';
import { freePort, makeSandbox, psql, type Sandbox } from '../helpers/sandbox';
import { runModule, type RunOptions } from '../helpers/module';
import { watchSecrets, type SecretsCheck } from '../helpers/secrets';
import { testedAtLeast } from '../helpers/versions';

jest.setTimeout(120_000);

let sb: Sandbox;
let port: number;
let env: Record<string, string>;
let hbaFile: string;
const INSTANCE = 'main';
const run = (args: Record<string, unknown>, opts: RunOptions = {}) => runModule('role', { instance: INSTANCE, ...args }, { env: sb.env, ...opts });
const sql = (q: string, extra: NodeJS.ProcessEnv = {}) => psql(env, q, extra);
const lit = (s: string) => "'" + s.replace(/'/g, "''") + "'";
const roleExists = (name: string) => sql(`SELECT count(*) FROM pg_roles WHERE rolname = ${lit(name)}`) === '1';
/** psql over TCP with a password only (no passfile): what a client of the role sees. */
const login = (user: string, password: string, db = 'postgres') =>
  psql({ ...env, PGHOST: '127.0.0.1', PGUSER: user, PGDATABASE: db, PGPASSFILE: '/dev/null' }, 'SELECT current_user', { PGPASSWORD: password });

const BOBBY = "Robert'); DROP TABLE students;--";
const ELODIE = 'Élodie "the admin"';

let secrets: SecretsCheck;

beforeAll(async () => {
  sb = makeSandbox('socle-role-');
  secrets = watchSecrets(sb);
  port = await freePort();
  // Every statement logged: the secrets check reads the log for passwords and verifiers.
  const { result } = runModule('instance', { name: INSTANCE, port, settings: { listen_addresses: '127.0.0.1', log_statement: 'all' } }, { env: sb.env });
  expect(result.failed ? result.msg : undefined).toBeUndefined();
  env = result.env;
  hbaFile = join(result.datadir, 'pg_hba.conf');
  sql('CREATE TABLE students (id int)');
});
afterAll(() => sb.cleanup());

describe('a login role with every option', () => {
  const name = BOBBY;
  const password = "pa'ss wörd\"!";
  const spec = {
    name,
    login: true,
    createdb: true,
    password,
    pgpass: true,
    connection_limit: 5,
    valid_until: '2100-01-01',
    memberships: ['pg_monitor', { role: 'pg_read_all_data' }],
    configuration: { work_mem: '4MB', search_path: '"$user", public', statement_timeout: '30s' },
    hba_records: [
      { connection: { address: '10.1.0.0/16' }, database: 'postgres', method: 'scram-sha-256' },
      { connection: { type: 'hostnossl', address: '192.168.0.10', netmask: '255.255.255.255' }, method: 'md5' },
    ],
  };

  test('check mode shows the exact SQL, masked, and changes nothing', () => {
    const hba = readFileSync(hbaFile, 'utf8');
    const { result, stdout } = run(spec, { check: true, diff: true });
    expect(result.failed ? result.msg : undefined).toBeUndefined();
    expect(result.changed).toBe(true);
    expect(result.queries).toEqual([
      'BEGIN',
      `CREATE ROLE "Robert'); DROP TABLE students;--" CREATEDB LOGIN CONNECTION LIMIT 5 VALID UNTIL '2100-01-01' PASSWORD '********'`,
      `GRANT "pg_monitor", "pg_read_all_data" TO "Robert'); DROP TABLE students;--"`,
      `ALTER ROLE "Robert'); DROP TABLE students;--" SET "search_path" = '$user', 'public'`,
      `ALTER ROLE "Robert'); DROP TABLE students;--" SET "statement_timeout" = '30s'`,
      `ALTER ROLE "Robert'); DROP TABLE students;--" SET "work_mem" = '4MB'`,
      'COMMIT',
      'SELECT pg_reload_conf()',
    ]);
    expect(result.changes).toHaveLength(3);
    expect(result.msg).toMatch(/^would /);
    expect(result.diff.before).toEqual({ name, state: 'absent' });
    expect(result.diff.after).toMatchObject({ state: 'present', login: true, createdb: true, password: '(changed)', connection_limit: 5, pgpass: true });
    expect(result.diff.after.hba_records).toHaveLength(2);
    expect(stdout).not.toContain('wörd');
    expect(stdout).not.toContain('w\\u00f6rd');
    expect(roleExists(name)).toBe(false);
    expect(readFileSync(hbaFile, 'utf8')).toBe(hba);
    expect(existsSync(sb.passfile)).toBe(false);
  });

  test('is created, in the catalog, pg_hba.conf and the passfile; the password is never shown', () => {
    const { result, stdout } = run(spec, { diff: true });
    expect(result.failed ? result.msg : undefined).toBeUndefined();
    expect(result.changed).toBe(true);
    expect(stdout).not.toContain('wörd');
    expect(stdout).not.toContain('w\\u00f6rd');
    expect(stdout).not.toContain('SCRAM-SHA-256$');
    expect(sql(`SELECT rolcanlogin, rolcreatedb, rolsuper, rolinherit, rolconnlimit, rolvaliduntil::date FROM pg_roles WHERE rolname = ${lit(name)}`)).toBe('t|t|f|t|5|2100-01-01');
    expect(sql(`SELECT rolpassword LIKE 'SCRAM-SHA-256$4096:%' FROM pg_authid WHERE rolname = ${lit(name)}`)).toBe('t');
    expect(sql(`SELECT string_agg(b.rolname, ',' ORDER BY b.rolname) FROM pg_auth_members m JOIN pg_roles a ON a.oid = m.member JOIN pg_roles b ON b.oid = m.roleid WHERE a.rolname = ${lit(name)}`)).toBe('pg_monitor,pg_read_all_data');
    expect(sql(`SELECT array_to_string(setconfig, '|') FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole WHERE r.rolname = ${lit(name)} AND setdatabase = 0`)).toBe('search_path="$user", public|statement_timeout=30s|work_mem=4MB');
    expect(sql('SELECT count(*) FROM students')).toBe('0');
    // Its block comes before the instance's own rules, and PostgreSQL reads it as written.
    const hba = readFileSync(hbaFile, 'utf8');
    expect(hba.indexOf(`# BEGIN socle role "${name}"`)).toBeGreaterThan(-1);
    expect(hba.indexOf(`# BEGIN socle role "${name}"`)).toBeLessThan(hba.indexOf('# BEGIN socle auth'));
    expect(sql(`SELECT type, array_to_string(database, ','), array_to_string(user_name, ','), address, auth_method FROM pg_hba_file_rules WHERE user_name = ARRAY[${lit(name)}] ORDER BY line_number`))
      .toBe(`host|postgres|${name}|10.1.0.0|scram-sha-256\nhostnossl|all|${name}|192.168.0.10|md5`);
    expect(readFileSync(sb.passfile, 'utf8')).toBe(`*:${port}:*:Robert'); DROP TABLE students;--:pa'ss wörd"!\n`);
    // The password works, and the passfile entry too.
    expect(login(name, password)).toBe(name);
    expect(psql({ ...env, PGHOST: '127.0.0.1', PGUSER: name, PGPASSFILE: sb.passfile }, 'SELECT current_user')).toBe(name);
  });

  test('a re-run, written differently, is no change', () => {
    const { result } = run({
      ...spec,
      valid_until: '2100-01-01 00:00:00',
      configuration: { WORK_MEM: '4096kB', search_path: '"$user",public', statement_timeout: 30000 },
      memberships: [{ role: 'pg_read_all_data', state: 'present' }, 'pg_monitor'],
    }, { diff: true });
    expect(result.failed ? result.msg : undefined).toBeUndefined();
    expect(result.changed).toBe(false);
    expect(result.changes).toEqual([]);
    expect(result.queries).toEqual([]);
    expect(result.diff.before).toEqual(result.diff.after);
    expect(result.diff.after.password).toBe('(set)');
  });

  test('a new password is a change, sent as a verifier, never shown', () => {
    const { result, stdout } = run({ ...spec, password: 'n3w-Secret' });
    expect(result.changed).toBe(true);
    expect(result.queries).toEqual([`ALTER ROLE "Robert'); DROP TABLE students;--" PASSWORD '********'`]);
    expect(result.changes).toEqual([
      `alter role ${name} (password)`,
      `keep the password of role ${name} for port ${port} in ${sb.passfile}`,
    ]);
    expect(stdout).not.toContain('n3w-Secret');
    expect(login(name, 'n3w-Secret')).toBe(name);
    expect(() => login(name, password)).toThrow();
    expect(readFileSync(sb.passfile, 'utf8')).toContain(':n3w-Secret');
    expect(run({ ...spec, password: 'n3w-Secret' }).result.changed).toBe(false);
  });

  test('attributes, limits and expiry are altered in one statement; revoke, reset, remove a record', () => {
    const { result } = run({
      ...spec,
      password: 'n3w-Secret',
      createdb: false,
      connection_limit: -1,
      valid_until: 'infinity',
      memberships: [{ role: 'pg_monitor', state: 'absent' }],
      configuration: { work_mem: '8MB' },
      hba_records: [{ ...spec.hba_records[1], state: 'absent' }],
    }, { diff: true });
    expect(result.failed ? result.msg : undefined).toBeUndefined();
    expect(result.queries).toEqual([
      'BEGIN',
      `ALTER ROLE "Robert'); DROP TABLE students;--" NOCREATEDB CONNECTION LIMIT -1 VALID UNTIL 'infinity'`,
      // 16+: one grant per grantor, each revoked by name (pg/versions.ts membershipsPerGrantor).
      `REVOKE "pg_monitor" FROM "Robert'); DROP TABLE students;--"${testedAtLeast(16) ? ' GRANTED BY "postgres"' : ''}`,
      `ALTER ROLE "Robert'); DROP TABLE students;--" SET "work_mem" = '8MB'`,
      `ALTER ROLE "Robert'); DROP TABLE students;--" RESET "search_path"`,
      `ALTER ROLE "Robert'); DROP TABLE students;--" RESET "statement_timeout"`,
      'COMMIT',
      'SELECT pg_reload_conf()',
    ]);
    expect(result.diff.before.memberships).toEqual(['pg_monitor', 'pg_read_all_data']);
    expect(result.diff.after.memberships).toEqual(['pg_read_all_data']);
    expect(result.diff.after.hba_records).toHaveLength(1);
    expect(sql(`SELECT rolcreatedb, rolconnlimit, rolvaliduntil FROM pg_roles WHERE rolname = ${lit(name)}`)).toBe('f|-1|infinity');
    expect(sql(`SELECT count(*) FROM pg_hba_file_rules WHERE user_name = ARRAY[${lit(name)}]`)).toBe('1');
    expect(sql(`SELECT array_to_string(setconfig, '|') FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole WHERE r.rolname = ${lit(name)}`)).toBe('work_mem=8MB');
  });

  test('configuration {} resets everything; pgpass false removes the entry', () => {
    const { result } = run({ name, login: true, configuration: {}, pgpass: false });
    expect(result.queries).toEqual([`ALTER ROLE "Robert'); DROP TABLE students;--" RESET ALL`]);
    expect(sql(`SELECT count(*) FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole WHERE r.rolname = ${lit(name)}`)).toBe('0');
    expect(readFileSync(sb.passfile, 'utf8')).not.toContain('Robert');
    expect(run({ name, login: true, configuration: {}, pgpass: false }).result.changed).toBe(false);
  });

  test('absent drops the role, its block and its passfile entry; absent again is no change', () => {
    run({ name, login: true, password: 'n3w-Secret', pgpass: true });
    expect(readFileSync(sb.passfile, 'utf8')).toContain('Robert');
    let { result } = run({ name, state: 'absent' }, { diff: true });
    expect(result.failed ? result.msg : undefined).toBeUndefined();
    expect(result.changed).toBe(true);
    expect(result.queries).toEqual([`DROP ROLE "Robert'); DROP TABLE students;--"`, 'SELECT pg_reload_conf()']);
    expect(result.diff.after).toEqual({ name, state: 'absent' });
    expect(roleExists(name)).toBe(false);
    expect(readFileSync(hbaFile, 'utf8')).not.toContain('Robert');
    expect(readFileSync(sb.passfile, 'utf8')).not.toContain('Robert');
    expect(sql('SELECT count(*) FROM students')).toBe('0');
    ({ result } = run({ name, state: 'absent' }));
    expect(result.changed).toBe(false);
    expect(result.changes).toEqual([]);
  });
});

describe('hba_records_exclusive', () => {
  const rec = (address: string) => ({ connection: { type: 'host', address }, database: 'app', method: 'scram-sha-256' });
  const rules = () => sql("SELECT string_agg(address, ',' ORDER BY line_number) FROM pg_hba_file_rules WHERE user_name = ARRAY['netuser']");

  test('without it, a record no longer listed stays; with it, only the listed ones remain, in one reload', () => {
    let { result } = run({ name: 'netuser', hba_records: [rec('10.1.0.0/16'), rec('10.2.0.0/16')] });
    expect(result.failed ? result.msg : undefined).toBeUndefined();
    expect(rules()).toBe('10.1.0.0,10.2.0.0');
    ({ result } = run({ name: 'netuser', hba_records: [rec('10.2.0.0/16'), rec('10.3.0.0/16')] }));
    expect(rules()).toBe('10.1.0.0,10.2.0.0,10.3.0.0');
    // Check mode says what goes, and changes nothing.
    ({ result } = run({ name: 'netuser', hba_records: [rec('10.2.0.0/16'), rec('10.3.0.0/16')], hba_records_exclusive: true }, { check: true, diff: true }));
    expect(result.changed).toBe(true);
    expect(result.diff.before.hba_records).toHaveLength(3);
    expect(result.diff.after.hba_records).toHaveLength(2);
    expect(rules()).toBe('10.1.0.0,10.2.0.0,10.3.0.0');
    ({ result } = run({ name: 'netuser', hba_records: [rec('10.2.0.0/16'), rec('10.3.0.0/16')], hba_records_exclusive: true }));
    expect(result.changed).toBe(true);
    expect(result.queries).toEqual(['SELECT pg_reload_conf()']);
    expect(rules()).toBe('10.2.0.0,10.3.0.0');
    ({ result } = run({ name: 'netuser', hba_records: [rec('10.2.0.0/16'), rec('10.3.0.0/16')], hba_records_exclusive: true }));
    expect(result.changed).toBe(false);
    // An empty exclusive list takes the role's block away.
    ({ result } = run({ name: 'netuser', hba_records: [], hba_records_exclusive: true }));
    expect(result.changed).toBe(true);
    expect(readFileSync(hbaFile, 'utf8')).not.toContain('socle role "netuser"');
    run({ name: 'netuser', state: 'absent' });
  });
});

describe('hostile names', () => {
  const names = ['select', ELODIE, 'MiXeD Case; ', '+grp', BOBBY];

  test('are created exactly as written, members of each other, with hba records, idempotently', () => {
    for (const [i, name] of names.entries()) {
      const spec = {
        name,
        login: true,
        password: `pw-${i}`,
        memberships: i > 0 ? [names[i - 1]] : [],
        configuration: { application_name: name },
        hba_records: [{ connection: { address: '10.2.0.0/16' }, database: name === 'select' ? 'all' : 'my db', method: 'md5' }],
      };
      const first = run(spec);
      expect(first.result.failed ? first.result.msg : undefined).toBeUndefined();
      expect(first.result.changed).toBe(true);
      expect(run(spec).result.changed).toBe(false);
      expect(roleExists(name)).toBe(true);
      expect(login(name, `pw-${i}`)).toBe(name.trim()); // psql() trims its output
    }
    expect(sql(`SELECT b.rolname FROM pg_auth_members m JOIN pg_roles a ON a.oid = m.member JOIN pg_roles b ON b.oid = m.roleid WHERE a.rolname = ${lit(ELODIE)}`)).toBe('select');
    expect(sql(`SELECT s.setconfig[1] FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole WHERE r.rolname = ${lit(ELODIE)}`)).toBe(`application_name=${ELODIE}`);
    expect(sql(`SELECT array_to_string(database, ',') FROM pg_hba_file_rules WHERE user_name = ARRAY[${lit(ELODIE)}]`)).toBe('my db');
    expect(sql(`SELECT count(*) FROM pg_hba_file_rules WHERE error IS NOT NULL`)).toBe('0');
    expect(sql('SELECT count(*) FROM students')).toBe('0');
  });

  test('are dropped', () => {
    for (const name of [...names].reverse()) {
      expect(run({ name, state: 'absent' }).result.changed).toBe(true);
      expect(roleExists(name)).toBe(false);
    }
    expect(readFileSync(hbaFile, 'utf8')).not.toContain('socle role');
  });
});

describe('passwords', () => {
  test('a stored md5 verifier matching the password is no change', () => {
    const md5 = md5Verifier('old-md5', 'legacy');
    let { result } = run({ name: 'legacy', login: true, encrypted_password: md5 });
    expect(result.changed).toBe(true);
    expect(sql("SELECT rolpassword FROM pg_authid WHERE rolname = 'legacy'")).toBe(md5);
    ({ result } = run({ name: 'legacy', login: true, encrypted_password: md5 }));
    expect(result.changed).toBe(false);
    ({ result } = run({ name: 'legacy', login: true, password: 'old-md5' }));
    expect(result.changed).toBe(false);
    expect(sql("SELECT rolpassword FROM pg_authid WHERE rolname = 'legacy'")).toBe(md5);
  });

  test('an encrypted password is sent and compared as is, and masked', () => {
    const verifier = scramVerifier('from-vault');
    const { result, stdout } = run({ name: 'legacy', login: true, encrypted_password: verifier });
    expect(result.changed).toBe(true);
    expect(result.queries).toEqual([`ALTER ROLE "legacy" PASSWORD '********'`]);
    expect(stdout).not.toContain(verifier);
    expect(sql("SELECT rolpassword FROM pg_authid WHERE rolname = 'legacy'")).toBe(verifier);
    expect(login('legacy', 'from-vault')).toBe('legacy');
    expect(run({ name: 'legacy', login: true, password: 'from-vault' }).result.changed).toBe(false);
    expect(run({ name: 'legacy', login: true, encrypted_password: verifier }).result.changed).toBe(false);
  });
});

describe('a one-letter password (issue 12, item 4)', () => {
  test('is masked where it stands, and the words containing its letter are left whole', () => {
    const { result } = run({ name: 'beebee', login: true, password: 'e' });
    expect(result.failed ? result.msg : undefined).toBeUndefined();
    expect(result.msg).toBe('create role beebee (LOGIN, password)');
    expect(result.instance).toMatch(/^\d+\/main$/);
    expect(result.queries).toEqual([`CREATE ROLE "beebee" LOGIN PASSWORD '********'`]);
    expect(login('beebee', 'e')).toBe('beebee');
    expect(run({ name: 'beebee', state: 'absent' }).result.changed).toBe(true);
  });
});

describe('bad input changes nothing', () => {
  const failing: Array<[string, Record<string, unknown>, RegExp]> = [
    ['password and encrypted_password', { name: 'x1', password: 'secret-a', encrypted_password: 'secret-b' }, /options 'password' and 'encrypted_password' are mutually exclusive/],
    ['drop_owned with state present', { name: 'x1', drop_owned: true }, /option 'drop_owned' is only allowed with state: absent/],
    ['reassign_owned with state present', { name: 'x1', reassign_owned: 'postgres' }, /option 'reassign_owned' is only allowed with state: absent/],
    ['drop_owned and reassign_owned', { name: 'x1', state: 'absent', drop_owned: true, reassign_owned: 'postgres' }, /options 'drop_owned' and 'reassign_owned' are mutually exclusive/],
    ['pgpass without password', { name: 'x1', pgpass: true }, /option 'pgpass' needs option 'password'/],
    ['an unknown parameter', { name: 'x1', configuration: { work_mme: '1MB' } }, /option 'configuration.work_mme': unknown PostgreSQL parameter/],
    ['a server-wide parameter', { name: 'x1', configuration: { shared_buffers: '1GB' } }, /option 'configuration.shared_buffers': cannot be set per role/],
    ['a missing member role', { name: 'x1', memberships: ['no such role'] }, /option 'memberships': role 'no such role' does not exist/],
    ['a bad timestamp', { name: 'x1', valid_until: 'next tuesday-ish' }, /option 'valid_until': PostgreSQL cannot read/],
    ['an hba record without address', { name: 'x1', hba_records: [{ connection: { type: 'host' }, method: 'md5' }] }, /option 'hba_records\[0\].connection' needs an address/],
    ['an unknown method', { name: 'x1', hba_records: [{ method: 'magic' }] }, /option 'hba_records\[0\].method' must be an authentication method/],
    ['a bad instance', { instance: 'nope', name: 'x1' }, /option 'instance': instance \d+\/nope does not exist/],
    ['a missing reassign target', { name: 'postgres2', state: 'absent', reassign_owned: 'nobody' }, /^role: /],
    // issue 12, items 3 and 9
    ['a plain text as encrypted password', { name: 'x1', login: true, encrypted_password: 'not-a-verifier-42' }, /option 'encrypted_password' must be a password verifier/],
    ['a password with a line break kept in the passfile', { name: 'x1', login: true, password: 'two\nlines', pgpass: true }, /option 'password': a password with a line break cannot be kept in the passfile \(option 'pgpass'\)/],
    ['a connection limit beyond 32 bits', { name: 'x1', connection_limit: 2147483648 }, /option 'connection_limit' must be <= 2147483647/],
    ['an hba database with a line break', { name: 'x1', hba_records: [{ database: 'app\nhost all all 0.0.0.0/0 trust', method: 'md5' }] }, /option 'hba_records\[0\].database' must not contain line breaks/],
    ['instance ..', { instance: '..', name: 'x1' }, /option 'instance' must be <version>\/<name>/],
  ];
  test.each(failing)('%s', (_what, args, message) => {
    if (args.name === 'postgres2') sql('CREATE ROLE postgres2');
    const hba = readFileSync(hbaFile, 'utf8');
    const { result, status } = run(args);
    expect(status).toBe(1);
    expect(result.failed).toBe(true);
    expect(result.msg).toMatch(/^role: /);
    expect(result.msg).toMatch(message);
    expect(roleExists('x1')).toBe(false);
    expect(readFileSync(hbaFile, 'utf8')).toBe(hba);
    if (args.name === 'postgres2') {
      expect(result.msg).toContain("option 'reassign_owned': role 'nobody' does not exist");
      expect(roleExists('postgres2')).toBe(true);
      sql('DROP ROLE postgres2');
    }
  });

  test('a passfile that cannot be written stops the task before the role is created (issue 12, item 9)', () => {
    const dir = join(sb.dir, 'readonly');
    mkdirSync(dir, { mode: 0o555 });
    sb.writeSettings({ postgresql: { auth: { passfile: join(dir, 'pgpass') } } });
    try {
      const { result } = run({ name: 'x1', login: true, password: 'kept-in-a-file', pgpass: true });
      expect(result.failed).toBe(true);
      expect(result.msg).toBe(`role: option 'pgpass': cannot write the passfile ${join(dir, 'pgpass')} (postgresql.auth.passfile of the site settings): folder ${dir} is not writable by this user`);
      expect(roleExists('x1')).toBe(false);
    } finally {
      sb.writeSettings();
    }
  });

  test('a record PostgreSQL rejects: pg_hba.conf restored, the role not created', () => {
    const hba = readFileSync(hbaFile, 'utf8');
    const { result } = run({ name: 'x1', login: true, hba_records: [{ connection: { type: 'host', address: '10.0.0.0/8' }, method: 'cert' }] });
    expect(result.failed).toBe(true);
    expect(result.msg).toMatch(/PostgreSQL rejects the new pg_hba.conf \(line \d+: .*cert.*\).*was restored/);
    expect(readFileSync(hbaFile, 'utf8')).toBe(hba);
    expect(roleExists('x1')).toBe(false);
  });

  test('a statement failing inside the transaction leaves no role and no record behind', () => {
    const hba = readFileSync(hbaFile, 'utf8');
    const { result } = run({
      name: 'x1',
      login: true,
      configuration: { work_mem: 'lots' },
      hba_records: [{ connection: { address: '10.9.0.0/16' }, method: 'md5' }],
    });
    expect(result.failed).toBe(true);
    expect(result.msg).toMatch(/^role: option 'configuration.work_mem': role x1: invalid value for parameter "work_mem"/);
    expect(roleExists('x1')).toBe(false);
    expect(readFileSync(hbaFile, 'utf8')).toBe(hba);
  });
});

describe('dropping a role that owns objects', () => {
  beforeAll(() => {
    sql('CREATE DATABASE "other db"');
    for (const r of ['owner1', 'owner2', 'heir']) run({ name: r });
    for (const db of ['postgres', 'other db']) {
      psql({ ...env, PGDATABASE: db }, 'CREATE TABLE t1 (i int); ALTER TABLE t1 OWNER TO owner1; CREATE TABLE t2 (i int); ALTER TABLE t2 OWNER TO owner2; GRANT SELECT ON t2 TO owner1');
    }
  });
  const owner = (db: string, table: string) => psql({ ...env, PGDATABASE: db }, `SELECT tableowner FROM pg_tables WHERE tablename = '${table}'`);

  test('without drop_owned or reassign_owned it fails, saying what to do, and the role stays', () => {
    const { result } = run({ name: 'owner1', state: 'absent' });
    expect(result.failed).toBe(true);
    expect(result.msg).toMatch(/role owner1: role "owner1" cannot be dropped because some objects depend on it/);
    expect(result.msg).toMatch(/use drop_owned or reassign_owned/);
    expect(roleExists('owner1')).toBe(true);
  });

  test('reassign_owned gives its objects away in every database, then drops it', () => {
    const { result } = run({ name: 'owner1', state: 'absent', reassign_owned: 'heir' }, { check: true });
    expect(result.queries).toEqual([
      '/* database "other db" */ BEGIN',
      '/* database "other db" */ REASSIGN OWNED BY "owner1" TO "heir"',
      '/* database "other db" */ DROP OWNED BY "owner1"',
      '/* database "other db" */ COMMIT',
      '/* database "template1" */ BEGIN',
      '/* database "template1" */ REASSIGN OWNED BY "owner1" TO "heir"',
      '/* database "template1" */ DROP OWNED BY "owner1"',
      '/* database "template1" */ COMMIT',
      'BEGIN',
      'REASSIGN OWNED BY "owner1" TO "heir"',
      'DROP OWNED BY "owner1"',
      'DROP ROLE "owner1"',
      'COMMIT',
    ]);
    expect(roleExists('owner1')).toBe(true);
    const done = run({ name: 'owner1', state: 'absent', reassign_owned: 'heir' }).result;
    expect(done.failed ? done.msg : undefined).toBeUndefined();
    expect(roleExists('owner1')).toBe(false);
    expect(owner('postgres', 't1')).toBe('heir');
    expect(owner('other db', 't1')).toBe('heir');
  });

  test('drop_owned drops its objects in every database, then drops it', () => {
    const { result } = run({ name: 'owner2', state: 'absent', drop_owned: true });
    expect(result.failed ? result.msg : undefined).toBeUndefined();
    expect(roleExists('owner2')).toBe(false);
    expect(owner('postgres', 't2')).toBe('');
    expect(owner('other db', 't2')).toBe('');
    expect(owner('other db', 't1')).toBe('heir');
  });
});

describe('a stopped instance', () => {
  test('is started for the task and stopped again', () => {
    const datadir = join(hbaFile, '..');
    expect(runModule('instance', { name: INSTANCE, port, state: 'stopped', settings: { listen_addresses: '127.0.0.1' } }, { env: sb.env }).result.status).toBe('stopped');
    try {
      const { result } = run({ name: 'while_stopped', login: true });
      expect(result.failed ? result.msg : undefined).toBeUndefined();
      expect(result.changed).toBe(true);
      expect(existsSync(join(datadir, 'postmaster.pid'))).toBe(false);
      expect(run({ name: 'while_stopped', login: true }).result.changed).toBe(false);
      expect(existsSync(join(datadir, 'postmaster.pid'))).toBe(false);
    } finally {
      runModule('instance', { name: INSTANCE, port, settings: { listen_addresses: '127.0.0.1' } }, { env: sb.env });
    }
    expect(roleExists('while_stopped')).toBe(true);
  });
});

describe('the batch API', () => {
  test('200 roles over one connection: created in one plan, then planned again with one query and no change', async () => {
    process.env.SOCLE_SETTINGS = sb.settingsFile;
    const settings = loadSettings();
    const l = findInstance(settings, INSTANCE);
    const conn = new Client({ host: env.PGHOST, port, user: 'postgres', database: 'postgres' });
    await conn.connect();
    try {
      const specs: RoleSpec[] = Array.from({ length: 200 }, (_, i) => ({
        name: `batch ${i}`,
        login: i % 2 === 0,
        password: `pw${i}`,
        memberships: i > 0 ? ['batch 0'] : [],
        configuration: { work_mem: '2MB' },
        hba_records: i < 3 ? [{ connection: { type: 'host', address: `10.3.${i}.0/24` }, database: 'all', method: 'scram-sha-256', state: 'present' }] : undefined,
      }));
      // "batch 0" is listed last: the plan creates it before the roles that are its members.
      const ctx = { instance: l, settings, port, optionPrefix: (i: number) => `roles[${i}].` };
      const first = await planRoles(conn, [...specs.slice(1), specs[0]], ctx);
      expect(report(first.steps).changes).toHaveLength(200 + 1);
      await applySteps(first.steps, first.undo);
      expect(sql("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'batch %'")).toBe('200');

      let queries = 0;
      const original = conn.query.bind(conn);
      (conn as unknown as { query: unknown }).query = (...args: unknown[]) => {
        queries++;
        return (original as (...a: unknown[]) => unknown)(...args);
      };
      const again = await planRoles(conn, specs, ctx);
      expect(report(again.steps)).toEqual({ changed: false, changes: [], commands: [], queries: [] });
      expect(queries).toBe(2); // the roles, and the pg_settings entry of work_mem
      expect(again.before).toEqual(again.after);

      await expect(planRoles(conn, [{ name: 'dup' }, { name: 'dup' }], ctx)).rejects.toThrow("option 'roles[1].name': role 'dup' is declared twice");
      await expect(planRoles(conn, [{ name: 'ok' }, { name: 'bad', configuration: { nope: 1 } }], ctx)).rejects.toThrow("option 'roles[1].configuration.nope'");

      const drop = await planRoles(conn, specs.map((s) => ({ name: s.name, state: 'absent' as const })), ctx);
      await applySteps(drop.steps, drop.undo);
      expect(sql("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'batch %'")).toBe('0');
      expect(readFileSync(hbaFile, 'utf8')).not.toContain('batch');
    } finally {
      await conn.end();
    }
  });
});

describe('a membership granted by another role', () => {
  // From 16 a super-user's bare REVOKE only removes the grant made by the bootstrap super-user:
  // the membership granted by `granter` stayed, and every run planned the REVOKE again.
  test('is revoked, and a re-run is no change', () => {
    sql('CREATE ROLE grp; CREATE ROLE granter CREATEROLE; CREATE ROLE member');
    sql('GRANT grp TO granter WITH ADMIN OPTION');
    sql('SET ROLE granter; GRANT grp TO member');
    expect(sql("SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = 'member'")).toBe('1');
    const spec = { name: 'member', memberships: [{ role: 'grp', state: 'absent' }] };
    const { result } = run(spec);
    expect(result.failed ? result.msg : undefined).toBeUndefined();
    expect(result.changes).toEqual(['alter role member (revoke grp)']);
    expect(sql("SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = 'member'")).toBe('0');
    expect(run(spec).result.changed).toBe(false);
  });
});

describe('inherit on a role with memberships', () => {
  // From 16 the role's INHERIT attribute is only the default of new grants: NOINHERIT alone left
  // the existing membership passing privileges on.
  test('decides whether the privileges of its declared memberships pass on', () => {
    sql('CREATE ROLE heirs; CREATE TABLE heirloom (id int); GRANT SELECT ON heirloom TO heirs');
    const can = () => sql("SELECT has_table_privilege('heir', 'heirloom', 'SELECT')");
    expect(run({ name: 'heir', memberships: ['heirs'] }).result.failed).toBeUndefined();
    expect(can()).toBe('t');
    const off = { name: 'heir', inherit: false, memberships: ['heirs'] };
    const { result } = run(off);
    expect(result.failed ? result.msg : undefined).toBeUndefined();
    expect(can()).toBe('f');
    expect(run(off).result.changed).toBe(false);
    expect(run({ name: 'heir', inherit: true, memberships: ['heirs'] }).result.changed).toBe(true);
    expect(can()).toBe('t');
  });
});

describe('the documented examples', () => {
  test('run as written (with their passwords and roles provided)', () => {
    const { load } = require('js-yaml') as typeof import('js-yaml');
    const schema = load(readFileSync(join(__dirname, '../../schemas/role.schema.yml'), 'utf8')) as { 'x-ansible': { examples: string } };
    const tasks = load(schema['x-ansible'].examples) as Array<Record<string, any>>;
    sql('CREATE ROLE former_employee');
    for (const task of tasks) {
      const args = { ...task['socle.postgresql.role'] };
      args.instance = INSTANCE; // `15/main` in an example: the version installed here may differ
      if (typeof args.password === 'string') args.password = 'example-password';
      const { result } = run(args);
      expect(result.failed ? result.msg : undefined).toBeUndefined();
    }
    expect(roleExists('app')).toBe(true);
    expect(roleExists('former_employee')).toBe(false);
  });
});

describe('secrets (issue 12)', () => {
  test('no password nor verifier the tests used is in any output, server log, file left behind or command line', async () => {
    const report = await secrets.finish();
    expect(report.secrets).toBeGreaterThan(5);
    expect(report.logs).toBeGreaterThan(0);
    expect(report.samples).toBeGreaterThan(0);
    expect(report.leaks).toEqual([]);
  });
});
