// Logical dumps on this host: the site settings (`postgresql.dumps_directory`, `dump_commands`,
// `dump_retention`) resolved for one instance, the dump files of a database
// (`{dumps_directory}/{dbname}_{date}.dump`, pglift's naming), the commands rendered from their
// templates, the retention, and the shell script a scheduled dump runs (the same commands, the
// same retention). A dump connects as the super-user through the instance's socket: its
// password, if the local method asks for one, comes from the site's passfile (PGPASSFILE),
// never from a command line.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../exec';
import type { InstanceLayout } from '../../instance/layout';
import { renderConninfo } from '../../pg/conninfo';
import { ModuleError } from '../../runtime';
import { shellQuote } from '../../exec';
import { sitePath, type SiteSettings } from '../../settings';

export interface DumpsSite {
  directory: string;
  commands: string[][];
  retention: number;
  passfile: string | null;
}

export function dumpsSite(settings: SiteSettings, l: InstanceLayout): DumpsSite {
  const pg = settings.raw.postgresql!;
  return {
    directory: sitePath(settings, pg.dumps_directory!, { version: l.version, name: l.name }),
    commands: pg.dump_commands!,
    retention: pg.dump_retention!,
    passfile: settings.postgresql.auth.passfile,
  };
}

export interface DumpFact {
  id: string;
  date: string;
  size: number;
  path: string;
}

/** The date of a dump in its file name: sortable, no character a shell or a file name minds. */
const DATE_RE = '[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{6}\\.[0-9]{3}Z';

export function dumpDate(d = new Date()): string {
  const iso = d.toISOString(); // 2026-11-30T06:15:12.345Z
  return `${iso.slice(0, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 23)}Z`;
}

/** `2026-11-30T061512.345Z` → `2026-11-30T06:15:12.345Z`. */
function isoOf(id: string): string {
  return `${id.slice(0, 11)}${id.slice(11, 13)}:${id.slice(13, 15)}:${id.slice(15)}`;
}

const ereEscape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');

/** A database name must make a file name: no '/', no control character. */
export function checkDumpable(name: string, option: string): void {
  if (/[/\x00-\x1f\x7f]/.test(name)) throw new ModuleError(`option '${option}': database ${JSON.stringify(name)} cannot be dumped to a file (its name has '/' or a control character)`);
}

/** The dumps of a database, newest first. */
export function listDumps(site: DumpsSite, dbname: string): DumpFact[] {
  const re = new RegExp(`^${ereEscape(dbname)}_(${DATE_RE})\\.dump$`);
  let entries: string[];
  try {
    entries = readdirSync(site.directory);
  } catch {
    return [];
  }
  const out: DumpFact[] = [];
  for (const f of entries) {
    const m = re.exec(f);
    if (!m) continue;
    const path = join(site.directory, f);
    try {
      out.push({ id: m[1], date: isoOf(m[1]), size: statSync(path).size, path });
    } catch {
      /* removed meanwhile */
    }
  }
  return out.sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
}

export interface DumpTarget {
  bindir: string;
  socketDir: string;
  port: number;
  user: string;
  dbname: string;
}

export function conninfoOf(t: DumpTarget): string {
  return renderConninfo(new Map([['host', t.socketDir], ['port', String(t.port)], ['user', t.user], ['dbname', t.dbname]]));
}

/** The site's dump commands with their placeholders replaced (`date` may be a shell marker). */
export function renderCommands(site: DumpsSite, t: DumpTarget, date: string): string[][] {
  const vars: Record<string, string> = { bindir: t.bindir, path: site.directory, conninfo: conninfoOf(t), dbname: t.dbname, date };
  return site.commands.map((argv) => argv.map((a) => a.replace(/\{(bindir|path|conninfo|dbname|date)\}/g, (_, k: string) => vars[k])));
}

export function dumpEnv(site: DumpsSite): Record<string, string> {
  const env = { ...(process.env as Record<string, string>) };
  delete env.PGPASSWORD;
  if (site.passfile) env.PGPASSFILE = site.passfile;
  return env;
}

/** Takes a dump now (commands in turn), then applies the retention; returns the removed files. */
export async function takeDump(site: DumpsSite, t: DumpTarget): Promise<string[]> {
  mkdirSync(site.directory, { recursive: true, mode: 0o700 });
  // A dump holds the data: private to the owner, whatever the commands' own modes.
  process.umask(0o077);
  let date = dumpDate();
  // Two dumps in the same millisecond would share a name.
  while (listDumps(site, t.dbname).some((d) => d.id === date)) {
    await new Promise((r) => setTimeout(r, 2));
    date = dumpDate();
  }
  for (const argv of renderCommands(site, t, date)) await run(argv[0], argv.slice(1), { env: dumpEnv(site), timeout: 24 * 3600 });
  return prune(site, t.dbname);
}

/** Removes the dumps of a database beyond the retention (the oldest). */
export function prune(site: DumpsSite, dbname: string): string[] {
  if (site.retention <= 0) return [];
  const old = listDumps(site, dbname).slice(site.retention);
  for (const d of old) rmSync(d.path, { force: true });
  return old.map((d) => d.path);
}

/** A job or unit name part: the name itself when it is plain, else a digest of it. */
export function namePart(s: string): string {
  return /^[A-Za-z0-9_.]{1,64}$/.test(s) ? s : `x${createHash('sha256').update(s).digest('hex').slice(0, 16)}`;
}

export const dumpJobPrefix = (l: InstanceLayout) => `socle-dump-${l.version}-${namePart(l.name)}-`;
export const dumpJobName = (l: InstanceLayout, dbname: string) => `${dumpJobPrefix(l)}${namePart(dbname)}`;

/**
 * The script of a scheduled dump: the same commands as `dump: true` (the date taken when it runs),
 * then the same retention (the newest N of `{dbname}_{date}.dump`, by their sortable dates).
 */
export function dumpScript(site: DumpsSite, t: DumpTarget, l: InstanceLayout): string {
  const MARK = '\u0000DATE\u0000';
  const word = (a: string) => a.split(MARK).map((p) => (p === '' ? '' : shellQuote(p))).join('"$date"') || "''";
  const lines = [
    '#!/bin/sh',
    `# Written by socle.postgresql: the scheduled dump of database ${JSON.stringify(t.dbname)} of instance ${l.id}.`,
    '# Changes are overwritten. No secret here: a password comes from the passfile, if any.',
    'set -eu',
    'umask 077',
    ...(site.passfile ? [`PGPASSFILE=${shellQuote(site.passfile)}`, 'export PGPASSFILE'] : []),
    'unset PGPASSWORD',
    `mkdir -p ${shellQuote(site.directory)}`,
    'date=$(date -u +%Y-%m-%dT%H%M%S.%3NZ)',
    ...renderCommands(site, t, MARK).map((argv) => argv.map(word).join(' ')),
  ];
  if (site.retention > 0) {
    const re = `^${ereEscape(t.dbname)}_${DATE_RE}\\.dump$`;
    lines.push(
      `cd ${shellQuote(site.directory)}`,
      `ls -1 | grep -E ${shellQuote(re)} | sort -r | tail -n +${site.retention + 1} | while IFS= read -r f; do rm -f -- "$f"; done`,
    );
  }
  lines.push(`echo "$(date -u +%FT%TZ) dump of ${t.dbname.replace(/["$`\\]/g, '_')} done"`, '');
  return lines.join('\n');
}
