// pgBackRest as a component of the instance (pglift's `pgbackrest: {stanza, password}`):
//   - parameters: archive_mode = on and archive_command (archive-push to the stanza), required;
//   - configure: the site's pgbackrest.conf ([global]), the stanza file with this instance's
//     pgN-* lines (a primary and its standbys on this host share it), the backup role's password
//     in a private passfile (0600) that pgBackRest gets through PGPASSFILE;
//   - sql (primary only): the backup role (a super-user, by its SCRAM verifier), then
//     `stanza-create` and `check` once, when the repository has no such stanza yet;
//   - drop: the instance's lines leave the stanza file; the stanza and its backups are deleted
//     only with `delete_backups: true`;
//   - provision: a standby whose stanza has a backup is restored from the repository;
//   - facts: the stanza's backups and archive range (`pgbackrest info`, kept in a cache while the
//     repository's files it reads are unchanged: a no-op task runs no pgbackrest process);
//   - a repository on another host (host-tls, host-ssh): [global] names it; stanza-create and
//     backups run there (the pgbackrest_repository role), not here. In host-tls mode this host's
//     own `pgbackrest server` (one per host, shared by its instances: server.ts) lets the
//     repository host reach the instances;
//   - services: the scheduled backups (schedule.ts), started and stopped with the instance.
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import type { ComponentContext, InstanceComponent, SqlContext, SqlPlan } from '../../instance/component';
import type { CompanionService } from '../../daemon';
import { effectiveAuth } from '../../instance/config';
import { inRecovery } from '../../instance/layout';
import { privateDir } from '../../instance/lifecycle';
import { formatCommand } from '../../exec';
import { readTextOr, writeFileAtomic, writePrivateFileAtomic } from '../../fsutil';
import type { Step } from '../../plan';
import { ModuleError } from '../../runtime';
import { passfileLine } from '../replication/conninfo';
import { serviceRoleSteps } from '../service-role';
import { checkSchedule, scheduleServices, unwantedJobSteps } from './schedule';
import {
  archiveCommand,
  cachedStanzaFacts,
  command,
  globalConfFile,
  isRemote,
  globalConfText,
  indexOf,
  parseStanzaConf,
  passfileOf,
  pgbackrestSite,
  runCommand,
  stanzaConfFile,
  stanzaCreated,
  stanzaHasBackup,
  stanzaOf,
  withInstance,
  withoutInstance,
} from './site';
import { otherInstances, remoteCommandFile, remoteCommandText, serverPassfile, tlsServer, withServerPassword } from './server';

/** Local methods that let the backup role in through the socket (peer maps the owner to the super-user only). */
const SOCKET_METHODS = new Set(['scram-sha-256', 'md5', 'password', 'trust']);

/** The stanza: declared, or (the option not repeated) the one the instance archives to. */
const stanzaFor = (c: ComponentContext) => c.opts.pgbackrest?.stanza ?? stanzaOf(c.layout);

function check(c: ComponentContext): void {
  const o = c.opts.pgbackrest;
  if (!o) return;
  const site = pgbackrestSite(c.settings, 'pgbackrest');
  if (site.repository.mode === 'host-tls' && c.lifecycle !== 'drop') {
    // The TLS server would exit at once without them (after the files are written).
    for (const [k, f] of Object.entries(site.repository.certificate)) {
      if (!existsSync(f)) throw new ModuleError(`option 'pgbackrest': the site settings' pgbackrest.repository.certificate.${k} (${f}) does not exist`);
    }
  }
  if (o.password !== undefined && /[\n\r\0]/.test(o.password)) {
    throw new ModuleError("option 'pgbackrest.password': must not contain a line break or NUL (it is kept in a passfile)");
  }
  checkSchedule(c);
  const before = stanzaOf(c.layout);
  if (c.lifecycle === 'update' && before && before !== o.stanza) {
    throw new ModuleError(`option 'pgbackrest.stanza': instance ${c.layout.id} archives to stanza ${before}; moving it to ${o.stanza} is not supported (drop and re-create it, or edit by hand)`);
  }
  if (c.lifecycle === 'drop' && o.delete_backups) {
    if (isRemote(site)) {
      throw new ModuleError(`option 'pgbackrest.delete_backups': the repository is on ${(site.repository as { host: string }).host}; stanza-delete runs there (pgbackrest --stanza=${o.stanza} stop; pgbackrest --stanza=${o.stanza} stanza-delete)`);
    }
    const entries = parseStanzaConf(readTextOr(stanzaConfFile(site, o.stanza), null));
    const own = indexOf(entries, c.layout.datadir);
    const others = [...entries.entries()].filter(([i]) => i !== own).map(([, kv]) => kv.get('path'));
    if (others.length) {
      throw new ModuleError(`option 'pgbackrest.delete_backups': stanza ${o.stanza} is also used by ${others.join(', ')}; drop those first`);
    }
  }
}

/** Writes `file` when its text differs (mode given), undone on a failed creation. */
function fileStep(c: ComponentContext, file: string, text: string | null, change: string, mode: number): Step | null {
  const before = readTextOr(file, null);
  if (before === text) return null;
  return {
    change,
    commands: [text === null ? formatCommand('rm', ['-f', file]) : `write ${file} (mode 0${mode.toString(8)})`],
    async apply() {
      if (text === null) rmSync(file, { force: true });
      else {
        privateDir(file);
        if (mode === 0o600) writePrivateFileAtomic(file, text);
        else writeFileAtomic(file, text, mode);
      }
      c.onUndo(async () => (before === null ? rmSync(file, { force: true }) : writeFileAtomic(file, before, mode)));
    },
  };
}

function configure(c: ComponentContext): Step[] {
  const o = c.opts.pgbackrest;
  if (!o) return [];
  const site = pgbackrestSite(c.settings);
  const l = c.layout;
  const local = effectiveAuth(c.settings, c.opts.auth).local;
  const stanzaFile = stanzaConfFile(site, o.stanza);
  const stanzaText = withInstance(o.stanza, readTextOr(stanzaFile, null), {
    datadir: l.datadir,
    port: c.port,
    user: site.backuprole,
    socketDir: SOCKET_METHODS.has(local) ? l.socketDir : null,
  }, site.backupStandby);
  const global = fileStep(c, globalConfFile(site), globalConfText(site), `write ${globalConfFile(site)}`, 0o600);
  if (global) {
    // pgBackRest makes none of its folders (a missing log folder only warns, on every command).
    const dirs = [site.logpath, site.lockpath, site.spoolpath, ...(site.repository.mode === 'path' ? [site.repository.path] : [])];
    global.commands!.push(formatCommand('mkdir', ['-p', '-m', '0700', ...dirs]));
    const write = global.apply;
    global.apply = async () => {
      for (const d of dirs) mkdirSync(d, { recursive: true, mode: 0o700 });
      await write();
    };
  }
  const steps = [
    global,
    fileStep(c, stanzaFile, stanzaText, `set instance ${l.id} in stanza ${o.stanza}`, 0o600),
    o.password !== undefined ? fileStep(c, passfileOf(c.settings, l), passfileLine(o.password), `keep the backup role's password of ${l.id}`, 0o600) : null,
    isRemote(site) && o.password !== undefined
      ? fileStep(c, serverPassfile(site), withServerPassword(readTextOr(serverPassfile(site), null), l.id, c.port, site.backuprole, o.password), `keep the backup role's password of ${l.id} for the repository host`, 0o600)
      : null,
    site.repository.mode === 'host-ssh' ? fileStep(c, remoteCommandFile(site), remoteCommandText(site), `write ${remoteCommandFile(site)}`, 0o700) : null,
  ];
  return [...steps.filter((s): s is Step => s !== null), ...unwantedJobSteps(c)];
}

async function sql(c: SqlContext): Promise<SqlPlan> {
  const o = c.opts.pgbackrest!;
  // A standby is read-only (its backup role is the primary's), and the primary made the stanza.
  if (c.server.inRecovery) return { steps: [] };
  const site = pgbackrestSite(c.settings);
  const conn = await c.session.connection();
  const steps = await serviceRoleSteps(conn, { name: site.backuprole, password: o.password, superuser: true }, 'pgbackrest');
  // With a repository host, stanza-create runs there (the pgbackrest_repository role).
  if (!isRemote(site) && !stanzaCreated(site, o.stanza)) {
    // `check` archives a WAL segment: only when archive_mode is in effect (adding pgbackrest to a
    // running instance needs a restart first).
    const { rows } = await conn.query<{ m: string }>("SELECT current_setting('archive_mode') AS m");
    const archiving = rows[0].m !== 'off';
    const create = command(site, o.stanza, ['stanza-create']);
    const verify = command(site, o.stanza, ['check']);
    const passfile = passfileOf(c.settings, c.layout);
    steps.push({
      change: `create stanza ${o.stanza}${archiving ? '' : ' (check skipped: archive_mode needs a restart)'}`,
      commands: archiving ? [create.text, verify.text] : [create.text],
      async apply() {
        await runCommand(site, create, passfile, 600);
        if (archiving) await runCommand(site, verify, passfile, 600);
      },
    });
  }
  return { steps };
}

function drop(c: ComponentContext): Step[] {
  const stanza = stanzaFor(c);
  if (!stanza || !c.settings.raw.pgbackrest) return [];
  const site = pgbackrestSite(c.settings);
  const steps: Step[] = [];
  if (c.opts.pgbackrest?.delete_backups && stanzaCreated(site, stanza)) {
    const cmds = [command(site, stanza, ['stop']), command(site, stanza, ['--force', 'stanza-delete']), command(site, stanza, ['start'])];
    steps.push({
      change: `delete stanza ${stanza} and its backups`,
      commands: cmds.map((x) => x.text),
      async apply() {
        for (const x of cmds) await runCommand(site, x, null, 600);
      },
    });
  }
  const file = stanzaConfFile(site, stanza);
  const before = readTextOr(file, null);
  const after = withoutInstance(stanza, before, c.layout.datadir, site.backupStandby);
  if (before !== null && after !== before) {
    steps.push({
      change: `remove instance ${c.layout.id} from stanza ${stanza}`,
      commands: [after === null ? formatCommand('rm', ['-f', file]) : `write ${file} (mode 0600)`],
      apply: async () => (after === null ? rmSync(file, { force: true }) : writePrivateFileAtomic(file, after)),
    });
  }
  if (isRemote(site)) {
    const file = serverPassfile(site);
    const text = readTextOr(file, null);
    const left = withServerPassword(text, c.layout.id, null);
    if (text !== null && left !== text) {
      steps.push({ change: `remove the backup role's password of ${c.layout.id} from the TLS server's passfile`, commands: [`write ${file} (mode 0600)`], apply: async () => writePrivateFileAtomic(file, left) });
    }
  }
  const passfile = passfileOf(c.settings, c.layout);
  if (readTextOr(passfile, null) !== null) {
    steps.push({ change: `remove ${passfile}`, commands: [formatCommand('rm', ['-f', passfile])], apply: async () => rmSync(passfile, { force: true }) });
  }
  return steps;
}

/**
 * A standby of an instance whose stanza has a backup is restored from the repository (pglift's
 * way): the WAL since the backup comes from the archive, only the rest streams from the primary,
 * which the base backup would otherwise read whole. The replication component then writes
 * standby.signal and primary_conninfo as for a base backup.
 */
function provisionStep(c: ComponentContext): Step {
  const site = pgbackrestSite(c.settings);
  const o = c.opts.pgbackrest!;
  const l = c.layout;
  const restore = command(site, o.stanza, [`--pg1-path=${l.datadir}`, '--link-all', `--link-map=pg_wal=${l.waldir}`, '--type=standby', 'restore']);
  return {
    change: `create standby ${l.id} from the backups of stanza ${o.stanza}`,
    commands: [formatCommand('mkdir', ['-p', '-m', '0700', l.datadir, l.waldir]), restore.text],
    async apply() {
      mkdirSync(l.datadir, { recursive: true, mode: 0o700 });
      mkdirSync(l.waldir, { recursive: true, mode: 0o700 });
      await runCommand(site, restore, null);
    },
  };
}

/** host-tls: this host's `pgbackrest server`, which the repository host reaches the instances through. */
function tlsServerServices(c: ComponentContext): CompanionService[] {
  if (!c.settings.raw.pgbackrest || !stanzaFor(c)) return [];
  const site = pgbackrestSite(c.settings);
  if (site.repository.mode !== 'host-tls') return [];
  // One server for every instance of the host: an instance stopped or dropped leaves it to
  // the others that still archive through it.
  const leaving = c.opts.state === 'stopped' || c.opts.state === 'absent' || c.lifecycle === 'drop';
  if (leaving && otherInstances(site, c.layout.datadir)) return [];
  return [tlsServer(c.settings, site)];
}

export const pgbackrestComponent: InstanceComponent = {
  name: 'pgbackrest',
  // Declared, or the instance archives to a stanza (drop cleans up, facts are reported).
  declared: (c) => c.opts.pgbackrest !== undefined || stanzaOf(c.layout) !== null,
  check,
  parameters(c) {
    const stanza = c.opts.pgbackrest?.stanza;
    if (!stanza) return {};
    const site = pgbackrestSite(c.settings);
    return { required: { archive_mode: 'on', archive_command: archiveCommand(site, stanza) } };
  },
  provision(c) {
    const o = c.opts.pgbackrest;
    if (!o || !c.opts.standby || c.opts.standby.status === 'promoted') return null;
    return stanzaHasBackup(pgbackrestSite(c.settings), o.stanza) ? { step: provisionStep(c), standby: true } : null;
  },
  configure,
  needsServer: (c) => c.opts.pgbackrest !== undefined && c.lifecycle !== 'drop' && !(inRecovery(c.layout) && c.opts.standby?.status !== 'promoted'),
  sql,
  sqlOnCreation: (c) => (c.opts.pgbackrest && !c.opts.standby ? [`create role ${pgbackrestSite(c.settings).backuprole} (pgbackrest)`, `create stanza ${c.opts.pgbackrest.stanza}`] : []),
  drop,
  // The scheduled backups, and this host's TLS server for a repository host.
  services: (c) => [...scheduleServices(c), ...tlsServerServices(c)],
  async facts(c) {
    const stanza = stanzaFor(c);
    if (!stanza || c.lifecycle === 'drop' || !c.settings.raw.pgbackrest) return undefined;
    // A no-op task reads the last `info` back while the repository's files are unchanged.
    return cachedStanzaFacts(pgbackrestSite(c.settings), stanza, !c.module.checkMode);
  },
};
