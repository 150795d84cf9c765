// A Patroni member's site settings, files and configuration (the YAML Patroni reads).
//
// What goes where:
//   - the member's YAML (0600, written with js-yaml so that any password is quoted correctly)
//     holds scope/name, etcd3, restapi, ctl, the PostgreSQL connection and authentication, and
//     the instance's parameters (the core's socle.conf parameters, minus those Patroni owns:
//     port and listen_addresses come from `postgresql.listen`, cluster_name from the scope);
//   - parameters Patroni keeps equal on every member (it gives them on postgres's command line:
//     max_connections, wal_level...) go to the DCS: `bootstrap.dcs` for the first member,
//     `PATCH /config` afterwards (index.ts);
//   - pg_hba.conf and pg_ident.conf stay the core's (no `pg_hba` in the YAML: Patroni leaves
//     the files alone).
import { hostname } from 'node:os';
import { join } from 'node:path';
import { dump } from 'js-yaml';
import type { ComponentContext } from '../../instance/component';
import type { ConfValue } from '../../instance/config';
import type { GucInfo } from '../../pg/guc';
import { sitePath, type SiteSettings } from '../../settings';
import { formatCommand } from '../../exec';
import { command, pgbackrestSite } from '../pgbackrest/site';
import type { EtcdAccess } from './etcd';
import type { Endpoint } from './http';

/** Patroni's own parameters (from its `listen`, `scope`, or forced): never in its `parameters`. */
export const PATRONI_OWNED = new Set(['port', 'listen_addresses', 'cluster_name', 'hot_standby', 'wal_log_hints']);
/**
 * Parameters Patroni takes from the DCS only (Patroni's CMDLINE_OPTIONS that may be changed),
 * with their type and unit as pg_settings gives them: the DCS's values (`128MB`, `131072kB`,
 * `2048`) are compared the way PostgreSQL reads them, without a server to ask.
 */
export const DCS_GUCS: Record<string, GucInfo> = {
  max_connections: { vartype: 'integer' },
  max_wal_senders: { vartype: 'integer' },
  max_replication_slots: { vartype: 'integer' },
  max_worker_processes: { vartype: 'integer' },
  max_prepared_transactions: { vartype: 'integer' },
  max_locks_per_transaction: { vartype: 'integer' },
  track_commit_timestamp: { vartype: 'bool' },
  wal_level: { vartype: 'enum' },
  wal_keep_size: { vartype: 'integer', unit: 'MB' },
  wal_keep_segments: { vartype: 'integer' },
};
export const DCS_PARAMETERS = new Set(Object.keys(DCS_GUCS));

export type PatroniSite = ReturnType<typeof patroniSite>;

export function patroniSite(settings: SiteSettings) {
  const p = settings.raw.patroni!;
  return {
    execpath: p.execpath!,
    ctlpath: p.ctlpath!,
    configpath: p.configpath!,
    logpath: p.logpath!,
    pidFile: p.pid_file!,
    etcd: p.etcd!,
    restapi: p.restapi!,
    ctl: p.ctl!,
    postgresql: p.postgresql!,
    dcs: {
      ttl: p.ttl!,
      loop_wait: p.loop_wait!,
      retry_timeout: p.retry_timeout!,
      maximum_lag_on_failover: p.maximum_lag_on_failover!,
      synchronous_mode: p.synchronous_mode!,
    },
    watchdog: p.watchdog!,
  };
}

export interface MemberFiles {
  /** `<version>-<instance>` */
  name: string;
  service: string;
  configFile: string;
  pidFile: string;
  logFile: string;
  passfile: string;
}

export function memberFiles(settings: SiteSettings, version: string, instance: string): MemberFiles {
  const site = patroniSite(settings);
  const name = `${version}-${instance}`;
  return {
    name,
    service: `socle-patroni-${name}`,
    configFile: sitePath(settings, site.configpath, { name }),
    pidFile: sitePath(settings, site.pidFile, { name }),
    logFile: join(sitePath(settings, site.logpath, { name }), `${name}.log`),
    passfile: sitePath(settings, site.postgresql.passfile!, { name }),
  };
}

export type PatroniOptions = NonNullable<ComponentContext['opts']['patroni']>;

/** The member's REST address (`host:port`) as the others reach it. */
export function restConnect(o: PatroniOptions): string {
  return o.restapi?.connect_address ?? o.restapi?.listen ?? `${o.postgresql?.connect_host ?? '127.0.0.1'}:8008`;
}

export function restEndpoint(settings: SiteSettings, address: string, auth?: { username: string; password: string }): Endpoint {
  const site = patroniSite(settings);
  const tls = site.restapi.certfile !== undefined;
  return {
    base: `${tls ? 'https' : 'http'}://${address}`,
    ...(auth ? { auth } : {}),
    ...(site.restapi.cafile ? { cafile: site.restapi.cafile } : {}),
    ...(site.ctl.certfile ? { certfile: site.ctl.certfile, keyfile: site.ctl.keyfile } : {}),
  };
}

export function etcdAccess(settings: SiteSettings, user?: { username: string; password: string }): EtcdAccess {
  const e = patroniSite(settings).etcd;
  return {
    endpoints: e.hosts!.map((h) => ({
      base: `${e.protocol}://${h}`,
      ...(e.cacert ? { cafile: e.cacert } : {}),
      ...(e.cert ? { certfile: e.cert, keyfile: e.key } : {}),
    })),
    ...(user ? { user } : {}),
    namespace: '/service',
  };
}

/** The local parameters and the DCS ones, from the core's merged socle.conf parameters. */
export function splitParameters(all: Record<string, ConfValue>): { local: Record<string, ConfValue>; dcs: Record<string, ConfValue> } {
  const local: Record<string, ConfValue> = {};
  const dcs: Record<string, ConfValue> = {};
  for (const [k, v] of Object.entries(all)) {
    if (PATRONI_OWNED.has(k)) continue;
    (DCS_PARAMETERS.has(k) ? dcs : local)[k] = v;
  }
  return { local, dcs };
}

/**
 * How a new member is cloned: with a pgBackRest stanza, restored from the repository first (the
 * WAL since the backup comes from the archive, only the rest streams from the leader); Patroni
 * tries the next method when one fails (no backup yet: pgBackRest exits at once, having written
 * nothing), so the base backup stays the fallback. Patroni runs the command without a shell and
 * makes no folder: `sh -c` makes the data and WAL directories pgBackRest restores into (0700).
 * `keep_data`: a reinit of the member keeps its files for `--delta`.
 */
function replicaMethods(c: ComponentContext): Record<string, unknown> {
  const stanza = c.opts.pgbackrest?.stanza;
  if (!stanza || !c.settings.raw.pgbackrest) return { create_replica_methods: ['basebackup'] };
  const l = c.layout;
  const restore = command(pgbackrestSite(c.settings), stanza, [`--pg1-path=${l.datadir}`, '--delta', '--link-all', `--link-map=pg_wal=${l.waldir}`, '--type=standby', 'restore']);
  const script = `${formatCommand('mkdir', ['-p', '-m', '0700', l.datadir, l.waldir])} && exec ${restore.text}`;
  const site = pgbackrestSite(c.settings);
  return {
    create_replica_methods: ['pgbackrest', 'basebackup'],
    pgbackrest: { command: formatCommand('/bin/sh', ['-c', script]), keep_data: true, no_params: true },
    // Patroni drops the restore_command pgBackRest's restore wrote (postgresql.auto.conf) and
    // writes the recovery settings itself: a replica that falls behind reads the archive.
    recovery_conf: { restore_command: `${formatCommand(site.execpath, [`--config-path=${site.configpath}`, `--stanza=${stanza}`, 'archive-get', '%f'])} "%p"` },
  };
}

/** The member's YAML. */
export function configText(c: ComponentContext, o: PatroniOptions, files: MemberFiles): string {
  const site = patroniSite(c.settings);
  const all = c.parameters();
  const { local, dcs } = splitParameters(all);
  const listenHosts = String(all.listen_addresses ?? 'localhost');
  const connectHost = o.postgresql?.connect_host ?? '127.0.0.1';
  const restListen = o.restapi?.listen ?? `${connectHost}:8008`;
  const surole = c.settings.postgresql.surole.name;
  const replrole = c.settings.postgresql.replrole!;
  const e = site.etcd;
  const doc = {
    scope: o.cluster,
    name: o.node ?? hostname(),
    log: { level: 'INFO' },
    restapi: {
      listen: restListen,
      connect_address: restConnect(o),
      ...(o.restapi?.authentication ? { authentication: o.restapi.authentication } : {}),
      ...(site.restapi.certfile ? { certfile: site.restapi.certfile } : {}),
      ...(site.restapi.keyfile ? { keyfile: site.restapi.keyfile } : {}),
      ...(site.restapi.cafile ? { cafile: site.restapi.cafile } : {}),
      ...(site.restapi.verify_client ? { verify_client: site.restapi.verify_client } : {}),
    },
    ...(site.ctl.certfile || site.restapi.cafile
      ? { ctl: { ...(site.ctl.certfile ? { certfile: site.ctl.certfile, keyfile: site.ctl.keyfile } : {}), ...(site.restapi.cafile ? { cacert: site.restapi.cafile } : {}) } }
      : {}),
    etcd3: {
      hosts: e.hosts,
      protocol: e.protocol,
      ...(e.cacert ? { cacert: e.cacert } : {}),
      ...(e.cert ? { cert: e.cert, key: e.key } : {}),
      ...(o.etcd ? { username: o.etcd.username, password: o.etcd.password } : {}),
    },
    bootstrap: {
      dcs: {
        ...site.dcs,
        postgresql: { use_pg_rewind: site.postgresql.use_pg_rewind, use_slots: true, parameters: dcs },
      },
      // A new cluster's data directory, with the site's initdb options (as the core's initdb).
      // Until the core writes its pg_hba.conf (right after), only local connections are accepted.
      initdb: [
        { encoding: c.opts.encoding ?? c.settings.postgresql.initdb.encoding },
        { locale: c.opts.locale ?? c.settings.postgresql.initdb.locale },
        { waldir: c.layout.waldir },
        { 'auth-local': 'trust' },
        { 'auth-host': 'reject' },
        ...((c.opts.data_checksums ?? c.settings.postgresql.initdb.dataChecksums) ? ['data-checksums'] : []),
      ],
    },
    postgresql: {
      listen: `${listenHosts}:${c.port}`,
      connect_address: `${connectHost}:${c.port}`,
      data_dir: c.layout.datadir,
      bin_dir: c.layout.bindir,
      pgpass: files.passfile,
      use_unix_socket: true,
      use_unix_socket_repl: false,
      authentication: {
        superuser: { username: surole, ...(c.opts.surole_password !== undefined ? { password: c.opts.surole_password } : {}) },
        replication: { username: replrole, ...(c.opts.replrole_password !== undefined ? { password: c.opts.replrole_password } : {}) },
        ...(site.postgresql.use_pg_rewind ? { rewind: { username: surole, ...(c.opts.surole_password !== undefined ? { password: c.opts.surole_password } : {}) } } : {}),
      },
      parameters: local,
      ...replicaMethods(c),
      basebackup: [{ waldir: c.layout.waldir }, { checkpoint: 'fast' }],
      ...(site.postgresql.use_pg_rewind ? { use_pg_rewind: true } : {}),
    },
    watchdog: { mode: site.watchdog },
  };
  return `# Written by socle.postgresql (instance ${c.layout.id}); changes are overwritten.\n${dump(doc, { lineWidth: -1, noRefs: true })}`;
}
