// A PoWA repository (remote mode): the servers registered in its PoWA database follow the task's
// list, powa-collector and powa-web run as companion services of the instance.
import type { ComponentContext } from '../../instance/component';
import { effectiveAuth } from '../../instance/config';
import type { Connection } from '../../pg/client';
import { quoteLiteral } from '../../pg/quote';
import type { Step } from '../../plan';
import { daemonService, type CompanionService } from '../../daemon';
import { sitePath } from '../../settings';
import type { InstanceOptions } from '../../../generated/instance';
import { createHash, randomBytes } from 'node:crypto';
import { readTextOr } from '../../fsutil';

export type Repository = NonNullable<NonNullable<InstanceOptions['powa']>['repository']>;
export type Server = Repository['servers'][number];

export interface PowaExec {
  collector: string;
  web: string;
}

export function powaExec(c: Pick<ComponentContext, 'settings'>): PowaExec {
  const s = (c.settings.raw as { powa?: { collector_execpath?: string; web_execpath?: string } }).powa ?? {};
  return { collector: s.collector_execpath ?? '/usr/bin/powa-collector', web: s.web_execpath ?? '/opt/socle/powa/bin/powa-web' };
}

const PASSWORD_METHODS = new Set(['scram-sha-256', 'md5', 'password', 'trust']);

export interface RepositoryFiles {
  name: string;
  collectorConf: string;
  webConf: string;
  passfile: string;
  /** Written once the repository's database and servers are made: the collector then follows the instance. */
  ready: string;
}

export function repositoryFiles(c: ComponentContext): RepositoryFiles {
  return {
    name: `${c.layout.version}-${c.layout.name}`,
    collectorConf: c.privateFile('powa', '-collector.conf'),
    webConf: c.privateFile('powa', '-web.conf'),
    passfile: c.privateFile('powa', '.pgpass'),
    ready: c.privateFile('powa', '-collector.ready'),
  };
}

/** Where the collector and the UI reach the repository: its socket when the local method takes a password, else TCP on loopback. */
function repositoryHost(c: ComponentContext): string {
  const local = effectiveAuth(c.settings, c.opts.auth).local;
  return PASSWORD_METHODS.has(local) ? c.layout.socketDir : '127.0.0.1';
}

const libpqValue = (v: string) => `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

export function collectorConfText(c: ComponentContext, role: string, dbname: string): string {
  const dsn = `host=${libpqValue(repositoryHost(c))} port=${c.port} user=${libpqValue(role)} dbname=${libpqValue(dbname)}`;
  return `${JSON.stringify({ repository: { dsn }, debug: false }, null, 2)}\n`;
}

/**
 * powa-web's configuration (Python syntax, read by tornado). Its cookie secret is made once and
 * kept (a new one would log every user out): read back from the file when there is one.
 */
export function webConfText(c: ComponentContext, web: NonNullable<Repository['web']>, dbname: string, existing: string | null): string {
  const kept = existing ? /^cookie_secret = "([0-9a-f]{64})"$/m.exec(existing)?.[1] : undefined;
  const secret = kept ?? randomBytes(32).toString('hex');
  const py = (s: string) => JSON.stringify(s);
  return [
    '# Written by socle.postgresql; changes are overwritten.',
    'servers = {',
    `    ${py(c.layout.id)}: {`,
    `        "host": ${py(repositoryHost(c))},`,
    `        "port": ${py(String(c.port))},`,
    `        "database": ${py(dbname)},`,
    '        "query": {"client_encoding": "utf8"},',
    '    },',
    '}',
    `cookie_secret = "${secret}"`,
    `address = ${py(web.address!)}`,
    `port = ${web.port}`,
    '',
  ].join('\n');
}

/** The text without its cookie secret: what decides whether the file must be rewritten. */
export const webConfShape = (text: string | null) => (text === null ? null : text.replace(/^cookie_secret = .*$/m, ''));

// powa-collector reads its configuration from fixed places (/etc/powa-collector.conf first, which
// Debian ships): ours is put first in its list, so that one host may run several repositories.
const COLLECTOR_WRAPPER =
  'import runpy, sys; import powa_collector.options as o; o.CONF_LOCATIONS.insert(0, sys.argv.pop(1)); ' +
  "sys.argv[0] = 'powa-collector'; runpy.run_path(sys.argv.pop(1), run_name='__main__')";

export function collectorService(c: ComponentContext, files: RepositoryFiles, conf: string): CompanionService {
  return daemonService(c.settings, {
    name: `socle-powa-collector-${files.name}`,
    description: `powa-collector of repository ${c.layout.id}`,
    argv: ['/usr/bin/python3', '-c', COLLECTOR_WRAPPER, files.collectorConf, powaExec(c).collector],
    // The configuration (no secret) is in the definition: a changed one restarts the collector.
    env: { PGPASSFILE: files.passfile, SOCLE_POWA_COLLECTOR_SHA256: createHash('sha256').update(conf).digest('hex') },
    logFile: sitePath(c.settings, 'log/powa-collector-{name}.log', { name: files.name }),
  });
}

export function webService(c: ComponentContext, files: RepositoryFiles, conf: string): CompanionService {
  return daemonService(c.settings, {
    name: `socle-powa-web-${files.name}`,
    description: `powa-web of repository ${c.layout.id}`,
    argv: [powaExec(c).web, `--config=${files.webConf}`],
    env: { SOCLE_POWA_WEB_SHA256: createHash('sha256').update(webConfShape(conf) ?? '').digest('hex') },
    logFile: sitePath(c.settings, 'log/powa-web-{name}.log', { name: files.name }),
  });
}

export const readWebConf = (files: RepositoryFiles) => readTextOr(files.webConf, null);

interface Row {
  id: number;
  hostname: string;
  port: number;
  alias: string | null;
  username: string;
  password: string | null;
  dbname: string;
  frequency: number;
  retention: string;
  same_retention: boolean | null;
}

const key = (host: string, port: number) => `${host}:${port}`;

const passfileField = (v: string) => v.replace(/\\/g, '\\\\').replace(/:/g, '\\:');

/**
 * The collector's passfile: one line per server with a password (libpq picks the first line
 * that matches host, port, database and user), then the repository's role on any host.
 * powa-collector logs the rows of powa_servers (password included) when it starts: passwords
 * are kept here, never there.
 */
export function collectorPassfileText(servers: Server[], role: string, password: string): string {
  const lines = servers
    .filter((s) => s.password !== undefined)
    .map((s) => [s.hostname, String(s.port), s.dbname!, s.username!, s.password!].map(passfileField).join(':'));
  lines.push(['*', '*', '*', role, password].map((v, i) => (i < 3 ? v : passfileField(v))).join(':'));
  return `${lines.join('\n')}\n`;
}

/** The steps that make the repository's registered servers those of the list (in its PoWA database). */
export async function serverSteps(conn: Connection, servers: Server[]): Promise<{ steps: Step[]; before: object; after: object }> {
  const wanted = new Map(servers.map((s) => [key(s.hostname, s.port!), s]));
  const { rows } = await conn.query<Row>(
    `SELECT id, hostname, port, alias, username, password, dbname, frequency, retention::text AS retention, NULL::boolean AS same_retention
       FROM public.powa_servers WHERE id > 0 ORDER BY id`,
  );
  const current = new Map(rows.map((r) => [key(r.hostname, r.port), r]));
  const steps: Step[] = [];
  const sqlStep = (change: string, sql: (real: boolean) => string): Step => ({
    change,
    queries: [sql(false)],
    apply: async () => void (await conn.query(sql(true))),
  });
  for (const r of rows) {
    if (!wanted.has(key(r.hostname, r.port))) {
      steps.push(sqlStep(`unregister PoWA server ${r.alias ?? key(r.hostname, r.port)} and purge its snapshots`, () => `SELECT powa_delete_and_purge_server(${r.id})`));
    }
  }
  // Intervals compare as the server reads them ('1 day' is stored and shown as '1 day', '24 hours' is not).
  const sameInterval = async (a: string, b: string) => {
    const { rows: x } = await conn.query<{ same: boolean }>('SELECT $1::interval = $2::interval AS same', [a, b]);
    return x[0].same;
  };
  for (const s of servers) {
    const r = current.get(key(s.hostname, s.port!));
    const name = s.alias ?? key(s.hostname, s.port!);
    if (!r) {
      steps.push(sqlStep(`register PoWA server ${name}`, () =>
        `SELECT powa_register_server(hostname => ${quoteLiteral(s.hostname)}, port => ${s.port}, alias => ${s.alias === undefined ? 'NULL' : quoteLiteral(s.alias)}, ` +
        `username => ${quoteLiteral(s.username!)}, password => NULL, dbname => ${quoteLiteral(s.dbname!)}, frequency => ${s.frequency}, ` +
        `retention => ${quoteLiteral(s.retention!)}::interval, extensions => ARRAY['pg_qualstats', 'pg_stat_kcache'])`));
      continue;
    }
    const changed: string[] = [];
    const set: Array<[string, (real: boolean) => string]> = [];
    if ((s.alias ?? null) !== r.alias) { changed.push('alias'); set.push(['alias', () => (s.alias === undefined ? 'NULL' : quoteLiteral(s.alias))]); }
    if (s.username !== r.username) { changed.push('username'); set.push(['username', () => quoteLiteral(s.username!)]); }
    // Passwords are in the collector's passfile, never in powa_servers (the collector logs its rows).
    if (r.password !== null) { changed.push('password'); set.push(['password', () => 'NULL']); }
    if (s.dbname !== r.dbname) { changed.push('dbname'); set.push(['dbname', () => quoteLiteral(s.dbname!)]); }
    if (s.frequency !== r.frequency) { changed.push('frequency'); set.push(['frequency', () => String(s.frequency)]); }
    if (!(await sameInterval(s.retention!, r.retention))) { changed.push('retention'); set.push(['retention', () => quoteLiteral(s.retention!)]); }
    if (set.length) {
      steps.push(sqlStep(`reconfigure PoWA server ${name} (${changed.join(', ')})`, (real) =>
        `SELECT powa_configure_server(${r.id}, json_build_object(${set.map(([k, v]) => `'${k}', ${v(real)}`).join(', ')}))`));
    }
  }
  const view = (list: Array<{ hostname: string; port: number; alias?: string | null; frequency: number }>) =>
    Object.fromEntries(list.map((x) => [key(x.hostname, x.port), { alias: x.alias ?? null, frequency: x.frequency }]));
  return { steps, before: view(rows), after: view(servers.map((s) => ({ hostname: s.hostname, port: s.port!, alias: s.alias, frequency: s.frequency! }))) };
}
