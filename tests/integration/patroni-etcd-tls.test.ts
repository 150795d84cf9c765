// The `patroni` component against an etcd with TLS (client certificates required) and
// authentication: one etcd member started by the test (tests/helpers/etcd.ts, root and a user
// limited to /service/tls/), one Patroni member made by the instance module with the site's
// `patroni.etcd.{protocol, cacert, cert, key}` and the options' `patroni.etcd.{username,
// password}`: it bootstraps, is ready and the leader; its keys are under its prefix; a re-run is
// no change; the etcd password is in no module output, on no command line sampled during the
// runs, in no file other users can read (the member's YAML, 0600, holds it by design).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { load } from 'js-yaml';
import { join } from 'node:path';
import { runModule, type RunOptions } from '../helpers/module';
import { ETCD, ETCDCTL, makeCerts, startEtcd, type Certs, type EtcdCluster } from '../helpers/etcd';
import { filesContaining, freePort, httpGet, makeSandbox, readableByOthers, type Sandbox } from '../helpers/sandbox';
import { watchSecrets, type SecretsCheck } from '../helpers/secrets';

jest.setTimeout(180_000);

const PATRONI = '/usr/bin/patroni';
const describeIf = existsSync(PATRONI) && existsSync(ETCD) ? describe : describe.skip;

const ROOT_PW = `etcd root: 'r' "1" #`;
const ETCD_PW = `patroni etcd: 'p' "w" #1 \\x`;
const SU_PW = 'su pw: "0"';
const REPL_PW = 'repl pw: "2"';
const REST_PW = 'rest pw: {3}';

let sb: Sandbox;
let certs: Certs;
let etcd: EtcdCluster;
let secrets: SecretsCheck;
let port: number;
let rest: number;

const run = (args: Record<string, unknown>, opts: RunOptions = {}) => runModule('instance', args, { env: sb.env, ...opts });
const member = () => ({
  name: 'pg_tls',
  port,
  surole_password: SU_PW,
  replrole_password: REPL_PW,
  settings: { listen_addresses: '127.0.0.1' },
  patroni: {
    cluster: 'tls',
    node: 't1',
    restapi: { listen: `127.0.0.1:${rest}`, authentication: { username: 'patroni', password: REST_PW } },
    etcd: { username: 'patroni_tls', password: ETCD_PW },
  },
});
const ok = (r: Record<string, any>) => (r.failed ? `FAILED: ${r.msg}` : 'ok');
/** etcdctl with the test's certificate, as root (ETCDCTL_USER, not argv). */
const etcdctl = (...args: string[]) =>
  spawnSync(ETCDCTL, ['--endpoints', etcd.hosts.map((h) => `https://${h}`).join(','), ...etcd.tlsArgs, ...args], {
    env: { ...process.env, ETCDCTL_API: '3', ETCDCTL_USER: `root:${ROOT_PW}` },
    encoding: 'utf8',
  });

beforeAll(async () => {
  sb = makeSandbox('socle-patroni-tls-');
  // `client`: the certificate of etcd's member and of the test; `patroni`: Patroni's own (and the
  // module's), without a common name: etcd's JSON gateway, which Patroni's etcd3 client uses,
  // refuses one with a CN once authentication is on.
  certs = makeCerts(join(sb.dir, 'tls'), ['client', 'patroni'], ['patroni']);
  etcd = await startEtcd(sb.dir, 1, {
    tls: { certs, client: 'client' },
    auth: { rootPassword: ROOT_PW, users: [{ name: 'patroni_tls', password: ETCD_PW, cluster: 'tls' }] },
  });
  port = await freePort();
  rest = await freePort();
  sb.writeSettings({
    postgresql: { replrole: 'replicator' },
    patroni: {
      etcd: { hosts: etcd.hosts, protocol: 'https', cacert: certs.ca, cert: certs.pair.patroni.cert, key: certs.pair.patroni.key },
      ttl: 10,
      loop_wait: 2,
      retry_timeout: 4,
    },
  });
  // The member's YAML holds the passwords by design (0600, checked below).
  secrets = watchSecrets(sb, [join(sb.dir, 'srv', 'etc', 'patroni')]);
  secrets.track(ROOT_PW, ETCD_PW);
});
afterAll(() => {
  etcd?.stop();
  sb?.cleanup();
});

describeIf('a Patroni member on etcd with TLS and authentication', () => {
  test('etcd refuses anonymous clients', () => {
    const anonymous = spawnSync(ETCDCTL, ['--endpoints', `https://${etcd.hosts[0]}`, ...etcd.tlsArgs, 'get', '/service/tls/', '--prefix'], {
      env: { ...process.env, ETCDCTL_API: '3' },
      encoding: 'utf8',
    });
    expect(anonymous.status).not.toBe(0);
  });

  test('the member bootstraps through etcd with TLS and its user, and is the leader', async () => {
    const { result } = run(member());
    expect(ok(result)).toBe('ok');
    expect(result.changed).toBe(true);
    expect(result.changes[0]).toMatch(/^bootstrap Patroni cluster tls/);
    expect(result.patroni).toMatchObject({ cluster: 'tls', node: 't1', role: 'master', state: 'running' });
    expect((await httpGet(`http://127.0.0.1:${rest}/primary`)).status).toBe(200);
    const keys = etcdctl('get', '--prefix', '--keys-only', '/service/tls/');
    expect(keys.status === 0 ? 'ok' : keys.stderr).toBe('ok');
    expect(keys.stdout).toContain('/service/tls/leader');
    expect(keys.stdout).toContain('/service/tls/members/t1');
  });

  test('a re-run is no change', () => {
    const { result } = run(member());
    expect(ok(result)).toBe('ok');
    expect(result.changes).toEqual([]);
    expect(result.changed).toBe(false);
    // The member's YAML (0600) holds the etcd access as given, password quoted by the YAML writer.
    const dir = join(sb.dir, 'srv', 'etc', 'patroni');
    const yamls = readdirSync(dir).filter((f) => f.endsWith('.yaml')).map((f) => join(dir, f));
    expect(yamls).toHaveLength(1);
    expect(statSync(yamls[0]).mode & 0o077).toBe(0);
    expect((load(readFileSync(yamls[0], 'utf8')) as { etcd3: unknown }).etcd3).toEqual({
      hosts: etcd.hosts, protocol: 'https', cacert: certs.ca, cert: certs.pair.patroni.cert, key: certs.pair.patroni.key,
      username: 'patroni_tls', password: ETCD_PW,
    });
  });

  test('absent: the member dropped, the cluster removed from etcd (as its user)', () => {
    const { result } = run({ name: 'pg_tls', state: 'absent' });
    expect(ok(result)).toBe('ok');
    expect(etcdctl('get', '--prefix', '--keys-only', '/service/tls/').stdout.trim()).toBe('');
  });

  test('the etcd password: only in the member YAML (0600) while it ran, no file others can read, no output, no command line', async () => {
    const readable = new Set(readableByOthers(sb.dir));
    expect(filesContaining(sb.dir, ETCD_PW).filter((f) => readable.has(f))).toEqual([]);
    const report = await secrets.finish();
    expect(report.samples).toBeGreaterThan(0);
    expect(report.leaks).toEqual([]);
  });
});
