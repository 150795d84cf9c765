// Where an instance lives: every path derived from the site settings, its version and its name.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bindirFor, type SiteSettings } from '../settings';
import { ModuleError } from '../runtime';

export interface InstanceLayout {
  name: string;
  version: string;
  /** `15/main`, how instances are named in messages (and pglift's `<version>/<name>`). */
  id: string;
  bindir: string;
  datadir: string;
  waldir: string;
  socketDir: string;
  logDir: string;
  /** The file of parameters managed by the collection, included by postgresql.conf. */
  managedConf: string;
  postgresqlConf: string;
  hbaFile: string;
  identFile: string;
  startupLog: string;
  unitName: string;
  unitFile: string;
  lockFile: string;
  /**
   * Written before a creation starts (and before a drop removes anything), removed when it has
   * finished: an instance found with it is the remains of a creation or a drop that was
   * interrupted (killed), removed before anything else is done.
   */
  creationMarker: string;
  /** The super-user's password for initdb, while initdb runs (removed after, and by a recovery). */
  initdbPwfile: string;
}

function fill(template: string, version: string, name: string): string {
  return template.split('{version}').join(version).split('{name}').join(name);
}

/** systemd unit names allow [A-Za-z0-9:_.\\-]; anything else is escaped as \xHH (systemd-escape). */
export function systemdEscape(s: string): string {
  return [...Buffer.from(s, 'utf8')]
    .map((b) => (/[A-Za-z0-9:_.]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`))
    .join('');
}

export function layout(settings: SiteSettings, version: string, name: string): InstanceLayout {
  const pg = settings.postgresql;
  const datadir = fill(pg.datadir, version, name);
  const unitName = `socle-postgresql-${version}-${systemdEscape(name)}.service`;
  return {
    name,
    version,
    id: `${version}/${name}`,
    bindir: bindirFor(settings, version),
    datadir,
    waldir: fill(pg.waldir, version, name),
    socketDir: fill(pg.socketDirectory, version, name),
    logDir: fill(pg.logpath, version, name),
    managedConf: join(datadir, 'socle.conf'),
    postgresqlConf: join(datadir, 'postgresql.conf'),
    hbaFile: join(datadir, 'pg_hba.conf'),
    identFile: join(datadir, 'pg_ident.conf'),
    startupLog: join(fill(pg.logpath, version, name), `${version}-${name}-startup.log`),
    unitName,
    unitFile: join(settings.unitPath, unitName),
    lockFile: join(settings.runPrefix, 'locks', `instance-${name}.lock`),
    creationMarker: `${datadir}.socle-creating`,
    initdbPwfile: `${datadir}.socle-pwfile`,
  };
}

/** A standby (or an instance in targeted recovery) until it is promoted: PostgreSQL's own signal files. */
export function inRecovery(l: Pick<InstanceLayout, 'datadir'>): boolean {
  return existsSync(join(l.datadir, 'standby.signal')) || existsSync(join(l.datadir, 'recovery.signal'));
}

export function exists(l: Pick<InstanceLayout, 'datadir'>): boolean {
  return existsSync(join(l.datadir, 'PG_VERSION'));
}

/**
 * The version of instance `name`: the declared one, else the one version that has it on disk,
 * else the site's default version (a new instance).
 */
export function resolveVersion(settings: SiteSettings, name: string, declared?: string): string {
  const pg = settings.postgresql;
  if (declared) {
    const onDisk = readPgVersion(fill(pg.datadir, declared, name));
    if (onDisk && onDisk !== declared) {
      throw new ModuleError(`instance ${declared}/${name}: its data directory holds PostgreSQL ${onDisk} data`);
    }
    return declared;
  }
  const found = pg.versions.filter((v) => readPgVersion(fill(pg.datadir, v.version, name)) !== null).map((v) => v.version);
  if (found.length > 1) {
    throw new ModuleError(`instance ${name} exists in several versions (${found.join(', ')}): option 'version' is required`);
  }
  if (found.length === 1) return found[0];
  if (!pg.defaultVersion) {
    throw new ModuleError('no PostgreSQL installation found (looked for /usr/lib/postgresql/*/bin and /usr/pgsql-*/bin); install one or set postgresql.versions in the site settings');
  }
  return pg.defaultVersion;
}

function readPgVersion(datadir: string): string | null {
  try {
    return readFileSync(join(datadir, 'PG_VERSION'), 'utf8').trim();
  } catch {
    return null;
  }
}
