// The instance module's `roles` and `databases` lists, reconciled in the same task as the
// instance, over one session (one connection, plus one per database for what lives inside
// one): roles first, then databases (which may be owned by those roles), like pglift.
import { dump } from 'js-yaml';
import type { InstanceOptions } from '../../generated/instance';
import { planDatabases } from '../database';
import { applySteps, report, type PlanReport } from '../plan';
import { planRoles } from '../role';
import type { ModuleContext, ModuleResult } from '../runtime';
import type { SiteSettings } from '../settings';
import type { InstanceLayout } from './layout';
import { inSession } from './target';

export function declaresObjects(opts: InstanceOptions): boolean {
  return (opts.roles?.length ?? 0) > 0 || (opts.databases?.length ?? 0) > 0;
}

interface ObjectsReport extends PlanReport {
  before: { roles?: object; databases?: object };
  after: { roles?: object; databases?: object };
}

/** Check mode on an instance that does not exist yet: there is no catalog to plan against. */
function plannedOnCreation(opts: InstanceOptions): ObjectsReport {
  const roles = (opts.roles ?? []).filter((r) => r.state !== 'absent').map((r) => r.name);
  const dbs = (opts.databases ?? []).filter((d) => d.state !== 'absent').map((d) => d.name);
  const changes = [...roles.map((r) => `create role ${r}`), ...dbs.map((d) => `create database ${d}`)];
  return {
    changed: changes.length > 0,
    changes,
    commands: [],
    queries: [],
    before: {},
    after: { ...(roles.length ? { roles } : {}), ...(dbs.length ? { databases: dbs } : {}) },
  };
}

async function reconcileObjects(settings: SiteSettings, l: InstanceLayout, opts: InstanceOptions, ctx: ModuleContext, existed: boolean): Promise<ObjectsReport> {
  if (ctx.checkMode && !existed) return plannedOnCreation(opts);
  return inSession(settings, l, async (session) => {
    const steps = [];
    const before: ObjectsReport['before'] = {};
    const after: ObjectsReport['after'] = {};
    if (opts.roles?.length) {
      const roles = await planRoles(await session.connection(), opts.roles, {
        instance: l,
        settings,
        port: session.port,
        connect: (db) => session.connection(db),
        optionPrefix: (i) => `roles[${i}].`,
      });
      // Applied before the databases are planned: a database may be owned by a new role.
      if (!ctx.checkMode) await applySteps(roles.steps, roles.undo);
      steps.push(...roles.steps);
      before.roles = roles.before;
      after.roles = roles.after;
    }
    if (opts.databases?.length) {
      const dbs = await planDatabases(session, opts.databases, { optionPath: (i, p) => `databases[${i}].${p}` });
      if (!ctx.checkMode) await applySteps(dbs.steps);
      steps.push(...dbs.steps);
      before.databases = dbs.before;
      after.databases = dbs.after;
    }
    return { ...report(steps), before, after };
  });
}

/** Adds the objects' plan to the instance's result: one task, one report. */
export async function withObjects(
  result: ModuleResult,
  settings: SiteSettings,
  l: InstanceLayout,
  opts: InstanceOptions,
  ctx: ModuleContext,
  existed: boolean,
): Promise<ModuleResult> {
  const objects = await reconcileObjects(settings, l, opts, ctx, existed);
  const changes = [...(result.changes ?? []), ...objects.changes];
  const text = (o: object) => (Object.keys(o).length ? dump(o, { lineWidth: 120, noRefs: true, sortKeys: true }) : '');
  const diff = result.diff ?? { before: '', after: '' };
  return {
    ...result,
    changed: result.changed || objects.changed,
    changes,
    commands: [...(result.commands ?? []), ...objects.commands],
    queries: [...(result.queries ?? []), ...objects.queries],
    msg: objects.changed ? `${ctx.checkMode ? 'would ' : ''}${changes.join('; ')}` : result.msg,
    diff: { ...diff, before: `${diff.before}${text(objects.before)}`, after: `${diff.after}${text(objects.after)}` },
  };
}
