// What the instance module reads of an instance and reports about it, shared by its create,
// update and drop paths.
import { existsSync, rmdirSync, rmSync } from 'node:fs';
import { readTextOr } from '../fsutil';
import { dirname } from 'node:path';
import type { ConnectionTarget } from '../pg/client';
import { replaceBlock } from '../pg/hba';
import { report, type Step } from '../plan';
import { ModuleError, type ModuleContext, type ModuleResult } from '../runtime';
import type { SiteSettings } from '../settings';
import type { InstanceSpec } from './component';
import { HBA_AUTH_BLOCK, type ConfValue } from './config';
import { exists, type InstanceLayout } from './layout';
import { unknownParameters, type ParameterCatalog } from './parameters';
import { runningState, type RunningState } from './status';

/** What is on disk and running now. */
export interface Current {
  exists: boolean;
  /** The remains of an interrupted creation are on disk (see InstanceLayout.creationMarker). */
  interrupted: boolean;
  running: RunningState | null;
  managedText: string | null;
  hbaText: string | null;
  identText: string | null;
}


export function inspect(l: InstanceLayout): Current {
  const interrupted = existsSync(l.creationMarker);
  const isThere = exists(l) && !interrupted;
  return {
    exists: isThere,
    interrupted,
    running: isThere ? runningState(l.datadir) : null,
    managedText: readTextOr(l.managedConf, null),
    hbaText: readTextOr(l.hbaFile, null),
    identText: readTextOr(l.identFile, null),
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

export function describe(status: string, managedText: string | null, hba: string[] | null): string {
  if (status === 'absent') return 'status: absent\n';
  return [`status: ${status}`, '--- socle.conf', (managedText ?? '').trimEnd(), '--- pg_hba.conf (managed block)', ...(hba ?? []), ''].join('\n');
}

export function baseFacts(l: InstanceLayout) {
  return { name: l.name, version: l.version, datadir: l.datadir, waldir: l.waldir };
}

export function finish(
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

export function instanceDirs(l: InstanceLayout): string[] {
  return [l.datadir, ...(l.waldir.startsWith(l.datadir + '/') ? [] : [l.waldir])];
}

/**
 * Data and WAL, the creation's own files, then the parents they leave empty
 * (pgsql/<version>/<name>). The marker goes after the data: a removal interrupted half-way is
 * still recognised as the remains of a creation.
 */
export function removeInstanceDirs(l: InstanceLayout): void {
  rmSync(l.initdbPwfile, { force: true });
  for (const d of instanceDirs(l)) rmSync(d, { recursive: true, force: true });
  rmSync(l.creationMarker, { force: true });
  for (const d of instanceDirs(l)) {
    try {
      rmdirSync(dirname(d));
    } catch {
      /* not empty (another directory of the instance is still there), or already gone */
    }
  }
}

export function hbaFileFor(existing: string | null, block: string[]): string {
  // initdb's own rules are replaced: only the managed blocks grant access.
  const header = '# pg_hba.conf written by socle.postgresql. Blocks between "# BEGIN socle ..." and\n# "# END socle ..." are managed; rules outside them are kept.\n';
  const base = existing?.includes(`# BEGIN ${HBA_AUTH_BLOCK}`) ? existing : header;
  return replaceBlock(base, HBA_AUTH_BLOCK, block);
}

/**
 * Parameters with a single source elsewhere: the port is an option of its own, and the socket
 * directory a site setting (every module and the `env` fact find the instance through it).
 */
export const RESERVED_PARAMETERS: Record<string, string> = {
  port: "the port is set with the 'port' option",
  unix_socket_directories: 'the socket directory is the site setting postgresql.socket_directory',
};

export function rejectReservedSettings(settings: Record<string, ConfValue>): Record<string, ConfValue> {
  const errors = Object.keys(settings)
    .filter((k) => k.toLowerCase() in RESERVED_PARAMETERS)
    .map((k) => `option 'settings.${k}': ${RESERVED_PARAMETERS[k.toLowerCase()]}`);
  if (errors.length) throw new ModuleError(errors.join('; '));
  return settings;
}

/** The parameter names the user's `settings` declare (lower case), for messages naming the option. */
export function userKeys(opts: InstanceSpec): Set<string> {
  return new Set(Object.keys(opts.settings ?? {}).map((k) => k.toLowerCase()));
}

export function checkNames(params: Record<string, ConfValue>, catalog: ParameterCatalog): void {
  const unknown = unknownParameters(Object.keys(params), catalog);
  if (unknown.length) {
    throw new ModuleError(unknown.map((n) => `option 'settings.${n}': unknown PostgreSQL parameter`).join('; '));
  }
}

export function superuserTarget(settings: SiteSettings, l: InstanceLayout, opts: InstanceSpec, port: number, socketDir = l.socketDir): ConnectionTarget {
  return { host: socketDir, port, user: settings.postgresql.surole.name, password: opts.surole_password };
}
