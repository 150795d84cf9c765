// A database as declared (schemas/defs/database.schema.yml), normalised for planning: "names or
// objects" lists become objects, privileges are expanded and checked against what they are on,
// every item keeps the option path that names it in messages.
import type { DatabaseOptions } from '../../generated/database';
import { ModuleError } from '../runtime';
import { identifierTooLong } from '../pg/quote';
import { isUri, parseConninfo } from '../pg/conninfo';
import { tablePrivileges, type Major } from '../pg/versions';

/** One database as the `database` module and the instance's `databases` list declare it. */
export type DatabaseSpec = Omit<DatabaseOptions, 'instance'>;

export type State = 'present' | 'absent';
export type PrivilegeTarget = 'database' | 'schema' | 'tables' | 'sequences' | 'functions' | 'default_tables' | 'default_sequences' | 'default_functions';

/** Names an option in messages: `owner` for the module, `databases[2].owner` inside an instance. */
export type OptionPath = (path: string) => string;

export interface SchemaItem { name: string; owner?: string; state: State; path: string }
export interface ExtensionItem { name: string; schema?: string; version?: string; state: State; path: string }
export interface PrivilegeItem {
  /** `PUBLIC` for the pseudo-role (any case in the options). */
  role: string;
  /** Upper case, expanded (`ALL`), without duplicates, in PostgreSQL's order. */
  privileges: string[];
  /** `ALL` was given: the privileges are those the server has (planning narrows them). */
  all: boolean;
  on: PrivilegeTarget;
  schema?: string;
  state: State;
  path: string;
}
export interface PublicationItem { name: string; tables?: Array<[string, string]>; state: State; path: string }
export interface SubscriptionItem {
  name: string;
  conninfo?: string;
  password?: string;
  publications: string[];
  enabled: boolean;
  state: State;
  path: string;
}

export interface NormalizedSpec {
  name: string;
  state: State;
  owner?: string;
  settings?: Record<string, string | number | boolean>;
  schemas?: SchemaItem[];
  extensions?: ExtensionItem[];
  locale?: string;
  encoding?: string;
  template?: string;
  tablespace?: string;
  connectionLimit?: number;
  privileges?: PrivilegeItem[];
  publications?: PublicationItem[];
  subscriptions?: SubscriptionItem[];
  clone?: { dsn: string; schemaOnly: boolean };
  forceDrop: boolean;
  path: OptionPath;
}

/** Privileges by target, in the order PostgreSQL lists them (aclexplode's privilege_type). */
/** The privileges on each kind of object that a server of major `major` has, in PostgreSQL's order. */
export function privilegesOn(kind: string, major: Major): readonly string[] {
  switch (kind) {
    case 'database': return ['CREATE', 'TEMPORARY', 'CONNECT'];
    case 'schema': return ['USAGE', 'CREATE'];
    case 'tables': return tablePrivileges(major);
    case 'sequences': return ['SELECT', 'UPDATE', 'USAGE'];
    case 'functions': return ['EXECUTE'];
    default: return [];
  }
}

/** Every privilege name the options accept, whatever the server (checked against it when planning). */
export const PRIVILEGES: Record<string, readonly string[]> = Object.fromEntries(
  ['database', 'schema', 'tables', 'sequences', 'functions'].map((k) => [k, privilegesOn(k, Infinity)]),
);

export function privilegeKind(on: PrivilegeTarget): string {
  return on.startsWith('default_') ? on.slice('default_'.length) : on;
}

export function isPublic(role: string): boolean {
  return role.toUpperCase() === 'PUBLIC';
}

/**
 * `schema.table`, `table` (schema public) or with double-quoted parts (`"my.schema"."Orders"`);
 * unquoted parts are taken as written (case kept), like every name in these options.
 */
export function parseQualifiedName(text: string): [string, string] | null {
  const parts: string[] = [];
  let i = 0;
  while (i <= text.length) {
    let part = '';
    if (text[i] === '"') {
      i++;
      let closed = false;
      while (i < text.length) {
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            part += '"';
            i += 2;
            continue;
          }
          closed = true;
          i++;
          break;
        }
        part += text[i++];
      }
      if (!closed) return null;
    } else {
      while (i < text.length && text[i] !== '.') part += text[i++];
    }
    if (part === '') return null;
    parts.push(part);
    if (i >= text.length) break;
    if (text[i] !== '.') return null;
    i++;
    if (i >= text.length) return null;
  }
  if (parts.length === 1) return ['public', parts[0]];
  if (parts.length === 2) return [parts[0], parts[1]];
  return null;
}

function fail(messages: string[]): void {
  if (messages.length) throw new ModuleError(messages.join('; '));
}

/** Checks what the schema cannot say and returns the normalised spec; throws a ModuleError naming every bad option. */
export function normalizeSpec(spec: DatabaseSpec, path: OptionPath): NormalizedSpec {
  const errors: string[] = [];
  const tooLong = (name: string, p: string) => {
    if (identifierTooLong(name)) errors.push(`option '${path(p)}': '${name}' is longer than 63 bytes (PostgreSQL would truncate it)`);
  };
  tooLong(spec.name, 'name');
  if (spec.name.includes('\0')) errors.push(`option '${path('name')}' must not contain a NUL character`);
  const state: State = spec.state ?? 'present';
  if (spec.force_drop && state !== 'absent') errors.push(`option '${path('force_drop')}' is only valid with state: absent`);

  const schemas = spec.schemas?.map((s, i): SchemaItem => {
    const o = typeof s === 'string' ? { name: s } : s;
    tooLong(o.name, `schemas[${i}].name`);
    return { name: o.name, owner: o.owner, state: o.state ?? 'present', path: path(`schemas[${i}]`) };
  });
  const extensions = spec.extensions?.map((e, i): ExtensionItem => {
    const o = typeof e === 'string' ? { name: e } : e;
    return { name: o.name, schema: o.schema, version: o.version, state: o.state ?? 'present', path: path(`extensions[${i}]`) };
  });

  const privileges = spec.privileges?.map((p, i): PrivilegeItem => {
    const kind = privilegeKind(p.on);
    const valid = PRIVILEGES[kind];
    const wanted = new Set<string>();
    let all = false;
    for (const raw of p.privileges) {
      let priv = raw.toUpperCase();
      if (priv === 'TEMP') priv = 'TEMPORARY';
      if (priv === 'ALL') {
        all = true;
        valid.forEach((v) => wanted.add(v));
      }
      else if (!valid.includes(priv)) {
        errors.push(`option '${path(`privileges[${i}].privileges`)}': ${priv} is not a privilege on ${kind} (valid: ${valid.join(', ')}, ALL)`);
      } else wanted.add(priv);
    }
    if (p.on === 'database' && p.schema !== undefined) errors.push(`option '${path(`privileges[${i}].schema`)}' must not be given with on: database`);
    if (['schema', 'tables', 'sequences', 'functions'].includes(p.on) && p.schema === undefined) {
      errors.push(`option '${path(`privileges[${i}].schema`)}' is required with on: ${p.on}`);
    }
    return {
      role: isPublic(p.role) ? 'PUBLIC' : p.role,
      privileges: valid.filter((v) => wanted.has(v)),
      all,
      on: p.on,
      schema: p.schema,
      state: p.state ?? 'present',
      path: path(`privileges[${i}]`),
    };
  });

  const publications = spec.publications?.map((p, i): PublicationItem => {
    let tables: Array<[string, string]> | undefined;
    if (p.tables) {
      tables = [];
      p.tables.forEach((t, j) => {
        const q = parseQualifiedName(t);
        if (!q) errors.push(`option '${path(`publications[${i}].tables[${j}]`)}': expected table or schema.table, got '${t}'`);
        else if (!tables!.some(([s, n]) => s === q[0] && n === q[1])) tables!.push(q);
      });
      if (p.tables.length === 0) errors.push(`option '${path(`publications[${i}].tables`)}' must not be empty (leave it out for FOR ALL TABLES)`);
    }
    return { name: p.name, tables, state: p.state ?? 'present', path: path(`publications[${i}]`) };
  });

  const subscriptions = spec.subscriptions?.map((s, i): SubscriptionItem => {
    const st: State = s.state ?? 'present';
    const conninfo = s.connection?.conninfo;
    if (st === 'present') {
      if (!conninfo) errors.push(`option '${path(`subscriptions[${i}].connection`)}' is required`);
      if (!s.publications?.length) errors.push(`option '${path(`subscriptions[${i}].publications`)}' is required`);
    }
    if (conninfo !== undefined) {
      const p = path(`subscriptions[${i}].connection.conninfo`);
      if (isUri(conninfo)) errors.push(`option '${p}': write it in keyword=value form (host=... port=... dbname=...), not as a URI`);
      else {
        try {
          if (parseConninfo(conninfo).has('password')) errors.push(`option '${p}' must not contain a password (use connection.password)`);
        } catch (e) {
          errors.push(`option '${p}': ${(e as Error).message}`);
        }
      }
    }
    return {
      name: s.name,
      conninfo,
      password: s.connection?.password,
      publications: [...new Set(s.publications ?? [])],
      enabled: s.enabled ?? true,
      state: st,
      path: path(`subscriptions[${i}]`),
    };
  });

  if (spec.settings) {
    for (const k of Object.keys(spec.settings)) {
      if (!/^[A-Za-z_][A-Za-z0-9_$]*(?:\.[A-Za-z_][A-Za-z0-9_$]*)*$/.test(k)) errors.push(`option '${path(`settings.${k}`)}': not a parameter name`);
    }
  }
  fail(errors);
  return {
    name: spec.name,
    state,
    owner: spec.owner,
    settings: spec.settings,
    schemas,
    extensions,
    locale: spec.locale,
    encoding: spec.encoding,
    template: spec.template,
    tablespace: spec.tablespace,
    connectionLimit: spec.connection_limit,
    privileges,
    publications,
    subscriptions,
    clone: spec.clone ? { dsn: spec.clone.dsn, schemaOnly: spec.clone.schema_only ?? false } : undefined,
    forceDrop: spec.force_drop ?? false,
    path,
  };
}
