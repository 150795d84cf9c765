// The Ansible module runtime shared by every module.
//
// Ansible runs `/usr/bin/node <module>.js <args-file>` (the bundle carries the WANT_JSON marker).
// This file reads the args, splits Ansible's own `_ansible_*` keys from the user's options,
// validates the options with the module's precompiled ajv validator, runs the module, masks
// secrets, and prints exactly one JSON result on stdout. Nothing else may reach stdout: Ansible
// drops text printed before the JSON and warns about text after it.
import { readFileSync } from 'node:fs';
import { formatValidationErrors, type ValidationError } from './validation';
import { appliedChanges, journalMark } from './plan';
import { collectSecrets, maskSecrets } from './secrets';

export interface ModuleContext {
  /** Module name as Ansible calls it, e.g. `instance`. */
  name: string;
  checkMode: boolean;
  diff: boolean;
  verbosity: number;
  /** Non-fatal remarks, returned as Ansible `warnings`. */
  warn(message: string): void;
}

/** What a module returns: the result contract plus any module facts. */
export interface ModuleResult {
  changed: boolean;
  msg: string;
  changes?: string[];
  queries?: string[];
  commands?: string[];
  diff?: { before: string | object; after: string | object; before_header?: string; after_header?: string };
  [fact: string]: unknown;
}

/** An expected failure: its message is shown to the user as is (prefixed by the module name). */
export class ModuleError extends Error {
  constructor(message: string, readonly facts: Record<string, unknown> = {}) {
    super(message);
    this.name = 'ModuleError';
  }
}

export interface Validator {
  (data: unknown): boolean;
  errors?: ValidationError[] | null;
}

export interface ModuleDefinition<T> {
  name: string;
  validate: Validator;
  /** Paths of options marked `x-secret` in the schema; `*` stands for any key or index. */
  secretPaths: string[][];
  /** Repairs what Ansible's parsing does to the options before they are validated. */
  prepare?(options: Record<string, unknown>): void;
  run(options: T, ctx: ModuleContext): Promise<ModuleResult>;
}

interface AnsibleArgs {
  options: Record<string, unknown>;
  checkMode: boolean;
  diff: boolean;
  verbosity: number;
}

export function splitAnsibleArgs(raw: Record<string, unknown>): AnsibleArgs {
  const options: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (!key.startsWith('_ansible_')) options[key] = value;
  }
  return {
    options,
    checkMode: raw._ansible_check_mode === true,
    diff: raw._ansible_diff === true,
    verbosity: typeof raw._ansible_verbosity === 'number' ? raw._ansible_verbosity : 0,
  };
}

/**
 * Ansible passes `null` for an option written as `opt:` or `opt: "{{ none }}"`; users mean
 * "not set". Dropping nulls lets schema defaults apply instead of failing validation (a known
 * pain point of dalibo.pglift).
 */
export function dropNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(dropNulls);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== null) out[k] = dropNulls(v);
    return out;
  }
  return value;
}

/**
 * JSON for Ansible: non-ASCII escaped, because U+2028/U+2029 (and, with some controller
 * locales, any non-ASCII) break the controller's parsing of the module output.
 */
export function toAnsibleJson(result: object): string {
  return JSON.stringify(result).replace(/[\u007f-\uffff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

/** No option of any module nests this deep: anything deeper is refused before it is walked. */
export const MAX_DEPTH = 64;

/**
 * The path (`a.b[3]`) of the first value nested deeper than `max` levels, or null. Iterative: the
 * recursive walks that follow (dropNulls, secrets, validation) would overflow the stack on a
 * hostile args file and fail with a RangeError instead of naming the option.
 */
export function tooDeep(value: unknown, max = MAX_DEPTH): string | null {
  const stack: Array<[unknown, string, number]> = [[value, '', 0]];
  while (stack.length) {
    const [v, path, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth >= max) return path || '(root)';
    for (const [k, child] of Object.entries(v)) {
      const p = Array.isArray(v) ? `${path}[${k}]` : path ? `${path}.${k}` : k;
      stack.push([child, p, depth + 1]);
    }
  }
  return null;
}

/**
 * The paths of the options (values or keys) holding a NUL character. No text of PostgreSQL
 * (names, values, passwords), no line of a file and no argument of a command can hold one: such a
 * value is refused here, by its path, rather than failing wherever it would be used.
 */
export function nulPaths(value: unknown): string[] {
  const out: string[] = [];
  const stack: Array<[unknown, string]> = [[value, '']];
  while (stack.length) {
    const [v, path] = stack.pop()!;
    if (typeof v === 'string') {
      if (v.includes('\0')) out.push(path || '(root)');
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    for (const [k, child] of Object.entries(v)) {
      const p = Array.isArray(v) ? `${path}[${k}]` : path ? `${path}.${k}` : k;
      if (k.includes('\0')) out.push(p.replace(/\0/g, '\\0'));
      else stack.push([child, p]);
    }
  }
  return out.reverse();
}

/** Runs a module definition against parsed Ansible args; never throws. */
export async function execute<T>(def: ModuleDefinition<T>, raw: Record<string, unknown>): Promise<Record<string, unknown>> {
  const deep = tooDeep(raw);
  if (deep !== null) {
    return { failed: true, changed: false, msg: `${def.name}: invalid options: option '${deep}' is nested deeper than ${MAX_DEPTH} levels` };
  }
  const args = splitAnsibleArgs(raw);
  const nul = nulPaths(args.options);
  if (nul.length) {
    return { failed: true, changed: false, msg: `${def.name}: invalid options: ${nul.map((p) => `option '${p}' must not contain a NUL character`).join('; ')}` };
  }
  const warnings: string[] = [];
  const ctx: ModuleContext = {
    name: def.name,
    checkMode: args.checkMode,
    diff: args.diff,
    verbosity: args.verbosity,
    warn: (m) => warnings.push(m),
  };
  const journalAtStart = journalMark();
  const options = dropNulls(args.options) as Record<string, unknown>;
  def.prepare?.(options);
  // Secrets are collected before validation: even a value that fails validation is masked.
  const secrets = collectSecrets(options, def.secretPaths);
  let result: Record<string, unknown>;
  try {
    if (typeof process.getuid === 'function' && process.getuid() === 0) {
      throw new ModuleError(
        'refusing to run as root: PostgreSQL instances are owned by an unprivileged system user; ' +
          'run this task with `become: true` and `become_user: <that user>` (e.g. postgres)',
      );
    }
    if (!def.validate(options)) {
      throw new ModuleError(formatValidationErrors(def.validate.errors ?? []));
    }
    const { diff, ...rest } = await def.run(options as T, ctx);
    result = { ...rest, ...(ctx.diff && diff ? { diff } : {}) };
  } catch (err) {
    result = failure(def.name, err, args.verbosity);
    // Work committed before the failure is a change (handlers must fire), and is listed.
    const applied = appliedChanges().slice(journalAtStart);
    if (applied.length) Object.assign(result, { changed: true, changes: applied });
  }
  if (warnings.length) result.warnings = warnings;
  return maskSecrets(result, secrets) as Record<string, unknown>;
}

function failure(name: string, err: unknown, verbosity: number): Record<string, unknown> {
  const error = err instanceof Error ? err : new Error(String(err));
  const expected = error instanceof ModuleError;
  const out: Record<string, unknown> = {
    failed: true,
    changed: false,
    msg: `${name}: ${expected ? error.message : `unexpected error: ${error.message}`}`,
    ...(expected ? error.facts : {}),
  };
  // Stack traces are for developers: only at -vvv, like Ansible's own modules.
  if (verbosity >= 3 && error.stack) out.exception = error.stack;
  return out;
}

/**
 * The `socle` command (cli/) loads a module entry to get its definition instead of running it:
 * while `captureDefinition` loads it, `main` hands the definition over and returns. The command
 * then runs it with `execute`, the same path as Ansible's (validation, secrets, check mode).
 */
let definitionSink: ((def: ModuleDefinition<any>) => void) | null = null;

export function captureDefinition(load: () => unknown): ModuleDefinition<any> {
  let captured: ModuleDefinition<any> | null = null;
  definitionSink = (def) => {
    captured = def;
  };
  try {
    load();
  } finally {
    definitionSink = null;
  }
  if (captured === null) throw new Error('the module entry did not call main()');
  return captured;
}

/** Entry point called by each bundled module. */
export function main<T>(def: ModuleDefinition<T>): void {
  if (definitionSink) {
    definitionSink(def);
    return;
  }
  const respond = (result: object, failed: boolean) => {
    process.exitCode = failed ? 1 : 0;
    // Exit as soon as the result is handed to the OS: connections still closing (a server's
    // goodbye) would only delay Ansible. The write callback, not process.exit() right after
    // write(), so that a large result on a pipe is never cut.
    process.stdout.write(toAnsibleJson(result) + '\n', () => process.exit());
  };
  const argsFile = process.argv[2];
  let raw: Record<string, unknown>;
  try {
    if (!argsFile) throw new Error('expected the path of an Ansible JSON args file as first argument');
    raw = JSON.parse(readFileSync(argsFile, 'utf8'));
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new Error('args file is not a JSON object');
  } catch (err) {
    respond({ failed: true, changed: false, msg: `${def.name}: cannot read module arguments: ${(err as Error).message}` }, true);
    return;
  }
  execute(def, raw).then(
    (result) => respond(result, result.failed === true),
    (err) => respond({ failed: true, changed: false, msg: `${def.name}: unexpected error: ${String(err)}` }, true),
  );
}
