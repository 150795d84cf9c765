// What the command needs of instances beyond the modules: finding them on disk (list), running
// their services (start/stop/restart/reload, with the companion services of their components),
// and reading back the declared state of an existing one (alter, promote), so that a command that
// changes one thing runs the instance module with everything else as it is. All of it with the
// modules' own code: layout, services, components, locks, plans.
import { readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { COMPONENTS } from '../modules/lib/components';
import { withLock } from '../modules/lib/lock';
import { applySteps, report, type Step } from '../modules/lib/plan';
import { parseConf, parsePgBool, normalizeGucValue } from '../modules/lib/pg/guc';
import { readBlock } from '../modules/lib/pg/hba';
import { ModuleError, type ModuleContext, type ModuleResult } from '../modules/lib/runtime';
import { loadSettings, type SiteSettings } from '../modules/lib/settings';
import type { InstanceSpec } from '../modules/lib/instance/component';
import { baseParameters, HBA_AUTH_BLOCK, listEntries, type ConfValue } from '../modules/lib/instance/config';
import { exists, layout, resolveVersion, type InstanceLayout } from '../modules/lib/instance/layout';
import { companionSteps, componentParameters, componentsFor } from '../modules/lib/instance/lifecycle';
import { serviceFor } from '../modules/lib/instance/service';
import { inspect, envFacts } from '../modules/lib/instance/state';

export interface InstanceRow {
  name: string;
  version: string;
  port: number | null;
  status: 'running' | 'stopped';
  datadir: string;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Instances on this host: each version's folder of the datadir template, where PG_VERSION is. */
export function listInstances(settings: SiteSettings = loadSettings()): InstanceRow[] {
  const rows: InstanceRow[] = [];
  const tpl = settings.postgresql.datadir;
  for (const { version } of settings.postgresql.versions) {
    const filled = tpl.split('{version}').join(version);
    const at = filled.indexOf('{name}');
    if (at < 0) continue;
    const start = filled.lastIndexOf('/', at) + 1;
    const endSlash = filled.indexOf('/', at);
    const segment = filled.slice(start, endSlash < 0 ? filled.length : endSlash);
    const parent = dirname(filled.slice(0, start) + 'x');
    const pattern = new RegExp('^' + segment.split('{name}').map(escapeRegExp).join('(.+)') + '$');
    let entries: string[] = [];
    try {
      entries = readdirSync(parent);
    } catch {
      continue;
    }
    for (const entry of entries.sort()) {
      const m = pattern.exec(entry);
      if (!m) continue;
      const l = layout(settings, version, m[1]);
      const cur = inspect(l);
      if (!exists(l) || cur.interrupted) continue;
      const conf = parseConf(cur.managedText ?? '');
      const port = cur.running?.port ?? (conf.get('port') ? Number(conf.get('port')) : null);
      rows.push({ name: l.name, version, port, status: cur.running ? 'running' : 'stopped', datadir: l.datadir });
    }
  }
  return rows;
}

export function instanceLayout(name: string, version?: string): { settings: SiteSettings; l: InstanceLayout } {
  const settings = loadSettings();
  const l = layout(settings, resolveVersion(settings, name, version), name);
  if (!exists(l)) throw new NotFound(`instance ${l.id} does not exist`);
  return { settings, l };
}

export class NotFound extends ModuleError {}

export type ServiceOp = 'start' | 'stop' | 'restart' | 'reload';

/**
 * start, stop, restart or reload an instance and make its components' services (exporter, agent)
 * follow, under the instance's lock, as a plan: --dry-run shows the exact commands.
 */
export function serviceOperation(op: ServiceOp) {
  return async (opts: { name: string; version?: string }, ctx: ModuleContext): Promise<ModuleResult> => {
    const { settings, l } = instanceLayout(opts.name, opts.version);
    const locked = ctx.checkMode ? (fn: () => Promise<ModuleResult>) => fn() : (fn: () => Promise<ModuleResult>) => withLock(l.lockFile, settings.lockTimeout, `instance ${l.id}`, fn);
    return locked(async () => {
      const current = inspect(l);
      const running = current.running !== null;
      const port = current.running?.port ?? Number(parseConf(current.managedText ?? '').get('port') ?? 5432);
      const spec = { name: l.name, version: l.version, port, settings: {}, state: op === 'stop' ? 'stopped' : 'started', restart_on_changes: false } as InstanceSpec;
      const k = componentsFor(COMPONENTS, { opts: spec, settings, layout: l, module: ctx, lifecycle: 'update', current, port });
      const service = serviceFor(settings, l);
      const steps: Step[] = [];
      const action = (change: string, a: { commands: string[]; run(): Promise<void> }) => steps.push({ change, commands: a.commands, apply: a.run });
      if (op === 'start' && !running) action(`start instance ${l.id}`, service.start());
      if (op === 'stop' && running) action(`stop instance ${l.id}`, service.stop());
      if (op === 'restart') action(`${running ? 'restart' : 'start'} instance ${l.id}`, running ? service.restart() : service.start());
      if (op === 'reload') {
        if (!running) throw new ModuleError(`instance ${l.id} is not running: nothing to reload`);
        action(`reload instance ${l.id}`, service.reload());
      }
      if (op !== 'reload') steps.push(...companionSteps(k, op === 'stop' ? 'stopped' : 'running', op === 'restart' && running));
      if (!ctx.checkMode) await applySteps(steps, k.undo);
      const status = op === 'stop' ? 'stopped' : 'running';
      const r = report(steps);
      return {
        ...r,
        msg: r.changed ? `${ctx.checkMode ? 'would ' : ''}${r.changes.join('; ')}` : `instance ${l.id} is ${status}, nothing to change`,
        name: l.name,
        version: l.version,
        status,
        port,
        env: envFacts(settings, l, port),
      };
    });
  };
}

/** Text form of a parameter value, for comparisons (true and 'on' are the same). */
function norm(v: ConfValue | string): string {
  const text = normalizeGucValue(v);
  const b = parsePgBool(text);
  return b === null ? text : b ? 'on' : 'off';
}

/**
 * The instance module's options that describe an existing instance as it is: version, port,
 * state, the user's settings (socle.conf minus what the collection and the components put there)
 * and the authentication methods of its pg_hba.conf block. Components keep their own state on
 * disk (the instance module finds them when their option is not repeated).
 */
export function currentManifest(name: string, version?: string): Record<string, unknown> {
  const { settings, l } = instanceLayout(name, version);
  const current = inspect(l);
  const conf = parseConf(current.managedText ?? '');
  const port = Number(conf.get('port') ?? current.running?.port ?? 5432);
  const spec = { name: l.name, version: l.version, port, settings: {}, state: 'started', restart_on_changes: false } as InstanceSpec;
  const ctx: ModuleContext = { name: 'instance', checkMode: true, diff: false, verbosity: 0, warn: () => undefined };
  const k = componentsFor(COMPONENTS, { opts: spec, settings, layout: l, module: ctx, lifecycle: 'update', current, port });
  const base = baseParameters(l, port) as Record<string, ConfValue>;
  const fromComponents = new Map<string, ConfValue>();
  const listed = new Map<string, string[]>();
  for (const { needs } of componentParameters(k)) {
    for (const [n, v] of Object.entries({ ...needs.defaults, ...needs.required })) fromComponents.set(n.toLowerCase(), v);
    for (const [n, v] of Object.entries(needs.lists ?? {})) listed.set(n.toLowerCase(), [...(listed.get(n.toLowerCase()) ?? []), ...v]);
  }
  const user: Record<string, string> = {};
  for (const [key, value] of conf) {
    if (key === 'port' || key === 'unix_socket_directories') continue;
    if (key in base && norm(base[key]) === norm(value)) continue;
    if (fromComponents.has(key) && norm(fromComponents.get(key)!) === norm(value)) continue;
    if (listed.has(key)) {
      const mine = listEntries(value).filter((e) => !listed.get(key)!.includes(e));
      if (mine.length) user[key] = mine.join(', ');
      continue;
    }
    user[key] = value;
  }
  const manifest: Record<string, unknown> = { name: l.name, version: l.version, port, state: current.running ? 'started' : 'stopped', settings: user };
  const auth = authOf(current.hbaText);
  if (auth) manifest.auth = auth;
  return manifest;
}

/** The methods of the managed pg_hba.conf block (see hbaAuthLines): local, host (loopback), hostssl. */
function authOf(hba: string | null): Record<string, string> | null {
  const block = hba ? readBlock(hba, HBA_AUTH_BLOCK) : null;
  if (!block) return null;
  const auth: Record<string, string> = {};
  for (const line of block) {
    const cols = line.trim().split(/\s+/);
    if (cols[0] === 'local' && cols[1] === 'all') auth.local = cols[3];
    if (cols[0] === 'host' && cols[1] === 'all' && cols[3] === '127.0.0.1/32') auth.host = cols[4];
    if (cols[0] === 'hostssl' && cols[1] === 'all') auth.hostssl = cols[4];
  }
  return auth;
}
