// Runs one command: its flags parsed against the module's options (flags.ts), secrets read,
// the current state consulted (the command's prepare hook), the options validated by the
// module's own validator (an error names the option and its flag, before anything is done),
// then the module's definition run through the runtime's `execute`, exactly as Ansible runs it:
// --dry-run is check mode, --diff is diff mode, and the result is masked the same way.
import { dropNulls, execute, type ModuleDefinition } from '../modules/lib/runtime';
import { onStepStart } from '../modules/lib/plan';
import { formatValidationErrors } from '../modules/lib/validation';
import { MODULES, OPTIONS } from '../modules/generated/cli';
import { applyFlags, flagsOf, UsageError, withFlagNames, type Flag } from './flags';
import { readSecrets, confirm } from './secrets';
import { json, out, Progress, renderChange, type Format } from './output';
import type { Command } from './commands';

/** Exit codes (docs/cli.md). */
export const EXIT = {
  OK: 0,
  /** The operation failed (the module's message says why). */
  FAILED: 1,
  /** Bad usage: unknown command or flag, invalid option value (named). */
  USAGE: 2,
  /** The instance, role or database does not exist; `instance status`: not running. */
  NOT_FOUND: 3,
  NOT_RUNNING: 3,
  /** `create` of something that exists already. */
  EXISTS: 4,
  /** A destructive command not confirmed. */
  ABORTED: 5,
  /** The command's module is not part of this build. */
  UNAVAILABLE: 6,
  INTERRUPTED: 130,
} as const;

export class CliError extends Error {
  constructor(message: string, readonly code: number) {
    super(message);
    this.name = 'CliError';
  }
}

export interface Invocation {
  output: Format;
  dryRun: boolean;
  diff: boolean;
  yes: boolean;
  quiet: boolean;
  verbosity: number;
  /** The command's own flags (not module options), by name. */
  extra: Record<string, any>;
  /** After `--` (exec). */
  rest: string[];
}

/** The flags of a command: its module's options minus what positionals and the command set. */
export function commandFlags(cmd: Command): Flag[] {
  if (!cmd.module || !OPTIONS[cmd.module]) return [];
  const taken = [...(cmd.args ?? []).flatMap((a) => (a.option ? [a.option] : [])), ...Object.keys(cmd.fixed ?? {}), ...(cmd.exclude ?? [])];
  const flags = flagsOf(OPTIONS[cmd.module], taken);
  // `only` names options (`instance`) or sub-options (`pgbackrest.stanza`): a flag is kept when
  // its option is one of them or lies under one.
  const kept = (f: Flag) => cmd.only!.some((o) => { const p = f.path.join('.'); return p === o || p.startsWith(`${o}.`); });
  return cmd.only ? flags.filter(kept) : flags;
}

/** Whether the command's module (and the option it needs) is part of this build. */
export function available(cmd: Command): boolean {
  if (!cmd.module) return true;
  if (!(cmd.module in MODULES && cmd.module in OPTIONS)) return false;
  return !cmd.requires || cmd.requires in OPTIONS[cmd.module];
}

export function unavailable(label: string, cmd: Command): CliError {
  const what = cmd.module! in OPTIONS ? `option '${cmd.requires}' of module '${cmd.module}'` : `its module '${cmd.module}'`;
  return new CliError(`${label}: not available in this build of socle.postgresql (${what} is not part of it)`, EXIT.UNAVAILABLE);
}

export async function runCommand(
  label: string, cmd: Command, positionals: string[], given: Array<[string, string | undefined]>, inv: Invocation,
): Promise<number> {
  if (!available(cmd)) throw unavailable(label, cmd);
  const flags = commandFlags(cmd);
  const args = cmd.args ?? [];
  const fixedArgs = args.filter((a) => !a.rest);
  const required = fixedArgs.filter((a) => !a.optional);
  const hasRest = args.some((a) => a.rest);
  if (positionals.length < required.length) throw new UsageError(`${label}: missing ${required.slice(positionals.length).map((a) => a.name).join(' ')} (see --help)`);
  if (!hasRest && positionals.length > fixedArgs.length) throw new UsageError(`${label}: unexpected argument "${positionals[fixedArgs.length]}" (see --help)`);
  if (hasRest) inv.rest = [...positionals.slice(fixedArgs.length), ...inv.rest];

  const options: Record<string, any> = structuredClone(cmd.fixed ?? {});
  const positionalFlags: Record<string, string> = {};
  fixedArgs.forEach((a, i) => {
    if (a.option && positionals[i] !== undefined) {
      options[a.option] = positionals[i];
      positionalFlags[a.option] = a.name;
    }
  });
  const { secrets } = applyFlags(flags, given, options);
  // --version names the instance's version for the commands whose module has no such option.
  if (inv.extra.version !== undefined && cmd.module && OPTIONS[cmd.module]?.version && options.version === undefined) options.version = inv.extra.version;
  await readSecrets(secrets, options);

  if (cmd.run) return cmd.run(inv, options);

  const def: ModuleDefinition<any> = cmd.definition ? cmd.definition() : MODULES[cmd.module!]();
  await cmd.prepare?.(options, inv);
  // The module's own validator, on what the module will get: a bad value is named with its flag
  // before anything is done (the module would refuse it the same way).
  const candidate = dropNulls(structuredClone(options)) as Record<string, unknown>;
  def.prepare?.(candidate);
  if (!def.validate(candidate)) {
    throw new UsageError(withFlagNames(`${label}: ${formatValidationErrors(def.validate.errors ?? [])}`, flags, positionalFlags));
  }
  if (cmd.confirm && !inv.dryRun) {
    const question = cmd.confirm(options);
    if (question && !inv.yes) {
      if (!process.stdin.isTTY) throw new CliError(`${label}: refusing without confirmation: give --yes (no terminal to ask on)`, EXIT.ABORTED);
      if (!(await confirm(question))) throw new CliError(`${label}: not confirmed, nothing done`, EXIT.ABORTED);
    }
  }

  const progress = new Progress(cmd.changes === true && !inv.dryRun && !inv.quiet);
  onStepStart((change) => progress.step(change));
  let result: Record<string, any>;
  try {
    result = await execute(def, { ...options, _ansible_check_mode: inv.dryRun, _ansible_diff: inv.diff, _ansible_verbosity: inv.verbosity });
  } finally {
    onStepStart(null);
    progress.stop();
  }
  if (result.failed) {
    if (inv.output === 'json') json(result);
    throw new CliError(withFlagNames(String(result.msg), flags, positionalFlags), EXIT.FAILED);
  }
  if (inv.output === 'json') json(result);
  else {
    out(cmd.render && !inv.dryRun ? cmd.render(result, inv) : renderChange(result, { dryRun: inv.dryRun, diff: inv.diff }));
    for (const w of (result.warnings as string[] | undefined) ?? []) process.stderr.write(`warning: ${w}\n`);
  }
  return cmd.exitCode ? cmd.exitCode(result) : EXIT.OK;
}
