// Updating an existing instance: only what differs from the declared state, compared the way
// PostgreSQL reads it; a reload, or a pending restart (restart_on_changes restarts).
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { InstanceSpec } from './component';
import { readTextOr, writeFileAtomic } from '../fsutil';
import { readBlock } from '../pg/hba';
import { parseConf, renderConf } from '../pg/guc';
import { withConnection, type Connection } from '../pg/client';
import { hbaFileErrors, settingsFileErrors } from '../pg/file-checks';
import { applySteps, type Step } from '../plan';
import { ModuleError, type ModuleResult } from '../runtime';
import type { SiteSettings } from '../settings';
import { effectiveAuth, hbaAuthLines, HBA_AUTH_BLOCK, MANAGED_CONF_HEADER, managedParameters, type ConfValue } from './config';
import { inRecovery, type InstanceLayout } from './layout';
import { companionSteps, componentParameters, configureSteps, type Components } from './lifecycle';
import { rejectInvalidParameters } from './check-parameters';
import { catalogFromBinaries, catalogFromServer, changedParameters, restartNeeded, type ParameterCatalog } from './parameters';
import { passfileSteps, removePassfileStep } from './passfile';
import { roleSteps } from './roles';
import type { Service } from './service';
import {
  baseFacts, checkNames, describe, envFacts, finish, hbaFileFor, rejectReservedSettings, superuserTarget, userKeys, type Current,
} from './state';

export async function update(settings: SiteSettings, l: InstanceLayout, cur: Current, service: Service, k: Components, opts: InstanceSpec): Promise<ModuleResult> {
  const ctx = k.context.module;
  const wanted = managedParameters(l, opts.port, rejectReservedSettings(opts.settings), componentParameters(k));
  const currentParams = Object.fromEntries(parseConf(cur.managedText ?? '')) as Record<string, ConfValue>;
  const oldPort = Number(currentParams.port ?? cur.running?.port ?? opts.port);
  const auth = effectiveAuth(settings, opts.auth);
  const wantedHba = hbaAuthLines(auth, settings.postgresql.replrole);
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
      if (changed.length) await rejectInvalidParameters(l.bindir, wanted, userKeys(opts));
    }
    const pendingBefore = conn && catalog ? restartNeeded([], wanted, catalog) : pendingWithoutServer;
    const needRestart = conn && catalog && changed.length ? restartNeeded(changed, wanted, catalog) : pendingBefore;
    const steps: Step[] = [];
    const undo = k.undo;
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
    if (unit !== null && readTextOr(l.unitFile, null) !== unit) {
      const install = service.install();
      steps.push({ change: `write service unit ${l.unitName}`, commands: install.commands, apply: install.run });
    }

    steps.push(...(await configureSteps(k)));

    // Roles (passwords, replication role), on the connection open now: before any stop or
    // restart. A standby has its upstream's roles and cannot be written to.
    const sql = conn && !inRecovery(l) ? await roleSteps(settings, opts, conn) : [];
    for (const s of sql) steps.push({ ...s, apply: () => s.run(conn!) });

    // Service state.
    let restarted = false;
    // restart_on_changes also applies a restart left pending by an earlier task.
    if (opts.state === 'restarted' || (running && opts.state === 'started' && needRestart && opts.restart_on_changes)) {
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
    steps.push(...companionSteps(k, finalStatus, restarted));
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

/** PostgreSQL's verdict on the files just written, before the reload (the caller restores them). */
async function rejectInvalidSettings(conn: Connection, l: InstanceLayout): Promise<void> {
  const errors = await settingsFileErrors(conn);
  if (errors.length) throw new ModuleError(`instance ${l.id}: PostgreSQL rejects the new parameters (${errors.join('; ')}); ${l.managedConf} was restored`);
}

async function rejectInvalidHba(conn: Connection, l: InstanceLayout): Promise<void> {
  const errors = await hbaFileErrors(conn);
  if (errors.length) throw new ModuleError(`instance ${l.id}: PostgreSQL rejects the new pg_hba.conf (${errors.join('; ')}); ${l.hbaFile} was restored`);
}
