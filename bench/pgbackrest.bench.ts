// Issue target for backups, as a ratio against raw pgBackRest on the same configuration, in the
// same run: a full backup of a 200 MB instance through the pgbackrest module costs at most 1.1x
// `pgbackrest --type=full backup` run by hand with the files the module uses (its configuration,
// the backup role's passfile). Median of 3 each, alternated so that both see the same cache.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { runModule } from '../tests/helpers/module';
import { freePort, makeSandbox, psql, stopAll } from '../tests/helpers/sandbox';
import { median, seconds } from './timing';

const ROUNDS = 3;

async function main() {
  const sb = makeSandbox('socle-bench-pgbackrest-');
  try {
    sb.writeSettings({ pgbackrest: { repository: { mode: 'path', path: join(sb.dir, 'repo'), retention: { full: 1 } } } });
    const port = await freePort();
    const inst = runModule('instance', {
      name: 'bk', port, settings: { listen_addresses: '127.0.0.1' }, pgbackrest: { stanza: 'bench', password: 'bench-Backup-1' },
    }, { env: sb.env });
    if (inst.result.failed) throw new Error(inst.result.msg);
    const env = inst.result.env;
    psql(env, "CREATE TABLE filler AS SELECT i AS id, repeat('x', 120) AS pad FROM generate_series(1, 1300000) i; CREATE INDEX ON filler (id); CHECKPOINT");
    const size = psql(env, 'SELECT pg_size_pretty(sum(pg_database_size(oid))) FROM pg_database');
    const configPath = join(sb.dir, 'srv/etc/pgbackrest');
    const passfile = join(sb.dir, 'srv/etc/pgbackrest', `${inst.result.version}-bk.pgpass`);

    const raw: number[] = [];
    const ours: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      raw.push(seconds(() => {
        execFileSync('/usr/bin/pgbackrest', [`--config-path=${configPath}`, '--stanza=bench', '--log-level-console=warn', '--type=full', 'backup'], {
          env: { ...process.env, PGHOST: '127.0.0.1', PGPASSFILE: passfile }, stdio: 'ignore',
        });
      }));
      ours.push(seconds(() => {
        const r = runModule('pgbackrest', { instance: 'bk', state: 'backed_up', type: 'full' }, { env: sb.env });
        if (r.result.failed || !r.result.changed) throw new Error(JSON.stringify(r.result));
      }));
    }
    console.log(`full backup (${size} instance): module ${median(ours).toFixed(2)} s, raw pgbackrest backup ${median(raw).toFixed(2)} s` +
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
