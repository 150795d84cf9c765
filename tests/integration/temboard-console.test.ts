// Registration of the temBoard agent with a real temBoard console (PyPI temboard 9.0.1, in the
// virtualenv of `scripts/temboard-venv.sh --console`), on loopback with its own TLS certificate
// and its repository in an instance this test creates through the instance module: the agent of a
// new instance is registered (the console's signing key fetched and written first) and listed by
// the console's API; a re-run asks the console and changes nothing; an entry removed behind our
// back is registered again; bad credentials are refused before anything is written; drop removes
// the entry. Skipped (saying why) only when the virtualenv cannot be made here.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { runModule, type RunOptions } from '../helpers/module';
import { freePort, httpUntil, makeSandbox, type Sandbox } from '../helpers/sandbox';
import { watchSecrets, type SecretsCheck } from '../helpers/secrets';

jest.setTimeout(240_000);

// Made by scripts/test.sh as root beforehand; as the test user it can only be found.
const venv = spawnSync('bash', ['scripts/temboard-venv.sh', '--console'], { encoding: 'utf8', env: { ...process.env, SOCLE_PYTHON: '/usr/bin/python3' } });
const BIN = venv.status === 0 ? venv.stdout.trim() : null;
if (!BIN) {
  // eslint-disable-next-line no-console
  console.warn(`temboard console tests skipped: no temBoard console virtualenv (run scripts/temboard-venv.sh --console as root): ${venv.stderr.trim().split('\n').pop()}`);
}
const describeIf = BIN ? describe : describe.skip;

const CONSOLE_PASSWORD = 'c0nsole-Adm1n-Secret';
const REPO_PASSWORD = 'rep0-Secret-tb';
const AUTH = { local: 'scram-sha-256' };
const LOOPBACK = { listen_addresses: '127.0.0.1' };

let sb: Sandbox;
let secrets: SecretsCheck;
let console_: ChildProcess | null = null;
let ports: { repo: number; console: number; pg: number; agent: number; agent2: number; standby: number; agent3: number };
let tls: string;
let passwordFile: string;
const run = (args: Record<string, unknown>, opts: RunOptions = {}) => runModule('instance', args, { env: { ...sb.env, PGPASSFILE: sb.passfile }, ...opts });
const common = { settings: LOOPBACK, auth: AUTH, surole_password: 'su-Secret-1', replrole_password: 'repl-Secret-1' };
const standby = (extra: Record<string, unknown> = {}) => ({
  name: 'tbc_standby',
  port: ports.standby,
  ...common,
  standby: { primary_conninfo: `host=127.0.0.1 port=${ports.pg}`, password: 'repl-Secret-1' },
  temboard: { port: ports.agent3, password: 'agent-Secret-1' },
  ...extra,
});
const instance = (extra: Record<string, unknown> = {}) => ({ name: 'tbc', port: ports.pg, ...common, temboard: { port: ports.agent, password: 'agent-Secret-1' }, ...extra });

/** A request to the console as the test (JSON in and out, its session cookie kept). */
let cookie = '';
function api(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const data = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      `https://127.0.0.1:${ports.console}${path}`,
      { method, ca: readFileSync(join(tls, 'cert.pem')), headers: { 'Content-Type': 'application/json', ...(cookie ? { Cookie: cookie } : {}) } },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => {
          const set = ([] as string[]).concat(res.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]).find((c) => c.startsWith('temboard='));
          if (set) cookie = set;
          let json: unknown = text;
          try {
            json = JSON.parse(text);
          } catch {
            /* not JSON */
          }
          resolve({ status: res.statusCode ?? 0, json });
        });
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

const listed = async () => ((await api('GET', '/json/instances/home')).json as Array<{ agent_address: string; agent_port: number }>).map((i) => `${i.agent_address}:${i.agent_port}`);

beforeAll(async () => {
  sb = makeSandbox('socle-tbconsole-');
  ports = { repo: await freePort(), console: await freePort(), pg: await freePort(), agent: await freePort(), agent2: await freePort(), standby: await freePort(), agent3: await freePort() };
  tls = join(sb.dir, 'tls');
  passwordFile = join(sb.dir, 'console-password');
  // The site's password file and the console's own configuration hold their secrets by design.
  secrets = watchSecrets(sb, [passwordFile, join(sb.dir, 'console/temboard.conf')]);
  secrets.track(CONSOLE_PASSWORD, REPO_PASSWORD);
  if (!BIN) return;
  // One self-signed certificate (for 127.0.0.1) serves the console and the agents, and is the CA
  // each side checks the other with; the console's signing key pair.
  mkdirSync(tls);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(tls, 'key.pem'), '-out', join(tls, 'cert.pem'), '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1');
  openssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', join(tls, 'signing-private.pem'));
  openssl('pkey', '-in', join(tls, 'signing-private.pem'), '-pubout', '-out', join(tls, 'signing-public.pem'));
  sb.writeSettings({ postgresql: { replrole: 'replicator' }, temboard: { execpath: join(BIN, 'temboard-agent') } });

  // The console's repository: an instance with its role and database, made by our module.
  const repo = run({
    name: 'tbrepo',
    port: ports.repo,
    ...common,
    roles: [{ name: 'temboard', login: true, password: REPO_PASSWORD }],
    databases: [{ name: 'temboard', owner: 'temboard' }],
  }).result;
  if (repo.failed) throw new Error(`repository instance: ${repo.msg}`);

  const home = join(sb.dir, 'console');
  mkdirSync(home);
  const conf = join(home, 'temboard.conf');
  writeFileSync(
    conf,
    [
      '[temboard]',
      'address = 127.0.0.1',
      `port = ${ports.console}`,
      `ssl_cert_file = ${join(tls, 'cert.pem')}`,
      `ssl_key_file = ${join(tls, 'key.pem')}`,
      `ssl_ca_cert_file = ${join(tls, 'cert.pem')}`,
      `signing_private_key = ${join(tls, 'signing-private.pem')}`,
      `signing_public_key = ${join(tls, 'signing-public.pem')}`,
      `cookie_secret = ${'c'.repeat(32)}-${process.pid}`,
      `home = ${home}`,
      '[repository]',
      'host = 127.0.0.1',
      `port = ${ports.repo}`,
      'user = temboard',
      `password = ${REPO_PASSWORD}`,
      'dbname = temboard',
      '[logging]',
      'method = stderr',
      'level = INFO',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  const temboard = join(BIN, 'temboard');
  execFileSync(temboard, ['-c', conf, 'migratedb', 'upgrade'], { stdio: 'ignore', env: { ...process.env, HOME: home } });
  const log = openSync(join(home, 'temboard.log'), 'a');
  console_ = spawn(temboard, ['-c', conf, 'serve'], { detached: true, stdio: ['ignore', log, log], env: { ...process.env, HOME: home } });
  await httpUntil(`https://127.0.0.1:${ports.console}/signing.key`, (b) => b.includes('PUBLIC KEY'), 150);
  // The default admin gets a password of this test (the one the site's password file holds).
  expect((await api('POST', '/json/login', { username: 'admin', password: 'admin' })).status).toBe(200);
  const put = await api('PUT', '/json/users/admin', { name: 'admin', email: '', phone: '', is_admin: true, is_active: true, password: CONSOLE_PASSWORD, password2: CONSOLE_PASSWORD });
  expect(put.status).toBe(200);
  expect((await api('POST', '/json/login', { username: 'admin', password: CONSOLE_PASSWORD })).status).toBe(200);
  writeFileSync(passwordFile, `${CONSOLE_PASSWORD}\n`, { mode: 0o600 });
  siteSettings();
}, 240_000);

/** The site settings of the registration tests (`extra`: more of the temboard section). */
function siteSettings(extra: Record<string, unknown> = {}): void {
  sb.writeSettings({
    postgresql: { replrole: 'replicator' },
    temboard: {
      execpath: join(BIN!, 'temboard-agent'),
      address: '127.0.0.1',
      certificate: { cert: join(tls, 'cert.pem'), key: join(tls, 'key.pem'), ca_cert: join(tls, 'cert.pem') },
      // Not there yet: the task writes it from the console.
      signing_key: join(sb.dir, 'agent-signing/console.pem'),
      ui_url: `https://127.0.0.1:${ports.console}`,
      ui_username: 'admin',
      ui_password_file: passwordFile,
      ...extra,
    },
  });
}

afterAll(() => {
  // The console forks workers: its whole process group.
  if (console_?.pid) {
    try {
      process.kill(-console_.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  sb.cleanup();
});

describeIf('registration of the temBoard agent with the console', () => {
  test('check mode plans the key and the registration, and the console is left as it is', async () => {
    const { result } = run(instance(), { check: true });
    expect(result.failed ? result.msg : 'ok').toBe('ok');
    expect(result.changes).toEqual(expect.arrayContaining([
      expect.stringMatching(/^write the console's signing key to .*console\.pem$/),
      `register temBoard agent ${result.version}-tbc with the console as 127.0.0.1:${ports.agent} (environment default)`,
    ]));
    expect(existsSync(join(sb.dir, 'agent-signing/console.pem'))).toBe(false);
    expect(await listed()).toEqual([]);
  });

  test('bad credentials, a password file others may read, a key file that cannot be written: refused before anything is written', () => {
    writeFileSync(passwordFile, 'not-the-password\n');
    const wrong = run(instance()).result;
    expect(wrong.failed).toBe(true);
    expect(wrong.msg).toMatch(/login of admin refused/);
    chmodSync(passwordFile, 0o644);
    writeFileSync(passwordFile, `${CONSOLE_PASSWORD}\n`);
    const open = run(instance()).result;
    expect(open.msg).toMatch(/site setting 'temboard\.ui_password_file': .* may be read by others \(mode 644\)/);
    chmodSync(passwordFile, 0o600);
    // The console's key goes to a file the instances' user cannot write.
    siteSettings({ signing_key: '/etc/socle-temboard-console.pem' });
    try {
      expect(run(instance()).result.msg).toMatch(/site setting 'temboard\.signing_key': the console's key cannot be written to \/etc\/socle-temboard-console\.pem: folder \/etc is not writable/);
    } finally {
      siteSettings();
    }
    expect(existsSync(join(sb.dir, 'srv/etc/temboard-agent'))).toBe(false);
  });

  test('creation: the agent gets the console\'s key, is registered, and is listed by the console', async () => {
    const { result } = run(instance());
    expect(result.failed ? result.msg : 'ok').toBe('ok');
    expect(result.changes).toContain(`register temBoard agent ${result.version}-tbc with the console as 127.0.0.1:${ports.agent} (environment default)`);
    expect(readFileSync(join(sb.dir, 'agent-signing/console.pem'), 'utf8')).toBe(readFileSync(join(tls, 'signing-public.pem'), 'utf8'));
    expect(await listed()).toEqual([`127.0.0.1:${ports.agent}`]);
    const entry = (await api('GET', `/json/instances/127.0.0.1/${ports.agent}`)).json;
    expect(entry).toMatchObject({ pg_port: ports.pg, environment: 'default' });
    expect(entry.plugins.length).toBeGreaterThan(0);
    // The console manages it: its signed requests are valid for the agent.
    expect((await api('GET', `/json/instances/127.0.0.1/${ports.agent}/discover`)).json.signature_status).toBe('valid');
  });

  test('a re-run asks the console and changes nothing; an entry removed behind our back comes back', async () => {
    expect(run(instance()).result).toMatchObject({ changed: false, changes: [] });
    expect((await api('DELETE', `/json/instances/127.0.0.1/${ports.agent}`)).status).toBe(200);
    const planned = run(instance(), { check: true }).result;
    expect(planned.changes).toEqual([expect.stringMatching(/^register temBoard agent/)]);
    expect(await listed()).toEqual([]);
    expect(run(instance()).result.changes).toEqual([expect.stringMatching(/^register temBoard agent/)]);
    expect(await listed()).toEqual([`127.0.0.1:${ports.agent}`]);
  });

  test('another environment in the site settings moves the instance there', async () => {
    expect((await api('POST', '/json/environments', { name: 'prod', description: 'Production' })).status).toBe(200);
    siteSettings({ ui_environment: 'prod' });
    try {
      const { result } = run(instance());
      expect(result.changes).toEqual([expect.stringMatching(/^move temBoard agent \S+-tbc to the console's environment prod \(from default\)$/)]);
      const entry = (await api('GET', `/json/instances/127.0.0.1/${ports.agent}`)).json;
      expect(entry).toMatchObject({ environment: 'prod', pg_port: ports.pg });
      expect(entry.plugins.length).toBeGreaterThan(0);
      expect(run(instance()).result.changed).toBe(false);
    } finally {
      siteSettings();
    }
    expect(run(instance()).result.changes).toEqual([expect.stringMatching(/^move .* environment default \(from prod\)$/)]);
  });

  test('a moved agent is registered on its new port, its old entry removed', async () => {
    const moved = run(instance({ temboard: { port: ports.agent2, password: 'agent-Secret-1' } })).result;
    expect(moved.changes).toEqual(expect.arrayContaining([
      expect.stringMatching(/^unregister temBoard agent \S+ \(old port \d+\) from the console$/),
      expect.stringMatching(/^register temBoard agent .* as 127\.0\.0\.1:\d+ /),
    ]));
    expect(await listed()).toEqual([`127.0.0.1:${ports.agent2}`]);
  });

  test('a standby\'s agent is registered too', async () => {
    const { result } = run(standby());
    expect(result.failed ? result.msg : 'ok').toBe('ok');
    expect(result.changes).toContain(`register temBoard agent ${result.version}-tbc_standby with the console as 127.0.0.1:${ports.agent3} (environment default)`);
    expect((await listed()).sort()).toEqual([`127.0.0.1:${ports.agent2}`, `127.0.0.1:${ports.agent3}`].sort());
    expect(run(standby()).result.changed).toBe(false);
  });

  test('drop removes the instance from the console', async () => {
    expect(run(standby({ state: 'absent' })).result.changes).toEqual(expect.arrayContaining([expect.stringMatching(/^unregister temBoard agent \S+-tbc_standby from the console$/)]));
    const { result } = run(instance({ state: 'absent' }));
    expect(result.changes.filter((c: string) => /^unregister temBoard agent \S+-tbc from the console$/.test(c))).toHaveLength(1);
    expect(await listed()).toEqual([]);
    expect(run(instance({ state: 'absent' })).result.changed).toBe(false);
  });

  test('no secret leaked', async () => expect((await secrets.finish()).leaks).toEqual([]));
});
