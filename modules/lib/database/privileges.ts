// Privileges compared with the access control lists themselves (aclexplode, with PostgreSQL's
// defaults when an ACL is NULL: CONNECT and TEMPORARY for PUBLIC on a database, EXECUTE for
// PUBLIC on functions), so that GRANT / REVOKE are planned only when they change something:
// `present` grants what the role does not hold on every object, `absent` revokes what it holds on
// any. Default privileges come from pg_default_acl: a global entry (no schema) is a complete ACL
// replacing the built-in defaults, a per-schema entry only adds to them. Pure functions.
import { quoteIdent } from '../pg/quote';
import type { AclPairs, InsideCatalog } from './catalog';
import { tablePrivilegeSince, type Major } from '../pg/versions';
import { privilegeKind, privilegesOn, type PrivilegeItem, type PrivilegeTarget } from './spec';
import type { Change, Check } from './types';

/** grantee -> privilege -> number of objects holding it, out of `total`. */
export interface AclModel {
  total: number;
  counts: Map<string, Map<string, number>>;
}

export function aclFromPairs(pairs: AclPairs, total = 1): AclModel {
  const counts = new Map<string, Map<string, number>>();
  for (const [grantee, priv] of pairs) {
    let m = counts.get(grantee);
    if (!m) counts.set(grantee, (m = new Map()));
    m.set(priv, total);
  }
  return { total, counts };
}

/** Privileges `role` holds on every object (nothing when there is no object). */
export function heldAll(m: AclModel, role: string): string[] {
  if (m.total === 0) return [];
  return [...(m.counts.get(role) ?? new Map<string, number>())].filter(([, n]) => n >= m.total).map(([p]) => p);
}

/** Privileges `role` holds on at least one object. */
export function heldAny(m: AclModel, role: string): string[] {
  return [...(m.counts.get(role) ?? new Map<string, number>())].filter(([, n]) => n > 0).map(([p]) => p);
}

function setHeld(m: AclModel, role: string, privs: string[], held: boolean): void {
  let c = m.counts.get(role);
  if (!c) m.counts.set(role, (c = new Map()));
  for (const p of privs) c.set(p, held ? m.total : 0);
}

/**
 * The ACL once the object's owner changes, as PostgreSQL's aclnewowner() makes it (ALTER DATABASE
 * / ALTER SCHEMA ... OWNER TO): every entry of the old owner becomes the new owner's, merged with
 * what the new owner held. Privileges are planned against the ACL the owner change leaves, since
 * the GRANTs and REVOKEs run after it: planned against the ACL before, they would be off by the
 * owner's entries and need a second run.
 */
export function aclNewOwner(pairs: AclPairs, oldOwner: string, newOwner: string): AclPairs {
  if (oldOwner === newOwner) return pairs;
  const seen = new Set<string>();
  const out: AclPairs = [];
  for (const [g, p] of pairs) {
    const pair: [string, string] = [g === oldOwner ? newOwner : g, p];
    const key = JSON.stringify(pair);
    if (!seen.has(key)) {
      seen.add(key);
      out.push(pair);
    }
  }
  return out;
}

/** acldefault() for what we model: the owner holds everything (the server has), PUBLIC some things. */
export function implicitAcl(kind: string, owner: string, major: Major): AclPairs {
  switch (kind) {
    case 'database':
      return [...privilegesOn('database', major).map((p): [string, string] => [owner, p]), ['PUBLIC', 'TEMPORARY'], ['PUBLIC', 'CONNECT']];
    case 'functions':
      return [[owner, 'EXECUTE'], ['PUBLIC', 'EXECUTE']];
    default:
      return privilegesOn(kind, major).map((p): [string, string] => [owner, p]);
  }
}

export const DEFAULT_OBJTYPE: Record<string, string> = { tables: 'r', sequences: 'S', functions: 'f' };

export function grantee(role: string): string {
  return role === 'PUBLIC' ? 'PUBLIC' : quoteIdent(role);
}

export interface PrivilegeEnv {
  database: string;
  /** Major version of the server: which privileges exist (MAINTAIN from 17). */
  major: Major;
  /** ACL of the database (its default for the owner when NULL). */
  databaseAcl: AclPairs;
  inside: InsideCatalog;
  /** Role whose default privileges are meant (the database's owner after the plan). */
  defaultOwner: string;
  /** Owners of the schemas the plan creates (they exist only in the plan). */
  newSchemas: Map<string, string>;
  /** Schemas the plan drops. */
  droppedSchemas: Set<string>;
  /** Existing schemas whose owner the plan changes (before the grants run): schema -> [old, new]. */
  schemaOwnerChanges?: Map<string, [string, string]>;
}

export interface PrivilegeView {
  role: string;
  on: PrivilegeTarget;
  schema?: string;
  /** Held on every object (for tables, sequences, functions: on all of those of the schema). */
  privileges: string[];
}

export interface PrivilegePlan {
  changes: Change[];
  before: PrivilegeView[];
  after: PrivilegeView[];
  checks: Check[];
  errors: string[];
}

function targetSql(item: PrivilegeItem, database: string): string {
  const s = item.schema === undefined ? '' : quoteIdent(item.schema);
  switch (item.on) {
    case 'database':
      return `DATABASE ${quoteIdent(database)}`;
    case 'schema':
      return `SCHEMA ${s}`;
    default:
      return `ALL ${item.on.toUpperCase()} IN SCHEMA ${s}`;
  }
}

function describeTarget(item: PrivilegeItem, database: string): string {
  if (item.on === 'database') return `database ${database}`;
  if (item.on === 'schema') return `schema ${item.schema}`;
  if (item.on.startsWith('default_')) {
    return `${privilegeKind(item.on)} created later${item.schema !== undefined ? ` in schema ${item.schema}` : ''} (default privileges)`;
  }
  return `all ${item.on} in schema ${item.schema}`;
}

function afterOwnerChange(pairs: AclPairs, change: [string, string] | undefined): AclPairs {
  return change ? aclNewOwner(pairs, change[0], change[1]) : pairs;
}

export function planPrivileges(items: PrivilegeItem[], env: PrivilegeEnv): PrivilegePlan {
  const models = new Map<string, AclModel>();
  const errors: string[] = [];
  const checks: Check[] = [];
  const { inside } = env;
  const schemaExists = (s: string) =>
    !env.droppedSchemas.has(s) && (env.newSchemas.has(s) || (inside.aclSchemasFound ?? []).includes(s));

  const modelFor = (item: PrivilegeItem): AclModel => {
    const kind = privilegeKind(item.on);
    const key = JSON.stringify([item.on, item.schema ?? null]);
    let m = models.get(key);
    if (m) return m;
    if (item.on === 'database') {
      m = aclFromPairs(env.databaseAcl);
    } else if (item.on === 'schema') {
      const s = item.schema!;
      const owner = env.newSchemas.get(s);
      m = owner !== undefined && !(inside.aclSchemasFound ?? []).includes(s)
        ? aclFromPairs(implicitAcl('schema', owner, env.major))
        : aclFromPairs(afterOwnerChange((inside.schemaAcl ?? []).filter(([sch]) => sch === s).map(([, g, p]): [string, string] => [g, p]), env.schemaOwnerChanges?.get(s)));
    } else if (!item.on.startsWith('default_')) {
      const s = item.schema!;
      const total = (inside.objectAcl?.totals ?? []).find(([sch, k]) => sch === s && k === kind)?.[2] ?? 0;
      m = { total, counts: new Map() };
      for (const [sch, k, g, p, n] of inside.objectAcl?.grants ?? []) {
        if (sch !== s || k !== kind) continue;
        let c = m.counts.get(g);
        if (!c) m.counts.set(g, (c = new Map()));
        c.set(p, n);
      }
    } else {
      const type = DEFAULT_OBJTYPE[kind];
      const entry = (inside.defaultAcl ?? []).find((e) => e.role === env.defaultOwner && e.type === type && e.schema === (item.schema ?? null));
      // No global entry: the built-in defaults apply. No per-schema entry: nothing is added.
      m = aclFromPairs(entry ? entry.acl : item.schema === undefined ? implicitAcl(kind, env.defaultOwner, env.major) : []);
    }
    models.set(key, m);
    return m;
  };

  // Views of each declared (role, on, schema), before any change.
  const keys: Array<{ role: string; on: PrivilegeTarget; schema?: string; item: PrivilegeItem }> = [];
  for (const item of items) {
    if (!keys.some((k) => k.role === item.role && k.on === item.on && k.schema === item.schema)) {
      keys.push({ role: item.role, on: item.on, schema: item.schema, item });
    }
  }
  const view = (): PrivilegeView[] =>
    keys.map((k) => {
      const needsSchema = k.on !== 'database' && !(k.on.startsWith('default_') && k.schema === undefined);
      const privileges = needsSchema && !schemaExists(k.schema!) ? [] : heldAll(modelFor(k.item), k.role);
      const order = privilegesOn(privilegeKind(k.on), env.major);
      return { role: k.role, on: k.on, ...(k.schema !== undefined ? { schema: k.schema } : {}), privileges: order.filter((p) => privileges.includes(p)) };
    });
  const before = view();

  const changes: Change[] = [];
  for (const item of items) {
    const needsSchema = item.on !== 'database' && !(item.on.startsWith('default_') && item.schema === undefined);
    if (needsSchema && !schemaExists(item.schema!)) {
      errors.push(`option '${item.path}.schema': schema ${item.schema} does not exist in database ${env.database}`);
      continue;
    }
    const kind = privilegeKind(item.on);
    const order = privilegesOn(kind, env.major);
    // ALL is what this server has; a privilege named that it lacks is an error naming its major.
    const missing = item.all ? [] : item.privileges.filter((p) => !order.includes(p));
    if (missing.length) {
      errors.push(missing.map((p) => `option '${item.path}.privileges': ${p} on ${kind} needs PostgreSQL ${tablePrivilegeSince(p)} (this server runs ${env.major})`).join('; '));
      continue;
    }
    const wanted = item.privileges.filter((p) => order.includes(p));
    const m = modelFor(item);
    let privs: string[];
    if (item.state === 'present') {
      const held = heldAll(m, item.role);
      privs = m.total === 0 ? [] : wanted.filter((p) => !held.includes(p));
    } else {
      const held = heldAny(m, item.role);
      privs = wanted.filter((p) => held.includes(p));
    }
    if (privs.length === 0) continue;
    privs = order.filter((p) => privs.includes(p));
    const grant = item.state === 'present';
    if (grant && item.role !== 'PUBLIC') checks.push({ kind: 'role', name: item.role, path: `${item.path}.role` });
    const list = privs.join(', ');
    let sql: string;
    if (item.on.startsWith('default_')) {
      const kind = privilegeKind(item.on).toUpperCase();
      const scope = `ALTER DEFAULT PRIVILEGES FOR ROLE ${quoteIdent(env.defaultOwner)}${item.schema !== undefined ? ` IN SCHEMA ${quoteIdent(item.schema)}` : ''}`;
      sql = grant ? `${scope} GRANT ${list} ON ${kind} TO ${grantee(item.role)}` : `${scope} REVOKE ${list} ON ${kind} FROM ${grantee(item.role)}`;
    } else {
      const target = targetSql(item, env.database);
      sql = grant ? `GRANT ${list} ON ${target} TO ${grantee(item.role)}` : `REVOKE ${list} ON ${target} FROM ${grantee(item.role)}`;
    }
    const what = describeTarget(item, env.database);
    changes.push({
      change: grant ? `grant ${list} on ${what} to ${item.role}` : `revoke ${list} on ${what} from ${item.role}`,
      mode: 'transaction',
      statements: [{ sql }],
      path: item.path,
    });
    setHeld(m, item.role, privs, grant);
  }
  return { changes, before, after: view(), checks, errors };
}
