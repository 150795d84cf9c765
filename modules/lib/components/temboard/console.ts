// The temBoard console's HTTP API (temboard 9), as its web UI and `temboard-agent register` use
// it: the console's public signing key (GET /signing.key), a login (POST /json/login, a session
// cookie), an instance's entry (GET / DELETE /json/instances/<agent address>/<agent port>), the
// agent's discovery proxied by the console (GET .../discover: the console reaches the agent with
// its own trust store and signs its request, so `signature_status: valid` proves the agent has
// its key), the registration (POST /json/instances with that discovery), and a move to another
// environment (PUT, keeping the console's plugins, comment and notification choice).
//
// The console's password is read from a private file named by the site settings: it goes into
// the body of the login request only, never into a command line, a result or an error. The
// console's certificate is checked against the site's `temboard.certificate.ca_cert` when given,
// else against the system's CAs.
import { readFileSync, statSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { hostname } from 'node:os';
import { ModuleError } from '../../runtime';
import type { AgentSite } from './agent';

export interface Registration {
  url: string;
  username: string;
  passwordFile: string;
  environment: string;
  /** The address the console reaches the agents at. */
  agentHost: string;
}

/** The registration the site asks for, or null (no console credentials: left to the operator). */
export function registrationOf(site: AgentSite): Registration | null {
  if (!site.uiUrl || !site.uiUsername) return null;
  const wildcard = ['', '0.0.0.0', '::'].includes(site.address);
  return {
    url: site.uiUrl.replace(/\/+$/, ''),
    username: site.uiUsername,
    passwordFile: site.uiPasswordFile ?? '',
    environment: site.uiEnvironment,
    agentHost: site.agentHost ?? (wildcard ? hostname() : site.address),
  };
}

/** The console's password: the first line of a private file (refused when others may read it). */
export function consolePassword(r: Registration): string {
  const f = r.passwordFile;
  if (!f) throw new ModuleError("site setting 'temboard.ui_password_file': required with temboard.ui_username (the console's password, in a private file)");
  let mode: number;
  try {
    mode = statSync(f).mode;
  } catch {
    throw new ModuleError(`site setting 'temboard.ui_password_file': ${f} does not exist`);
  }
  if (mode & 0o077) throw new ModuleError(`site setting 'temboard.ui_password_file': ${f} may be read by others (mode ${(mode & 0o777).toString(8)}); make it 0600`);
  const password = readFileSync(f, 'utf8').split('\n')[0].replace(/\r$/, '');
  if (!password) throw new ModuleError(`site setting 'temboard.ui_password_file': ${f} is empty`);
  return password;
}

/** What GET /json/instances/<address>/<port> tells (temboardui's Instance.asdict). */
export interface ConsoleEntry {
  environment?: string;
  plugins?: string[];
  comment?: string;
  notify?: boolean;
}

interface Answer {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

export class ConsoleClient {
  private cookie: string | null = null;
  private readonly ca: Buffer | undefined;

  constructor(private r: Registration, caCert?: string) {
    this.ca = caCert ? readFileSync(caCert) : undefined;
  }

  private send(method: string, path: string, body?: unknown): Promise<Answer> {
    const url = new URL(this.r.url + path);
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (data) Object.assign(headers, { 'Content-Type': 'application/json', 'Content-Length': String(data.length) });
    if (this.cookie) headers.Cookie = this.cookie;
    const request = url.protocol === 'http:' ? httpRequest : httpsRequest;
    return new Promise((resolve, reject) => {
      const req = request(url, { method, headers, timeout: 30_000, ...(this.ca ? { ca: this.ca } : {}) }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, headers: res.headers }));
      });
      req.on('error', (e) => reject(new ModuleError(`temBoard console at ${this.r.url}: ${method} ${url.pathname}: ${e.message}`)));
      req.on('timeout', () => req.destroy(new Error('no answer in 30 s')));
      req.end(data);
    });
  }

  private fail(what: string, a: Answer): never {
    let reason = a.body.slice(0, 200);
    try {
      const j = JSON.parse(a.body);
      reason = j.error ?? j.message ?? reason;
    } catch {
      /* not JSON: the text */
    }
    throw new ModuleError(`temBoard console at ${this.r.url}: ${what}: HTTP ${a.status} ${String(reason).trim()}`);
  }

  /** The console's public signing key (PEM), which every agent it manages must have. */
  async signingKey(): Promise<string> {
    const a = await this.send('GET', '/signing.key');
    if (a.status !== 200 || !a.body.includes('PUBLIC KEY')) this.fail('GET /signing.key', a);
    return a.body;
  }

  async login(password: string): Promise<void> {
    const a = await this.send('POST', '/json/login', { username: this.r.username, password });
    if (a.status === 401) throw new ModuleError(`temBoard console at ${this.r.url}: login of ${this.r.username} refused (wrong username or password, site setting 'temboard.ui_username' / 'temboard.ui_password_file')`);
    if (a.status !== 200) this.fail(`login of ${this.r.username}`, a);
    const set = ([] as string[]).concat(a.headers['set-cookie'] ?? []);
    const cookie = set.map((c) => c.split(';')[0]).find((c) => c.startsWith('temboard='));
    if (!cookie) this.fail(`login of ${this.r.username} (no session cookie)`, a);
    this.cookie = cookie;
  }

  private instancePath(port: number): string {
    return `/json/instances/${encodeURIComponent(this.r.agentHost)}/${port}`;
  }

  /** The console's entry for the agent on `port` of this host, or null. */
  async instance(port: number): Promise<ConsoleEntry | null> {
    const a = await this.send('GET', this.instancePath(port));
    if (a.status === 404) return null;
    if (a.status !== 200) this.fail(`GET ${this.instancePath(port)}`, a);
    return JSON.parse(a.body);
  }

  /**
   * The agent's discovery through the console, once the console's request is valid for it (an
   * agent just (re)started takes a moment to answer): the proof that the console reaches the
   * agent and that the agent has the console's key.
   */
  async discover(port: number, tries = 120): Promise<Record<string, any>> {
    let last = '';
    for (let i = 0; i < tries; i++) {
      const a = await this.send('GET', `${this.instancePath(port)}/discover`);
      if (a.status === 200) {
        const d = JSON.parse(a.body);
        // The agent answers before it has reached its PostgreSQL (its role may be created just
        // after it started): the console cannot register a discovery without the server's port.
        if (d.signature_status === 'valid' && d.postgres?.port !== undefined) return d;
        last =
          d.signature_status !== 'valid'
            ? `the agent does not have the console's signing key (signature ${d.signature_status})`
            : 'the agent has not reached its PostgreSQL instance yet (no postgres.port in its discovery)';
      } else {
        last = `HTTP ${a.status} ${a.body.slice(0, 200).trim()}`;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new ModuleError(`temBoard console at ${this.r.url}: cannot discover the agent at ${this.r.agentHost}:${port} through the console: ${last}`);
  }

  async register(port: number, discover: Record<string, any>, comment: string): Promise<void> {
    const a = await this.send('POST', '/json/instances', {
      agent_address: this.r.agentHost,
      agent_port: String(port),
      discover,
      discover_etag: null,
      environment: this.r.environment,
      // The console enables those of the agent's plugins it has loaded.
      plugins: discover.temboard?.plugins ?? [],
      notify: false,
      comment,
    });
    if (a.status !== 200) this.fail(`registration of ${this.r.agentHost}:${port} (environment ${this.r.environment})`, a);
  }

  /** Moves a registered instance to the site's environment, keeping what else the console knows. */
  async move(port: number, entry: ConsoleEntry): Promise<void> {
    const a = await this.send('PUT', this.instancePath(port), {
      environment: this.r.environment,
      notify: entry.notify ?? false,
      comment: entry.comment ?? '',
      plugins: entry.plugins ?? [],
    });
    if (a.status !== 200) this.fail(`move of ${this.r.agentHost}:${port} to environment ${this.r.environment}`, a);
  }

  async unregister(port: number): Promise<void> {
    const a = await this.send('DELETE', this.instancePath(port));
    if (a.status !== 200 && a.status !== 404) this.fail(`DELETE ${this.instancePath(port)}`, a);
  }
}
