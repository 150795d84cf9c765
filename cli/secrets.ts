// Secrets for the command: prompted with no echo on a terminal, read from a file (first line), or
// from the environment ($SOCLE_<FLAG>), never from the command line where `ps` shows them.
import { readFileSync } from 'node:fs';
import { type Flag, secretEnv, UsageError } from './flags';

/** Reads a line from the terminal without echoing it (raw mode: the characters are not shown). */
export function promptHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  return new Promise((resolve, reject) => {
    // Raw mode (no echo) before the question: an answer typed as soon as it shows is not echoed.
    stdin.setRawMode(true);
    process.stderr.write(question);
    let value = '';
    stdin.resume();
    stdin.setEncoding('utf8');
    const done = (err?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.removeListener('data', onData);
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return done();
        if (ch === '\u0003') return done(new Interrupted());
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    stdin.on('data', onData);
  });
}

export class Interrupted extends Error {
  constructor() {
    super('interrupted');
  }
}

export async function confirm(question: string): Promise<boolean> {
  process.stderr.write(`${question} [y/N] `);
  const stdin = process.stdin;
  stdin.setEncoding('utf8');
  stdin.resume();
  const answer = await new Promise<string>((resolve) => stdin.once('data', (d) => resolve(String(d))));
  stdin.pause();
  return /^y(es)?$/i.test(answer.trim());
}

/** The value of each secret asked for, written into the options at its path. */
export async function readSecrets(asked: Array<{ flag: Flag; file?: string }>, options: Record<string, unknown>): Promise<void> {
  for (const { flag, file } of asked) {
    let value: string;
    const env = secretEnv(flag);
    if (file !== undefined) {
      try {
        value = readFileSync(file, 'utf8').split('\n')[0].replace(/\r$/, '');
      } catch (err) {
        throw new UsageError(`--${flag.name}-file: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    } else if (process.env[env] !== undefined) {
      value = process.env[env]!;
    } else if (process.stdin.isTTY) {
      value = await promptHidden(`${flag.name.replace(/-/g, ' ')}: `);
      const again = await promptHidden(`${flag.name.replace(/-/g, ' ')} (again): `);
      if (again !== value) throw new UsageError(`--${flag.name}: the two entries differ`);
    } else {
      throw new UsageError(`--${flag.name}: no terminal to prompt on; set $${env} or give --${flag.name}-file FILE`);
    }
    if (value === '') throw new UsageError(`--${flag.name}: empty`);
    let node = options;
    for (const k of flag.path.slice(0, -1)) node = (node[k] ??= {}) as Record<string, unknown>;
    node[flag.path[flag.path.length - 1]] = value;
  }
}
