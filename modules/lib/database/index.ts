// The batch API for databases: `planDatabases` reads the catalogs for many databases at once,
// plans each with the pure planner, verifies the names the plans rely on, and returns steps that
// apply them. Used by the `database` module (one database) and the instance's `databases` list.
//
// Applying: the steps of one database share one unit of work, run by its first step. Changes
// inside the database run in one transaction; CREATE / DROP DATABASE, a tablespace move and
// subscriptions run on their own, since PostgreSQL refuses them in a transaction. When a change
// fails after CREATE DATABASE, the new database is dropped again (with the subscriptions it got).
import type { InstanceSession } from '../instance/target';
import type { Step } from '../plan';
import { quoteIdent, quoteLiteral } from '../pg/quote';
import { queryUnlogged } from '../pg/unlogged';
import { majorOf, publicSchemaOwnedByDatabaseOwner } from '../pg/versions';
import { ModuleError } from '../runtime';
import {
  insideNeeded,
  readAvailableExtensions,
  readDatabases,
  readInside,
  readNames,
  readParameterContexts,
  readSubscriptions,
  type DatabaseRow,
  type InsideCatalog,
  type InsideRequest,
  type ServerFacts,
  type SubscriptionRow,
} from './catalog';
import { cloneCommand } from './clone';
import { effectiveTemplate, planDatabase, type DatabasePlan, type DatabaseView } from './planner';
import { normalizeSpec, type DatabaseSpec, type NormalizedSpec } from './spec';
import type { Change, Check } from './types';

export type { DatabaseSpec } from './spec';
export type { DatabaseView } from './planner';

export interface PlanDatabasesContext {
  /**
   * How option `path` of the `index`-th spec is named in messages: `owner` for the module (the
   * default), `databases[2].owner` for the instance's list.
   */
  optionPath?(index: number, path: string): string;
  /**
   * Roles that do not exist yet but will when the plan runs (in check mode, the roles the same
   * task creates before its databases): owners and grantees may name them.
   */
  plannedRoles?: ReadonlySet<string>;
}

export interface DatabasesPlan {
  steps: Step[];
  /** Each database as it is and as the steps leave it, by name (`{name, state: 'absent'}` when missing). */
  before: Record<string, DatabaseView>;
  after: Record<string, DatabaseView>;
}

const CONCURRENCY = 8;

async function pool<T>(items: T[], fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, items.length) }, worker));
}

function insideRequest(spec: NormalizedSpec, owner: string): InsideRequest {
  const privs = spec.privileges ?? [];
  const aclSchemas = [...new Set(privs.filter((p) => p.schema !== undefined).map((p) => p.schema!))];
  return {
    schemas: spec.state === 'present' && spec.schemas !== undefined,
    extensions: spec.state === 'present' && spec.extensions !== undefined,
    publications: spec.state === 'present' && spec.publications !== undefined,
    aclSchemas: spec.state === 'present' && aclSchemas.length ? aclSchemas : null,
    aclRoles: [...new Set(privs.map((p) => p.role))],
    defaultRoles: spec.state === 'present' && privs.some((p) => p.on.startsWith('default_')) ? [owner] : null,
  };
}

function mergeRequests(reqs: InsideRequest[]): InsideRequest {
  const union = (xs: Array<string[] | null>) => {
    const all = xs.filter((x): x is string[] => x !== null);
    return all.length ? [...new Set(all.flat())] : null;
  };
  return {
    schemas: reqs.some((r) => r.schemas),
    extensions: reqs.some((r) => r.extensions),
    publications: reqs.some((r) => r.publications),
    aclSchemas: union(reqs.map((r) => r.aclSchemas)),
    aclRoles: [...new Set(reqs.flatMap((r) => r.aclRoles))],
    defaultRoles: union(reqs.map((r) => r.defaultRoles)),
  };
}

/** What template0 holds (it accepts no connection): schema public, plpgsql. */
export function pristineInside(req: InsideRequest, server: ServerFacts): InsideCatalog {
  const ownedByDbOwner = publicSchemaOwnedByDatabaseOwner(majorOf(server.version));
  const publicOwner = ownedByDbOwner ? 'pg_database_owner' : server.currentUser;
  const publicAcl: Array<[string, string]> = ownedByDbOwner
    ? [[publicOwner, 'USAGE'], [publicOwner, 'CREATE'], ['PUBLIC', 'USAGE']]
    : [[publicOwner, 'USAGE'], [publicOwner, 'CREATE'], ['PUBLIC', 'USAGE'], ['PUBLIC', 'CREATE']];
  const out: InsideCatalog = {};
  if (req.schemas) out.schemas = [{ name: 'public', owner: publicOwner }];
  if (req.extensions) out.extensions = [{ name: 'plpgsql', schema: 'pg_catalog', version: '1.0', relocatable: false }];
  if (req.publications) out.publications = [];
  if (req.aclSchemas) {
    const wantsPublic = req.aclSchemas.includes('public');
    out.aclSchemasFound = wantsPublic ? ['public'] : [];
    out.schemaAcl = wantsPublic ? publicAcl.filter(([g]) => req.aclRoles.includes(g)).map(([g, p]) => ['public', g, p]) : [];
    out.objectAcl = { totals: [], grants: [] };
  }
  if (req.defaultRoles) out.defaultAcl = [];
  return out;
}

/** Restricts a catalog read with a merged request to what one spec asked for. */
function restrict(inside: InsideCatalog, req: InsideRequest): InsideCatalog {
  const out: InsideCatalog = {};
  if (req.schemas) out.schemas = inside.schemas;
  if (req.extensions) out.extensions = inside.extensions;
  if (req.publications) out.publications = inside.publications;
  if (req.aclSchemas) {
    out.aclSchemasFound = inside.aclSchemasFound;
    out.schemaAcl = inside.schemaAcl;
    out.objectAcl = inside.objectAcl;
  }
  if (req.defaultRoles) out.defaultAcl = inside.defaultAcl;
  return out;
}

function maintenanceDb(name: string): string {
  return name === 'postgres' ? 'template1' : 'postgres';
}

export async function planDatabases(session: InstanceSession, specs: DatabaseSpec[], ctx: PlanDatabasesContext = {}): Promise<DatabasesPlan> {
  const optionPath = ctx.optionPath ?? ((_i: number, p: string) => p);
  // 1. the specs, every bad option reported at once
  const errors: string[] = [];
  const normalized: NormalizedSpec[] = [];
  specs.forEach((s, i) => {
    try {
      normalized.push(normalizeSpec(s, (p) => optionPath(i, p)));
    } catch (e) {
      if (e instanceof ModuleError) errors.push(e.message);
      else throw e;
    }
  });
  const seen = new Set<string>();
  normalized.forEach((s, i) => {
    if (seen.has(s.name)) errors.push(`option '${optionPath(i, 'name')}': database ${s.name} is declared twice`);
    seen.add(s.name);
  });
  if (errors.length) throw new ModuleError(errors.join('; '));

  // 2. pg_database (+ settings, ACLs) for all of them at once
  const maint = await session.connection();
  const names = [...new Set([...normalized.map((s) => s.name), 'template1', ...normalized.flatMap((s) => (s.template ? [s.template] : []))])];
  const withAcl = normalized.some((s) => s.privileges?.some((p) => p.on === 'database'));
  const { rows, server } = await readDatabases(maint, names, withAcl);
  const template1 = rows.get('template1') ?? null;

  // 3. subscriptions (shared catalog), once
  const subDbs = normalized
    .filter((s) => rows.has(s.name) && (s.state === 'present' ? s.subscriptions !== undefined : rows.get(s.name)!.hasSubscriptions))
    .map((s) => s.name);
  const subscriptions: SubscriptionRow[] = subDbs.length ? await readSubscriptions(maint, subDbs) : [];

  // 4. inside each database that declares something there (for a new one: inside its template)
  const requests = new Map<string, InsideRequest>();
  const owners = new Map<string, string>();
  for (const s of normalized) {
    const owner = s.owner ?? rows.get(s.name)?.owner ?? server.currentUser;
    owners.set(s.name, owner);
    const req = insideRequest(s, owner);
    if (insideNeeded(req)) requests.set(s.name, req);
  }
  const insides = new Map<string, InsideCatalog>();
  const existing = normalized.filter((s) => requests.has(s.name) && rows.has(s.name));
  await pool(existing, async (s) => {
    const conn = await session.connection(s.name);
    insides.set(s.name, await readInside(conn, requests.get(s.name)!, server.version));
    // Released at once: a batch must not hold a connection per database (max_connections).
    await session.release(s.name);
  });
  const byTemplate = new Map<string, NormalizedSpec[]>();
  for (const s of normalized) {
    if (!requests.has(s.name) || rows.has(s.name)) continue;
    const t = effectiveTemplate(s, template1) ?? 'template1';
    byTemplate.set(t, [...(byTemplate.get(t) ?? []), s]);
  }
  for (const [t, list] of byTemplate) {
    const row = rows.get(t);
    const merged = mergeRequests(list.map((s) => requests.get(s.name)!));
    let inside: InsideCatalog;
    if (row && row.allowConn && !list.some((s) => s.clone)) {
      inside = await readInside(await session.connection(t), merged, server.version);
      await session.release(t);
    } else {
      inside = pristineInside(merged, server);
    }
    for (const s of list) insides.set(s.name, restrict(inside, requests.get(s.name)!));
  }

  // 5. plans
  const plans: Array<{ spec: NormalizedSpec; plan: DatabasePlan }> = [];
  for (const s of normalized) {
    const plan = planDatabase({
      spec: s,
      current: rows.get(s.name) ?? null,
      template1,
      templateRow: s.template !== undefined ? rows.get(s.template) ?? null : undefined,
      inside: insides.get(s.name) ?? {},
      subscriptions: subscriptions.filter((x) => x.database === s.name),
      server,
    });
    plans.push({ spec: s, plan });
  }

  // 6. the names the plans rely on
  await verifyChecks(maint, plans.flatMap((p) => p.plan.checks), plans, ctx.plannedRoles ?? new Set());

  // 7. steps
  const steps: Step[] = [];
  for (const { spec, plan } of plans) steps.push(...stepsFor(session, spec, plan, template1, server));
  const before: Record<string, DatabaseView> = {};
  const after: Record<string, DatabaseView> = {};
  for (const { plan } of plans) {
    before[plan.name] = plan.before;
    after[plan.name] = plan.after;
  }
  return { steps, before, after };
}

async function verifyChecks(maint: Awaited<ReturnType<InstanceSession['connection']>>, checks: Check[], plans: Array<{ plan: DatabasePlan }>, plannedRoles: ReadonlySet<string>): Promise<void> {
  if (checks.length === 0) return;
  const errors: string[] = [];
  const roles = [...new Set(checks.filter((c) => c.kind === 'role').map((c) => c.name))];
  const tablespaces = [...new Set(checks.filter((c) => c.kind === 'tablespace').map((c) => c.name))];
  if (roles.length || tablespaces.length) {
    const found = await readNames(maint, roles, tablespaces);
    for (const c of checks) {
      if (c.kind === 'role' && !found.roles.has(c.name) && !plannedRoles.has(c.name)) errors.push(`option '${c.path}': role ${c.name} does not exist`);
      if (c.kind === 'tablespace' && !found.tablespaces.has(c.name)) errors.push(`option '${c.path}': tablespace ${c.name} does not exist`);
    }
  }
  const exts = checks.filter((c): c is Extract<Check, { kind: 'extension' }> => c.kind === 'extension');
  if (exts.length) {
    const available = await readAvailableExtensions(maint, [...new Set(exts.map((c) => c.name))]);
    for (const c of exts) {
      const a = available.get(c.name);
      if (!a) errors.push(`option '${c.path}.name': extension ${c.name} is not available on this server (not installed in the instance's share/extension)`);
      else if (c.version !== undefined && !a.versions.includes(c.version)) {
        errors.push(`option '${c.path}.version': extension ${c.name} has no version ${c.version} here (available: ${a.versions.join(', ')})`);
      }
    }
    // The diff of a new extension without a version shows the default one.
    for (const { plan } of plans) {
      for (const e of plan.after.extensions ?? []) if (e.version === null) e.version = available.get(e.name)?.defaultVersion ?? null;
    }
  }
  const encodings = checks.filter((c) => c.kind === 'encoding');
  if (encodings.length) {
    const { rows } = await maint.query<{ e: string; ok: boolean }>('SELECT e, pg_char_to_encoding(e) >= 0 AS ok FROM unnest($1::text[]) AS e', [encodings.map((c) => c.name)]);
    const ok = new Map(rows.map((r) => [r.e, r.ok]));
    for (const c of encodings) if (!ok.get(c.name)) errors.push(`option '${c.path}': PostgreSQL knows no encoding ${c.name}`);
  }
  for (const c of checks.filter((x) => x.kind === 'locale')) {
    const why = await localeError(maint, c.name);
    if (why) errors.push(`option '${c.path}': ${why}`);
  }
  const params = checks.filter((c) => c.kind === 'parameter');
  if (params.length) {
    const contexts = await readParameterContexts(maint, params.map((c) => c.name));
    for (const c of params) {
      const context = contexts.get(c.name.toLowerCase());
      if (context === undefined) {
        // A name with a dot is a custom parameter (an extension's, or the application's).
        if (!c.name.includes('.')) errors.push(`option '${c.path}': unknown PostgreSQL parameter`);
      } else if (context !== 'user' && context !== 'superuser') {
        errors.push(`option '${c.path}': cannot be set per database (PostgreSQL sets it with context ${context})`);
      }
    }
  }
  if (errors.length) throw new ModuleError([...new Set(errors)].join('; '));
}

/** A change that failed, with the option it comes from (named first in the task's message). */
class ChangeError extends ModuleError {
  constructor(message: string, readonly option: string | undefined) {
    super(message);
  }
}

/**
 * Why PostgreSQL could not use `locale` for a database, or null. The server's C library decides:
 * a collation made of it in the session's temporary schema, in a transaction rolled back,
 * loads it the way CREATE DATABASE does (and leaves nothing behind).
 */
async function localeError(conn: Awaited<ReturnType<InstanceSession['connection']>>, locale: string): Promise<string | null> {
  await conn.query('BEGIN');
  try {
    await conn.query(`CREATE COLLATION pg_temp.socle_locale_check (LOCALE = ${quoteLiteral(locale)})`);
    return null;
  } catch (err) {
    return `the server cannot use this locale (${pgMessage(err)})`;
  } finally {
    await conn.query('ROLLBACK').catch(() => undefined);
  }
}

function pgMessage(err: unknown): string {
  const e = err as { message?: string; detail?: string; hint?: string };
  return [e.message ?? String(err), e.detail, e.hint].filter(Boolean).join(' ');
}

/** One database's changes as steps sharing one unit of work (run once, by the first step applied). */
function stepsFor(session: InstanceSession, spec: NormalizedSpec, plan: DatabasePlan, template1: DatabaseRow | null, server: ServerFacts): Step[] {
  if (plan.changes.length === 0) return [];
  const name = plan.name;
  const db = quoteIdent(name);
  const template = effectiveTemplate(spec, template1) ?? 'template1';
  const cloneIndex = plan.changes.findIndex((c) => c.mode === 'clone');
  const clone = cloneIndex >= 0 ? plan.changes[cloneIndex] : null;
  const cloneCmd = clone
    ? cloneCommand(clone.clone!.dsn, clone.clone!.schemaOnly, { bindir: session.layout.bindir, host: session.host, port: session.port, user: session.user, database: name })
    : null;

  // After a copy, what is inside the database is known only once copied: the changes planned
  // against an empty database are shown as one step, planned again after the copy.
  let visible: Change[] = plan.changes;
  let replanned: Step | null = null;
  if (clone && cloneIndex < plan.changes.length - 1) {
    const later = plan.changes.slice(cloneIndex + 1);
    visible = plan.changes.slice(0, cloneIndex + 1);
    replanned = {
      change: `apply the declared ${later.map((c) => c.change).join(', ')} to the copied database ${name} (planned again after the copy)`,
      queries: later.flatMap((c) => c.statements.map((s) => s.shown ?? s.sql)),
      apply: async () => unit(),
    };
  }

  const done: string[] = [];
  let running: Promise<void> | null = null;
  const unit = () => (running ??= work());

  async function runChanges(changes: Change[], created: { db: boolean; subscriptions: string[] }): Promise<void> {
    let i = 0;
    while (i < changes.length) {
      const c = changes[i];
      if (c.mode === 'transaction') {
        const group: Change[] = [];
        while (i < changes.length && changes[i].mode === 'transaction') group.push(changes[i++]);
        // ALTER DATABASE alone (owner, settings, limit) needs no connection to the database itself.
        const conn = await session.connection(group.every((g) => g.anywhere) ? maintenanceDb(name) : name);
        await conn.query('BEGIN');
        let current = group[0];
        let statement: Change['statements'][number] | undefined;
        try {
          for (const g of group) {
            current = g;
            for (const s of g.statements) {
              statement = s;
              await conn.query(s.sql);
            }
          }
          statement = undefined;
          await conn.query('COMMIT');
        } catch (err) {
          await conn.query('ROLLBACK').catch(() => undefined);
          throw new ChangeError(
            `${current.change}: ${pgMessage(err)} (the transaction of database ${name} was rolled back: ${group.map((g) => g.change).join(', ')} not done)`,
            statement?.path ?? current.path,
          );
        }
        done.push(...group.map((g) => g.change));
        continue;
      }
      i++;
      try {
        if (c.mode === 'maintenance') {
          await session.release(name);
          if (c.creates) await session.release(template);
          const conn = await session.connection(maintenanceDb(name));
          for (const s of c.statements) await conn.query(s.sql);
          if (c.creates) created.db = true;
        } else if (c.mode === 'autocommit') {
          const conn = await session.connection(name);
          for (const s of c.statements) await (s.secret ? queryUnlogged(conn, s.sql) : conn.query(s.sql));
          if (c.subscription) created.subscriptions.push(c.subscription);
        } else if (c.mode === 'clone') {
          await session.release(name);
          await cloneCmd!.run();
        }
      } catch (err) {
        let msg = `${c.change}: ${err instanceof ModuleError ? err.message : pgMessage(err)}`;
        if (c.statements.some((s) => /^DROP DATABASE/.test(s.sql)) && /being accessed by other users/.test(msg) && !spec.forceDrop) {
          msg += ' (set force_drop to disconnect them)';
        }
        throw new ChangeError(msg, err instanceof ChangeError ? err.option : c.path);
      }
      done.push(c.change);
      if (c.mode === 'clone') await replanAfterClone(created);
    }
  }

  async function replanAfterClone(created: { db: boolean; subscriptions: string[] }): Promise<void> {
    if (!replanned) return;
    const { rows: fresh } = await readDatabases(await session.connection(maintenanceDb(name)), [name], spec.privileges?.some((p) => p.on === 'database') ?? false);
    const row = fresh.get(name)!;
    const req = insideRequest(spec, spec.owner ?? row.owner);
    let inside: InsideCatalog = {};
    if (insideNeeded(req)) inside = await readInside(await session.connection(name), req, server.version);
    const again = planDatabase({ spec: { ...spec, clone: undefined, tablespace: undefined }, current: row, template1, inside, subscriptions: [], server });
    replanned.queries = again.changes.flatMap((c) => c.statements.map((s) => s.shown ?? s.sql));
    await runChanges(again.changes, created);
  }

  async function work(): Promise<void> {
    const created = { db: false, subscriptions: [] as string[] };
    try {
      await runChanges(visible, created);
    } catch (err) {
      const message = err instanceof ModuleError ? err.message : pgMessage(err);
      const option = err instanceof ChangeError && err.option !== undefined ? `option '${err.option}': ` : '';
      if (created.db) {
        throw new ModuleError(`${option}database ${name}: ${message}; ${await dropNew(created.subscriptions)}`);
      }
      const state = done.length ? `already done: ${done.join(', ')}` : 'nothing was changed';
      throw new ModuleError(`${option}database ${name}: ${message} (${state})`);
    } finally {
      // A batch must not keep a connection per database (max_connections).
      await session.release(name);
    }
  }

  /** Drops a database this task created, after a failure: nothing is left half made. */
  async function dropNew(subs: string[]): Promise<string> {
    const leftSlots: string[] = [];
    for (const s of subs) {
      const conn = await session.connection(name);
      const q = quoteIdent(s);
      try {
        await conn.query(`DROP SUBSCRIPTION ${q}`);
      } catch {
        // The publisher cannot be reached: drop the subscription without its slot.
        try {
          await conn.query(`ALTER SUBSCRIPTION ${q} DISABLE`);
          await conn.query(`ALTER SUBSCRIPTION ${q} SET (slot_name = NONE)`);
          await conn.query(`DROP SUBSCRIPTION ${q}`);
          leftSlots.push(s);
        } catch {
          /* DROP DATABASE below says what is left */
        }
      }
    }
    await session.release(name);
    try {
      await (await session.connection(maintenanceDb(name))).query(`DROP DATABASE ${db} WITH (FORCE)`);
    } catch (e) {
      return `the new database ${name} could NOT be dropped again (${pgMessage(e)}): it exists, incompletely configured`;
    }
    const slots = leftSlots.length ? ` (the replication slot${leftSlots.length > 1 ? 's' : ''} ${leftSlots.join(', ')} may remain on the publisher)` : '';
    return `the new database ${name} was dropped again${slots}`;
  }

  const steps: Step[] = visible.map((c) => ({
    change: c.change,
    queries: c.statements.map((s) => s.shown ?? s.sql),
    ...(c.mode === 'clone' ? { commands: [cloneCmd!.shown] } : {}),
    apply: async () => unit(),
  }));
  if (replanned) steps.push(replanned);
  return steps;
}
