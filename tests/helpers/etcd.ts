// A throwaway etcd cluster for tests and benchmarks: n members of Debian's etcd on loopback, free
// ports, data directories and pid files under the sandbox (so the sandbox's cleanup kills them
// too), stopped by pid.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './sandbox';

export const ETCD = '/usr/bin/etcd';
export const ETCDCTL = '/usr/bin/etcdctl';

export interface EtcdCluster {
  /** `127.0.0.1:<client port>` of each member. */
  hosts: string[];
  pids: number[];
  stop(): void;
}

export async function startEtcd(dir: string, n = 3): Promise<EtcdCluster> {
  const members = [];
  for (let i = 0; i < n; i++) members.push({ name: `e${i}`, client: await freePort(), peer: await freePort() });
  const initial = members.map((m) => `${m.name}=http://127.0.0.1:${m.peer}`).join(',');
  const pids: number[] = [];
  for (const m of members) {
    const data = join(dir, 'etcd', m.name);
    mkdirSync(data, { recursive: true, mode: 0o700 });
    const log = openSync(join(dir, 'etcd', `${m.name}.log`), 'a');
    const child = spawn(ETCD, [
      '--name', m.name, '--data-dir', data,
      '--listen-client-urls', `http://127.0.0.1:${m.client}`, '--advertise-client-urls', `http://127.0.0.1:${m.client}`,
      '--listen-peer-urls', `http://127.0.0.1:${m.peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peer}`,
      '--initial-cluster', initial, '--initial-cluster-state', 'new', '--initial-cluster-token', `t-${process.pid}`,
    ], { detached: true, stdio: ['ignore', log, log] });
    child.unref();
    pids.push(child.pid!);
    writeFileSync(join(dir, 'etcd', `${m.name}.pid`), `${child.pid}\n`);
  }
  const hosts = members.map((m) => `127.0.0.1:${m.client}`);
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
    const r = spawnSync(ETCDCTL, ['--endpoints', hosts.join(','), 'endpoint', 'health'], { env: { ...process.env, ETCDCTL_API: '3' }, encoding: 'utf8' });
    if (r.status === 0) return { hosts, pids, stop };
    await new Promise((res) => setTimeout(res, 200));
  }
  stop();
  throw new Error('etcd cluster did not become healthy');
}
