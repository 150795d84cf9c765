// A postgres_exporter (Debian's prometheus-postgres-exporter): its site settings, data source,
// files and service. Shared by the instance's `prometheus` component (one exporter per instance,
// named `<version>-<instance>`) and the standalone `postgres_exporter` module (any name, any
// data source).
//
// The password is never on a command line, nor in the data source: postgres_exporter 0.11
// re-parses its data source and refuses a password with a space in it (pglift's issue 173), so
// the data source (a `postgresql://` URI, user percent-encoded, the socket directory as its
// `host` parameter) names no password, and the password is in a private passfile (0600) that
// the exporter's libpq reads (PGPASSFILE): any password works, spaces and quotes included. The
// environment (DATA_SOURCE_NAME, PGPASSFILE, the listen address) is the configuration file
// (systemd's EnvironmentFile, 0600), also kept for supervised processes so that a task that does
// not repeat the options can still restart it.
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { daemonService, envText, parseEnvText, type CompanionService } from '../../daemon';
import { readTextOr } from '../../fsutil';
import { sitePath, type SiteSettings } from '../../settings';

export interface ExporterSite {
  execpath: string;
  role: string;
  /** Templates with `{name}`. */
  configpath: string;
  pidFile: string;
  logpath: string;
  listenHost: string;
}

/** The site's `prometheus` section; its defaults come from the schema (applied when the settings are read). */
export function exporterSite(settings: SiteSettings): ExporterSite {
  const p = settings.raw.prometheus!;
  return {
    execpath: p.execpath!,
    role: p.role!,
    configpath: p.configpath!,
    pidFile: p.pid_file!,
    logpath: p.logpath!,
    listenHost: p.listen_host!,
  };
}

export interface ExporterFiles {
  name: string;
  service: string;
  configFile: string;
  pidFile: string;
  logFile: string;
  passfile: string;
}

export function exporterFiles(settings: SiteSettings, site: ExporterSite, name: string): ExporterFiles {
  return {
    name,
    service: `socle-postgres_exporter-${name}`,
    configFile: sitePath(settings, site.configpath, { name }),
    pidFile: sitePath(settings, site.pidFile, { name }),
    logFile: join(sitePath(settings, site.logpath, { name }), `${name}.log`),
    passfile: sitePath(settings, site.configpath, { name }).replace(/(\.conf)?$/, '.pgpass'),
  };
}

/** Where it connects: a Unix socket directory (`host` starting with '/') or a TCP host. */
export interface DataSource {
  user: string;
  /** Only for a data source given to something else than the exporter (see above). */
  password?: string;
  host: string;
  port: number;
  dbname: string;
  /** Extra libpq parameters (sslmode...), URI query parameters. */
  params?: Record<string, string>;
}

/**
 * A `postgresql://` URI, what the exporter's lib/pq parses best (its key=value parsing broke on
 * quotes, postgres_exporter issue 476): user and password percent-encoded, a socket directory as
 * the `host` query parameter.
 */
export function dataSourceUri(ds: DataSource): string {
  const enc = encodeURIComponent;
  const auth = `${enc(ds.user)}${ds.password !== undefined ? `:${enc(ds.password)}` : ''}@`;
  const socket = ds.host.startsWith('/');
  const hostPart = socket ? '' : ds.host.includes(':') ? `[${ds.host}]` : ds.host;
  const query = { ...(socket ? { host: ds.host } : {}), sslmode: 'disable', ...(ds.params ?? {}) };
  const q = Object.entries(query).map(([k, v]) => `${enc(k)}=${enc(v)}`).join('&');
  return `postgresql://${auth}${hostPart}:${ds.port}/${enc(ds.dbname)}?${q}`;
}

/** What an exporter runs with: its data source, the address it listens on, its passfile. */
export interface ExporterDefinition {
  dsn: string;
  listen: string;
  passfile?: string;
}

/** The passfile's text: the password for any server and user (libpq's escapes). */
export function passfileText(password: string): string {
  return `*:*:*:*:${password.replace(/\\/g, '\\\\').replace(/:/g, '\\:')}\n`;
}

const DSN = 'DATA_SOURCE_NAME';
const PASSFILE = 'PGPASSFILE';
// The exporter reads this variable too; kept in the file so the definition can be read back.
const LISTEN = 'PG_EXPORTER_WEB_LISTEN_ADDRESS';

export function listenAddress(site: ExporterSite, port: number): string {
  return `${site.listenHost.includes(':') ? `[${site.listenHost}]` : site.listenHost}:${port}`;
}

/** The configuration file's text (systemd EnvironmentFile syntax). */
export function configText(def: ExporterDefinition): string {
  return envText(exporterEnv(def));
}

function exporterEnv(def: ExporterDefinition): Record<string, string> {
  return { [DSN]: def.dsn, [LISTEN]: def.listen, ...(def.passfile ? { [PASSFILE]: def.passfile } : {}) };
}

/** The definition kept in the configuration file, or null. */
export function readDefinition(files: ExporterFiles): ExporterDefinition | null {
  const env = parseEnvText(readTextOr(files.configFile, ''));
  return env[DSN] && env[LISTEN] ? { dsn: env[DSN], listen: env[LISTEN], ...(env[PASSFILE] ? { passfile: env[PASSFILE] } : {}) } : null;
}

export function exporterService(settings: SiteSettings, site: ExporterSite, files: ExporterFiles, def: ExporterDefinition): CompanionService {
  return daemonService(settings, {
    name: files.service,
    description: `postgres_exporter ${files.name}`,
    argv: [site.execpath, `--web.listen-address=${def.listen}`],
    env: exporterEnv(def),
    logFile: files.logFile,
    pidFile: files.pidFile,
    envFile: files.configFile,
  });
}

export function metricsUrl(def: ExporterDefinition): string {
  const [host, port] = [def.listen.slice(0, def.listen.lastIndexOf(':')), def.listen.slice(def.listen.lastIndexOf(':') + 1)];
  const reachable = host === '' || host === '0.0.0.0' ? '127.0.0.1' : host === '[::]' ? '[::1]' : host;
  return `http://${reachable}:${port}/metrics`;
}

/** The exporter's files that may exist (for removal), the pid file's definition included. */
export function exporterLeftovers(files: ExporterFiles): string[] {
  const def = join(dirname(files.pidFile), `${basename(files.pidFile).replace(/\.pid$/, '')}.def`);
  return [files.configFile, files.passfile, files.logFile, def].filter((f) => existsSync(f));
}
