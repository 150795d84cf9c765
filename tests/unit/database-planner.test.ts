// The database planner and the privileges planner: pure functions over catalog data.
import type { DatabaseRow, InsideCatalog, SubscriptionRow } from '../../modules/lib/database/catalog';
import { effectiveTemplate, normLocale, planDatabase, type PlanInput } from '../../modules/lib/database/planner';
import { aclFromPairs, heldAll, heldAny, implicitAcl, planPrivileges, type PrivilegeEnv } from '../../modules/lib/database/privileges';
import { normalizeSpec, type DatabaseSpec } from '../../modules/lib/database/spec';
import { ModuleError } from '../../modules/lib/runtime';

const server = { version: 150004, currentUser: 'postgres' };
const row = (over: Partial<DatabaseRow> = {}): DatabaseRow => ({
  name: 'app',
  owner: 'postgres',
  encoding: 'UTF8',
  collate: 'C.UTF-8',
  ctype: 'C.UTF-8',
  connectionLimit: -1,
  tablespace: 'pg_default',
  allowConn: true,
  settings: [],
  acl: null,
  hasSubscriptions: false,
  ...over,
});
const template1 = row({ name: 'template1' });

function plan(spec: Partial<DatabaseSpec>, current: DatabaseRow | null, inside: InsideCatalog = {}, subscriptions: SubscriptionRow[] = []) {
  const s = normalizeSpec({ name: 'app', state: 'present', force_drop: false, ...spec } as DatabaseSpec, (p) => p);
  const input: PlanInput = { spec: s, current, template1, inside, subscriptions, server };
  return planDatabase(input);
}
const sqlOf = (p: ReturnType<typeof plan>) => p.changes.flatMap((c) => c.statements.map((s) => s.shown ?? s.sql));

describe('planDatabase', () => {
  test('an existing database as declared: no change', () => {
    const p = plan({ owner: 'postgres', settings: { work_mem: '4MB' }, connection_limit: -1, encoding: 'utf8', locale: 'C.utf8' }, row({ settings: ['work_mem=4096kB'] }));
    expect(p.changes).toEqual([]);
    expect(p.checks).toEqual([]);
    expect(p.before).toEqual(p.after);
  });

  test('a new database: CREATE DATABASE with its options, in the maintenance database', () => {
    const p = plan({ owner: 'o', tablespace: 'ts', connection_limit: 3, settings: { work_mem: '1MB' } }, null);
    expect(p.changes.map((c) => [c.mode, c.change])).toEqual([
      ['maintenance', 'create database app'],
      ['transaction', 'set work_mem on database app'],
    ]);
    expect(sqlOf(p)).toEqual(['CREATE DATABASE "app" OWNER "o" TABLESPACE "ts" CONNECTION LIMIT 3', `ALTER DATABASE "app" SET "work_mem" TO '1MB'`]);
    expect(p.changes[0].creates).toBe(true);
    expect(p.checks).toEqual([
      { kind: 'role', name: 'o', path: 'owner' },
      { kind: 'tablespace', name: 'ts', path: 'tablespace' },
      { kind: 'parameter', name: 'work_mem', path: 'settings.work_mem' },
    ]);
    expect(p.before).toEqual({ name: 'app', state: 'absent' });
    expect(p.after).toMatchObject({ state: 'present', owner: 'o', tablespace: 'ts', connection_limit: 3, settings: { work_mem: '1MB' } });
  });

  test('template0 when locale or encoding differ from template1, or for a copy', () => {
    const spec = (o: Partial<DatabaseSpec>) => normalizeSpec({ name: 'x', state: 'present', force_drop: false, ...o } as DatabaseSpec, (p) => p);
    expect(effectiveTemplate(spec({}), template1)).toBeUndefined();
    expect(effectiveTemplate(spec({ locale: 'C.utf8', encoding: 'UTF-8' }), template1)).toBeUndefined();
    expect(effectiveTemplate(spec({ locale: 'fr_FR.UTF-8' }), template1)).toBe('template0');
    expect(effectiveTemplate(spec({ encoding: 'LATIN1' }), template1)).toBe('template0');
    expect(effectiveTemplate(spec({ clone: { dsn: 'dbname=a', schema_only: false } }), template1)).toBe('template0');
    expect(effectiveTemplate(spec({ template: 'tpl', encoding: 'LATIN1' }), template1)).toBe('tpl');
    expect(normLocale('en_US.UTF-8@euro')).toBe('en_US.utf8@euro');
  });

  test('encoding and locale of an existing database cannot change: errors naming the options', () => {
    expect(() => plan({ encoding: 'LATIN1', locale: 'fr_FR.UTF-8' }, row())).toThrow(ModuleError);
    try {
      plan({ encoding: 'LATIN1', locale: 'fr_FR.UTF-8' }, row());
    } catch (e) {
      expect((e as Error).message).toMatch(/^option 'encoding': database app has encoding UTF8, not LATIN1; .*; option 'locale': database app has locale C\.UTF-8, not fr_FR\.UTF-8/);
    }
  });

  test('a template that does not exist', () => {
    const s = normalizeSpec({ name: 'app', state: 'present', force_drop: false, template: 'nope' }, (p) => p);
    expect(() => planDatabase({ spec: s, current: null, template1, templateRow: null, inside: {}, subscriptions: [], server })).toThrow("option 'template': database nope does not exist");
  });

  test('a new owner: privileges are planned against the ACL the owner change leaves (issue 12, item 8)', () => {
    // The old owner's entries become the new owner's (aclnewowner): the old owner holds nothing after.
    const acl: Array<[string, string]> = [['old', 'CREATE'], ['old', 'TEMPORARY'], ['old', 'CONNECT'], ['PUBLIC', 'CONNECT'], ['r', 'CONNECT']];
    const privileges = [
      { role: 'old', privileges: ['CONNECT'], on: 'database' as const, state: 'present' as const },
      { role: 'new', privileges: ['ALL'], on: 'database' as const, state: 'present' as const },
      { role: 'r', privileges: ['CONNECT'], on: 'database' as const, state: 'absent' as const },
    ];
    const p = plan({ owner: 'new', privileges }, row({ owner: 'old', acl }));
    expect(sqlOf(p)).toEqual(['ALTER DATABASE "app" OWNER TO "new"', 'GRANT CONNECT ON DATABASE "app" TO "old"', 'REVOKE CONNECT ON DATABASE "app" FROM "r"']);
    expect(p.before.privileges).toEqual([
      { role: 'old', on: 'database', privileges: ['CREATE', 'TEMPORARY', 'CONNECT'] },
      { role: 'new', on: 'database', privileges: [] },
      { role: 'r', on: 'database', privileges: ['CONNECT'] },
    ]);
    expect(p.after.privileges).toEqual([
      { role: 'old', on: 'database', privileges: ['CONNECT'] },
      { role: 'new', on: 'database', privileges: ['CREATE', 'TEMPORARY', 'CONNECT'] },
      { role: 'r', on: 'database', privileges: [] },
    ]);
    // The second run, against the catalog the first one left: nothing to do.
    const after: Array<[string, string]> = [['new', 'CREATE'], ['new', 'TEMPORARY'], ['new', 'CONNECT'], ['PUBLIC', 'CONNECT'], ['old', 'CONNECT']];
    expect(plan({ owner: 'new', privileges }, row({ owner: 'new', acl: after })).changes).toEqual([]);
  });

  test('a new schema owner: schema privileges are planned against the ACL it leaves', () => {
    const inside: InsideCatalog = {
      schemas: [{ name: 's', owner: 'old' }],
      aclSchemasFound: ['s'],
      schemaAcl: [['s', 'old', 'USAGE'], ['s', 'old', 'CREATE']],
      objectAcl: { totals: [], grants: [] },
    };
    const p = plan({ schemas: [{ name: 's', owner: 'new' }], privileges: [{ role: 'old', privileges: ['USAGE'], on: 'schema', schema: 's', state: 'present' }, { role: 'new', privileges: ['USAGE'], on: 'schema', schema: 's', state: 'present' }] }, row(), inside);
    expect(sqlOf(p)).toEqual(['ALTER SCHEMA "s" OWNER TO "new"', 'GRANT USAGE ON SCHEMA "s" TO "old"']);
  });

  test('owner, connection limit, tablespace: the move runs first, alone', () => {
    const p = plan({ owner: 'o', connection_limit: 10, tablespace: 'fast' }, row());
    expect(p.changes.map((c) => c.mode)).toEqual(['maintenance', 'transaction', 'transaction']);
    expect(sqlOf(p)).toEqual(['ALTER DATABASE "app" SET TABLESPACE "fast"', 'ALTER DATABASE "app" OWNER TO "o"', 'ALTER DATABASE "app" WITH CONNECTION LIMIT 10']);
  });

  test('schemas and extensions: create, change owner, move, update, drop, in a safe order', () => {
    const inside: InsideCatalog = {
      schemas: [{ name: 'public', owner: 'pg_database_owner' }, { name: 'old', owner: 'postgres' }, { name: 'keep', owner: 'a' }],
      extensions: [
        { name: 'plpgsql', schema: 'pg_catalog', version: '1.0', relocatable: false },
        { name: 'hstore', schema: 'public', version: '1.4', relocatable: true },
        { name: 'gone', schema: 'old', version: '1', relocatable: true },
      ],
    };
    const p = plan(
      {
        schemas: ['new', { name: 'keep', owner: 'b' }, { name: 'old', state: 'absent' }, { name: 'never', state: 'absent' }],
        extensions: [{ name: 'hstore', schema: 'new', version: '1.8' }, { name: 'gone', state: 'absent' }, 'plpgsql', 'citext'],
      },
      row(),
      inside,
    );
    expect(sqlOf(p)).toEqual([
      'CREATE SCHEMA "new"',
      'ALTER SCHEMA "keep" OWNER TO "b"',
      'ALTER EXTENSION "hstore" SET SCHEMA "new"',
      'ALTER EXTENSION "hstore" UPDATE TO \'1.8\'',
      'CREATE EXTENSION "citext" CASCADE',
      'DROP EXTENSION "gone"',
      'DROP SCHEMA "old"',
    ]);
    expect(p.changes.every((c) => c.mode === 'transaction')).toBe(true);
    expect(p.after.schemas?.map((s) => s.name)).toEqual(['keep', 'new', 'public']);
    expect(p.after.extensions).toEqual([
      { name: 'citext', schema: 'public', version: null },
      { name: 'hstore', schema: 'new', version: '1.8' },
      { name: 'plpgsql', schema: 'pg_catalog', version: '1.0' },
    ]);
  });

  test('an extension that is not relocatable cannot move', () => {
    const inside: InsideCatalog = { extensions: [{ name: 'plpgsql', schema: 'pg_catalog', version: '1.0', relocatable: false }] };
    expect(() => plan({ extensions: [{ name: 'plpgsql', schema: 'public' }] }, row(), inside)).toThrow(/option 'extensions\[0\]\.schema': extension plpgsql is in schema pg_catalog and cannot be moved/);
  });

  test('publications: all tables vs a list means drop and create; a list is set', () => {
    const inside: InsideCatalog = {
      publications: [
        { name: 'all', allTables: true, tables: [], schemas: 0 },
        { name: 'some', allTables: false, tables: [['s', 'b'], ['s', 'a']], schemas: 0 },
      ],
    };
    expect(plan({ publications: [{ name: 'all', state: 'present' }, { name: 'some', tables: ['s.a', 's.b'], state: 'present' }] }, row(), inside).changes).toEqual([]);
    const p = plan({ publications: [{ name: 'all', tables: ['t'], state: 'present' }, { name: 'some', tables: ['s.a'], state: 'present' }, { name: 'new', state: 'present' }] }, row(), inside);
    expect(sqlOf(p)).toEqual([
      'DROP PUBLICATION "all"',
      'CREATE PUBLICATION "all" FOR TABLE "public"."t"',
      'ALTER PUBLICATION "some" SET TABLE "s"."a"',
      'CREATE PUBLICATION "new" FOR ALL TABLES',
    ]);
  });

  test('subscriptions: compared without showing the password; autocommit, after the transaction', () => {
    const stored: SubscriptionRow = { database: 'app', name: 's1', enabled: true, conninfo: "host=h dbname=d password='pw'", publications: ['p1', 'p2'] };
    const sub = { name: 's1', connection: { conninfo: 'dbname=d host=h', password: 'pw' }, publications: ['p2', 'p1'], enabled: true, state: 'present' as const };
    expect(plan({ subscriptions: [sub] }, row(), {}, [stored]).changes).toEqual([]);
    const p = plan({ schemas: ['x'], subscriptions: [{ ...sub, connection: { conninfo: 'dbname=d host=h', password: 'new' }, publications: ['p1'], enabled: false }, { name: 's2', connection: { conninfo: 'host=h' }, publications: ['p'], enabled: true, state: 'present' }] }, row(), { schemas: [] }, [stored]);
    expect(p.changes.map((c) => c.mode)).toEqual(['transaction', 'autocommit', 'autocommit', 'autocommit', 'autocommit']);
    expect(sqlOf(p)).toEqual([
      'CREATE SCHEMA "x"',
      'ALTER SUBSCRIPTION "s1" DISABLE',
      "ALTER SUBSCRIPTION \"s1\" CONNECTION 'dbname=d host=h password=********'",
      'ALTER SUBSCRIPTION "s1" SET PUBLICATION "p1" WITH (refresh = false)',
      "CREATE SUBSCRIPTION \"s2\" CONNECTION 'host=h' PUBLICATION \"p\"",
    ]);
    expect(p.changes[2].statements[0].sql).toBe("ALTER SUBSCRIPTION \"s1\" CONNECTION 'dbname=d host=h password=new'");
    expect(JSON.stringify([p.before, p.after])).not.toMatch(/pw|new'/);
    expect(p.before.subscriptions).toEqual([{ name: 's1', conninfo: 'host=h dbname=d', publications: ['p1', 'p2'], enabled: true }]);
  });

  test('absent: subscriptions dropped first, then the database; nothing for a missing one', () => {
    const stored: SubscriptionRow = { database: 'app', name: 's1', enabled: true, conninfo: 'host=h', publications: ['p'] };
    const p = plan({ state: 'absent', force_drop: true }, row({ hasSubscriptions: true }), {}, [stored]);
    expect(p.changes.map((c) => [c.mode, c.statements[0].sql])).toEqual([
      ['autocommit', 'DROP SUBSCRIPTION "s1"'],
      ['maintenance', 'DROP DATABASE "app" WITH (FORCE)'],
    ]);
    expect(plan({ state: 'absent' }, null).changes).toEqual([]);
  });
});

describe('privileges', () => {
  const env = (inside: InsideCatalog, over: Partial<PrivilegeEnv> = {}): PrivilegeEnv => ({
    database: 'app',
    major: 15,
    databaseAcl: implicitAcl('database', 'owner', 15),
    inside,
    defaultOwner: 'owner',
    newSchemas: new Map(),
    droppedSchemas: new Set(),
    ...over,
  });
  const items = (list: Array<Partial<DatabaseSpec['privileges'] extends Array<infer T> | undefined ? T : never>>) =>
    normalizeSpec({ name: 'app', state: 'present', force_drop: false, privileges: list as never }, (p) => p).privileges!;
  const sqlOfP = (p: ReturnType<typeof planPrivileges>) => p.changes.map((c) => c.statements[0].sql);

  test('the ACL model: held on all objects, on any', () => {
    const m = { total: 3, counts: new Map([['r', new Map([['SELECT', 3], ['INSERT', 1]])]]) };
    expect(heldAll(m, 'r')).toEqual(['SELECT']);
    expect(heldAny(m, 'r').sort()).toEqual(['INSERT', 'SELECT']);
    expect(heldAll({ total: 0, counts: new Map() }, 'r')).toEqual([]);
    expect(heldAll(aclFromPairs([['r', 'USAGE']]), 'r')).toEqual(['USAGE']);
  });

  test('PostgreSQL defaults count: PUBLIC CONNECT on a database, EXECUTE on functions', () => {
    const inside: InsideCatalog = {
      aclSchemasFound: ['s'],
      objectAcl: { totals: [['s', 'functions', 2]], grants: [['s', 'functions', 'PUBLIC', 'EXECUTE', 2]] },
    };
    const p = planPrivileges(items([
      { role: 'PUBLIC', privileges: ['CONNECT'], on: 'database' },
      { role: 'public', privileges: ['EXECUTE'], on: 'functions', schema: 's' },
      { role: 'PUBLIC', privileges: ['TEMPORARY'], on: 'database', state: 'absent' },
    ]), env(inside));
    expect(sqlOfP(p)).toEqual(['REVOKE TEMPORARY ON DATABASE "app" FROM PUBLIC']);
    expect(p.checks).toEqual([]);
  });

  test('all tables: granted when one lacks it, revoked when one holds it', () => {
    const inside: InsideCatalog = {
      aclSchemasFound: ['s'],
      objectAcl: { totals: [['s', 'tables', 2]], grants: [['s', 'tables', 'r', 'SELECT', 1], ['s', 'tables', 'w', 'INSERT', 2]] },
    };
    const p = planPrivileges(items([
      { role: 'r', privileges: ['SELECT'], on: 'tables', schema: 's' },
      { role: 'r', privileges: ['SELECT'], on: 'tables', schema: 's' },
      { role: 'w', privileges: ['INSERT', 'UPDATE'], on: 'tables', schema: 's', state: 'absent' },
      { role: 'w', privileges: ['INSERT'], on: 'tables', schema: 's', state: 'absent' },
    ]), env(inside));
    expect(sqlOfP(p)).toEqual(['GRANT SELECT ON ALL TABLES IN SCHEMA "s" TO "r"', 'REVOKE INSERT ON ALL TABLES IN SCHEMA "s" FROM "w"']);
    expect(p.before).toEqual([
      { role: 'r', on: 'tables', schema: 's', privileges: [] },
      { role: 'w', on: 'tables', schema: 's', privileges: ['INSERT'] },
    ]);
    expect(p.after).toEqual([
      { role: 'r', on: 'tables', schema: 's', privileges: ['SELECT'] },
      { role: 'w', on: 'tables', schema: 's', privileges: [] },
    ]);
    expect(p.checks).toEqual([{ kind: 'role', name: 'r', path: 'privileges[0].role' }]);
  });

  test('ALL on tables is what the server has: MAINTAIN from PostgreSQL 17; naming it before 17 is an error', () => {
    const inside: InsideCatalog = { aclSchemasFound: ['s'], objectAcl: { totals: [['s', 'tables', 1]], grants: [] } };
    const all = items([{ role: 'r', privileges: ['ALL'], on: 'tables', schema: 's' }]);
    expect(sqlOfP(planPrivileges(all, env(inside)))).toEqual([
      'GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA "s" TO "r"',
    ]);
    expect(sqlOfP(planPrivileges(all, env(inside, { major: 17 })))).toEqual([
      'GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER, MAINTAIN ON ALL TABLES IN SCHEMA "s" TO "r"',
    ]);
    // Revoking ALL on 17 takes MAINTAIN too: nothing is left behind.
    const held: InsideCatalog = { aclSchemasFound: ['s'], objectAcl: { totals: [['s', 'tables', 1]], grants: [['s', 'tables', 'r', 'MAINTAIN', 1]] } };
    expect(sqlOfP(planPrivileges(items([{ role: 'r', privileges: ['ALL'], on: 'tables', schema: 's', state: 'absent' }]), env(held, { major: 17 })))).toEqual([
      'REVOKE MAINTAIN ON ALL TABLES IN SCHEMA "s" FROM "r"',
    ]);
    const maintain = items([{ role: 'r', privileges: ['maintain'], on: 'tables', schema: 's' }]);
    expect(sqlOfP(planPrivileges(maintain, env(inside, { major: 17 })))).toEqual(['GRANT MAINTAIN ON ALL TABLES IN SCHEMA "s" TO "r"']);
    expect(planPrivileges(maintain, env(inside)).errors).toEqual([
      "option 'privileges[0].privileges': MAINTAIN on tables needs PostgreSQL 17 (this server runs 15)",
    ]);
  });

  test('an empty schema needs no grant on its tables', () => {
    const p = planPrivileges(items([{ role: 'r', privileges: ['SELECT'], on: 'tables', schema: 's' }]), env({ aclSchemasFound: ['s'], objectAcl: { totals: [], grants: [] } }));
    expect(p.changes).toEqual([]);
  });

  test('default privileges: a global entry replaces the built-in defaults, a schema entry adds to them', () => {
    const none: InsideCatalog = { defaultAcl: [], aclSchemasFound: ['s'] };
    let p = planPrivileges(items([
      { role: 'PUBLIC', privileges: ['EXECUTE'], on: 'default_functions', state: 'absent' },
      { role: 'PUBLIC', privileges: ['EXECUTE'], on: 'default_functions', schema: 's', state: 'absent' },
      { role: 'owner', privileges: ['SELECT'], on: 'default_tables' },
      { role: 'r', privileges: ['SELECT'], on: 'default_tables', schema: 's' },
    ]), env(none));
    expect(sqlOfP(p)).toEqual([
      'ALTER DEFAULT PRIVILEGES FOR ROLE "owner" REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC',
      'ALTER DEFAULT PRIVILEGES FOR ROLE "owner" IN SCHEMA "s" GRANT SELECT ON TABLES TO "r"',
    ]);
    const after: InsideCatalog = {
      aclSchemasFound: ['s'],
      defaultAcl: [
        { role: 'owner', schema: null, type: 'f', acl: [['owner', 'EXECUTE']] },
        { role: 'owner', schema: 's', type: 'r', acl: [['r', 'SELECT']] },
      ],
    };
    p = planPrivileges(items([
      { role: 'PUBLIC', privileges: ['EXECUTE'], on: 'default_functions', state: 'absent' },
      { role: 'r', privileges: ['SELECT'], on: 'default_tables', schema: 's' },
    ]), env(after));
    expect(p.changes).toEqual([]);
  });

  test('a schema created by the plan has its owner\'s default ACL; a missing schema is an error', () => {
    let p = planPrivileges(items([{ role: 'o', privileges: ['USAGE'], on: 'schema', schema: 'n' }, { role: 'r', privileges: ['USAGE'], on: 'schema', schema: 'n' }]), env({ aclSchemasFound: [] }, { newSchemas: new Map([['n', 'o']]) }));
    expect(sqlOfP(p)).toEqual(['GRANT USAGE ON SCHEMA "n" TO "r"']);
    p = planPrivileges(items([{ role: 'r', privileges: ['USAGE'], on: 'schema', schema: 'gone' }]), env({ aclSchemasFound: ['gone'] }, { droppedSchemas: new Set(['gone']) }));
    expect(p.errors).toEqual(["option 'privileges[0].schema': schema gone does not exist in database app"]);
  });
});
