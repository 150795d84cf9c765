// The temBoard console on the instance that declares `temboard_console` (the UI the temBoard agents
// register with; the role socle.postgresql.temboard_console installs it): the instance is its
// repository (role and database `temboard`, the schema brought up to date by
// `temboard migratedb upgrade`), the console runs as a companion service of the instance, its
// `admin` user gets the task's password and its environments are created. Its private files are
// in files.ts. The console is started the first time by the `sql` phase, once its repository is
// ready (before that it would fail at once), and follows the instance after that.
//
// The `sql` phase goes in order, each step applied before the next one is planned (the schema must
// be there to read the admin's password): outside check mode its steps are applied here and
// returned done; in check mode what cannot be read yet is planned in words.
import { chmodSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { dirname, join } from 'node:path';
import type { ComponentContext, InstanceComponent, SqlContext } from '../../instance/component';
import { inRecovery } from '../../instance/layout';
import { privateFileStep } from '../../instance/lifecycle';
import { formatCommand, run } from '../../exec';
import { writePrivateFileAtomic } from '../../fsutil';
import { planDatabases } from '../../database';
import type { Connection } from '../../pg/client';
import type { Step } from '../../plan';
import { ModuleError } from '../../runtime';
import { MASK } from '../../secrets';
import { quoteLiteral } from '../../pg/quote';
import { serviceRoleSteps } from '../service-role';
import type { CompanionService } from '../../daemon';
import {
  REPOSITORY_DB, REPOSITORY_ROLE, configShape, programOf, configText, consoleFiles, consoleService, consoleUrl, hashPassword, readConfig, selfSignedArgs, tlsFiles,
  type ConsoleFiles, type ConsoleOptions,
} from './files';

const ADMIN = 'admin';
const DEFAULT_EXEC = '/opt/socle/temboard-console/bin/temboard';
const WAIT_SECONDS = 90;

const declared = (c: ComponentContext) => c.opts.temboard_console !== undefined || existsSync(consoleFiles(c).conf);

function check(c: ComponentContext): void {
  const o = c.opts.temboard_console;
  if (!o || c.lifecycle === 'drop') return;
  if (c.opts.standby && c.opts.standby.status !== 'promoted') throw new ModuleError("option 'temboard_console': a standby cannot be the console's repository (it is read-only)");
  for (const k of ['password', 'admin_password'] as const) {
    if (/[\0\n\r]/.test(o[k])) throw new ModuleError(`option 'temboard_console.${k}': must not contain NUL or line breaks`);
  }
  if (o.port === c.port) throw new ModuleError(`option 'temboard_console.port': ${c.port} is the instance's own port`);
  if (!existsSync(o.execpath!)) throw new ModuleError(`option 'temboard_console.execpath': ${o.execpath} does not exist (the role socle.postgresql.temboard_console installs it, or scripts/temboard-venv.sh --console)`);
  for (const [path, file] of [['certificate.cert', o.certificate?.cert], ['certificate.key', o.certificate?.key], ['ca_cert', o.ca_cert]] as const) {
    if (file !== undefined && !existsSync(file)) throw new ModuleError(`option 'temboard_console.${path}': ${file} does not exist`);
  }
  // The ini file cannot hold a value on several lines, nor paths with them.
  if ([o.address, o.ca_cert ?? '', o.certificate?.cert ?? '', o.certificate?.key ?? ''].some((v) => /[\n\r]/.test(v!))) {
    throw new ModuleError("option 'temboard_console': paths and address must not contain line breaks");
  }
  const names = o.environments!.map((e) => e.name);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice) throw new ModuleError(`option 'temboard_console.environments': ${twice} is listed twice`);
}

/** The openssl steps: a self-signed certificate (none given) and the signing key pair, made once. */
function keySteps(o: ConsoleOptions, f: ConsoleFiles): Step[] {
  const steps: Step[] = [];
  const tls = tlsFiles(o, f);
  // Written under temporary names, then renamed: a crash leaves no half pair to keep.
  const fresh = async (cmds: Array<[string, string[]]>, outputs: string[]) => {
    mkdirSync(dirname(outputs[0]), { recursive: true, mode: 0o700 });
    for (const [file, args] of cmds) await run(file, args, { timeout: 120 });
    for (const out of outputs) {
      chmodSync(`${out}.new`, 0o600);
      renameSync(`${out}.new`, out);
    }
  };
  if (tls.generated && !(existsSync(tls.cert) && existsSync(tls.key))) {
    const args = selfSignedArgs(o, f, `${tls.key}.new`, `${tls.cert}.new`);
    steps.push({
      change: 'generate a self-signed TLS certificate for the temBoard console',
      commands: [formatCommand('openssl', args)],
      apply: () => fresh([['openssl', args]], [tls.key, tls.cert]),
    });
  }
  if (!(existsSync(f.signingPrivate) && existsSync(f.signingPublic))) {
    const gen: [string, string[]] = ['openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', `${f.signingPrivate}.new`]];
    const pub: [string, string[]] = ['openssl', ['pkey', '-in', `${f.signingPrivate}.new`, '-pubout', '-out', `${f.signingPublic}.new`]];
    steps.push({
      change: "generate the temBoard console's signing key pair",
      commands: [gen, pub].map(([file, args]) => formatCommand(file, args)),
      apply: () => fresh([gen, pub], [f.signingPrivate, f.signingPublic]),
    });
  }
  return steps;
}

function wantedConfig(c: ComponentContext, f: ConsoleFiles): string | null {
  const o = c.opts.temboard_console;
  return o ? configText(c, o, f, readConfig(f)) : readConfig(f);
}

/** The service the task wants (declared, its repository ready) or the one to stop and remove at drop. */
function services(c: ComponentContext): CompanionService[] {
  const f = consoleFiles(c);
  if (!existsSync(f.ready) && c.lifecycle !== 'drop') return [];
  if (!existsSync(f.conf) && !c.opts.temboard_console) return [];
  return [consoleService(c, c.opts.temboard_console?.execpath ?? programOf(readConfig(f)) ?? DEFAULT_EXEC, f)];
}

/** Configurations written by this task (the console reads its own at start only). */
const rewritten = new Set<string>();

function configure(c: ComponentContext): Step[] {
  const o = c.opts.temboard_console;
  if (!o) return [];
  const f = consoleFiles(c);
  const steps = keySteps(o, f);
  const wanted = wantedConfig(c, f)!;
  if (configShape(wanted) !== configShape(readConfig(f))) {
    const write = privateFileStep(f.conf, wanted, `write the configuration of the temBoard console ${f.name}`, c.onUndo)!;
    steps.push({
      ...write,
      apply: async () => {
        mkdirSync(f.home, { recursive: true, mode: 0o700 });
        await write.apply();
      },
    });
    // A new configuration (a password, a port) changes no service definition: the sql phase
    // restarts the console, once the repository's role has the new password.
    rewritten.add(f.conf);
  }
  return steps;
}

/** Runs `temboard migratedb <what>` with the task's configuration (its password stays in the 0600 file). */
function migratedb(o: ConsoleOptions, f: ConsoleFiles, what: 'upgrade') {
  const args = ['-c', f.conf, 'migratedb', what];
  return {
    command: formatCommand(o.execpath!, args),
    run: () => run(o.execpath!, args, { timeout: 300, env: { ...(process.env as Record<string, string>), HOME: f.home } }),
  };
}

/**
 * The newest schema version the installed console knows (the last of its migration files), read
 * with the virtualenv's Python beside `execpath`.
 */
async function targetVersion(o: ConsoleOptions): Promise<string> {
  const code = 'from temboardui.model.migrator import Migrator as M; m = M(); m.inspect_available_versions(); print(m.target_version)';
  const { stdout } = await run(join(dirname(o.execpath!), 'python'), ['-c', code], { timeout: 60 });
  return stdout.trim();
}

/** The repository's schema version (temBoard's schema_migration_log), or null (none, or too old a layout). */
async function currentVersion(conn: Connection): Promise<string | null> {
  const { rows } = await conn.query<{ log: string | null }>("SELECT to_regclass('application.schema_migration_log')::text AS log");
  if (!rows[0].log) return null;
  const { rows: v } = await conn.query<{ version: string }>('SELECT version FROM application.schema_migration_log ORDER BY 1 DESC LIMIT 1');
  return v[0]?.version ?? null;
}

/** A parameterised query as it is shown (its parameters quoted in place; none is a secret). */
const shown = (sql: string, params: string[]) => sql.replace(/\$(\d)/g, (_, i: string) => quoteLiteral(params[Number(i) - 1]));

/** The admin's password and the environments, read from the migrated repository. */
async function applicationSteps(conn: Connection, o: ConsoleOptions): Promise<{ steps: Step[]; before: object; after: object }> {
  const steps: Step[] = [];
  const hash = hashPassword(ADMIN, o.admin_password);
  const { rows } = await conn.query<{ role_password: string }>('SELECT role_password FROM application.roles WHERE role_name = $1', [ADMIN]);
  const sqlStep = (change: string, shown: string, real: string, params: unknown[]): Step => ({
    change,
    queries: [shown],
    apply: async () => void (await conn.query(real, params)),
  });
  if (!rows.length) {
    steps.push(sqlStep(`create temBoard user ${ADMIN}`,
      `INSERT INTO application.roles (role_name, role_password, is_active, is_admin) VALUES ('${ADMIN}', '${MASK}', true, true)`,
      'INSERT INTO application.roles (role_name, role_password, is_active, is_admin) VALUES ($1, $2, true, true)', [ADMIN, hash]));
  } else if (rows[0].role_password !== hash) {
    steps.push(sqlStep(`set the password of temBoard user ${ADMIN}`,
      `UPDATE application.roles SET role_password = '${MASK}' WHERE role_name = '${ADMIN}'`,
      'UPDATE application.roles SET role_password = $2 WHERE role_name = $1', [ADMIN, hash]));
  }
  const { rows: envs } = await conn.query<{ name: string; description: string | null }>('SELECT name, description FROM application.environments ORDER BY name');
  const current = new Map(envs.map((e) => [e.name, e.description ?? '']));
  for (const e of o.environments!) {
    if (!current.has(e.name)) {
      // As temBoard's UI does: the environment and its DBA group `<name>/dba`.
      const sql = 'WITH g AS (INSERT INTO application.groups (name, description) VALUES ($1 || \'/dba\', \'DBA\') RETURNING id) ' +
        'INSERT INTO application.environments (name, description, dba_group_id) SELECT $1, $2, id FROM g';
      steps.push(sqlStep(`create temBoard environment ${e.name}`, shown(sql, [e.name, e.description!]), sql, [e.name, e.description]));
    } else if (current.get(e.name) !== e.description) {
      const sql = 'UPDATE application.environments SET description = $2 WHERE name = $1';
      steps.push(sqlStep(`set the description of temBoard environment ${e.name}`, shown(sql, [e.name, e.description!]), sql, [e.name, e.description]));
    }
  }
  // The admin sees the instances of an environment on its home page as a member of its DBA group
  // (temBoard's UI makes the environment without it).
  const { rows: member } = await conn.query<{ name: string }>(
    'SELECT g.name FROM application.memberships AS m JOIN application.groups AS g ON g.id = m.group_id WHERE m.role_name = $1', [ADMIN]);
  const groups = new Set(member.map((r) => r.name));
  for (const e of o.environments!) {
    if (groups.has(`${e.name}/dba`)) continue;
    const sql = 'INSERT INTO application.memberships (role_name, group_id) SELECT $1, id FROM application.groups WHERE name = $2';
    steps.push(sqlStep(`make temBoard user ${ADMIN} a DBA of environment ${e.name}`, shown(sql, [ADMIN, `${e.name}/dba`]), sql, [ADMIN, `${e.name}/dba`]));
  }
  const view = (m: Map<string, string>) => Object.fromEntries([...m].map(([k, v]) => [k, { description: v }]));
  const after = new Map(current);
  for (const e of o.environments!) after.set(e.name, e.description!);
  return { steps, before: { environments: view(current) }, after: { environments: view(after) } };
}

/** Until the console answers HTTPS on its port (its certificate is not what is checked here). */
async function waitAnswer(url: string, log: string): Promise<void> {
  const once = () => new Promise<number>((resolve) => {
    const req = request(`${url}/signing.key`, { rejectUnauthorized: false, timeout: 5000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
  const end = Date.now() + WAIT_SECONDS * 1000;
  let status = 0;
  while (Date.now() < end) {
    status = await once();
    if (status === 200) return;
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new ModuleError(`the temBoard console does not answer at ${url} after ${WAIT_SECONDS} s (last HTTP status ${status || 'none'}); see ${log}`);
}

async function sql(c: SqlContext) {
  const o = c.opts.temboard_console!;
  const f = consoleFiles(c);
  const check = c.module.checkMode;
  const done: Step[] = [];
  // Outside check mode a step is applied as soon as it is planned (the next one reads its result).
  const take = async (steps: Step[]) => {
    for (const s of steps) {
      if (!check) await s.apply();
      done.push({ ...s, apply: async () => undefined });
    }
  };
  const conn = await c.session.connection();
  await take(await serviceRoleSteps(conn, { name: REPOSITORY_ROLE, password: o.password }, 'temBoard repository'));
  c.server.plannedRoles.add(REPOSITORY_ROLE);
  const db = await planDatabases(c.session, [{ name: REPOSITORY_DB, owner: REPOSITORY_ROLE, state: 'present', force_drop: false }], {
    optionPath: (_i, p) => `temboard_console (database ${REPOSITORY_DB}).${p}`,
    plannedRoles: c.server.plannedRoles,
  });
  await take(db.steps);
  let before: object = {};
  let after: object = {};
  // In check mode, a repository still to make cannot be looked into.
  const exists = !(check && db.steps.length);
  const upgrade = migratedb(o, f, 'upgrade');
  const repo = exists ? await c.session.connection(REPOSITORY_DB) : null;
  const current = repo === null ? null : await currentVersion(repo);
  // Version names sort in order (`013_alerting-index.sql`); a newer schema is left as it is.
  const migrated = current !== null && current >= (await targetVersion(o));
  if (!migrated) {
    await take([{ change: `upgrade the temBoard repository ${c.layout.id}/${REPOSITORY_DB}`, commands: [upgrade.command], apply: async () => void (await upgrade.run()) }]);
  }
  if (!check || migrated) {
    const app = await applicationSteps(repo ?? (await c.session.connection(REPOSITORY_DB)), o);
    await take(app.steps);
    ({ before, after } = app);
  } else {
    // Planned in words: the schema that holds them is not there yet.
    done.push({ change: `set the password of temBoard user ${ADMIN}`, apply: async () => undefined });
    for (const e of o.environments!) {
      done.push({ change: `create temBoard environment ${e.name}`, apply: async () => undefined });
      done.push({ change: `make temBoard user ${ADMIN} a DBA of environment ${e.name}`, apply: async () => undefined });
    }
  }
  // The console itself: started the first time here (then with the instance), and waited for.
  const steps: Step[] = [...done];
  if (c.opts.state !== 'stopped') {
    const svc = consoleService(c, o.execpath!, f);
    // The first time (not yet among the instance's services) its unit is written here too.
    if (!svc.isInstalled()) {
      const i = svc.install();
      if (i.commands.length) steps.push({ change: `install service ${svc.name}`, commands: i.commands, apply: i.run });
    }
    if (!svc.isRunning()) {
      const a = svc.start();
      steps.push({ change: `start service ${svc.name}`, commands: a.commands, apply: a.run });
    } else if (rewritten.has(f.conf)) {
      const a = svc.restart();
      steps.push({ change: `restart service ${svc.name}`, commands: a.commands, apply: a.run });
    }
    if (!existsSync(f.ready)) {
      steps.push({ change: 'mark the temBoard repository ready', counts: false, commands: [], apply: async () => writePrivateFileAtomic(f.ready, 'ready\n') });
    }
    const url = consoleUrl(o);
    steps.push({ change: `wait until the temBoard console answers at ${url}`, counts: false, commands: [], apply: () => waitAnswer(url, f.log) });
  }
  return { steps, before, after };
}

export const temboardConsoleComponent: InstanceComponent = {
  name: 'temboard_console',
  declared,
  check,
  configure,
  services,
  needsServer: (c) => c.opts.temboard_console !== undefined && c.lifecycle !== 'drop' && !inRecovery(c.layout),
  sql,
  sqlOnCreation: (c) => {
    const o = c.opts.temboard_console;
    if (!o) return [];
    return [
      `create role ${REPOSITORY_ROLE} (temBoard repository)`,
      `create database ${REPOSITORY_DB}`,
      `upgrade the temBoard repository ${c.layout.id}/${REPOSITORY_DB}`,
      `set the password of temBoard user ${ADMIN}`,
      ...o.environments!.flatMap((e) => [`create temBoard environment ${e.name}`, `make temBoard user ${ADMIN} a DBA of environment ${e.name}`]),
      `start service ${consoleService(c, o.execpath!, consoleFiles(c)).name}`,
    ];
  },
  drop(c) {
    const f = consoleFiles(c);
    if (!existsSync(f.dir)) return [];
    return [{ change: `remove the temBoard console files of instance ${c.layout.id}`, commands: [formatCommand('rm', ['-rf', f.dir])], apply: async () => rmSync(f.dir, { recursive: true, force: true }) }];
  },
  facts(c) {
    if (!declared(c) || c.lifecycle === 'drop') return undefined;
    const o = c.opts.temboard_console;
    const svc = services(c)[0];
    return {
      ...(o ? { url: consoleUrl(o) } : {}),
      config: consoleFiles(c).conf,
      service: svc?.name ?? null,
      state: svc?.isRunning() ? 'running' : 'stopped',
    };
  },
};
