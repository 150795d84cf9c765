// The commands of `socle`, one declaration each: the module that runs it, how positionals map to
// its options, what the command fixes (state: absent), and, for the few that need it, a hook
// that reads the current state first. Adding a command (a new module's) is one entry here: its
// flags come from the module's schema. A command whose module is not in this build (patroni,
// dumps: modules that other work adds) says so and exits with EXIT.UNAVAILABLE.
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { load as loadYaml } from 'js-yaml';
import { withConnection, type Connection } from '../modules/lib/pg/client';
import { describeRoles } from '../modules/lib/role/describe';
import { describeDatabases } from '../modules/lib/database/describe';
import { runningState } from '../modules/lib/instance/status';
import { envFacts } from '../modules/lib/instance/state';
import { shellQuote, tail } from '../modules/lib/exec';
import type { ModuleDefinition } from '../modules/lib/runtime';
import { secretPaths as infoSecretPaths, validate as validateInfo } from '../modules/generated/instance_info';
import { currentManifest, instanceLayout, listInstances, NotFound, serviceOperation, type ServiceOp } from './instances';
import { CliError, EXIT, type Invocation } from './engine';
import { facts, json, out, table } from './output';
import { deepMerge, UsageError } from './flags';

export interface ExtraFlag {
  name: string;
  kind: 'bool' | 'scalar';
  description: string;
  short?: string;
}

export interface Command {
  summary: string;
  /** The module whose options are the flags and whose definition runs the command. */
  module?: string;
  /** Positionals, each an option of the module (`option`), or the command's own. */
  args?: Array<{ name: string; option?: string; optional?: boolean; rest?: boolean }>;
  /** Options the command sets itself (not flags). */
  fixed?: Record<string, unknown>;
  /** Options not offered as flags. */
  exclude?: string[];
  /**
   * Only these options are flags (besides the positionals): options or sub-options
   * (`pgbackrest.delete_backups`). An allow-list, for the commands that use a few options of a big
   * module (drop, promote): an option a new component adds is not offered where it means nothing.
   */
  only?: string[];
  /** An option the module must have for the command to be available (a feature another change adds). */
  requires?: string;
  /** The command's own flags (not module options). */
  extra?: ExtraFlag[];
  /** Changes something: --dry-run and --diff apply, progress is shown. */
  changes?: boolean;
  /** A destructive command asks first (on a terminal; --yes otherwise). */
  confirm?: (options: Record<string, any>) => string;
  /** Runs another definition than the module's (start, stop...), with the module's flags. */
  definition?: () => ModuleDefinition<any>;
  /** Before validation: fills options from the current state, or refuses (already exists...). */
  prepare?: (options: Record<string, any>, inv: Invocation) => Promise<void>;
  /** A command that is not a module call. */
  run?: (inv: Invocation, options: Record<string, any>) => Promise<number>;
  /** Human output of a module result (default: its msg, or its plan with --dry-run). */
  render?: (result: Record<string, any>, inv: Invocation) => string;
  /** Exit code for a successful result (status: 3 when stopped). */
  exitCode?: (result: Record<string, any>) => number;
}

const NAME = [{ name: 'NAME', option: 'name' }];
const VERSION_FLAG: ExtraFlag = { name: 'version', kind: 'scalar', description: 'PostgreSQL major version of the instance (found on disk when not given).' };
const INSTANCE_FLAG: ExtraFlag = { name: 'instance', short: 'i', kind: 'scalar', description: 'The instance, <version>/<name> or <name> (default: the only instance of the host).' };

/** `15/main` or `main` → name and version. */
export function splitInstance(ref: string): { name: string; version?: string } {
  const m = /^(\d+)\/(.+)$/.exec(ref);
  return m ? { version: m[1], name: m[2] } : { name: ref };
}

/** The instance option of role, database and pgbackrest commands: given, or the host's only one. */
async function defaultInstance(options: Record<string, any>): Promise<void> {
  if (options.instance !== undefined) return;
  const all = listInstances();
  if (all.length !== 1) {
    throw new UsageError(`option 'instance' is required (--instance/-i): ${all.length ? `this host has ${all.length} instances` : 'this host has no instance'}`);
  }
  options.instance = `${all[0].version}/${all[0].name}`;
}

async function mustExist(options: Record<string, any>): Promise<void> {
  try {
    instanceLayout(options.name, options.version);
  } catch (err) {
    if (err instanceof NotFound) throw new CliError(err.message, EXIT.NOT_FOUND);
    throw err;
  }
}

async function refuseExisting(options: Record<string, any>): Promise<void> {
  try {
    const { l } = instanceLayout(options.name, options.version);
    throw new CliError(`instance ${l.id} already exists (use 'socle instance alter')`, EXIT.EXISTS);
  } catch (err) {
    if (!(err instanceof NotFound)) throw err;
  }
}


function serviceDefinition(op: ServiceOp): () => ModuleDefinition<any> {
  return () => ({ name: 'instance', validate: validateInfo, secretPaths: infoSecretPaths, run: serviceOperation(op) });
}

/** A connection to a running instance as its super-user, for the read-only listings. */
async function withInstance<T>(ref: string, database: string, fn: (c: Connection) => Promise<T>): Promise<T> {
  const { name, version } = splitInstance(ref);
  const { settings, l } = instanceLayout(name, version);
  const running = runningState(l.datadir);
  if (!running) throw new CliError(`instance ${l.id} is not running`, EXIT.FAILED);
  return withConnection({ host: running.socketDir || l.socketDir, port: running.port, user: settings.postgresql.surole.name, database }, fn);
}

function printRows(inv: Invocation, rows: object[], columns?: string[]): number {
  if (inv.output === 'json') json(rows);
  else out(table(rows as Array<Record<string, unknown>>, columns));
  return EXIT.OK;
}

function printOne(inv: Invocation, row: object | undefined, what: string): number {
  if (!row) throw new CliError(`${what} does not exist`, EXIT.NOT_FOUND);
  if (inv.output === 'json') json(row);
  else out(facts(row as Record<string, unknown>));
  return EXIT.OK;
}


function newestLog(dir: string): string | null {
  let files: string[] = [];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.log') && !f.endsWith('-startup.log'));
  } catch {
    return null;
  }
  const sorted = files.map((f) => join(dir, f)).sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  return sorted[0] ?? null;
}

export const COMMANDS: Record<string, Record<string, Command>> = {
  instance: {
    create: {
      summary: 'Create an instance (and start it), with its roles and databases',
      module: 'instance', args: NAME, exclude: ['state'], changes: true,
      extra: [{ name: 'stopped', kind: 'bool', description: 'Leave the new instance stopped.' }],
      prepare: async (o, inv) => {
        await refuseExisting(o);
        o.state = inv.extra.stopped ? 'stopped' : 'started';
      },
    },
    alter: {
      summary: 'Change an instance: what is given, everything else kept as it is',
      module: 'instance', args: NAME, exclude: ['state', 'data_checksums', 'locale', 'encoding'], changes: true,
      prepare: async (o) => {
        await mustExist(o);
        // What is given, at any depth, over what the instance is (deepMerge: a sub-option keeps its siblings).
        Object.assign(o, deepMerge(currentManifest(o.name, o.version), o));
      },
    },
    drop: {
      summary: 'Drop an instance: stop it, remove its data, WAL, services and passfile entries',
      module: 'instance', args: NAME, fixed: { state: 'absent' }, changes: true,
      // The stanza's backups are kept unless asked (delete_backups needs the stanza named).
      only: ['version', 'pgbackrest.stanza', 'pgbackrest.delete_backups'],
      confirm: (o) => `Drop instance ${o.version ? `${o.version}/` : ''}${o.name} and all its data?`,
      prepare: mustExist,
    },
    start: { summary: 'Start an instance and its companion services', module: 'instance_info', args: NAME, changes: true, definition: serviceDefinition('start'), prepare: mustExist },
    stop: { summary: 'Stop an instance and its companion services', module: 'instance_info', args: NAME, changes: true, definition: serviceDefinition('stop'), prepare: mustExist },
    restart: { summary: 'Restart an instance (starts it when stopped)', module: 'instance_info', args: NAME, changes: true, definition: serviceDefinition('restart'), prepare: mustExist },
    reload: { summary: 'Reload the configuration of a running instance', module: 'instance_info', args: NAME, changes: true, definition: serviceDefinition('reload'), prepare: mustExist },
    promote: {
      summary: 'Promote a standby instance',
      module: 'instance', args: NAME, changes: true, only: ['version'],
      prepare: async (o) => {
        const cur = currentManifest(o.name, o.version);
        const { l } = instanceLayout(o.name, o.version);
        // The replication component wants the upstream repeated with status: promoted.
        const conninfo = readStandbyConninfo(l.datadir);
        if (conninfo === null) throw new CliError(`instance ${l.id} is not a standby`, EXIT.FAILED);
        Object.assign(o, cur, { state: 'started', standby: { primary_conninfo: conninfo, status: 'promoted' } });
      },
    },
    status: {
      summary: 'Whether an instance runs (exit code 0 running, 3 stopped)',
      module: 'instance_info', args: NAME, prepare: mustExist,
      render: (r) => `instance ${r.version}/${r.name} is ${r.status}`,
      exitCode: (r) => (r.status === 'running' ? EXIT.OK : EXIT.NOT_RUNNING),
    },
    get: {
      summary: 'The facts of an instance (port, status, directories, settings, components)',
      module: 'instance_info', args: NAME, prepare: mustExist,
      render: (r) => facts(Object.fromEntries(Object.entries(r).filter(([k]) => !['changed', 'msg', 'env'].includes(k)))),
    },
    list: {
      summary: 'The instances of this host',
      extra: [VERSION_FLAG],
      run: async (inv) => printRows(inv, listInstances().filter((i) => !inv.extra.version || i.version === inv.extra.version), ['name', 'version', 'port', 'status', 'datadir']),
    },
    env: {
      summary: 'The libpq environment of an instance, as shell exports (eval "$(socle instance env main)")',
      module: 'instance_info', args: NAME, prepare: mustExist,
      render: (r) => Object.entries(r.env as Record<string, string>).map(([k, v]) => `export ${k}=${shellQuote(v)}`).join('\n'),
    },
    logs: {
      summary: 'The end of the newest PostgreSQL log file of an instance',
      args: NAME,
      extra: [
        VERSION_FLAG,
        { name: 'lines', short: 'n', kind: 'scalar', description: 'Number of lines (default 50; 0 for the whole file).' },
        { name: 'follow', kind: 'bool', description: 'Keep printing what the server writes, following it to a new log file (Ctrl-C stops).' },
      ],
      run: async (inv, o) => {
        const { l } = instanceLayout(o.name, inv.extra.version);
        const file = newestLog(l.logDir);
        if (!file) throw new CliError(`instance ${l.id} has no log file in ${l.logDir}`, EXIT.NOT_FOUND);
        const n = inv.extra.lines === undefined ? 50 : Number(inv.extra.lines);
        if (!Number.isInteger(n) || n < 0) throw new UsageError(`--lines must be a whole number, got "${inv.extra.lines}"`);
        const textAll = readFileSync(file, 'utf8');
        process.stdout.write(n === 0 ? textAll : tail(textAll, n) + '\n');
        if (inv.extra.follow) await follow(l.logDir, file, Buffer.byteLength(textAll));
        return EXIT.OK;
      },
    },
    exec: {
      summary: 'Run a command with the environment of an instance: socle instance exec main -- psql -c "SELECT 1"',
      args: [{ name: 'NAME', option: 'name' }, { name: 'COMMAND', rest: true }],
      extra: [VERSION_FLAG],
      run: async (inv, o) => {
        const { settings, l } = instanceLayout(o.name, inv.extra.version);
        const cmd = inv.rest;
        if (!cmd.length) throw new UsageError('exec needs a command after the instance name (socle instance exec NAME -- COMMAND...)');
        const running = runningState(l.datadir);
        const env = { ...process.env, ...envFacts(settings, l, running?.port ?? Number(readPort(l.managedConf) ?? 5432)) };
        return new Promise((resolve) => {
          const child = spawn(cmd[0], cmd.slice(1), { stdio: 'inherit', env });
          child.on('error', (err) => {
            process.stderr.write(`socle: ${cmd[0]}: ${err.message}\n`);
            resolve(127);
          });
          child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 + 15 : 1)));
        });
      },
    },
    backup: {
      summary: 'Take a pgBackRest backup of an instance (incremental by default)',
      module: 'pgbackrest', args: [{ name: 'INSTANCE', option: 'instance' }], fixed: { state: 'backed_up' }, exclude: ['target', 'to'], changes: true,
    },
    backups: {
      summary: "The pgBackRest backups of an instance's stanza",
      module: 'pgbackrest', args: [{ name: 'INSTANCE', option: 'instance' }], fixed: { state: 'info' }, exclude: ['type', 'target', 'to'],
      render: (r) => table(((r.backups as any[]) ?? []).map((b) => ({ label: b.label, type: b.type, start: b.start, stop: b.stop, size: b.size, repo_size: b.repo_size }))),
    },
    restore: {
      summary: 'Restore an instance from its pgBackRest backups (in place, or into a new instance with --to-name/--to-port)',
      module: 'pgbackrest', args: [{ name: 'INSTANCE', option: 'instance' }], fixed: { state: 'restored' }, exclude: ['type'], changes: true,
      confirm: (o) => (o.to ? '' : `Restore instance ${o.instance} in place (its current data is replaced)?`),
    },
  },
  role: {
    create: {
      summary: 'Create a role', module: 'role', args: NAME, exclude: ['state', 'drop_owned', 'reassign_owned'], changes: true,
      prepare: async (o) => {
        await defaultInstance(o);
        const row = await withInstance(o.instance, 'postgres', async (c) => (await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [o.name])).rows[0]);
        if (row) throw new CliError(`role ${o.name} already exists (use 'socle role alter')`, EXIT.EXISTS);
      },
    },
    alter: {
      summary: 'Change a role: what is given, its other attributes kept', module: 'role', args: NAME, exclude: ['state', 'drop_owned', 'reassign_owned'], changes: true,
      prepare: async (o) => {
        await defaultInstance(o);
        const [row] = await withInstance(o.instance, 'postgres', (c) => describeRoles(c, [o.name]));
        if (!row) throw new CliError(`role ${o.name} does not exist`, EXIT.NOT_FOUND);
        // The role module is declarative (an omitted boolean is its default): keep the current ones.
        for (const k of ['login', 'superuser', 'createdb', 'createrole', 'inherit', 'replication', 'bypassrls'] as const) o[k] ??= row[k];
      },
    },
    drop: {
      summary: 'Drop a role', module: 'role', args: NAME, fixed: { state: 'absent' }, changes: true,
      only: ['instance', 'drop_owned', 'reassign_owned'],
      confirm: (o) => `Drop role ${o.name}?`,
      prepare: async (o) => {
        await defaultInstance(o);
        const row = await withInstance(o.instance, 'postgres', async (c) => (await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [o.name])).rows[0]);
        if (!row) throw new CliError(`role ${o.name} does not exist`, EXIT.NOT_FOUND);
      },
    },
    get: {
      summary: 'The attributes of a role', args: NAME, extra: [INSTANCE_FLAG],
      run: async (inv, o) => {
        await defaultInstance(inv.extra);
        const [row] = await withInstance(inv.extra.instance, 'postgres', (c) => describeRoles(c, [o.name]));
        return printOne(inv, row, `role ${o.name}`);
      },
    },
    list: {
      summary: 'The roles of an instance', extra: [INSTANCE_FLAG],
      run: async (inv) => {
        await defaultInstance(inv.extra);
        const rows = await withInstance(inv.extra.instance, 'postgres', (c) => describeRoles(c));
        return printRows(inv, rows, inv.output === 'json' ? undefined : ['name', 'login', 'superuser', 'createdb', 'createrole', 'replication', 'connection_limit', 'valid_until', 'memberships']);
      },
    },
  },
  database: {
    create: {
      summary: 'Create a database', module: 'database', args: NAME, exclude: ['state', 'force_drop', 'dump', 'restore'], changes: true,
      prepare: async (o) => {
        await defaultInstance(o);
        const row = await withInstance(o.instance, 'postgres', async (c) => (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [o.name])).rows[0]);
        if (row) throw new CliError(`database ${o.name} already exists (use 'socle database alter')`, EXIT.EXISTS);
      },
    },
    alter: {
      summary: 'Change a database: what is given, the rest kept', module: 'database', args: NAME,
      // Set at creation only (locale, encoding, template, clone); a dump or a restore is a command of its own.
      exclude: ['state', 'force_drop', 'clone', 'locale', 'encoding', 'template', 'dump', 'restore'], changes: true,
      prepare: async (o) => {
        await defaultInstance(o);
        const row = await withInstance(o.instance, 'postgres', async (c) => (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [o.name])).rows[0]);
        if (!row) throw new CliError(`database ${o.name} does not exist`, EXIT.NOT_FOUND);
      },
    },
    drop: {
      summary: 'Drop a database', module: 'database', args: NAME, fixed: { state: 'absent' }, changes: true,
      // dump: a last dump before the drop.
      only: ['instance', 'force_drop', 'dump'],
      confirm: (o) => `Drop database ${o.name} and all its data?`,
      prepare: async (o) => {
        await defaultInstance(o);
        const row = await withInstance(o.instance, 'postgres', async (c) => (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [o.name])).rows[0]);
        if (!row) throw new CliError(`database ${o.name} does not exist`, EXIT.NOT_FOUND);
      },
    },
    get: {
      summary: 'The properties of a database', args: NAME, extra: [INSTANCE_FLAG],
      run: async (inv, o) => {
        await defaultInstance(inv.extra);
        const [row] = await withInstance(inv.extra.instance, 'postgres', (c) => describeDatabases(c, [o.name]));
        return printOne(inv, row, `database ${o.name}`);
      },
    },
    list: {
      summary: 'The databases of an instance', extra: [INSTANCE_FLAG],
      run: async (inv) => {
        await defaultInstance(inv.extra);
        const rows = await withInstance(inv.extra.instance, 'postgres', (c) => describeDatabases(c));
        return printRows(inv, rows, inv.output === 'json' ? undefined : ['name', 'owner', 'encoding', 'lc_collate', 'tablespace', 'size']);
      },
    },
    // Logical dumps: options of the database module (dump, restore) that the dumps component adds.
    dump: {
      summary: "Dump a database now (pg_dump into the site's dumps directory, retention applied)",
      module: 'database', args: NAME, fixed: { dump: true }, only: ['instance'], requires: 'dump', changes: true,
      prepare: async (o) => databaseMustExist(o),
    },
    dumps: {
      summary: 'The dumps of a database, newest first',
      module: 'database', args: NAME, only: ['instance'], requires: 'dump',
      prepare: async (o) => databaseMustExist(o),
      render: (r) => table(((r.dumps as any[]) ?? []) as Array<Record<string, unknown>>),
    },
    restore: {
      summary: 'Restore a dump of a database (--restore-dump ID|latest|FILE, into --restore-target or in place)',
      module: 'database', args: NAME, only: ['instance', 'restore'], requires: 'restore', changes: true,
      confirm: (o) => (o.restore?.target ? '' : `Restore database ${o.name} in place (its current objects are replaced)?`),
      prepare: async (o) => databaseMustExist(o),
    },
  },
  pgbackrest: {
    info: {
      summary: "pgBackRest's view of an instance's stanza: status, backups, WAL archive",
      module: 'pgbackrest', args: [{ name: 'INSTANCE', option: 'instance' }], fixed: { state: 'info' }, exclude: ['type', 'target', 'to'],
      render: (r) => facts({ stanza: r.stanza, status: r.status, archive: r.archive, backups: r.backups }),
    },
  },
  // Patroni: its module (action: info, switchover, failover) comes with the Patroni satellite.
  patroni: {
    members: {
      summary: "The members of an instance's Patroni cluster", module: 'patroni', args: [{ name: 'INSTANCE', option: 'instance' }], fixed: { action: 'info' }, only: [],
      render: (r) => table(((r.members as any[]) ?? []) as Array<Record<string, unknown>>),
    },
    switchover: { summary: 'Switch the leader over to another member (--candidate)', module: 'patroni', args: [{ name: 'INSTANCE', option: 'instance' }], fixed: { action: 'switchover' }, only: ['candidate', 'timeout'], changes: true },
    failover: { summary: 'Fail over to another member (--candidate)', module: 'patroni', args: [{ name: 'INSTANCE', option: 'instance' }], fixed: { action: 'failover' }, only: ['candidate', 'timeout'], changes: true },
  },
  apply: {
    '': {
      summary: 'Apply a manifest: the instance module\'s options in YAML, with roles and databases (-f FILE, - for stdin)',
      module: 'instance', changes: true, exclude: [],
      extra: [{ name: 'file', short: 'f', kind: 'scalar', description: "YAML file of the instance module's options (`-` reads stdin)." }],
      prepare: async (o, inv) => {
        const file = inv.extra.file;
        if (!file) throw new UsageError("apply needs -f FILE (a YAML mapping of the instance module's options)");
        let text: string;
        try {
          text = readFileSync(file === '-' ? 0 : file, 'utf8');
        } catch (err) {
          throw new UsageError(`-f ${file}: cannot read it: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
        }
        let doc: unknown;
        try {
          doc = loadYaml(text);
        } catch (err) {
          throw new UsageError(`-f ${file}: not valid YAML: ${(err as Error).message.split('\n')[0]}`);
        }
        if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new UsageError(`-f ${file}: expected a YAML mapping of the instance module's options`);
        // Flags given on the command line win over the file, option by option at any depth: a
        // flag of a sub-option (--settings KEY=VALUE, --pgbackrest-schedule-full) keeps the
        // file's other keys of that mapping; a list flag (--roles) replaces the file's list.
        Object.assign(o, deepMerge(doc as Record<string, unknown>, o));
      },
    },
  },
};

/** Prints what is appended to the log, and the next file when the server rotates to one; until Ctrl-C. */
async function follow(dir: string, first: string, offset: number): Promise<never> {
  let file = first;
  let pos = offset;
  for (;;) {
    await new Promise((r) => setTimeout(r, 500));
    const size = existsSync(file) ? statSync(file).size : 0;
    if (size > pos) {
      const fd = openSync(file, 'r');
      const buf = Buffer.alloc(size - pos);
      readSync(fd, buf, 0, buf.length, pos);
      closeSync(fd);
      process.stdout.write(buf);
      pos = size;
    }
    const newest = newestLog(dir);
    if (newest && newest !== file && size <= pos) {
      file = newest;
      pos = 0;
    }
  }
}

async function databaseMustExist(o: Record<string, any>): Promise<void> {
  await defaultInstance(o);
  const row = await withInstance(o.instance, 'postgres', async (c) => (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [o.name])).rows[0]);
  if (!row) throw new CliError(`database ${o.name} does not exist`, EXIT.NOT_FOUND);
}

function readPort(managedConf: string): string | null {
  if (!existsSync(managedConf)) return null;
  return /^port\s*=\s*(\d+)/m.exec(readFileSync(managedConf, 'utf8'))?.[1] ?? null;
}

/** A standby's primary_conninfo as written in postgresql.auto.conf or socle.conf, or null. */
function readStandbyConninfo(datadir: string): string | null {
  if (!existsSync(join(datadir, 'standby.signal'))) return null;
  for (const f of ['postgresql.auto.conf', 'socle.conf', 'postgresql.conf']) {
    const p = join(datadir, f);
    if (!existsSync(p)) continue;
    const m = /^\s*primary_conninfo\s*=\s*'((?:[^']|'')*)'/m.exec(readFileSync(p, 'utf8'));
    if (m) return m[1].replace(/''/g, "'");
  }
  return '';
}

