// The temBoard agent next to every instance that declares `temboard: {port, password}` (pglift's
// temboard): the agent's role (a super-user: temBoard administers the instance), its ini file
// (0600, no secret), its passfile (0600) and its home, its service started and stopped with the
// instance, restarted alone when its configuration or password changes, removed at drop. A
// standby gets its own agent (its role comes from the primary: a standby is read-only).
// Facts: the agent's URL and state. When the site gives the console's URL and credentials, the
// agent is registered with the console (console.ts) in the `sql` phase, the last one (the agent
// runs and has its role by then), and removed from it at drop.
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ComponentContext, InstanceComponent, SqlContext } from '../../instance/component';
import { effectiveAuth } from '../../instance/config';
import { inRecovery } from '../../instance/layout';
import { privateFileStep } from '../../instance/lifecycle';
import { formatCommand } from '../../exec';
import { readTextOr, whyNotWritable, writeFileAtomic } from '../../fsutil';
import type { Step } from '../../plan';
import { ModuleError } from '../../runtime';
import { passfileText } from '../prometheus/exporter';
import { serviceRoleSteps } from '../service-role';
import { agentFiles, agentLeftovers, agentService, agentSite, agentUrl, configText, configuredPort, readConfig } from './agent';
import { ConsoleClient, consolePassword, registrationOf, type Registration } from './console';

// temboard-agent connects through the socket only (its `host` must be a directory): the local
// method must let a role other than the owner in.
const SOCKET_METHODS = new Set(['scram-sha-256', 'md5', 'password', 'trust']);

function filesOf(c: ComponentContext) {
  return agentFiles(c.settings, agentSite(c.settings), `${c.layout.version}-${c.layout.name}`);
}

/** The ini text the task wants, or (the option not repeated) the one on disk, or null. */
function wantedConfig(c: ComponentContext): string | null {
  const o = c.opts.temboard;
  if (!o) return readConfig(filesOf(c));
  const site = agentSite(c.settings);
  return configText({
    port: o.port!,
    address: site.address,
    plugins: site.plugins,
    cert: site.certificate.cert!,
    key: site.certificate.key!,
    caCert: site.certificate.caCert,
    signingKey: site.signingKey!,
    uiUrl: site.uiUrl,
    home: filesOf(c).home,
    pgHost: c.layout.socketDir,
    pgPort: c.port,
    user: site.role,
    instance: filesOf(c).name,
  });
}

const site = (c: ComponentContext) => agentSite(c.settings);
const withPassfile = (c: ComponentContext) => c.opts.temboard?.password !== undefined || existsSync(filesOf(c).passfile);

// What check() learns from the console, for the phases after it (same process, same task):
// the console's signing key, a logged-in client, and the agent's port before this task.
const consoleKeys = new Map<string, string>();
const consoles = new Map<string, ConsoleClient>();
const portsBefore = new Map<string, number | null>();
/** At drop: the ports the console has an entry for. */
const registeredAtDrop = new Map<string, number[]>();

/** The signing key the agent runs with once the task is done: the console's, or the file's. */
const wantedKey = (c: ComponentContext) => consoleKeys.get(filesOf(c).name) ?? readTextOr(agentSite(c.settings).signingKey ?? '', '');

function service(c: ComponentContext, config: string) {
  return agentService(c.settings, agentSite(c.settings), filesOf(c), `${config}\n${wantedKey(c)}`, withPassfile(c));
}

async function consoleFor(c: ComponentContext, reg: Registration): Promise<ConsoleClient> {
  const name = filesOf(c).name;
  let client = consoles.get(name);
  if (!client) {
    const ca = agentSite(c.settings).certificate.caCert;
    if (ca && !existsSync(ca)) throw new ModuleError(`site setting 'temboard.certificate.ca_cert': ${ca} does not exist`);
    client = new ConsoleClient(reg, ca);
    await client.login(consolePassword(reg));
    consoles.set(name, client);
  }
  return client;
}

/** Before anything is written: the console answers, takes the credentials, and gives its key. */
async function checkConsole(c: ComponentContext, reg: Registration): Promise<void> {
  const files = filesOf(c);
  const client = await consoleFor(c, reg);
  const before = readConfig(files);
  portsBefore.set(files.name, before === null ? null : configuredPort(before));
  if (c.lifecycle === 'drop') {
    const port = portsBefore.get(files.name);
    registeredAtDrop.set(files.name, port && (await client.instance(port)) ? [port] : []);
    return;
  }
  const key = await client.signingKey();
  consoleKeys.set(files.name, key);
  const keyFile = site(c).signingKey!;
  const why = existsSync(dirname(keyFile)) && readTextOr(keyFile, null) !== key ? whyNotWritable(keyFile) : null;
  if (why) throw new ModuleError(`site setting 'temboard.signing_key': the console's key cannot be written to ${keyFile}: ${why}`);
}

/** Steps that put the agent in the console (and take a moved agent's old port out). */
async function registrationSteps(c: ComponentContext, reg: Registration): Promise<Step[]> {
  const files = filesOf(c);
  const client = await consoleFor(c, reg);
  const port = c.opts.temboard!.port!;
  const steps: Step[] = [];
  const old = portsBefore.get(files.name);
  const at = (p: number) => `${reg.url}/json/instances/${reg.agentHost}/${p}`;
  if (old && old !== port && (await client.instance(old))) {
    steps.push({
      change: `unregister temBoard agent ${files.name} (old port ${old}) from the console`,
      commands: [`DELETE ${at(old)}`],
      apply: () => client.unregister(old),
    });
  }
  const entry = await client.instance(port);
  if (entry && entry.environment !== reg.environment) {
    steps.push({
      change: `move temBoard agent ${files.name} to the console's environment ${reg.environment} (from ${entry.environment})`,
      commands: [`PUT ${at(port)}`],
      apply: () => client.move(port, entry),
    });
  }
  if (!entry) {
    steps.push({
      change: `register temBoard agent ${files.name} with the console as ${reg.agentHost}:${port} (environment ${reg.environment})`,
      commands: [`GET ${at(port)}/discover`, `POST ${reg.url}/json/instances`],
      async apply() {
        const discover = await client.discover(port);
        await client.register(port, discover, `PostgreSQL instance ${files.name}, registered by socle.postgresql`);
        c.onUndo(() => client.unregister(port));
      },
    });
  }
  return steps;
}

async function check(c: ComponentContext): Promise<void> {
  const o = c.opts.temboard;
  const reg = registrationOf(agentSite(c.settings));
  if (c.lifecycle === 'drop') {
    if (reg) await checkConsole(c, reg);
    return;
  }
  if (!o) return;
  if (o.port === c.port) throw new ModuleError(`option 'temboard.port': ${o.port} is the instance's own port`);
  if (o.password?.includes('\0')) throw new ModuleError("option 'temboard.password': must not contain NUL");
  const local = effectiveAuth(c.settings, c.opts.auth).local;
  if (!SOCKET_METHODS.has(local)) {
    throw new ModuleError(
      `option 'temboard': the agent connects through the instance's socket as role ${agentSite(c.settings).role}, which local method '${local}' refuses; ` +
        "set option 'auth.local' (or the site's postgresql.auth.local) to scram-sha-256",
    );
  }
  const site = agentSite(c.settings);
  const needed: Array<[string, string | undefined]> = [
    ['temboard.execpath', site.execpath],
    ['temboard.certificate.cert', site.certificate.cert],
    ['temboard.certificate.key', site.certificate.key],
    ['temboard.signing_key', site.signingKey],
  ];
  if (site.certificate.caCert !== undefined) needed.push(['temboard.certificate.ca_cert', site.certificate.caCert]);
  for (const [path, value] of needed) {
    if (!value) throw new ModuleError(`option 'temboard': the site settings give no ${path} (required to run a temBoard agent)`);
    // The agent's ini parser refuses a quoted value and reads one line per option.
    if (/[\n\r]/.test(value) || /^['"]/.test(value)) throw new ModuleError(`site setting '${path}': must not contain a line break or start with a quote`);
    // With a console to register with, the task fetches the console's key (checkConsole).
    if (!existsSync(value) && !(reg && path === 'temboard.signing_key')) {
      const hint = path === 'temboard.execpath' ? ' (the setup role installs it with socle_temboard_agent: true)' : '';
      throw new ModuleError(`site setting '${path}': ${value} does not exist${hint}`);
    }
  }
  if (reg) await checkConsole(c, reg);
}

function configure(c: ComponentContext): Step[] {
  const o = c.opts.temboard;
  const config = wantedConfig(c);
  if (!o || config === null) return [];
  const files = filesOf(c);
  const steps: Step[] = [];
  if (!existsSync(files.home)) {
    steps.push({
      change: `create the home of temBoard agent ${files.name}`,
      commands: [formatCommand('mkdir', ['-p', '-m', '0700', files.home])],
      async apply() {
        mkdirSync(files.home, { recursive: true, mode: 0o700 });
        c.onUndo(async () => rmSync(files.home, { recursive: true, force: true }));
      },
    });
  }
  const key = consoleKeys.get(files.name);
  const keyFile = site(c).signingKey!;
  const keyBefore = readTextOr(keyFile, null);
  if (key !== undefined && key !== keyBefore) {
    // Shared by the host's agents (a public key): each one restarts at its next task (the key is
    // in its service's definition).
    steps.push({
      change: `write the console's signing key to ${keyFile}`,
      commands: [`write ${keyFile} (mode 0644)`],
      async apply() {
        mkdirSync(dirname(keyFile), { recursive: true });
        writeFileAtomic(keyFile, key);
        c.onUndo(async () => (keyBefore === null ? rmSync(keyFile, { force: true }) : writeFileAtomic(keyFile, keyBefore)));
      },
    });
  }
  const conf = privateFileStep(files.configFile, config, `write the configuration of temBoard agent ${files.name}`, c.onUndo);
  const pass = o.password !== undefined ? privateFileStep(files.passfile, passfileText(o.password), `write the password of temBoard agent ${files.name}`, c.onUndo) : null;
  steps.push(...[conf, pass].filter((s): s is Step => s !== null));
  // A new password alone changes no definition (a changed ini file is restarted by the core's
  // service steps: its digest is in the service's environment). On a primary the agent is
  // restarted by the `sql` phase, once its role has the new password; a standby (no `sql`
  // phase: its role is the primary's) restarts it here.
  if (pass && !conf) {
    const svc = service(c, config);
    if (!staysStandby(c)) passfileChanged.add(files.name);
    else if (svc.isRunning() && c.opts.state !== 'stopped') {
      const r = svc.restart();
      steps.push({ change: `restart service ${svc.name}`, commands: r.commands, apply: r.run });
    }
  }
  return steps;
}

/** Agents whose passfile this task rewrites (configure runs before sql, in the same process). */
const passfileChanged = new Set<string>();

const staysStandby = (c: ComponentContext) => inRecovery(c.layout) && c.opts.standby?.status !== 'promoted';

/** Whether the agent runs once the task's service steps are done (they run before the `sql` phase). */
const agentRuns = (c: ComponentContext) => c.opts.state !== 'stopped' && c.opts.state !== 'absent';

async function sql(c: SqlContext) {
  const o = c.opts.temboard!;
  const reg = registrationOf(site(c));
  const registration = async () => (reg && agentRuns(c) ? registrationSteps(c, reg) : []);
  // A standby is read-only: its agent's role is the primary's, replicated.
  if (c.server.inRecovery) return { steps: await registration() };
  const steps = await serviceRoleSteps(await c.session.connection(), { name: site(c).role, password: o.password, superuser: true }, 'temBoard agent');
  // The agent inspects the instance when it starts (its /discover) and pools its connections: the
  // service steps started it before this phase, so a role just made, or a new password, needs a
  // restart after the role's steps.
  const files = filesOf(c);
  if ((steps.length || passfileChanged.has(files.name)) && agentRuns(c)) {
    const svc = service(c, wantedConfig(c)!);
    const r = svc.restart();
    steps.push({ change: `restart service ${svc.name}`, commands: r.commands, apply: r.run });
  }
  steps.push(...(await registration()));
  return { steps };
}

export const temboardComponent: InstanceComponent = {
  name: 'temboard',
  // Declared, or left behind by an earlier task (its service follows the instance, drop removes it).
  declared: (c) => c.opts.temboard !== undefined || readConfig(filesOf(c)) !== null,
  check,
  configure,
  services(c) {
    const config = wantedConfig(c);
    return config === null ? [] : [service(c, config)];
  },
  // A standby's agent needs the phase for its registration only.
  needsServer: (c) =>
    c.opts.temboard !== undefined && c.lifecycle !== 'drop' && (!staysStandby(c) || (registrationOf(site(c)) !== null && agentRuns(c))),
  sql,
  sqlOnCreation(c) {
    if (!c.opts.temboard) return [];
    const reg = registrationOf(site(c));
    const port = c.opts.temboard.port!;
    return [
      ...(!c.opts.standby ? [`create role ${site(c).role} (temBoard agent)`, ...(agentRuns(c) ? [`restart service ${filesOf(c).service}`] : [])] : []),
      ...(reg && agentRuns(c) ? [`register temBoard agent ${filesOf(c).name} with the console as ${reg.agentHost}:${port} (environment ${reg.environment})`] : []),
    ];
  },
  drop(c) {
    const files = filesOf(c);
    const reg = registrationOf(site(c));
    const unregister: Step[] = (registeredAtDrop.get(files.name) ?? []).map((port) => ({
      change: `unregister temBoard agent ${files.name} from the console`,
      commands: [`DELETE ${reg!.url}/json/instances/${reg!.agentHost}/${port}`],
      apply: () => consoles.get(files.name)!.unregister(port),
    }));
    const leftovers = agentLeftovers(files);
    const home = existsSync(files.home) ? [files.home] : [];
    if (!leftovers.length && !home.length) return unregister;
    return [...unregister, {
      change: `remove the files of temBoard agent ${files.name}`,
      commands: [formatCommand('rm', ['-rf', ...leftovers, ...home])],
      apply: async () => [...leftovers, ...home].forEach((f) => rmSync(f, { recursive: true, force: true })),
    }];
  },
  facts(c) {
    const config = wantedConfig(c);
    if (config === null || c.lifecycle === 'drop') return undefined;
    const port = configuredPort(config) ?? c.opts.temboard?.port ?? 2345;
    const svc = service(c, config);
    return { url: agentUrl(agentSite(c.settings).address, port), state: svc.isRunning() ? 'running' : 'stopped', service: svc.name };
  },
};
