// Running external commands (initdb, pg_ctl, systemctl...) with execa, and showing them to the
// user in a form that can be pasted into a shell.
import { ModuleError } from './runtime';

export interface CommandOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** Seconds; the command is killed after it. */
  timeout?: number;
}

export interface CommandOutput {
  stdout: string;
  stderr: string;
}

/** `pg_ctl start -D '/my data'`: arguments quoted only when the shell would need it. */
export function formatCommand(file: string, args: readonly string[]): string {
  return [file, ...args].map(shellQuote).join(' ');
}

export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** Runs a command; a non-zero exit becomes a ModuleError quoting the end of its output. */
export async function run(file: string, args: readonly string[], opts: CommandOptions = {}): Promise<CommandOutput> {
  // Loaded on first use: most no-op tasks run no command, and execa is the largest dependency
  // of the bundle (module start-up is paid on every task).
  const { execa } = await import('execa');
  const result = await execa(file, args, {
    env: opts.env,
    cwd: opts.cwd,
    timeout: opts.timeout ? opts.timeout * 1000 : undefined,
    reject: false,
    stdin: 'ignore',
  });
  if (result.failed) {
    const output = [result.stderr, result.stdout].filter(Boolean).join('\n').trim();
    const why = result.timedOut ? `timed out after ${opts.timeout} s` : result.exitCode !== undefined ? `exit code ${result.exitCode}` : String(result.shortMessage);
    throw new ModuleError(`command failed (${why}): ${formatCommand(file, args)}${output ? `: ${tail(output, 20)}` : ''}`);
  }
  return { stdout: String(result.stdout), stderr: String(result.stderr) };
}

/** The last `lines` lines of a text, for error messages. */
export function tail(text: string, lines: number): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}
