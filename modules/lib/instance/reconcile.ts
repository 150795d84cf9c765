// The instance module: inspect an instance, plan what differs from the declared state, report
// the plan (check mode) or apply it.
import { mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { InstanceOptions } from '../../generated/instance';
import { formatCommand, run } from '../exec';
import { writeFileAtomic } from '../fsutil';
import { readBlock, replaceBlock } from '../pg/hba';
import { parseConf, renderConf } from '../pg/guc';
import { connect, LazyConnection, withConnection, type Connection, type ConnectionTarget } from '../pg/client';
import { withLock } from '../lock';
import { applySteps, report, type Step } from '../plan';
import { ModuleError, type ModuleContext, type ModuleResult } from '../runtime';
import { loadSettings, type SiteSettings } from '../settings';
import {
  effectiveAuth,
  hbaAuthLines,
  HBA_AUTH_BLOCK,
  identLines,
  IDENT_BLOCK,
  INCLUDE_LINE,
  MANAGED_CONF_HEADER,
  managedParameters,
  type ConfValue,
} from './config';
import { exists, layout, resolveVersion, type InstanceLayout } from './layout';
import {
  catalogFromBinaries,
  catalogFromServer,
  changedParameters,
  restartNeeded,
  unknownParameters,
  type ParameterCatalog,
} from './parameters';
import { passfileSteps, removePassfileStep } from './passfile';
import { serviceFor, type Service } from './service';
import { newInstanceRoleSteps, roleSteps } from './roles';
import { runningState, type RunningState } from './status';

/** What is on disk and running now. */
interface Current {
  exists: boolean;
  running: RunningState | null;
  managedText: string | null;
  hbaText: string | null;
  identText: string | null;
}

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

function inspect(l: InstanceLayout): Current {
  const isThere = exists(l);
  return {
    exists: isThere,
    running: isThere ? runningState(l.datadir) : null,
    managedText: readOrNull(l.managedConf),
    hbaText: readOrNull(l.hbaFile),
    identText: readOrNull(l.identFile),
  };
}

/** The connection facts users put in `environment:` to run psql and friends. */
export function envFacts(settings: SiteSettings, l: InstanceLayout, port: number): Record<string, string> {
  const env: Record<string, string> = {
    PGHOST: l.socketDir,
    PGPORT: String(port),
    PGUSER: settings.postgresql.surole.name,
    PGDATABASE: 'postgres',
    PATH: `${l.bindir}:${process.env.PATH ?? '/usr/bin:/bin'}`,
  };
  if (settings.postgresql.auth.passfile) env.PGPASSFILE = settings.postgresql.auth.passfile;
  return env;
}

function describe(status: string, managedText: string | null, hba: string[] | null): string {
  if (status === 'absent') return 'status: absent\n';
  return [`status: ${status}`, '--- socle.conf', (managedText ?? '').trimEnd(), '--- pg_hba.conf (managed block)', ...(hba ?? []), ''].join('\n');
}

export async function reconcileInstance(opts: InstanceOptions, ctx: ModuleContext): Promise<ModuleResult> {
  const settings = loadSettings();
  const version = resolveVersion(settings, opts.name, opts.version);
  const l = layout(settings, version, opts.name);
  // In check mode nothing is written, not even the lock file's directory.
  const locked = ctx.checkMode ? (fn: () => Promise<ModuleResult>) => fn() : (fn: () => Promise<ModuleResult>) => withLock(l.lockFile, settings.lockTimeout, `instance ${l.id}`, fn);
  return locked(async () => {
    const current = inspect(l);
    const service = serviceFor(settings, l);
    if (opts.state === 'absent') return drop(settings, l, current, service, ctx, opts);
    return current.exists ? update(settings, l, current, service, ctx, opts) : create(settings, l, service, ctx, opts);
  });
}

function baseFacts(l: InstanceLayout) {
  return { name: l.name, version: l.version, datadir: l.datadir, waldir: l.waldir };
}

function finish(
  steps: Step[],
  facts: Record<string, unknown>,
  diff: { before: string; after: string },
  msgDone: string,
  ctx: ModuleContext,
): ModuleResult {
  const r = report(steps);
  const msg = r.changed ? `${ctx.checkMode ? 'would ' : ''}${r.changes.join('; ')}` : msgDone;
  return { ...r, msg, diff: { ...diff, before_header: 'instance (before)', after_header: 'instance (after)' }, ...facts };
}

// ---------------------------------------------------------------------------------------------
// absent

async function drop(settings: SiteSettings, l: InstanceLayout, cur: Current, service: Service, ctx: ModuleContext, opts: InstanceOptions): Promise<ModuleResult> {
  const steps: Step[] = [];
  if (cur.exists) {
    if (cur.running) {
      const stop = service.stop();
      steps.push({ change: `stop instance ${l.id}`, commands: stop.commands, counts: false, apply: stop.run });
    }
    const uninstall = service.uninstall();
    const port = cur.running?.port ?? Number(parseConf(cur.managedText ?? '').get('port') ?? opts.port);
    const passfile = removePassfileStep(settings, port);
    steps.push({
      change: `drop instance ${l.id}`,
      commands: [...uninstall.commands, ...instanceDirs(l).map((d) => formatCommand('rm', ['-rf', d])), ...(passfile?.commands ?? [])],
      async apply() {
        await uninstall.run();
        removeInstanceDirs(l);
        await passfile?.apply();
      },
    });
  }
  if (!ctx.checkMode) await applySteps(steps);
  const before = describe(cur.exists ? (cur.running ? 'running' : 'stopped') : 'absent', cur.managedText, cur.hbaText ? readBlock(cur.hbaText, HBA_AUTH_BLOCK) : null);
  return finish(steps, { ...baseFacts(l), status: 'absent', pending_restart: false }, { before, after: describe('absent', null, null) }, `instance ${l.id} is absent`, ctx);
}

function instanceDirs(l: InstanceLayout): string[] {
  return [l.datadir, ...(l.waldir.startsWith(l.datadir + '/') ? [] : [l.waldir])];
}

/** Data and WAL, and the parents they leave empty (pgsql/<version>/<name>). */
function removeInstanceDirs(l: InstanceLayout): void {
  for (const d of instanceDirs(l)) {
    rmSync(d, { recursive: true, force: true });
    try {
      rmdirSync(dirname(d));
    } catch {
      /* not empty (another directory of the instance is still there), or already gone */
    }
  }
}

// ---------------------------------------------------------------------------------------------
// creation

function initdbArgs(settings: SiteSettings, l: InstanceLayout, opts: InstanceOptions, pwfile: string | null): string[] {
  const site = settings.postgresql.initdb;
  const args = [
    '--pgdata', l.datadir,
    '--waldir', l.waldir,
    '--username', settings.postgresql.surole.name,
    '--encoding', opts.encoding ?? site.encoding,
    '--locale', opts.locale ?? site.locale,
    // The real pg_hba.conf is written right after; until then nobody but the owner may connect.
    '--auth-local', 'peer', '--auth-host', 'reject',
  ];
  if (opts.data_checksums ?? site.dataChecksums) args.push('--data-checksums');
  if (pwfile) args.push('--pwfile', pwfile);
  return args;
}

async function create(settings: SiteSettings, l: InstanceLayout, service: Service, ctx: ModuleContext, opts: InstanceOptions): Promise<ModuleResult> {
  const params = managedParameters(l, opts.port, rejectReservedSettings(opts.settings));
  const catalog = await catalogFromBinaries(l.bindir);
  checkNames(params, catalog);
  const auth = effectiveAuth(settings, opts.auth);
  const managedText = renderConf(params, MANAGED_CONF_HEADER);
  const hbaBlock = hbaAuthLines(auth);
  const undo: Array<() => Promise<void>> = [];
  const steps: Step[] = [];

  // The super-user password goes to initdb through a private file, never on a command line.
  const initdb = join(l.bindir, 'initdb');
  const shownArgs = initdbArgs(settings, l, opts, opts.surole_password ? '<private file>' : null);
  steps.push({
    change: `create instance ${l.id}`,
    commands: [formatCommand(initdb, shownArgs), `write ${l.managedConf}, ${l.postgresqlConf} (include), ${l.hbaFile}, ${l.identFile}`],
    async apply() {
      undo.push(async () => removeInstanceDirs(l));
      mkdirSync(dirname(l.datadir), { recursive: true, mode: 0o700 });
      mkdirSync(dirname(l.waldir), { recursive: true, mode: 0o700 });
      const secretDir = opts.surole_password ? mkdtempSync(join(tmpdir(), 'socle-')) : null;
      try {
        let pwfile: string | null = null;
        if (secretDir) {
          pwfile = join(secretDir, 'pwfile');
          writeFileSync(pwfile, opts.surole_password + '\n', { mode: 0o600 });
        }
        await run(initdb, initdbArgs(settings, l, opts, pwfile));
      } finally {
        if (secretDir) rmSync(secretDir, { recursive: true, force: true });
      }
      writeFileAtomic(l.managedConf, managedText, 0o600);
      const pgConf = readFileSync(l.postgresqlConf, 'utf8');
      writeFileAtomic(l.postgresqlConf, `${pgConf.trimEnd()}\n\n${INCLUDE_LINE}\n`, 0o600);
      writeFileAtomic(l.hbaFile, hbaFileFor(readOrNull(l.hbaFile), hbaBlock), 0o600);
      writeFileAtomic(l.identFile, replaceBlock(readOrNull(l.identFile) ?? '', IDENT_BLOCK, identLines(settings.postgresql.surole.name)), 0o600);
    },
  });

  const install = service.install();
  if (install.commands.length) {
    steps.push({ change: `install service ${l.unitName}`, commands: install.commands, counts: false, apply: async () => {
      undo.push(async () => service.uninstall().run());
      await install.run();
    } });
  }
  for (const s of passfileSteps(settings, l, opts)) {
    steps.push({ ...s, counts: false, apply: async () => { undo.push(async () => { await removePassfileStep(settings, opts.port)?.apply(); }); await s.apply(); } });
  }

  // Roles that SQL must create (the replication role) need the server up, even for a stopped instance.
  const sql = newInstanceRoleSteps(settings, opts);
  const needsStart = opts.state !== 'stopped' || sql.length > 0;
  if (needsStart) {
    const start = service.start();
    steps.push({ change: `start instance ${l.id}`, commands: start.commands, counts: false, apply: async () => {
      undo.push(async () => {
        if (runningState(l.datadir)) await run(join(l.bindir, 'pg_ctl'), ['stop', '-D', l.datadir, '-m', 'immediate', '-w', '-s']);
      });
      await start.run();
    } });
  }
  const db = new LazyConnection(() => connect(superuserTarget(settings, l, opts, opts.port)));
  for (const s of sql) steps.push({ ...s, counts: false, apply: async () => s.run(await db.get()) });
  if (opts.state === 'stopped' && needsStart) {
    const stop = service.stop();
    steps.push({ change: `stop instance ${l.id}`, commands: stop.commands, counts: false, apply: async () => {
      await db.close();
      await stop.run();
    } });
  }
  if (!ctx.checkMode) {
    try {
      await applySteps(steps, undo);
    } finally {
      await db.close();
    }
  }
  const status = opts.state === 'stopped' ? 'stopped' : 'running';
  return finish(
    steps,
    { ...baseFacts(l), port: opts.port, status, pending_restart: false, env: envFacts(settings, l, opts.port) },
    { before: describe('absent', null, null), after: describe(status, managedText, hbaBlock) },
    `instance ${l.id} created`,
    ctx,
  );
}

function hbaFileFor(existing: string | null, block: string[]): string {
  // initdb's own rules are replaced: only the managed blocks grant access.
  const header = '# pg_hba.conf written by socle.postgresql. Blocks between "# BEGIN socle ..." and\n# "# END socle ..." are managed; rules outside them are kept.\n';
  const base = existing?.includes(`# BEGIN ${HBA_AUTH_BLOCK}`) ? existing : header;
  return replaceBlock(base, HBA_AUTH_BLOCK, block);
}

/**
 * Parameters with a single source elsewhere: the port is an option of its own, and the socket
 * directory a site setting (every module and the `env` fact find the instance through it).
 */
const RESERVED_PARAMETERS: Record<string, string> = {
  port: "the port is set with the 'port' option",
  unix_socket_directories: 'the socket directory is the site setting postgresql.socket_directory',
};

function rejectReservedSettings(settings: Record<string, ConfValue>): Record<string, ConfValue> {
  const errors = Object.keys(settings)
    .filter((k) => k.toLowerCase() in RESERVED_PARAMETERS)
    .map((k) => `option 'settings.${k}': ${RESERVED_PARAMETERS[k.toLowerCase()]}`);
  if (errors.length) throw new ModuleError(errors.join('; '));
  return settings;
}

function checkNames(params: Record<string, ConfValue>, catalog: ParameterCatalog): void {
  const unknown = unknownParameters(Object.keys(params), catalog);
  if (unknown.length) {
    throw new ModuleError(unknown.map((n) => `option 'settings.${n}': unknown PostgreSQL parameter`).join('; '));
  }
}

function superuserTarget(settings: SiteSettings, l: InstanceLayout, opts: InstanceOptions, port: number, socketDir = l.socketDir): ConnectionTarget {
  return { host: socketDir, port, user: settings.postgresql.surole.name, password: opts.surole_password };
}

// ---------------------------------------------------------------------------------------------
// update of an existing instance

async function update(settings: SiteSettings, l: InstanceLayout, cur: Current, service: Service, ctx: ModuleContext, opts: InstanceOptions): Promise<ModuleResult> {
  const wanted = managedParameters(l, opts.port, rejectReservedSettings(opts.settings));
  const currentParams = Object.fromEntries(parseConf(cur.managedText ?? '')) as Record<string, ConfValue>;
  const oldPort = Number(currentParams.port ?? cur.running?.port ?? opts.port);
  const auth = effectiveAuth(settings, opts.auth);
  const wantedHba = hbaAuthLines(auth);
  const currentHba = cur.hbaText ? readBlock(cur.hbaText, HBA_AUTH_BLOCK) : null;
  const hbaChanged = JSON.stringify(currentHba) !== JSON.stringify(wantedHba);
  const wantedText = renderConf(wanted, MANAGED_CONF_HEADER);

  /** `pendingWithoutServer`: what to report as pending_restart when planning without a connection. */
  const plan = async (conn: Connection | null, pendingWithoutServer = false): Promise<ModuleResult> => {
    // Compare without a catalog first: most re-runs are equal as text and need no lookup.
    let changed = changedParameters(currentParams, wanted);
    let catalog: ParameterCatalog | null = null;
    if (changed.length || conn) {
      catalog = conn ? await catalogFromServer(conn) : await catalogFromBinaries(l.bindir);
      changed = changedParameters(currentParams, wanted, catalog);
      checkNames(Object.fromEntries(changed.filter((n) => n in wanted).map((n) => [n, wanted[n]])), catalog);
    }
    const pendingBefore = conn && catalog ? restartNeeded([], wanted, catalog) : pendingWithoutServer;
    const needRestart = conn && catalog && changed.length ? restartNeeded(changed, wanted, catalog) : pendingBefore;
    const steps: Step[] = [];
    const undo: Array<() => Promise<void>> = [];
    const running = cur.running !== null;
    let reload = false;

    if (changed.length) {
      steps.push({
        change: `set parameters ${changed.join(', ')} in ${l.managedConf}`,
        commands: [`write ${l.managedConf}`],
        async apply() {
          writeFileAtomic(l.managedConf, wantedText, 0o600);
          undo.push(async () => writeFileAtomic(l.managedConf, cur.managedText ?? '', 0o600));
          if (conn) await rejectInvalidSettings(conn, l);
        },
      });
      reload = true;
    }
    if (hbaChanged) {
      steps.push({
        change: `write authentication rules (local ${auth.local}, host ${auth.host}${auth.hostssl ? `, hostssl ${auth.hostssl}` : ''}) in ${l.hbaFile}`,
        commands: [`write ${l.hbaFile}`],
        async apply() {
          writeFileAtomic(l.hbaFile, hbaFileFor(cur.hbaText, wantedHba), 0o600);
          undo.push(async () => writeFileAtomic(l.hbaFile, cur.hbaText ?? '', 0o600));
          if (conn) await rejectInvalidHba(conn, l);
        },
      });
      reload = true;
    }
    const oldEntries = oldPort !== opts.port ? removePassfileStep(settings, oldPort) : null;
    if (oldEntries) steps.push(oldEntries);
    steps.push(...passfileSteps(settings, l, opts));
    // The service unit follows the collection's version and the site settings (paths).
    const unit = service.unitContent();
    if (unit !== null && readOrNull(l.unitFile) !== unit) {
      const install = service.install();
      steps.push({ change: `write service unit ${l.unitName}`, commands: install.commands, apply: install.run });
    }

    // Roles (passwords, replication role), on the connection open now: before any stop or restart.
    const sql = conn ? await roleSteps(settings, opts, conn) : [];
    for (const s of sql) steps.push({ ...s, apply: () => s.run(conn!) });

    // Service state.
    let restarted = false;
    if (opts.state === 'restarted' || (running && opts.state === 'started' && needRestart && opts.restart_on_changes && reload)) {
      const a = running ? service.restart() : service.start();
      steps.push({ change: `${running ? 'restart' : 'start'} instance ${l.id}`, commands: a.commands, apply: a.run });
      restarted = true;
    } else if (opts.state === 'started' && !running) {
      const a = service.start();
      steps.push({ change: `start instance ${l.id}`, commands: a.commands, apply: a.run });
    } else if (opts.state === 'stopped' && running) {
      const a = service.stop();
      steps.push({ change: `stop instance ${l.id}`, commands: a.commands, apply: a.run });
    } else if (running && reload) {
      const a = service.reload();
      steps.push({ change: `reload instance ${l.id}`, commands: a.commands, counts: false, apply: a.run });
    }


    const finalStatus = opts.state === 'stopped' ? 'stopped' : 'running';
    const pendingRestart = finalStatus === 'running' && !restarted && running && needRestart;
    if (pendingRestart && !opts.restart_on_changes && changed.length) {
      ctx.warn(`instance ${l.id}: a changed parameter needs a restart (set restart_on_changes, or restart it)`);
    }
    if (!ctx.checkMode) await applySteps(steps, undo);
    const port = finalStatus === 'running' && !restarted && running ? cur.running!.port : opts.port;
    return finish(
      steps,
      { ...baseFacts(l), port, status: finalStatus, pending_restart: pendingRestart, env: envFacts(settings, l, port) },
      {
        before: describe(running ? 'running' : 'stopped', cur.managedText, currentHba),
        after: describe(finalStatus, changed.length ? wantedText : cur.managedText, wantedHba),
      },
      `instance ${l.id} is ${finalStatus}${pendingRestart ? ' (pending restart)' : ''}, nothing to change`,
      ctx,
    );
  };

  if (!cur.running) {
    if (opts.surole_password || opts.replrole_password) {
      ctx.warn(`instance ${l.id} is not running: role passwords were not checked`);
    }
    return plan(null);
  }
  // A connection (and loading the driver) is most of a no-op task's cost: skip it when nothing
  // can differ. A restart can only be pending if a configuration file changed since the server
  // started; roles need the catalog only when the task declares passwords or the site a
  // replication role.
  const needsServer =
    changedParameters(currentParams, wanted).length > 0 ||
    opts.surole_password !== undefined ||
    opts.replrole_password !== undefined ||
    settings.postgresql.replrole !== null ||
    configChangedSinceStart(l);
  if (!needsServer) return plan(null, false);
  return withConnection(superuserTarget(settings, l, opts, cur.running.port, cur.running.socketDir || l.socketDir), (c) => plan(c));
}

/**
 * Whether a configuration file was written after the server started. postmaster.pid is written
 * when the server starts (its last write marks the end of the start-up), with a precise mtime,
 * unlike the start time inside it (whole seconds). It is written again when a standby is
 * promoted: a file changed before a promotion is then not seen here (the next change is).
 */
function configChangedSinceStart(l: InstanceLayout): boolean {
  let started: number;
  try {
    started = statSync(join(l.datadir, 'postmaster.pid')).mtimeMs;
  } catch {
    return true;
  }
  for (const f of [l.postgresqlConf, l.managedConf, join(l.datadir, 'postgresql.auto.conf'), l.hbaFile, l.identFile]) {
    try {
      if (statSync(f).mtimeMs > started) return true;
    } catch {
      /* absent */
    }
  }
  return false;
}

/** pg_file_settings shows what the server would make of the files on disk, before a reload. */
async function rejectInvalidSettings(conn: Connection, l: InstanceLayout): Promise<void> {
  const { rows } = await conn.query(
    "SELECT name, error FROM pg_file_settings WHERE error IS NOT NULL AND error <> 'setting could not be applied' ORDER BY seqno",
  );
  if (rows.length) {
    throw new ModuleError(`instance ${l.id}: PostgreSQL rejects the new parameters (${rows.map((r) => `${r.name ?? '?'}: ${r.error}`).join('; ')}); ${l.managedConf} was restored`);
  }
}

async function rejectInvalidHba(conn: Connection, l: InstanceLayout): Promise<void> {
  const { rows } = await conn.query('SELECT line_number, error FROM pg_hba_file_rules WHERE error IS NOT NULL');
  if (rows.length) {
    throw new ModuleError(`instance ${l.id}: PostgreSQL rejects the new pg_hba.conf (${rows.map((r) => `line ${r.line_number}: ${r.error}`).join('; ')}); ${l.hbaFile} was restored`);
  }
}

