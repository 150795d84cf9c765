// Issue target for restores, as a ratio against raw pgBackRest on the same configuration, in the
// same run: a point-in-time restore of a 200 MB instance through the pgbackrest module (stop,
// `restore --delta --type=time`, start, wait until recovery has ended and the instance is
// promoted) costs at most 1.1x the same done by hand: `pg_ctl stop`, `pgbackrest restore` with the
// same options, `pg_ctl start`, then `SELECT pg_is_in_recovery()` polled until false. Median of 4
// each, in alternating order, so that both see the same cache and as many timelines. After each
// restore a row is written and its WAL archived: the next restore to the same time then ends on a
// commit of the new timeline (without one, recovery would end before reaching the target, which
// PostgreSQL refuses).
// Measured on a 2-core machine shared with other work: ratios 0.94 and 1.02 (two runs).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { runModule } from '../tests/helpers/module';
import { freePort, makeSandbox, psql, stopAll } from '../tests/helpers/sandbox';
import { median, seconds } from './timing';

const ROUNDS = 4;

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

async function main() {
  const sb = makeSandbox('socle-bench-pgbackrest-restore-');
  try {
    sb.writeSettings({ pgbackrest: { repository: { mode: 'path', path: join(sb.dir, 'repo'), retention: { full: 1 } } } });
    const port = await freePort();
    const inst = runModule('instance', {
      name: 'rs', port, settings: { listen_addresses: '127.0.0.1' }, pgbackrest: { stanza: 'bench', password: 'bench-Backup-1' },
    }, { env: sb.env });
    if (inst.result.failed) throw new Error(inst.result.msg);
    const env = inst.result.env;
    const datadir: string = inst.result.datadir;
    const bindir = env.PATH.split(':')[0];
    psql(env, "CREATE TABLE filler AS SELECT i AS id, repeat('x', 120) AS pad FROM generate_series(1, 1300000) i; CREATE INDEX ON filler (id); CHECKPOINT");
    const size = psql(env, 'SELECT pg_size_pretty(sum(pg_database_size(oid))) FROM pg_database');
    const backup = runModule('pgbackrest', { instance: 'rs', state: 'backed_up', type: 'full' }, { env: sb.env });
    if (backup.result.failed) throw new Error(backup.result.msg);
    // Rows on both sides of the target, every segment archived.
    psql(env, 'SELECT pg_sleep(1.1); CREATE TABLE marks (t timestamptz DEFAULT clock_timestamp()); INSERT INTO marks DEFAULT VALUES');
    const target = psql(env, 'SELECT clock_timestamp()::text');
    const archiveAfterWrite = () => {
      psql(env, 'SELECT pg_sleep(0.05); INSERT INTO marks DEFAULT VALUES');
      const segment = psql(env, 'SELECT pg_walfile_name(pg_switch_wal())');
      for (let i = 0; i < 300 && psql(env, 'SELECT last_archived_wal FROM pg_stat_archiver') !== segment; i++) sleep(100);
    };
    archiveAfterWrite();

    const inRecovery = () => {
      try {
        return psql(env, 'SELECT pg_is_in_recovery()') !== 'f';
      } catch {
        return true; // not accepting connections yet
      }
    };
    const configPath = join(sb.dir, 'srv/etc/pgbackrest');
    const passfile = join(configPath, `${inst.result.version}-rs.pgpass`);
    const pgCtl = join(bindir, 'pg_ctl');
    const raw: number[] = [];
    const ours: number[] = [];
    const rawRestore = () => raw.push(seconds(() => {
      execFileSync(pgCtl, ['stop', '-D', datadir, '-m', 'fast', '-w', '-s']);
      execFileSync('/usr/bin/pgbackrest', [
        `--config-path=${configPath}`, '--stanza=bench', '--log-level-console=warn', `--pg1-path=${datadir}`, '--delta', '--link-all',
        '--type=time', `--target=${target}`, '--target-action=promote', 'restore',
      ], { env: { ...process.env, PGHOST: '127.0.0.1', PGPASSFILE: passfile }, stdio: 'ignore' });
      execFileSync(pgCtl, ['start', '-D', datadir, '-w', '-s', '-l', join(sb.dir, 'raw-start.log')]);
      while (inRecovery()) sleep(50);
    }));
    const moduleRestore = () => ours.push(seconds(() => {
      const r = runModule('pgbackrest', { instance: 'rs', state: 'restored', target: { time: target } }, { env: sb.env });
      if (r.result.failed || !r.result.changed) throw new Error(JSON.stringify(r.result));
    }));
    // Each restore leaves one more timeline for the next to follow: the order alternates too.
    for (let i = 0; i < ROUNDS; i++) {
      for (const restore of i % 2 ? [moduleRestore, rawRestore] : [rawRestore, moduleRestore]) {
        restore();
        archiveAfterWrite();
      }
    }
    console.log(`PITR restore (${size} instance): module ${median(ours).toFixed(2)} s, raw stop + pgbackrest restore + start until promoted ${median(raw).toFixed(2)} s` +
      ` -> ratio ${(median(ours) / median(raw)).toFixed(2)} (target <= 1.10; median of ${ROUNDS}, order alternated)`);
  } finally {
    stopAll(sb.dir);
    sb.cleanup();
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
