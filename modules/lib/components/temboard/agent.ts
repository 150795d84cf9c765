// A temBoard agent (PyPI temboard-agent 9): its site settings, files, configuration and service.
// One agent per instance, named `<version>-<instance>` (pglift's layout).
//
// The agent reads an ini file (mode 0600) that holds no secret: the role's password is in a
// private passfile (0600) that the agent's libpq reads (PGPASSFILE in its environment). The ini
// parser refuses quoted values and its `password` would be in a file the operator may copy into a
// ticket; a passfile takes any password, spaces and quotes included.
//
// The agent reads its ini file (and the console's signing key it names) only at start, so the
// service's environment carries a digest of the ini text and of the key (they hold no secret): a
// changed configuration or key changes the service's definition,
// and the core's service steps restart the agent (a systemd unit's environment file differs, or
// a supervised process's definition does; see daemon.ts).
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { daemonService, type CompanionService } from '../../daemon';
import { readTextOr } from '../../fsutil';
import { sitePath, type SiteSettings } from '../../settings';

export interface AgentSite {
  execpath: string;
  role: string;
  configpath: string;
  pidFile: string;
  home: string;
  logpath: string;
  address: string;
  plugins: string[];
  certificate: { caCert?: string; cert?: string; key?: string };
  uiUrl?: string;
  uiUsername?: string;
  uiPasswordFile?: string;
  uiEnvironment: string;
  agentHost?: string;
  signingKey?: string;
}

/** The site's `temboard` section; its defaults come from the schema (applied when the settings are read). */
export function agentSite(settings: SiteSettings): AgentSite {
  const t = settings.raw.temboard!;
  return {
    execpath: t.execpath!,
    role: t.role!,
    configpath: t.configpath!,
    pidFile: t.pid_file!,
    home: t.home!,
    logpath: t.logpath!,
    address: t.address!,
    plugins: t.plugins!,
    certificate: { caCert: t.certificate?.ca_cert, cert: t.certificate?.cert, key: t.certificate?.key },
    uiUrl: t.ui_url,
    uiUsername: t.ui_username,
    uiPasswordFile: t.ui_password_file,
    uiEnvironment: t.ui_environment!,
    agentHost: t.agent_host,
    signingKey: t.signing_key,
  };
}

export interface AgentFiles {
  name: string;
  service: string;
  configFile: string;
  passfile: string;
  pidFile: string;
  logFile: string;
  home: string;
}

export function agentFiles(settings: SiteSettings, site: AgentSite, name: string): AgentFiles {
  const configFile = sitePath(settings, site.configpath, { name });
  return {
    name,
    service: `socle-temboard_agent-${name}`,
    configFile,
    passfile: configFile.replace(/(\.conf)?$/, '.pgpass'),
    pidFile: sitePath(settings, site.pidFile, { name }),
    logFile: join(sitePath(settings, site.logpath, { name }), `temboard_agent_${name}.log`),
    home: sitePath(settings, site.home, { name }),
  };
}

/** What the ini file says. */
export interface AgentConfig {
  port: number;
  address: string;
  plugins: string[];
  cert: string;
  key: string;
  caCert?: string;
  signingKey: string;
  uiUrl?: string;
  home: string;
  /** The instance's socket directory (the agent takes a directory only, never a TCP host). */
  pgHost: string;
  pgPort: number;
  user: string;
  instance: string;
}

/** The ini text (temboard-agent refuses quoted values: none is quoted, paths are checked). */
export function configText(c: AgentConfig): string {
  const line = (k: string, v: string | number | undefined) => (v === undefined ? [] : [`${k} = ${v}`]);
  return [
    '# Written by socle.postgresql; changes are overwritten.',
    '[temboard]',
    ...line('port', c.port),
    ...line('address', c.address),
    ...line('plugins', JSON.stringify(c.plugins)),
    ...line('ssl_cert_file', c.cert),
    ...line('ssl_key_file', c.key),
    ...line('ssl_ca_cert_file', c.caCert),
    ...line('signing_public_key', c.signingKey),
    ...line('ui_url', c.uiUrl),
    ...line('home', c.home),
    '',
    '[postgresql]',
    ...line('host', c.pgHost),
    ...line('port', c.pgPort),
    ...line('user', c.user),
    ...line('dbname', 'postgres'),
    // Not read by the agent 9 (it discovers the instance): kept for the operator, as pglift does.
    ...line('instance', c.instance),
    '',
    '[logging]',
    // Its output goes to the service's log file (logpath).
    ...line('method', 'stderr'),
    ...line('level', 'INFO'),
    '',
  ].join('\n');
}

/** The agent's port, read back from the ini text (for a task that does not repeat the option). */
export function configuredPort(text: string): number | null {
  const section = /\[temboard\]([\s\S]*?)(?:\n\[|$)/.exec(text)?.[1] ?? '';
  const m = /^port = (\d+)$/m.exec(section);
  return m ? Number(m[1]) : null;
}

/** `definition`: the ini text and the signing key's text (see the header). */
export function agentService(settings: SiteSettings, site: AgentSite, files: AgentFiles, definition: string, withPassfile: boolean): CompanionService {
  return daemonService(settings, {
    name: files.service,
    description: `temBoard agent ${files.name}`,
    argv: [site.execpath, '--config', files.configFile, 'serve'],
    env: {
      ...(withPassfile ? { PGPASSFILE: files.passfile } : {}),
      // See the header: a changed ini file is a changed definition.
      SOCLE_TEMBOARD_CONFIG_SHA256: createHash('sha256').update(definition).digest('hex'),
    },
    logFile: files.logFile,
    pidFile: files.pidFile,
  });
}

export function agentUrl(address: string, port: number): string {
  const host = address === '0.0.0.0' || address === '' ? '127.0.0.1' : address === '::' ? '[::1]' : address.includes(':') ? `[${address}]` : address;
  return `https://${host}:${port}`;
}

/** The agent's files that may exist (for removal), the pid file's definition included; its home is apart. */
export function agentLeftovers(files: AgentFiles): string[] {
  const def = join(dirname(files.pidFile), `${basename(files.pidFile).replace(/\.pid$/, '')}.def`);
  return [files.configFile, files.passfile, files.logFile, def].filter((f) => existsSync(f));
}

export function readConfig(files: AgentFiles): string | null {
  return readTextOr(files.configFile, null);
}
