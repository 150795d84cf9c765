// postgres_exporter next to every instance that declares `prometheus: {port, password}`
// (pglift's prometheus): the monitoring role (member of pg_monitor), the exporter's
// configuration file (0600, its data source with the password) and its service, started and
// stopped with the instance, restarted alone when its password or port changes, removed at
// drop. A standby gets its own exporter (its role comes from the primary: a standby is
// read-only). Facts: the exporter's URL and state.
import { rmSync } from 'node:fs';
import type { ComponentContext, InstanceComponent, SqlContext } from '../../instance/component';
import { effectiveAuth } from '../../instance/config';
import { inRecovery } from '../../instance/layout';
import { privateFileStep } from '../../instance/lifecycle';
import { formatCommand } from '../../exec';
import type { Step } from '../../plan';
import { ModuleError } from '../../runtime';
import { serviceRoleSteps } from '../service-role';
import {
  configText,
  dataSourceUri,
  exporterFiles,
  exporterLeftovers,
  exporterService,
  exporterSite,
  listenAddress,
  metricsUrl,
  passfileText,
  readDefinition,
  type ExporterDefinition,
} from './exporter';

const PASSWORD_METHODS = new Set(['scram-sha-256', 'md5', 'password', 'trust']);

function filesOf(c: ComponentContext) {
  return exporterFiles(c.settings, exporterSite(c.settings), `${c.layout.version}-${c.layout.name}`);
}

/**
 * The definition wanted by the task's options, or (the option not repeated) the one kept in
 * the configuration file. The exporter connects through the socket when the instance's local
 * method takes a password (or none); with `peer` (the default: the owner may only be the
 * super-user) it connects over TCP on loopback, by the host method.
 */
function definition(c: ComponentContext): ExporterDefinition | null {
  const o = c.opts.prometheus;
  if (!o) return readDefinition(filesOf(c));
  const site = exporterSite(c.settings);
  const local = effectiveAuth(c.settings, c.opts.auth).local;
  const host = PASSWORD_METHODS.has(local) ? c.layout.socketDir : '127.0.0.1';
  return {
    dsn: dataSourceUri({ user: site.role, host, port: c.port, dbname: 'postgres' }),
    listen: listenAddress(site, o.port!),
    ...(o.password !== undefined ? { passfile: filesOf(c).passfile } : {}),
  };
}

function check(c: ComponentContext): void {
  const o = c.opts.prometheus;
  if (!o || c.lifecycle === 'drop') return;
  if (o.port === c.port) throw new ModuleError(`option 'prometheus.port': ${o.port} is the instance's own port`);
  if (o.password?.includes('\0')) throw new ModuleError("option 'prometheus.password': must not contain NUL");
}

function configure(c: ComponentContext): Step[] {
  const o = c.opts.prometheus;
  const def = definition(c);
  if (!o || !def) return [];
  const files = filesOf(c);
  const conf = privateFileStep(files.configFile, configText(def), `write the configuration of postgres_exporter ${files.name}`, c.onUndo);
  const pass = o.password !== undefined ? privateFileStep(files.passfile, passfileText(o.password), `write the password of postgres_exporter ${files.name}`, c.onUndo) : null;
  const steps = [conf, pass].filter((s): s is Step => s !== null);
  // A new password alone changes no definition: restart the running exporter here (a changed
  // configuration is restarted by the core's service steps).
  const service = exporterService(c.settings, exporterSite(c.settings), files, def);
  if (pass && !conf && service.isRunning() && c.opts.state !== 'stopped') {
    const r = service.restart();
    steps.push({ change: `restart service ${service.name}`, commands: r.commands, apply: r.run });
  }
  return steps;
}

async function sql(c: SqlContext) {
  // A standby is read-only: its exporter's role is the primary's, replicated.
  if (c.server.inRecovery) return { steps: [] };
  const o = c.opts.prometheus!;
  const site = exporterSite(c.settings);
  const steps = await serviceRoleSteps(await c.session.connection(), { name: site.role, password: o.password, memberOf: 'pg_monitor' }, 'postgres_exporter');
  return { steps };
}

export const prometheusComponent: InstanceComponent = {
  name: 'prometheus',
  // Declared, or left behind by an earlier task (its service follows the instance, drop removes it).
  declared: (c) => c.opts.prometheus !== undefined || readDefinition(filesOf(c)) !== null,
  check,
  configure,
  services(c) {
    const def = definition(c);
    return def ? [exporterService(c.settings, exporterSite(c.settings), filesOf(c), def)] : [];
  },
  // A standby (staying one) has nothing to write: no connection for it.
  needsServer: (c) => c.opts.prometheus !== undefined && c.lifecycle !== 'drop' && !(inRecovery(c.layout) && c.opts.standby?.status !== 'promoted'),
  sql,
  sqlOnCreation: (c) => (c.opts.prometheus && !c.opts.standby ? [`create role ${exporterSite(c.settings).role} (postgres_exporter)`] : []),
  drop(c) {
    const files = exporterLeftovers(filesOf(c));
    if (!files.length) return [];
    return [{
      change: `remove the files of postgres_exporter ${filesOf(c).name}`,
      commands: [formatCommand('rm', ['-f', ...files])],
      apply: async () => files.forEach((f) => rmSync(f, { force: true })),
    }];
  },
  facts(c) {
    const def = definition(c);
    if (!def || c.lifecycle === 'drop') return undefined;
    const service = exporterService(c.settings, exporterSite(c.settings), filesOf(c), def);
    return { url: metricsUrl(def), state: service.isRunning() ? 'running' : 'stopped', service: service.name };
  },
};
