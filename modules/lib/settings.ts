// Site settings: how this host lays out and runs PostgreSQL instances (pglift's settings.yaml).
// Read once per task from the first file that exists, validated by the schema
// schemas/settings.schema.yml (defaults applied there), then resolved into absolute paths.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { load as loadYaml } from 'js-yaml';
import { validate as validateSettings, type Settings } from '../generated/settings';
import { ModuleError } from './runtime';
import { formatValidationErrors } from './validation';

export type AuthMethod = NonNullable<NonNullable<NonNullable<Settings['postgresql']>['auth']>['local']>;

export interface InstalledVersion {
  version: string;
  bindir: string;
}

export interface SiteSettings {
  /** The file the settings came from, or null for built-in defaults. */
  file: string | null;
  prefix: string;
  runPrefix: string;
  serviceManager: 'systemd' | 'none';
  lockTimeout: number;
  unitPath: string;
  postgresql: {
    versions: InstalledVersion[];
    defaultVersion: string | null;
    initdb: { locale: string; encoding: string; dataChecksums: boolean };
    auth: { local: AuthMethod; host: AuthMethod; hostssl: AuthMethod | null; passfile: string | null };
    surole: { name: string; pgpass: boolean };
    replrole: string | null;
    /** Templates with {version} and {name}, already absolute. */
    datadir: string;
    waldir: string;
    socketDirectory: string;
    logpath: string;
  };
  /**
   * The validated document (defaults applied), for the sections that components contribute to
   * the schema (`x-contributes: socle/settings`): each component reads its own and resolves its
   * paths with `sitePath`.
   */
  raw: Settings;
}

export function settingsFileCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  if (env.SOCLE_SETTINGS) return [env.SOCLE_SETTINGS];
  return [join(homedir(), '.config/socle/settings.yaml'), '/etc/socle/settings.yaml'];
}

export function loadSettings(env: NodeJS.ProcessEnv = process.env): SiteSettings {
  const candidates = settingsFileCandidates(env);
  const file = candidates.find((f) => existsSync(f)) ?? null;
  if (env.SOCLE_SETTINGS && !file) {
    throw new ModuleError(`settings file ${env.SOCLE_SETTINGS} (from $SOCLE_SETTINGS) does not exist`);
  }
  let raw: unknown = {};
  if (file) {
    try {
      raw = loadYaml(readFileSync(file, 'utf8')) ?? {};
    } catch (err) {
      throw new ModuleError(`settings file ${file}: ${(err as Error).message}`);
    }
  }
  if (!validateSettings(raw)) {
    throw new ModuleError(`settings file ${file}: ${formatValidationErrors(validateSettings.errors ?? [])}`);
  }
  return resolveSettings(raw as Settings, file);
}

/** `~` → home; relative → under prefix. */
function absolute(path: string, prefix: string): string {
  if (path === '~') return homedir();
  if (path.startsWith('~/')) return join(homedir(), path.slice(2));
  return isAbsolute(path) || path.startsWith('{') ? path : join(prefix, path);
}

export function resolveSettings(s: Settings, file: string | null): SiteSettings {
  const pg = s.postgresql!;
  const prefix = absolute(s.prefix!, homedir());
  const uid = process.getuid?.() ?? 0;
  // A runtime directory that changes between tasks would move the sockets: pick it by what exists
  // on the host (the user's /run/user/<uid> with lingering or a session), not by the environment
  // Ansible happens to give this task.
  const userRuntime = `/run/user/${uid}`;
  const runPrefix = s.run_prefix
    ? absolute(s.run_prefix, prefix)
    : existsSync(userRuntime) ? join(userRuntime, 'socle') : join(prefix, 'run');
  const expand = (t: string) => absolute(t.replace('{prefix}', prefix).replace('{run_prefix}', runPrefix), prefix);
  const versions = pg.versions?.length ? pg.versions.map((v) => ({ ...v })) : discoverVersions(pg.bindir);
  const serviceManager = s.service_manager ?? (existsSync(`${userRuntime}/systemd/private`) ? 'systemd' : 'none');
  return {
    file,
    prefix,
    runPrefix,
    serviceManager,
    lockTimeout: s.lock_timeout!,
    unitPath: absolute(s.systemd!.unit_path!, prefix),
    postgresql: {
      versions,
      defaultVersion: pg.default_version ?? newest(versions),
      initdb: { locale: pg.initdb!.locale!, encoding: pg.initdb!.encoding!, dataChecksums: pg.initdb!.data_checksums! },
      auth: {
        local: pg.auth!.local!,
        host: pg.auth!.host!,
        hostssl: pg.auth!.hostssl ?? null,
        passfile: pg.auth!.passfile ? absolute(pg.auth!.passfile, homedir()) : null,
      },
      surole: { name: pg.surole!.name!, pgpass: pg.surole!.pgpass! },
      replrole: pg.replrole ?? null,
      datadir: expand(pg.datadir!),
      waldir: expand(pg.waldir!),
      socketDirectory: expand(pg.socket_directory!),
      logpath: expand(pg.logpath!),
    },
    raw: s,
  };
}

/**
 * A path of a component's site-settings section: `{prefix}`, `{run_prefix}` and the given
 * variables (`{version}`, `{name}`) replaced; `~` is the home; a relative path is under prefix.
 */
export function sitePath(settings: SiteSettings, template: string, vars: Record<string, string> = {}): string {
  let t = template.split('{prefix}').join(settings.prefix).split('{run_prefix}').join(settings.runPrefix);
  for (const [k, v] of Object.entries(vars)) t = t.split(`{${k}}`).join(v);
  return absolute(t, settings.prefix);
}

function newest(versions: InstalledVersion[]): string | null {
  const sorted = versions.map((v) => v.version).sort((a, b) => Number(b) - Number(a));
  return sorted[0] ?? null;
}

const BINDIR_TEMPLATES = ['/usr/lib/postgresql/{version}/bin', '/usr/pgsql-{version}/bin'];

/**
 * Finds installed versions by listing the directory that holds the `{version}` path segment of
 * each template, keeping those whose bindir has pg_ctl.
 */
export function discoverVersions(template?: string): InstalledVersion[] {
  const found = new Map<string, InstalledVersion>();
  for (const tpl of template ? [template] : BINDIR_TEMPLATES) {
    const at = tpl.indexOf('{version}');
    if (at < 0) continue;
    const segmentStart = tpl.lastIndexOf('/', at) + 1;
    const segmentEnd = tpl.indexOf('/', at) < 0 ? tpl.length : tpl.indexOf('/', at);
    const parent = dirname(tpl.slice(0, segmentStart) + 'x');
    const segment = tpl.slice(segmentStart, segmentEnd);
    const pattern = new RegExp('^' + segment.split('{version}').map(escapeRegExp).join('([0-9]+)') + '$');
    let entries: string[] = [];
    try {
      entries = readdirSync(parent);
    } catch {
      continue;
    }
    for (const entry of entries) {
      const m = pattern.exec(entry);
      if (!m || found.has(m[1])) continue;
      const bindir = tpl.replace('{version}', m[1]);
      if (existsSync(join(bindir, 'pg_ctl'))) found.set(m[1], { version: m[1], bindir });
    }
  }
  return [...found.values()].sort((a, b) => Number(a.version) - Number(b.version));
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export function bindirFor(settings: SiteSettings, version: string): string {
  const v = settings.postgresql.versions.find((x) => x.version === version);
  if (!v) {
    const known = settings.postgresql.versions.map((x) => x.version).join(', ') || 'none';
    throw new ModuleError(`PostgreSQL ${version} is not installed on this host (installed: ${known})`);
  }
  return v.bindir;
}
