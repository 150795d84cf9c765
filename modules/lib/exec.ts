// Running external commands (initdb, pg_ctl, systemctl...), and showing them to the
// user in a form that can be pasted into a shell.
import { spawn } from 'node:child_process';
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

/**
 * Runs a command; a non-zero exit becomes a ModuleError quoting the end of its output.
 * node:child_process rather than execa: execa and its dependencies were a fifth of every bundle,
 * and compiling them cost each task a few milliseconds more than the whole of what we need here.
 */
export function run(file: string, args: readonly string[], opts: CommandOptions = {}): Promise<CommandOutput> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: opts.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    if (child.pid !== undefined) recorder?.(child.pid);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    let timedOut = false;
    const timer = opts.timeout
      ? setTimeout(() => {
          timedOut = true;
          child.kill('SIGKILL');
        }, opts.timeout * 1000)
      : null;
    const fail = (why: string, output: string) =>
      reject(new ModuleError(`command failed (${why}): ${formatCommand(file, args)}${output ? `: ${tail(output, 20)}` : ''}`));
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      fail(e.message, '');
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (code === 0) return resolve({ stdout, stderr });
      const why = timedOut ? `timed out after ${opts.timeout} s` : code !== null ? `exit code ${code}` : `killed by ${signal}`;
      fail(why, [stderr, stdout].filter(Boolean).join('\n').trim());
    });
  });
}

/** The last `lines` lines of a text, for error messages. */
export function tail(text: string, lines: number): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/**
 * While set, told the pid of every command started: a creation writes them in its marker, so
 * that if the task is killed, the next task can stop what it left running (an initdb, a base
 * backup) before it removes the remains.
 */
let recorder: ((pid: number) => void) | null = null;

export function recordChildren(fn: ((pid: number) => void) | null): void {
  recorder = fn;
}
