// PoWA in remote mode, on real PostgreSQL with Debian's PoWA packages and powa-collector, and
// powa-web from PyPI (scripts/powa-venv.sh): an instance with `powa`, a repository instance
// whose `powa.repository` registers it, runs powa-collector and powa-web; after some load and
// the collector's interval (5 s here), the repository holds snapshots of the remote server;
// powa-web answers and lists the server after login; the server list follows the task
// (unregistered when left out); re-runs are no change; drop stops the daemons. Skipped (saying
// why) when PoWA or powa-collector is not installed; the powa-web part when its virtualenv is
// missing.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { request } from 'node:http';
import { runModule, type RunOptions } from '../helpers/module';
import { freePort, httpGet, makeSandbox, psql, type Sandbox } from '../helpers/sandbox';
import { watchSecrets, type SecretsCheck } from '../helpers/secrets';
import { testedMajor } from '../helpers/versions';

jest.setTimeout(240_000);

const MAJOR = testedMajor();
const HAVE_POWA = ['powa', 'pg_qualstats', 'pg_stat_kcache'].every((e) => existsSync(`/usr/share/postgresql/${MAJOR}/extension/${e}.control`)) && existsSync('/usr/bin/powa-collector');
const venv = HAVE_POWA ? spawnSync('bash', ['scripts/powa-venv.sh'], { encoding: 'utf8', env: { ...process.env, SOCLE_PYTHON: '/usr/bin/python3' } }) : null;
// powa-web 4.1 (the venv's) logs in only to a repository whose extension is 4.1 (Debian 12's).
const POWA_VERSION = HAVE_POWA ? /default_version\s*=\s*'([^']+)'/.exec(readFileSync(`/usr/share/postgresql/${MAJOR}/extension/powa.control`, 'utf8'))?.[1] ?? '' : '';
const WEB = venv?.status === 0 && POWA_VERSION.startsWith('4.1.') ? join(venv.stdout.trim(), 'powa-web') : null;
if (!HAVE_POWA) {
  // eslint-disable-next-line no-console
  console.warn(`powa tests skipped: PoWA or powa-collector is not installed for PostgreSQL ${MAJOR} (Debian: postgresql-${MAJOR}-powa, powa-collector)`);
} else if (!WEB) {
  // eslint-disable-next-line no-console
  console.warn(`powa-web tests skipped: no powa-web virtualenv (run scripts/powa-venv.sh as root), or PoWA ${POWA_VERSION} is not the 4.1 it serves`);
}
const describeIf = HAVE_POWA ? describe : describe.skip;

const REMOTE_PW = `r3mote 'pa:ss"\\ wörd`;
const REPO_PW = 'repo-Secret-1';
const LOOPBACK = { listen_addresses: '127.0.0.1' };

let sb: Sandbox;
let secrets: SecretsCheck;
let ports: { remote: number; repo: number; web: number };
const run = (args: Record<string, unknown>, opts: RunOptions = {}) => runModule('instance', args, { env: sb.env, ...opts });
const remote = () => ({ name: 'remote', port: ports.remote, settings: LOOPBACK, powa: { password: REMOTE_PW } });
const server = () => ({ hostname: '127.0.0.1', port: ports.remote, alias: 'remote', password: REMOTE_PW, frequency: 5 });
const repo = (servers: unknown[] = [server()]) => ({
  name: 'repo',
  port: ports.repo,
  settings: LOOPBACK,
  powa: { password: REPO_PW, repository: { servers, ...(WEB ? { web: { port: ports.web } } : {}) } },
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An HTTP request with a form body and cookies: status, headers, body. */
function http(method: string, url: string, body?: string, cookies: string[] = []): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method,
      headers: { ...(body ? { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': Buffer.byteLength(body) } : {}), ...(cookies.length ? { Cookie: cookies.join('; ') } : {}) },
    }, (res) => {
      let data = '';
      res.on('data', (d) => (data += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: data }));
    });
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

function daemonPids(): string[] {
  const dir = join(sb.dir, 'run/daemons');
  return existsSync(dir) ? readdirSync(dir).filter((f) => /powa.*\.pid$/.test(f)) : [];
}

beforeAll(async () => {
  sb = makeSandbox('socle-powa-');
  sb.writeSettings({ powa: { web_execpath: WEB ?? '/nonexistent/powa-web' } });
  ports = { remote: await freePort(), repo: await freePort(), web: await freePort() };
  secrets = watchSecrets(sb);
});
afterAll(() => sb.cleanup());

describeIf('PoWA remote mode: a repository collecting an instance', () => {
  let repoEnv: Record<string, string>;
  let remoteEnv: Record<string, string>;
  const q = (sql: string) => psql(repoEnv, sql, { PGDATABASE: 'powa' });

  test('the remote instance, with load', () => {
    const { result } = run(remote());
    expect(result.failed ? result.msg : 'ok').toBe('ok');
    remoteEnv = result.env as Record<string, string>;
    for (let i = 0; i < 20; i++) psql(remoteEnv, `SELECT count(*) FROM pg_class WHERE relpages > ${i}`);
  });

  test('check mode plans the repository, and does nothing', () => {
    const { result } = run(repo(), { check: true });
    expect(result.failed ? result.msg : 'ok').toBe('ok');
    expect(result.changes).toEqual(expect.arrayContaining(['create database powa with the extensions of PoWA']));
    expect(existsSync(join(sb.dir, 'srv/pgsql', MAJOR, 'repo'))).toBe(false);
  });

  test('the repository: the server registered, the collector and the UI running', () => {
    const { result } = run(repo());
    expect(result.failed ? result.msg : 'ok').toBe('ok');
    repoEnv = result.env as Record<string, string>;
    expect(result.changes).toEqual(expect.arrayContaining([expect.stringMatching(/^restart service socle-powa-collector-/)]));
    expect(q("SELECT alias || ' ' || port || ' ' || frequency FROM powa_servers WHERE id > 0")).toBe(`remote ${ports.remote} 5`);
    expect((result.powa as { repository: { collector: { state: string } } }).repository.collector.state).toBe('running');
    // The password is in no output, and not in the repository (the collector's passfile has it).
    expect(JSON.stringify(result)).not.toContain('r3mote');
    expect(q('SELECT count(*) FROM powa_servers WHERE password IS NOT NULL')).toBe('0');
  });

  test('a re-run is no change, and check mode agrees', () => {
    expect(run(repo()).result).toMatchObject({ changed: false, changes: [] });
    expect(run(repo(), { check: true }).result).toMatchObject({ changed: false });
  });

  test('after the collector\'s interval, the repository holds snapshots of the remote server', async () => {
    const id = q("SELECT id FROM powa_servers WHERE alias = 'remote'");
    let n = '0';
    for (let i = 0; i < 60 && n === '0'; i++) {
      await sleep(1000);
      psql(remoteEnv, 'SELECT count(*) FROM pg_database');
      n = q(`SELECT count(*) FROM powa_statements_history_current WHERE srvid = ${id}`);
    }
    expect(Number(n)).toBeGreaterThan(0);
    expect(q(`SELECT count(*) > 0 FROM powa_statements WHERE srvid = ${id} AND query ILIKE '%relpages%'`)).toBe('t');
  });

  (WEB ? test : test.skip)('powa-web answers, and lists the server after login', async () => {
    const base = `http://127.0.0.1:${ports.web}`;
    let status = 0;
    for (let i = 0; i < 50 && status === 0; i++) {
      status = await httpGet(`${base}/login/`).then((r) => r.status).catch(() => 0);
      if (status === 0) await sleep(200);
    }
    expect(status).toBe(403); // the login page (powa-web answers it with 403)
    const server = `${MAJOR}/repo`;
    const login = await http('POST', `${base}/login/`, new URLSearchParams({ username: 'powa', password: REPO_PW, server }).toString());
    expect(login.status).toBe(302);
    const cookies = ([] as string[]).concat(login.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]);
    expect(cookies.length).toBeGreaterThan(0);
    const home = await http('GET', `${base}/server/`, undefined, cookies);
    expect(home.status).toBe(200);
    expect(home.body).toMatch(/<title>All servers<\/title>/);
    // The page's grid loads its rows from this data URL.
    const now = new Date();
    const range = new URLSearchParams({ from: new Date(now.getTime() - 3600_000).toISOString(), to: now.toISOString() }).toString();
    const list = await http('GET', `${base}/server/all_servers/?${range}`, undefined, cookies);
    expect(list.status).toBe(200);
    const rows = (JSON.parse(list.body) as { data: Array<{ alias: string; port: unknown }> }).data;
    expect(rows.map((r) => r.alias)).toEqual(expect.arrayContaining(['<local>', 'remote']));
  });

  test('a server left out is unregistered and purged', () => {
    const { result } = run(repo([]));
    expect(result.failed ? result.msg : 'ok').toBe('ok');
    expect(result.changes).toEqual(expect.arrayContaining(['unregister PoWA server remote and purge its snapshots']));
    expect(q('SELECT count(*) FROM powa_servers WHERE id > 0')).toBe('0');
    expect(run(repo([])).result).toMatchObject({ changed: false });
  });

  test('drop stops the collector and the UI and leaves none of their files', () => {
    for (const name of ['repo', 'remote']) expect(run({ name, state: 'absent' }).result.failed).toBeFalsy();
    expect(daemonPids()).toEqual([]);
    const etc = join(sb.dir, 'srv/etc/powa');
    expect(existsSync(etc) ? readdirSync(etc) : []).toEqual([]);
  });

  test('no secret leaked', async () => expect((await secrets.finish()).leaks).toEqual([]));
});
