// What the catalogs say about databases, read with as few queries as possible: one query over
// pg_database (+ pg_db_role_setting, the database ACL) for every named database at once; inside a
// database, one query for whatever the spec declares (schemas, extensions, publications, ACLs);
// pg_subscription (a shared catalog) once for all databases that declare subscriptions.
import type { Connection } from '../pg/client';
import { byName } from './by-name';
import { majorOf, publicationsOfSchemas } from '../pg/versions';

/** [grantee ('PUBLIC' for the pseudo-role), privilege_type] pairs, as aclexplode gives them. */
export type AclPairs = Array<[string, string]>;

export interface DatabaseRow {
  name: string;
  owner: string;
  encoding: string;
  collate: string;
  ctype: string;
  connectionLimit: number;
  tablespace: string;
  allowConn: boolean;
  /** pg_db_role_setting.setconfig for every role: `name=value`. */
  settings: string[];
  /** ACL with PostgreSQL's default when datacl is NULL; null when not read. */
  acl: AclPairs | null;
  hasSubscriptions: boolean;
}

export interface ServerFacts {
  /** server_version_num */
  version: number;
  currentUser: string;
}

export interface SchemaRow { name: string; owner: string }
export interface ExtensionRow { name: string; schema: string; version: string; relocatable: boolean }
export interface PublicationRow { name: string; allTables: boolean; tables: Array<[string, string]>; schemas: number }
export interface DefaultAclRow { role: string; schema: string | null; type: string; acl: AclPairs }
export interface ObjectAcl {
  /** [schema, kind (tables|sequences|functions), count] */
  totals: Array<[string, string, number]>;
  /** [schema, kind, grantee, privilege, objects holding it] */
  grants: Array<[string, string, string, string, number]>;
}

/** What lives inside one database; a part is undefined when the spec did not ask for it. */
export interface InsideCatalog {
  schemas?: SchemaRow[];
  extensions?: ExtensionRow[];
  publications?: PublicationRow[];
  /** [schema, grantee, privilege] for the schemas named by privileges */
  schemaAcl?: Array<[string, string, string]>;
  /** Which of the schemas named by privileges exist. */
  aclSchemasFound?: string[];
  objectAcl?: ObjectAcl;
  defaultAcl?: DefaultAclRow[];
}

export interface SubscriptionRow {
  database: string;
  name: string;
  enabled: boolean;
  /** As stored, password included: never shown. */
  conninfo: string;
  publications: string[];
}

export async function readDatabases(conn: Connection, names: string[], withAcl: boolean): Promise<{ rows: Map<string, DatabaseRow>; server: ServerFacts }> {
  const { rows } = await conn.query(
    `SELECT d.datname, pg_get_userbyid(d.datdba) AS owner, pg_encoding_to_char(d.encoding) AS encoding,
            d.datcollate, d.datctype, d.datconnlimit, t.spcname, d.datallowconn,
            coalesce((SELECT s.setconfig FROM pg_db_role_setting s WHERE s.setdatabase = d.oid AND s.setrole = 0), '{}') AS settings,
            CASE WHEN $2 THEN (SELECT coalesce(json_agg(json_build_array(coalesce(r.rolname, 'PUBLIC'), a.privilege_type)), '[]')
                                 FROM aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
                                 LEFT JOIN pg_roles r ON r.oid = a.grantee) END AS acl,
            EXISTS (SELECT 1 FROM pg_subscription s WHERE s.subdbid = d.oid) AS has_subscriptions
       FROM pg_database d JOIN pg_tablespace t ON t.oid = d.dattablespace
      WHERE d.datname = ANY($1)
     UNION ALL
     SELECT NULL, current_user, current_setting('server_version_num'), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL`,
    [names, withAcl],
  );
  const out = new Map<string, DatabaseRow>();
  let server: ServerFacts = { version: 0, currentUser: '' };
  for (const r of rows) {
    if (r.datname === null) {
      server = { version: Number(r.encoding), currentUser: r.owner };
      continue;
    }
    out.set(r.datname, {
      name: r.datname,
      owner: r.owner,
      encoding: r.encoding,
      collate: r.datcollate,
      ctype: r.datctype,
      connectionLimit: r.datconnlimit,
      tablespace: r.spcname,
      allowConn: r.datallowconn,
      settings: r.settings ?? [],
      acl: r.acl ?? null,
      hasSubscriptions: r.has_subscriptions,
    });
  }
  return { rows: out, server };
}

export interface InsideRequest {
  schemas: boolean;
  extensions: boolean;
  publications: boolean;
  /** Schemas named by privileges on schema/tables/sequences/functions, or null. */
  aclSchemas: string[] | null;
  /** Grantees of those privileges (PUBLIC included as 'PUBLIC'). */
  aclRoles: string[];
  /** Roles whose default privileges are declared (the database owner), or null. */
  defaultRoles: string[] | null;
}

export function insideNeeded(req: InsideRequest): boolean {
  return req.schemas || req.extensions || req.publications || req.aclSchemas !== null || req.defaultRoles !== null;
}

/** One round trip for everything the spec declares inside a database. */
export async function readInside(conn: Connection, req: InsideRequest, serverVersion: number): Promise<InsideCatalog> {
  const pubSchemas = publicationsOfSchemas(majorOf(serverVersion)) ? '(SELECT count(*) FROM pg_publication_namespace x WHERE x.pnpubid = p.oid)' : '0';
  // Only the parts asked for are in the statement: a backend that has just started plans every
  // subquery it is given against cold catalog caches, and with hundreds of databases (one
  // connection each) that planning was most of a no-op task.
  const params: unknown[] = [];
  const param = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  const parts: string[] = [];
  if (req.extensions) {
    parts.push(`(SELECT coalesce(json_agg(json_build_array(e.extname, n.nspname, e.extversion, e.extrelocatable) ORDER BY e.extname), '[]')
                  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace) AS extensions`);
  }
  if (req.publications) {
    parts.push(`(SELECT coalesce(json_agg(json_build_array(p.pubname, p.puballtables,
                        (SELECT coalesce(json_agg(json_build_array(n.nspname, c.relname) ORDER BY n.nspname, c.relname), '[]')
                           FROM pg_publication_rel pr JOIN pg_class c ON c.oid = pr.prrelid
                           JOIN pg_namespace n ON n.oid = c.relnamespace WHERE pr.prpubid = p.oid),
                        ${pubSchemas}) ORDER BY p.pubname), '[]')
                  FROM pg_publication p) AS publications`);
  }
  if (req.aclSchemas) {
    const schemas = param(req.aclSchemas);
    const roles = param(req.aclRoles);
    parts.push(`(SELECT coalesce(json_agg(json_build_array(n.nspname, coalesce(r.rolname, 'PUBLIC'), a.privilege_type)), '[]')
                  FROM pg_namespace n CROSS JOIN LATERAL aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a
                  LEFT JOIN pg_roles r ON r.oid = a.grantee
                 WHERE n.nspname = ANY(${schemas}) AND coalesce(r.rolname, 'PUBLIC') = ANY(${roles})) AS schema_acl`);
    parts.push(`(SELECT coalesce(array_agg(n.nspname::text), '{}') FROM pg_namespace n WHERE n.nspname = ANY(${schemas})) AS acl_schemas`);
    parts.push(`(WITH objs AS (
                   SELECT c.oid, n.nspname, CASE WHEN c.relkind = 'S' THEN 'sequences' ELSE 'tables' END AS kind,
                          coalesce(c.relacl, acldefault(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char", c.relowner)) AS acl
                     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE c.relkind IN ('r', 'v', 'm', 'f', 'p', 'S') AND n.nspname = ANY(${schemas})
                   UNION ALL
                   SELECT p.oid, n.nspname, 'functions', coalesce(p.proacl, acldefault('f', p.proowner))
                     FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                    WHERE p.prokind <> 'p' AND n.nspname = ANY(${schemas})
                 ), totals AS (
                   SELECT nspname, kind, count(*) AS total FROM objs GROUP BY 1, 2
                 ), grants AS (
                   SELECT o.nspname, o.kind, coalesce(r.rolname, 'PUBLIC') AS grantee, a.privilege_type, count(DISTINCT o.oid) AS n
                     FROM objs o CROSS JOIN LATERAL aclexplode(o.acl) a LEFT JOIN pg_roles r ON r.oid = a.grantee
                    WHERE coalesce(r.rolname, 'PUBLIC') = ANY(${roles})
                    GROUP BY 1, 2, 3, 4
                 )
                 SELECT json_build_object(
                   'totals', (SELECT coalesce(json_agg(json_build_array(nspname, kind, total)), '[]') FROM totals),
                   'grants', (SELECT coalesce(json_agg(json_build_array(nspname, kind, grantee, privilege_type, n)), '[]') FROM grants))
               ) AS object_acl`);
  }
  if (req.defaultRoles) {
    parts.push(`(SELECT coalesce(json_agg(json_build_array(pg_get_userbyid(d.defaclrole), n.nspname, d.defaclobjtype,
                        (SELECT coalesce(json_agg(json_build_array(coalesce(r.rolname, 'PUBLIC'), a.privilege_type)), '[]')
                           FROM aclexplode(d.defaclacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee))), '[]')
                  FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace
                 WHERE pg_get_userbyid(d.defaclrole) = ANY(${param(req.defaultRoles)})) AS default_acl`);
  }
  const out: InsideCatalog = {};
  if (req.schemas) out.schemas = await readSchemas(conn);
  if (!parts.length) return out;
  // Without parameters, the simple query protocol: one round trip instead of parse/bind/execute.
  const { rows } = params.length ? await conn.query(`SELECT ${parts.join(',\n')}`, params) : await conn.query(`SELECT ${parts.join(',\n')}`);
  const r = rows[0];
  if (r.extensions) {
    out.extensions = r.extensions.map(([name, schema, version, relocatable]: [string, string, string, boolean]) => ({ name, schema, version, relocatable }));
  }
  if (r.publications) {
    out.publications = r.publications.map(([name, allTables, tables, schemas]: [string, boolean, Array<[string, string]>, number]) => ({
      name,
      allTables,
      tables,
      schemas: Number(schemas),
    }));
  }
  if (r.schema_acl) out.schemaAcl = r.schema_acl;
  if (r.acl_schemas) out.aclSchemasFound = r.acl_schemas;
  if (r.object_acl) {
    out.objectAcl = {
      totals: r.object_acl.totals.map(([s, k, n]: [string, string, unknown]) => [s, k, Number(n)]),
      grants: r.object_acl.grants.map(([s, k, g, p, n]: [string, string, string, string, unknown]) => [s, k, g, p, Number(n)]),
    };
  }
  if (r.default_acl) {
    out.defaultAcl = r.default_acl.map(([role, schema, type, acl]: [string, string | null, string, AclPairs]) => ({ role, schema, type, acl }));
  }
  return out;
}

/**
 * The schemas of a database and their owners, system schemas left out. The plainest statement
 * there is (no LIKE, no ORDER BY, no JSON: each needs catalog lookups that a backend started for
 * this one query pays cold), filtered and sorted here: with hundreds of databases inspected, one
 * new backend each, this took a fifth of the server's CPU off a no-op task.
 */
async function readSchemas(conn: Connection): Promise<Array<{ name: string; owner: string }>> {
  const { rows } = await conn.query('SELECT nspname, pg_get_userbyid(nspowner) AS owner FROM pg_namespace');
  return rows
    .filter((r) => !r.nspname.startsWith('pg_') && r.nspname !== 'information_schema')
    .map((r) => ({ name: r.nspname as string, owner: r.owner as string }))
    .sort(byName);
}

export async function readSubscriptions(conn: Connection, databases: string[]): Promise<SubscriptionRow[]> {
  const { rows } = await conn.query(
    `SELECT d.datname, s.subname, s.subenabled, s.subconninfo, s.subpublications
       FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid
      WHERE d.datname = ANY($1) ORDER BY s.subname`,
    [databases],
  );
  return rows.map((r) => ({ database: r.datname, name: r.subname, enabled: r.subenabled, conninfo: r.subconninfo, publications: r.subpublications }));
}

export interface NameFacts {
  roles: Set<string>;
  tablespaces: Set<string>;
}

export async function readNames(conn: Connection, roles: string[], tablespaces: string[]): Promise<NameFacts> {
  const { rows } = await conn.query(
    `SELECT 'role' AS kind, rolname AS name FROM pg_roles WHERE rolname = ANY($1)
     UNION ALL SELECT 'tablespace', spcname FROM pg_tablespace WHERE spcname = ANY($2)`,
    [roles, tablespaces],
  );
  return {
    roles: new Set(rows.filter((r) => r.kind === 'role').map((r) => r.name)),
    tablespaces: new Set(rows.filter((r) => r.kind === 'tablespace').map((r) => r.name)),
  };
}

export interface AvailableExtension { defaultVersion: string; versions: string[] }

export async function readAvailableExtensions(conn: Connection, names: string[]): Promise<Map<string, AvailableExtension>> {
  const { rows } = await conn.query(
    `SELECT e.name, e.default_version, array(SELECT v.version FROM pg_available_extension_versions v WHERE v.name = e.name) AS versions
       FROM pg_available_extensions e WHERE e.name = ANY($1)`,
    [names],
  );
  return new Map(rows.map((r) => [r.name, { defaultVersion: r.default_version, versions: r.versions }]));
}

/** Context of each known parameter (case-insensitive names, as PostgreSQL matches them). */
export async function readParameterContexts(conn: Connection, names: string[]): Promise<Map<string, string>> {
  const { rows } = await conn.query('SELECT lower(name) AS name, context FROM pg_settings WHERE lower(name) = ANY($1)', [names.map((n) => n.toLowerCase())]);
  return new Map(rows.map((r) => [r.name, r.context]));
}
