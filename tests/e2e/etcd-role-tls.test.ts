// End to end: the etcd role from the tarball, unprivileged, without systemd, three members on
// loopback with TLS for clients and peers (a CA and one certificate per member made here with
// openssl, client certificates required) and authentication (root, one user per Patroni
// cluster). One member, then two join it (registered as root); a re-run is no change; a
// cluster's user reads and writes its prefix only; nobody else gets in (no user, no
// certificate). A run stopped before authentication was on (simulated: auth disabled, a role's
// permission revoked, a password changed by hand) converges on the next run. No password in any
// playbook output (one run at -vvv), nor on any command line sampled during the runs, nor in
// files left behind. Last, the same cluster with server TLS only (no client certificates): a user
// and the CA are all a client needs.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dump } from 'js-yaml';
import { ansiblePlaybook, hostRecaps, installCollection } from '../helpers/ansible';
import { freePort, makeSandbox, type Sandbox } from '../helpers/sandbox';
import { ETCD, ETCDCTL, makeCerts, type Certs } from '../helpers/etcd';
import { watchSecrets, type SecretsCheck } from '../helpers/secrets';

jest.setTimeout(300_000);

const testIf = existsSync(ETCD) && existsSync(ETCDCTL) ? test : test.skip;
const NAMES = ['e1', 'e2', 'e3'];
// Spaces, quotes, a colon, a hash, a backslash: what a shell or a YAML writer could get wrong.
const ROOT_PW = `root pw: "r00t" 'x' #1 \\z`;
const USERS = [
  { name: 'patroni_main', password: `main pw: 'm' "1" #`, cluster: 'main' },
  { name: 'patroni_other', password: 'other pw \\ $HOME `x`', cluster: 'other' },
];

let sb: Sandbox;
let env: NodeJS.ProcessEnv;
let certs: Certs;
let secrets: SecretsCheck;
const ports: Record<string, { client: number; peer: number }> = {};
const pidFile = (n: string) => join(sb.dir, `${n}.pid`);
const endpoints = () => NAMES.map((n) => `https://127.0.0.1:${ports[n].client}`).join(',');
const outputs: string[] = [];

/** The role on the first `count` members (client certificates required unless told); the recap of each host. */
function runRole(count = 3, extra: string[] = [], clientCertAuth = true) {
  const hosts = Object.fromEntries(NAMES.slice(0, count).map((n) => [n, {
    ansible_connection: 'local',
    ansible_python_interpreter: '/usr/bin/python3',
    socle_etcd_address: '127.0.0.1',
    socle_etcd_client_port: ports[n].client,
    socle_etcd_peer_port: ports[n].peer,
    socle_etcd_data_dir: join(sb.dir, n),
    socle_etcd_config_file: join(sb.dir, `${n}.env`),
    socle_etcd_pid_file: pidFile(n),
    socle_etcd_log_file: join(sb.dir, `${n}.log`),
    socle_etcd_tls: clientCertAuth
      ? { ca: certs.ca, cert: certs.pair[n].cert, key: certs.pair[n].key, client_cert_auth: true, client_cert: certs.pair.role.cert, client_key: certs.pair.role.key }
      : { ca: certs.ca, cert: certs.pair[n].cert, key: certs.pair[n].key },
  }]));
  const inventory = join(sb.dir, 'inventory.yml');
  writeFileSync(inventory, dump({ all: { children: { etcd: { hosts } } } }));
  const play = join(sb.dir, 'etcd.yml');
  writeFileSync(play, dump([{
    hosts: 'etcd',
    gather_facts: false,
    roles: [{
      role: 'socle.postgresql.etcd',
      vars: {
        socle_etcd_install: false, socle_etcd_user: '', socle_etcd_service_manager: 'none', socle_etcd_cluster_token: `t-${process.pid}`,
        socle_etcd_auth: { root_password: ROOT_PW, users: USERS },
      },
    }],
  }]));
  const r = ansiblePlaybook(env, ['-i', inventory, play, ...extra]);
  outputs.push(r.output);
  secrets.output(`playbook run #${outputs.length}`, r.output);
  return { status: r.status, output: r.output, recap: hostRecaps(r.output) };
}

/**
 * etcdctl with the test's client certificate (or none), as `user` (`name:password` through
 * ETCDCTL_USER, never argv), or anonymous.
 */
function etcdctl(args: string[], as: { user?: string; cert?: boolean; input?: string } = {}) {
  const tls = as.cert === false ? ['--cacert', certs.ca] : ['--cacert', certs.ca, '--cert', certs.pair.client.cert, '--key', certs.pair.client.key];
  const e: NodeJS.ProcessEnv = { ...process.env, ETCDCTL_API: '3', ETCDCTL_DIAL_TIMEOUT: '3s', ETCDCTL_COMMAND_TIMEOUT: '5s' };
  if (as.user) e.ETCDCTL_USER = as.user;
  return spawnSync(ETCDCTL, ['--endpoints', endpoints(), ...tls, ...args], { env: e, encoding: 'utf8', input: as.input });
}
const asRoot = { user: `root:${ROOT_PW}` };
const asMain = { user: `${USERS[0].name}:${USERS[0].password}` };
const ok = (r: { status: number | null; output: string }, tail = 4000) => (r.status === 0 ? 'ok' : r.output.slice(-tail));

beforeAll(async () => {
  sb = makeSandbox('socle-etcd-tls-');
  env = installCollection(sb.dir);
  // `client`: the test's own certificate, a name that is no etcd user; `role`: the role's, without
  // a common name (etcd's JSON gateway refuses one with a CN once authentication is on).
  certs = makeCerts(join(sb.dir, 'tls'), [...NAMES, 'client', 'role'], ['role']);
  for (const n of NAMES) ports[n] = { client: await freePort(), peer: await freePort() };
  // The inventory and the playbook hold the passwords by design (as a vault would).
  secrets = watchSecrets(sb, [join(sb.dir, 'inventory.yml'), join(sb.dir, 'etcd.yml')]);
  secrets.track(ROOT_PW, ...USERS.map((u) => u.password));
});
// The members' pid files are under the sandbox: its cleanup stops them (stopDaemons).
afterAll(() => sb?.cleanup());

describe('the etcd role with TLS and authentication', () => {
  testIf('one member with TLS and authentication, then two more join it (registered as root)', () => {
    const first = runRole(1);
    expect(ok(first)).toBe('ok');
    expect(first.recap.e1.changed).toBeGreaterThan(0);
    expect(etcdctl(['put', '/anonymous', 'x']).status).not.toBe(0);
    const grown = runRole(3);
    expect(ok(grown)).toBe('ok');
    expect(grown.recap.e1.changed).toBe(0);
    for (const n of ['e2', 'e3']) expect(readFileSync(join(sb.dir, `${n}.env`), 'utf8')).toContain('ETCD_INITIAL_CLUSTER_STATE="existing"');
    for (const n of NAMES) {
      const conf = readFileSync(join(sb.dir, `${n}.env`), 'utf8');
      expect(conf).toContain(`ETCD_LISTEN_CLIENT_URLS="https://127.0.0.1:${ports[n].client}"`);
      expect(conf).toContain(`ETCD_LISTEN_PEER_URLS="https://127.0.0.1:${ports[n].peer}"`);
      expect(conf).toContain('ETCD_CLIENT_CERT_AUTH="true"');
      expect(conf).toContain(`ETCD_PEER_CERT_FILE="${certs.pair[n].cert}"`);
    }
    const list = etcdctl(['member', 'list', '-w', 'json'], asRoot);
    expect(list.stderr).toBe('');
    const members = (JSON.parse(list.stdout) as { members: Array<{ name?: string; peerURLs?: string[] }> }).members;
    expect(members.map((m) => m.name).sort()).toEqual(NAMES);
    expect(members.every((m) => (m.peerURLs ?? [])[0]?.startsWith('https://'))).toBe(true);
    expect(etcdctl(['endpoint', 'health'], asRoot).status).toBe(0);
    // The re-run at -vvv: Ansible prints every command it runs, so a secret on one would show.
    const again = runRole(3, ['-vvv']);
    expect(ok(again)).toBe('ok');
    expect(again.recap).toEqual({ e1: { changed: 0, failed: 0 }, e2: { changed: 0, failed: 0 }, e3: { changed: 0, failed: 0 } });
  });

  testIf("a cluster's user reads and writes its prefix only", () => {
    const put = etcdctl(['put', '/service/main/leader', 'n1'], asMain);
    expect(put.stderr).toBe('');
    expect(put.status).toBe(0);
    expect(etcdctl(['get', '--print-value-only', '/service/main/leader'], asMain).stdout.trim()).toBe('n1');
    for (const key of ['/service/other/leader', '/service/mainx', '/elsewhere']) {
      const denied = etcdctl(['put', key, 'x'], asMain);
      expect(denied.status).not.toBe(0);
      expect(denied.stderr).toContain('permission denied');
    }
    expect(etcdctl(['get', '/service/other/', '--prefix'], asMain).stderr).toContain('permission denied');
    const other = etcdctl(['put', '/service/other/leader', 'o1'], { user: `${USERS[1].name}:${USERS[1].password}` });
    expect(other.status).toBe(0);
    expect(etcdctl(['put', '/service/main/leader', 'o1'], { user: `${USERS[1].name}:${USERS[1].password}` }).stderr).toContain('permission denied');
  });

  testIf('nobody else gets in: no user, a wrong password, no client certificate', () => {
    const anonymous = etcdctl(['put', '/service/main/x', 'y']);
    expect(anonymous.status).not.toBe(0);
    expect(anonymous.stderr).toMatch(/user name is empty|permission denied/);
    const wrong = etcdctl(['get', '/service/main/leader'], { user: `${USERS[0].name}:not the password` });
    expect(wrong.status).not.toBe(0);
    expect(wrong.stderr).toContain('authentication failed');
    // Without a client certificate the TLS handshake itself is refused.
    const noCert = etcdctl(['get', '/service/main/leader'], { ...asMain, cert: false });
    expect(noCert.status).not.toBe(0);
    expect(noCert.stdout).not.toContain('n1');
    const plain = spawnSync(ETCDCTL, ['--endpoints', `http://127.0.0.1:${ports.e1.client}`, 'get', '/service/main/leader'], {
      env: { ...process.env, ETCDCTL_API: '3', ETCDCTL_DIAL_TIMEOUT: '3s', ETCDCTL_COMMAND_TIMEOUT: '5s', ETCDCTL_USER: asMain.user },
      encoding: 'utf8',
    });
    expect(plain.status).not.toBe(0);
  });

  testIf('a run stopped before authentication was on, and changes made by hand, converge on the next run', () => {
    // What a run stopped after `user add root` leaves: root there, authentication off; plus a
    // permission revoked and a user's password changed behind the role's back.
    expect(etcdctl(['role', 'revoke-permission', USERS[0].name, '/service/main/', '--prefix=true'], asRoot).status).toBe(0);
    expect(etcdctl(['role', 'grant-permission', USERS[0].name, 'read', '/elsewhere'], asRoot).status).toBe(0);
    expect(etcdctl(['user', 'passwd', USERS[1].name, '--interactive=false'], { ...asRoot, input: 'changedbyhand\n' }).status).toBe(0);
    expect(etcdctl(['auth', 'disable'], asRoot).status).toBe(0);
    expect(etcdctl(['put', '/anonymous', 'yes']).status).toBe(0);
    const fixed = runRole();
    expect(ok(fixed)).toBe('ok');
    expect(fixed.recap.e1.changed).toBeGreaterThan(0);
    expect(etcdctl(['put', '/anonymous', 'again']).status).not.toBe(0);
    expect(etcdctl(['put', '/service/main/leader', 'n2'], asMain).status).toBe(0);
    expect(etcdctl(['get', '/elsewhere'], asMain).stderr).toContain('permission denied');
    expect(etcdctl(['put', '/service/other/leader', 'o2'], { user: `${USERS[1].name}:${USERS[1].password}` }).status).toBe(0);
    const again = runRole();
    expect(ok(again)).toBe('ok');
    expect(again.recap).toEqual({ e1: { changed: 0, failed: 0 }, e2: { changed: 0, failed: 0 }, e3: { changed: 0, failed: 0 } });
  });

  testIf('without client_cert_auth, clients need the CA and a user only (etcd gets no client CA file)', () => {
    const relaxed = runRole(3, [], false);
    expect(ok(relaxed)).toBe('ok');
    for (const n of NAMES) {
      const conf = readFileSync(join(sb.dir, `${n}.env`), 'utf8');
      // Given a client CA file, etcd asks every client for a certificate, whatever CLIENT_CERT_AUTH says.
      expect(conf).not.toContain('ETCD_TRUSTED_CA_FILE');
      expect(conf).toContain('ETCD_CLIENT_CERT_AUTH="false"');
      expect(conf).toContain(`ETCD_PEER_TRUSTED_CA_FILE="${certs.ca}"`);
    }
    const read = etcdctl(['get', '--print-value-only', '/service/main/leader'], { ...asMain, cert: false });
    expect(read.stderr).toBe('');
    expect(read.stdout.trim()).toBe('n2');
    expect(etcdctl(['put', '/anonymous', 'x'], { cert: false }).status).not.toBe(0);
    expect(etcdctl(['endpoint', 'health'], { ...asRoot, cert: false }).status).toBe(0);
    const again = runRole(3, [], false);
    expect(ok(again)).toBe('ok');
    expect(again.recap).toEqual({ e1: { changed: 0, failed: 0 }, e2: { changed: 0, failed: 0 }, e3: { changed: 0, failed: 0 } });
  });

  testIf('no password in the playbook outputs, on command lines, or in files left behind', async () => {
    expect(outputs.length).toBeGreaterThanOrEqual(5);
    // The playbook outputs are searched by the check too (every form of each password).
    const report = await secrets.finish();
    expect(report.samples).toBeGreaterThan(0);
    expect(report.leaks).toEqual([]);
  });
});
