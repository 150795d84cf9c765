// Statements that carry a secret (a subscription's connection string with its password): the
// server must not write their text to its log. With `log_statement = all` (or `ddl`) it logs every
// statement as it arrives, and whatever the setting, an error is followed by a `STATEMENT:` line
// quoting the statement (log_min_error_statement, `error` by default); a slow statement is logged
// with its text by log_min_duration_statement. We turn those off for our own session around the
// statement, then back to what they were (inside a transaction, `SET LOCAL`: until its end). These
// parameters need a super-user, which the modules connect as. (CREATE SUBSCRIPTION cannot run in a
// transaction block: outside one, session-level SET and RESET.)
import type { Connection } from './client';

const QUIET: Array<[string, string]> = [
  ['log_statement', 'none'],
  ['log_min_error_statement', 'panic'],
  ['log_min_duration_statement', '-1'],
  // Utility statements' texts in pg_stat_statements (when loaded; a harmless placeholder otherwise).
  ['pg_stat_statements.track_utility', 'off'],
];

/** Runs `sql` (one statement) without its text reaching the server's log. */
export async function queryUnlogged(conn: Connection, sql: string, inTransaction = false): Promise<void> {
  // One round trip; the SETs hold no secret (logging them is harmless).
  await conn.query(QUIET.map(([k, v]) => `SET ${inTransaction ? 'LOCAL ' : ''}${k} = '${v}'`).join('; '));
  if (inTransaction) {
    await conn.query(sql); // a failure aborts the transaction, which ends the SET LOCALs with it
    return;
  }
  try {
    await conn.query(sql);
  } finally {
    await conn.query(QUIET.map(([k]) => `RESET ${k}`).join('; ')).catch(() => undefined);
  }
}
