// The instance's `roles` list as a component: the role module's batch planner, over the
// instance task's session, before the databases (which may be owned by these roles).
import { planRoles } from '../../role';
import type { InstanceComponent } from '../../instance/component';

export const rolesComponent: InstanceComponent = {
  name: 'roles',
  declared: (c) => (c.opts.roles?.length ?? 0) > 0 && c.lifecycle !== 'drop',
  sqlOnCreation: (c) => (c.opts.roles ?? []).filter((r) => r.state !== 'absent').map((r) => `create role ${r.name}`),
  async sql(c) {
    // A standby's roles are its primary's, replicated: only their pg_hba.conf records and
    // passfile entries are written here (the host's own files, which a failover must find).
    const readOnly = c.server.inRecovery;
    const plan = await planRoles(await c.session.connection(), c.opts.roles!, {
      readOnly,
      instance: c.layout,
      settings: c.settings,
      port: c.session.port,
      connect: (db) => c.session.connection(db),
      optionPrefix: (i) => `roles[${i}].`,
    });
    for (const [name, state] of Object.entries(plan.after)) if (state.state !== 'absent') c.server.plannedRoles.add(name);
    return { steps: plan.steps, undo: plan.undo, before: plan.before, after: plan.after };
  },
};
