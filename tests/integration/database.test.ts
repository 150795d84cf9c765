// The database module against real PostgreSQL, run as Ansible runs it. Two instances: `main`
// (most tests, and the subscriber) and `pub` (wal_level logical, a super-user password over TCP:
// the publisher, and the source of a clone).
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { load } from 'js-yaml';
import { join } from 'node:path';
import { eventually, freePort, makeSandbox, psql, type Sandbox } from '../helpers/sandbox';
import { runModule, type RunOptions } from '../helpers/module';
import { serverLogs, watchSecrets, type SecretsCheck } from '../helpers/secrets';
import { testedAtLeast } from '../helpers/versions';
import { buildSync } from 'esbuild';
import { execFileSync } from 'node:child_process';
import type { DatabaseSpec } from '../../modules/lib/database';

jest.setTimeout(120_000);

let sb: Sandbox;
let env: Record<string, string>;
let pubEnv: Record<string, string>;
let pubPort: number;
const PUB_PASSWORD = "s3cr'et p@ss\\word";
// Every statement logged: the secrets check reads the logs for passwords.
const LOOPBACK = { listen_addresses: '127.0.0.1', log_statement: 'all' };
let secrets: SecretsCheck;

const run = (args: Record<string, unknown>, opts: RunOptions = {}) => runModule('database', { instance: 'main', ...args }, { env: sb.env, ...opts }).result;
const sql = (text: string, db = 'postgres', e = env) => psql({ ...e, PGDATABASE: db }, text);
const lit = (s: string) => "'" + s.replace(/'/g, "''") + "'";
const ident = (s: string) => '"' + s.replace(/"/g, '""') + '"';
const exists = (db: string) => sql(`SELECT count(*) FROM pg_database WHERE datname = ${lit(db)}`) === '1';

// Hostile names: quotes, spaces, semicolons, upper case, non-ASCII, reserved words.
const HOSTILE_DB = "Robert'); DROP TABLE x;--";
const HOSTILE_ROLE = 'Élodie "db"';
const APP = 'App Owner';

beforeAll(async () => {
  sb = makeSandbox('socle-db-');
  secrets = watchSecrets(sb);
  const port = await freePort();
  pubPort = await freePort();
  let r = runModule('instance', { name: 'main', port, settings: LOOPBACK }, { env: sb.env }).result;
  if (r.failed) throw new Error(r.msg);
  env = r.env;
  r = runModule('instance', { name: 'pub', port: pubPort, settings: { ...LOOPBACK, wal_level: 'logical' }, surole_password: PUB_PASSWORD }, { env: sb.env }).result;
  if (r.failed) throw new Error(r.msg);
  pubEnv = r.env;
  sql(`CREATE ROLE ${ident(APP)}; CREATE ROLE ${ident(HOSTILE_ROLE)}; CREATE ROLE reader; CREATE ROLE writer`);
});
afterAll(() => sb?.cleanup());

describe('core: create, update, idempotency, check mode, diff', () => {
  const base = {
    name: HOSTILE_DB,
    owner: APP,
    settings: { work_mem: '8MB', search_path: '"$user", select, public', enable_seqscan: false },
    connection_limit: 20,
    schemas: ['select', { name: HOSTILE_ROLE, owner: HOSTILE_ROLE }],
    extensions: [{ name: 'hstore', schema: 'select', version: '1.7' }, 'pg_trgm'],
  };

  test('check mode on a missing database returns the SQL and creates nothing', () => {
    const r = run(base, { check: true, diff: true });
    expect(r.failed).toBeUndefined();
    expect(r.changed).toBe(true);
    expect(r.queries[0]).toBe(`CREATE DATABASE "Robert'); DROP TABLE x;--" OWNER "App Owner" CONNECTION LIMIT 20`);
    expect(r.queries).toContain('CREATE SCHEMA "select"');
    expect(r.queries).toContain('CREATE SCHEMA "Élodie ""db""" AUTHORIZATION "Élodie ""db"""');
    expect(r.queries).toContain('CREATE EXTENSION "hstore" SCHEMA "select" VERSION \'1.7\' CASCADE');
    expect(r.queries).toContain(`ALTER DATABASE "Robert'); DROP TABLE x;--" SET "search_path" TO '$user', 'select', 'public'`);
    expect(r.diff.before).toEqual({ name: HOSTILE_DB, state: 'absent' });
    expect(r.diff.after).toMatchObject({ state: 'present', owner: APP, connection_limit: 20, settings: { work_mem: '8MB' } });
    expect(r.diff.after.extensions).toEqual(expect.arrayContaining([{ name: 'pg_trgm', schema: 'public', version: expect.any(String) }]));
    expect(exists(HOSTILE_DB)).toBe(false);
  });

  test('creates the database with everything declared, quoted', () => {
    const r = run(base);
    expect(r.failed).toBeUndefined();
    expect(r.changed).toBe(true);
    expect(r.changes[0]).toBe(`create database ${HOSTILE_DB}`);
    expect(sql(`SELECT pg_get_userbyid(datdba), datconnlimit FROM pg_database WHERE datname = ${lit(HOSTILE_DB)}`)).toBe(`${APP}|20`);
    expect(sql('SELECT nspname || \'=\' || pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname IN (\'select\', ' + lit(HOSTILE_ROLE) + ') ORDER BY 1', HOSTILE_DB))
      .toBe(`select=postgres\n${HOSTILE_ROLE}=${HOSTILE_ROLE}`);
    expect(sql("SELECT extname || ' ' || extnamespace::regnamespace || ' ' || extversion FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY 1", HOSTILE_DB))
      .toBe('hstore "select" 1.7\npg_trgm public 1.6');
    expect(sql('SHOW search_path', HOSTILE_DB)).toBe('"$user", "select", public');
    expect(sql('SHOW work_mem', HOSTILE_DB)).toBe('8MB');
    expect(sql('SHOW enable_seqscan', HOSTILE_DB)).toBe('off');
    // the other databases are still there
    expect(exists('postgres')).toBe(true);
  });

  test('a second run changes nothing, values written differently included', () => {
    const r = run({ ...base, settings: { work_mem: '8192kB', search_path: '"$user",  "select" ,public', enable_seqscan: 'off' } });
    expect(r.failed).toBeUndefined();
    expect(r.changed).toBe(false);
    expect(r.changes).toEqual([]);
    expect(r.queries).toEqual([]);
    expect(r.msg).toMatch(/nothing to change/);
  });

  test('check mode on changes shows the SQL and the diff, and runs none of it', () => {
    const changed = { ...base, owner: HOSTILE_ROLE, connection_limit: -1, settings: { work_mem: '16MB' }, extensions: [{ name: 'hstore', schema: 'public', version: '1.8' }] };
    const r = run(changed, { check: true, diff: true });
    expect(r.changed).toBe(true);
    expect(r.queries).toEqual([
      `ALTER DATABASE "Robert'); DROP TABLE x;--" OWNER TO "Élodie ""db"""`,
      `ALTER DATABASE "Robert'); DROP TABLE x;--" WITH CONNECTION LIMIT -1`,
      `ALTER DATABASE "Robert'); DROP TABLE x;--" SET "work_mem" TO '16MB'`,
      `ALTER DATABASE "Robert'); DROP TABLE x;--" RESET "search_path"`,
      `ALTER DATABASE "Robert'); DROP TABLE x;--" RESET "enable_seqscan"`,
      'ALTER EXTENSION "hstore" SET SCHEMA "public"',
      'ALTER EXTENSION "hstore" UPDATE TO \'1.8\'',
    ]);
    expect(r.diff.before).toMatchObject({ owner: APP, connection_limit: 20, settings: { work_mem: '8MB', enable_seqscan: 'off' } });
    expect(r.diff.after).toMatchObject({ owner: HOSTILE_ROLE, connection_limit: -1, settings: { work_mem: '16MB' } });
    expect(r.diff.after.extensions).toContainEqual({ name: 'hstore', schema: 'public', version: '1.8' });
    expect(sql(`SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = ${lit(HOSTILE_DB)}`)).toBe(APP);
    expect(sql("SELECT extversion FROM pg_extension WHERE extname = 'hstore'", HOSTILE_DB)).toBe('1.7');
  });

  test('applies them in one transaction; moves and updates the extension', () => {
    const changed = { ...base, owner: HOSTILE_ROLE, connection_limit: -1, settings: { work_mem: '16MB' }, extensions: [{ name: 'hstore', schema: 'public', version: '1.8' }] };
    let r = run(changed);
    expect(r.failed).toBeUndefined();
    expect(r.changed).toBe(true);
    expect(sql(`SELECT pg_get_userbyid(datdba), datconnlimit FROM pg_database WHERE datname = ${lit(HOSTILE_DB)}`)).toBe(`${HOSTILE_ROLE}|-1`);
    expect(sql("SELECT extnamespace::regnamespace || ' ' || extversion FROM pg_extension WHERE extname = 'hstore'", HOSTILE_DB)).toBe('public 1.8');
    expect(sql(`SELECT array_to_string(setconfig, ',') FROM pg_db_role_setting WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = ${lit(HOSTILE_DB)})`)).toBe('work_mem=16MB');
    r = run(changed);
    expect(r.changed).toBe(false);
  });

  test('settings not given are left alone; {} resets them all', () => {
    let r = run({ name: HOSTILE_DB });
    expect(r.changed).toBe(false);
    r = run({ name: HOSTILE_DB, settings: {} });
    expect(r.queries).toEqual([`ALTER DATABASE "Robert'); DROP TABLE x;--" RESET ALL`]);
    expect(sql(`SELECT count(*) FROM pg_db_role_setting WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = ${lit(HOSTILE_DB)})`)).toBe('0');
    expect(run({ name: HOSTILE_DB, settings: {} }).changed).toBe(false);
  });

  test('a failure inside the transaction changes nothing and says so', () => {
    const r = run({ name: HOSTILE_DB, connection_limit: 5, schemas: [{ name: 'select', state: 'absent' }, 'new_one'], extensions: [{ name: 'pg_trgm', schema: 'select' }] });
    expect(r.failed).toBe(true);
    // the schema is not empty (pg_trgm was moved into it in the same transaction): DROP SCHEMA fails, all is rolled back
    expect(r.msg).toMatch(/drop schema select/);
    expect(r.msg).toMatch(/rolled back/);
    expect(sql(`SELECT datconnlimit FROM pg_database WHERE datname = ${lit(HOSTILE_DB)}`)).toBe('-1');
    expect(sql("SELECT count(*) FROM pg_namespace WHERE nspname = 'new_one'", HOSTILE_DB)).toBe('0');
    expect(sql("SELECT extnamespace::regnamespace FROM pg_extension WHERE extname = 'pg_trgm'", HOSTILE_DB)).toBe('public');
  });

  test('encoding and locale cannot change: a failure naming the option', () => {
    let r = run({ name: HOSTILE_DB, encoding: 'LATIN1', owner: APP });
    expect(r.failed).toBe(true);
    expect(r.msg).toMatch(/option 'encoding': database .* has encoding UTF8, not LATIN1; PostgreSQL cannot change/);
    r = run({ name: HOSTILE_DB, locale: 'POSIX' });
    expect(r.failed).toBe(true);
    expect(r.msg).toMatch(/option 'locale': database .* has locale C\.UTF-8|option 'locale': database .* has locale/);
    expect(sql(`SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = ${lit(HOSTILE_DB)}`)).toBe(HOSTILE_ROLE);
    // the same encoding written differently is no change
    const cur = sql(`SELECT datcollate FROM pg_database WHERE datname = ${lit(HOSTILE_DB)}`);
    expect(run({ name: HOSTILE_DB, encoding: 'utf-8', locale: cur }).changed).toBe(false);
  });

  test('a new database with another encoding and locale is made from template0', () => {
    const r = run({ name: 'latin', encoding: 'LATIN1', locale: 'C' });
    expect(r.failed).toBeUndefined();
    expect(r.queries[0]).toBe(`CREATE DATABASE "latin" TEMPLATE "template0" ENCODING 'LATIN1' LOCALE 'C'`);
    expect(sql("SELECT pg_encoding_to_char(encoding) || ' ' || datcollate FROM pg_database WHERE datname = 'latin'")).toBe('LATIN1 C');
    expect(run({ name: 'latin', encoding: 'latin1', locale: 'C' }).changed).toBe(false);
  });

  test('tablespace: created in one, moved to another', () => {
    const dir = join(sb.dir, 'ts 1');
    mkdirSync(dir);
    sql(`CREATE TABLESPACE "ts 1" LOCATION ${lit(dir)}`);
    let r = run({ name: 'moved', tablespace: 'pg_default' });
    expect(r.changed).toBe(true);
    r = run({ name: 'moved', tablespace: 'ts 1', schemas: ['s1'] });
    expect(r.failed).toBeUndefined();
    expect(r.queries).toEqual(['ALTER DATABASE "moved" SET TABLESPACE "ts 1"', 'CREATE SCHEMA "s1"']);
    expect(sql("SELECT spcname FROM pg_database d JOIN pg_tablespace t ON t.oid = d.dattablespace WHERE datname = 'moved'")).toBe('ts 1');
    expect(run({ name: 'moved', tablespace: 'ts 1', schemas: ['s1'] }).changed).toBe(false);
    r = run({ name: 'other', tablespace: 'nowhere' });
    expect(r.failed).toBe(true);
    expect(r.msg).toMatch(/option 'tablespace': tablespace nowhere does not exist/);
    expect(exists('other')).toBe(false);
  });

  test('a failure after CREATE DATABASE drops the new database again', () => {
    const r = run({ name: 'half made', extensions: [{ name: 'hstore', schema: 'missing_schema' }] });
    expect(r.failed).toBe(true);
    expect(r.msg).toMatch(/create extension hstore/);
    expect(r.msg).toMatch(/was dropped again/);
    expect(exists('half made')).toBe(false);
  });
});

describe('bad input: a failure naming the option, nothing changed', () => {
  test('force_drop with state present', () => {
    const r = run({ name: 'bad1', force_drop: true });
    expect(r.failed).toBe(true);
    expect(r.msg).toContain("option 'force_drop' is only valid with state: absent");
    expect(exists('bad1')).toBe(false);
  });

  test('a subscription without publications, a conninfo with a password, a bad privilege', () => {
    const r = run({
      name: 'bad2',
      subscriptions: [
        { name: 's', connection: { conninfo: 'host=x dbname=y' } },
        { name: 't', connection: { conninfo: 'host=x password=oops' }, publications: ['p'] },
      ],
      privileges: [{ role: 'reader', privileges: ['EXECUTE'], on: 'tables', schema: 'public' }, { role: 'reader', privileges: ['USAGE'], on: 'schema' }],
    });
    expect(r.failed).toBe(true);
    expect(r.msg).toContain("option 'subscriptions[0].publications' is required");
    expect(r.msg).toContain("option 'subscriptions[1].connection.conninfo' must not contain a password");
    expect(r.msg).not.toContain('oops');
    expect(r.msg).toContain("option 'privileges[1].schema' is required");
    expect(exists('bad2')).toBe(false);
  });

  test('privileges not valid on their target, unknown roles, extensions and parameters', () => {
    let r = run({ name: 'bad3', privileges: [{ role: 'reader', privileges: ['EXECUTE'], on: 'tables', schema: 'public' }] });
    expect(r.msg).toContain("option 'privileges[0].privileges': EXECUTE is not a privilege on tables");
    r = run({ name: 'bad3', owner: 'nobody', extensions: ['no_such_ext'], settings: { wrok_mem: '1MB', shared_buffers: '1GB', 'app.tenant': 'x' } });
    expect(r.failed).toBe(true);
    expect(r.msg).toContain("option 'owner': role nobody does not exist");
    expect(r.msg).toContain("option 'extensions[0].name': extension no_such_ext is not available");
    expect(r.msg).toContain("option 'settings.wrok_mem': unknown PostgreSQL parameter");
    expect(r.msg).toContain("option 'settings.shared_buffers': cannot be set per database");
    expect(r.msg).not.toContain('app.tenant');
    expect(exists('bad3')).toBe(false);
  });

  test('an unknown instance, a bad instance reference', () => {
    let r = run({ name: 'x', instance: 'nope' });
    expect(r.msg).toMatch(/option 'instance': instance \d+\/nope does not exist/);
    r = run({ name: 'x', instance: 'a/b/c' });
    expect(r.msg).toContain("option 'instance' must be <version>/<name> or <name>");
  });
});

/** What ALL on tables stands for on the server under test (MAINTAIN from 17, pg/versions.ts). */
const ALL_ON_TABLES = `SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER${testedAtLeast(17) ? ', MAINTAIN' : ''}`;

describe('privileges', () => {
  const db = 'privs';
  beforeAll(() => {
    expect(run({ name: db, owner: APP, schemas: [{ name: 'app', owner: APP }] }).failed).toBeUndefined();
    sql(`SET ROLE ${ident(APP)}; CREATE TABLE app.t1 (id serial); CREATE TABLE app.t2 (id int); CREATE VIEW app.v AS SELECT 1 AS x;
         CREATE FUNCTION app.f() RETURNS int LANGUAGE sql AS 'SELECT 1'`, db);
  });

  const privileges = [
    { role: 'reader', privileges: ['connect'], on: 'database' },
    { role: 'PUBLIC', privileges: ['CONNECT', 'TEMP'], on: 'database', state: 'absent' },
    { role: 'reader', privileges: ['USAGE'], on: 'schema', schema: 'app' },
    { role: 'reader', privileges: ['SELECT'], on: 'tables', schema: 'app' },
    { role: 'writer', privileges: ['ALL'], on: 'tables', schema: 'app' },
    { role: 'writer', privileges: ['USAGE', 'SELECT'], on: 'sequences', schema: 'app' },
    { role: 'PUBLIC', privileges: ['EXECUTE'], on: 'functions', schema: 'app' },
    { role: 'PUBLIC', privileges: ['USAGE'], on: 'schema', schema: 'public' },
    { role: 'reader', privileges: ['SELECT'], on: 'default_tables', schema: 'app' },
    { role: 'PUBLIC', privileges: ['EXECUTE'], on: 'default_functions', state: 'absent' },
    { role: HOSTILE_ROLE, privileges: ['CREATE'], on: 'schema', schema: 'app' },
  ];

  test('check mode plans exactly the missing ones (PostgreSQL defaults counted)', () => {
    const r = run({ name: db, privileges }, { check: true, diff: true });
    expect(r.failed).toBeUndefined();
    expect(r.queries).toEqual([
      'GRANT CONNECT ON DATABASE "privs" TO "reader"',
      'REVOKE TEMPORARY, CONNECT ON DATABASE "privs" FROM PUBLIC',
      'GRANT USAGE ON SCHEMA "app" TO "reader"',
      'GRANT SELECT ON ALL TABLES IN SCHEMA "app" TO "reader"',
      `GRANT ${ALL_ON_TABLES} ON ALL TABLES IN SCHEMA "app" TO "writer"`,
      'GRANT SELECT, USAGE ON ALL SEQUENCES IN SCHEMA "app" TO "writer"',
      // EXECUTE to PUBLIC on functions and USAGE to PUBLIC on schema public are PostgreSQL's defaults: nothing to do
      'ALTER DEFAULT PRIVILEGES FOR ROLE "App Owner" IN SCHEMA "app" GRANT SELECT ON TABLES TO "reader"',
      'ALTER DEFAULT PRIVILEGES FOR ROLE "App Owner" REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC',
      'GRANT CREATE ON SCHEMA "app" TO "Élodie ""db"""',
    ]);
    expect(r.diff.before.privileges).toContainEqual({ role: 'PUBLIC', on: 'database', privileges: ['TEMPORARY', 'CONNECT'] });
    expect(r.diff.after.privileges).toContainEqual({ role: 'PUBLIC', on: 'database', privileges: [] });
    expect(sql(`SELECT has_database_privilege('reader', 'privs', 'CONNECT')`)).toBe('t'); // through PUBLIC, still
    expect(sql("SELECT datacl IS NULL FROM pg_database WHERE datname = 'privs'")).toBe('t');
  });

  test('applied, then idempotent', () => {
    let r = run({ name: db, privileges });
    expect(r.failed).toBeUndefined();
    expect(r.changes).toHaveLength(9);
    expect(sql(`SELECT has_database_privilege('writer', 'privs', 'CONNECT')`)).toBe('f');
    expect(sql(`SELECT has_database_privilege('reader', 'privs', 'CONNECT')`)).toBe('t');
    expect(sql("SELECT has_table_privilege('reader', 'app.t2', 'SELECT'), has_table_privilege('reader', 'app.v', 'SELECT'), has_table_privilege('reader', 'app.t1', 'INSERT')", db)).toBe('t|t|f');
    expect(sql("SELECT has_table_privilege('writer', 'app.t1', 'TRUNCATE'), has_sequence_privilege('writer', 'app.t1_id_seq', 'USAGE')", db)).toBe('t|t');
    expect(sql(`SELECT has_schema_privilege(${lit(HOSTILE_ROLE)}, 'app', 'CREATE')`, db)).toBe('t');
    r = run({ name: db, privileges });
    expect(r.queries).toEqual([]);
    expect(r.changed).toBe(false);
    // the default privileges at work
    sql(`SET ROLE ${ident(APP)}; CREATE TABLE app.t3 (id int); CREATE FUNCTION public.g() RETURNS int LANGUAGE sql AS 'SELECT 2'`, db);
    expect(sql("SELECT has_table_privilege('reader', 'app.t3', 'SELECT'), has_function_privilege('reader', 'public.g()', 'EXECUTE')", db)).toBe('t|f');
  });

  test('a new table is a change for "all tables"; absent revokes what is held', () => {
    let r = run({ name: db, privileges });
    // reader got t3 through the default privileges; writer did not
    expect(r.queries).toEqual([`GRANT ${ALL_ON_TABLES} ON ALL TABLES IN SCHEMA "app" TO "writer"`]);
    r = run({ name: db, privileges: [{ role: 'writer', privileges: ['DELETE', 'TRUNCATE'], on: 'tables', schema: 'app', state: 'absent' }, { role: 'PUBLIC', privileges: ['CONNECT'], on: 'database' }] });
    expect(r.queries).toEqual(['REVOKE DELETE, TRUNCATE ON ALL TABLES IN SCHEMA "app" FROM "writer"', 'GRANT CONNECT ON DATABASE "privs" TO PUBLIC']);
    expect(sql("SELECT bool_or(has_table_privilege('writer', c.oid, 'DELETE')) FROM pg_class c WHERE relnamespace = 'app'::regnamespace AND relkind = 'r'", db)).toBe('f');
    r = run({ name: db, privileges: [{ role: 'writer', privileges: ['DELETE', 'TRUNCATE'], on: 'tables', schema: 'app', state: 'absent' }, { role: 'PUBLIC', privileges: ['CONNECT'], on: 'database' }] });
    expect(r.changed).toBe(false);
  });

  test('a new owner and the privileges of the old one: one run, then no change (issue 12, item 8)', () => {
    const db = 'owner swap';
    expect(run({ name: db, owner: 'reader' }).failed).toBeUndefined();
    const spec = {
      name: db,
      owner: 'writer',
      privileges: [
        { role: 'reader', privileges: ['CONNECT'], on: 'database' },
        { role: 'writer', privileges: ['ALL'], on: 'database' },
      ],
    };
    let r = run(spec);
    expect(r.failed ? r.msg : undefined).toBeUndefined();
    expect(r.queries).toEqual([`ALTER DATABASE "owner swap" OWNER TO "writer"`, `GRANT CONNECT ON DATABASE "owner swap" TO "reader"`]);
    r = run(spec);
    expect(r.changed).toBe(false);
    expect(sql(`SELECT has_database_privilege('reader', 'owner swap', 'CONNECT'), pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'owner swap'`)).toBe('t|writer');
    expect(run({ name: db, state: 'absent' }).changed).toBe(true);
  });

  test('ALL absent revokes every privilege the server has, whoever granted it', () => {
    // On 17 a GRANT ALL by hand includes MAINTAIN: revoking ALL must take it too.
    sql('GRANT ALL ON ALL TABLES IN SCHEMA app TO reader', db);
    const spec = { name: db, privileges: [{ role: 'reader', privileges: ['ALL'], on: 'tables', schema: 'app', state: 'absent' }] };
    expect(run(spec).failed).toBeUndefined();
    expect(sql("SELECT count(*) FROM pg_class c, aclexplode(c.relacl) a WHERE c.relnamespace = 'app'::regnamespace AND a.grantee = 'reader'::regrole", db)).toBe('0');
    expect(run(spec).changed).toBe(false);
  });

  test('privileges on a schema created in the same run; a schema that does not exist', () => {
    let r = run({ name: db, schemas: ['later'], privileges: [{ role: 'reader', privileges: ['USAGE'], on: 'schema', schema: 'later' }, { role: 'reader', privileges: ['SELECT'], on: 'tables', schema: 'later' }] });
    expect(r.failed).toBeUndefined();
    expect(r.queries).toEqual(['CREATE SCHEMA "later"', 'GRANT USAGE ON SCHEMA "later" TO "reader"']);
    r = run({ name: db, privileges: [{ role: 'reader', privileges: ['USAGE'], on: 'schema', schema: 'nowhere' }] });
    expect(r.failed).toBe(true);
    expect(r.msg).toContain("option 'privileges[0].schema': schema nowhere does not exist in database privs");
  });
});

describe('a stopped instance', () => {
  test('is started for the task and stopped again', () => {
    let r = runModule('instance', { name: 'pub', port: pubPort, settings: { ...LOOPBACK, wal_level: 'logical' }, state: 'stopped' }, { env: sb.env }).result;
    expect(r.status).toBe('stopped');
    r = run({ instance: 'pub', name: 'while stopped', schemas: ['x'] });
    expect(r.failed).toBeUndefined();
    expect(r.changed).toBe(true);
    r = runModule('instance_info', { name: 'pub' }, { env: sb.env }).result;
    expect(r.status).toBe('stopped');
    r = runModule('instance', { name: 'pub', port: pubPort, settings: { ...LOOPBACK, wal_level: 'logical' } }, { env: sb.env }).result;
    expect(r.status).toBe('running');
    expect(sql("SELECT count(*) FROM pg_namespace WHERE nspname = 'x'", 'while stopped', pubEnv)).toBe('1');
  });
});

describe('publications, clone and subscriptions', () => {
  const pubDb = 'Pub "source"';
  const subDb = 'sub ß';
  const conninfo = () => `host=127.0.0.1 port=${pubPort} user=postgres dbname='Pub "source"'`;

  beforeAll(() => {
    const r = run({ instance: 'pub', name: pubDb, schemas: ['shop'] });
    expect(r.failed).toBeUndefined();
    sql('CREATE TABLE shop.orders (id int PRIMARY KEY, what text); CREATE TABLE shop."Lines" (id int PRIMARY KEY); CREATE TABLE public.misc (id int PRIMARY KEY); INSERT INTO shop.orders VALUES (1, \'one\')', pubDb, pubEnv);
  });

  test('publications: created for tables and for all tables, idempotent, changed, dropped', () => {
    const pubs = [{ name: 'orders', tables: ['shop.orders', 'shop."Lines"'] }, { name: 'everything' }];
    let r = run({ instance: 'pub', name: pubDb, publications: pubs });
    expect(r.failed).toBeUndefined();
    expect(r.queries).toEqual(['CREATE PUBLICATION "orders" FOR TABLE "shop"."orders", "shop"."Lines"', 'CREATE PUBLICATION "everything" FOR ALL TABLES']);
    expect(sql("SELECT string_agg(schemaname || '.' || tablename, ',' ORDER BY tablename) FROM pg_publication_tables WHERE pubname = 'orders'", pubDb, pubEnv)).toBe('shop.Lines,shop.orders');
    expect(run({ instance: 'pub', name: pubDb, publications: pubs }).changed).toBe(false);
    r = run({ instance: 'pub', name: pubDb, publications: [{ name: 'orders', tables: ['shop.orders'] }, { name: 'everything', tables: ['misc'] }] }, { diff: true });
    expect(r.queries).toEqual([
      'ALTER PUBLICATION "orders" SET TABLE "shop"."orders"',
      'DROP PUBLICATION "everything"',
      'CREATE PUBLICATION "everything" FOR TABLE "public"."misc"',
    ]);
    expect(r.diff.after.publications).toEqual([{ name: 'everything', tables: ['public.misc'] }, { name: 'orders', tables: ['shop.orders'] }]);
    r = run({ instance: 'pub', name: pubDb, publications: [{ name: 'everything', state: 'absent' }] });
    expect(r.queries).toEqual(['DROP PUBLICATION "everything"']);
    expect(run({ instance: 'pub', name: pubDb, publications: [{ name: 'everything', state: 'absent' }] }).changed).toBe(false);
  });

  test('a clone of the publisher\'s schema, subscribed to its publication; the password never shows', async () => {
    const dsn = `host=${pubEnv.PGHOST} port=${pubPort} user=postgres dbname='Pub "source"'`;
    const spec = {
      name: subDb,
      clone: { dsn, schema_only: true },
      schemas: ['shop'],
      subscriptions: [{ name: 'sub_1', connection: { conninfo: conninfo(), password: PUB_PASSWORD }, publications: ['orders'] }],
    };
    let check = runModule('database', { instance: 'main', ...spec }, { env: sb.env, check: true, diff: true });
    expect(check.result.failed).toBeUndefined();
    expect(check.result.commands[0]).toMatch(/pg_dump --format=custom --schema-only --dbname .* \| .*pg_restore --exit-on-error --dbname/);
    expect(check.stdout).not.toContain('s3cr');
    expect(exists(subDb)).toBe(false);

    const { result: r, stdout } = runModule('database', { instance: 'main', ...spec }, { env: sb.env, diff: true });
    expect(r.msg).not.toMatch(/failed|error/);
    expect(r.failed).toBeUndefined();
    expect(stdout).not.toContain('s3cr');
    expect(stdout).not.toContain('p@ss');
    expect(r.queries.join('\n')).toContain(`CREATE SUBSCRIPTION "sub_1" CONNECTION 'host=127.0.0.1 port=${pubPort} user=postgres dbname=''Pub "source"'' password=********' PUBLICATION "orders"`);
    // the schema came with the copy (no CREATE SCHEMA after it), without the data
    expect(r.queries).not.toContain('CREATE SCHEMA "shop"');
    expect(r.diff.after.subscriptions).toEqual([{ name: 'sub_1', conninfo: `host=127.0.0.1 port=${pubPort} user=postgres dbname='Pub "source"'`, publications: ['orders'], enabled: true }]);
    expect(await eventually(() => sql('SELECT count(*) FROM shop.orders', subDb), '1', 100)).toBe('1');
    sql("INSERT INTO shop.orders VALUES (2, 'two')", pubDb, pubEnv);
    expect(await eventually(() => sql('SELECT count(*) FROM shop.orders', subDb), '2', 100)).toBe('2');

    const again = runModule('database', { instance: 'main', ...spec }, { env: sb.env, diff: true });
    expect(again.result.changed).toBe(false);
    expect(again.stdout).not.toContain('s3cr');
  });

  test('a clone from a URI with a password: the password goes through the environment, never on a command line (issue 12, item 3)', () => {
    const uri = `postgresql://postgres:${encodeURIComponent(PUB_PASSWORD)}@127.0.0.1:${pubPort}/${encodeURIComponent(pubDb)}?application_name=copy`;
    const { result, stdout } = runModule('database', { instance: 'main', name: 'uri copy', clone: { dsn: uri, schema_only: true } }, { env: sb.env });
    expect(result.failed ? result.msg : undefined).toBeUndefined();
    expect(result.commands[0]).toContain(`--dbname 'postgresql://postgres@127.0.0.1:${pubPort}/Pub%20%22source%22?application_name=copy' |`);
    expect(stdout).not.toContain('p@ss');
    expect(stdout).not.toContain(encodeURIComponent(PUB_PASSWORD));
    expect(sql("SELECT count(*) FROM pg_tables WHERE schemaname = 'shop'", 'uri copy')).toBe('2');
    // (the secrets check at the end samples the command lines of pg_dump while it runs)
    expect(run({ name: 'uri copy', state: 'absent' }).changed).toBe(true);
  });

  test('a subscription that fails: its password is neither in the statement logged nor in the error\'s STATEMENT line (issue 12, item 3)', async () => {
    const nobody = await freePort();
    const password = 'no-log-for-this-one';
    const r = run({ name: subDb, subscriptions: [{ name: 'sub_bad', connection: { conninfo: `host=127.0.0.1 port=${nobody} user=postgres dbname=x`, password }, publications: ['orders'] }] });
    expect(r.failed).toBe(true);
    expect(r.msg).toMatch(/could not connect to the publisher/);
    expect(r.msg).not.toContain(password);
    // The error itself is logged (so the log is the one to read); the statement is not, in no form.
    expect(await eventually(() => String(/could not connect to the publisher/.test(serverLogs(sb.dir))), 'true')).toBe('true');
    expect(serverLogs(sb.dir)).not.toContain(password);
    expect(serverLogs(sb.dir)).not.toMatch(/STATEMENT:\s+CREATE SUBSCRIPTION "sub_bad"/);
  });

  test('a subscription updated (disabled, other publications, new password), then dropped', () => {
    sql("CREATE PUBLICATION lines FOR TABLE shop.\"Lines\"", pubDb, pubEnv);
    const sub = { name: 'sub_1', connection: { conninfo: conninfo(), password: PUB_PASSWORD }, publications: ['orders', 'lines'], enabled: false };
    let r = run({ name: subDb, subscriptions: [sub] });
    expect(r.failed).toBeUndefined();
    expect(r.queries).toEqual(['ALTER SUBSCRIPTION "sub_1" DISABLE', 'ALTER SUBSCRIPTION "sub_1" SET PUBLICATION "orders", "lines" WITH (refresh = false)']);
    expect(sql("SELECT subenabled, array_to_string(subpublications, ',') FROM pg_subscription", subDb)).toBe('f|orders,lines');
    expect(run({ name: subDb, subscriptions: [sub] }).changed).toBe(false);
    const { result, stdout } = runModule('database', { instance: 'main', name: subDb, subscriptions: [{ ...sub, connection: { conninfo: conninfo(), password: 'another one' } }] }, { env: sb.env });
    expect(result.changes).toEqual(['change the connection of subscription sub_1 of database sub ß']);
    expect(stdout).not.toContain('another one');
    // the slot on the publisher is dropped with the subscription: that needs the right password back
    expect(run({ name: subDb, subscriptions: [sub] }).changes).toEqual(['change the connection of subscription sub_1 of database sub ß']);
    r = run({ name: subDb, subscriptions: [{ name: 'sub_1', state: 'absent' }] });
    expect(r.failed).toBeUndefined();
    expect(r.queries).toEqual(['DROP SUBSCRIPTION "sub_1"']);
    expect(sql('SELECT count(*) FROM pg_subscription', subDb)).toBe('0');
    expect(sql("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'sub_1'", 'postgres', pubEnv)).toBe('0');
  });
});

describe('absent', () => {
  test('drops a database; again is no change', () => {
    let r = run({ name: 'latin', state: 'absent' }, { diff: true });
    expect(r.changed).toBe(true);
    expect(r.queries).toEqual(['DROP DATABASE "latin"']);
    expect(r.diff.after).toEqual({ name: 'latin', state: 'absent' });
    expect(exists('latin')).toBe(false);
    r = run({ name: 'latin', state: 'absent' });
    expect(r.changed).toBe(false);
  });

  test('a database in use: a clear failure, or force_drop', async () => {
    const holder = spawn(join(env.PATH.split(':')[0], 'psql'), ['-X', '-c', 'SELECT pg_sleep(60)'], { env: { ...process.env, ...env, PGDATABASE: HOSTILE_DB }, stdio: 'ignore' });
    try {
      await eventually(() => sql(`SELECT count(*) FROM pg_stat_activity WHERE datname = ${lit(HOSTILE_DB)}`), '1');
      let r = run({ name: HOSTILE_DB, state: 'absent' });
      expect(r.failed).toBe(true);
      expect(r.msg).toMatch(/being accessed by other users.*force_drop/);
      expect(exists(HOSTILE_DB)).toBe(true);
      r = run({ name: HOSTILE_DB, state: 'absent', force_drop: true });
      expect(r.failed).toBeUndefined();
      expect(r.queries).toEqual([`DROP DATABASE "Robert'); DROP TABLE x;--" WITH (FORCE)`]);
      expect(exists(HOSTILE_DB)).toBe(false);
    } finally {
      holder.kill();
    }
  });
});

describe('the documented examples', () => {
  test('run as written, on the sandbox instances (`pub` publishes, `main` copies and subscribes)', async () => {
    const schema = load(readFileSync(join(__dirname, '../../schemas/database.schema.yml'), 'utf8')) as { 'x-ansible': { examples: string } };
    const tasks = (load(schema['x-ansible'].examples) as Array<Record<string, any>>).map((t) => ({ ...t['socle.postgresql.database'] }));
    for (const e of [env, pubEnv]) sql('CREATE ROLE app; CREATE ROLE reporting', 'postgres', e);
    for (const args of tasks) {
      if (args.clone) {
        args.instance = 'main';
        args.clone.dsn = `host=${pubEnv.PGHOST} port=${pubPort} dbname=app`;
        for (const s of args.subscriptions) {
          s.connection = { conninfo: `host=127.0.0.1 port=${pubPort} user=postgres dbname=app`, password: PUB_PASSWORD };
        }
      } else {
        args.instance = 'pub';
      }
      // Without systemd a schedule is a crontab entry: where cron is not installed (the Debian 13
      // test container), the module refuses it, as tests/integration/dumps.test.ts shows.
      if (args.schedule_dump && spawnSync('crontab', ['-l']).error !== undefined) continue;
      if (args.publications) sql('SET ROLE app; CREATE TABLE app.orders (id int PRIMARY KEY); CREATE TABLE app.order_lines (id int PRIMARY KEY)', 'app', pubEnv);
      const r = run(args);
      expect(r.failed ? `${JSON.stringify(args)}: ${r.msg}` : undefined).toBeUndefined();
      // A dump taken now, a dump restored: actions, a change every time; the rest is a state.
      expect(run(args).changed).toBe(Boolean(args.dump || args.restore));
    }
    // created by the owner after the privileges task: readable through the default privileges
    expect(sql("SELECT has_table_privilege('reporting', 'app.orders', 'SELECT')", 'app', pubEnv)).toBe('t');
    expect(sql("SELECT subname FROM pg_subscription")).toBe('app_orders');
    sql('DROP SUBSCRIPTION app_orders', 'app');
  });
});

describe('batch API: planDatabases', () => {
  // A script calling the batch API, bundled like the modules and run in its own process.
  const BATCH = `
    import { planDatabases } from './modules/lib/database';
    import { findInstance, withInstance } from './modules/lib/instance/target';
    import { applySteps, report } from './modules/lib/plan';
    import { loadSettings } from './modules/lib/settings';
    const [instance, apply, specsJson] = process.argv.slice(2);
    const settings = loadSettings();
    const started = process.hrtime.bigint();
    withInstance(settings, findInstance(settings, instance), async (session) => {
      const plan = await planDatabases(session, JSON.parse(specsJson), { optionPath: (i, p) => 'databases[' + i + '].' + p });
      if (apply === 'apply') await applySteps(plan.steps);
      return { ...report(plan.steps), after: Object.keys(plan.after).length };
    }).then(
      (r) => console.log(JSON.stringify({ ...r, ms: Number(process.hrtime.bigint() - started) / 1e6 })),
      (e) => console.log(JSON.stringify({ error: e.message })),
    );`;
  beforeAll(() => {
    buildSync({ stdin: { contents: BATCH, resolveDir: join(__dirname, '../..'), loader: 'ts' }, outfile: join(sb.dir, 'batch.cjs'), bundle: true, platform: 'node', format: 'cjs', logLevel: 'error' });
  });
  const specs: DatabaseSpec[] = Array.from({ length: 100 }, (_, i) => ({
    name: `batch ${i}`,
    owner: APP,
    settings: { work_mem: `${i + 1}MB` },
    connection_limit: 10,
    state: 'present',
    force_drop: false,
  }));

  test('100 databases created in one call, then re-planned with no change', () => {
    const runBatch = (s: DatabaseSpec[], apply: boolean) =>
      JSON.parse(execFileSync(process.execPath, [join(sb.dir, 'batch.cjs'), 'main', apply ? 'apply' : 'plan', JSON.stringify(s)], { env: sb.env, encoding: 'utf8' }));
    let r = runBatch(specs, true);
    expect(r.error).toBeUndefined();
    expect(r.changes).toHaveLength(200);
    expect(sql("SELECT count(*) FROM pg_database WHERE datname LIKE 'batch %' AND datconnlimit = 10")).toBe('100');
    expect(sql("SELECT array_to_string(setconfig, ',') FROM pg_db_role_setting WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = 'batch 41')")).toBe('work_mem=42MB');
    r = runBatch(specs, false);
    expect(r).toMatchObject({ changed: false, changes: [], after: 100 });
    process.stderr.write(`planDatabases: 100 databases re-planned with no change in ${Math.round(r.ms)} ms (in-process, including the connection)\n`);
  });

  test('errors name the item of the list', () => {
    const runBatch = (s: DatabaseSpec[]) =>
      JSON.parse(execFileSync(process.execPath, [join(sb.dir, 'batch.cjs'), 'main', 'plan', JSON.stringify(s)], { env: sb.env, encoding: 'utf8' }));
    const bad = [specs[0], { ...specs[1], owner: 'ghost' }, { ...specs[2], force_drop: true }];
    expect(runBatch(bad).error).toContain("option 'databases[2].force_drop' is only valid with state: absent");
    expect(runBatch(bad.slice(0, 2)).error).toContain("option 'databases[1].owner': role ghost does not exist");
  });
});

describe('secrets (issue 12)', () => {
  test('no password the tests used is in any output, server log, file left behind or command line', async () => {
    const report = await secrets.finish();
    expect(report.secrets).toBeGreaterThan(2);
    expect(report.logs).toBeGreaterThan(0);
    expect(report.samples).toBeGreaterThan(0);
    expect(report.leaks).toEqual([]);
  });
});
