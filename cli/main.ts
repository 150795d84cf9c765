// socle: the terminal command of socle.postgresql (docs/cli.md). Run as the instances' owner,
// it drives the collection's modules (the same code, site settings, validation and locks as
// Ansible's tasks) with flags generated from their schemas.
import { COMMANDS, type Command } from './commands';
import { available, CliError, commandFlags, EXIT, runCommand, unavailable, type Invocation } from './engine';
import { plain, secretEnv, UsageError, type Flag } from './flags';
import { Interrupted } from './secrets';
import { OPTIONS } from '../modules/generated/cli';
import { completionScript, completeWords } from './completion';

declare const SOCLE_VERSION: string;

const GLOBAL_HELP = `Global options:
  -o, --output FORMAT   table (default) or json (one JSON document on stdout, for scripts)
  --dry-run             show the plan (exact commands and SQL, secrets masked), change nothing
  --diff                show the difference between the state before and after
  -y, --yes             do not ask before destructive commands (drop, restore in place)
  --site-settings FILE  site settings file (default: $SOCLE_SETTINGS, ~/.config/socle/settings.yaml,
                        /etc/socle/settings.yaml: the file the setup role writes)
  -q, --quiet           no progress on stderr
  -v                    more detail in errors (-vvv: stack traces)
  -h, --help            help of the command`;

function wrap(text: string, indent: number, width = 100): string {
  const words = text.split(/\s+/).filter(Boolean);
  const lines: string[] = [];
  let line = '';
  for (const w of words) {
    if (line && line.length + w.length + 1 > width - indent) {
      lines.push(line);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  if (line) lines.push(line);
  return lines.join('\n' + ' '.repeat(indent));
}

function flagUsage(f: Flag): string {
  const o = f.option;
  const choices = o.choices ? `{${o.choices.join(',')}}` : '';
  switch (f.kind) {
    case 'bool': return `--[no-]${f.name}`;
    case 'secret': return `--${f.name} | --${f.name}-file FILE`;
    case 'map': return `--${f.name} KEY=VALUE`;
    case 'list': return `--${f.name} ${o.elements === 'dict' ? 'YAML' : 'VALUE'}`;
    case 'yaml': return `--${f.name} YAML`;
    default: return `--${f.name} ${choices || (o.type === 'int' ? 'N' : 'VALUE')}`;
  }
}

function flagHelp(f: Flag): string {
  const o = f.option;
  let text = plain(o.description.join(' '));
  if (f.kind === 'secret') text += ` Prompted without echo (or read from $${secretEnv(f)}, or the first line of FILE); never given on the command line.`;
  if (f.kind === 'list') text += ' Repeat the flag for several.';
  if (f.kind === 'map') text += ' Repeat the flag for several.';
  if (o.default !== undefined && !(typeof o.default === 'object')) text += ` Default: ${String(o.default)}.`;
  if (o.required) text += f.path.length > 1 ? ` Required with any --${f.path.slice(0, -1).join('-').replace(/_/g, '-')}-* flag.` : ' Required.';
  return text;
}

function commandHelp(group: string, name: string, cmd: Command): string {
  const label = name ? `${group} ${name}` : group;
  const args = (cmd.args ?? []).map((a) => (a.rest ? `[-- ${a.name}...]` : a.optional ? `[${a.name}]` : a.name)).join(' ');
  const lines = [`Usage: socle ${label}${args ? ' ' + args : ''} [OPTIONS]`, '', cmd.summary + '.'];
  if (!available(cmd)) lines.push('', `Not available in this build (module '${cmd.module}'${cmd.requires ? ` with option '${cmd.requires}'` : ''} is not part of it).`);
  const optionLines: Array<[string, string]> = [];
  for (const a of cmd.args ?? []) {
    if (a.option && cmd.module && OPTIONS[cmd.module]?.[a.option]) optionLines.push([a.name, plain(OPTIONS[cmd.module][a.option].description.join(' '))]);
  }
  for (const e of cmd.extra ?? []) optionLines.push([`${e.short ? `-${e.short}, ` : ''}--${e.name}${e.kind === 'scalar' ? ' VALUE' : ''}`, e.description]);
  for (const f of available(cmd) ? commandFlags(cmd) : []) optionLines.push([flagUsage(f), flagHelp(f)]);
  if (optionLines.length) {
    lines.push('', 'Options:');
    for (const [u, d] of optionLines) lines.push(`  ${u}`, `      ${wrap(d, 6)}`);
  }
  lines.push('', GLOBAL_HELP);
  return lines.join('\n');
}

function topHelp(): string {
  const lines = [`socle ${SOCLE_VERSION}: PostgreSQL instances of socle.postgresql from a terminal`, '', 'Usage: socle GROUP COMMAND [ARGS] [OPTIONS]', '', 'Commands:'];
  for (const [group, cmds] of Object.entries(COMMANDS)) {
    for (const [name, cmd] of Object.entries(cmds)) {
      const label = name ? `${group} ${name}` : `${group} -f FILE`;
      lines.push(`  ${label.padEnd(26)}${cmd.summary}${available(cmd) ? '' : ' (not available in this build)'}`);
    }
  }
  lines.push(`  ${'completion bash'.padEnd(26)}The bash completion script (source <(socle completion bash))`);
  lines.push('', GLOBAL_HELP, '', 'Exit codes: 0 ok, 1 failed, 2 bad usage, 3 not found (status: not running), 4 already exists,',
    '5 not confirmed, 6 not available in this build, 130 interrupted. See docs/cli.md.');
  return lines.join('\n');
}

interface Parsed {
  positionals: string[];
  given: Array<[string, string | undefined]>;
  inv: Invocation;
  help: boolean;
}

const GLOBAL_VALUE = new Set(['output', 'site-settings']);
const GLOBAL_BOOL = new Set(['dry-run', 'diff', 'yes', 'quiet', 'help']);
const SHORT: Record<string, string> = { o: 'output', y: 'yes', q: 'quiet', h: 'help', i: 'instance', n: 'lines', f: 'file' };

/** Splits argv into positionals, module flags, the command's own flags and the global ones. */
function parseArgv(argv: string[], cmd: Command | null): Parsed {
  const inv: Invocation = { output: 'table', dryRun: false, diff: false, yes: false, quiet: false, verbosity: 0, extra: {}, rest: [] };
  const positionals: string[] = [];
  const given: Array<[string, string | undefined]> = [];
  let help = false;
  const flags = cmd && available(cmd) ? commandFlags(cmd) : [];
  const extra = new Map((cmd?.extra ?? []).flatMap((e) => [[e.name, e] as const, ...(e.short ? [[e.short, e] as const] : [])]));
  const moduleTakesValue = (name: string) => {
    const n = name.replace(/_/g, '-');
    if (n.endsWith('-file') && flags.some((f) => f.kind === 'secret' && f.name === n.slice(0, -5))) return true;
    const f = flags.find((x) => x.name === n);
    return f ? !['bool', 'secret'].includes(f.kind) : false;
  };
  const known = (name: string) => {
    const n = name.replace(/_/g, '-');
    return flags.some((f) => f.name === n || (f.kind === 'bool' && `no-${f.name}` === n) || (f.kind === 'secret' && `${f.name}-file` === n));
  };
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i];
    if (tok === '--') {
      inv.rest = argv.slice(i + 1);
      break;
    }
    if (/^-v+$/.test(tok)) {
      inv.verbosity += tok.length - 1;
      continue;
    }
    let name: string;
    let value: string | undefined;
    if (tok.startsWith('--')) {
      const eq = tok.indexOf('=');
      name = eq > 0 ? tok.slice(2, eq) : tok.slice(2);
      value = eq > 0 ? tok.slice(eq + 1) : undefined;
    } else if (/^-[A-Za-z]$/.test(tok)) {
      name = SHORT[tok[1]] ?? tok[1];
    } else {
      positionals.push(tok);
      continue;
    }
    const next = () => {
      if (value !== undefined) return value;
      if (i + 1 >= argv.length) throw new UsageError(`--${name} needs a value`);
      return argv[++i];
    };
    const e = extra.get(name);
    if (e) {
      inv.extra[e.name] = e.kind === 'scalar' ? next() : true;
    } else if (GLOBAL_VALUE.has(name)) {
      const v = next();
      if (name === 'output') {
        if (v !== 'json' && v !== 'table') throw new UsageError(`--output must be json or table, got "${v}"`);
        inv.output = v;
      } else process.env.SOCLE_SETTINGS = v;
    } else if (GLOBAL_BOOL.has(name)) {
      if (name === 'help') help = true;
      else if (name === 'dry-run') inv.dryRun = true;
      else if (name === 'diff') inv.diff = true;
      else if (name === 'yes') inv.yes = true;
      else if (name === 'quiet') inv.quiet = true;
    } else if (!known(name)) {
      throw new UsageError(`unknown option ${tok.startsWith('--') ? `--${name}` : tok} (see --help)`);
    } else if (moduleTakesValue(name)) {
      given.push([name, next()]);
    } else {
      given.push([name, value]);
      // A secret's value given after its flag: refused without echoing it (applyFlags explains).
      const f = flags.find((x) => x.name === name.replace(/_/g, '-'));
      if (f?.kind === 'secret' && value === undefined && i + 1 < argv.length && !argv[i + 1].startsWith('-') && positionals.length >= (cmd?.args?.filter((a) => !a.rest).length ?? 0)) {
        given[given.length - 1] = [name, argv[++i]];
      }
    }
  }
  return { positionals, given, inv, help };
}

async function main(argv: string[]): Promise<number> {
  if (argv[0] === '--version') {
    process.stdout.write(`socle ${SOCLE_VERSION}\n`);
    return EXIT.OK;
  }
  if (argv[0] === '__complete') {
    process.stdout.write(completeWords(argv.slice(1)).join('\n') + '\n');
    return EXIT.OK;
  }
  const [group, sub] = argv;
  if (!group || group === '-h' || group === '--help' || group === 'help') {
    process.stdout.write(topHelp() + '\n');
    return group ? EXIT.OK : EXIT.USAGE;
  }
  if (group === 'completion') {
    if (sub !== 'bash') throw new UsageError('completion: only bash is supported (socle completion bash)');
    process.stdout.write(completionScript());
    return EXIT.OK;
  }
  const cmds = COMMANDS[group];
  if (!cmds) throw new UsageError(`unknown command "${group}" (socle --help lists them)`);
  let name: string;
  let rest: string[];
  if ('' in cmds) {
    name = '';
    rest = argv.slice(1);
  } else {
    if (!sub || sub === '-h' || sub === '--help') {
      const lines = [`Usage: socle ${group} COMMAND [ARGS] [OPTIONS]`, '', 'Commands:'];
      for (const [n, c] of Object.entries(cmds)) lines.push(`  ${n.padEnd(12)}${c.summary}${available(c) ? '' : ' (not available in this build)'}`);
      process.stdout.write(lines.join('\n') + '\n');
      return sub ? EXIT.OK : EXIT.USAGE;
    }
    if (!cmds[sub]) throw new UsageError(`unknown command "${group} ${sub}" (socle ${group} --help lists them)`);
    name = sub;
    rest = argv.slice(2);
  }
  const cmd = cmds[name];
  const label = name ? `${group} ${name}` : group;
  if (!available(cmd) && !rest.some((a) => a === '-h' || a === '--help')) throw unavailable(label, cmd);
  const parsed = parseArgv(rest, cmd);
  if (parsed.help) {
    process.stdout.write(commandHelp(group, name, cmd) + '\n');
    return EXIT.OK;
  }
  // Instances belong to an unprivileged user; the modules refuse root, and so does the command.
  if (typeof process.getuid === 'function' && process.getuid() === 0) {
    throw new CliError('refusing to run as root: run socle as the user that owns the instances (sudo -u postgres socle ...)', EXIT.USAGE);
  }
  return runCommand(label, cmd, parsed.positionals, parsed.given, parsed.inv);
}

function finish(code: number): void {
  // Connections still closing would only delay the exit (the modules do the same).
  process.exitCode = code;
  process.stdout.write('', () => process.exit(code));
}

process.on('SIGINT', () => finish(EXIT.INTERRUPTED));
main(process.argv.slice(2)).then(finish, (err: unknown) => {
  if (err instanceof UsageError) {
    process.stderr.write(`socle: ${err.message}\n`);
    finish(EXIT.USAGE);
  } else if (err instanceof CliError) {
    process.stderr.write(`socle: ${err.message}\n`);
    finish(err.code);
  } else if (err instanceof Interrupted) {
    finish(EXIT.INTERRUPTED);
  } else if (err && (err as Error).name === 'ModuleError') {
    process.stderr.write(`socle: ${(err as Error).message}\n`);
    finish((err as Error).constructor.name === 'NotFound' || /does not exist/.test((err as Error).message) ? EXIT.NOT_FOUND : EXIT.FAILED);
  } else {
    // A server's error (a query of a listing): its message; the stack only at -vvv.
    const verbose = process.argv.some((a) => /^-v{3,}$/.test(a));
    process.stderr.write(`socle: ${verbose ? (err as Error)?.stack ?? String(err) : (err as Error)?.message ?? String(err)}\n`);
    finish(EXIT.FAILED);
  }
});
