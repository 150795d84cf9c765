// The role module: one role of one instance, through the batch API (planRoles).
import type { RoleOptions } from '../../generated/role';
import { findInstance, withInstance } from '../instance/target';
import { applySteps, report } from '../plan';
import type { ModuleContext, ModuleResult } from '../runtime';
import { loadSettings } from '../settings';
import { planRoles } from './index';

export async function reconcileRole(opts: RoleOptions, ctx: ModuleContext): Promise<ModuleResult> {
  const settings = loadSettings();
  const l = findInstance(settings, opts.instance);
  const { instance: _instance, ...spec } = opts;
  void _instance;
  return withInstance(settings, l, async (session) => {
    const conn = await session.connection();
    const plan = await planRoles(conn, [spec], { instance: l, settings, port: session.port, connect: (db) => session.connection(db) });
    if (!ctx.checkMode) await applySteps(plan.steps, plan.undo);
    const r = report(plan.steps);
    const before = plan.before[opts.name];
    const after = plan.after[opts.name];
    const msg = r.changed
      ? `${ctx.checkMode ? 'would ' : ''}${r.changes.join('; ')}`
      : `role ${opts.name} is ${opts.state} in instance ${l.id}, nothing to change`;
    return {
      ...r,
      msg,
      instance: l.id,
      role: { name: opts.name, ...after },
      diff: { before: { name: opts.name, ...before }, after: { name: opts.name, ...after }, before_header: `role ${opts.name} (before)`, after_header: `role ${opts.name} (after)` },
    };
  });
}
