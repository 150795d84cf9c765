// pgBackRest on this host: the site settings' `pgbackrest` section resolved into paths, the
// configuration files (pglift's layout: `{configpath}/pgbackrest.conf` holds [global], one
// `{configpath}/conf.d/<stanza>.conf` per stanza holds the pgN-* lines of the instances of this
// host in it), the command lines, and `pgbackrest info` read as facts. Shared by the instance
// component (index.ts) and the pgbackrest module (module.ts).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { formatCommand, run } from '../../exec';
import { readTextOr, writeFileAtomic } from '../../fsutil';
import { parseConf } from '../../pg/guc';
import { ModuleError } from '../../runtime';
import { sitePath, type SiteSettings } from '../../settings';
import type { InstanceLayout } from '../../instance/layout';

export interface PgbackrestSite {
  execpath: string;
  configpath: string;
  logpath: string;
  spoolpath: string;
  lockpath: string;
  repository: PathRepository | TlsRepository | SshRepository;
  backuprole: string;
  /** Back up from a standby of the stanza when it has one (`backup-standby=y`). */
  backupStandby: boolean;
}

export interface PathRepository {
  mode: 'path';
  path: string;
  retention: { full: number; diff: number; archive: number };
}

/** A repository host reached through its `pgbackrest server`; this host runs one too (for the repository host). */
export interface TlsRepository {
  mode: 'host-tls';
  host: string;
  host_port: number;
  host_config: string | null;
  cn: string;
  certificate: { ca_cert: string; cert: string; key: string };
  /** This host's own TLS server. */
  port: number;
  address: string;
}

export interface SshRepository {
  mode: 'host-ssh';
  host: string;
  host_port: number;
  host_config: string | null;
  host_user: string;
  cmd_ssh: string | null;
}

/** The repository is on another host: stanza-create and backups run there, not here. */
export const isRemote = (site: PgbackrestSite) => site.repository.mode !== 'path';

function repository(settings: SiteSettings, repo: any): PgbackrestSite['repository'] {
  if (repo.mode === 'host-tls') {
    const c = repo.certificate;
    return {
      mode: 'host-tls', host: repo.host, host_port: repo.host_port ?? 8432, host_config: repo.host_config ?? null, cn: repo.cn,
      certificate: { ca_cert: sitePath(settings, c.ca_cert), cert: sitePath(settings, c.cert), key: sitePath(settings, c.key) },
      port: repo.port ?? 8432, address: repo.address ?? '*',
    };
  }
  if (repo.mode === 'host-ssh') {
    return { mode: 'host-ssh', host: repo.host, host_port: repo.host_port ?? 22, host_config: repo.host_config ?? null, host_user: repo.host_user ?? 'pgbackrest', cmd_ssh: repo.cmd_ssh ?? null };
  }
  const r = repo.retention ?? {};
  return { mode: 'path', path: sitePath(settings, repo.path ?? 'srv/pgbackrest'), retention: { full: r.full ?? 2, diff: r.diff ?? 3, archive: r.archive ?? 2 } };
}

/** The section, validated by the schema (defaults applied); an error naming it when it is missing. */
export function pgbackrestSite(settings: SiteSettings, option = 'pgbackrest'): PgbackrestSite {
  const s = settings.raw.pgbackrest;
  if (!s) {
    throw new ModuleError(`option '${option}': the site settings (${settings.file ?? 'built-in defaults'}) have no 'pgbackrest' section (its 'repository' is required)`);
  }
  return {
    execpath: s.execpath!,
    configpath: sitePath(settings, s.configpath!),
    logpath: sitePath(settings, s.logpath!),
    spoolpath: sitePath(settings, s.spoolpath!),
    lockpath: sitePath(settings, s.lockpath!),
    repository: repository(settings, s.repository),
    backuprole: settings.raw.postgresql?.backuprole?.name ?? 'backup',
    backupStandby: s.backup_standby ?? false,
  };
}

export const globalConfFile = (site: PgbackrestSite) => join(site.configpath, 'pgbackrest.conf');
export const stanzaConfFile = (site: PgbackrestSite, stanza: string) => join(site.configpath, 'conf.d', `${stanza}.conf`);

const HEADER = '# managed by socle.postgresql: changes are overwritten\n';

/** The repo1-* lines (and this host's TLS server's, in host-tls mode) of [global]. */
function repositoryLines(r: PgbackrestSite['repository']): string[] {
  if (r.mode === 'path') {
    return [`repo1-path=${r.path}`, `repo1-retention-full=${r.retention.full}`, `repo1-retention-diff=${r.retention.diff}`, `repo1-retention-archive=${r.retention.archive}`];
  }
  // The repository host's files in the same layout as here (its conf.d beside pgbackrest.conf).
  const config = r.host_config ? [`repo1-host-config=${r.host_config}`, `repo1-host-config-include-path=${join(dirname(r.host_config), 'conf.d')}`] : [];
  const host = [`repo1-host=${r.host}`, `repo1-host-port=${r.host_port}`, ...config];
  if (r.mode === 'host-ssh') {
    return [...host, 'repo1-host-type=ssh', `repo1-host-user=${r.host_user}`, ...(r.cmd_ssh ? [`cmd-ssh=${r.cmd_ssh}`] : [])];
  }
  const c = r.certificate;
  return [
    ...host,
    'repo1-host-type=tls',
    `repo1-host-ca-file=${c.ca_cert}`,
    `repo1-host-cert-file=${c.cert}`,
    `repo1-host-key-file=${c.key}`,
    // This host's TLS server: the repository host connects to it to back the instances up.
    `tls-server-address=${r.address}`,
    `tls-server-port=${r.port}`,
    `tls-server-auth=${r.cn}=*`,
    `tls-server-ca-file=${c.ca_cert}`,
    `tls-server-cert-file=${c.cert}`,
    `tls-server-key-file=${c.key}`,
  ];
}

export function globalConfText(site: PgbackrestSite): string {
  return [
    HEADER.trimEnd(),
    '[global]',
    ...repositoryLines(site.repository),
    `log-path=${site.logpath}`,
    `lock-path=${site.lockpath}`,
    `spool-path=${site.spoolpath}`,
    // A backup starts with a checkpoint now rather than at the next scheduled one.
    'start-fast=y',
    '',
  ].join('\n');
}

/** The pgN-* keys of a stanza file, by index. */
export function parseStanzaConf(text: string | null): Map<number, Map<string, string>> {
  const out = new Map<number, Map<string, string>>();
  for (const line of (text ?? '').split('\n')) {
    const m = /^pg(\d+)-([a-z-]+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    const i = Number(m[1]);
    if (!out.has(i)) out.set(i, new Map());
    out.get(i)!.set(m[2], m[3]);
  }
  return out;
}

/** The index of the instance whose data directory is `datadir` in the stanza file, else null. */
export function indexOf(entries: Map<number, Map<string, string>>, datadir: string): number | null {
  for (const [i, kv] of entries) if (kv.get('path') === datadir) return i;
  return null;
}

/**
 * The stanza file's text. `backupStandby`: pgBackRest copies the files from a standby (the primary
 * only starts and stops the backup); it refuses to back up when the stanza has no standby, so the
 * line is there only while the stanza has more than one instance (pgBackRest tells which is which).
 */
export function stanzaConfText(stanza: string, entries: Map<number, Map<string, string>>, backupStandby = false): string | null {
  if (!entries.size) return null;
  const lines = [HEADER.trimEnd(), `[${stanza}]`];
  if (backupStandby && entries.size > 1) lines.push('backup-standby=y');
  for (const i of [...entries.keys()].sort((a, b) => a - b)) {
    for (const [k, v] of entries.get(i)!) lines.push(`pg${i}-${k}=${v}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The stanza file with this instance's lines set (its index kept, or the first free one: a
 * primary and its standbys on one host share the stanza as pg1, pg2...).
 */
export function withInstance(
  stanza: string,
  text: string | null,
  inst: { datadir: string; port: number; user: string; socketDir: string | null },
  backupStandby = false,
): string {
  const entries = parseStanzaConf(text);
  let i = indexOf(entries, inst.datadir);
  if (i === null) for (i = 1; entries.has(i); i++);
  const kv = new Map<string, string>([['path', inst.datadir], ['port', String(inst.port)], ['user', inst.user]]);
  if (inst.socketDir) kv.set('socket-path', inst.socketDir);
  entries.set(i, kv);
  return stanzaConfText(stanza, entries, backupStandby)!;
}

/** The stanza file without this instance's lines (null: no instance left in it). */
export function withoutInstance(stanza: string, text: string | null, datadir: string, backupStandby = false): string | null {
  const entries = parseStanzaConf(text);
  const i = indexOf(entries, datadir);
  if (i !== null) entries.delete(i);
  return stanzaConfText(stanza, entries, backupStandby);
}

export const passfileOf = (settings: SiteSettings, l: InstanceLayout) =>
  join(settings.prefix, 'etc', 'pgbackrest', `${l.version}-${l.name}.pgpass`);

/**
 * The environment of a pgbackrest command that connects to the instance: the backup role's
 * password comes from its private passfile (never the command line). Without a socket path in
 * the stanza file (the local method is `peer`, which maps the owner to the super-user only),
 * libpq's PGHOST makes pgBackRest connect over TCP on loopback, by the host method.
 */
export function commandEnv(passfile: string | null): Record<string, string> {
  const env: Record<string, string> = { ...(process.env as Record<string, string>), PGHOST: '127.0.0.1' };
  delete env.PGPASSWORD;
  if (passfile && existsSync(passfile)) env.PGPASSFILE = passfile;
  return env;
}

export interface Command {
  argv: string[];
  /** As shown to the user (no secret is ever in it: the password is in a passfile). */
  text: string;
  /** The program, when not pgbackrest itself (ssh to the repository host). */
  file?: string;
}

export function command(site: PgbackrestSite, stanza: string, args: string[]): Command {
  const argv = [`--config-path=${site.configpath}`, `--stanza=${stanza}`, '--log-level-console=warn', ...args];
  return { argv, text: formatCommand(site.execpath, argv) };
}

/** How long a command waits for a lock another pgBackRest process holds (pgBackRest does not wait). */
const LOCK_WAIT_MS = 60_000;

export async function runCommand(site: PgbackrestSite, cmd: Command, passfile: string | null, timeout = 24 * 3600): Promise<string> {
  // A task killed while pgBackRest ran leaves that process running to its end, holding its lock
  // (error 050): the next task waits for it instead of failing, so that it converges.
  for (let waited = 0; ; waited += 500) {
    try {
      const { stdout } = await run(cmd.file ?? site.execpath, cmd.argv, { env: commandEnv(passfile), timeout });
      return stdout;
    } catch (err) {
      if (!/ERROR: \[050\]: unable to acquire lock/.test(String((err as Error).message)) || waited >= LOCK_WAIT_MS) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** `archive_command` of an instance in `stanza` (no restore_command: pgBackRest's restore writes it). */
export function archiveCommand(site: PgbackrestSite, stanza: string): string {
  return formatCommand(site.execpath, [`--config-path=${site.configpath}`, `--stanza=${stanza}`, 'archive-push', '%p']);
}

/** The stanza an instance archives to, read from its `archive_command` in socle.conf (null: none). */
export function stanzaOf(l: InstanceLayout): string | null {
  const conf = parseConf(readTextOr(l.managedConf, ''));
  const m = /--stanza=([A-Za-z0-9_.-]+)/.exec(conf.get('archive_command') ?? '');
  return m && /pgbackrest/.test(conf.get('archive_command') ?? '') ? m[1] : null;
}

/** Whether the stanza exists in the repository (path mode: its backup.info). */
export function stanzaCreated(site: PgbackrestSite, stanza: string): boolean {
  if (site.repository.mode !== 'path') return remoteInfo(site, stanza)?.status !== 'missing stanza path';
  return existsSync(join(site.repository.path, 'backup', stanza, 'backup.info'));
}

/**
 * A remote repository's view of the stanza (`pgbackrest info`, synchronous: for the provision
 * phase); null when the repository host cannot be reached.
 */
function remoteInfo(site: PgbackrestSite, stanza: string): StanzaFacts | null {
  if (!existsSync(stanzaConfFile(site, stanza)) || !existsSync(globalConfFile(site))) return null;
  const cmd = command(site, stanza, [...infoTimeout(site), '--output=json', 'info']);
  const p = spawnSync(site.execpath, cmd.argv, { env: commandEnv(null), encoding: 'utf8', timeout: 300_000 });
  if (p.status !== 0) return null;
  try {
    return parseInfo(stanza, p.stdout);
  } catch {
    return null;
  }
}

export interface BackupFact {
  label: string;
  type: string;
  prior: string | null;
  start: string;
  stop: string;
  size: number;
  delta: number;
  repo_size: number;
  repo_delta: number;
  wal_start: string | null;
  wal_stop: string | null;
  lsn_start: string | null;
  lsn_stop: string | null;
}

export interface StanzaFacts {
  stanza: string;
  status: string;
  backups: BackupFact[];
  archive: { min: string | null; max: string | null };
}

const iso = (t: unknown) => (typeof t === 'number' ? new Date(t * 1000).toISOString() : '');

/** `pgbackrest info --output=json` of one stanza, in the facts' shape. */
export function parseInfo(stanza: string, json: string): StanzaFacts {
  const all = JSON.parse(json) as any[];
  const s = all.find((x) => x.name === stanza) ?? {};
  const archives = (s.archive ?? []) as Array<{ min?: string; max?: string }>;
  return {
    stanza,
    status: s.status?.message ?? 'missing stanza path',
    backups: ((s.backup ?? []) as any[]).map((b) => ({
      label: b.label,
      type: b.type,
      prior: b.prior ?? null,
      start: iso(b.timestamp?.start),
      stop: iso(b.timestamp?.stop),
      size: b.info?.size ?? 0,
      delta: b.info?.delta ?? 0,
      repo_size: b.info?.repository?.size ?? 0,
      repo_delta: b.info?.repository?.delta ?? 0,
      wal_start: b.archive?.start ?? null,
      wal_stop: b.archive?.stop ?? null,
      lsn_start: b.lsn?.start ?? null,
      lsn_stop: b.lsn?.stop ?? null,
    })),
    archive: { min: archives[archives.length - 1]?.min ?? null, max: archives[archives.length - 1]?.max ?? null },
  };
}

/**
 * pgBackRest retries an unreachable repository host for two minutes (io-timeout 60 s, twice): its
 * facts would hold every task of an instance that long. An `info` is a few small reads.
 */
const infoTimeout = (site: PgbackrestSite) => (site.repository.mode === 'path' ? [] : ['--io-timeout=5']);

/** Why a TCP connection to host:port fails within 3 s (null: it opens). */
function unreachable(host: string, port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (why: string | null) => {
      socket.destroy();
      resolve(why);
    };
    socket.setTimeout(3000, () => done('no answer within 3 s'));
    socket.once('connect', () => done(null));
    socket.once('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
  });
}

/** The stanza's facts, read with `pgbackrest info` (a read-only command, also run in check mode). */
export async function stanzaFacts(site: PgbackrestSite, stanza: string): Promise<StanzaFacts> {
  if (!existsSync(stanzaConfFile(site, stanza)) || !existsSync(globalConfFile(site))) {
    return { stanza, status: 'not configured', backups: [], archive: { min: null, max: null } };
  }
  const r = site.repository;
  if (r.mode !== 'path') {
    // pgBackRest retries a refused connection for seconds: a closed port is said at once.
    const why = await unreachable(r.host, r.host_port);
    if (why) return { stanza, status: `repository host ${r.host}:${r.host_port} unreachable (${why})`, backups: [], archive: { min: null, max: null } };
  }
  const out = await runCommand(site, command(site, stanza, [...infoTimeout(site), '--output=json', 'info']), null, 300);
  const facts = parseInfo(stanza, out);
  // A repository host that cannot be reached says why in its repo's status (the stanza's says "other").
  const all = JSON.parse(out) as any[];
  const repoStatus = all.find((x) => x.name === stanza)?.repo?.[0]?.status;
  if (repoStatus && repoStatus.code !== 0 && facts.status === 'other') facts.status = String(repoStatus.message).trim();
  return facts;
}

/**
 * Whether the stanza has a backup, read from the repository's backup.info (path mode; sync, for
 * the provision phase): its [backup:current] section lists the backups.
 */
export function stanzaHasBackup(site: PgbackrestSite, stanza: string): boolean {
  if (site.repository.mode !== 'path') return (remoteInfo(site, stanza)?.backups ?? []).some((b) => b.type === 'full');
  let text: string;
  try {
    text = readFileSync(join(site.repository.path, 'backup', stanza, 'backup.info'), 'utf8');
  } catch {
    return false;
  }
  const section = /^\[backup:current\]\n([\s\S]*?)(?:^\[|(?![\s\S]))/m.exec(text);
  return !!section && /^\d{8}-\d{6}F/m.test(section[1]);
}

/**
 * What `pgbackrest info` of a stanza of a local repository depends on, read without running it:
 * backup.info and archive.info (size, mtime), and, for the WAL range, the folders of the archive
 * (WAL lands in the newest one: its name, entries and mtime). null: remote, or nothing to read.
 */
export function repositoryFingerprint(site: PgbackrestSite, stanza: string): string | null {
  if (site.repository.mode !== 'path') return null;
  const parts: string[] = [];
  const stat = (p: string) => {
    try {
      const st = statSync(p);
      parts.push(`${p}:${st.size}:${st.mtimeMs}`);
      return true;
    } catch {
      return false;
    }
  };
  const archive = join(site.repository.path, 'archive', stanza);
  if (!stat(join(site.repository.path, 'backup', stanza, 'backup.info')) || !stat(join(archive, 'archive.info'))) return null;
  for (const id of readdirSync(archive).filter((d) => /^\d+-\d+$/.test(d)).sort()) {
    const dirs = readdirSync(join(archive, id)).filter((d) => /^[0-9A-F]{16}$/.test(d)).sort();
    parts.push(`${id}:${dirs.length}:${dirs[0] ?? ''}`);
    const newest = dirs[dirs.length - 1];
    if (newest) {
      stat(join(archive, id, newest));
      parts.push(`${readdirSync(join(archive, id, newest)).length}`);
    }
  }
  return createHash('sha256').update(parts.join('\n')).digest('hex');
}

const factsCacheFile = (site: PgbackrestSite, stanza: string) => join(site.configpath, 'cache', `${stanza}.json`);

/**
 * The stanza's facts for an instance task: the last `pgbackrest info` kept while the repository's
 * files it read are unchanged (a task that changes nothing runs no pgbackrest process; ~0.1 s
 * each). Not written in check mode; any doubt (remote repository, unreadable cache) runs `info`.
 */
export async function cachedStanzaFacts(site: PgbackrestSite, stanza: string, write: boolean): Promise<StanzaFacts> {
  const before = repositoryFingerprint(site, stanza);
  if (before) {
    try {
      const cached = JSON.parse(readFileSync(factsCacheFile(site, stanza), 'utf8')) as { fingerprint: string; facts: StanzaFacts };
      if (cached.fingerprint === before) return cached.facts;
    } catch {
      /* none yet, or unreadable: ask pgbackrest */
    }
  }
  const facts = await stanzaFacts(site, stanza);
  // Kept only if nothing moved while info ran (a WAL segment archived meanwhile: next time).
  if (write && before && repositoryFingerprint(site, stanza) === before) {
    try {
      mkdirSync(dirname(factsCacheFile(site, stanza)), { recursive: true, mode: 0o700 });
      writeFileAtomic(factsCacheFile(site, stanza), JSON.stringify({ fingerprint: before, facts }), 0o600);
    } catch {
      /* a cache only */
    }
  }
  return facts;
}

/** instance_info's `pgbackrest` fact: the stanza the instance archives to, with its backups (null: none). */
export async function pgbackrestInfo(settings: SiteSettings, l: InstanceLayout): Promise<StanzaFacts | null> {
  const stanza = stanzaOf(l);
  if (!stanza || !settings.raw.pgbackrest) return null;
  return stanzaFacts(pgbackrestSite(settings), stanza);
}
