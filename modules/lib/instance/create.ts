// Creating an instance: initdb, configuration files, service, passfile, start, replication
// role. A failure at any step rolls back to nothing.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { InstanceOptions } from '../../generated/instance';
import { formatCommand, run } from '../exec';
import { readTextOr, writeFileAtomic } from '../fsutil';
import { replaceBlock } from '../pg/hba';
import { renderConf } from '../pg/guc';
import { initdbChecksumsByDefault, majorOf } from '../pg/versions';
import { connect, LazyConnection } from '../pg/client';
import { applySteps, type Step } from '../plan';
import type { ModuleContext, ModuleResult } from '../runtime';
import type { SiteSettings } from '../settings';
import { effectiveAuth, hbaAuthLines, identLines, IDENT_BLOCK, INCLUDE_LINE, MANAGED_CONF_HEADER, managedParameters } from './config';
import type { InstanceLayout } from './layout';
import { catalogFromBinaries } from './parameters';
import { passfileSteps, removePassfileStep } from './passfile';
import { newInstanceRoleSteps } from './roles';
import type { Service } from './service';
import { runningState } from './status';
import {
  baseFacts, checkNames, describe, envFacts, finish, hbaFileFor, rejectReservedSettings, removeInstanceDirs, superuserTarget,
} from './state';

export function initdbArgs(settings: SiteSettings, l: InstanceLayout, opts: InstanceOptions, pwfile: string | null): string[] {
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

export async function create(settings: SiteSettings, l: InstanceLayout, service: Service, ctx: ModuleContext, opts: InstanceOptions): Promise<ModuleResult> {
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
      writeFileAtomic(l.hbaFile, hbaFileFor(readTextOr(l.hbaFile, null), hbaBlock), 0o600);
      writeFileAtomic(l.identFile, replaceBlock(readTextOr(l.identFile, null) ?? '', IDENT_BLOCK, identLines(settings.postgresql.surole.name)), 0o600);
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
