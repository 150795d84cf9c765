// `pg_dump --format=custom <dsn> | pg_restore --dbname <new database>` with the instance's own
// binaries, without a shell: a password in the source dsn (keyword/value or URI) is taken out of
// it and goes to pg_dump through PGPASSWORD, never on a command line (readable by every user of
// the host), and is masked in what is shown.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { formatCommand, tail } from '../exec';
import { ModuleError } from '../runtime';
import { MASK } from '../secrets';
import { maskConninfo, renderConninfo, splitPassword } from '../pg/conninfo';

export interface CloneTarget {
  bindir: string;
  host: string;
  port: number;
  user: string;
  database: string;
}

export interface CloneCommand {
  /** `pg_dump ... | pg_restore ...`, password masked. */
  shown: string;
  run(): Promise<void>;
}

export function cloneCommand(dsn: string, schemaOnly: boolean, target: CloneTarget): CloneCommand {
  const pgDump = join(target.bindir, 'pg_dump');
  const pgRestore = join(target.bindir, 'pg_restore');
  const { dsn: source, password } = splitPassword(dsn);
  const dumpArgs = ['--format=custom', ...(schemaOnly ? ['--schema-only'] : []), '--dbname', source];
  const shownDump = ['--format=custom', ...(schemaOnly ? ['--schema-only'] : []), '--dbname', maskConninfo(source)];
  const dest = renderConninfo(new Map([['host', target.host], ['port', String(target.port)], ['user', target.user], ['dbname', target.database]]));
  const restoreArgs = ['--exit-on-error', '--dbname', dest];
  const shown = `${formatCommand(pgDump, shownDump)} | ${formatCommand(pgRestore, restoreArgs)}`;
  const mask = (text: string) => (password ? text.split(password).join(MASK) : text);
  return {
    shown,
    async run() {
      // The dsn's own user wins over PGUSER: without one, the instance's super-user name.
      const env = { ...process.env, PGUSER: target.user, ...(password !== undefined ? { PGPASSWORD: password } : {}) };
      const dump = spawn(pgDump, dumpArgs, { env, stdio: ['ignore', 'pipe', 'pipe'] });
      const restore = spawn(pgRestore, restoreArgs, { env: process.env, stdio: ['pipe', 'ignore', 'pipe'] });
      let dumpErr = '';
      let restoreErr = '';
      dump.stderr!.on('data', (d) => (dumpErr += d));
      restore.stderr!.on('data', (d) => (restoreErr += d));
      restore.stdin!.on('error', () => undefined); // pg_restore gave up early: its own error says why
      dump.stdout!.pipe(restore.stdin!);
      const exit = (p: ReturnType<typeof spawn>) =>
        new Promise<number>((resolve) => {
          p.on('error', () => resolve(-1));
          p.on('close', (code) => resolve(code ?? -1));
        });
      const [dumpCode, restoreCode] = await Promise.all([exit(dump), exit(restore)]);
      if (dumpCode !== 0) throw new ModuleError(`pg_dump failed (exit code ${dumpCode}): ${mask(tail(dumpErr || 'no output', 10))}`);
      if (restoreCode !== 0) throw new ModuleError(`pg_restore failed (exit code ${restoreCode}): ${mask(tail(restoreErr || 'no output', 10))}`);
    },
  };
}
