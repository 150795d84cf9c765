// A libpq-like connection to an instance through its Unix socket, with the `pg` driver.
import type { Client } from 'pg';
import { ModuleError } from '../runtime';

export interface ConnectionTarget {
  /** Unix socket directory (or a host name). */
  host: string;
  port: number;
  user: string;
  database?: string;
  /** When absent, pg reads PGPASSFILE / ~/.pgpass like libpq. */
  password?: string;
}

export type Connection = Client;

/** A failed connection; `sqlstate` is the server's error code when the server answered. */
export class ConnectError extends ModuleError {
  constructor(message: string, readonly sqlstate?: string) {
    super(message);
  }
  /** Refused for its credentials or its pg_hba.conf (class 28): waiting does not help. */
  get authentication(): boolean {
    return this.sqlstate?.startsWith('28') ?? false;
  }
}

export async function connect(target: ConnectionTarget): Promise<Connection> {
  // Loaded on first use: a no-op task on a stopped instance never needs it.
  const { Client } = await import('pg');
  const client = new Client({
    host: target.host,
    port: target.port,
    user: target.user,
    database: target.database ?? 'postgres',
    password: target.password,
    application_name: 'socle.postgresql',
  });
  // A server stopped or restarted while the connection is idle (a restart step) makes the driver
  // emit 'error'; unhandled, that event would crash the module before it reports.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    throw new ConnectError(
      `cannot connect to ${target.database ?? 'postgres'} as ${target.user} on ${target.host}:${target.port}: ${(err as Error).message}`,
      (err as { code?: string }).code,
    );
  }
  return client;
}

export async function withConnection<T>(target: ConnectionTarget, fn: (c: Connection) => Promise<T>): Promise<T> {
  const client = await connect(target);
  try {
    return await fn(client);
  } finally {
    // Not awaited: the server closing the socket only delays the result (the module exits
    // once its result is written).
    client.end().catch(() => undefined);
  }
}

/** A connection opened on first use (e.g. once a step has started the server), closed by `close`. */
export class LazyConnection {
  private conn: Promise<Connection> | null = null;
  constructor(private readonly open: () => Promise<Connection>) {}
  get(): Promise<Connection> {
    this.conn ??= this.open();
    return this.conn;
  }
  async close(): Promise<void> {
    if (!this.conn) return;
    const c = await this.conn.catch(() => null);
    await c?.end().catch(() => undefined);
    this.conn = null;
  }
}
