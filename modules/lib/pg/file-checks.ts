// What PostgreSQL makes of its configuration files as they are on disk now, before a reload:
// written files are checked this way, and restored when the server would reject them.
import type { Connection } from './client';
import { hbaRulesNameTheirFile, serverMajor } from './versions';

/**
 * Errors PostgreSQL finds in pg_hba.conf (pg_hba_file_rules), as `line N: error`, or
 * `<file> line N: error` for a file pg_hba.conf includes (where the server names it).
 */
export async function hbaFileErrors(conn: Connection): Promise<string[]> {
  const file = hbaRulesNameTheirFile(await serverMajor(conn))
    ? "nullif(file_name, current_setting('hba_file'))"
    : 'NULL';
  const { rows } = await conn.query(`SELECT ${file} AS file, line_number, error FROM pg_hba_file_rules WHERE error IS NOT NULL`);
  return rows.map((r) => `${r.file ? `${r.file} ` : ''}line ${r.line_number}: ${r.error}`);
}

/**
 * Errors PostgreSQL finds in the parameter files (pg_file_settings), as `name: error`; a
 * parameter that only waits for a restart ("setting could not be applied") is no error.
 */
export async function settingsFileErrors(conn: Connection): Promise<string[]> {
  const { rows } = await conn.query(
    "SELECT name, error FROM pg_file_settings WHERE error IS NOT NULL AND error <> 'setting could not be applied' ORDER BY seqno",
  );
  return rows.map((r) => `${r.name ?? '?'}: ${r.error}`);
}
