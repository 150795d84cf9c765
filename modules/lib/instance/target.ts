// How the modules that work inside an instance (role, database, ...) reach it: `instance` names
// it as `<version>/<name>` or `<name>` (pglift's convention); they connect as the super-user
// through the Unix socket. A stopped instance is started for the operation and stopped again
// afterwards, as pglift does; the instance lock keeps other tasks out meanwhile.
import { connect, type Connection } from '../pg/client';
import { withLock } from '../lock';
import { ModuleError } from '../runtime';
import type { SiteSettings } from '../settings';
import { exists, layout, resolveVersion, type InstanceLayout } from './layout';
import { serviceFor } from './service';
import { runningState } from './status';

export function findInstance(settings: SiteSettings, ref: string): InstanceLayout {
  const m = /^(?:([0-9]+)\/)?([^/]+)$/.exec(ref);
  if (!m) throw new ModuleError(`option 'instance': expected <version>/<name> or <name>, got '${ref}'`);
  const l = layout(settings, resolveVersion(settings, m[2], m[1]), m[2]);
  if (!exists(l)) throw new ModuleError(`option 'instance': instance ${l.id} does not exist (no ${l.datadir})`);
  return l;
}

export interface InstanceSession {
  layout: InstanceLayout;
  /** A super-user connection to `database`; opened on first use, one per database. */
  connection(database?: string): Promise<Connection>;
  /** True when the instance was stopped and has been started for this task. */
  startedForTask: boolean;
  /** The port the running server listens on. */
  port: number;
  /** The socket directory of the running server and the super-user, for client programs (pg_dump, pg_restore). */
  host: string;
  user: string;
  /** Closes our connection to `database`, if open (before DROP DATABASE, a tablespace move, a copy of it as template). */
  release(database: string): Promise<void>;
}

/**
 * Runs `fn` with connections to the instance, starting it first if it is stopped (also in
 * check mode: a temporary start changes nothing the user declared, and the plan needs the
 * catalog), and stopping it again afterwards. The caller holds the instance lock.
 */
/** `password`: the super-user's, when the instance task knows it (a local method that asks for one). */
export async function inSession<T>(settings: SiteSettings, l: InstanceLayout, fn: (s: InstanceSession) => Promise<T>, password?: string): Promise<T> {
  let running = runningState(l.datadir);
  const service = serviceFor(settings, l);
  const startedForTask = running === null;
  if (startedForTask) {
    await service.start().run();
    running = runningState(l.datadir);
    if (!running) throw new ModuleError(`instance ${l.id} did not start`);
  }
  const host = running!.socketDir || l.socketDir;
  const user = settings.postgresql.surole.name;
  const conns = new Map<string, Promise<Connection>>();
  const session: InstanceSession = {
    layout: l,
    startedForTask,
    port: running!.port,
    host,
    user,
    connection(database = 'postgres') {
      let c = conns.get(database);
      if (!c) {
        c = connect({ host, port: running!.port, user, database, password });
        conns.set(database, c);
      }
      return c;
    },
    async release(database) {
      const c = conns.get(database);
      if (!c) return;
      conns.delete(database);
      await c.then((x) => x.end()).catch(() => undefined);
    },
  };
  try {
    return await fn(session);
  } finally {
    // Not awaited (see withConnection); a server started for the task is stopped with its
    // sessions anyway.
    for (const c of conns.values()) c.then((x) => x.end()).catch(() => undefined);
    if (startedForTask) await service.stop().run();
  }
}

/** `inSession` under the instance lock: for the modules that work inside an instance. */
export async function withInstance<T>(settings: SiteSettings, l: InstanceLayout, fn: (s: InstanceSession) => Promise<T>): Promise<T> {
  return withLock(l.lockFile, settings.lockTimeout, `instance ${l.id}`, () => inSession(settings, l, fn));
}
