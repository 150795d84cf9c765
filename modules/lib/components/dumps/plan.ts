// A database's dump options as plan steps, for the `database` module and the instance's
// `databases` list alike: `dump: true` (a dump now, then the retention; before the drop with
// state absent), `restore: {dump, target}` (pg_restore into a new or existing database), and
// `schedule_dump` (a timer or crontab entry, kept while the option is given and the database
// exists, removed otherwise).
import { existsSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { formatCommand, run } from '../../exec';
import type { InstanceSession } from '../../instance/target';
import type { Step } from '../../plan';
import { quoteIdent } from '../../pg/quote';
import { ModuleError } from '../../runtime';
import { checkCalendar, ensureJob, installedJobs, scheduledJob, jobFiles } from '../../schedule';
import type { SiteSettings } from '../../settings';
import type { DatabaseSpec } from '../../database';
import { checkDumpable, conninfoOf, dumpEnv, dumpJobName, dumpJobPrefix, dumpScript, dumpsSite, listDumps, renderCommands, takeDump, type DumpFact, type DumpTarget } from './site';

export interface DumpPlan {
  /** Before the database's own changes (a dump before a drop). */
  before: Step[];
  /** After them (dump, restore, schedule). */
  after: Step[];
}

/** Whether a spec asks anything of the dumps (or may leave a schedule to remove). */
export function wantsDumps(spec: DatabaseSpec): boolean {
  return spec.dump === true || spec.restore !== undefined || spec.schedule_dump !== undefined;
}

export async function planDumps(
  session: InstanceSession,
  settings: SiteSettings,
  spec: DatabaseSpec,
  optionPath: (p: string) => string = (p) => p,
): Promise<DumpPlan> {
  const l = session.layout;
  const site = dumpsSite(settings, l);
  const out: DumpPlan = { before: [], after: [] };
  const absent = spec.state === 'absent';
  const target = (dbname: string): DumpTarget => ({ bindir: l.bindir, socketDir: l.socketDir, port: session.port, user: session.user, dbname });
  if (wantsDumps(spec)) checkDumpable(spec.name, optionPath('name'));
  if (spec.schedule_dump) checkCalendar(settings, spec.schedule_dump, optionPath('schedule_dump'));

  if (spec.dump) {
    const t = target(spec.name);
    const cmds = renderCommands(site, t, '<date>').map((a) => formatCommand(a[0], a.slice(1)));
    const step: Step = {
      change: `dump database ${spec.name}`,
      commands: [...cmds, ...(site.retention > 0 ? [`keep the newest ${site.retention} dumps of ${spec.name} in ${site.directory}`] : [])],
      async apply() {
        await takeDump(site, t);
      },
    };
    (absent ? out.before : out.after).push(step);
  }

  if (spec.restore && !absent) {
    const r = spec.restore;
    const into = r.target ?? spec.name;
    const dump = resolveDump(listDumps(site, spec.name), r.dump, optionPath('restore.dump'));
    const conn = await session.connection();
    const { rows } = await conn.query<{ owner: string | null; exists: boolean }>(
      `SELECT (SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1) AS owner, EXISTS (SELECT 1 FROM pg_database WHERE datname = $2) AS exists`,
      [spec.name, into],
    );
    const owner = spec.owner ?? rows[0].owner ?? session.user;
    const exists = rows[0].exists || into === spec.name; // this database: made by the plan before
    const create = `CREATE DATABASE ${quoteIdent(into)} OWNER ${quoteIdent(owner)} TEMPLATE template0`;
    const args = ['--exit-on-error', ...(exists ? ['--clean', '--if-exists'] : []), '--dbname', conninfoOf(target(into)), dump];
    const pgRestore = `${l.bindir}/pg_restore`;
    out.after.push({
      change: `restore dump ${r.dump} of ${spec.name} into ${exists ? '' : 'new '}database ${into}`,
      queries: exists ? [] : [create],
      commands: [formatCommand(pgRestore, args)],
      async apply() {
        if (!exists) {
          await session.release(into);
          await (await session.connection()).query(create);
        }
        await session.release(into);
        try {
          await run(pgRestore, args, { env: dumpEnv(site), timeout: 24 * 3600 });
        } catch (err) {
          throw new ModuleError(`option '${optionPath('restore')}': ${(err as Error).message}`);
        }
      },
    });
  }

  // The schedule: kept as it is when the option is not given (a task about something else must
  // not remove it: the `socle database` commands run the module with a name and little else);
  // the empty string, or the database dropped, removes it.
  const name = dumpJobName(l, spec.name);
  if (spec.schedule_dump && !absent) {
    const files = jobFiles(settings, name);
    const job = scheduledJob(settings, {
      name,
      description: `dump of database ${spec.name} of instance ${l.id}`,
      onCalendar: spec.schedule_dump,
      scriptText: dumpScript(site, target(spec.name), l),
      ...files,
    });
    const a = ensureJob(job);
    if (a) out.after.push({ change: `schedule the dumps of ${spec.name} (${spec.schedule_dump})`, commands: a.commands, apply: a.run });
  } else if ((spec.schedule_dump === '' || absent) && jobsOf(session, settings).includes(name)) {
    const job = scheduledJob(settings, { name, description: '', onCalendar: 'daily', scriptText: '', ...jobFiles(settings, name) });
    const a = job.uninstall();
    out.after.push({ change: `remove the scheduled dumps of ${spec.name}`, commands: a.commands, apply: a.run });
  }
  return out;
}

/**
 * The instance's scheduled dumps, read once per task (a batch of databases would otherwise read
 * the crontab once per database).
 */
const jobsCache = new WeakMap<InstanceSession, string[]>();
function jobsOf(session: InstanceSession, settings: SiteSettings): string[] {
  let jobs = jobsCache.get(session);
  if (!jobs) {
    jobs = installedJobs(settings, dumpJobPrefix(session.layout));
    jobsCache.set(session, jobs);
  }
  return jobs;
}

/** `latest`, an id of the `dumps` fact, or a file path. */
function resolveDump(dumps: DumpFact[], ref: string, option: string): string {
  if (ref === 'latest') {
    if (!dumps.length) throw new ModuleError(`option '${option}': there is no dump of this database to restore`);
    return dumps[0].path;
  }
  const byId = dumps.find((d) => d.id === ref);
  if (byId) return byId.path;
  if (isAbsolute(ref) && existsSync(ref)) return ref;
  throw new ModuleError(`option '${option}': no dump ${ref} (known: ${dumps.map((d) => d.id).join(', ') || 'none'}; or give an existing absolute path)`);
}

/** The `dumps` fact of a database (newest first). */
export function dumpsFact(settings: SiteSettings, session: InstanceSession, dbname: string): DumpFact[] {
  if (/[/\x00-\x1f\x7f]/.test(dbname)) return [];
  return listDumps(dumpsSite(settings, session.layout), dbname);
}
