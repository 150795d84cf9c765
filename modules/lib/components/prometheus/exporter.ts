// A postgres_exporter (Debian's prometheus-postgres-exporter): its site settings, data source,
// files and service. Shared by the instance's `prometheus` component (one exporter per instance,
// named `<version>-<instance>`) and the standalone `postgres_exporter` module (any name, any
// data source).
//
// The password never shows on a command line: the data source (a URI, user and password
// percent-encoded, so any password survives, spaces and quotes included) is in the exporter's
// environment only: systemd reads it from the configuration file (an EnvironmentFile, 0600);
// a supervised process is given it at start, and the same file is kept (0600) so that a task
// that does not repeat the options can still restart it.
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

export function exporterSite(settings: SiteSettings): ExporterSite {
  const p = settings.raw.prometheus ?? {};
  return {
    execpath: p.execpath ?? '/usr/bin/prometheus-postgres-exporter',
    role: p.role ?? 'prometheus',
    configpath: p.configpath ?? 'etc/prometheus/postgres_exporter-{name}.conf',
    pidFile: p.pid_file ?? '{run_prefix}/prometheus/{name}.pid',
    logpath: p.logpath ?? 'log/prometheus',
    listenHost: p.listen_host ?? '127.0.0.1',
  };
}

export interface ExporterFiles {
  name: string;
  service: string;
  configFile: string;
  pidFile: string;
  logFile: string;
}

export function exporterFiles(settings: SiteSettings, site: ExporterSite, name: string): ExporterFiles {
  return {
    name,
    service: `socle-postgres_exporter-${name}`,
    configFile: sitePath(settings, site.configpath, { name }),
    pidFile: sitePath(settings, site.pidFile, { name }),
    logFile: join(sitePath(settings, site.logpath, { name }), `${name}.log`),
  };
}

/** Where it connects: a Unix socket directory (`host` starting with '/') or a TCP host. */
export interface DataSource {
  user: string;
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

/** What an exporter runs with: its data source and the address it listens on. */
export interface ExporterDefinition {
  dsn: string;
  listen: string;
}

const DSN = 'DATA_SOURCE_NAME';
// The exporter reads this variable too; kept in the file so the definition can be read back.
const LISTEN = 'PG_EXPORTER_WEB_LISTEN_ADDRESS';

export function listenAddress(site: ExporterSite, port: number): string {
  return `${site.listenHost.includes(':') ? `[${site.listenHost}]` : site.listenHost}:${port}`;
}

/** The configuration file's text (systemd EnvironmentFile syntax). */
export function configText(def: ExporterDefinition): string {
  return envText({ [DSN]: def.dsn, [LISTEN]: def.listen });
}

/** The definition kept in the configuration file, or null. */
export function readDefinition(files: ExporterFiles): ExporterDefinition | null {
  const env = parseEnvText(readTextOr(files.configFile, ''));
  return env[DSN] && env[LISTEN] ? { dsn: env[DSN], listen: env[LISTEN] } : null;
}

export function exporterService(settings: SiteSettings, site: ExporterSite, files: ExporterFiles, def: ExporterDefinition): CompanionService {
  return daemonService(settings, {
    name: files.service,
    description: `postgres_exporter ${files.name}`,
    argv: [site.execpath, `--web.listen-address=${def.listen}`],
    env: { [DSN]: def.dsn, [LISTEN]: def.listen },
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
  return [files.configFile, files.logFile, def].filter((f) => existsSync(f));
}
