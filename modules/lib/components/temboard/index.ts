// The temBoard agent next to every instance that declares `temboard: {port, password}` (pglift's
// temboard): the agent's role (a super-user: temBoard administers the instance), its ini file
// (0600, no secret), its passfile (0600) and its home, its service started and stopped with the
// instance, restarted alone when its configuration or password changes, removed at drop. A
// standby gets its own agent (its role comes from the primary: a standby is read-only).
// Facts: the agent's URL and state. Registration with the console is left to the operator.
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import type { ComponentContext, InstanceComponent, SqlContext } from '../../instance/component';
import { effectiveAuth } from '../../instance/config';
import { inRecovery } from '../../instance/layout';
import { privateFileStep } from '../../instance/lifecycle';
import { formatCommand } from '../../exec';
import type { Step } from '../../plan';
import { ModuleError } from '../../runtime';
import { passfileText } from '../prometheus/exporter';
import { serviceRoleSteps } from '../service-role';
import { agentFiles, agentLeftovers, agentService, agentSite, agentUrl, configText, configuredPort, readConfig } from './agent';

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

const withPassfile = (c: ComponentContext) => c.opts.temboard?.password !== undefined || existsSync(filesOf(c).passfile);

function service(c: ComponentContext, config: string) {
  return agentService(c.settings, agentSite(c.settings), filesOf(c), config, withPassfile(c));
}

function check(c: ComponentContext): void {
  const o = c.opts.temboard;
  if (!o || c.lifecycle === 'drop') return;
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
    if (!existsSync(value)) {
      const hint = path === 'temboard.execpath' ? ' (the setup role installs it with socle_temboard_agent: true)' : '';
      throw new ModuleError(`site setting '${path}': ${value} does not exist${hint}`);
    }
  }
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
  // A standby is read-only: its agent's role is the primary's, replicated.
  if (c.server.inRecovery) return { steps: [] };
  const o = c.opts.temboard!;
  const site = agentSite(c.settings);
  const steps = await serviceRoleSteps(await c.session.connection(), { name: site.role, password: o.password, superuser: true }, 'temBoard agent');
  // The agent inspects the instance when it starts (its /discover) and pools its connections: the
  // service steps started it before this phase, so a role just made, or a new password, needs a
  // restart after the role's steps.
  const files = filesOf(c);
  if ((steps.length || passfileChanged.has(files.name)) && agentRuns(c)) {
    const svc = service(c, wantedConfig(c)!);
    const r = svc.restart();
    steps.push({ change: `restart service ${svc.name}`, commands: r.commands, apply: r.run });
  }
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
  needsServer: (c) => c.opts.temboard !== undefined && c.lifecycle !== 'drop' && !staysStandby(c),
  sql,
  sqlOnCreation: (c) =>
    c.opts.temboard && !c.opts.standby
      ? [`create role ${agentSite(c.settings).role} (temBoard agent)`, ...(agentRuns(c) ? [`restart service ${filesOf(c).service}`] : [])]
      : [],
  drop(c) {
    const files = filesOf(c);
    const leftovers = agentLeftovers(files);
    const home = existsSync(files.home) ? [files.home] : [];
    if (!leftovers.length && !home.length) return [];
    return [{
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
