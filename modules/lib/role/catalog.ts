// What the instance knows about the roles a task declares, read in as few queries as possible
// for any number of roles: one for the roles (attributes, password verifier, memberships,
// configuration), one more only when timestamps or parameters need the server's reading (and
// the server's major, once per connection: how memberships are stored differs from 16).
import type { Connection } from '../pg/client';
import { membershipOptions, serverMajor, type Major } from '../pg/versions';
import { ModuleError } from '../runtime';
import type { NormalizedRole } from './spec';

export interface MembershipGrant {
  grantor: string;
  inherit: boolean;
}

export interface RoleRow {
  name: string;
  superuser: boolean;
  inherit: boolean;
  createrole: boolean;
  createdb: boolean;
  login: boolean;
  replication: boolean;
  bypassrls: boolean;
  connection_limit: number;
  /** rolpassword: a SCRAM or md5 verifier, or null. */
  password: string | null;
  /** rolvaliduntil as text in the session's time zone, or null. */
  valid_until: string | null;
  /** Roles it is a member of, sorted. */
  member_of: string[];
  /**
   * Each membership's grants, by grantor's name (16+ keeps one per grantor), with whether it
   * passes privileges on (INHERIT); absent: not read.
   */
  grants?: Record<string, MembershipGrant[]>;
  /** Database-independent settings (`name=value`), pg_db_role_setting.setconfig. */
  config: string[];
}

export interface ParameterInfo {
  context: string;
  vartype: string;
  unit: string | null;
}

export interface RoleCatalog {
  /** Major version of the server (how memberships are revoked and inherited differs: pg/versions.ts). */
  major: Major;
  /** Existing roles among those asked for, by name. */
  roles: Map<string, RoleRow>;
  /** Declared `valid_until` values as the server reads them (text, same form as RoleRow.valid_until). */
  validUntil: Map<string, string>;
  /** pg_settings entries of the parameters named in `configuration`. */
  parameters: Map<string, ParameterInfo>;
}

/**
 * One row per role asked for. `grants`: each membership's grants, one per grantor, with whether it
 * passes the role's privileges on (its INHERIT option from 16; before, the role's own attribute).
 */
export function rolesQuery(major: Major): string {
  const inherit = membershipOptions(major) ? 'n.inherit_option' : 'a.rolinherit';
  return `SELECT a.rolname AS name, a.rolsuper AS superuser, a.rolinherit AS inherit,
       a.rolcreaterole AS createrole, a.rolcreatedb AS createdb, a.rolcanlogin AS login,
       a.rolreplication AS replication, a.rolbypassrls AS bypassrls, a.rolconnlimit AS connection_limit,
       a.rolpassword AS password, a.rolvaliduntil::text AS valid_until,
       ARRAY(SELECT DISTINCT g.rolname::text FROM pg_auth_members m JOIN pg_authid g ON g.oid = m.roleid
              WHERE m.member = a.oid ORDER BY 1) AS member_of,
       COALESCE((SELECT json_object_agg(g.rolname,
                          (SELECT json_agg(json_build_object('grantor', w.rolname, 'inherit', ${inherit}) ORDER BY w.rolname)
                             FROM pg_auth_members n JOIN pg_authid w ON w.oid = n.grantor
                            WHERE n.member = a.oid AND n.roleid = g.oid))
                   FROM pg_authid g
                  WHERE g.oid IN (SELECT roleid FROM pg_auth_members WHERE member = a.oid)), '{}') AS grants,
       COALESCE((SELECT s.setconfig FROM pg_db_role_setting s WHERE s.setrole = a.oid AND s.setdatabase = 0), '{}') AS config
  FROM pg_authid a
 WHERE a.rolname = ANY($1::text[])`;
}

/** Every role name a set of declarations refers to: themselves, their memberships, reassign targets. */
export function referencedNames(roles: NormalizedRole[]): string[] {
  const names = new Set<string>();
  for (const r of roles) {
    names.add(r.name);
    for (const m of r.memberships.keys()) names.add(m);
    if (r.reassignOwned !== undefined) names.add(r.reassignOwned);
  }
  return [...names];
}

export async function readCatalog(conn: Connection, roles: NormalizedRole[]): Promise<RoleCatalog> {
  const major = await serverMajor(conn);
  const { rows } = await conn.query<RoleRow>(rolesQuery(major), [referencedNames(roles)]);
  const catalog: RoleCatalog = {
    major,
    roles: new Map(rows.map((r) => [r.name, r])),
    validUntil: new Map(),
    parameters: new Map(),
  };

  const stamps = [...new Set(roles.filter((r) => r.state === 'present' && r.validUntil !== undefined).map((r) => r.validUntil!))];
  if (stamps.length) {
    try {
      const res = await conn.query<{ v: string; t: string }>('SELECT v, v::timestamptz::text AS t FROM unnest($1::text[]) AS v', [stamps]);
      for (const r of res.rows) catalog.validUntil.set(r.v, r.t);
    } catch (err) {
      // Find which one the server cannot read, to name its option.
      for (const r of roles.filter((x) => x.validUntil !== undefined)) {
        try {
          await conn.query('SELECT $1::timestamptz', [r.validUntil]);
        } catch (e) {
          throw new ModuleError(`option '${r.where}valid_until': PostgreSQL cannot read '${r.validUntil}' as a timestamp (${(e as Error).message})`);
        }
      }
      throw err;
    }
  }

  const params = [...new Set(roles.flatMap((r) => (r.state === 'present' && r.configuration ? Object.keys(r.configuration) : [])))];
  const current = rows.flatMap((r) => r.config.map((c) => c.slice(0, c.indexOf('=')).toLowerCase()));
  const names = [...new Set([...params, ...current])];
  if (names.length) {
    const res = await conn.query<ParameterInfo & { name: string }>(
      'SELECT name, context, vartype, unit FROM pg_settings WHERE name = ANY($1::text[])',
      [names],
    );
    for (const r of res.rows) catalog.parameters.set(r.name, { context: r.context, vartype: r.vartype, unit: r.unit });
  }
  return catalog;
}

/** Databases that accept connections, for DROP OWNED / REASSIGN OWNED in each. */
export async function listDatabases(conn: Connection): Promise<{ current: string; all: string[] }> {
  const { rows } = await conn.query<{ current: string; all: string[] }>(
    'SELECT current_database()::text AS current, ARRAY(SELECT datname::text FROM pg_database WHERE datallowconn ORDER BY 1) AS all',
  );
  return rows[0];
}
