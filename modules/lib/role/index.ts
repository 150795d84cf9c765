// The batch API of roles: plan any number of role declarations against one instance, over one
// connection, with one catalog query for all of them. Used by the `role` module (one role) and
// by the instance module's `roles` list.
//
//   const plan = await planRoles(conn, specs, { instance: l, settings, port });
//   if (!checkMode) await applySteps(plan.steps, plan.undo);
//   report(plan.steps)  // changes, queries, commands
//
// Apply order: pg_hba.conf is written and checked by PostgreSQL first (restored and the task
// fails if it is invalid), then each role's SQL runs in its own transaction, then the passfile is
// written and the configuration reloaded. A failure after the pg_hba.conf step restores the file
// (through `undo`), so a failing role leaves neither its SQL nor its records behind.
import { readFileSync } from 'node:fs';
import type { InstanceLayout } from '../instance/layout';
import type { Connection } from '../pg/client';
import { hbaFileErrors } from '../pg/file-checks';
import { queryUnlogged } from '../pg/unlogged';
import { readTextOr, whyNotWritable, writeFileAtomic, writePrivateFileAtomic } from '../fsutil';
import type { Step } from '../plan';
import { ModuleError } from '../runtime';
import type { SiteSettings } from '../settings';
import { passwordsMatch } from '../pg/scram';
import { listDatabases, readCatalog } from './catalog';
import { planRole, transactionGroups, type RolePlan, type RoleState, type Statement } from './plan';
import { normalizeSpec, type NormalizedRole, type RoleSpec } from './spec';
import { roleBlockMarker } from './hba';

export type { RoleSpec, RoleState };

export interface RolesContext {
  instance: InstanceLayout;
  settings: SiteSettings;
  /** Port of the running instance (passfile entries are per port). */
  port: number;
  /**
   * A super-user connection to another database of the instance, for DROP OWNED / REASSIGN OWNED
   * of a dropped role in every database (InstanceSession.connection fits). Without it, a dropped
   * role's objects are only handled in the main connection's database.
   */
  connect?: (database: string) => Promise<Connection>;
  /** Prefix of spec `i`'s options in messages: '' for the role module, e.g. `roles[${i}].` for a list. */
  optionPrefix?: (index: number) => string;
  /**
   * The server is read-only (a standby, a Patroni replica): the roles are its primary's,
   * replicated, so no SQL is planned; what is the host's own is, the roles' pg_hba.conf records
   * and passfile entries, so that the clients of a standby, or of a replica once promoted, are
   * let in as on the primary.
   */
  readOnly?: boolean;
}

export interface RolesPlan {
  /** In apply order; `report(steps)` gives changes/queries/commands, an empty plan is no change. */
  steps: Step[];
  /** Undo actions registered by steps as they run: pass to applySteps(steps, undo). */
  undo: Array<() => Promise<void>>;
  /** Each role by name, before and after (as `diff.before` / `diff.after`); never a password. */
  before: Record<string, RoleState>;
  after: Record<string, RoleState>;
}


/** Present roles first, each after the batch's roles it is a member of (so they exist); then absent ones. */
export function orderRoles(roles: NormalizedRole[]): NormalizedRole[] {
  const present = roles.filter((r) => r.state === 'present');
  const byName = new Map(present.map((r) => [r.name, r]));
  const out: NormalizedRole[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (r: NormalizedRole) => {
    const s = state.get(r.name);
    if (s === 'done' || s === 'visiting') return; // a cycle: PostgreSQL will refuse it, say so there
    state.set(r.name, 'visiting');
    for (const [m, wanted] of r.memberships) {
      const dep = byName.get(m);
      if (wanted && dep) visit(dep);
    }
    state.set(r.name, 'done');
    out.push(r);
  };
  present.forEach(visit);
  return [...out, ...roles.filter((r) => r.state === 'absent')];
}

function pgError(err: unknown): string {
  const e = err as { message?: string; detail?: string; hint?: string };
  return [e.message ?? String(err), e.detail, e.hint].filter(Boolean).join('; ');
}

/** Runs a group of statements; a failure rolls the group back and says which statement failed. */
async function runGroup(conn: Connection, group: Statement[]): Promise<void> {
  const inTransaction = group.length > 1;
  let current: Statement | undefined;
  try {
    for (const s of group) {
      current = s;
      await (s.secret ? queryUnlogged(conn, s.sql(), inTransaction) : conn.query(s.sql()));
    }
  } catch (err) {
    if (inTransaction) await conn.query('ROLLBACK').catch(() => undefined);
    throw Object.assign(err as object, { statement: current });
  }
}

function sqlStep(p: RolePlan, r: NormalizedRole, conn: Connection, ctx: RolesContext): Step {
  const groups = transactionGroups(p.statements);
  return {
    change: p.change!,
    queries: groups.flat().map((s) => s.shown),
    async apply() {
      for (const group of groups) {
        const db = group[0].database;
        let c = conn;
        if (db !== undefined) {
          if (!ctx.connect) throw new ModuleError(`role ${r.name}: no connection to database ${db}`);
          c = await ctx.connect(db);
        }
        try {
          await runGroup(c, group);
        } catch (err) {
          if (err instanceof ModuleError) throw err;
          const hint = /cannot be dropped because some objects depend on it/.test(String((err as Error).message))
            ? `; use ${r.where}drop_owned or ${r.where}reassign_owned`
            : '';
          // The option the refused statement comes from; else the role's item in a list (or nothing, alone).
          const option = (err as { statement?: Statement }).statement?.option ?? (r.where ? r.where.replace(/\.$/, '') : undefined);
          throw new ModuleError(`${option ? `option '${option}': ` : ''}role ${r.name}${db !== undefined ? ` (in database ${db})` : ''}: ${pgError(err)}${hint}`);
        }
      }
    },
  };
}

/**
 * The `hba_records` options whose blocks hold the lines PostgreSQL rejects (`line N: ...`), so
 * that the error names what to fix.
 */
function rejectedRecords(text: string, errors: string[], roles: NormalizedRole[]): string[] {
  const lines = text.split('\n');
  const out = new Set<string>();
  for (const e of errors) {
    const m = /^line (\d+):/.exec(e);
    if (!m) continue;
    const n = Number(m[1]);
    for (const r of roles) {
      const marker = roleBlockMarker(r.name);
      const begin = lines.findIndex((l) => l.trim() === `# BEGIN ${marker}`);
      const end = lines.findIndex((l, i) => i > begin && l.trim() === `# END ${marker}`);
      if (begin >= 0 && n > begin + 1 && n <= end) out.add(`${r.where}hba_records`);
    }
  }
  return [...out];
}

/**
 * Plans `specs` on the instance reached by `conn` (a super-user connection). Reads the catalog
 * once for all roles (plus one query when timestamps or parameters need the server's reading,
 * one when a dropped role's objects are handled), pg_hba.conf and the passfile; runs nothing.
 * Throws a ModuleError naming the option on a declaration that cannot be applied.
 */
export async function planRoles(conn: Connection, specs: RoleSpec[], ctx: RolesContext): Promise<RolesPlan> {
  const prefix = ctx.optionPrefix ?? (() => '');
  const normalized = specs.map((s, i) => normalizeSpec(s, prefix(i)));
  const seen = new Set<string>();
  for (const r of normalized) {
    if (seen.has(r.name)) throw new ModuleError(`option '${r.where}name': role '${r.name}' is declared twice`);
    seen.add(r.name);
  }
  const ordered = orderRoles(normalized);
  const catalog = await readCatalog(conn, ordered);
  const needsDatabases = ordered.some((r) => r.state === 'absent' && (r.dropOwned || r.reassignOwned !== undefined) && catalog.roles.has(r.name));
  const databases = needsDatabases ? await listDatabases(conn) : undefined;
  if (databases && !ctx.connect) databases.all = [databases.current];

  const l = ctx.instance;
  const passfilePath = ctx.settings.postgresql.auth.passfile;
  const wantsHba = ordered.some((r) => r.hbaRecords !== undefined || r.state === 'absent');
  let hbaText = wantsHba ? readTextOr(l.hbaFile, null) : null;
  let passfileText = passfilePath ? readTextOr(passfilePath, '') : null;
  const created = new Set(ordered.filter((r) => r.state === 'present').map((r) => r.name));

  // The costly part of a no-op batch: each plain password against its verifier, all at once.
  const toCompare = ordered.flatMap((r) => {
    const row = catalog.roles.get(r.name);
    return r.password && 'plain' in r.password && row ? [{ role: r.name, password: r.password.plain, stored: row.password }] : [];
  });
  const results = await passwordsMatch(toCompare);
  const passwordMatches = new Map(toCompare.map((c, i) => [c.role, results[i]]));

  const plans: Array<{ r: NormalizedRole; p: RolePlan }> = [];
  for (const r of ordered) {
    const p = planRole(r, { catalog, created, databases, hbaText, passfileText, passfilePath, port: ctx.port, passwordMatches });
    hbaText = p.hbaText;
    passfileText = p.passfileText;
    plans.push({ r, p });
  }

  const steps: Step[] = [];
  const undo: Array<() => Promise<void>> = [];
  const hbaEdits = plans.filter((x) => x.p.hba).map((x) => x.p.hba!);
  if (hbaEdits.length) {
    steps.push({
      change: `write pg_hba.conf records of ${hbaEdits.map((h) => h.summary).join(', ')} in ${l.hbaFile}`,
      commands: [`write ${l.hbaFile}`],
      async apply() {
        // Re-read: the file may have changed since planning (e.g. the instance's own block).
        const old = readFileSync(l.hbaFile, 'utf8');
        const text = hbaEdits.reduce((t, h) => h.edit(t), old);
        const restore = async () => writeFileAtomic(l.hbaFile, old, 0o600);
        writeFileAtomic(l.hbaFile, text, 0o600);
        const errors = await hbaFileErrors(conn).catch(async (err) => {
          await restore();
          throw err;
        });
        if (errors.length) {
          await restore();
          const options = rejectedRecords(text, errors, plans.filter((x) => x.p.hba).map((x) => x.r));
          throw new ModuleError(`${options.length ? `option ${options.map((o) => `'${o}'`).join(', ')}: ` : ''}PostgreSQL rejects the new pg_hba.conf (${errors.join('; ')}); ${l.hbaFile} was restored`);
        }
        undo.push(restore);
      },
    });
  }
  if (!ctx.readOnly) for (const { r, p } of plans) if (p.change) steps.push(sqlStep(p, r, conn, ctx));
  const passEdits = plans.filter((x) => x.p.passfile).map((x) => x.p.passfile!);
  if (passEdits.length && passfilePath) {
    // Checked now: the roles' SQL commits before the passfile is written, so a passfile that
    // cannot be written must stop the task before anything is.
    const why = whyNotWritable(passfilePath);
    if (why) {
      const first = plans.find((x) => x.p.passfile)!.r;
      throw new ModuleError(`option '${first.where}${first.pgpass !== undefined ? 'pgpass' : 'state'}': cannot write the passfile ${passfilePath} (postgresql.auth.passfile of the site settings): ${why}`);
    }
    steps.push({
      change: `${passEdits.map((e) => e.summary).join(', ')} in ${passfilePath}`,
      commands: [`update ${passfilePath}`],
      async apply() {
        const old = readTextOr(passfilePath, '');
        writePrivateFileAtomic(passfilePath, passEdits.reduce((t, e) => e.edit(t), old));
      },
    });
  }
  if (hbaEdits.length) {
    steps.push({
      change: `reload instance ${l.id}`,
      queries: ['SELECT pg_reload_conf()'],
      counts: false,
      async apply() {
        await conn.query('SELECT pg_reload_conf()');
      },
    });
  }
  const before: Record<string, RoleState> = {};
  const after: Record<string, RoleState> = {};
  for (const { p } of plans) {
    before[p.name] = p.before;
    // Read-only: only the host's files change (the role's attributes are the primary's).
    after[p.name] = ctx.readOnly ? hostFilesOnly(p.before, p.after) : p.after;
  }
  return { steps, undo, before, after };
}

/** `before`, with the host's own parts of `after` (pg_hba.conf records, passfile entry). */
function hostFilesOnly(before: RoleState, after: RoleState): RoleState {
  const out: Record<string, unknown> = { ...before };
  for (const k of ['hba_records', 'pgpass'] as const) if (k in after) out[k] = (after as Record<string, unknown>)[k];
  return out as RoleState;
}
