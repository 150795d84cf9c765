// The instance module's `roles` and `databases` lists: one task declares an application.
import { freePort, makeSandbox, psql, type Sandbox } from '../helpers/sandbox';
import { runModule, type RunOptions } from '../helpers/module';

jest.setTimeout(120_000);

let sb: Sandbox;
let port: number;
const run = (args: Record<string, unknown>, opts: RunOptions = {}) => runModule('instance', args, { env: sb.env, ...opts });

const APP_OWNER = 'App "Owner"';
const HOSTILE_DB = "Robert'); DROP TABLE x;--";
const roles = [
  { name: 'readers' },
  { name: APP_OWNER, login: true, password: 'ownerPass-123' },
  { name: 'élodie', login: true, password: 's3cret-élodie', memberships: ['readers'] },
  { name: 'select', login: false, memberships: [{ role: 'readers' }] },
];
const databases = [
  { name: 'app', owner: APP_OWNER, schemas: [{ name: 'sales', owner: APP_OWNER }], extensions: ['pgcrypto'] },
  { name: HOSTILE_DB, owner: APP_OWNER, settings: { work_mem: '8MB' } },
];
const base = () => ({ name: 'objects', port, settings: { listen_addresses: '127.0.0.1' }, roles, databases });

beforeAll(async () => {
  sb = makeSandbox();
  port = await freePort();
});
afterAll(() => sb.cleanup());

let env: Record<string, string>;

test('check mode on a new instance lists the objects it would create, creating nothing', () => {
  const { result } = run(base(), { check: true });
  expect(result.changed).toBe(true);
  expect(result.changes).toEqual(expect.arrayContaining([expect.stringMatching(/^create instance/), 'create role élodie', `create database ${HOSTILE_DB}`]));
  expect(run({ name: 'objects', state: 'absent' }, { check: true }).result.changed).toBe(false);
});

test('one task creates the instance, its roles, then its databases', () => {
  const { result, stdout } = run(base());
  expect(result.failed).toBeUndefined();
  expect(result.changed).toBe(true);
  env = result.env;
  expect(psql(env, "SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles WHERE rolname IN ('readers','select','élodie','App \"Owner\"')")).toBe('App "Owner",readers,select,élodie');
  expect(psql(env, "SELECT pg_has_role('élodie', 'readers', 'MEMBER')")).toBe('t');
  expect(psql(env, `SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'app'`)).toBe(APP_OWNER);
  expect(psql({ ...env, PGDATABASE: 'app' }, "SELECT extname FROM pg_extension WHERE extname = 'pgcrypto'")).toBe('pgcrypto');
  expect(psql({ ...env, PGDATABASE: 'app' }, "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'sales'")).toBe('"App ""Owner"""');
  expect(psql({ ...env, PGDATABASE: HOSTILE_DB }, 'SHOW work_mem')).toBe('8MB');
  expect(stdout).not.toContain('ownerPass-123');
  expect(stdout).not.toContain('s3cret');
  // Roles first, then databases: the owner exists when its database is created.
  const firstDb = result.changes.findIndex((c: string) => /database/.test(c));
  const lastRole = result.changes.map((c: string) => /role/.test(c)).lastIndexOf(true);
  expect(lastRole).toBeLessThan(firstDb);
});

test('the same declaration again changes nothing', () => {
  const { result } = run(base());
  expect(result.changed).toBe(false);
  expect(result.changes).toEqual([]);
});

test('check mode shows the SQL of a new role and a dropped database, and runs none of it', () => {
  const declared = { ...base(), roles: [...roles, { name: 'auditor', login: true }], databases: [databases[0], { name: HOSTILE_DB, state: 'absent' }] };
  const { result } = run(declared, { check: true, diff: true });
  expect(result.changed).toBe(true);
  expect(result.queries).toEqual(expect.arrayContaining([expect.stringMatching(/^CREATE ROLE "auditor"/), expect.stringMatching(/^DROP DATABASE "Robert'\); DROP TABLE x;--"/)]));
  expect(result.diff.after).toContain('auditor');
  expect(psql(env, "SELECT count(*) FROM pg_roles WHERE rolname = 'auditor'")).toBe('0');
  expect(psql(env, `SELECT count(*) FROM pg_database WHERE datname = '${HOSTILE_DB.replace(/'/g, "''")}'`)).toBe('1');
});

test('dropping part of the application', () => {
  const declared = { ...base(), roles: [roles[0], roles[1], { name: 'select', state: 'absent' }], databases: [databases[0], { name: HOSTILE_DB, state: 'absent' }] };
  let { result } = run(declared);
  expect(result.changed).toBe(true);
  expect(psql(env, "SELECT count(*) FROM pg_roles WHERE rolname = 'select'")).toBe('0');
  expect(psql(env, `SELECT count(*) FROM pg_database WHERE datname = '${HOSTILE_DB.replace(/'/g, "''")}'`)).toBe('0');
  ({ result } = run(declared));
  expect(result.changed).toBe(false);
});

test('a bad item is named by its path in the list, and nothing changes', () => {
  const { result } = run({ ...base(), roles: [roles[0], { name: 'x', login: 'maybe' }] });
  expect(result.failed).toBe(true);
  expect(result.msg).toContain("option 'roles[1].login' must be boolean");
});

test('a stopped instance is started for its objects and stopped again', () => {
  let { result } = run({ ...base(), roles: [roles[0], roles[1]], databases: [databases[0]], state: 'stopped' });
  expect(result.status).toBe('stopped');
  ({ result } = run({ ...base(), roles: [roles[0], roles[1], { name: 'late', login: true }], databases: [databases[0]], state: 'stopped' }));
  expect(result.changed).toBe(true);
  expect(result.changes).toEqual([expect.stringMatching(/^create role late/)]);
  expect(result.status).toBe('stopped');
  ({ result } = run({ ...base(), roles: [roles[0], roles[1], { name: 'late', login: true }], databases: [databases[0]] }));
  expect(result.changes).toEqual([expect.stringMatching(/^start instance/)]);
  expect(psql(env, "SELECT count(*) FROM pg_roles WHERE rolname = 'late'")).toBe('1');
});
