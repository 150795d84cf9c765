// The instance module: inspect an instance, plan what differs from the declared state, report
// the plan (check mode) or apply it. Creating, updating and dropping live in their own files.
import type { InstanceOptions } from '../../generated/instance';
import { withLock } from '../lock';
import type { ModuleContext, ModuleResult } from '../runtime';
import { loadSettings } from '../settings';
import { create } from './create';
import { drop } from './drop';
import { layout, resolveVersion } from './layout';
import { declaresObjects, withObjects } from './objects';
import { serviceFor } from './service';
import { inspect } from './state';
import { update } from './update';

export async function reconcileInstance(opts: InstanceOptions, ctx: ModuleContext): Promise<ModuleResult> {
  const settings = loadSettings();
  const version = resolveVersion(settings, opts.name, opts.version);
  const l = layout(settings, version, opts.name);
  // In check mode nothing is written, not even the lock file's directory.
  const locked = ctx.checkMode ? (fn: () => Promise<ModuleResult>) => fn() : (fn: () => Promise<ModuleResult>) => withLock(l.lockFile, settings.lockTimeout, `instance ${l.id}`, fn);
  return locked(async () => {
    const current = inspect(l);
    const service = serviceFor(settings, l);
    if (opts.state === 'absent') return drop(settings, l, current, service, ctx, opts);
    const result = current.exists ? await update(settings, l, current, service, ctx, opts) : await create(settings, l, service, ctx, opts);
    return declaresObjects(opts) ? withObjects(result, settings, l, opts, ctx, current.exists) : result;
  });
}
