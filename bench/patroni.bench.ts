// Issue 9's target: the time from `kill -9` of the leader (its Patroni and its postmaster) to a
// new leader answering 200 on `/primary`, for a 3-member cluster made by the instance module vs
// the same cluster from a hand-written raw Patroni configuration with the same ttl, loop_wait
// and retry_timeout (synchronous_mode on both): ratio <= 1.0. Both run under a write load that
// records each acknowledged id; the ids missing on the new leader are printed (goal: 0).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dump } from 'js-yaml';
import { startEtcd } from '../tests/helpers/etcd';
import { runModule } from '../tests/helpers/module';
import { freePort, httpGet, makeSandbox, psql } from '../tests/helpers/sandbox';
import { discoverVersions } from '../modules/lib/settings';

const DCS = { ttl: 10, loop_wait: 2, retry_timeout: 4 };
const PW = 'bench-Secret';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Member {
  name: string;
  rest: number;
  pgPort: number;
  patroniPid(): number;
  datadir: string;
}

async function status(port: number, path: string): Promise<number> {
  try {
    return (await httpGet(`http://127.0.0.1:${port}${path}`)).status;
  } catch {
    return 0;
  }
}
async function leaderOf(ms: Member[]): Promise<Member | null> {
  for (const m of ms) if ((await status(m.rest, '/primary')) === 200) return m;
  return null;
}
async function waitAll(ms: Member[], what: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const c = await httpGet(`http://127.0.0.1:${ms[0].rest}/cluster`).catch(() => null);
    const members = c ? (JSON.parse(c.body).members as Array<{ state: string }>) : [];
    if (members.length === ms.length && members.every((m) => m.state === 'running' || m.state === 'streaming')) return;
    await sleep(500);
  }
  throw new Error(`${what}: the cluster did not come up`);
}

function load(port: number, out: string): ChildProcess {
  const script = `
    const { Client } = require('pg'); const fs = require('fs');
    (async () => {
      const c = new Client({ host: '127.0.0.1', port: ${port}, user: 'postgres', password: process.env.PGPASSWORD, database: 'postgres' });
      await c.connect();
      await c.query('CREATE TABLE IF NOT EXISTS acked (id bigint PRIMARY KEY)');
      for (let i = 1; ; i++) {
        try { await c.query('INSERT INTO acked VALUES ($1)', [i]); } catch { process.exit(0); }
        fs.appendFileSync(process.argv[1], i + '\\n');
      }
    })().catch(() => process.exit(0));`;
  return spawn(process.execPath, ['-e', script, out], { cwd: join(__dirname, '..'), env: { ...process.env, NODE_PATH: join(process.cwd(), 'node_modules'), PGPASSWORD: PW }, stdio: 'ignore' });
}

/** Kills the leader under load: seconds until another member answers 200 on /primary, acknowledged ids lost. */
async function killLeader(ms: Member[], dir: string, bindir: string): Promise<{ seconds: number; lost: number; acked: number }> {
  const old = (await leaderOf(ms))!;
  const acked = join(dir, `acked-${Date.now()}.txt`);
  writeFileSync(acked, '');
  const l = load(old.pgPort, acked);
  await sleep(3000);
  const postmaster = Number(readFileSync(join(old.datadir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const t0 = process.hrtime.bigint();
  process.kill(old.patroniPid(), 'SIGKILL');
  process.kill(postmaster, 'SIGKILL');
  let now: Member | undefined;
  while (now === undefined) {
    for (const m of ms) if (m !== old && (await status(m.rest, '/primary')) === 200) now = m;
    if (now === undefined) await sleep(100);
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  await new Promise<void>((r) => (l.exitCode !== null ? r() : l.once('exit', () => r())));
  const ids = readFileSync(acked, 'utf8').split('\n').filter(Boolean);
  const env = { PATH: `${bindir}:${process.env.PATH}`, PGHOST: '127.0.0.1', PGPORT: String(now.pgPort), PGUSER: 'postgres', PGDATABASE: 'postgres' };
  const present = Number(psql(env, `SELECT count(*) FROM acked WHERE id = ANY('{${ids.join(',')}}'::bigint[])`, { PGPASSWORD: PW }));
  return { seconds, lost: ids.length - present, acked: ids.length };
}

async function ours(hosts: string[]) {
  const sb = makeSandbox('socle-bench-patroni-');
  try {
    sb.writeSettings({ postgresql: { replrole: 'replicator' }, patroni: { etcd: { hosts }, ...DCS, synchronous_mode: true } });
    const ms: Member[] = [];
    for (const n of ['o1', 'o2', 'o3']) {
      const rest = await freePort();
      const pgPort = await freePort();
      const r = runModule('instance', {
        name: n, port: pgPort, surole_password: PW, replrole_password: PW, settings: { listen_addresses: '127.0.0.1' },
        patroni: { cluster: 'ours', node: n, restapi: { listen: `127.0.0.1:${rest}` } },
      }, { env: sb.env }).result;
      if (r.failed) throw new Error(r.msg);
      const pidFile = join(sb.dir, 'run', 'patroni', `${r.version}-${n}.pid`);
      ms.push({ name: n, rest, pgPort, datadir: r.datadir, patroniPid: () => Number(readFileSync(pidFile, 'utf8')) });
    }
    await waitAll(ms, 'ours');
    return await killLeader(ms, sb.dir, discoverVersions().at(-1)!.bindir);
  } finally {
    sb.cleanup();
  }
}

async function raw(hosts: string[]) {
  const sb = makeSandbox('socle-bench-patroni-raw-');
  const bindir = discoverVersions().at(-1)!.bindir;
  const procs: ChildProcess[] = [];
  try {
    const ms: Member[] = [];
    for (const n of ['r1', 'r2', 'r3']) {
      const rest = await freePort();
      const pgPort = await freePort();
      const dir = join(sb.dir, n);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const conf = {
        scope: 'raw', name: n,
        restapi: { listen: `127.0.0.1:${rest}`, connect_address: `127.0.0.1:${rest}` },
        etcd3: { hosts },
        bootstrap: {
          dcs: { ...DCS, synchronous_mode: true, postgresql: { use_pg_rewind: true } },
          initdb: [{ encoding: 'UTF8' }, { locale: 'C' }],
          pg_hba: ['local all all trust', 'host replication replicator 127.0.0.1/32 scram-sha-256', 'host all all 127.0.0.1/32 scram-sha-256'],
        },
        postgresql: {
          listen: `127.0.0.1:${pgPort}`, connect_address: `127.0.0.1:${pgPort}`, data_dir: join(dir, 'data'), bin_dir: bindir, pgpass: join(dir, 'pgpass'),
          authentication: { superuser: { username: 'postgres', password: PW }, replication: { username: 'replicator', password: PW }, rewind: { username: 'postgres', password: PW } },
          parameters: { unix_socket_directories: dir },
        },
      };
      writeFileSync(join(dir, 'patroni.yaml'), dump(conf), { mode: 0o600 });
      const p = spawn('/usr/bin/patroni', [join(dir, 'patroni.yaml')], { detached: true, stdio: ['ignore', 'ignore', 'ignore'] });
      procs.push(p);
      writeFileSync(join(dir, 'patroni.pid'), `${p.pid}\n`);
      ms.push({ name: n, rest, pgPort, datadir: join(dir, 'data'), patroniPid: () => p.pid! });
      // The first member bootstraps before the others clone it (as the module's tasks do).
      if (n === 'r1') for (let i = 0; i < 240 && (await status(rest, '/primary')) !== 200; i++) await sleep(500);
    }
    await waitAll(ms, 'raw');
    return await killLeader(ms, sb.dir, bindir);
  } finally {
    for (const p of procs) {
      try {
        process.kill(p.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    sb.cleanup();
  }
}

async function main() {
  const etcdDir = makeSandbox('socle-bench-etcd-');
  const etcd = await startEtcd(etcdDir.dir, 3);
  try {
    // Alternated, the raw cluster first: the same etcd, distinct scopes.
    const r = await raw(etcd.hosts);
    const o = await ours(etcd.hosts);
    console.log(`failover after kill -9 of the leader (3 members, ttl ${DCS.ttl}, loop_wait ${DCS.loop_wait}, retry_timeout ${DCS.retry_timeout}, synchronous_mode): ` +
      `ours ${o.seconds.toFixed(1)} s, raw Patroni ${r.seconds.toFixed(1)} s -> ratio ${(o.seconds / r.seconds).toFixed(2)} (target <= 1.00)`);
    console.log(`acknowledged transactions lost: ours ${o.lost} of ${o.acked}, raw ${r.lost} of ${r.acked} (goal: 0)`);
  } finally {
    etcd.stop();
    etcdDir.cleanup();
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
