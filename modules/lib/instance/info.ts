// instance_info: the facts of an instance, read-only.
import type { InstanceInfoOptions } from '../../generated/instance_info';
import { withConnection, type Connection } from '../pg/client';
import { parseConf } from '../pg/guc';
import { ModuleError, type ModuleResult } from '../runtime';
import { loadSettings } from '../settings';
import { envFacts } from './state';
import { exists, layout, resolveVersion, type InstanceLayout } from './layout';
import { runningState } from './status';
import { readFileSync } from 'node:fs';

/** Facts of the instance's components (replication...), given by the module entry. */
export type InfoFacts = Record<string, (conn: Connection | null, l: InstanceLayout) => Promise<unknown>>;

export function instanceInfo(facts: InfoFacts = {}) {
  return (opts: InstanceInfoOptions) => info(opts, facts);
}

async function info(opts: InstanceInfoOptions, facts: InfoFacts): Promise<ModuleResult> {
  const settings = loadSettings();
  const l = layout(settings, resolveVersion(settings, opts.name, opts.version), opts.name);
  if (!exists(l)) throw new ModuleError(`instance ${l.id} does not exist (no ${l.datadir})`);
  let conf: Map<string, string>;
  try {
    conf = parseConf(readFileSync(l.managedConf, 'utf8'));
  } catch {
    throw new ModuleError(`instance ${l.id} is not managed by socle.postgresql (no ${l.managedConf})`);
  }
  const running = runningState(l.datadir);
  const port = running?.port ?? Number(conf.get('port') ?? 5432);
  const read = async (c: Connection | null) => {
    const out: Record<string, unknown> = {};
    for (const [name, f] of Object.entries(facts)) out[name] = await f(c, l);
    const pending = c ? (await c.query('SELECT bool_or(pending_restart) AS p FROM pg_settings')).rows[0].p === true : false;
    return { pending, out };
  };
  const { pending, out } = running
    ? await withConnection({ host: running.socketDir || l.socketDir, port, user: settings.postgresql.surole.name }, read)
    : await read(null);
  return {
    changed: false,
    msg: `instance ${l.id} is ${running ? 'running' : 'stopped'}`,
    name: l.name,
    version: l.version,
    port,
    datadir: l.datadir,
    waldir: l.waldir,
    status: running ? 'running' : 'stopped',
    pending_restart: pending,
    settings: Object.fromEntries(conf),
    env: envFacts(settings, l, port),
    ...out,
  };
}
