// What an instance's configuration files should contain: the parameters of socle.conf, and the
// managed blocks of pg_hba.conf and pg_ident.conf.
import { userInfo } from 'node:os';
import { hbaQuote } from '../pg/hba';
import { ModuleError } from '../runtime';
import type { AuthMethod, SiteSettings } from '../settings';
import type { ParameterNeeds } from './component';
import type { InstanceLayout } from './layout';

export type ConfValue = string | number | boolean;

/** Marker of the pg_hba.conf block generated from the instance's `auth` option. */
export const HBA_AUTH_BLOCK = 'socle auth';
/** Marker of the pg_ident.conf block that lets the instance owner connect as the super-user. */
export const IDENT_BLOCK = 'socle';
export const IDENT_MAP = 'socle';

/**
 * Parameters the collection sets on every instance; the user's `settings` override them (but not
 * `port`, which is its own option).
 */
export function baseParameters(l: InstanceLayout, port: number): Record<string, ConfValue> {
  return {
    port,
    // PostgreSQL's own default: TCP on the loopback only, matching the default pg_hba.conf block.
    // Remote access is a decision: `settings: {listen_addresses: '*'}` plus hba records.
    listen_addresses: 'localhost',
    unix_socket_directories: l.socketDir,
    cluster_name: l.id,
    logging_collector: true,
    log_directory: l.logDir,
    log_filename: `${l.version}-${l.name}-%Y-%m-%d_%H%M%S.log`,
  };
}

/** What one component needs of postgresql.conf, by component name (see component.ts). */
export type ComponentParameters = Array<{ component: string; needs: ParameterNeeds }>;

/** `a, b` or `'a,b'` as a list of names (shared_preload_libraries and the like). */
export function listEntries(value: ConfValue | undefined): string[] {
  if (value === undefined || value === '') return [];
  return String(value).split(',').map((s) => s.trim().replace(/^"(.*)"$/, '$1')).filter(Boolean);
}

/**
 * socle.conf's parameters: the collection's base, then the components' defaults, then the user's
 * `settings`, then what components require (a user value contradicting one is an error naming
 * both) and the entries components add to list parameters (merged, never overwritten). `port` is
 * always the option's.
 */
export function managedParameters(
  l: InstanceLayout,
  port: number,
  settings: Record<string, ConfValue>,
  components: ComponentParameters = [],
  same: (name: string, a: ConfValue, b: ConfValue) => boolean = (_n, a, b) => String(a) === String(b),
): Record<string, ConfValue> {
  const out: Record<string, ConfValue> = { ...baseParameters(l, port) };
  for (const { needs } of components) Object.assign(out, lower(needs.defaults ?? {}));
  const user = lower(settings);
  Object.assign(out, user);
  const errors: string[] = [];
  const requiredBy = new Map<string, { component: string; value: ConfValue }>();
  for (const { component, needs } of components) {
    for (const [name, value] of Object.entries(lower(needs.required ?? {}))) {
      const other = requiredBy.get(name);
      if (other && !same(name, other.value, value)) {
        errors.push(`parameter ${name}: component ${other.component} needs ${String(other.value)}, component ${component} needs ${String(value)}`);
      } else if (name in user && !same(name, user[name], value)) {
        errors.push(`option 'settings.${name}': ${String(user[name])} contradicts component ${component}, which needs ${name} = ${String(value)}`);
      }
      requiredBy.set(name, { component, value });
      out[name] = value;
    }
  }
  for (const { needs } of components) {
    for (const [name, entries] of Object.entries(lower(needs.lists ?? {}))) {
      const merged = listEntries(out[name]);
      for (const e of entries) if (!merged.includes(e)) merged.push(e);
      out[name] = merged.join(', ');
    }
  }
  if (errors.length) throw new ModuleError(errors.join('; '));
  out.port = port;
  return out;
}

function lower<T>(m: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [k.toLowerCase(), v]));
}

export const MANAGED_CONF_HEADER = [
  'Written by socle.postgresql (the instance module): changes here are overwritten.',
  'Included at the end of postgresql.conf; ALTER SYSTEM (postgresql.auto.conf) still wins.',
];

export const INCLUDE_LINE = "include = 'socle.conf'\t# managed by socle.postgresql";

export interface Auth {
  local: AuthMethod;
  host: AuthMethod;
  hostssl: AuthMethod | null;
}

export function effectiveAuth(settings: SiteSettings, declared?: Partial<Auth>): Auth {
  const site = settings.postgresql.auth;
  return {
    local: declared?.local ?? site.local,
    host: declared?.host ?? site.host,
    hostssl: declared?.hostssl ?? site.hostssl,
  };
}

/** `peer` maps the owner to the super-user through pg_ident.conf; other methods take no options. */
function localMethod(method: AuthMethod): string {
  return method === 'peer' ? `peer map=${IDENT_MAP}` : method;
}

/** Methods that ask a remote client for a password (the only ones offered beyond loopback). */
const PASSWORD_METHODS = new Set(['scram-sha-256', 'md5', 'password']);

/**
 * The managed pg_hba.conf block: local and loopback connections by the `auth` methods, and, with
 * a replication role, replication connections of that role from any address (so that standbys
 * on other hosts connect with no hand-written rule), always with a password method.
 */
export function hbaAuthLines(auth: Auth, replrole: string | null = null): string[] {
  const row = (...cols: string[]) => cols.map((c, i) => (i < cols.length - 1 ? c.padEnd(i === 3 ? 24 : 16) : c)).join('');
  const lines = [];
  for (const db of ['all', 'replication']) {
    lines.push(row('local', db, 'all', '', localMethod(auth.local)));
    lines.push(row('host', db, 'all', '127.0.0.1/32', auth.host));
    lines.push(row('host', db, 'all', '::1/128', auth.host));
    if (auth.hostssl) lines.push(row('hostssl', db, 'all', 'all', auth.hostssl));
  }
  if (replrole) {
    lines.push(row('host', 'replication', hbaQuote(replrole), 'all', PASSWORD_METHODS.has(auth.host) ? auth.host : 'scram-sha-256'));
  }
  return lines;
}

/** The owner (the system user running this task) may connect as the super-user; others as themselves. */
export function identLines(surole: string): string[] {
  const owner = userInfo().username;
  return [`${IDENT_MAP}\t${owner}\t${surole}`, `${IDENT_MAP}\t/^(.*)$\t\\1`];
}
