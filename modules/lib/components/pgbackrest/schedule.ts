// Scheduled backups of an instance (`pgbackrest: {schedule: {full, incr, diff}}`): one job per
// kind (modules/lib/schedule.ts: a systemd user timer, or a crontab entry of the owner), started
// and stopped with the instance, removed with it. The job is a small shell script that calls
// pgBackRest directly, the way the pgbackrest module does (same configuration, the backup role's
// password from its private passfile through PGPASSFILE): nothing of the collection needs to be
// on the host when it fires, and pgBackRest's own lock keeps two backups of a stanza apart. On a
// standby (standby.signal in its data directory) the job does nothing: the primary's job backs
// the stanza up.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { CompanionService } from '../../daemon';
import type { ComponentContext } from '../../instance/component';
import type { InstanceLayout } from '../../instance/layout';
import type { Step } from '../../plan';
import { shellQuote } from '../../exec';
import { checkCalendar, installedJobs, jobFiles, scheduledJob } from '../../schedule';
import type { SiteSettings } from '../../settings';
import { namePart } from '../dumps/site';
import { command, isRemote, passfileOf, pgbackrestSite } from './site';
import { readTextOr } from '../../fsutil';

export const KINDS = ['full', 'incr', 'diff'] as const;
type Kind = (typeof KINDS)[number];

const prefix = (l: InstanceLayout) => `socle-backup-${l.version}-${namePart(l.name)}-`;
export const backupJobName = (l: InstanceLayout, kind: Kind) => `${prefix(l)}${kind}`;

/** The declared kinds and their calendar expressions (none when the option is not given). */
function wanted(c: ComponentContext): Array<[Kind, string]> {
  const s = c.opts.pgbackrest?.schedule;
  if (!s || !s.enabled) return [];
  // With a repository host, backups run there (pgBackRest refuses them elsewhere): its own
  // schedules (the pgbackrest_repository role's), none here.
  if (isRemote(pgbackrestSite(c.settings))) return [];
  return KINDS.flatMap((k) => (s[k] ? [[k, s[k]!] as [Kind, string]] : []));
}

export function checkSchedule(c: ComponentContext): void {
  for (const [k, expr] of wanted(c)) checkCalendar(c.settings, expr, `pgbackrest.schedule.${k}`);
}

export function backupScript(settings: SiteSettings, l: InstanceLayout, stanza: string, kind: Kind, onCalendar: string, withPassfile: boolean): string {
  const site = pgbackrestSite(settings);
  const cmd = command(site, stanza, [`--type=${kind}`, 'backup']);
  const passfile = passfileOf(settings, l);
  return [
    '#!/bin/sh',
    `# Written by socle.postgresql: the scheduled ${kind} backup of instance ${l.id} (stanza ${stanza}).`,
    '# Changes are overwritten. No secret here: the backup role\'s password is in its passfile.',
    `# OnCalendar: ${onCalendar}`,
    'set -eu',
    `if [ -e ${shellQuote(join(l.datadir, 'standby.signal'))} ]; then`,
    `  echo "$(date -u +%FT%TZ) instance ${l.id} is a standby: no backup"`,
    '  exit 0',
    'fi',
    // pgBackRest connects over TCP on loopback when the stanza file has no socket path (peer).
    'PGHOST=127.0.0.1',
    'export PGHOST',
    ...(withPassfile ? [`PGPASSFILE=${shellQuote(passfile)}`, 'export PGPASSFILE'] : []),
    'unset PGPASSWORD',
    `echo "$(date -u +%FT%TZ) ${kind} backup of stanza ${stanza}"`,
    `exec ${cmd.text}`,
    '',
  ].join('\n');
}

/**
 * The jobs as services of the instance: those declared, or (the option not repeated in the task,
 * or a drop) those installed, so that they follow the instance's state and go with it.
 */
export function scheduleServices(c: ComponentContext): CompanionService[] {
  const l = c.layout;
  const o = c.opts.pgbackrest;
  if (o && c.lifecycle !== 'drop') {
    const withPassfile = o.password !== undefined || existsSync(passfileOf(c.settings, l));
    return wanted(c).map(([kind, expr]) => {
      const name = backupJobName(l, kind);
      return scheduledJob(c.settings, {
        name,
        description: `${kind} backup of instance ${l.id}`,
        onCalendar: expr,
        scriptText: backupScript(c.settings, l, o.stanza, kind, expr, withPassfile),
        ...jobFiles(c.settings, name),
      });
    });
  }
  return installed(c).map((name) => removable(c.settings, name, installedText(c, name)));
}

function installed(c: ComponentContext): string[] {
  return installedJobs(c.settings, prefix(c.layout));
}

/** A job known only by its name (to stop or remove it): its definition as it is on disk. */
function removable(settings: SiteSettings, name: string, keep: { onCalendar: string; scriptText: string }): CompanionService {
  return scheduledJob(settings, { name, description: '', ...keep, ...jobFiles(settings, name) });
}

/**
 * A job the task does not declare (the option not repeated): its definition read back from its
 * script (which names its calendar expression), so that it is stopped, started again or removed
 * as it is, never rewritten.
 */
function installedText(c: ComponentContext, name: string): { onCalendar: string; scriptText: string } {
  const scriptText = readTextOr(jobFiles(c.settings, name).script, '');
  const m = /^# OnCalendar: (.+)$/m.exec(scriptText);
  return { onCalendar: m ? m[1] : 'daily', scriptText };
}

/** The jobs of kinds no longer declared: removed in the configure phase. */
export function unwantedJobSteps(c: ComponentContext): Step[] {
  if (!c.opts.pgbackrest || c.lifecycle === 'drop') return [];
  const keep = new Set(wanted(c).map(([k]) => backupJobName(c.layout, k)));
  return installed(c)
    .filter((n) => !keep.has(n))
    .map((name) => {
      const a = removable(c.settings, name, installedText(c, name)).uninstall();
      return { change: `remove the scheduled backup ${name}`, commands: a.commands, apply: a.run };
    });
}

