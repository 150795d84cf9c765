// How the core calls its components (component.ts) at each point of the lifecycle: the context
// each one gets, their parameters, files, services, SQL and facts, always in registration order
// (drop: reverse order), so the order is the list's and shows in the plan as is.
import { mkdirSync, rmSync } from 'node:fs';
import { readTextOr, writePrivateFileAtomic } from '../fsutil';
import { dirname, join } from 'node:path';
import { dump } from 'js-yaml';
import type { InstanceSpec } from './component';
import type { CompanionService } from '../daemon';
import type { Connection } from '../pg/client';
import { applySteps, report, type Step } from '../plan';
import type { ModuleContext, ModuleResult } from '../runtime';
import type { SiteSettings } from '../settings';
import type { ComponentContext, InstanceComponent, Lifecycle, ServerState } from './component';
import { managedParameters, type ComponentParameters } from './config';
import type { Service } from './service';
import { rejectReservedSettings } from './state';
import type { InstanceLayout } from './layout';
import type { Current } from './state';
import { inSession } from './target';

export interface Components {
  list: InstanceComponent[];
  context: ComponentContext;
  undo: Array<() => Promise<void>>;
}

export function componentsFor(
  all: InstanceComponent[],
  args: { opts: InstanceSpec; settings: SiteSettings; layout: InstanceLayout; module: ModuleContext; lifecycle: Lifecycle; current: Current; port: number },
): Components {
  const undo: Array<() => Promise<void>> = [];
  const k: Components = { list: [], context: null as unknown as ComponentContext, undo };
  k.context = {
    ...args,
    onUndo: (fn) => undo.push(fn),
    privateFile: (name, suffix) => join(args.settings.prefix, 'etc', name, `${args.layout.version}-${args.layout.name}${suffix}`),
    parameters: () => managedParameters(args.layout, args.port, rejectReservedSettings(args.opts.settings ?? {}), componentParameters(k)),
  };
  k.list = all.filter((c) => c.declared(k.context));
  return k;
}

/** The Service of a component that runs the server (Patroni), or null: the instance's own then. */
export function serverOf(k: Components): Service | null {
  for (const c of k.list) {
    const s = c.server?.(k.context);
    if (s) return s;
  }
  return null;
}

/** Creates the folder of a component's private file (0700), for use in steps' apply(). */
export function privateDir(file: string): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
}

/**
 * A step writing a private file (0600, its folder 0700) when its text differs, or null. With
 * `onUndo` (a component's `c.onUndo`), a failed creation puts the old text back (or removes it).
 */
export function privateFileStep(file: string, text: string, change: string, onUndo?: ComponentContext['onUndo']): Step | null {
  const before = readTextOr(file, null);
  if (before === text) return null;
  return {
    change,
    commands: [`write ${file} (mode 0600)`],
    async apply() {
      privateDir(file);
      writePrivateFileAtomic(file, text);
      onUndo?.(async () => (before === null ? rmSync(file, { force: true }) : writePrivateFileAtomic(file, before)));
    },
  };
}

export async function checkComponents(k: Components): Promise<void> {
  for (const c of k.list) await c.check?.(k.context);
}

export function componentParameters(k: Components): ComponentParameters {
  return k.list.flatMap((c) => (c.parameters ? [{ component: c.name, needs: c.parameters(k.context) }] : []));
}

export async function configureSteps(k: Components): Promise<Step[]> {
  const out: Step[] = [];
  for (const c of k.list) out.push(...((await c.configure?.(k.context)) ?? []));
  return out;
}

export function companions(k: Components): CompanionService[] {
  return k.list.flatMap((c) => c.services?.(k.context) ?? []);
}

/** Steps that make the companion services follow the instance's final state. */
export function companionSteps(k: Components, status: 'running' | 'stopped' | 'absent', instanceRestarted = false): Step[] {
  const steps: Step[] = [];
  for (const s of companions(k)) {
    const running = s.isRunning();
    if (status !== 'absent' && !s.isInstalled()) {
      // A changed definition (unit, environment, command line): written, then the running
      // service restarted (a supervised process has nothing to write: it is just restarted).
      const a = s.install();
      if (a.commands.length) {
        steps.push({ change: `install service ${s.name}`, commands: a.commands, apply: async () => { k.undo.push(async () => s.uninstall().run()); await a.run(); } });
      }
      if (running && status === 'running') {
        const r = s.restart();
        steps.push({ change: `restart service ${s.name}`, commands: r.commands, apply: r.run });
        continue;
      }
    }
    if (status === 'running' && (!running || instanceRestarted)) {
      const a = running ? s.restart() : s.start();
      steps.push({ change: `${running ? 'restart' : 'start'} service ${s.name}`, commands: a.commands, apply: async () => { k.undo.push(async () => s.stop().run()); await a.run(); } });
    } else if (status !== 'running' && running) {
      const a = s.stop();
      steps.push({ change: `stop service ${s.name}`, commands: a.commands, apply: a.run });
    }
    if (status === 'absent') {
      const a = s.uninstall();
      if (a.commands.length) steps.push({ change: `remove service ${s.name}`, commands: a.commands, apply: a.run });
    }
  }
  return steps;
}

export function dropSteps(k: Components): Step[] {
  return [...k.list].reverse().flatMap((c) => c.drop?.(k.context) ?? []);
}

export function provisionOf(k: Components) {
  for (const c of k.list) {
    const p = c.provision?.(k.context);
    if (p) return { component: c.name, ...p };
  }
  return null;
}

interface SqlReport {
  steps: Step[];
  before: Record<string, object>;
  after: Record<string, object>;
  facts: Record<string, unknown>;
}

/**
 * The `sql` phase and the facts. Components that need the server get a session (a stopped
 * instance is started for it and stopped again, also in check mode: the plan needs the catalog),
 * in registration order, each plan applied before the next component plans. Without any, facts
 * are read without a connection.
 */
async function sqlPhase(k: Components, exists: boolean): Promise<SqlReport> {
  const out: SqlReport = { steps: [], before: {}, after: {}, facts: {} };
  const { context } = k;
  const wanting = k.list.filter((c) => c.sql && (c.needsServer?.(context) ?? true));
  const facts = async (conn: Connection | null) => {
    for (const c of k.list) {
      if (!c.facts) continue;
      const f = await c.facts(context, conn);
      if (f !== undefined) out.facts[c.name] = f;
    }
  };
  // In check mode a new instance has no catalog to plan against: components plan without one.
  if (!wanting.length || (context.module.checkMode && !exists)) {
    for (const c of wanting) {
      for (const change of c.sqlOnCreation?.(context) ?? []) out.steps.push({ change, apply: async () => undefined });
    }
    await facts(null);
    return out;
  }
  await inSession(context.settings, context.layout, async (session) => {
    const { rows } = await (await session.connection()).query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
    const server: ServerState = { inRecovery: rows[0].r, plannedRoles: new Set() };
    for (const c of wanting) {
      const plan = await c.sql!({ ...context, session, server });
      if (!context.module.checkMode) await applySteps(plan.steps, plan.undo ?? []);
      out.steps.push(...plan.steps);
      if (plan.before && Object.keys(plan.before).length) out.before[c.name] = plan.before;
      if (plan.after && Object.keys(plan.after).length) out.after[c.name] = plan.after;
    }
    await facts(session.startedForTask ? null : await session.connection());
  }, context.opts.surole_password);
  return out;
}

/** Adds the components' SQL phase and facts to the instance's result: one task, one report. */
export async function withComponents(result: ModuleResult, k: Components, exists: boolean): Promise<ModuleResult> {
  const sql = await sqlPhase(k, exists);
  const r = report(sql.steps);
  const changes = [...(result.changes ?? []), ...r.changes];
  const text = (o: object) => (Object.keys(o).length ? dump(o, { lineWidth: 120, noRefs: true, sortKeys: true }) : '');
  const diff = result.diff ?? { before: '', after: '' };
  return {
    ...result,
    ...sql.facts,
    changed: result.changed || r.changed,
    changes,
    commands: [...(result.commands ?? []), ...r.commands],
    queries: [...(result.queries ?? []), ...r.queries],
    msg: r.changed ? `${k.context.module.checkMode ? 'would ' : ''}${changes.join('; ')}` : result.msg,
    diff: { ...diff, before: `${diff.before}${text(sql.before)}`, after: `${diff.after}${text(sql.after)}` },
  };
}
