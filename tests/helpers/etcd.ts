// A throwaway etcd cluster for tests and benchmarks: n members of Debian's etcd on loopback, free
// ports, data directories and pid files under the sandbox (so the sandbox's cleanup kills them
// too), stopped by pid. Optionally with TLS (certificates from makeCerts: clients and peers must
// present one) and authentication (root and users limited to a Patroni cluster's prefix, set
// through etcd's JSON gateway: no password on a command line).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { call, type Endpoint } from '../../modules/lib/components/patroni/http';
import { freePort } from './sandbox';

export const ETCD = '/usr/bin/etcd';
export const ETCDCTL = '/usr/bin/etcdctl';

export interface Certs {
  ca: string;
  /** Certificate and key of each name given (CN = the name unless asked, IP SAN 127.0.0.1), 0600 keys. */
  pair: Record<string, { cert: string; key: string }>;
}

/**
 * A CA and one certificate per name, made with openssl in `dir` (EC P-256, valid 2 days). The
 * names in `withoutCn` get a subject without a common name (`/O=<name>`): etcd's JSON gateway
 * refuses a client certificate with a CN once authentication is on.
 */
export function makeCerts(dir: string, names: string[], withoutCn: string[] = []): Certs {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ossl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ossl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=socle-test-ca');
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  const pair: Certs['pair'] = {};
  for (const n of names) {
    ossl('req', ...ec, '-keyout', `${n}.key`, '-out', `${n}.csr`, '-subj', withoutCn.includes(n) ? `/O=${n}` : `/CN=${n}`);
    ossl('x509', '-req', '-in', `${n}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${n}.crt`, '-days', '2', '-extfile', 'san.ext');
    pair[n] = { cert: join(dir, `${n}.crt`), key: join(dir, `${n}.key`) };
  }
  return { ca: join(dir, 'ca.crt'), pair };
}

export interface EtcdAuth {
  rootPassword: string;
  users: Array<{ name: string; password: string; cluster: string }>;
}

export interface EtcdOptions {
  /** TLS for clients and peers, client certificates required; `client` names the pair the helper's own calls use. */
  tls?: { certs: Certs; client: string };
  auth?: EtcdAuth;
}

export interface EtcdCluster {
  /** `127.0.0.1:<client port>` of each member. */
  hosts: string[];
  pids: number[];
  /** `http` or `https`. */
  protocol: string;
  /** etcdctl's TLS options (--cacert, --cert, --key of the helper's client pair), or none. */
  tlsArgs: string[];
  stop(): void;
}

/** A POST to etcd's JSON gateway on `ep` (with a token when given); the parsed answer, or an error. */
async function gateway(ep: Endpoint, path: string, body: unknown, token?: string): Promise<Record<string, unknown>> {
  const r = await call(ep, 'POST', path, body, 5000, token ? { authorization: token } : {});
  if (r.status !== 200) throw new Error(`etcd ${path}: HTTP ${r.status}: ${r.body.slice(0, 200)}`);
  return JSON.parse(r.body) as Record<string, unknown>;
}

/** Root, one role and user per cluster (read-write on /service/<cluster>/), authentication on. */
async function setUpAuth(ep: Endpoint, auth: EtcdAuth): Promise<void> {
  await gateway(ep, '/v3/auth/user/add', { name: 'root', password: auth.rootPassword });
  await gateway(ep, '/v3/auth/role/add', { name: 'root' });
  await gateway(ep, '/v3/auth/user/grant', { user: 'root', role: 'root' });
  for (const u of auth.users) {
    const prefix = `/service/${u.cluster}/`;
    await gateway(ep, '/v3/auth/role/add', { name: u.name });
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    await gateway(ep, '/v3/auth/role/grant', { name: u.name, perm: { permType: 'READWRITE', key: b64(prefix), range_end: b64(`${prefix.slice(0, -1)}0`) } });
    await gateway(ep, '/v3/auth/user/add', { name: u.name, password: u.password });
    await gateway(ep, '/v3/auth/user/grant', { user: u.name, role: u.name });
  }
  await gateway(ep, '/v3/auth/enable', {});
}

export async function startEtcd(dir: string, n = 3, opts: EtcdOptions = {}): Promise<EtcdCluster> {
  const members = [];
  for (let i = 0; i < n; i++) members.push({ name: `e${i}`, client: await freePort(), peer: await freePort() });
  const scheme = opts.tls ? 'https' : 'http';
  const initial = members.map((m) => `${m.name}=${scheme}://127.0.0.1:${m.peer}`).join(',');
  const certs = opts.tls?.certs;
  // Each member presents the helper's client pair's CA-signed certificate to its peers too.
  const own = certs ? certs.pair[opts.tls!.client] : undefined;
  const tlsFlags = certs && own
    ? ['--trusted-ca-file', certs.ca, '--cert-file', own.cert, '--key-file', own.key, '--client-cert-auth',
       '--peer-trusted-ca-file', certs.ca, '--peer-cert-file', own.cert, '--peer-key-file', own.key, '--peer-client-cert-auth']
    : [];
  const pids: number[] = [];
  for (const m of members) {
    const data = join(dir, 'etcd', m.name);
    mkdirSync(data, { recursive: true, mode: 0o700 });
    const log = openSync(join(dir, 'etcd', `${m.name}.log`), 'a');
    const child = spawn(ETCD, [
      '--name', m.name, '--data-dir', data,
      '--listen-client-urls', `${scheme}://127.0.0.1:${m.client}`, '--advertise-client-urls', `${scheme}://127.0.0.1:${m.client}`,
      '--listen-peer-urls', `${scheme}://127.0.0.1:${m.peer}`, '--initial-advertise-peer-urls', `${scheme}://127.0.0.1:${m.peer}`,
      '--initial-cluster', initial, '--initial-cluster-state', 'new', '--initial-cluster-token', `t-${process.pid}`,
      ...tlsFlags,
    ], { detached: true, stdio: ['ignore', log, log] });
    child.unref();
    pids.push(child.pid!);
    writeFileSync(join(dir, 'etcd', `${m.name}.pid`), `${child.pid}\n`);
  }
  const hosts = members.map((m) => `127.0.0.1:${m.client}`);
  const tlsArgs = certs && own ? ['--cacert', certs.ca, '--cert', own.cert, '--key', own.key] : [];
  const stop = () => {
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  };
  for (let i = 0; i < 100; i++) {
    const r = spawnSync(ETCDCTL, ['--endpoints', hosts.map((h) => `${scheme}://${h}`).join(','), ...tlsArgs, 'endpoint', 'health'], { env: { ...process.env, ETCDCTL_API: '3' }, encoding: 'utf8' });
    if (r.status === 0) {
      if (opts.auth) {
        const ep: Endpoint = { base: `${scheme}://${hosts[0]}`, ...(certs && own ? { cafile: certs.ca, certfile: own.cert, keyfile: own.key } : {}) };
        try {
          await setUpAuth(ep, opts.auth);
        } catch (err) {
          stop();
          throw err;
        }
      }
      return { hosts, pids, protocol: scheme, tlsArgs, stop };
    }
    await new Promise((res) => setTimeout(res, 200));
  }
  stop();
  throw new Error('etcd cluster did not become healthy');
}
