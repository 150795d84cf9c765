// Creating an instance: initdb (or a component's provision), configuration files, the
// components' files, service, passfile, start, replication role, companion services. A failure
// at any step rolls back to nothing.
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { InstanceSpec } from './component';
import { formatCommand, recordChildren, run } from '../exec';
import { readTextOr, writeFileAtomic } from '../fsutil';
import { replaceBlock } from '../pg/hba';
import { renderConf } from '../pg/guc';
import { initdbChecksumsByDefault, majorOf } from '../pg/versions';
import { connect, LazyConnection } from '../pg/client';
import { applySteps, forgetAppliedSince, journalMark, type Step } from '../plan';
import type { ModuleResult } from '../runtime';
import type { SiteSettings } from '../settings';
import { effectiveAuth, hbaAuthLines, identLines, IDENT_BLOCK, INCLUDE_LINE, MANAGED_CONF_HEADER, managedParameters } from './config';
import type { InstanceLayout } from './layout';
import { companionSteps, componentParameters, configureSteps, provisionOf, type Components } from './lifecycle';
import { rejectInvalidParameters } from './check-parameters';
import { catalogFromBinaries } from './parameters';
import { passfileSteps, removePassfileStep } from './passfile';
import { newInstanceRoleSteps } from './roles';
import type { Service } from './service';
import { runningState } from './status';
import {
  baseFacts, checkNames, describe, envFacts, finish, hbaFileFor, instanceDirs, rejectReservedSettings, removeInstanceDirs, superuserTarget, userKeys, type Current,
} from './state';

export function initdbArgs(settings: SiteSettings, l: InstanceLayout, opts: InstanceSpec, pwfile: string | null): string[] {
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
  // From 18 initdb turns checksums on by itself: off must be asked for (pg/versions.ts).
  else if (initdbChecksumsByDefault(majorOf(l.version))) args.push('--no-data-checksums');
  if (pwfile) args.push('--pwfile', pwfile);
  return args;
}

export async function create(settings: SiteSettings, l: InstanceLayout, cur: Current, service: Service, k: Components, opts: InstanceSpec): Promise<ModuleResult> {
  const ctx = k.context.module;
  const params = managedParameters(l, opts.port, rejectReservedSettings(opts.settings), componentParameters(k));
  const catalog = await catalogFromBinaries(l.bindir);
  checkNames(params, catalog);
  await rejectInvalidParameters(l.bindir, params, userKeys(opts));
  const auth = effectiveAuth(settings, opts.auth);
  const managedText = renderConf(params, MANAGED_CONF_HEADER);
  const hbaBlock = hbaAuthLines(auth, settings.postgresql.replrole);
  const undo = k.undo;
  const steps: Step[] = [];

  if (cur.interrupted) steps.push(removeRemainsStep(l, service));
  // From here until the end, the marker tells a later task that this creation did not finish.
  steps.push({
    change: `mark the creation of ${l.id} as in progress`,
    commands: [`write ${l.creationMarker}`],
    counts: false,
    async apply() {
      undo.push(async () => removeInstanceDirs(l));
      mkdirSync(dirname(l.creationMarker), { recursive: true, mode: 0o700 });
      writeFileSync(l.creationMarker, `${process.pid}\n`, { mode: 0o600 });
      recordChildren((pid) => appendFileSync(l.creationMarker, `${pid}\n`));
    },
  });
  // The data directory: initdb, unless a component makes it (a standby's base backup, a restore).
  const provision = provisionOf(k);
  if (provision) {
    steps.push(provision.step);
  } else {
    steps.push(initdbStep(settings, l, opts));
  }
  steps.push({
    change: `configure instance ${l.id}`,
    commands: [`write ${l.managedConf}, ${l.postgresqlConf} (include), ${l.hbaFile}, ${l.identFile}`],
    counts: false,
    async apply() {
      writeFileAtomic(l.managedConf, managedText, 0o600);
      // A base backup copies the upstream's postgresql.conf, include line and all.
      const pgConf = readFileSync(l.postgresqlConf, 'utf8');
      if (!pgConf.includes(INCLUDE_LINE)) writeFileAtomic(l.postgresqlConf, `${pgConf.trimEnd()}\n\n${INCLUDE_LINE}\n`, 0o600);
      writeFileAtomic(l.hbaFile, hbaFileFor(readTextOr(l.hbaFile, null), hbaBlock), 0o600);
      writeFileAtomic(l.identFile, replaceBlock(readTextOr(l.identFile, null) ?? '', IDENT_BLOCK, identLines(settings.postgresql.surole.name)), 0o600);
    },
  });
  steps.push(...(await configureSteps(k)));

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

  // Roles that SQL must create (the replication role) need the server up, even for a stopped
  // instance; a standby has its upstream's roles and cannot be written to.
  const sql = provision?.standby ? [] : newInstanceRoleSteps(settings, opts);
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
  const status = opts.state === 'stopped' ? 'stopped' : 'running';
  steps.push(...companionSteps(k, status));
  steps.push({
    change: `creation of ${l.id} complete`,
    commands: [`remove ${l.creationMarker}`],
    counts: false,
    async apply() {
      recordChildren(null);
      rmSync(l.creationMarker, { force: true });
    },
  });
  if (!ctx.checkMode) {
    const mark = journalMark();
    try {
      await applySteps(steps, undo);
    } catch (err) {
      recordChildren(null);
      // Rolled back to nothing: what it had done is undone.
      forgetAppliedSince(mark);
      throw err;
    } finally {
      await db.close();
    }
  }
  return finish(
    steps,
    { ...baseFacts(l), port: opts.port, status, pending_restart: false, env: envFacts(settings, l, opts.port) },
    { before: describe('absent', null, null), after: describe(status, managedText, hbaBlock) },
    `instance ${l.id} created`,
    ctx,
  );
}

/** A creation was killed (the marker is there): its server stopped, its unit and files removed. */
function removeRemainsStep(l: InstanceLayout, service: Service): Step {
  const uninstall = service.uninstall();
  const pgCtl = join(l.bindir, 'pg_ctl');
  return {
    change: `remove the remains of an interrupted creation of ${l.id}`,
    commands: [formatCommand(pgCtl, ['stop', '-D', l.datadir, '-m', 'immediate', '-w', '-s']), ...uninstall.commands, ...instanceDirs(l).map((d) => formatCommand('rm', ['-rf', d]))],
    async apply() {
      await killLeftovers(l);
      if (runningState(l.datadir)) await run(pgCtl, ['stop', '-D', l.datadir, '-m', 'immediate', '-w', '-s']);
      if (uninstall.commands.length) await uninstall.run().catch(() => undefined);
      removeInstanceDirs(l);
    },
  };
}

/**
 * The commands a killed creation had started (initdb and the postgres it runs, pg_basebackup:
 * their pids follow the task's own in the marker) may still run, writing into the directories
 * about to be removed: they and their descendants are stopped first. A recorded pid is only
 * trusted if that process still works on this instance's data directory (pids are reused).
 */
async function killLeftovers(l: InstanceLayout): Promise<void> {
  const recorded = readTextOr(l.creationMarker, '').split('\n').slice(1).map(Number).filter((p) => Number.isInteger(p) && p > 0);
  const roots = recorded.filter((pid) => readTextOr(`/proc/${pid}/cmdline`, '').split('\0').includes(l.datadir));
  if (!roots.length) return;
  const children = new Map<number, number[]>();
  for (const e of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    const ppid = Number(/\) \S+ (\d+)/.exec(readTextOr(`/proc/${e}/stat`, ''))?.[1]);
    if (ppid) children.set(ppid, [...(children.get(ppid) ?? []), Number(e)]);
  }
  const tree: number[] = [];
  const visit = (pid: number) => {
    tree.push(pid);
    for (const c of children.get(pid) ?? []) visit(c);
  };
  roots.forEach(visit);
  for (const pid of tree) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone already */
    }
  }
  const gone = (pid: number) => !existsSync(`/proc/${pid}`) || / Z /.test(readTextOr(`/proc/${pid}/stat`, '').split(')')[1] ?? '');
  for (let i = 0; i < 200 && !tree.every(gone); i++) await new Promise((r) => setTimeout(r, 25));
}

/** initdb, the super-user's password given through a private file, never on a command line. */
function initdbStep(settings: SiteSettings, l: InstanceLayout, opts: InstanceSpec): Step {
  const initdb = join(l.bindir, 'initdb');
  const shownArgs = initdbArgs(settings, l, opts, opts.surole_password ? '<private file>' : null);
  return {
    change: `create instance ${l.id}`,
    commands: [formatCommand(initdb, shownArgs)],
    async apply() {
      mkdirSync(dirname(l.datadir), { recursive: true, mode: 0o700 });
      mkdirSync(dirname(l.waldir), { recursive: true, mode: 0o700 });
      // Beside the data directory, not in /tmp: a task killed during initdb leaves it where the
      // next task (which removes the remains of the creation) finds it.
      const pwfile = opts.surole_password ? l.initdbPwfile : null;
      try {
        if (pwfile) writeFileSync(pwfile, opts.surole_password + '\n', { mode: 0o600 });
        await run(initdb, initdbArgs(settings, l, opts, pwfile));
      } finally {
        if (pwfile) rmSync(pwfile, { force: true });
      }
    },
  };
}
