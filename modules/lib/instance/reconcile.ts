// The instance module: inspect an instance, plan what differs from the declared state, report
// the plan (check mode) or apply it. Creating, updating and dropping live in their own files;
// the components (roles, databases, replication, satellites) are given by the module entry and
// called through lifecycle.ts.
import type { InstanceOptions } from '../../generated/instance';
import { withLock } from '../lock';
import type { ModuleContext, ModuleResult } from '../runtime';
import { parseConf } from '../pg/guc';
import { loadSettings } from '../settings';
import type { InstanceComponent, InstanceSpec } from './component';
import { create } from './create';
import { drop } from './drop';
import { layout, resolveVersion } from './layout';
import { checkComponents, componentsFor, serverOf, withComponents } from './lifecycle';
import { serviceFor } from './service';
import { inspect, type Current } from './state';
import { update } from './update';

export function reconcileInstance(components: InstanceComponent[]) {
  return async (declared: InstanceOptions, ctx: ModuleContext): Promise<ModuleResult> => {
    let opts = declared as InstanceSpec;
    const settings = loadSettings();
    const version = resolveVersion(settings, opts.name, opts.version);
    const l = layout(settings, version, opts.name);
    // In check mode nothing is written, not even the lock file's directory.
    const locked = ctx.checkMode ? (fn: () => Promise<ModuleResult>) => fn() : (fn: () => Promise<ModuleResult>) => withLock(l.lockFile, settings.lockTimeout, `instance ${l.id}`, fn);
    return locked(async () => {
      const current = inspect(l);
      // An omitted port keeps the instance where it is (a new one gets PostgreSQL's default).
      opts = { ...opts, port: opts.port ?? (current.exists ? currentPort(current) : undefined) ?? 5432 };
      const lifecycle = opts.state === 'absent' ? 'drop' : current.exists ? 'update' : 'create';
      const k = componentsFor(components, { opts, settings, layout: l, module: ctx, lifecycle, current, port: opts.port });
      await checkComponents(k);
      // A component may run the server itself (Patroni); else the instance's own service.
      const service = serverOf(k) ?? serviceFor(settings, l);
      if (lifecycle === 'drop') return drop(settings, l, current, service, k, opts);
      const result = current.exists ? await update(settings, l, current, service, k, opts) : await create(settings, l, current, service, k, opts);
      return withComponents(result, k, current.exists);
    });
  };
}

function currentPort(cur: Current): number | undefined {
  const written = parseConf(cur.managedText ?? '').get('port');
  const port = Number(written ?? cur.running?.port);
  return Number.isInteger(port) && port > 0 ? port : undefined;
}
