// Command-line flags generated from a module's options (modules/generated/cli.ts, itself generated
// from schemas/): `--port 5433`, `--data-checksums` / `--no-data-checksums`, `--settings KEY=VALUE`
// (repeatable), `--auth-local peer` (an object's sub-options), `--memberships r1 --memberships r2`
// (lists, repeatable; an element written `{...}` is YAML), and for a secret `--password` (prompted,
// or $SOCLE_PASSWORD) or `--password-file FILE`, never its value. The values are then validated
// by the module's own validator: an error names the option and its flag.
import { load as loadYaml } from 'js-yaml';
import type { CliOption } from '../modules/generated/cli';

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export type FlagKind = 'bool' | 'scalar' | 'list' | 'map' | 'yaml' | 'secret';

export interface Flag {
  /** `port`, `auth-local`, `prometheus-password`. */
  name: string;
  /** Where the value goes in the module's options. */
  path: string[];
  kind: FlagKind;
  option: CliOption;
}

/** Ansible markup (C(x), O(x), RV(x), M(x)...) as plain text. */
export function plain(text: string): string {
  // O(socle.postgresql.instance#module:pgbackrest) names another module's option: its name is enough here.
  return text.replace(/\b(?:RV|[BICULMOVEP])\(([^()]*)\)/g, (_m, inner: string) => inner.replace(/^[a-z_.]+#module:/, ''));
}

function flagName(path: string[]): string {
  return path.join('-').replace(/_/g, '-');
}

/** The env var a secret flag may be read from: SOCLE_PASSWORD, SOCLE_SUROLE_PASSWORD. */
export function secretEnv(flag: Flag): string {
  return 'SOCLE_' + flag.name.replace(/-/g, '_').toUpperCase();
}

/** The flags of a module's options, minus those the command sets itself. */
export function flagsOf(options: Record<string, CliOption>, exclude: string[] = [], prefix: string[] = []): Flag[] {
  const out: Flag[] = [];
  for (const [key, option] of Object.entries(options)) {
    const path = [...prefix, key];
    if (exclude.includes(path.join('.'))) continue;
    const f = (kind: FlagKind): Flag => ({ name: flagName(path), path, kind, option });
    if (option.secret) out.push(f('secret'));
    else if (option.type === 'bool') out.push(f('bool'));
    else if (option.type === 'dict' && option.options) out.push(...flagsOf(option.options, exclude, path));
    else if (option.type === 'dict') out.push(f('map'));
    else if (option.type === 'list') out.push(f('list'));
    else if (option.type === 'raw' || option.type === 'json') out.push(f('yaml'));
    else out.push(f('scalar'));
  }
  return out;
}

function yamlValue(flag: string, text: string): unknown {
  try {
    return loadYaml(text);
  } catch (err) {
    throw new UsageError(`--${flag}: not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
}

/** A scalar as the option's type wants it; left as text when it is not one (the validator names the option). */
function scalar(type: string | undefined, text: string): unknown {
  if ((type === 'int' || type === 'float') && text.trim() !== '' && !Number.isNaN(Number(text))) return Number(text);
  if (type === 'bool' && /^(true|yes|on|1)$/i.test(text)) return true;
  if (type === 'bool' && /^(false|no|off|0)$/i.test(text)) return false;
  return text;
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const k of path.slice(0, -1)) {
    if (node[k] === undefined || typeof node[k] !== 'object') node[k] = {};
    node = node[k] as Record<string, unknown>;
  }
  node[path[path.length - 1]] = value;
}

function getPath(target: Record<string, unknown>, path: string[]): unknown {
  let node: unknown = target;
  for (const k of path) node = node && typeof node === 'object' ? (node as Record<string, unknown>)[k] : undefined;
  return node;
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * `over` laid on `base`, key by key at every depth: a mapping given in both is merged (a flag
 * `--settings work_mem=8MB` or `--pgbackrest-schedule-full ...` keeps the file's other settings
 * and sub-options); a scalar or a list in `over` replaces the one in `base`. Neither is modified.
 */
export function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    out[k] = isMapping(v) && isMapping(base[k]) ? deepMerge(base[k] as Record<string, unknown>, v) : v;
  }
  return out;
}

export interface ParsedFlags {
  options: Record<string, unknown>;
  /** Secret flags asked for: their value comes from a prompt, a file or the environment. */
  secrets: Array<{ flag: Flag; file?: string }>;
}

/**
 * Applies `--name value` pairs (already split from the positionals) to an options object. Flags
 * unknown to the module are an error naming them; a secret's value on the command line is refused
 * (ps would show it to every user of the host).
 */
export function applyFlags(flags: Flag[], given: Array<[string, string | undefined]>, options: Record<string, unknown> = {}): ParsedFlags {
  const secrets: ParsedFlags['secrets'] = [];
  const byName = new Map(flags.map((f) => [f.name, f]));
  for (const [rawName, value] of given) {
    const name = rawName.replace(/_/g, '-');
    let flag = byName.get(name);
    if (!flag && name.startsWith('no-') && byName.get(name.slice(3))?.kind === 'bool') {
      if (value !== undefined) throw new UsageError(`--${name} takes no value`);
      flag = byName.get(name.slice(3))!;
      setPath(options, flag.path, false);
      continue;
    }
    if (!flag && name.endsWith('-file') && byName.get(name.slice(0, -5))?.kind === 'secret') {
      if (value === undefined) throw new UsageError(`--${name} needs a file name`);
      secrets.push({ flag: byName.get(name.slice(0, -5))!, file: value });
      continue;
    }
    if (!flag) throw new UsageError(`unknown option --${rawName} (see --help)`);
    switch (flag.kind) {
      case 'secret':
        if (value !== undefined) {
          throw new UsageError(
            `--${flag.name} takes no value: a secret is never read from the command line (ps shows it to every user); ` +
              `give --${flag.name} alone to be prompted (or to read $${secretEnv(flag)}), or --${flag.name}-file FILE`,
          );
        }
        secrets.push({ flag });
        break;
      case 'bool':
        if (value === undefined) setPath(options, flag.path, true);
        else setPath(options, flag.path, scalar('bool', value));
        break;
      case 'scalar':
        if (value === undefined) throw new UsageError(`--${flag.name} needs a value`);
        setPath(options, flag.path, scalar(flag.option.type, value));
        break;
      case 'yaml':
        if (value === undefined) throw new UsageError(`--${flag.name} needs a value`);
        setPath(options, flag.path, /^\s*[[{]/.test(value) ? yamlValue(flag.name, value) : value);
        break;
      case 'list': {
        if (value === undefined) throw new UsageError(`--${flag.name} needs a value`);
        const list = (getPath(options, flag.path) as unknown[] | undefined) ?? [];
        if (/^\s*\[/.test(value)) list.push(...(yamlValue(flag.name, value) as unknown[]));
        else list.push(/^\s*\{/.test(value) ? yamlValue(flag.name, value) : scalar(flag.option.elements, value));
        setPath(options, flag.path, list);
        break;
      }
      case 'map': {
        if (value === undefined) throw new UsageError(`--${flag.name} needs KEY=VALUE`);
        const map = (getPath(options, flag.path) as Record<string, unknown> | undefined) ?? {};
        if (/^\s*\{/.test(value)) Object.assign(map, yamlValue(flag.name, value) as object);
        else {
          const eq = value.indexOf('=');
          if (eq <= 0) throw new UsageError(`--${flag.name} needs KEY=VALUE, got "${value}"`);
          map[value.slice(0, eq)] = value.slice(eq + 1);
        }
        setPath(options, flag.path, map);
        break;
      }
    }
  }
  return { options, secrets };
}

/** `option 'auth.local'` in a module's message, with the flag that sets it: `option 'auth.local' (--auth-local)`. */
export function withFlagNames(message: string, flags: Flag[], positionals: Record<string, string> = {}): string {
  return message.replace(/option '([^']+)'/g, (m, path: string) => {
    const top = path.replace(/\[\d+\].*$/, '');
    if (positionals[top]) return `${m} (${positionals[top]})`;
    const f = flags.find((x) => x.path.join('.') === top) ?? flags.find((x) => top.startsWith(x.path.join('.') + '.'));
    return f ? `${m} (--${f.name})` : m;
  });
}
