// Parameters checked before they are written: PostgreSQL itself reads them offline
// (`postgres -C port --config-file=<the new socle.conf> -D <empty folder>` reports every
// unknown name, bad value and value out of range, as the server would at its next start), then
// what only the postmaster checks at start-up (libraries to preload, WAL level combinations),
// and the parameters that would move what the collection manages.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { renderConf } from '../pg/guc';
import { ModuleError } from '../runtime';
import { listEntries, type ConfValue } from './config';
import { parsePgBool } from '../pg/guc';

/** Parameters that would relocate what the collection manages (include directives are unknown names already). */
const NOT_SETTABLE: Record<string, string> = {
  data_directory: 'the data directory is the site setting postgresql.datadir',
  config_file: 'the configuration files are managed by the collection',
  hba_file: 'pg_hba.conf is managed by the collection (auth, and the role module\'s hba_records)',
  ident_file: 'pg_ident.conf is managed by the collection',
  external_pid_file: 'the pid file is managed by the collection',
};

function runPostgres(postgres: string, args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(postgres, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    const err: Buffer[] = [];
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr: Buffer.concat(err).toString('utf8') }));
  });
}

/** `name` of the option a parameter comes from, for messages. */
function optionOf(name: string, userKeys: Set<string>): string {
  return userKeys.has(name) ? `option 'settings.${name}'` : `parameter ${name}`;
}

/**
 * Fails, naming each option, when PostgreSQL would refuse `params` (the whole of socle.conf).
 * `userKeys`: the names that come from the user's `settings` (lower case).
 */
export async function rejectInvalidParameters(bindir: string, params: Record<string, ConfValue>, userKeys: Set<string>): Promise<void> {
  const errors: string[] = [];
  for (const name of Object.keys(params)) {
    if (name in NOT_SETTABLE) errors.push(`${optionOf(name, userKeys)}: ${NOT_SETTABLE[name]}`);
  }
  if (errors.length) throw new ModuleError(errors.join('; '));

  // PostgreSQL's verdict, offline. The folder is private and removed; the file holds only what
  // socle.conf will hold (no password: the collection keeps those out of the configuration).
  const dir = mkdtempSync(join(tmpdir(), 'socle-check-'));
  try {
    const conf = join(dir, 'socle.conf');
    writeFileSync(conf, renderConf(params, []), { mode: 0o600 });
    const { code, stderr } = await runPostgres(join(bindir, 'postgres'), ['-C', 'port', `--config-file=${conf}`, '-D', dir]);
    if (code !== 0) {
      const lines = stderr.split('\n').map((l) => l.replace(/^.*?\b(LOG|FATAL|HINT|ERROR):\s+/, '$1: ')).filter((l) => /^(LOG|HINT|ERROR): /.test(l) && !/skipping missing configuration file/.test(l));
      for (let i = 0; i < lines.length; i++) {
        const m = /parameter "([^"]+)"/.exec(lines[i]);
        const hint = lines[i + 1]?.startsWith('HINT: ') ? ` (${lines[i + 1].slice(6)})` : '';
        if (m && !lines[i].startsWith('HINT: ')) errors.push(`${optionOf(m[1], userKeys)}: ${lines[i].replace(/^(LOG|ERROR): /, '')}${hint}`);
      }
      if (!errors.length) errors.push(`PostgreSQL rejects the parameters: ${stderr.trim().split('\n').slice(-3).join(' ')}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  // What only the postmaster checks when it starts.
  const libdir = join(bindir, '..', 'lib');
  for (const lib of listEntries(params.shared_preload_libraries)) {
    const file = lib.includes('/') ? lib.replace(/^\$libdir\//, `${libdir}/`) : join(libdir, lib);
    if (!existsSync(file) && !existsSync(`${file}.so`)) {
      errors.push(`${optionOf('shared_preload_libraries', userKeys)}: library ${lib} is not installed (no ${file}.so)`);
    }
  }
  const walLevel = String(params.wal_level ?? 'replica').toLowerCase();
  if (walLevel === 'minimal') {
    const senders = Number(params.max_wal_senders ?? 10);
    const archiving = String(params.archive_mode ?? 'off').toLowerCase();
    if (senders > 0) errors.push(`${optionOf('wal_level', userKeys)}: minimal needs max_wal_senders = 0 (it is ${senders}); PostgreSQL would not start`);
    if (archiving === 'always' || parsePgBool(archiving) === true) errors.push(`${optionOf('wal_level', userKeys)}: minimal cannot be used with archive_mode = ${archiving}; PostgreSQL would not start`);
  }
  if (errors.length) throw new ModuleError(errors.join('; '));
}
