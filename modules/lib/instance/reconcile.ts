// The instance module: inspect an instance, plan what differs from the declared state, report
// the plan (check mode) or apply it. Creating, updating and dropping live in their own files;
// the components (roles, databases, replication, satellites) are given by the module entry and
// called through lifecycle.ts.
import type { InstanceOptions } from '../../generated/instance';
import { withLock } from '../lock';
import type { ModuleContext, ModuleResult } from '../runtime';
import { loadSettings } from '../settings';
import type { InstanceComponent } from './component';
import { create } from './create';
import { drop } from './drop';
import { layout, resolveVersion } from './layout';
import { checkComponents, componentsFor, withComponents } from './lifecycle';
import { serviceFor } from './service';
import { inspect } from './state';
import { update } from './update';

export function reconcileInstance(components: InstanceComponent[]) {
  return async (opts: InstanceOptions, ctx: ModuleContext): Promise<ModuleResult> => {
    const settings = loadSettings();
    const version = resolveVersion(settings, opts.name, opts.version);
    const l = layout(settings, version, opts.name);
    // In check mode nothing is written, not even the lock file's directory.
    const locked = ctx.checkMode ? (fn: () => Promise<ModuleResult>) => fn() : (fn: () => Promise<ModuleResult>) => withLock(l.lockFile, settings.lockTimeout, `instance ${l.id}`, fn);
    return locked(async () => {
      const current = inspect(l);
      const service = serviceFor(settings, l);
      const lifecycle = opts.state === 'absent' ? 'drop' : current.exists ? 'update' : 'create';
      const k = componentsFor(components, { opts, settings, layout: l, module: ctx, lifecycle, current, port: opts.port });
      await checkComponents(k);
      if (lifecycle === 'drop') return drop(settings, l, current, service, k, opts);
      const result = current.exists ? await update(settings, l, current, service, k, opts) : await create(settings, l, service, k, opts);
      return withComponents(result, k, current.exists);
    });
  };
}
