// The pgbackrest module: actions on the backups of an instance made with the instance module's
// `pgbackrest` option. Plan-then-apply like the rest: check mode reports the exact command lines
// and runs none of them (only the read-only `pgbackrest info`, for the facts and the backup type).
//   backed_up  `backup --type=full|diff|incr` (incr/diff of a stanza with no backup: full)
//   restored   stop, `restore --delta --link-all [--type=... --target=... --target-action=promote]`,
//              start, wait until recovery has ended and the instance is promoted
//   info       the facts only
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { PgbackrestOptions } from '../../../generated/pgbackrest';
import { formatCommand } from '../../exec';
import { exists, inRecovery, layout, resolveVersion, type InstanceLayout } from '../../instance/layout';
import { serviceFor } from '../../instance/service';
import { runningState, type RunningState } from '../../instance/status';
import { withLock } from '../../lock';
import { ConnectError, withConnection } from '../../pg/client';
import { applySteps, report, type Step } from '../../plan';
import { ModuleError, type ModuleContext, type ModuleResult } from '../../runtime';
import { loadSettings, type SiteSettings } from '../../settings';
import { parseConf, renderConf } from '../../pg/guc';
import { readTextOr, writeFileAtomic, writePrivateFileAtomic } from '../../fsutil';
import { lookupPassfile, setPassfileEntry } from '../../passfile';
import { baseParameters, INCLUDE_LINE, MANAGED_CONF_HEADER } from '../../instance/config';
import { command, passfileOf, type Command, pgbackrestSite, runCommand, stanzaFacts, stanzaHasBackup, stanzaOf, type PgbackrestSite, type StanzaFacts } from './site';

/** `--type` / `--target` of a restore. */
export function targetArgs(target: PgbackrestOptions['target']): string[] {
  if (!target) return [];
  if (target.label !== undefined) return ['--type=immediate', `--set=${target.label}`, '--target-action=promote'];
  const [kind, value] = Object.entries(target)[0] as [string, string];
  return [`--type=${kind}`, `--target=${value}`, '--target-action=promote'];
}

/** Waits until the restored instance has ended recovery (promoted): polls pg_is_in_recovery(). */
async function waitPromoted(settings: SiteSettings, l: InstanceLayout, timeoutSeconds: number): Promise<void> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  const port = Number(parseConf(readTextOr(l.managedConf, '')).get('port') ?? 5432);
  let last = '';
  while (Date.now() < deadline) {
    const running = runningState(l.datadir);
    if (!running) throw new ModuleError(`instance ${l.id} stopped during recovery; see its log in ${l.logDir}`);
    try {
      const r = await withConnection({ host: running.socketDir || l.socketDir, port: running.port || port, user: settings.postgresql.surole.name }, async (c) =>
        (await c.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')).rows[0].r,
      );
      if (!r) return;
      last = 'still in recovery';
    } catch (err) {
      // A refused login stays refused: say so now rather than at the deadline.
      if (err instanceof ConnectError && err.authentication) throw new ModuleError(`instance ${l.id}: cannot tell whether recovery has ended: ${err.message}`);
      last = (err as Error).message;
    }
    await new Promise((res) => setTimeout(res, 200));
  }
  throw new ModuleError(`instance ${l.id} did not end recovery within ${timeoutSeconds} s (${last})`);
}

/**
 * A time target read by the server itself (its format and time zone rules), checked against the
 * backups before the instance is stopped: pgBackRest restores from the newest backup that ended
 * before the target, and refuses (after the stop) when there is none.
 */
async function checkTime(settings: SiteSettings, l: InstanceLayout, running: RunningState, time: string, f: StanzaFacts): Promise<void> {
  let epoch: number;
  try {
    epoch = await withConnection({ host: running.socketDir || l.socketDir, port: running.port, user: settings.postgresql.surole.name }, async (c) =>
      Number((await c.query<{ e: string }>('SELECT extract(epoch FROM $1::timestamptz)::text AS e', [time])).rows[0].e),
    );
  } catch (err) {
    throw new ModuleError(`option 'target.time': ${(err as Error).message.replace(/^cannot connect.*?: /, '')}`);
  }
  if (!f.backups.some((b) => Date.parse(b.stop) / 1000 < epoch)) {
    throw new ModuleError(`option 'target.time': no backup of stanza ${f.stanza} ended before ${time} (the oldest ended at ${f.backups[0]?.stop})`);
  }
}

/**
 * A Patroni member's backup holds Patroni's postgresql.conf (the member's port, its archiving into
 * the stanza, the cluster's synchronous_standby_names, which would make every commit of the copy
 * wait) and the instance's own as postgresql.base.conf: the copy, a standalone instance, gets the
 * latter back with its socle.conf included, and none of Patroni's files.
 */
function standaloneFromPatroni(l: InstanceLayout): void {
  const base = join(l.datadir, 'postgresql.base.conf');
  if (!existsSync(base)) return;
  writeFileAtomic(join(l.datadir, 'postgresql.conf'), `${readFileSync(base, 'utf8').replace(/\n*$/, '\n')}${INCLUDE_LINE}\n`, 0o600);
  for (const f of ['postgresql.base.conf', 'postgresql.base.conf.backup', 'postgresql.conf.backup', 'pg_hba.conf.backup', 'pg_ident.conf.backup', 'patroni.dynamic.json']) {
    rmSync(join(l.datadir, f), { force: true });
  }
}

/**
 * The copy's super-user is the source's (same catalog, same password): with the site's passfile
 * (`postgresql.surole.pgpass`), the source's entry is given the copy's port too, so that this task
 * (waiting for the end of recovery) and the owner reach the copy as they reach the source where
 * local connections ask a password.
 */
function superuserPassfileEntry(settings: SiteSettings, fromPort: number, toPort: number): void {
  const path = settings.postgresql.auth.passfile;
  const user = settings.postgresql.surole.name;
  if (!path || !settings.postgresql.surole.pgpass) return;
  const text = readTextOr(path, '');
  const password = lookupPassfile(text, { host: '*', port: String(fromPort), database: '*', user });
  if (password === null) return;
  writePrivateFileAtomic(path, setPassfileEntry(text, { host: '*', port: String(toPort), database: '*', user, password }).text);
}

/**
 * A restore into a new instance (`to`): its data and WAL directories made, the backup restored
 * there (`--pg1-path`, pg_wal linked to the new WAL directory), its socle.conf rewritten for its
 * own name and port, without archiving (it must not write into the source's stanza), then
 * started and waited for until promoted. No change once it exists.
 */
async function restoreIntoSteps(settings: SiteSettings, site: PgbackrestSite, src: InstanceLayout, stanza: string, f: StanzaFacts, opts: PgbackrestOptions): Promise<Step[]> {
  const to = opts.to!;
  if (to.name === src.name) throw new ModuleError(`option 'to.name': ${to.name} is the instance restored from (omit 'to' to restore in place)`);
  const l = layout(settings, src.version, to.name);
  if (exists(l)) return [];
  const used = runningState(src.datadir)?.port ?? Number(parseConf(readTextOr(src.managedConf, '')).get('port') ?? 5432);
  if (to.port === used) throw new ModuleError(`option 'to.port': ${to.port} is the port of ${src.id}`);
  if (!f.backups.length) throw new ModuleError(`option 'state': stanza ${stanza} has no backup to restore`);
  const label = opts.target?.label;
  if (label && !f.backups.some((b) => b.label === label)) {
    throw new ModuleError(`option 'target.label': stanza ${stanza} has no backup ${label} (it has ${f.backups.map((b) => b.label).join(', ')})`);
  }
  const running = runningState(src.datadir);
  if (opts.target?.time !== undefined && running) await checkTime(settings, src, running, opts.target.time, f);
  const restore = command(site, stanza, [`--pg1-path=${l.datadir}`, '--link-all', `--link-map=pg_wal=${l.waldir}`, ...targetArgs(opts.target), 'restore']);
  const service = serviceFor(settings, l);
  const install = service.install();
  const start = service.start();
  const what = opts.target ? Object.entries(opts.target).map(([k, v]) => `${k} ${v}`).join('') : 'the end of the WAL archive';
  return [
    {
      change: `restore ${src.id} into new instance ${l.id} (port ${to.port}) to ${what}`,
      commands: [formatCommand('mkdir', ['-p', '-m', '0700', l.datadir, l.waldir]), restore.text, `write ${l.managedConf} (name, port, paths of ${l.id}; no archiving)`],
      async apply() {
        mkdirSync(l.datadir, { recursive: true, mode: 0o700 });
        mkdirSync(l.waldir, { recursive: true, mode: 0o700 });
        try {
          await runCommand(site, restore, passfileOf(settings, src));
          // The backup's socle.conf is the source's: its own name, port and paths, no archiving.
          const conf = Object.fromEntries(parseConf(readTextOr(l.managedConf, '')));
          delete conf.archive_mode;
          delete conf.archive_command;
          writeFileAtomic(l.managedConf, renderConf({ ...conf, ...baseParameters(l, to.port), listen_addresses: conf.listen_addresses ?? 'localhost' }, MANAGED_CONF_HEADER), 0o600);
          standaloneFromPatroni(l);
          superuserPassfileEntry(settings, used, to.port);
        } catch (err) {
          // Nothing of the new instance is worth keeping: the next run starts over.
          rmSync(l.datadir, { recursive: true, force: true });
          rmSync(l.waldir, { recursive: true, force: true });
          throw err;
        }
      },
    },
    ...(install.commands.length ? [{ change: `install service of ${l.id}`, commands: install.commands, apply: install.run }] : []),
    { change: `start instance ${l.id}`, commands: start.commands, apply: start.run },
    {
      change: `wait until ${l.id} has ended recovery`,
      commands: [formatCommand(join(l.bindir, 'psql'), ['-h', l.socketDir, '-p', String(to.port), '-c', 'SELECT pg_is_in_recovery()'])],
      apply: () => waitPromoted(settings, l, 24 * 3600),
    },
  ];
}

/**
 * A command run on the repository host (backups must run there): through SSH in host-ssh mode,
 * with the repository host's configuration. host-tls has no way to start a command there.
 */
export function repositoryHostCommand(site: PgbackrestSite, stanza: string, args: string[]): Command {
  const r = site.repository;
  if (r.mode !== 'host-ssh') {
    throw new ModuleError(
      `option 'state': with a repository host reached by TLS (${r.mode === 'host-tls' ? r.host : ''}), backups run on that host: `
      + 'use the pgbackrest_repository role there (tasks_from: backup), or its scheduled backups',
    );
  }
  const config = r.host_config ? [`--config=${r.host_config}`, `--config-include-path=${join(dirname(r.host_config), 'conf.d')}`] : [];
  const remote = formatCommand(site.execpath, [...config, `--stanza=${stanza}`, '--log-level-console=warn', ...args]);
  const argv = ['-o', 'BatchMode=yes', '-p', String(r.host_port), `${r.host_user}@${r.host}`, remote];
  const ssh = r.cmd_ssh ?? 'ssh';
  return { argv, text: formatCommand(ssh, argv), file: ssh };
}

function resolveInstance(settings: SiteSettings, instance: string): InstanceLayout {
  const [version, name] = instance.includes('/') ? instance.split('/') : [undefined, instance];
  const l = layout(settings, resolveVersion(settings, name, version), name);
  if (!exists(l)) throw new ModuleError(`option 'instance': instance ${l.id} does not exist (no ${l.datadir})`);
  return l;
}

function facts(f: StanzaFacts) {
  return { stanza: f.stanza, status: f.status, backups: f.backups, archive: f.archive };
}

export async function runPgbackrest(opts: PgbackrestOptions, ctx: ModuleContext): Promise<ModuleResult> {
  const settings = loadSettings();
  const site: PgbackrestSite = pgbackrestSite(settings, 'instance');
  const l = resolveInstance(settings, opts.instance);
  const stanza = stanzaOf(l);
  if (!stanza) throw new ModuleError(`option 'instance': instance ${l.id} has no pgbackrest stanza (give it the instance module's 'pgbackrest' option)`);
  if (opts.target && opts.state !== 'restored') throw new ModuleError(`option 'target': only with state restored (not ${opts.state})`);
  if (opts.to && opts.state !== 'restored') throw new ModuleError(`option 'to': only with state restored (not ${opts.state})`);
  const passfile = passfileOf(settings, l);
  const locked = ctx.checkMode
    ? (fn: () => Promise<ModuleResult>) => fn()
    : (fn: () => Promise<ModuleResult>) => withLock(l.lockFile, settings.lockTimeout, `instance ${l.id}`, fn);
  return locked(async () => {
    // A backup taken for real (no diff asked) needs no facts before it: `pgbackrest info` is run
    // once, after it (the type is decided from the repository's backup.info).
    const quickBackup = opts.state === 'backed_up' && !ctx.checkMode && !ctx.diff;
    const before = quickBackup ? null : await stanzaFacts(site, stanza);
    const steps: Step[] = [];
    if (opts.state === 'backed_up') {
      // pgBackRest would turn it into a full one itself (with a warning): say so in the plan.
      const type = stanzaHasBackup(site, stanza) ? opts.type! : 'full';
      const args = [`--type=${type}`, ...(inRecovery(l) ? ['--backup-standby'] : []), 'backup'];
      const cmd = site.repository.mode === 'path' ? command(site, stanza, args) : repositoryHostCommand(site, stanza, args);
      steps.push({ change: `take a ${type} backup of ${l.id} (stanza ${stanza})`, commands: [cmd.text], apply: async () => void (await runCommand(site, cmd, passfile)) });
    } else if (!before) {
      throw new Error('unreachable: facts are read before anything but a backup');
    } else if (opts.state === 'restored' && opts.to) {
      steps.push(...(await restoreIntoSteps(settings, site, l, stanza, before, opts)));
    } else if (opts.state === 'restored') {
      if (!before.backups.length) throw new ModuleError(`option 'state': stanza ${stanza} has no backup to restore`);
      const label = opts.target?.label;
      if (label && !before.backups.some((b) => b.label === label)) {
        throw new ModuleError(`option 'target.label': stanza ${stanza} has no backup ${label} (it has ${before.backups.map((b) => b.label).join(', ')})`);
      }
      const running = runningState(l.datadir);
      if (opts.target?.time !== undefined && running) await checkTime(settings, l, running, opts.target.time, before);
      const service = serviceFor(settings, l);
      if (running) {
        const stop = service.stop();
        steps.push({ change: `stop instance ${l.id}`, commands: stop.commands, apply: stop.run });
      }
      // --link-all keeps pg_wal a link to the instance's WAL directory, as it was backed up;
      // --pg1-path names this instance's data directory (restore writes to pg1's, and in a stanza
      // shared with a standby this instance may be pg2).
      const restore = command(site, stanza, [`--pg1-path=${l.datadir}`, '--delta', '--link-all', ...targetArgs(opts.target), 'restore']);
      const what = opts.target ? Object.entries(opts.target).map(([k, v]) => `${k} ${v}`).join('') : 'the end of the WAL archive';
      steps.push({
        change: `restore ${l.id} to ${what}`,
        commands: [restore.text],
        async apply() {
          try {
            await runCommand(site, restore, passfile);
          } catch (err) {
            // Its data directory may be half restored: starting it would be a guess.
            throw new ModuleError(`${(err as Error).message}\ninstance ${l.id} is left stopped; fix the cause and run the restore again`);
          }
        },
      });
      const start = service.start();
      steps.push({ change: `start instance ${l.id}`, commands: start.commands, apply: start.run });
      steps.push({
        change: `wait until ${l.id} has ended recovery`,
        commands: [formatCommand(join(l.bindir, 'psql'), ['-h', l.socketDir, '-c', 'SELECT pg_is_in_recovery()'])],
        apply: () => waitPromoted(settings, l, 24 * 3600),
      });
    }
    if (!ctx.checkMode) await applySteps(steps);
    const after = before && (ctx.checkMode || !steps.length) ? before : await stanzaFacts(site, stanza);
    const r = report(steps);
    const labels = (f: StanzaFacts) => `stanza: ${stanza}\nbackups:\n${f.backups.map((b) => `  - ${b.label} (${b.type})\n`).join('')}`;
    return {
      changed: r.changed,
      msg: r.changed ? `${ctx.checkMode ? 'would ' : ''}${r.changes.join('; ')}` : `stanza ${stanza} of ${l.id}: ${after.backups.length} backup(s), ${after.status}`,
      changes: r.changes,
      commands: r.commands,
      ...(ctx.diff && before ? { diff: { before: labels(before), after: ctx.checkMode ? `${labels(before)}${r.changes.map((c) => `# ${c}\n`).join('')}` : labels(after) } } : {}),
      ...facts(after),
    };
  });
}
