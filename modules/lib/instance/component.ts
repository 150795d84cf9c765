// The extension point of the instance: what a component (roles, databases, replication, and the
// satellites: backups, exporters, HA...) may contribute to an instance's lifecycle, and the
// context it is given. The core (this folder) knows components only through this interface;
// the list of components is composed by the module entry (modules/instance.ts) from
// modules/lib/components/index.ts, so adding a satellite touches no file of the core.
//
// The order of the lifecycle, written down once (create.ts, update.ts, drop.ts follow it):
//
//   every task   check        before anything is written, in registration order
//                server       a component may run the server instead of the instance's service
//                parameters   merged into socle.conf with the user's `settings`
//   creation     provision    the first component that returns one replaces initdb
//                             (a standby's base backup, a restore from a backup)
//                configure    the component's files, after the instance's own files
//                services     installed, then started after the instance starts
//                sql          with the server up, in registration order, each applied
//                             before the next one plans (roles before databases)
//   update       configure, sql, services follow the instance's state
//   drop         drop steps (reverse order), services stopped and removed, then the instance
//   every task   facts        under result[<component name>]
//
// Every contribution is plan-then-apply: steps say what they change and show their exact
// commands and SQL, so check mode and diff need no special case, and a failing step during a
// creation rolls back everything (steps register their own undo with `onUndo`).
import type { InstanceOptions } from '../../generated/instance';
import type { Connection } from '../pg/client';
import type { Step } from '../plan';
import type { ModuleContext } from '../runtime';
import type { SiteSettings } from '../settings';
import type { ConfValue } from './config';
import type { InstanceLayout } from './layout';
import type { CompanionService } from '../daemon';
import type { Service } from './service';
import type { Current } from './state';
import type { InstanceSession } from './target';

export type Lifecycle = 'create' | 'update' | 'drop';

/** The instance module's options once resolved: the port is known (an omitted one keeps the instance's). */
export type InstanceSpec = InstanceOptions & { port: number };

export interface ComponentContext {
  opts: InstanceSpec;
  settings: SiteSettings;
  layout: InstanceLayout;
  module: ModuleContext;
  lifecycle: Lifecycle;
  /** What is on disk and running now (at creation: nothing exists). */
  current: Current;
  /** The port the instance listens on once the task is done. */
  port: number;
  /** Registers an undo action, run if a later step of a creation fails. */
  onUndo(fn: () => Promise<void>): void;
  /** A private file of component `name` for this instance: `{prefix}/etc/<name>/<version>-<instance><suffix>` (its folder is 0700). */
  privateFile(name: string, suffix: string): string;
  /**
   * The parameters the core writes into socle.conf (the user's `settings` merged with every
   * component's needs), for a component that hands them to another program (Patroni). Not to
   * be called from `parameters` (it is computed from them).
   */
  parameters(): Record<string, ConfValue>;
}

/** postgresql.conf parameters a component needs. */
export interface ParameterNeeds {
  /** Values the user's `settings` may not contradict (a clear error names both). */
  required?: Record<string, ConfValue>;
  /** Values the user's `settings` override. */
  defaults?: Record<string, ConfValue>;
  /** Entries of list parameters (`shared_preload_libraries`), merged with the user's and other components'. */
  lists?: Record<string, string[]>;
}

/** How a component makes the data directory instead of initdb. */
export interface Provision {
  step: Step;
  /** The new instance starts as a standby: nothing can be written into it (roles, databases). */
  standby: boolean;
}

/** What the server is, for the `sql` phase; a component may change it (a promotion). */
export interface ServerState {
  /** In recovery (a standby): read-only. */
  inRecovery: boolean;
  /**
   * Roles an earlier component of this task creates (in check mode, where nothing is applied,
   * the later components plan as if they existed: a database owned by a role of the same task).
   */
  plannedRoles: Set<string>;
}

export interface SqlContext extends ComponentContext {
  session: InstanceSession;
  server: ServerState;
}

export interface SqlPlan {
  /** Applied (outside check mode) before the next component plans. */
  steps: Step[];
  undo?: Array<() => Promise<void>>;
  /** What it manages, before and after the steps (appended to the diff as YAML under its name). */
  before?: object;
  after?: object;
}

export interface InstanceComponent {
  name: string;
  /**
   * Whether the task involves the component (its option is declared, or it left something to
   * clean up). Called on every task: keep it cheap (options and files, no server).
   */
  declared(c: ComponentContext): boolean;
  check?(c: ComponentContext): void | Promise<void>;
  parameters?(c: ComponentContext): ParameterNeeds;
  provision?(c: ComponentContext): Provision | null;
  /**
   * A component that runs the server itself (Patroni): its Service replaces the instance's own
   * (pg_ctl or the instance's systemd unit) for start, stop, restart, reload and install, in
   * every lifecycle; the first component that returns one wins. Such a component usually
   * provisions the data directory too.
   */
  server?(c: ComponentContext): Service | null;
  /** The component's files (and anything else done without the server), at creation and update: only what differs. */
  configure?(c: ComponentContext): Step[] | Promise<Step[]>;
  /** Services started after the instance and stopped before it; removed at drop. */
  services?(c: ComponentContext): CompanionService[];
  /** Whether `sql` must run in this task (the core then connects, starting a stopped instance for it). */
  needsServer?(c: ComponentContext): boolean;
  sql?(c: SqlContext): Promise<SqlPlan>;
  /** Check mode on an instance that does not exist yet (no catalog to plan against): what `sql` would change, in words. */
  sqlOnCreation?(c: ComponentContext): string[];
  /** Steps at drop, before the instance is stopped and its files removed. */
  drop?(c: ComponentContext): Step[];
  /** Facts under result[name]; `conn` is a super-user connection when the task opened one (else null). */
  facts?(c: ComponentContext, conn: Connection | null): Promise<unknown> | unknown;
}
