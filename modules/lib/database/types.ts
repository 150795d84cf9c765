// The plan of one database, as data: what changes, the SQL (or command) that does it, and where
// it has to run. Built by pure functions (planner.ts, privileges.ts), run by apply.ts.

export interface Statement {
  /** What runs (may hold a password). */
  sql: string;
  /** What is shown, when it differs from `sql` (password masked). */
  shown?: string;
  /** `sql` carries a secret: run so that the server does not log its text (pg/unlogged.ts). */
  secret?: boolean;
  /** The option this statement comes from, when narrower than its change's (`settings.work_mem`). */
  path?: string;
}

/**
 * Where a change runs:
 *  - `transaction`: connected to the database, with the other `transaction` changes of the database
 *    in one transaction;
 *  - `autocommit`: connected to the database, on its own (CREATE/ALTER/DROP SUBSCRIPTION);
 *  - `maintenance`: on the instance's maintenance database, with no session of ours connected to
 *    the database (CREATE/DROP DATABASE, ALTER DATABASE SET TABLESPACE);
 *  - `clone`: pg_dump | pg_restore into the new database.
 */
export type ChangeMode = 'transaction' | 'autocommit' | 'maintenance' | 'clone';

export interface Change {
  change: string;
  mode: ChangeMode;
  statements: Statement[];
  /** For `clone`. */
  clone?: { dsn: string; schemaOnly: boolean };
  /** A CREATE DATABASE: a later failure drops the database again. */
  creates?: boolean;
  /** An ALTER DATABASE that may run from any database (owner, settings, connection limit). */
  anywhere?: boolean;
  /** A CREATE SUBSCRIPTION: dropped again when the new database is. */
  subscription?: string;
  /** The option it comes from (`extensions[2]`): a failure names it. */
  path?: string;
}

/** A name the plan relies on, verified against the server before anything runs. */
export type Check =
  | { kind: 'role'; name: string; path: string }
  | { kind: 'tablespace'; name: string; path: string }
  | { kind: 'extension'; name: string; version?: string; path: string }
  | { kind: 'parameter'; name: string; path: string }
  | { kind: 'encoding'; name: string; path: string }
  | { kind: 'locale'; name: string; path: string };
