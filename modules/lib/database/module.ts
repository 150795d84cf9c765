// The `database` module: one database of one instance, through the batch API.
import type { DatabaseOptions } from '../../generated/database';
import { findInstance, withInstance } from '../instance/target';
import { applySteps, report } from '../plan';
import type { ModuleContext, ModuleResult } from '../runtime';
import { loadSettings } from '../settings';
import { planDatabases } from './index';
import { dumpsFact, planDumps } from '../components/dumps/plan';

export async function reconcileDatabase(opts: DatabaseOptions, ctx: ModuleContext): Promise<ModuleResult> {
  const settings = loadSettings();
  const l = findInstance(settings, opts.instance);
  const { instance: _instance, ...spec } = opts;
  void _instance;
  return withInstance(settings, l, async (session) => {
    const plan = await planDatabases(session, [spec]);
    // The dump options: a dump before a drop, the rest after the database's own changes.
    const dumps = await planDumps(session, settings, spec);
    const steps = [...dumps.before, ...plan.steps, ...dumps.after];
    if (!ctx.checkMode) await applySteps(steps);
    const r = report(steps);
    const after = plan.after[spec.name];
    const msg = r.changed
      ? `${ctx.checkMode ? 'would ' : ''}${r.changes.join('; ')}`
      : `database ${spec.name} of instance ${l.id} is ${after.state}, nothing to change`;
    return {
      ...r,
      msg,
      name: spec.name,
      state: after.state,
      dumps: dumpsFact(settings, session, spec.name),
      diff: {
        before: plan.before[spec.name],
        after,
        before_header: `database ${spec.name} (before)`,
        after_header: `database ${spec.name} (after)`,
      },
    };
  });
}
