// End to end: the temboard_console role from the tarball, on this host without systemd (the
// console a supervised process): its repository instance, `temboard migratedb upgrade`, the
// console answering on its own port with the self-signed certificate the role generated, the
// admin's password from the play (admin/admin refused), an environment made by the role; then
// an instance of the inventory whose temBoard agent registers with the console through the site
// settings (ui_url, ui_username, ui_password_file, ui_environment) and is listed by its API. A
// re-run changes nothing; no secret in the output, in files others than the console's
// configuration and the password file, or on command lines. Skipped when the console's
// virtualenv is missing (scripts/temboard-venv.sh --console, run by scripts/test.sh as root).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { userInfo } from 'node:os';
import { dump } from 'js-yaml';
import { ansiblePlaybook, installCollection, type PlaybookRun } from '../helpers/ansible';
import { freePort, makeSandbox, type Sandbox } from '../helpers/sandbox';
import { watchSecrets, type SecretsCheck } from '../helpers/secrets';
import { testedMajor } from '../helpers/versions';

jest.setTimeout(300_000);

const VENV = '/opt/socle/temboard-console';
const HAVE = existsSync(join(VENV, 'bin/temboard')) && existsSync(join(VENV, 'bin/temboard-agent'));
if (!HAVE) {
  // eslint-disable-next-line no-console
  console.warn(`temboard_console role test skipped: no ${VENV} (run scripts/temboard-venv.sh --console as root)`);
}
const testIf = HAVE ? test : test.skip;

const MAJOR = testedMajor();
// The repository's password has characters temBoard's URL of the repository must carry quoted.
const SECRETS = { repo: 'Rep0:tb@/%?#-9kQ', admin: 'Adm1n-c0nsole-7Wp', su: 'Su-secret-4Rt', agent: 'Ag3nt-secret-2Lx', repo2: "Rep0-n3w 'pass' \\x", admin2: 'Adm1n-n3w-5Tz' };
// The passwords of the plays (changed by a test), the certificate given to the console (none:
// the self-signed one), and the CA the test checks the console's certificate with.
const current: { repo: string; admin: string; certificate?: { cert: string; key: string }; ca?: string } = { repo: SECRETS.repo, admin: SECRETS.admin };
let sb: Sandbox;
let env: NodeJS.ProcessEnv;
let secrets: SecretsCheck;
let ports: { repo: number; console: number; pg: number; agent: number };
const files: Record<string, string> = {};

interface Plays {
  extra?: string[];
  /** Only the console's play. */
  consoleOnly?: boolean;
  /** The repository instance's state. */
  state?: string;
}

function runPlays({ extra = [], consoleOnly = false, state = 'started' }: Plays = {}): PlaybookRun {
  const inventory = files.inventory;
  const shop = {
    name: 'shop',
    port: ports.pg,
    settings: { listen_addresses: '127.0.0.1' },
    auth: { local: 'scram-sha-256' },
    surole_password: SECRETS.su,
    temboard: { port: ports.agent, password: SECRETS.agent },
  };
  writeFileSync(inventory, dump({ all: { hosts: { localhost: { ansible_connection: 'local', ansible_host: '127.0.0.1', socle_instances: [shop] } } } }));
  const common = { hosts: 'localhost', gather_facts: false, environment: { SOCLE_SETTINGS: sb.settingsFile }, vars: { socle_user: userInfo().username } };
  writeFileSync(files.play, dump([
    {
      ...common,
      roles: [{
        role: 'socle.postgresql.temboard_console',
        vars: {
          socle_temboard_console_install: false,
          socle_temboard_console_venv: VENV,
          socle_temboard_console_repository: { name: 'tbrepo', port: ports.repo, state, settings: { listen_addresses: '127.0.0.1', log_statement: 'all' } },
          socle_temboard_console_password: current.repo,
          socle_temboard_console_admin_password: current.admin,
          socle_temboard_console_address: '127.0.0.1',
          socle_temboard_console_port: ports.console,
          socle_temboard_console_environments: [{ name: 'production', description: 'The shop in production' }],
          ...(current.certificate ? { socle_temboard_console_certificate: current.certificate } : {}),
        },
      }],
    },
    ...(consoleOnly ? [] : [{ ...common, roles: ['socle.postgresql.instance'] }]),
  ]));
  return ansiblePlaybook(env, ['-i', inventory, files.play, ...extra]);
}

/** A request to the console, its certificate checked against the one the role generated. */
function api(method: string, path: string, body?: unknown, cookie = ''): Promise<{ status: number; json: any; cookie: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `https://127.0.0.1:${ports.console}${path}`,
      // No kept-alive socket: one to a console since restarted would hang up.
      { method, agent: false, ca: readFileSync(current.ca ?? files.consoleCert), headers: { 'Content-Type': 'application/json', ...(cookie ? { Cookie: cookie } : {}) } },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => {
          const set = ([] as string[]).concat(res.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]).find((c) => c.startsWith('temboard='));
          let json: unknown = text;
          try {
            json = JSON.parse(text);
          } catch {
            /* not JSON */
          }
          resolve({ status: res.statusCode ?? 0, json, cookie: set ?? cookie });
        });
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

const login = (password: string) => api('POST', '/json/login', { username: 'admin', password });

function expectNoSecret(r: PlaybookRun): void {
  for (const [what, secret] of Object.entries(SECRETS)) expect(r.output.includes(secret) ? `${what} password leaked` : 'no leak').toBe('no leak');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie (its parent gone, not reaped yet) is not running.
  const stat = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8') : '';
  return stat !== '' && stat.charAt(stat.lastIndexOf(')') + 2) !== 'Z';
}

/** The supervised console's pid (service_manager none), or null. */
function consolePid(): number | null {
  const dir = join(sb.dir, 'run/daemons');
  const f = existsSync(dir) ? readdirSync(dir).find((n) => /^socle-temboard-console-.*\.pid$/.test(n)) : undefined;
  return f ? Number(readFileSync(join(dir, f), 'utf8').trim()) : null;
}

beforeAll(async () => {
  sb = makeSandbox('socle-e2e-tbconsole-');
  env = installCollection(sb.dir);
  ports = { repo: await freePort(), console: await freePort(), pg: await freePort(), agent: await freePort() };
  const consoleDir = join(sb.dir, `srv/etc/temboard-console/${MAJOR}-tbrepo`);
  Object.assign(files, {
    play: join(sb.dir, 'play.yml'),
    inventory: join(sb.dir, 'inventory.yml'),
    consoleConf: join(consoleDir, 'temboard.conf'),
    consoleCert: join(consoleDir, 'tls/cert.pem'),
    password: join(sb.dir, 'console-password'),
    agentPassfile: join(sb.dir, `srv/etc/temboard-agent/temboard-agent_${MAJOR}-shop.pgpass`),
    agentCert: join(sb.dir, 'agent-tls/cert.pem'),
    agentKey: join(sb.dir, 'agent-tls/key.pem'),
  });
  // Allowed to hold secrets: the play and inventory (as users' vaults do), the console's configuration (the
  // repository's password, by design, 0600), the agents' site password file and the agent's
  // passfile (0600).
  secrets = watchSecrets(sb, [files.play, files.inventory, files.consoleConf, files.password, files.agentPassfile]);
  secrets.track(...Object.values(SECRETS));
  if (!HAVE) return;
  mkdirSync(join(sb.dir, 'agent-tls'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', files.agentKey, '-out', files.agentCert, '-days', '2',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  writeFileSync(files.password, `${SECRETS.admin}\n`, { mode: 0o600 });
  // The agents' side: registration with the console, whose self-signed certificate (made by the
  // role in the first play) is the CA the module checks it with.
  sb.writeSettings({
    temboard: {
      execpath: join(VENV, 'bin/temboard-agent'),
      address: '127.0.0.1',
      certificate: { cert: files.agentCert, key: files.agentKey, ca_cert: files.consoleCert },
      signing_key: join(sb.dir, 'agent-signing/console.pem'),
      ui_url: `https://127.0.0.1:${ports.console}`,
      ui_username: 'admin',
      ui_password_file: files.password,
      ui_environment: 'production',
    },
  });
});

afterAll(async () => {
  // The console forks workers: SIGTERM to it (as its service's stop does), then the sandbox.
  const pid = HAVE ? consolePid() : null;
  if (pid) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* gone */
    }
    for (let i = 0; i < 100 && spawnSync('kill', ['-0', String(pid)]).status === 0; i++) await new Promise((r) => setTimeout(r, 100));
  }
  sb?.cleanup();
});

testIf('check mode on a bare host: the plan, and nothing made', () => {
  const plan = runPlays({ consoleOnly: true, extra: ['--check', '--diff'] });
  expect(plan.recap.failed === 0 ? 'ok' : plan.output.slice(-4000)).toBe('ok');
  expect(plan.recap.changed).toBe(1);
  expect(existsSync(files.consoleConf)).toBe(false);
  expect(consolePid()).toBeNull();
  expectNoSecret(plan);
});

testIf('the role deploys the console: it answers, the admin password is the play\'s, the agent of the inventory registers', async () => {
  const first = runPlays();
  expect(first.recap.failed === 0 ? 'ok' : first.output.slice(-4000)).toBe('ok');
  expectNoSecret(first);
  // The role waited: the console answers at once, with the certificate it generated.
  const key = await api('GET', '/signing.key');
  expect(key.status).toBe(200);
  expect(String(key.json)).toContain('PUBLIC KEY');
  expect(statSync(files.consoleConf).mode & 0o777).toBe(0o600);
  expect((await login('admin')).status).toBe(401);
  const session = await login(SECRETS.admin);
  expect(session.status).toBe(200);
  const listed = await api('GET', '/json/instances/home', undefined, session.cookie);
  expect((listed.json as Array<{ agent_address: string; agent_port: number }>).map((i) => `${i.agent_address}:${i.agent_port}`)).toEqual([`127.0.0.1:${ports.agent}`]);
  const entry = await api('GET', `/json/instances/127.0.0.1/${ports.agent}`, undefined, session.cookie);
  expect(entry.json).toMatchObject({ environment: 'production', pg_port: ports.pg });
});

testIf('a re-run changes nothing, nor does a check-mode run', () => {
  const again = runPlays();
  expect(again.recap.failed === 0 ? 'ok' : again.output.slice(-4000)).toBe('ok');
  expect(again.recap.changed === 0 ? 'no change' : again.output.slice(-4000)).toBe('no change');
  const check = runPlays({ extra: ['--check', '--diff'] });
  expect(check.recap).toMatchObject({ failed: 0, changed: 0 });
  expectNoSecret(again);
  expectNoSecret(check);
});

testIf('the console is a supervised process (a pid file), without a secret on its command line', () => {
  const pid = consolePid();
  expect(pid).not.toBeNull();
  // temBoard renames its processes (`temboard: web`): the sampler of watchSecrets reads them all.
  const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  expect(cmdline).toMatch(/temboard/);
  expect(Object.values(SECRETS).filter((s) => cmdline.includes(s))).toEqual([]);
});

testIf('new passwords: the admin\'s is replaced, the console restarts with the repository\'s', async () => {
  const before = consolePid();
  Object.assign(current, { repo: SECRETS.repo2, admin: SECRETS.admin2 });
  // The agents' hosts log in with the new one too.
  writeFileSync(files.password, `${SECRETS.admin2}\n`, { mode: 0o600 });
  const changed = runPlays();
  expect(changed.recap.failed === 0 ? 'ok' : changed.output.slice(-4000)).toBe('ok');
  expectNoSecret(changed);
  expect(consolePid()).not.toBe(before);
  expect((await login(SECRETS.admin)).status).toBe(401);
  const session = await login(SECRETS.admin2);
  expect(session.status).toBe(200);
  // Read from the repository, with its new password.
  expect((await api('GET', '/json/instances/home', undefined, session.cookie)).json).toHaveLength(1);
  expect(runPlays().recap).toMatchObject({ failed: 0, changed: 0 });
});

/** A certificate for 127.0.0.1 (a new key and serial each time). */
function makeCertificate(cert: string, key: string): void {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
}

testIf('a certificate of the site replaces the self-signed one, and a renewed one restarts the console', async () => {
  const site = { cert: join(sb.dir, 'site-tls/cert.pem'), key: join(sb.dir, 'site-tls/key.pem') };
  mkdirSync(join(sb.dir, 'site-tls'));
  makeCertificate(site.cert, site.key);
  Object.assign(current, { certificate: site, ca: site.cert });
  const given = runPlays({ consoleOnly: true });
  expect(given.recap.failed === 0 ? 'ok' : given.output.slice(-4000)).toBe('ok');
  expect(given.recap.changed).toBe(1);
  // Checked against the site's certificate: the console serves it.
  expect((await api('GET', '/signing.key')).status).toBe(200);
  expect(runPlays({ consoleOnly: true }).recap).toMatchObject({ failed: 0, changed: 0 });
  const before = consolePid();
  makeCertificate(site.cert, site.key);
  const renewed = runPlays({ consoleOnly: true });
  expect(renewed.recap).toMatchObject({ failed: 0, changed: 1 });
  expect(consolePid()).not.toBe(before);
  expect((await api('GET', '/signing.key')).status).toBe(200);
});

testIf('state absent stops the console, its workers too, and removes its files', async () => {
  const pid = consolePid()!;
  const gone = runPlays({ consoleOnly: true, state: 'absent' });
  expect(gone.recap.failed === 0 ? 'ok' : gone.output.slice(-4000)).toBe('ok');
  expect(alive(pid)).toBe(false);
  expect(existsSync(join(files.consoleConf, '..'))).toBe(false);
  // temBoard names its processes `temboard: <what>` (its web server, its workers).
  const left = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      return statSync(`/proc/${p}`).uid === process.getuid!() && readFileSync(`/proc/${p}/cmdline`, 'utf8').startsWith('temboard: ');
    } catch {
      return false;
    }
  });
  expect(left).toEqual([]);
});

testIf('no secret leaked', async () => expect((await secrets.finish()).leaks).toEqual([]));
