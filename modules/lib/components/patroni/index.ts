// The instance run by Patroni on etcd (pglift's `patroni`): see docs/ha.md.
//   check      `patroni` excludes `standby`, needs the site's replication role; a standalone
//              instance is not converted; etcd says whether the cluster exists (bootstrap or clone)
//   server     Patroni's daemon replaces the instance's own service (server.ts)
//   provision  the member's YAML written (0600) and validated, Patroni started: it bootstraps
//              the cluster (initdb) or clones the leader (base backup); the step returns once
//              the REST API is ready
//   configure  the YAML follows the options and parameters (Patroni reloaded); the parameters
//              Patroni keeps cluster-wide are PATCHed into the DCS; a dead Patroni is restarted
//   sql        the replication role Patroni made joins pg_read_all_stats (as the core's does)
//   drop       the last member of a cluster removes the cluster's keys from etcd; files removed
//   facts      the member's role, state, timeline and the REST URL
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { load } from 'js-yaml';
import type { ComponentContext, InstanceComponent, SqlContext } from '../../instance/component';
import type { InstanceLayout } from '../../instance/layout';
import { privateDir } from '../../instance/lifecycle';
import type { SiteSettings } from '../../settings';
import { formatCommand } from '../../exec';
import { readTextOr, writePrivateFileAtomic } from '../../fsutil';
import type { Step } from '../../plan';
import { gucEqual, type GucValue } from '../../pg/guc';
import { quoteIdent } from '../../pg/quote';
import { ModuleError } from '../../runtime';
import { effectiveAuth } from '../../instance/config';
import { pgbackrestSite, stanzaHasBackup } from '../pgbackrest/site';
import { clusterInitialized, registeredMembers, removeCluster } from './etcd';
import { call, getJson, statusOf, type Endpoint } from './http';
import { patroniDaemon, patroniServer, waitReady } from './server';
import { configText, DCS_GUCS, etcdAccess, memberFiles, patroniSite, restConnect, restEndpoint, splitParameters } from './site';

interface MemberYaml {
  scope: string;
  name: string;
  restapi: { connect_address: string; authentication?: { username: string; password: string } };
  etcd3: { username?: string; password?: string };
}

const filesOf = (c: ComponentContext) => memberFiles(c.settings, c.layout.version, c.layout.name);

/** The member's configuration as written by an earlier task (for tasks that omit the option). */
function written(c: ComponentContext): MemberYaml | null {
  const text = readTextOr(filesOf(c).configFile, null);
  return text === null ? null : (load(text) as MemberYaml);
}

/** The member's REST API: from the options, else from its YAML. */
function restOf(c: ComponentContext): Endpoint | null {
  const o = c.opts.patroni;
  if (o) return restEndpoint(c.settings, restConnect(o), o.restapi?.authentication);
  const y = written(c);
  return y ? restEndpoint(c.settings, y.restapi.connect_address, y.restapi.authentication) : null;
}

function etcdOf(c: ComponentContext) {
  const y = c.opts.patroni?.etcd ?? (() => {
    const w = written(c)?.etcd3;
    return w?.username && w.password ? { username: w.username, password: w.password } : undefined;
  })();
  return etcdAccess(c.settings, y);
}

/** Whether this task's new member bootstraps the cluster (decided in `check`, from etcd). */
const bootstraps = new WeakMap<ComponentContext, boolean>();

async function check(c: ComponentContext): Promise<void> {
  const o = c.opts.patroni;
  if (c.lifecycle === 'drop') return;
  if (!o) {
    // A member whose task omits `patroni` (declared: its YAML is there): making it standalone
    // again would need Patroni stopped, its postgresql.conf and recovery settings undone and the
    // member removed from the DCS; not supported, and not done silently either.
    const y = written(c);
    throw new ModuleError(`option 'patroni': instance ${c.layout.id} is member ${y?.name ?? '?'} of Patroni cluster ${y?.scope ?? '?'}; converting it to a standalone instance is not supported (give the same 'patroni' option, or drop it with state: absent)`);
  }
  if (c.opts.standby) throw new ModuleError("option 'patroni': excludes option 'standby' (Patroni makes the replicas)");
  if (!c.settings.postgresql.replrole) throw new ModuleError("option 'patroni': the site settings must name a replication role (postgresql.replrole)");
  if (c.lifecycle === 'update' && !existsSync(filesOf(c).configFile)) {
    throw new ModuleError(`option 'patroni': instance ${c.layout.id} exists as a standalone instance; converting it to a Patroni member is not supported (create a new member: it is cloned from the leader)`);
  }
  const y = written(c);
  if (y && y.scope !== o.cluster) throw new ModuleError(`option 'patroni.cluster': instance ${c.layout.id} is a member of cluster ${y.scope}, not ${o.cluster}`);
  if (y && o.node !== undefined && y.name !== o.node) throw new ModuleError(`option 'patroni.node': instance ${c.layout.id} is member ${y.name}, not ${o.node}`);
  for (const [path, v] of [['patroni.restapi.authentication.password', o.restapi?.authentication?.password], ['patroni.etcd.password', o.etcd?.password]] as const) {
    if (v?.includes('\0')) throw new ModuleError(`option '${path}': must not contain NUL`);
  }
  // Patroni creates the replication role with this password and the replicas connect with it:
  // without it, a clone would wait at a password prompt until Patroni's timeout.
  if (c.lifecycle === 'create' && c.opts.replrole_password === undefined && effectiveAuth(c.settings, c.opts.auth).host !== 'trust') {
    throw new ModuleError(`option 'replrole_password': required by 'patroni' (the replication role ${c.settings.postgresql.replrole} that the members clone and stream with)`);
  }
  if (c.lifecycle === 'create') {
    try {
      bootstraps.set(c, !(await clusterInitialized(etcdOf(c), o.cluster)));
    } catch (err) {
      throw new ModuleError(`option 'patroni.cluster': cannot read cluster ${o.cluster} in etcd: ${(err as Error).message}`);
    }
  }
}

/**
 * `patroni --validate-config`. Patroni 3.0's validator also complains about what is right here:
 * the data directory of a member not created yet, loopback addresses (valid on one host, as in
 * tests), no `bootstrap.pg_hba` (the core writes pg_hba.conf): those complaints are ignored.
 */
const HARMLESS = [/data_dir/, /PG_VERSION/, /connect_address .*must not contain/, /bootstrap\.pg_hba\s+is not defined/, /bin_dir/, /^\s*$/];
function validate(execpath: string, file: string): void {
  const r = spawnSync(execpath, ['--validate-config', file], { encoding: 'utf8', timeout: 60_000 });
  if (r.status === 0) return;
  const lines = `${r.stdout ?? ''}\n${r.stderr ?? ''}`.split('\n').filter((l) => !HARMLESS.some((h) => h.test(l)));
  if (lines.length) throw new ModuleError(`Patroni rejects ${file}: ${lines.join('; ')}`);
}

/** How a clone is made (Patroni tries the repository first when the member has a stanza: site.ts). */
function cloneHow(c: ComponentContext): string {
  const stanza = c.opts.pgbackrest?.stanza;
  if (!stanza || !c.settings.raw.pgbackrest) return ' (base backup)';
  return stanzaHasBackup(pgbackrestSite(c.settings), stanza) ? ` (restored from the backups of stanza ${stanza})` : ` (base backup: stanza ${stanza} has no backup yet)`;
}

function provision(c: ComponentContext) {
  const o = c.opts.patroni;
  if (!o) return null;
  const files = filesOf(c);
  const text = configText(c, o, files);
  const site = patroniSite(c.settings);
  const rest = restOf(c)!;
  const daemon = patroniDaemon(c.settings, files);
  const first = bootstraps.get(c) ?? true;
  // A bootstrap is over once the member holds the leader lock (`/primary`): Patroni takes it
  // after its post-bootstrap (roles made), while `/readiness` already says 200 as soon as
  // PostgreSQL runs (CI saw `/primary` answer 503 just after the step returned). Members
  // created at once all see an empty cluster: those that lose the race end as replicas.
  const ready = first ? ['/primary', '/replica'] : ['/readiness'];
  const step: Step = {
    change: first ? `bootstrap Patroni cluster ${o.cluster} with member ${c.layout.id}` : `clone the leader of Patroni cluster ${o.cluster} into member ${c.layout.id}${cloneHow(c)}`,
    commands: [`write ${files.configFile} (mode 0600)`, formatCommand(site.execpath, ['--validate-config', files.configFile]), ...daemon.start().commands, `wait for ${ready.map((p) => rest.base + p).join(' or ')}`],
    async apply() {
      privateDir(files.configFile);
      privateDir(files.passfile);
      writePrivateFileAtomic(files.configFile, text);
      c.onUndo(async () => {
        await daemon.stop().run();
        rmSync(files.configFile, { force: true });
        rmSync(files.passfile, { force: true });
      });
      validate(site.execpath, files.configFile);
      if (!daemon.isInstalled()) await daemon.install().run();
      await daemon.start().run();
      await waitReady(daemon, files, rest, ready);
    },
  };
  // Patroni creates the replication role itself at bootstrap, and a clone is a standby: the
  // core writes nothing into the new instance.
  return { step, standby: true };
}

async function dcsSteps(c: ComponentContext, rest: Endpoint): Promise<Step[]> {
  const { dcs } = splitParameters(c.parameters());
  if (!Object.keys(dcs).length) return [];
  let current: { postgresql?: { parameters?: Record<string, unknown> } };
  try {
    current = await getJson(rest, '/config');
  } catch {
    return [];
  }
  const have = current.postgresql?.parameters ?? {};
  const differ = Object.keys(dcs).filter((k) => {
    const h = have[k];
    return !(typeof h === 'string' || typeof h === 'number' || typeof h === 'boolean') || !gucEqual(h, dcs[k] as GucValue, DCS_GUCS[k]);
  });
  if (!differ.length) return [];
  const patch = { postgresql: { parameters: Object.fromEntries(differ.map((k) => [k, dcs[k]])) } };
  return [{
    change: `set cluster-wide parameters ${differ.join(', ')} in the DCS`,
    commands: [`PATCH ${rest.base}/config ${JSON.stringify(patch)}`],
    async apply() {
      const r = await call(rest, 'PATCH', '/config', patch);
      if (r.status !== 200) throw new ModuleError(`Patroni refused PATCH /config (HTTP ${r.status}): ${r.body.slice(0, 300)}`);
    },
  }];
}

async function configure(c: ComponentContext): Promise<Step[]> {
  const o = c.opts.patroni;
  if (c.lifecycle !== 'update') return [];
  const files = filesOf(c);
  const rest = restOf(c);
  if (!rest) return [];
  const daemon = patroniDaemon(c.settings, files);
  const steps: Step[] = [];
  if (o) {
    const text = configText(c, o, files);
    if (readTextOr(files.configFile, null) !== text) {
      steps.push({
        change: `write the configuration of Patroni member ${files.name}`,
        commands: [`write ${files.configFile} (mode 0600)`, ...(daemon.isRunning() ? [`POST ${rest.base}/reload`] : [])],
        async apply() {
          writePrivateFileAtomic(files.configFile, text);
          if (daemon.isRunning()) {
            const r = await call(rest, 'POST', '/reload');
            if (r.status >= 300) throw new ModuleError(`Patroni reload refused (HTTP ${r.status}): ${r.body.slice(0, 300)}`);
          }
        },
      });
    }
  }
  // PostgreSQL left running by a Patroni that died (killed): Patroni takes it over again.
  if (c.opts.state !== 'stopped' && c.current.running && !daemon.isRunning()) {
    const a = daemon.start();
    steps.push({ change: `start Patroni member ${files.name}`, commands: a.commands, apply: async () => { await a.run(); await waitReady(daemon, files, rest); } });
  }
  if (o && daemon.isRunning()) steps.push(...(await dcsSteps(c, rest)));
  return steps;
}

async function sql(c: SqlContext) {
  const repl = c.settings.postgresql.replrole!;
  if (c.server.inRecovery || c.lifecycle !== 'create') return { steps: [] };
  const conn = await c.session.connection();
  // Patroni makes the role in its post-bootstrap, which may still be under way when its REST API
  // already says ready (seen on a loaded machine): wait for the role, a bounded time.
  const deadline = Date.now() + 60_000;
  let rows: Array<{ m: boolean | null }> = [];
  for (;;) {
    ({ rows } = await conn.query<{ m: boolean | null }>(
      "SELECT pg_has_role(r.oid, 'pg_read_all_stats', 'MEMBER') AS m FROM pg_roles r WHERE r.rolname = $1", [repl]));
    if (rows.length || c.module.checkMode) break;
    if (Date.now() > deadline) throw new ModuleError(`the replication role ${repl} that Patroni makes at bootstrap does not exist after 60 s`);
    await new Promise((r) => setTimeout(r, 500));
  }
  if (rows[0]?.m) return { steps: [] };
  const q = `GRANT pg_read_all_stats TO ${quoteIdent(repl)}`;
  return { steps: [{ change: `grant pg_read_all_stats to ${repl}`, queries: [q], apply: async () => void (await conn.query(q)) }] };
}

/** Other members of the cluster whose REST API answers (the member keys outlive a stopped member for a TTL). */
async function liveOthers(c: ComponentContext, cluster: string, self: string): Promise<string[]> {
  const members = await registeredMembers(etcdOf(c), cluster);
  const out: string[] = [];
  for (const m of members) {
    if (m.name === self) continue;
    const url = m.apiUrl ? new URL(m.apiUrl) : null;
    if (url && (await statusOf({ ...restOf(c)!, base: `${url.protocol}//${url.host}` }, '/liveness')) !== 0) out.push(m.name);
  }
  return out;
}

function drop(c: ComponentContext): Step[] {
  const files = filesOf(c);
  const y = written(c);
  const present = [files.configFile, files.passfile, files.pidFile].filter((f) => existsSync(f));
  const steps: Step[] = [];
  if (y) {
    const daemon = patroniDaemon(c.settings, files);
    steps.push({
      change: `remove member ${y.name} from Patroni cluster ${y.scope} (and the cluster from etcd if it is the last member)`,
      commands: [...daemon.stop().commands, `etcd: delete ${etcdOf(c).namespace}/${y.scope}/ if no other member is alive`],
      async apply() {
        await daemon.stop().run();
        if (!(await liveOthers(c, y.scope, y.name)).length) await removeCluster(etcdOf(c), y.scope);
      },
    });
  }
  if (present.length) {
    steps.push({
      change: `remove the files of Patroni member ${files.name}`,
      commands: [formatCommand('rm', ['-f', ...present])],
      apply: async () => present.forEach((f) => rmSync(f, { force: true })),
    });
  }
  return steps;
}

/** The member's facts: from its YAML, and its REST API's `/patroni` when it answers. */
async function memberFacts(y: MemberYaml, rest: Endpoint, configFile: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = { cluster: y.scope, node: y.name, rest_url: rest.base, config: configFile };
  try {
    const p = await getJson<{ role?: string; state?: string; timeline?: number; pending_restart?: boolean }>(rest, '/patroni');
    Object.assign(out, { role: p.role, state: p.state, timeline: p.timeline, pending_restart: p.pending_restart ?? false });
  } catch {
    out.state = 'stopped';
  }
  return out;
}

async function facts(c: ComponentContext) {
  if (c.lifecycle === 'drop') return undefined;
  const y = written(c);
  const rest = restOf(c);
  if (!y || !rest) return undefined;
  return memberFacts(y, rest, filesOf(c).configFile);
}

/** For instance_info: the facts of the instance's member (null: not a Patroni member). */
export async function patroniInfo(settings: SiteSettings, l: InstanceLayout): Promise<Record<string, unknown> | null> {
  if (!settings.raw.patroni) return null;
  const files = memberFiles(settings, l.version, l.name);
  const text = readTextOr(files.configFile, null);
  if (text === null) return null;
  const y = load(text) as MemberYaml;
  return memberFacts(y, restEndpoint(settings, y.restapi.connect_address, y.restapi.authentication), files.configFile);
}

export const patroniComponent: InstanceComponent = {
  name: 'patroni',
  declared: (c) => c.opts.patroni !== undefined || existsSync(filesOf(c).configFile),
  check,
  server(c) {
    const rest = restOf(c);
    return rest ? patroniServer(c.settings, c.layout, filesOf(c), rest) : null;
  },
  provision,
  configure,
  needsServer: (c) => c.lifecycle === 'create',
  sql,
  drop,
  facts,
};
