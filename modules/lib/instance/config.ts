// What an instance's configuration files should contain: the parameters of socle.conf, and the
// managed blocks of pg_hba.conf and pg_ident.conf.
import { userInfo } from 'node:os';
import type { AuthMethod, SiteSettings } from '../settings';
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

export function managedParameters(l: InstanceLayout, port: number, settings: Record<string, ConfValue>): Record<string, ConfValue> {
  const out: Record<string, ConfValue> = { ...baseParameters(l, port) };
  for (const [k, v] of Object.entries(settings)) out[k.toLowerCase()] = v;
  out.port = port;
  return out;
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

export function hbaAuthLines(auth: Auth): string[] {
  const row = (...cols: string[]) => cols.map((c, i) => (i < cols.length - 1 ? c.padEnd(i === 3 ? 24 : 16) : c)).join('');
  const lines = [];
  for (const db of ['all', 'replication']) {
    lines.push(row('local', db, 'all', '', localMethod(auth.local)));
    lines.push(row('host', db, 'all', '127.0.0.1/32', auth.host));
    lines.push(row('host', db, 'all', '::1/128', auth.host));
    if (auth.hostssl) lines.push(row('hostssl', db, 'all', 'all', auth.hostssl));
  }
  return lines;
}

/** The owner (the system user running this task) may connect as the super-user; others as themselves. */
export function identLines(surole: string): string[] {
  const owner = userInfo().username;
  return [`${IDENT_MAP}\t${owner}\t${surole}`, `${IDENT_MAP}\t/^(.*)$\t\\1`];
}
