// End to end: the etcd role from the tarball, unprivileged, without systemd, every member on
// loopback with its own ports and files (three inventory hosts on this one machine): one member,
// a re-run is no change; two hosts added to the group join the running cluster (one at a time),
// the data written before is still there, every member is healthy and started; a re-run is no
// change. The members are stopped by their pid files.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dump } from 'js-yaml';
import { ansiblePlaybook, hostRecaps, installCollection } from '../helpers/ansible';
import { freePort, makeSandbox, type Sandbox } from '../helpers/sandbox';
import { ETCD, ETCDCTL } from '../helpers/etcd';

jest.setTimeout(300_000);

const testIf = existsSync(ETCD) && existsSync(ETCDCTL) ? test : test.skip;
const NAMES = ['e1', 'e2', 'e3'];

let sb: Sandbox;
let env: NodeJS.ProcessEnv;
const ports: Record<string, { client: number; peer: number }> = {};
const pidFile = (n: string) => join(sb.dir, `${n}.pid`);
const client = (n: string) => `http://127.0.0.1:${ports[n].client}`;

/** The role on the first `count` members; the recap of each host. */
function runRole(count: number) {
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
  }]));
  const inventory = join(sb.dir, `inventory-${count}.yml`);
  writeFileSync(inventory, dump({ all: { children: { etcd: { hosts } } } }));
  const play = join(sb.dir, 'etcd.yml');
  writeFileSync(play, dump([{
    hosts: 'etcd',
    gather_facts: false,
    roles: [{ role: 'socle.postgresql.etcd', vars: { socle_etcd_install: false, socle_etcd_user: '', socle_etcd_service_manager: 'none', socle_etcd_cluster_token: `t-${process.pid}` } }],
  }]));
  const r = ansiblePlaybook(env, ['-i', inventory, play]);
  return { status: r.status, output: r.output, recap: hostRecaps(r.output) };
}

const etcdctl = (endpoints: string[], ...args: string[]) =>
  spawnSync(ETCDCTL, ['--endpoints', endpoints.join(','), ...args], { env: { ...process.env, ETCDCTL_API: '3' }, encoding: 'utf8' });

beforeAll(async () => {
  sb = makeSandbox('socle-etcd-role-');
  env = installCollection(sb.dir);
  for (const n of NAMES) ports[n] = { client: await freePort(), peer: await freePort() };
});
// The members' pid files are under the sandbox: its cleanup stops them (stopDaemons).
afterAll(() => sb?.cleanup());

describe('the etcd role, unprivileged, without systemd', () => {
  testIf('one member, then a re-run is no change', () => {
    const first = runRole(1);
    expect(first.status === 0 ? 'ok' : first.output.slice(-3000)).toBe('ok');
    expect(first.recap.e1.changed).toBeGreaterThan(0);
    expect(etcdctl([client('e1')], 'put', '/socle/kept', 'yes').status).toBe(0);
    const again = runRole(1);
    expect(again.status === 0 ? 'ok' : again.output.slice(-3000)).toBe('ok');
    expect(again.recap).toEqual({ e1: { changed: 0, failed: 0 } });
  });

  testIf('two hosts added to the group join the running cluster; a re-run is no change', () => {
    const grown = runRole(3);
    expect(grown.status === 0 ? 'ok' : grown.output.slice(-4000)).toBe('ok');
    // The first member is left as it was (no new configuration, no restart).
    expect(grown.recap.e1.changed).toBe(0);
    const list = etcdctl([client('e1')], 'member', 'list', '-w', 'json');
    expect(list.status).toBe(0);
    const members = (JSON.parse(list.stdout) as { members: Array<{ name?: string; clientURLs?: string[] }> }).members;
    expect(members.map((m) => m.name).sort()).toEqual(NAMES);
    // Every member started (a member added but never started has no name and no client URL).
    expect(members.every((m) => (m.clientURLs ?? []).length === 1)).toBe(true);
    const health = etcdctl(NAMES.map(client), 'endpoint', 'health');
    expect(health.status).toBe(0);
    expect(etcdctl([client('e3')], 'get', '--print-value-only', '/socle/kept').stdout.trim()).toBe('yes');
    for (const n of ['e2', 'e3']) expect(readFileSync(join(sb.dir, `${n}.env`), 'utf8')).toContain('ETCD_INITIAL_CLUSTER_STATE="existing"');
    const again = runRole(3);
    expect(again.status === 0 ? 'ok' : again.output.slice(-3000)).toBe('ok');
    expect(again.recap).toEqual({ e1: { changed: 0, failed: 0 }, e2: { changed: 0, failed: 0 }, e3: { changed: 0, failed: 0 } });
  });
});
