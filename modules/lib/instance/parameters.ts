// What PostgreSQL knows about its parameters (context, type, unit), so that the module can
// compare values as PostgreSQL reads them, reject unknown names before writing them, and tell
// which changes need a restart.
import { join } from 'node:path';
import { gucEqual } from '../pg/guc';
import { run } from '../exec';
import type { Connection } from '../pg/client';
import type { ConfValue } from './config';

export interface ParameterInfo {
  context: string;
  vartype: string;
  unit?: string | null;
  /** Value in use by the running server (in `unit`), when known. */
  setting?: string;
  pendingRestart?: boolean;
}

export type ParameterCatalog = Map<string, ParameterInfo>;

/** From a running server: exact, with units and the values in use. */
export async function catalogFromServer(conn: Connection): Promise<ParameterCatalog> {
  const { rows } = await conn.query('SELECT name, context, vartype, unit, setting, pending_restart FROM pg_settings');
  return new Map(
    rows.map((r) => [r.name, { context: r.context, vartype: r.vartype, unit: r.unit, setting: r.setting, pendingRestart: r.pending_restart }]),
  );
}

/** Offline, from `postgres --describe-config` (no units): enough to validate names and contexts. */
export async function catalogFromBinaries(bindir: string): Promise<ParameterCatalog> {
  const { stdout } = await run(join(bindir, 'postgres'), ['--describe-config']);
  const catalog: ParameterCatalog = new Map();
  for (const line of stdout.split('\n')) {
    const [name, context, , vartype] = line.split('\t');
    if (name && context) catalog.set(name, { context, vartype: vartype.toLowerCase() });
  }
  return catalog;
}

/** Names PostgreSQL would reject; names with a dot are extension parameters (custom placeholders). */
export function unknownParameters(names: Iterable<string>, catalog: ParameterCatalog): string[] {
  return [...names].filter((n) => !n.includes('.') && !catalog.has(n));
}

export function sameValue(name: string, a: ConfValue | undefined, b: ConfValue | undefined, catalog?: ParameterCatalog): boolean {
  if (a === undefined || b === undefined) return a === b;
  return gucEqual(a, b, catalog?.get(name));
}

/** Parameters whose declared value differs between two parameter maps (added, removed or changed). */
export function changedParameters(
  current: Record<string, ConfValue>,
  wanted: Record<string, ConfValue>,
  catalog?: ParameterCatalog,
): string[] {
  const names = new Set([...Object.keys(current), ...Object.keys(wanted)]);
  return [...names].filter((n) => !sameValue(n, current[n], wanted[n], catalog)).sort();
}

/**
 * Whether the running server would still wait for a restart after `wanted` is loaded: a
 * postmaster-context parameter whose wanted value differs from the one in use, or one that was
 * already pending before this task.
 */
export function restartNeeded(changed: string[], wanted: Record<string, ConfValue>, catalog: ParameterCatalog): boolean {
  const changedSet = new Set(changed);
  for (const [name, info] of catalog) {
    if (info.pendingRestart && !changedSet.has(name)) return true;
  }
  return changed.some((name) => {
    const info = catalog.get(name);
    if (!info || info.context !== 'postmaster') return false;
    if (!(name in wanted) || info.setting === undefined) return true;
    return !gucEqual(wanted[name], info.setting, info);
  });
}
