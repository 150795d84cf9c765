// Run-time parameters of a database (ALTER DATABASE ... SET / RESET), compared with
// pg_db_role_setting the way the server reads them (4MB = 4096kB, on = true). List parameters
// (search_path, ...) are split into elements: each element is sent as its own literal, as
// `SET search_path TO 'a', 'b'` does, since one literal 'a, b' would name a single schema "a, b".
import { gucEqual } from '../pg/guc';
import { quoteIdent, quoteLiteral } from '../pg/quote';

export type SettingValue = string | number | boolean;

/** Parameters whose value is a list of (possibly quoted) names: GUC_LIST_INPUT | GUC_LIST_QUOTE. */
const LIST_PARAMETERS = new Set(['search_path', 'temp_tablespaces', 'session_preload_libraries', 'local_preload_libraries']);

export function isListParameter(name: string): boolean {
  return LIST_PARAMETERS.has(name.toLowerCase());
}

/** `"$user", public` -> ['$user', 'public']: split on commas outside double quotes, "" unescaped. */
export function splitList(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  let wasQuoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          cur += '"';
          i++;
        } else quoted = false;
      } else cur += c;
    } else if (c === '"') {
      quoted = true;
      wasQuoted = true;
    } else if (c === ',') {
      out.push(wasQuoted ? cur : cur.trim());
      cur = '';
      wasQuoted = false;
    } else if (/\s/.test(c)) {
      if (!wasQuoted && cur !== '') cur += c;
    } else {
      cur += c;
    }
  }
  out.push(wasQuoted ? cur : cur.trim());
  // An empty list ('' or "") has no element.
  return out.length === 1 && out[0] === '' ? [] : out;
}

/** `name=value` entries of pg_db_role_setting.setconfig. */
export function parseSetconfig(entries: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of entries) {
    const i = e.indexOf('=');
    if (i > 0) out.set(e.slice(0, i), e.slice(i + 1));
  }
  return out;
}

/** A parameter name in SQL: each dotted part quoted (`"app"."tenant"`). */
export function parameterSql(name: string): string {
  return name.split('.').map(quoteIdent).join('.');
}

export function valueSql(name: string, value: SettingValue): string {
  if (typeof value === 'boolean') return value ? "'on'" : "'off'";
  if (typeof value === 'number') return quoteLiteral(String(value));
  if (isListParameter(name)) {
    const items = splitList(value);
    return items.length ? items.map(quoteLiteral).join(', ') : "''";
  }
  return quoteLiteral(value);
}

/** Whether the stored text means the wanted value. */
export function settingEqual(name: string, wanted: SettingValue, stored: string): boolean {
  if (isListParameter(name) && typeof wanted === 'string') {
    return JSON.stringify(splitList(wanted)) === JSON.stringify(splitList(stored));
  }
  if (String(wanted) === stored) return true;
  return gucEqual(wanted, stored);
}

export interface SettingsPlan {
  /** Statements, in order; empty when nothing changes. */
  statements: string[];
  set: string[];
  reset: string[];
  /** The settings after the plan (names as stored for the ones kept). */
  after: Record<string, string>;
}

export function planSettings(database: string, wanted: Record<string, SettingValue> | undefined, storedEntries: string[]): SettingsPlan {
  const stored = parseSetconfig(storedEntries);
  const current = Object.fromEntries(stored);
  if (wanted === undefined) return { statements: [], set: [], reset: [], after: current };
  const db = quoteIdent(database);
  const keys = Object.keys(wanted);
  if (keys.length === 0) {
    return stored.size
      ? { statements: [`ALTER DATABASE ${db} RESET ALL`], set: [], reset: [...stored.keys()], after: {} }
      : { statements: [], set: [], reset: [], after: {} };
  }
  const storedName = (k: string) => [...stored.keys()].find((s) => s.toLowerCase() === k.toLowerCase());
  const statements: string[] = [];
  const set: string[] = [];
  const reset: string[] = [];
  const after: Record<string, string> = {};
  for (const k of keys) {
    const s = storedName(k);
    const v = wanted[k];
    if (s !== undefined && settingEqual(k, v, stored.get(s)!)) {
      after[s] = stored.get(s)!;
      continue;
    }
    statements.push(`ALTER DATABASE ${db} SET ${parameterSql(k)} TO ${valueSql(k, v)}`);
    set.push(k);
    after[k] = typeof v === 'boolean' ? (v ? 'on' : 'off') : String(v);
  }
  for (const s of stored.keys()) {
    if (!keys.some((k) => k.toLowerCase() === s.toLowerCase())) {
      statements.push(`ALTER DATABASE ${db} RESET ${parameterSql(s)}`);
      reset.push(s);
    }
  }
  return { statements, set, reset, after };
}
