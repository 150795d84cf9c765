// PoWA on every instance that declares `powa: {password}` (pglift's powa), ready to be collected
// in remote mode by a central powa-collector (roles/powa): the statistics libraries merged into
// shared_preload_libraries, the PoWA role (a super-user, as PoWA requires) and the PoWA database
// with its extensions. A marker file keeps the component declared when a later task leaves the
// option out (its libraries stay in shared_preload_libraries). Nothing to undo at drop: the role
// and database go with the instance; the marker is removed.
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { planDatabases } from '../../database';
import { formatCommand } from '../../exec';
import type { ComponentContext, InstanceComponent, SqlContext } from '../../instance/component';
import { inRecovery } from '../../instance/layout';
import { privateFileStep } from '../../instance/lifecycle';
import { readTextOr, writePrivateFileAtomic } from '../../fsutil';
import { quoteLiteral } from '../../pg/quote';
import type { Step } from '../../plan';
import { ModuleError } from '../../runtime';
import { serviceRoleSteps } from '../service-role';
import type { CompanionService } from '../../daemon';
import { collectorConfText, collectorPassfileText, collectorService, powaExec, readWebConf, repositoryFiles, serverSteps, webConfShape, webConfText, webService } from './repository';

/** The libraries PoWA needs loaded at start, in pglift's order. */
export const POWA_LIBRARIES = ['pg_stat_statements', 'pg_qualstats', 'pg_stat_kcache'];
/** The extensions of the PoWA database, in creation order (powa last: it requires the others). */
const REQUIRED_EXTENSIONS = ['btree_gist', 'pg_stat_statements', 'pg_qualstats', 'pg_stat_kcache'];
const OPTIONAL_EXTENSIONS = ['hypopg'];

export interface PowaSite {
  dbname: string;
  role: string;
}

export function powaSite(c: Pick<ComponentContext, 'settings'>): PowaSite {
  const s = (c.settings.raw as { powa?: Partial<PowaSite> }).powa ?? {};
  return { dbname: s.dbname ?? 'powa', role: s.role ?? 'powa' };
}

const markerOf = (c: ComponentContext) => c.privateFile('powa', '.conf');
const markerText = (site: PowaSite) => `# PoWA is enabled on this instance (socle.postgresql)\ndbname=${site.dbname}\nrole=${site.role}\n`;
const enabled = (c: ComponentContext) => c.opts.powa !== undefined || existsSync(markerOf(c));
const staysStandby = (c: ComponentContext) => inRecovery(c.layout) && c.opts.standby?.status !== 'promoted';

/** The server's library directory (`pg_config --pkglibdir`), or null when pg_config is not beside the binaries. */
function pkglibdir(bindir: string): string | null {
  const pgConfig = join(bindir, 'pg_config');
  if (!existsSync(pgConfig)) return null;
  try {
    return execFileSync(pgConfig, ['--pkglibdir'], { encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}

function check(c: ComponentContext): void {
  const o = c.opts.powa;
  if (!o || c.lifecycle === 'drop') return;
  if (o.password?.includes('\0')) throw new ModuleError("option 'powa.password': must not contain NUL");
  const repo = o.repository;
  if (repo) {
    const exec = powaExec(c);
    if (repo.collector !== false && !existsSync(exec.collector)) throw new ModuleError(`option 'powa.repository.collector': ${exec.collector} does not exist (Debian: powa-collector)`);
    if (repo.web && !existsSync(exec.web)) throw new ModuleError(`option 'powa.repository.web': ${exec.web} does not exist (the powa role installs it, or scripts/powa-venv.sh)`);
    if (repo.web?.port === c.port) throw new ModuleError(`option 'powa.repository.web.port': ${c.port} is the instance's own port`);
    if (o.password === undefined) throw new ModuleError("option 'powa.password': required by powa.repository (the collector and the UI connect as the PoWA role)");
    repo.servers!.forEach((sv, i) => {
      if (sv.password?.includes('\0')) throw new ModuleError(`option 'powa.repository.servers[${i}].password': must not contain NUL`);
    });
  }
  // A library missing from the host would keep the server from starting: refuse before writing.
  const libdir = pkglibdir(c.layout.bindir);
  if (libdir === null) return;
  const missing = POWA_LIBRARIES.filter((lib) => !existsSync(join(libdir, `${lib}.so`)));
  if (missing.length) {
    throw new ModuleError(
      `option 'powa': the libraries ${missing.join(', ')} are not installed in ${libdir} ` +
        `(Debian: postgresql-${c.layout.version}-pg-qualstats, postgresql-${c.layout.version}-pg-stat-kcache)`,
    );
  }
}

function configure(c: ComponentContext): Step[] {
  if (!c.opts.powa) return [];
  const steps = [privateFileStep(markerOf(c), markerText(powaSite(c)), `record that PoWA is enabled on instance ${c.layout.id}`, c.onUndo)];
  const repo = c.opts.powa.repository;
  if (repo) {
    const site = powaSite(c);
    const files = repositoryFiles(c);
    const pass = privateFileStep(files.passfile, collectorPassfileText(repo.servers!, site.role, c.opts.powa.password!), `write the password file of powa-collector ${files.name}`, c.onUndo);
    steps.push(pass);
    // A new password alone changes no definition: restart the running collector once it is written.
    const collector = repositoryServices(c).find((svc) => svc.name.startsWith('socle-powa-collector-'));
    if (pass && collector?.isRunning() && c.opts.state !== 'stopped') {
      const r = collector.restart();
      steps.push({ change: `restart service ${collector.name}`, commands: r.commands, apply: r.run });
    }
    if (repo.collector !== false) steps.push(privateFileStep(files.collectorConf, collectorConfText(c, site.role, site.dbname), `write the configuration of powa-collector ${files.name}`, c.onUndo));
    const web = wantedWebConf(c);
    if (web !== null && webConfShape(web) !== webConfShape(readWebConf(files))) {
      steps.push(privateFileStep(files.webConf, web, `write the configuration of powa-web ${files.name}`, c.onUndo));
    }
  }
  return steps.filter((s): s is Step => s !== null);
}

function wantedWebConf(c: ComponentContext): string | null {
  const web = c.opts.powa?.repository?.web;
  return web ? webConfText(c, web, powaSite(c).dbname, readWebConf(repositoryFiles(c))) : null;
}

/** The repository's daemons the task wants (a declared repository), or those left on disk to stop and remove. */
function repositoryServices(c: ComponentContext): CompanionService[] {
  const files = repositoryFiles(c);
  const repo = c.opts.powa?.repository;
  const out: CompanionService[] = [];
  // The collector, once its repository is ready (its database made, its servers registered: before
  // that it would exit at once; the sql phase starts it the first time).
  const collectorConf = repo ? (repo.collector !== false ? collectorConfText(c, powaSite(c).role, powaSite(c).dbname) : null) : readTextOr(files.collectorConf, null);
  if (collectorConf !== null && (existsSync(files.ready) || c.lifecycle === 'drop')) out.push(collectorService(c, files, collectorConf));
  const webConf = repo ? wantedWebConf(c) : readWebConf(files);
  if (webConf !== null) out.push(webService(c, files, webConf));
  return out;
}

async function sql(c: SqlContext) {
  // A standby is read-only: the role and the database are its primary's, replicated.
  if (c.server.inRecovery) return { steps: [] };
  const site = powaSite(c);
  const conn = await c.session.connection();
  const steps: Step[] = await serviceRoleSteps(conn, { name: site.role, password: c.opts.powa?.password, superuser: true }, 'PoWA');
  const { rows } = await conn.query<{ name: string }>('SELECT name FROM pg_available_extensions WHERE name = ANY($1::text[])', [
    [...REQUIRED_EXTENSIONS, ...OPTIONAL_EXTENSIONS, 'powa'],
  ]);
  const available = new Set(rows.map((r) => r.name));
  const missing = [...REQUIRED_EXTENSIONS, 'powa'].filter((e) => !available.has(e));
  if (missing.length) {
    throw new ModuleError(`option 'powa': the extensions ${missing.join(', ')} are not available on instance ${c.layout.id} (Debian: postgresql-${c.layout.version}-powa and its companions)`);
  }
  // pg_stat_kcache and pg_qualstats refuse to load outside shared_preload_libraries: until the
  // restart that loads them, the database waits (a re-run after the restart makes it).
  const { rows: loaded } = await conn.query<{ setting: string }>("SELECT setting FROM pg_settings WHERE name = 'shared_preload_libraries'");
  const libs = (loaded[0]?.setting ?? '').split(',').map((s) => s.trim().replace(/^"|"$/g, ''));
  const notLoaded = POWA_LIBRARIES.filter((l) => !libs.includes(l));
  if (notLoaded.length) {
    c.module.warn(`instance ${c.layout.id}: database ${site.dbname} (PoWA) waits for a restart that loads ${notLoaded.join(', ')}; re-run the task after it`);
    return { steps };
  }
  const extensions = [...REQUIRED_EXTENSIONS, ...OPTIONAL_EXTENSIONS.filter((e) => available.has(e)), 'powa'];
  const plan = await planDatabases(c.session, [{ name: site.dbname, extensions, state: 'present', force_drop: false }], { optionPath: (_i, p) => `powa (database ${site.dbname}).${p}`, plannedRoles: c.server.plannedRoles });
  const repo = c.opts.powa?.repository;
  if (!repo) return { steps: [...steps, ...plan.steps], before: plan.before, after: plan.after };
  // The repository's servers, in its PoWA database (planned once it exists: in check mode on a
  // new database, every server is to register).
  const { rows: dbRows } = await conn.query('SELECT 1 FROM pg_database WHERE datname = $1', [site.dbname]);
  const exists = dbRows.length > 0 && !plan.steps.some((st) => /extension/.test(st.change));
  let servers: Awaited<ReturnType<typeof serverSteps>>;
  if (exists) {
    servers = await serverSteps(await c.session.connection(site.dbname), repo.servers!);
  } else {
    let inner: Awaited<ReturnType<typeof serverSteps>> | null = null;
    servers = {
      steps: [{
        change: `register the PoWA servers of the list (${repo.servers!.length})`,
        queries: repo.servers!.map((sv) => `SELECT powa_register_server(hostname => ${quoteLiteral(sv.hostname)}, port => ${sv.port}, ...)`),
        async apply() {
          inner = await serverSteps(await c.session.connection(site.dbname), repo.servers!);
          for (const st of inner.steps) await st.apply();
        },
      }],
      before: {},
      after: {},
    };
  }
  // The collector reads the list at start (and on a reload): restarted after a change, or when
  // it could not stay up (at creation it starts before the PoWA database exists).
  const files = repositoryFiles(c);
  const collector = repo.collector !== false ? collectorService(c, files, collectorConfText(c, site.role, site.dbname)) : null;
  const extra: Step[] = [];
  if (collector && c.opts.state !== 'stopped' && (servers.steps.length || plan.steps.length || !collector.isRunning())) {
    // The first time, its definition is not installed yet (the core's service steps skip it until
    // the repository is ready): a systemd unit must exist before it can be (re)started.
    const actions = [...(collector.isInstalled() ? [] : [collector.install()]), collector.restart()];
    extra.push({
      change: `restart service ${collector.name}`,
      commands: actions.flatMap((a) => a.commands),
      apply: async () => {
        for (const a of actions) await a.run();
      },
    });
  }
  // From now on the collector follows the instance (the core's service steps): see repositoryServices.
  if (collector && !existsSync(files.ready)) {
    extra.push({ change: 'mark the repository ready', counts: false, commands: [], apply: async () => writePrivateFileAtomic(files.ready, 'ready\n') });
  }
  return {
    steps: [...steps, ...plan.steps, ...servers.steps, ...extra],
    before: { ...plan.before, servers: servers.before },
    after: { ...plan.after, servers: servers.after },
  };
}

export const powaComponent: InstanceComponent = {
  name: 'powa',
  declared: enabled,
  check,
  parameters: (c) => (c.lifecycle === 'drop' || !enabled(c) ? {} : { lists: { shared_preload_libraries: POWA_LIBRARIES } }),
  configure,
  services: repositoryServices,
  needsServer: (c) => c.opts.powa !== undefined && c.lifecycle !== 'drop' && !staysStandby(c),
  sql,
  sqlOnCreation: (c) => {
    if (!c.opts.powa || c.opts.standby) return [];
    const site = powaSite(c);
    return [`create role ${site.role} (PoWA)`, `create database ${site.dbname} with the extensions of PoWA`];
  },
  drop(c) {
    const files = repositoryFiles(c);
    const left = [markerOf(c), files.collectorConf, files.webConf, files.passfile, files.ready].filter((f) => existsSync(f));
    if (!left.length) return [];
    return [{ change: `remove the PoWA files of instance ${c.layout.id}`, commands: [formatCommand('rm', ['-f', ...left])], apply: async () => left.forEach((f) => rmSync(f, { force: true })) }];
  },
  facts(c) {
    if (!enabled(c) || c.lifecycle === 'drop') return undefined;
    const text = readTextOr(markerOf(c), '');
    const site = powaSite(c);
    const facts: Record<string, unknown> = {
      dbname: /^dbname=(.*)$/m.exec(text)?.[1] ?? site.dbname,
      role: /^role=(.*)$/m.exec(text)?.[1] ?? site.role,
      libraries: POWA_LIBRARIES,
    };
    const services = repositoryServices(c);
    if (services.length) {
      facts.repository = Object.fromEntries(services.map((svc) => [svc.name.startsWith('socle-powa-web-') ? 'web' : 'collector', { service: svc.name, state: svc.isRunning() ? 'running' : 'stopped' }]));
      const web = c.opts.powa?.repository?.web;
      if (web) (facts.repository as Record<string, Record<string, unknown>>).web.url = `http://${web.address}:${web.port}/`;
    }
    return facts;
  },
};
