// Bad input, generated from the modules' JSON Schemas (issue 12): every option of every module
// (with $refs and the "name or mapping" alternatives) gets a wrong type, out-of-range and empty
// values, hostile strings (quotes, newline, NUL, U+2028, 100 KB) and an unknown key at every level;
// hand-written semantic cases follow. The bundled modules run as Ansible runs them, on one instance.
//
// Each case must end as:
//   - a clean failure: `<module>: ...` naming the option's path (or an item above it), never
//     "unexpected error", and nothing changed on disk (a snapshot of the sandbox) nor in the catalog
//     (a fingerprint of roles, databases, settings, ACLs, schemas, extensions, publications,
//     subscriptions);
//   - or, for a value the schema accepts and that is legitimately valid (a hostile string that is a
//     valid name, a valid password), a success that wrote it safely: the written pg_hba.conf and
//     configuration files still read without error, and dropping the object again gives back the
//     exact snapshot and fingerprint (nothing else was touched, no injection happened).
// The instance module is given only what its schema must reject: what its schema accepts is the
// instance core's own semantic checks (issue 12, item 2, done with the instance components).
// Counts are printed; silent accepts, unclean failures and leaks must be zero.
import { createHash } from 'node:crypto';
import { Client } from 'pg';
import { lstatSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadSchemas, expandNode, unionBranches, type JSONSchema, type SchemaSet } from '../../build/schema/load';
import { createAjv } from '../../build/generate';
import { optionPath } from '../../modules/lib/validation';
import { md5Verifier } from '../../modules/lib/pg/scram';
import { runModule, type ModuleRun } from '../helpers/module';
import { freePort, makeSandbox, psql, type Sandbox } from '../helpers/sandbox';
import { watchSecrets, type SecretsCheck } from '../helpers/secrets';

jest.setTimeout(600_000);

type Seg = string | number;
type Expect = 'reject' | 'either';
interface Case {
  module: string;
  what: string;
  args: Record<string, unknown>;
  /** The option the message must name (or an item above it). */
  path: Seg[];
  expect: Expect;
  /** For generated cases: where the bad value goes and what it is (to put several in one run). */
  at?: { segs: Seg[]; value: unknown };
}

const set: SchemaSet = loadSchemas(join(__dirname, '../../schemas'));
const ajv = createAjv(set);
const MODULES = ['role', 'database', 'instance_info', 'instance'] as const;

let sb: Sandbox;
let env: Record<string, string>;
let port: number;
let secrets: SecretsCheck;

// ------------------------------------------------------------------------------------------ values

const HOSTILE: Array<[string, string]> = [
  ['quotes', `a'b"c;--`],
  ['a newline', 'fuzz\nhost all all 0.0.0.0/0 trust'],
  ['NUL', 'fuzz\u0000x'],
  ['U+2028', 'fuzz\u2028x'],
  ['100 KB', 'x'.repeat(100_000)],
  ['empty', ''],
];

/** Valid values where "any string" would not do (what the generator builds parents with). */
const SAMPLES: Record<string, unknown> = {
  instance: 'main',
  'instance_info:name': 'main',
  'instance:name': 'main',
  'hba_records[].connection.address': '10.0.0.0/8',
  'hba_records[].connection.netmask': '255.0.0.0',
  'hba_records[].method': 'md5',
  'hba_records[].database': 'all',
  valid_until: '2100-01-01',
  encrypted_password: md5Verifier('fuzz-password', 'fuzz_role'),
  'memberships[]': 'pg_monitor',
  'memberships[].role': 'pg_monitor',
  owner: 'postgres',
  'schemas[]': 'fuzz_schema',
  'schemas[].owner': 'postgres',
  'extensions[]': 'plpgsql',
  'extensions[].name': 'plpgsql',
  'privileges[].role': 'PUBLIC',
  'privileges[].privileges[]': 'CONNECT',
  'privileges[].on': 'database',
  'publications[].tables[]': 'fuzz_table',
  'subscriptions[].name': 'fuzz_sub',
  'subscriptions[].connection.conninfo': 'host=127.0.0.1 port=1 dbname=x',
  'subscriptions[].publications[]': 'p',
  'clone.dsn': 'host=/nonexistent dbname=x',
  locale: 'C',
  encoding: 'UTF8',
  template: 'template0',
  tablespace: 'pg_default',
  'settings.*': '4MB',
  'configuration.*': '4MB',
};
/** The key a free-form map is given (a parameter both role and database accept). */
const MAP_KEY = 'work_mem';

const key = (segs: Seg[]) => segs.map((s) => (typeof s === 'number' ? '[]' : s)).join('.').replace(/\.\[\]/g, '[]');

function sample(module: string, segs: Seg[], node: JSONSchema): unknown {
  const k = key(segs);
  for (const name of [`${module}:${k}`, k, k.replace(/^settings\.[^.]+$/, 'settings.*').replace(/^configuration\.[^.]+$/, 'configuration.*')]) {
    if (name in SAMPLES) return SAMPLES[name];
  }
  const n = expandNode(set, node);
  if (n.default !== undefined && (n.default === null || typeof n.default !== 'object')) return n.default;
  if (Array.isArray(n.enum)) return n.enum[0];
  const branches = unionBranches(set, n);
  if (branches) return sample(module, segs, branches[0]);
  const type = Array.isArray(n.type) ? n.type[0] : n.type;
  switch (type) {
    case 'integer':
    case 'number':
      return typeof n.minimum === 'number' && n.minimum > 0 ? n.minimum : 1;
    case 'boolean':
      return false;
    case 'array':
      return [sample(module, [...segs, 0], n.items as JSONSchema)];
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const r of (n.required as string[] | undefined) ?? []) out[r] = sample(module, [...segs, r], (n.properties ?? {})[r] ?? {});
      return out;
    }
    default:
      return segs[segs.length - 1] === 'name' ? `fuzz_${segs.length}` : 'fuzz';
  }
}

/** The node of a property, looking through "name or mapping" alternatives. */
function child(node: JSONSchema, seg: Seg): JSONSchema | undefined {
  const n = expandNode(set, node);
  if (typeof seg === 'number') return n.items as JSONSchema | undefined;
  const direct = n.properties?.[seg];
  if (direct) return direct;
  for (const b of unionBranches(set, n) ?? []) if (b.properties?.[seg]) return b.properties[seg];
  if (n.additionalProperties && typeof n.additionalProperties === 'object') return n.additionalProperties as JSONSchema;
  return undefined;
}

/** Base options with `value` at `segs`, the parents built from valid samples. */
function withValue(module: string, root: JSONSchema, base: Record<string, unknown>, segs: Seg[], value: unknown): Record<string, unknown> {
  const args = structuredClone(base);
  let container: any = args;
  let node = root;
  segs.forEach((seg, i) => {
    const next = child(node, seg)!;
    if (i === segs.length - 1) {
      container[seg] = value;
      return;
    }
    const nextSeg = segs[i + 1];
    let cur = container[seg];
    const wantArray = typeof nextSeg === 'number';
    if (wantArray ? !Array.isArray(cur) : cur === undefined || typeof cur !== 'object' || Array.isArray(cur)) {
      cur = wantArray ? [] : {};
      const s = sample(module, segs.slice(0, i + 1), next);
      if (!wantArray && s && typeof s === 'object' && !Array.isArray(s)) Object.assign(cur, s);
      container[seg] = cur;
    }
    if (wantArray && cur.length === 0) {
      const item = sample(module, segs.slice(0, i + 2), child(next, 0)!);
      // An item that must be a mapping to hold the next key: the mapping alternative.
      cur.push(typeof item === 'string' && i + 2 < segs.length ? { [Object.keys(expandNode(set, child(next, 0)!).properties ?? {})[0] ?? 'name']: item } : item);
    }
    if (wantArray && typeof cur[0] === 'string' && i + 2 < segs.length) {
      const itemNode = child(next, 0)!;
      const obj = (unionBranches(set, expandNode(set, itemNode)) ?? []).find((b) => b.properties);
      const first = (obj?.required as string[] | undefined)?.[0] ?? 'name';
      cur[0] = { [first]: cur[0] };
    }
    container = cur;
    node = next;
  });
  return args;
}

// ---------------------------------------------------------------------------------------- the walk

interface OptionNode {
  segs: Seg[];
  node: JSONSchema;
}

/** Every option node of a module schema: properties, list items, free-form map values. */
function optionNodes(root: JSONSchema): OptionNode[] {
  const out: OptionNode[] = [];
  const walk = (node: JSONSchema, segs: Seg[], depth: number) => {
    if (depth > 8) return;
    const n = expandNode(set, node);
    if (segs.length) out.push({ segs, node: n });
    const shapes = [n, ...(unionBranches(set, n) ?? [])];
    const seen = new Set<string>();
    for (const s of shapes) {
      for (const [k, v] of Object.entries(s.properties ?? {})) {
        if (seen.has(k) || (v as unknown) === true) continue;
        seen.add(k);
        walk(v as JSONSchema, [...segs, k], depth + 1);
      }
      if (s.items && typeof s.items === 'object' && !seen.has('[]')) {
        seen.add('[]');
        walk(s.items as JSONSchema, [...segs, 0], depth + 1);
      }
      if (s.additionalProperties && typeof s.additionalProperties === 'object' && !seen.has('*')) {
        seen.add('*');
        walk(s.additionalProperties as JSONSchema, [...segs, MAP_KEY], depth + 1);
      }
    }
  };
  walk(root, [], 0);
  return out;
}

function typesOf(n: JSONSchema): string[] {
  const shapes = [n, ...(unionBranches(set, n) ?? [])];
  return [...new Set(shapes.flatMap((s) => (Array.isArray(s.type) ? s.type : s.type ? [s.type] : [])))] as string[];
}

/**
 * The bad values of one option node: [what, value]. A secret's hostile values are its own (`pw-`
 * prefixed, a 100 KB run of another letter): the secrets check must not find a password where
 * the same text was given as a name.
 */
function badValues(n: JSONSchema): Array<[string, unknown]> {
  const secret = n['x-secret'] === true;
  const hostile = (v: string) => (!secret || v === '' ? v : v.length > 1000 ? 'p'.repeat(v.length) : `pw-${v}`);
  const types = typesOf(n);
  const out: Array<[string, unknown]> = [];
  // Wrong types that no coercion turns into the right one (ajv coerces numbers and booleans to strings).
  if (!types.includes('object')) out.push(['a mapping instead', { x: 1 }]);
  if (!types.includes('array') && !types.includes('object')) out.push(['a list instead', ['x']]);
  if (types.includes('integer') || types.includes('boolean')) out.push(['a word instead', 'maybe']);
  if (types.includes('integer')) {
    out.push(['a fraction', 1.5]);
    out.push(['2^31', 2 ** 31]);
    if (typeof n.minimum === 'number') out.push(['below the minimum', n.minimum - 1]);
    if (typeof n.maximum === 'number') out.push(['above the maximum', n.maximum + 1]);
  }
  if (types.includes('array')) out.push(['a word instead of a list', 'x']);
  if (types.includes('object') && !types.includes('string')) out.push(['a word instead of a mapping', 'x']);
  if (types.includes('string')) {
    if (Array.isArray(n.enum)) out.push(['not a choice', 'not-a-choice']);
    for (const [what, v] of HOSTILE) out.push([what, hostile(v)]);
  }
  return out;
}

function validates(module: string, args: Record<string, unknown>): boolean {
  return ajv.getSchema(`https://schemas.socle.invalid/socle/${module}`)!(structuredClone(args)) as boolean;
}

function baseArgs(module: string): Record<string, unknown> {
  switch (module) {
    case 'role':
      return { instance: 'main', name: 'fuzz_role' };
    case 'database':
      return { instance: 'main', name: 'fuzz_db' };
    case 'instance_info':
      return { name: 'main' };
    default:
      return { name: 'main', port, settings: { listen_addresses: '127.0.0.1', log_statement: 'all' } };
  }
}

function generatedCases(): Case[] {
  const cases: Case[] = [];
  for (const module of MODULES) {
    const root = set.byId.get(`socle/${module}`)!.schema;
    const base = baseArgs(module);
    const add = (what: string, args: Record<string, unknown>, path: Seg[]): void => {
      const expect: Expect = validates(module, args) ? 'either' : 'reject';
      // The instance module: only what its schema must reject (see the top of this file).
      if (module === 'instance' && expect === 'either') return;
      cases.push({ module, what: `${optionPath('/' + path.join('/')) || '(root)'}: ${what}`, args, path, expect, at });
    };
    let at: Case['at'];
    at = { segs: ['bogus_key'], value: 1 };
    add('an unknown key at the top', { ...base, bogus_key: 1 }, ['bogus_key']);
    for (const { segs, node } of optionNodes(root)) {
      for (const [what, value] of badValues(node)) {
        at = { segs, value };
        add(what, withValue(module, root, base, segs, value), segs);
      }
      const n = expandNode(set, node);
      const shapes = [n, ...(unionBranches(set, n) ?? [])];
      if (shapes.some((s) => s.properties && s.additionalProperties === false)) {
        const parent = withValue(module, root, base, segs, undefined);
        // The mapping, with its required keys, plus one it does not know.
        const obj = sample(module, segs, shapes.find((s) => s.properties)!) as Record<string, unknown>;
        const value = { ...(typeof obj === 'object' && obj ? obj : {}), bogus_key: 1 };
        at = { segs, value };
        add('an unknown key', withValue(module, root, parent, segs, value), [...segs, 'bogus_key']);
      }
    }
  }
  return cases;
}

/** Cases a schema cannot catch: values PostgreSQL refuses, names that do not exist, impossible combinations. */
function semanticCases(): Case[] {
  const role = (what: string, extra: Record<string, unknown>, path: Seg[]): Case => ({ module: 'role', what, args: { instance: 'main', name: 'fuzz_role', ...extra }, path, expect: 'reject' });
  const db = (what: string, extra: Record<string, unknown>, path: Seg[]): Case => ({ module: 'database', what, args: { instance: 'main', name: 'fuzz_db', ...extra }, path, expect: 'reject' });
  return [
    role('a parameter value PostgreSQL refuses', { configuration: { work_mem: 'lots' } }, ['configuration', 'work_mem']),
    role('an unknown parameter', { configuration: { work_mme: '1MB' } }, ['configuration', 'work_mme']),
    role('a server-wide parameter', { configuration: { shared_buffers: '1GB' } }, ['configuration', 'shared_buffers']),
    role('a timestamp PostgreSQL cannot read', { valid_until: 'soonish' }, ['valid_until']),
    role('a member of a missing role', { memberships: ['no_such_role'] }, ['memberships']),
    role('a member of itself', { memberships: ['fuzz_role'] }, ['memberships', 0]),
    role('a plain text as encrypted password', { encrypted_password: 'plain-text-password' }, ['encrypted_password']),
    role('a password with a newline in the passfile', { password: 'two\nlines', pgpass: true }, ['password']),
    role('a connection limit beyond 32 bits', { connection_limit: 2 ** 31 }, ['connection_limit']),
    role('an hba database with a newline', { hba_records: [{ database: 'a\nhost all all 0.0.0.0/0 trust', method: 'md5' }] }, ['hba_records', 0, 'database']),
    role('an hba record PostgreSQL refuses', { hba_records: [{ connection: { address: '10.0.0.0/8' }, method: 'cert' }] }, ['hba_records']),
    role('an instance named ..', { instance: '..' }, ['instance']),
    role('an instance named .', { instance: '15/.' }, ['instance']),
    role('a missing instance', { instance: 'no_such_instance' }, ['instance']),
    role('reassign to a missing role', { name: 'fuzz_victim', state: 'absent', reassign_owned: 'no_such_role' }, ['reassign_owned']),
    role('a name too long', { name: 'é'.repeat(40) }, ['name']),
    db('a missing owner', { owner: 'no_such_role' }, ['owner']),
    db('a missing template', { template: 'no_such_db' }, ['template']),
    db('a missing tablespace', { tablespace: 'no_such_tablespace' }, ['tablespace']),
    db('an unknown encoding', { encoding: 'no-such-encoding' }, ['encoding']),
    db('an unknown locale', { locale: 'xx_NOWHERE.UTF-8' }, ['locale']),
    db('a parameter value PostgreSQL refuses', { settings: { work_mem: 'lots' } }, ['settings', 'work_mem']),
    db('an unknown parameter', { settings: { work_mme: '1MB' } }, ['settings', 'work_mme']),
    db('a server-wide parameter', { settings: { shared_buffers: '1GB' } }, ['settings', 'shared_buffers']),
    db('a missing extension', { extensions: ['no_such_extension'] }, ['extensions', 0]),
    db('a missing extension version', { extensions: [{ name: 'plpgsql', version: '99.0' }] }, ['extensions', 0, 'version']),
    db('a privilege not valid on its target', { privileges: [{ role: 'PUBLIC', privileges: ['SELECT'], on: 'database' }] }, ['privileges', 0, 'privileges']),
    db('privileges in a missing schema', { privileges: [{ role: 'PUBLIC', privileges: ['USAGE'], on: 'schema', schema: 'no_such_schema' }] }, ['privileges', 0, 'schema']),
    db('privileges for a missing role', { privileges: [{ role: 'no_such_role', privileges: ['CONNECT'], on: 'database' }] }, ['privileges', 0, 'role']),
    db('a publication of a missing table', { publications: [{ name: 'p', tables: ['no_such_table'] }] }, ['publications', 0]),
    db('a subscription to nowhere', { subscriptions: [{ name: 'fuzz_sub', connection: { conninfo: 'host=127.0.0.1 port=1 dbname=x', password: 'sub-secret-xyz' }, publications: ['p'] }] }, ['subscriptions', 0]),
    db('a clone of nowhere', { clone: { dsn: 'postgresql://u:clone-secret-xyz@127.0.0.1:1/x' } }, ['clone']),
    db('a connection limit beyond 32 bits', { connection_limit: 2 ** 31 }, ['connection_limit']),
    db('force_drop of a present database', { force_drop: true }, ['force_drop']),
    db('an instance named ..', { instance: '..' }, ['instance']),
    db('a name too long', { name: 'd'.repeat(64) }, ['name']),
  ];
}

// ------------------------------------------------------------------------------- state and oracles

/**
 * Every file of the sandbox with its content hash: data directories give their configuration
 * files only (the catalog is the fingerprint's), the WAL directory and logs nothing (they grow
 * with every statement, failed ones included).
 */
function diskSnapshot(): string {
  const lines: string[] = [];
  const walk = (dir: string) => {
    const entries = readdirSync(dir).sort();
    const isDataDir = entries.includes('PG_VERSION') && entries.includes('global');
    const isWalDir = entries.includes('archive_status');
    if (isWalDir) return;
    for (const e of entries) {
      const p = join(dir, e);
      const st = lstatSync(p);
      if (st.isDirectory()) {
        if (isDataDir || e === 'log') continue;
        walk(p);
      } else if (st.isFile() && !e.endsWith('.log') && e !== 'current_logfiles') {
        lines.push(`${p} ${(st.mode & 0o777).toString(8)} ${createHash('sha1').update(readFileSync(p)).digest('hex')}`);
      }
    }
  };
  walk(sb.dir);
  return lines.join('\n');
}

const FINGERPRINT = `SELECT md5(string_agg(x, E'\\n' ORDER BY x)) FROM (
  SELECT format('role %s %s %s %s %s %s %s %s %s', rolname, rolsuper, rolcanlogin, rolcreatedb, rolcreaterole, rolinherit, rolconnlimit, rolpassword, rolvaliduntil) FROM pg_authid
  UNION ALL SELECT format('member %s %s', roleid, member) FROM pg_auth_members
  UNION ALL SELECT format('setting %s %s %s', setdatabase, setrole, setconfig) FROM pg_db_role_setting
  UNION ALL SELECT format('database %s %s %s %s %s', datname, datdba, datacl, datconnlimit, dattablespace) FROM pg_database
  UNION ALL SELECT format('tablespace %s', spcname) FROM pg_tablespace
  UNION ALL SELECT format('subscription %s', subname) FROM pg_subscription
  UNION ALL SELECT format('schema %s %s %s', nspname, nspowner, nspacl) FROM pg_namespace
  UNION ALL SELECT format('extension %s %s %s', extname, extnamespace, extversion) FROM pg_extension
  UNION ALL SELECT format('publication %s', pubname) FROM pg_publication
  UNION ALL SELECT format('default acl %s', defaclacl) FROM pg_default_acl
  UNION ALL SELECT format('table %s %s %s', relname, relowner, relacl) FROM pg_class WHERE relnamespace = 'public'::regnamespace
) AS t(x)`;

// One connection for the whole suite: the catalog is read twice per case.
let client: Client;
const sql = async (q: string): Promise<string> => String(Object.values((await client.query(q)).rows[0] ?? {})[0] ?? '');
const snapshot = async () => `${diskSnapshot()}\n${await sql(FINGERPRINT)}`;

/** Does the message name the option, or an item above it (never just the root)? */
function namesOption(msg: string, path: Seg[]): boolean {
  for (let k = path.length; k >= 1; k--) {
    const p = optionPath('/' + path.slice(0, k).join('/'));
    if ([`'${p}'`, `'${p}.`, `'${p}[`].some((m) => msg.includes(m))) return true;
  }
  return false;
}

/** Files PostgreSQL reads, checked by PostgreSQL itself after a success. */
async function filesReadBack(): Promise<string[]> {
  const errors: string[] = [];
  const hba = await sql('SELECT count(*) FROM pg_hba_file_rules WHERE error IS NOT NULL');
  if (hba !== '0') errors.push(`pg_hba.conf has ${hba} lines PostgreSQL cannot read`);
  const conf = await sql('SELECT count(*) FROM pg_file_settings WHERE error IS NOT NULL');
  if (conf !== '0') errors.push(`the configuration files have ${conf} errors`);
  if ((await sql('SELECT count(*) FROM sentinel')) !== '1') errors.push('the sentinel table changed');
  return errors;
}

function cleanup(c: Case): void {
  const name = c.args.name;
  if (typeof name !== 'string') return;
  if (c.module === 'role') runModule('role', { instance: 'main', name, state: 'absent', drop_owned: true }, { env: sb.env });
  if (c.module === 'database') runModule('database', { instance: 'main', name, state: 'absent', force_drop: true }, { env: sb.env });
}

interface Tally {
  cases: number;
  cleanFailures: number;
  accepted: number;
  silentAccepts: string[];
  unclean: string[];
  changedOnFailure: string[];
  unsafe: string[];
}

/** What differs between two snapshots (a few lines, for the report). */
function difference(a: string, b: string): string {
  const la = new Set(a.split('\n'));
  const lb = new Set(b.split('\n'));
  const gone = [...la].filter((l) => !lb.has(l)).map((l) => `- ${l.slice(0, 120)}`);
  const come = [...lb].filter((l) => !la.has(l)).map((l) => `+ ${l.slice(0, 120)}`);
  return [...gone, ...come].slice(0, 4).join(' | ');
}

async function judge(c: Case, run: ModuleRun, before: string, t: Tally): Promise<string> {
  const r = run.result;
  const after = () => snapshot();
  if (r.failed) {
    const msg = String(r.msg);
    if (!msg.startsWith(`${c.module}: `) || /unexpected error|MODULE FAILURE/.test(msg) || !namesOption(msg, c.path)) {
      t.unclean.push(`${c.module} ${c.what}: ${msg.slice(0, 300)}`);
    } else t.cleanFailures++;
    const now = await after();
    if (now === before) return now;
    t.changedOnFailure.push(`${c.module} ${c.what}: ${difference(before, now)}`);
    cleanup(c);
    return after();
  }
  if (c.expect === 'reject') {
    t.silentAccepts.push(`${c.module} ${c.what}: ${String(r.msg).slice(0, 200)}`);
    cleanup(c);
    return after();
  }
  t.accepted++;
  const errors = await filesReadBack();
  cleanup(c);
  const now = await after();
  if (now !== before) errors.push(`dropping the object again did not give back the same state: ${difference(before, now)}`);
  if (errors.length) t.unsafe.push(`${c.module} ${c.what}: ${errors.join('; ')}`);
  return now;
}

// ------------------------------------------------------------------------------------------- tests

beforeAll(async () => {
  sb = makeSandbox('socle-bad-');
  secrets = watchSecrets(sb);
  port = await freePort();
  const { result } = runModule('instance', baseArgs('instance'), { env: sb.env });
  if (result.failed) throw new Error(result.msg);
  env = result.env;
  psql(env, 'CREATE TABLE sentinel (id int); INSERT INTO sentinel VALUES (1); CREATE ROLE fuzz_victim');
  client = new Client({ host: env.PGHOST, port: Number(env.PGPORT), user: env.PGUSER, database: 'postgres' });
  await client.connect();
  writeFileSync(sb.passfile, '', { mode: 0o600 }); // an entry removed again leaves an empty file
});
afterAll(async () => {
  await client?.end();
  sb?.cleanup();
});

describe('bad input generated from the schemas, and semantic cases', () => {
  test('every case is a clean failure naming the option with nothing changed, or a safe success', async () => {
    const cases = [...generatedCases(), ...semanticCases()];
    const t: Tally = { cases: cases.length, cleanFailures: 0, accepted: 0, silentAccepts: [], unclean: [], changedOnFailure: [], unsafe: [] };
    // What the schema rejects changes nothing by construction: several such cases share a run
    // (on distinct options), each one still named in the message; any not named runs alone.
    const rejected = cases.filter((c) => c.expect === 'reject' && c.at !== undefined && c.module !== 'instance_info');
    const others = cases.filter((c) => !rejected.includes(c));
    let before = await snapshot();
    const alone: Case[] = [...others];
    const related = (a: Seg[], b: Seg[]) => a.slice(0, Math.min(a.length, b.length)).every((s, i) => s === b[i]);
    for (const module of MODULES) {
      const root = set.byId.get(`socle/${module}`)!.schema;
      const pending = rejected.filter((c) => c.module === module);
      while (pending.length) {
        // Bad values on options that do not contain one another, put together in one run.
        const batch: Case[] = [];
        let args = baseArgs(module);
        // A NUL is refused before the schema is read (runtime.ts): such values go together.
        const nul = (c: Case) => JSON.stringify(c.at!.value).includes('\\u0000');
        for (const c of [...pending]) {
          if (batch.some((b) => related(b.at!.segs, c.at!.segs) || nul(b) !== nul(c))) continue;
          args = withValue(module, root, args, c.at!.segs, c.at!.value);
          batch.push(c);
          pending.splice(pending.indexOf(c), 1);
          if (batch.length === 30) break;
        }
        const run = runModule(module, args, { env: sb.env });
        const msg = String(run.result.msg);
        for (const c of batch) {
          if (run.result.failed && namesOption(msg, c.path) && !/unexpected error/.test(msg)) t.cleanFailures++;
          else alone.push(c); // alone, it tells what happened to it
        }
        if (!run.result.failed) cleanup({ ...batch[0], args });
        const now = await snapshot();
        if (now !== before) {
          t.changedOnFailure.push(`${module} batch of ${batch.length}: ${difference(before, now)}`);
          before = now;
        }
      }
    }
    for (const c of alone) {
      const run = runModule(c.module, c.args, { env: sb.env });
      before = await judge(c, run, before, t);
    }
    const leaks = (await secrets.finish()).leaks;
    // eslint-disable-next-line no-console
    console.log(
      `bad input: ${t.cases} cases (${rejected.length} rejected by the schemas, ${others.length} semantic or hostile); ` +
        `clean failures ${t.cleanFailures}, safe successes ${t.accepted}, silent accepts ${t.silentAccepts.length}, ` +
        `unclean failures ${t.unclean.length}, changed on failure ${t.changedOnFailure.length}, unsafe successes ${t.unsafe.length}, leaks ${leaks.length}`,
    );
    expect({ silentAccepts: t.silentAccepts, unclean: t.unclean, changedOnFailure: t.changedOnFailure, unsafe: t.unsafe, leaks }).toEqual({
      silentAccepts: [],
      unclean: [],
      changedOnFailure: [],
      unsafe: [],
      leaks: [],
    });
    expect(t.cases).toBeGreaterThan(300);
    expect(t.cleanFailures + t.accepted).toBe(t.cases);
  });
});
