// The instance's `databases` list as a component: the database module's batch planner, over the
// instance task's session, after the roles.
import { planDatabases } from '../../database';
import type { InstanceComponent } from '../../instance/component';
import type { Step } from '../../plan';
import { planDumps } from '../dumps/plan';

export const databasesComponent: InstanceComponent = {
  name: 'databases',
  declared: (c) => (c.opts.databases?.length ?? 0) > 0 && c.lifecycle !== 'drop',
  sqlOnCreation: (c) => (c.opts.databases ?? []).filter((d) => d.state !== 'absent').map((d) => `create database ${d.name}`),
  async sql(c) {
    if (c.server.inRecovery) {
      c.module.warn(`instance ${c.layout.id} is a standby (read-only): its databases were not applied`);
      return { steps: [] };
    }
    const plan = await planDatabases(c.session, c.opts.databases!, { optionPath: (i, p) => `databases[${i}].${p}`, plannedRoles: c.server.plannedRoles });
    // The dump options of each database (dump, restore, schedule_dump): a dump before a drop.
    const before: Step[] = [];
    const after: Step[] = [];
    for (const [i, d] of c.opts.databases!.entries()) {
      const p = await planDumps(c.session, c.settings, d, (o) => `databases[${i}].${o}`);
      before.push(...p.before);
      after.push(...p.after);
    }
    return { steps: [...before, ...plan.steps, ...after], before: plan.before, after: plan.after };
  },
};
