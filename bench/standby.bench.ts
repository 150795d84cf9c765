// Issue target for standbys, as a ratio against the raw tools on the same data, in the same run:
// creating a standby of a 200 MB primary with the instance module costs at most 1.1x a raw
// `pg_basebackup` (WAL streamed, fast checkpoint, separate WAL directory) + `pg_ctl start -w`.
// Median of 3 each, alternating raw and module so that both see the same cache state.
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runModule } from '../tests/helpers/module';
import { freePort, makeSandbox, psql, stopAll } from '../tests/helpers/sandbox';
import { median, seconds } from './timing';

const PASSWORD = 'bench-Repl-1';
const ROUNDS = 3;

async function main() {
  const sb = makeSandbox('socle-bench-standby-');
  try {
    sb.writeSettings({ postgresql: { replrole: 'replicator' } });
    const primaryPort = await freePort();
    const primary = runModule('instance', {
      name: 'primary', port: primaryPort, settings: { listen_addresses: '127.0.0.1' }, replrole_password: PASSWORD,
    }, { env: sb.env });
    if (primary.result.failed) throw new Error(primary.result.msg);
    const penv = primary.result.env;
    // About 200 MB of table and index. The primary keeps fsync on: a base backup copies its
    // configuration, and a raw standby would inherit fsync=off where the module's does not.
    psql(penv, "CREATE TABLE filler AS SELECT i AS id, repeat('x', 120) AS pad FROM generate_series(1, 1300000) i; CREATE INDEX ON filler (id); CHECKPOINT");
    const size = psql(penv, 'SELECT pg_size_pretty(sum(pg_database_size(oid))) FROM pg_database');
    const bindir = penv.PATH.split(':')[0];
    const conninfo = `host=127.0.0.1 port=${primaryPort} user=replicator`;

    const raw: number[] = [];
    const ours: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const dir = mkdtempSync(join(sb.dir, 'raw-'));
      const port = await freePort();
      raw.push(seconds(() => {
        execFileSync(join(bindir, 'pg_basebackup'), ['--pgdata', join(dir, 'data'), '--waldir', join(dir, 'wal'), '--wal-method=stream', '--checkpoint=fast', '--no-password', '--dbname', conninfo], {
          env: { ...process.env, PGPASSWORD: PASSWORD }, stdio: 'ignore',
        });
        writeFileSync(join(dir, 'data', 'standby.signal'), '');
        appendFileSync(join(dir, 'data', 'postgresql.auto.conf'), `primary_conninfo = '${conninfo} password=${PASSWORD}'\n`);
        execFileSync(join(bindir, 'pg_ctl'), ['start', '-D', join(dir, 'data'), '-w', '-s', '-l', join(dir, 'log'), '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c logging_collector=off`], { stdio: 'ignore' });
      }));
      stopAll(dir);
      rmSync(dir, { recursive: true, force: true });

      const name = `standby${i}`;
      const p2 = await freePort();
      ours.push(seconds(() => {
        const r = runModule('instance', { name, port: p2, settings: { listen_addresses: '127.0.0.1' }, standby: { primary_conninfo: `host=127.0.0.1 port=${primaryPort}`, password: PASSWORD } }, { env: sb.env });
        if (r.result.failed || !r.result.changed) throw new Error(JSON.stringify(r.result));
      }));
      const drop = runModule('instance', { name, state: 'absent' }, { env: sb.env });
      if (drop.result.failed) throw new Error(drop.result.msg);
    }
    console.log(`standby creation (${size} primary): module ${median(ours).toFixed(2)} s, raw pg_basebackup + pg_ctl start -w ${median(raw).toFixed(2)} s` +
      ` -> ratio ${(median(ours) / median(raw)).toFixed(2)} (target <= 1.10; median of ${ROUNDS}, alternated)`);
  } finally {
    stopAll(sb.dir);
    sb.cleanup();
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
