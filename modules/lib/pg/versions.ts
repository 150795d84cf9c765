// What differs between PostgreSQL major versions, in one place. Code whose behaviour depends on
// the server's major version asks here, through a named predicate or constant, instead of
// comparing version numbers itself: what a new major changes for the collection is read (and
// changed) in this file only. Each entry says what differs and who depends on it.
//
// Majors are plain numbers (15, 16, 17), as `server_version_num / 10000` or the name of
// /usr/lib/postgresql/<major> give them. Tested: 15 (Debian 12) and 17 (Debian 13). The code
// assumes 13 or newer throughout (DROP DATABASE ... WITH (FORCE) is 13's), so nothing older is
// listed.
//
// Not listed because nothing here depends on a major: which parameters need a restart and their
// types and units are read from the server itself (pg_settings, `postgres --describe-config`);
// the initdb options the instance module passes exist in every supported major except the one
// entry below. Differences the collection does not meet yet, to add here when it does:
// pg_stat_replication and pg_basebackup options (standbys), GRANT ... WITH SET FALSE on
// memberships (16), pg_database.daticulocale renamed datlocale (17), the builtin locale
// provider (17), pg_stat_checkpointer split from pg_stat_bgwriter (17).
import type { Connection } from './client';

export type Major = number;

/** `150004` or `'150004'` (server_version_num) -> 15; `'17'` (a directory name) -> 17. */
export function majorOf(version: number | string): Major {
  const n = Number(version);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`not a PostgreSQL version: ${version}`);
  return n >= 10000 ? Math.floor(n / 10000) : Math.floor(n);
}

const majors = new WeakMap<Connection, Major>();

/** The server's major, read once per connection. */
export async function serverMajor(conn: Connection): Promise<Major> {
  let m = majors.get(conn);
  if (m === undefined) {
    const { rows } = await conn.query("SELECT current_setting('server_version_num') AS v");
    m = majorOf(rows[0].v);
    majors.set(conn, m);
  }
  return m;
}

/**
 * 15: schema `public` of a new database belongs to `pg_database_owner` and PUBLIC only has USAGE
 * on it (before: owned by the bootstrap super-user, CREATE for PUBLIC too). database/index.ts
 * models template0's contents with it (a database cloned from template0 is not readable before
 * it exists).
 */
export function publicSchemaOwnedByDatabaseOwner(m: Major): boolean {
  return m >= 15;
}

/**
 * 15: publications can name whole schemas (FOR TABLES IN SCHEMA), listed in
 * pg_publication_namespace, a catalog older servers lack. database/catalog.ts counts them only
 * where the catalog exists.
 */
export function publicationsOfSchemas(m: Major): boolean {
  return m >= 15;
}

/**
 * 16: pg_auth_members holds one row per (role, member, grantor), and a REVOKE of a membership
 * without GRANTED BY only removes the grant made by the role running it (for a super-user: the
 * one made by the bootstrap super-user); others stay, with a mere warning. Memberships granted by
 * another role are revoked GRANTED BY each grantor (role/plan.ts). Before 16 there was one row
 * per (role, member) and REVOKE removed it whoever had granted it.
 */
export function membershipsPerGrantor(m: Major): boolean {
  return m >= 16;
}

/**
 * 16: a membership has options of its own, GRANT ... WITH INHERIT TRUE|FALSE (and SET), stored in
 * pg_auth_members.inherit_option; the role's INHERIT attribute is only the default of new grants.
 * Before 16 the attribute alone decided, for every membership. role/plan.ts keeps the meaning of
 * the role's `inherit` option: its declared memberships are granted WITH INHERIT <inherit>.
 */
export function membershipOptions(m: Major): boolean {
  return m >= 16;
}

/**
 * 16: pg_hba_file_rules names the file of each rule (file_name, rule_number), pg_hba.conf being
 * able to include others. The check of a written pg_hba.conf (pg/file-checks.ts) names the file
 * of an error where the server says it.
 */
export function hbaRulesNameTheirFile(m: Major): boolean {
  return m >= 16;
}

/**
 * 17: MAINTAIN (VACUUM, ANALYZE, CLUSTER, REFRESH MATERIALIZED VIEW, REINDEX, LOCK TABLE) is a
 * privilege on tables, so ALL on tables includes it and table owners hold it (acldefault).
 * database/spec.ts and privileges.ts: the privileges on tables of a server.
 */
export function tablePrivileges(m: Major): readonly string[] {
  const base = ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'];
  return m >= 17 ? [...base, 'MAINTAIN'] : base;
}

/** The major from which a privilege on tables exists (SELECT...: any supported one). */
export function tablePrivilegeSince(privilege: string): Major {
  return privilege === 'MAINTAIN' ? 17 : 0;
}

/**
 * 18: initdb enables data checksums by default, and --no-data-checksums (new in 18) turns them
 * off; before, they were off unless --data-checksums. instance/create.ts asks for what the
 * options say, whatever the default.
 */
export function initdbChecksumsByDefault(m: Major): boolean {
  return m >= 18;
}
