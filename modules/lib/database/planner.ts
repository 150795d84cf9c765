// Planning one database: a pure function of the declared spec and of the catalog data read for it
// (catalog.ts). It returns the changes in the order they must run (see types.ts for where each
// runs), the database as it is and as the plan leaves it (for diff), and the names the plan relies
// on (checked against the server before anything runs).
import { quoteIdent, quoteLiteral } from '../pg/quote';
import { byName } from './by-name';
import { ModuleError } from '../runtime';
import type { DatabaseRow, InsideCatalog, ServerFacts, SubscriptionRow } from './catalog';
import { maskConninfo, parseConninfo, renderConninfo, sameConninfo, withPassword } from '../pg/conninfo';
import { aclNewOwner, implicitAcl, planPrivileges, type PrivilegeView } from './privileges';
import { majorOf } from '../pg/versions';
import { parseSetconfig, planSettings } from './settings';
import type { NormalizedSpec } from './spec';
import type { Change, Check } from './types';

export interface DatabaseView {
  name: string;
  state: 'present' | 'absent';
  owner?: string;
  encoding?: string;
  lc_collate?: string;
  lc_ctype?: string;
  tablespace?: string;
  connection_limit?: number;
  settings?: Record<string, string>;
  schemas?: Array<{ name: string; owner: string }>;
  extensions?: Array<{ name: string; schema: string; version: string | null }>;
  privileges?: PrivilegeView[];
  publications?: Array<{ name: string; tables: 'ALL' | string[] }>;
  subscriptions?: Array<{ name: string; conninfo: string; publications: string[]; enabled: boolean }>;
  /** For a new database: what it is created from. */
  template?: string;
  clone?: string;
}

export interface PlanInput {
  spec: NormalizedSpec;
  /** The database's row, or null when it does not exist. */
  current: DatabaseRow | null;
  /** template1's row: the defaults of a new database. */
  template1: DatabaseRow | null;
  /** For a new database, the row of the template it would be made from (checked to exist). */
  templateRow?: DatabaseRow | null;
  /**
   * What is inside the database (or, for a new one, inside its template). Parts the spec does not
   * declare may be missing.
   */
  inside: InsideCatalog;
  /** Subscriptions of this database (when declared, or to drop with it). */
  subscriptions: SubscriptionRow[];
  server: ServerFacts;
}

export interface DatabasePlan {
  name: string;
  changes: Change[];
  before: DatabaseView;
  after: DatabaseView;
  checks: Check[];
}

export function normEncoding(e: string): string {
  return e.toLowerCase().replace(/[^a-z0-9]/g, '');
}

/** `en_US.UTF-8` = `en_US.utf8`: the codeset part is compared as PostgreSQL's encodings are. */
export function normLocale(l: string): string {
  const i = l.indexOf('.');
  if (i < 0) return l;
  const at = l.indexOf('@', i);
  const codeset = at < 0 ? l.slice(i + 1) : l.slice(i + 1, at);
  return l.slice(0, i) + '.' + normEncoding(codeset) + (at < 0 ? '' : l.slice(at));
}

/**
 * The template of a new database: the declared one; template0 for a copy (pg_restore needs an
 * empty database) or when the locale or encoding differ from template1's (PostgreSQL refuses them
 * otherwise); else PostgreSQL's default, template1 (undefined: not written).
 */
export function effectiveTemplate(spec: NormalizedSpec, template1: DatabaseRow | null): string | undefined {
  if (spec.template !== undefined) return spec.template;
  if (spec.clone) return 'template0';
  if (template1) {
    const localeDiffers = spec.locale !== undefined && (normLocale(spec.locale) !== normLocale(template1.collate) || normLocale(spec.locale) !== normLocale(template1.ctype));
    const encodingDiffers = spec.encoding !== undefined && normEncoding(spec.encoding) !== normEncoding(template1.encoding);
    if (localeDiffers || encodingDiffers) return 'template0';
  }
  return undefined;
}

/** A database's own properties as the module shows them; also what `socle database get` prints. */
export function rowView(row: DatabaseRow): DatabaseView {
  return {
    name: row.name,
    state: 'present',
    owner: row.owner,
    encoding: row.encoding,
    lc_collate: row.collate,
    lc_ctype: row.ctype,
    tablespace: row.tablespace,
    connection_limit: row.connectionLimit,
  };
}

function subscriptionView(s: { name: string; conninfo: string; publications: string[]; enabled: boolean }) {
  let conninfo: string;
  try {
    const info = parseConninfo(s.conninfo);
    info.delete('password');
    conninfo = renderConninfo(info);
  } catch {
    conninfo = maskConninfo(s.conninfo);
  }
  return { name: s.name, conninfo, publications: [...s.publications].sort(), enabled: s.enabled };
}

const sameSet = (a: string[], b: string[]) => a.length === b.length && a.every((x) => b.includes(x));

export function planDatabase(input: PlanInput): DatabasePlan {
  const { spec, current, server } = input;
  const name = spec.name;
  const db = quoteIdent(name);
  const changes: Change[] = [];
  const checks: Check[] = [];
  const errors: string[] = [];

  // ----------------------------------------------------------------------------------------- absent
  if (spec.state === 'absent') {
    const absent: DatabaseView = { name, state: 'absent' };
    if (!current) return { name, changes, before: absent, after: absent, checks };
    for (const s of input.subscriptions) {
      changes.push({ change: `drop subscription ${s.name} of database ${name}`, mode: 'autocommit', statements: [{ sql: `DROP SUBSCRIPTION ${quoteIdent(s.name)}` }] });
    }
    changes.push({
      change: `drop database ${name}${spec.forceDrop ? ' (disconnecting its sessions)' : ''}`,
      mode: 'maintenance',
      statements: [{ sql: `DROP DATABASE ${db}${spec.forceDrop ? ' WITH (FORCE)' : ''}` }],
    });
    const before = rowView(current);
    if (input.subscriptions.length) before.subscriptions = input.subscriptions.map(subscriptionView);
    return { name, changes, before, after: absent, checks };
  }

  // ---------------------------------------------------------------------------------------- present
  const t1 = input.template1;
  let before: DatabaseView;
  let after: DatabaseView;
  let owner: string;
  if (!current) {
    before = { name, state: 'absent' };
    owner = spec.owner ?? server.currentUser;
    const template = effectiveTemplate(spec, t1);
    if (spec.template !== undefined && input.templateRow === null) {
      errors.push(`option '${spec.path('template')}': database ${spec.template} does not exist`);
    }
    const tpl = input.templateRow ?? t1;
    let sql = `CREATE DATABASE ${db}`;
    if (spec.owner !== undefined) {
      sql += ` OWNER ${quoteIdent(spec.owner)}`;
      checks.push({ kind: 'role', name: spec.owner, path: spec.path('owner') });
    }
    if (template !== undefined) sql += ` TEMPLATE ${quoteIdent(template)}`;
    if (spec.encoding !== undefined) {
      sql += ` ENCODING ${quoteLiteral(spec.encoding)}`;
      checks.push({ kind: 'encoding', name: spec.encoding, path: spec.path('encoding') });
    }
    if (spec.locale !== undefined) {
      sql += ` LOCALE ${quoteLiteral(spec.locale)}`;
      checks.push({ kind: 'locale', name: spec.locale, path: spec.path('locale') });
    }
    if (spec.tablespace !== undefined) {
      sql += ` TABLESPACE ${quoteIdent(spec.tablespace)}`;
      checks.push({ kind: 'tablespace', name: spec.tablespace, path: spec.path('tablespace') });
    }
    if (spec.connectionLimit !== undefined) sql += ` CONNECTION LIMIT ${spec.connectionLimit}`;
    changes.push({ change: `create database ${name}`, mode: 'maintenance', statements: [{ sql }], creates: true });
    after = {
      name,
      state: 'present',
      owner,
      encoding: spec.encoding ?? tpl?.encoding,
      lc_collate: spec.locale ?? tpl?.collate,
      lc_ctype: spec.locale ?? tpl?.ctype,
      tablespace: spec.tablespace ?? 'pg_default',
      connection_limit: spec.connectionLimit ?? -1,
      ...(template !== undefined ? { template } : {}),
    };
    if (spec.clone) {
      after.clone = maskConninfo(spec.clone.dsn);
      changes.push({
        change: `copy ${spec.clone.schemaOnly ? 'the definitions of ' : ''}database ${maskConninfo(spec.clone.dsn)} into ${name}`,
        mode: 'clone',
        statements: [],
        clone: { dsn: spec.clone.dsn, schemaOnly: spec.clone.schemaOnly },
        path: spec.path('clone'),
      });
    }
  } else {
    before = rowView(current);
    after = rowView(current);
    owner = spec.owner ?? current.owner;
    if (spec.encoding !== undefined && normEncoding(spec.encoding) !== normEncoding(current.encoding)) {
      errors.push(`option '${spec.path('encoding')}': database ${name} has encoding ${current.encoding}, not ${spec.encoding}; PostgreSQL cannot change the encoding of a database (dump it and restore it into a new one)`);
    }
    if (spec.locale !== undefined && (normLocale(spec.locale) !== normLocale(current.collate) || normLocale(spec.locale) !== normLocale(current.ctype))) {
      const has = current.collate === current.ctype ? current.collate : `LC_COLLATE ${current.collate}, LC_CTYPE ${current.ctype}`;
      errors.push(`option '${spec.path('locale')}': database ${name} has locale ${has}, not ${spec.locale}; PostgreSQL cannot change the locale of a database (dump it and restore it into a new one)`);
    }
    if (spec.tablespace !== undefined && spec.tablespace !== current.tablespace) {
      checks.push({ kind: 'tablespace', name: spec.tablespace, path: spec.path('tablespace') });
      changes.push({
        change: `move database ${name} to tablespace ${spec.tablespace}`,
        mode: 'maintenance',
        statements: [{ sql: `ALTER DATABASE ${db} SET TABLESPACE ${quoteIdent(spec.tablespace)}` }],
        path: spec.path('tablespace'),
      });
      after.tablespace = spec.tablespace;
    }
    if (spec.owner !== undefined && spec.owner !== current.owner) {
      checks.push({ kind: 'role', name: spec.owner, path: spec.path('owner') });
      changes.push({ change: `change owner of database ${name} to ${spec.owner}`, mode: 'transaction', anywhere: true, statements: [{ sql: `ALTER DATABASE ${db} OWNER TO ${quoteIdent(spec.owner)}` }], path: spec.path('owner') });
      after.owner = spec.owner;
    }
    if (spec.connectionLimit !== undefined && spec.connectionLimit !== current.connectionLimit) {
      changes.push({
        change: `set connection limit of database ${name} to ${spec.connectionLimit}`,
        mode: 'transaction', anywhere: true,
        statements: [{ sql: `ALTER DATABASE ${db} WITH CONNECTION LIMIT ${spec.connectionLimit}` }],
        path: spec.path('connection_limit'),
      });
      after.connection_limit = spec.connectionLimit;
    }
  }

  // settings
  const settings = planSettings(name, spec.settings, current?.settings ?? []);
  if (current) before.settings = Object.fromEntries(parseSetconfig(current.settings));
  after.settings = settings.after;
  if (settings.statements.length) {
    const parts = [settings.set.length ? `set ${settings.set.join(', ')}` : '', settings.reset.length ? `reset ${settings.reset.join(', ')}` : ''].filter(Boolean);
    // Statements set the parameters in `settings.set`'s order, then reset the others.
    const statements = settings.statements.map((sql, i) => ({ sql, ...(i < settings.set.length ? { path: spec.path(`settings.${settings.set[i]}`) } : {}) }));
    changes.push({ change: `${parts.join(' and ')} on database ${name}`, mode: 'transaction', anywhere: true, statements, path: spec.path('settings') });
    for (const k of settings.set) checks.push({ kind: 'parameter', name: k, path: spec.path(`settings.${k}`) });
  }

  const inside = input.inside;
  const creates: Change[] = [];
  const drops: Change[] = [];

  // schemas
  const schemas = new Map((inside.schemas ?? []).map((s) => [s.name, s.owner]));
  const newSchemas = new Map<string, string>();
  const droppedSchemas = new Set<string>();
  const schemaOwnerChanges = new Map<string, [string, string]>();
  if (spec.schemas) {
    if (before.state === 'present') before.schemas = [...schemas].map(([n, o]) => ({ name: n, owner: o }));
    for (const s of spec.schemas) {
      const cur = schemas.get(s.name);
      if (s.state === 'present') {
        if (cur === undefined) {
          const o = s.owner ?? server.currentUser;
          if (s.owner !== undefined) checks.push({ kind: 'role', name: s.owner, path: `${s.path}.owner` });
          creates.push({
            change: `create schema ${s.name} in database ${name}${s.owner !== undefined ? ` owned by ${s.owner}` : ''}`,
            mode: 'transaction',
            path: s.path,
            statements: [{ sql: `CREATE SCHEMA ${quoteIdent(s.name)}${s.owner !== undefined ? ` AUTHORIZATION ${quoteIdent(s.owner)}` : ''}` }],
          });
          schemas.set(s.name, o);
          newSchemas.set(s.name, o);
          droppedSchemas.delete(s.name);
        } else if (s.owner !== undefined && s.owner !== cur) {
          checks.push({ kind: 'role', name: s.owner, path: `${s.path}.owner` });
          creates.push({
            change: `change owner of schema ${s.name} in database ${name} to ${s.owner}`,
            mode: 'transaction',
            path: s.path,
            statements: [{ sql: `ALTER SCHEMA ${quoteIdent(s.name)} OWNER TO ${quoteIdent(s.owner)}` }],
          });
          schemas.set(s.name, s.owner);
          schemaOwnerChanges.set(s.name, [cur, s.owner]);
        }
      } else if (cur !== undefined) {
        drops.push({ change: `drop schema ${s.name} from database ${name}`, mode: 'transaction', statements: [{ sql: `DROP SCHEMA ${quoteIdent(s.name)}` }], path: s.path });
        schemas.delete(s.name);
        droppedSchemas.add(s.name);
      }
    }
    after.schemas = [...schemas].map(([n, o]) => ({ name: n, owner: o })).sort(byName);
  }

  // extensions
  const extDrops: Change[] = [];
  if (spec.extensions) {
    const exts = new Map((inside.extensions ?? []).map((e) => [e.name, { ...e }]));
    const view = () => [...exts.values()].map((e) => ({ name: e.name, schema: e.schema, version: e.version as string | null })).sort(byName);
    if (before.state === 'present') before.extensions = view();
    for (const e of spec.extensions) {
      const cur = exts.get(e.name);
      const q = quoteIdent(e.name);
      if (e.state === 'present') {
        if (!cur) {
          checks.push({ kind: 'extension', name: e.name, version: e.version, path: e.path });
          let sql = `CREATE EXTENSION ${q}`;
          if (e.schema !== undefined) sql += ` SCHEMA ${quoteIdent(e.schema)}`;
          if (e.version !== undefined) sql += ` VERSION ${quoteLiteral(e.version)}`;
          sql += ' CASCADE';
          creates.push({ change: `create extension ${e.name} in database ${name}`, mode: 'transaction', statements: [{ sql }], path: e.path });
          // The schema PostgreSQL picks without one is the first of the search path: public, usually.
          exts.set(e.name, { name: e.name, schema: e.schema ?? 'public', version: e.version ?? (null as unknown as string), relocatable: true });
        } else {
          if (e.schema !== undefined && e.schema !== cur.schema) {
            if (!cur.relocatable) {
              errors.push(`option '${e.path}.schema': extension ${e.name} is in schema ${cur.schema} and cannot be moved (it is not relocatable; drop it and create it again)`);
            } else {
              creates.push({
                change: `move extension ${e.name} of database ${name} to schema ${e.schema}`,
                mode: 'transaction',
                path: `${e.path}.schema`,
                statements: [{ sql: `ALTER EXTENSION ${q} SET SCHEMA ${quoteIdent(e.schema)}` }],
              });
              cur.schema = e.schema;
            }
          }
          if (e.version !== undefined && e.version !== cur.version) {
            checks.push({ kind: 'extension', name: e.name, version: e.version, path: e.path });
            creates.push({
              change: `update extension ${e.name} of database ${name} from ${cur.version} to ${e.version}`,
              mode: 'transaction',
              path: `${e.path}.version`,
              statements: [{ sql: `ALTER EXTENSION ${q} UPDATE TO ${quoteLiteral(e.version)}` }],
            });
            cur.version = e.version;
          }
        }
      } else if (cur) {
        extDrops.push({ change: `drop extension ${e.name} from database ${name}`, mode: 'transaction', statements: [{ sql: `DROP EXTENSION ${q}` }], path: e.path });
        exts.delete(e.name);
      }
    }
    after.extensions = view();
  }

  // privileges
  const privChanges: Change[] = [];
  if (spec.privileges) {
    // The owner change runs before the grants: they are planned against the ACL it leaves.
    const major = majorOf(server.version);
    const databaseAcl = current ? aclNewOwner(current.acl ?? [], current.owner, owner) : implicitAcl('database', owner, major);
    const p = planPrivileges(spec.privileges, { database: name, major, databaseAcl, inside, defaultOwner: owner, newSchemas, droppedSchemas, schemaOwnerChanges });
    if (before.state === 'present') {
      // The diff's "before" is the ACL as it is, before the owner changes.
      const asIs = current && (current.owner !== owner || schemaOwnerChanges.size)
        ? planPrivileges(spec.privileges, { database: name, major, databaseAcl: current.acl ?? [], inside, defaultOwner: current.owner, newSchemas, droppedSchemas }).before
        : p.before;
      before.privileges = asIs;
    }
    after.privileges = p.after;
    privChanges.push(...p.changes);
    checks.push(...p.checks);
    errors.push(...p.errors);
  }

  // publications
  const pubChanges: Change[] = [];
  if (spec.publications) {
    const pubs = new Map((inside.publications ?? []).map((p) => [p.name, p]));
    const view = () =>
      [...pubs.values()].map((p) => ({ name: p.name, tables: p.allTables ? ('ALL' as const) : p.tables.map(([s, t]) => `${s}.${t}`) })).sort(byName);
    if (before.state === 'present') before.publications = view();
    for (const p of spec.publications) {
      const cur = pubs.get(p.name);
      const q = quoteIdent(p.name);
      const forSql = p.tables ? `FOR TABLE ${p.tables.map(([s, t]) => `${quoteIdent(s)}.${quoteIdent(t)}`).join(', ')}` : 'FOR ALL TABLES';
      const wantedRow = { name: p.name, allTables: !p.tables, tables: p.tables ?? [], schemas: 0 };
      if (p.state === 'present') {
        if (!cur) {
          pubChanges.push({ change: `create publication ${p.name} in database ${name}`, mode: 'transaction', path: p.tables ? `${p.path}.tables` : p.path, statements: [{ sql: `CREATE PUBLICATION ${q} ${forSql}` }] });
          pubs.set(p.name, wantedRow);
        } else if (cur.allTables !== !p.tables) {
          pubChanges.push({
            change: `recreate publication ${p.name} of database ${name} ${p.tables ? 'for its tables' : 'for all tables'}`,
            mode: 'transaction',
            path: p.path,
            statements: [{ sql: `DROP PUBLICATION ${q}` }, { sql: `CREATE PUBLICATION ${q} ${forSql}` }],
          });
          pubs.set(p.name, wantedRow);
        } else if (p.tables) {
          const key = ([s, t]: [string, string]) => JSON.stringify([s, t]);
          const differs = cur.schemas > 0 || !sameSet(cur.tables.map(key), p.tables.map(key));
          if (differs) {
            pubChanges.push({
              change: `set the tables of publication ${p.name} of database ${name}`,
              mode: 'transaction',
              path: `${p.path}.tables`,
              statements: [{ sql: `ALTER PUBLICATION ${q} SET TABLE ${p.tables.map(([s, t]) => `${quoteIdent(s)}.${quoteIdent(t)}`).join(', ')}` }],
            });
            pubs.set(p.name, wantedRow);
          }
        }
      } else if (cur) {
        pubChanges.push({ change: `drop publication ${p.name} from database ${name}`, mode: 'transaction', path: p.path, statements: [{ sql: `DROP PUBLICATION ${q}` }] });
        pubs.delete(p.name);
      }
    }
    after.publications = view();
  }

  // subscriptions
  const subChanges: Change[] = [];
  if (spec.subscriptions) {
    const subs = new Map(input.subscriptions.map((s) => [s.name, { ...s }]));
    const view = () => [...subs.values()].map(subscriptionView).sort(byName);
    if (before.state === 'present') before.subscriptions = view();
    for (const s of spec.subscriptions) {
      const cur = subs.get(s.name);
      const q = quoteIdent(s.name);
      if (s.state === 'absent') {
        if (cur) {
          subChanges.push({ change: `drop subscription ${s.name} of database ${name}`, mode: 'autocommit', path: s.path, statements: [{ sql: `DROP SUBSCRIPTION ${q}` }] });
          subs.delete(s.name);
        }
        continue;
      }
      const conn = withPassword(s.conninfo!, s.password);
      const connSql = { sql: quoteLiteral(conn.real), shown: quoteLiteral(conn.shown) };
      const secret = s.password !== undefined;
      const pubList = s.publications.map(quoteIdent).join(', ');
      const stored = { name: s.name, database: name, enabled: s.enabled, conninfo: conn.real, publications: s.publications };
      if (!cur) {
        const opts = s.enabled ? '' : ' WITH (enabled = false)';
        subChanges.push({
          change: `create subscription ${s.name} in database ${name} to ${s.publications.join(', ')}`,
          mode: 'autocommit', path: s.path,
          statements: [{ sql: `CREATE SUBSCRIPTION ${q} CONNECTION ${connSql.sql} PUBLICATION ${pubList}${opts}`, shown: `CREATE SUBSCRIPTION ${q} CONNECTION ${connSql.shown} PUBLICATION ${pubList}${opts}`, secret }],
          subscription: s.name,
        });
        subs.set(s.name, stored);
        continue;
      }
      if (!s.enabled && cur.enabled) {
        subChanges.push({ change: `disable subscription ${s.name} of database ${name}`, mode: 'autocommit', path: s.path, statements: [{ sql: `ALTER SUBSCRIPTION ${q} DISABLE` }] });
      }
      let sameConn: boolean;
      try {
        sameConn = sameConninfo(parseConninfo(cur.conninfo), parseConninfo(conn.real));
      } catch {
        sameConn = false;
      }
      if (!sameConn) {
        subChanges.push({
          change: `change the connection of subscription ${s.name} of database ${name}`,
          mode: 'autocommit', path: s.path,
          statements: [{ sql: `ALTER SUBSCRIPTION ${q} CONNECTION ${connSql.sql}`, shown: `ALTER SUBSCRIPTION ${q} CONNECTION ${connSql.shown}`, secret }],
        });
      }
      if (!sameSet(cur.publications, s.publications)) {
        // Refreshing needs an enabled subscription (PostgreSQL refuses it on a disabled one).
        const opts = s.enabled ? '' : ' WITH (refresh = false)';
        subChanges.push({
          change: `set the publications of subscription ${s.name} of database ${name} to ${s.publications.join(', ')}`,
          mode: 'autocommit', path: s.path,
          statements: [{ sql: `ALTER SUBSCRIPTION ${q} SET PUBLICATION ${pubList}${opts}` }],
        });
      }
      if (s.enabled && !cur.enabled) {
        subChanges.push({ change: `enable subscription ${s.name} of database ${name}`, mode: 'autocommit', path: s.path, statements: [{ sql: `ALTER SUBSCRIPTION ${q} ENABLE` }] });
      }
      subs.set(s.name, stored);
    }
    after.subscriptions = view();
  }

  if (errors.length) throw new ModuleError(errors.join('; '));
  changes.push(...creates, ...privChanges, ...pubChanges, ...extDrops, ...drops, ...subChanges);
  return { name, changes, before, after, checks };
}
