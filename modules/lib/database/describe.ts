// The databases of an instance as the database module sees them: what `socle database get|list`
// print, read with the module's own catalog query and shown as the `before` of its diff, with
// the database-wide settings (and the size, which the module does not manage).
import type { Connection } from '../pg/client';
import { readDatabases } from './catalog';
import { rowView, type DatabaseView } from './planner';
import { parseSetconfig } from './settings';

export type DatabaseDescription = DatabaseView & { size: number };

/** The databases named (all but the templates, in byte order of their names, when none are) that exist, in that order. */
export async function describeDatabases(conn: Connection, names?: string[]): Promise<DatabaseDescription[]> {
  // The names (when none are given) and the sizes, in one read of pg_database.
  const { rows: found } = await conn.query<{ n: string; s: string }>(
    `SELECT datname::text AS n, pg_database_size(oid)::text AS s FROM pg_database
      WHERE CASE WHEN $1::text[] IS NULL THEN NOT datistemplate ELSE datname = ANY($1) END ORDER BY datname`,
    [names ?? null],
  );
  const wanted = names ?? found.map((r) => r.n);
  const sizes = new Map(found.map((r) => [r.n, Number(r.s)]));
  const { rows } = await readDatabases(conn, wanted, false);
  return wanted.flatMap((n) => {
    const row = rows.get(n);
    return row ? [{ ...rowView(row), settings: Object.fromEntries(parseSetconfig(row.settings)), size: sizes.get(n) ?? 0 }] : [];
  });
}
