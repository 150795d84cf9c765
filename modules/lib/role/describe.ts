// The roles of an instance as the role module sees them: what `socle role get|list` print, read
// with the module's own catalog query and shown as the `before` of its diff (one reading of a
// role, not a second one for the terminal).
import type { Connection } from '../pg/client';
import { serverMajor } from '../pg/versions';
import { rolesQuery, type RoleRow } from './catalog';
import { currentState, type RoleState } from './plan';

export type RoleDescription = { name: string } & Extract<RoleState, { state: 'present' }>;

/** The roles named (all but PostgreSQL's own `pg_*`, in byte order of their names, when none are) that exist, in that order. */
export async function describeRoles(conn: Connection, names?: string[]): Promise<RoleDescription[]> {
  const wanted = names ?? (await conn.query<{ n: string }>("SELECT rolname::text AS n FROM pg_roles WHERE rolname !~ '^pg_' ORDER BY rolname")).rows.map((r) => r.n);
  const { rows } = await conn.query<RoleRow>(rolesQuery(await serverMajor(conn)), [wanted]);
  const byName = new Map(rows.map((row) => [row.name, row]));
  return wanted.flatMap((n) => {
    const row = byName.get(n);
    return row ? [{ name: n, ...(currentState(row, null, false, undefined) as Extract<RoleState, { state: 'present' }>) }] : [];
  });
}
