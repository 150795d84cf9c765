// pgBackRest with the instance module's `pgbackrest` option and the pgbackrest module, on real
// PostgreSQL and Debian's pgbackrest, with a repository in the sandbox: the stanza is set up at
// creation, a full backup is taken, rows are written at known times (the server's clock), and a
// point-in-time restore gives back exactly the rows of the target time (count and checksum);
// check mode runs nothing, re-runs are no change, drop keeps the backups, and the backup role's
// password is in no output, command line, log or readable file but its private passfile.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { runModule, runModuleKilledAfter, type RunOptions } from '../helpers/module';
import { eventually, freePort, makeSandbox, psql, type Sandbox } from '../helpers/sandbox';
import { watchSecrets, type SecretsCheck } from '../helpers/secrets';

jest.setTimeout(180_000);

const PGBACKREST = '/usr/bin/pgbackrest';
const PASSWORD = `b4ckup 'pa:ss\\ "wörd`;
const SETTINGS = { listen_addresses: '127.0.0.1', log_statement: 'all' };
const describeIf = existsSync(PGBACKREST) ? describe : describe.skip;

let sb: Sandbox;
let secrets: SecretsCheck;
let port: number;
let port2: number;
let port3: number;
let env: Record<string, string>;
const repo = () => join(sb.dir, 'repo');
const REPL_PASSWORD = 'r3pl-Secret';
const instance = (extra: Record<string, unknown> = {}) => ({ name: 'bk', port, settings: SETTINGS, replrole_password: REPL_PASSWORD, pgbackrest: { stanza: 'bk8', password: PASSWORD }, ...extra });
const standby = () => ({
  name: 'bkstandby', port: port3, settings: SETTINGS,
  standby: { primary_conninfo: `host=127.0.0.1 port=${port}`, password: REPL_PASSWORD },
  pgbackrest: { stanza: 'bk8' },
});
const run = (args: Record<string, unknown>, opts: RunOptions = {}) => runModule('instance', args, { env: sb.env, ...opts });
const backrest = (args: Record<string, unknown>, opts: RunOptions = {}) => runModule('pgbackrest', { instance: 'bk', ...args }, { env: sb.env, ...opts });
const ok = (r: Record<string, any>) => expect(r.failed ? r.msg : 'ok').toBe('ok');
/** Row count and checksum of the table, in one query. */
const contents = () => psql(env, "SELECT count(*) || ' ' || md5(coalesce(string_agg(id || ':' || v, ',' ORDER BY id), '')) FROM t");

beforeAll(async () => {
  sb = makeSandbox('socle-pgbackrest-');
  sb.writeSettings({ postgresql: { replrole: 'replicator' }, pgbackrest: { repository: { mode: 'path', path: repo(), retention: { full: 2 } } } });
  port = await freePort();
  port2 = await freePort();
  port3 = await freePort();
  secrets = watchSecrets(sb);
});
afterAll(() => sb.cleanup());

describeIf('pgBackRest: stanza, backups and point-in-time recovery', () => {
  test('without a pgbackrest section in the site settings, the option is refused before anything is written', () => {
    const bare = makeSandbox('socle-pgbackrest-bare-');
    try {
      const { result } = runModule('instance', instance(), { env: bare.env });
      expect(result.failed).toBe(true);
      expect(result.msg).toMatch(/option 'pgbackrest': the site settings .* have no 'pgbackrest' section/);
      expect(existsSync(join(bare.dir, 'srv'))).toBe(false);
    } finally {
      bare.cleanup();
    }
  });

  test('check mode plans the stanza and the backup role, and writes nothing', () => {
    const { result } = run(instance(), { check: true });
    ok(result);
    expect(result.changes).toEqual(expect.arrayContaining([
      expect.stringMatching(/^set instance \d+\/bk in stanza bk8$/),
      'create role backup (pgbackrest)',
      'create stanza bk8',
    ]));
    expect(existsSync(join(sb.dir, 'srv'))).toBe(false);
    expect(existsSync(repo())).toBe(false);
  });

  test('a new instance archives to its stanza, created and checked', () => {
    const { result } = run(instance());
    ok(result);
    env = result.env;
    expect(result.changes).toEqual(expect.arrayContaining(['create role backup (pgbackrest)', 'create stanza bk8']));
    expect(result.commands.join('\n')).toMatch(/pgbackrest --config-path=\S+ --stanza=bk8 --log-level-console=warn check$/m);
    expect(psql(env, 'SHOW archive_mode')).toBe('on');
    expect(psql(env, 'SHOW archive_command')).toMatch(/^\/usr\/bin\/pgbackrest --config-path=\S+\/etc\/pgbackrest --stanza=bk8 archive-push %p$/);
    expect(psql(env, "SELECT rolsuper FROM pg_roles WHERE rolname = 'backup'")).toBe('t');
    const stanzaFile = readFileSync(join(sb.dir, 'srv/etc/pgbackrest/conf.d/bk8.conf'), 'utf8');
    expect(stanzaFile).toContain(`pg1-path=${result.datadir}\npg1-port=${port}\npg1-user=backup\n`);
    expect(result.pgbackrest).toMatchObject({ stanza: 'bk8', backups: [] });
    expect(existsSync(join(repo(), 'backup/bk8/backup.info'))).toBe(true);
  });

  test('re-running the task is no change', () => {
    const { result } = run(instance());
    ok(result);
    expect({ changed: result.changed, changes: result.changes }).toEqual({ changed: false, changes: [] });
    // The facts of a no-op task come from the cache of the last `pgbackrest info` (repository unchanged).
    const cache = join(sb.dir, 'srv/etc/pgbackrest/cache/bk8.json');
    expect(JSON.parse(readFileSync(cache, 'utf8')).facts).toEqual(result.pgbackrest);
    const mtime = statSync(cache).mtimeMs;
    const again = run(instance()).result;
    expect(again.pgbackrest).toEqual(result.pgbackrest);
    expect(statSync(cache).mtimeMs).toBe(mtime);
  });

  let atBackup: string;
  test('check mode of a backup shows the command (full: there is none yet) and takes none', () => {
    psql(env, 'CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT i, md5(i::text) FROM generate_series(1, 100) i');
    atBackup = contents();
    const { result } = backrest({ state: 'backed_up' }, { check: true });
    ok(result);
    expect(result.changed).toBe(true);
    expect(result.commands).toEqual([expect.stringMatching(/^\/usr\/bin\/pgbackrest --config-path=\S+ --stanza=bk8 --log-level-console=warn --type=full backup$/)]);
    expect(result.backups).toEqual([]);
  });

  let target: string;
  let atTarget: string;
  test('a full backup, then rows written on both sides of a known time', async () => {
    const { result } = backrest({ state: 'backed_up' });
    ok(result);
    expect(result.changed).toBe(true);
    expect(result.backups).toHaveLength(1);
    const b = result.backups[0];
    expect(b).toMatchObject({ type: 'full', label: expect.stringMatching(/^\d{8}-\d{6}F$/) });
    expect(b.size).toBeGreaterThan(0);
    expect(b.repo_size).toBeGreaterThan(0);
    expect(b.wal_start).toMatch(/^[0-9A-F]{24}$/);
    expect(Date.parse(b.stop)).toBeGreaterThanOrEqual(Date.parse(b.start));

    // pgBackRest restores from a backup that ended (to the second) before the target.
    psql(env, 'SELECT pg_sleep(1.1); INSERT INTO t SELECT i, md5(i::text) FROM generate_series(101, 200) i');
    // The target: the server's clock after that commit; what follows commits after it.
    target = psql(env, 'SELECT clock_timestamp()::text');
    atTarget = contents();
    psql(env, 'SELECT pg_sleep(0.05); INSERT INTO t SELECT i, md5(i::text) FROM generate_series(201, 300) i; UPDATE t SET v = \'changed\' WHERE id <= 10');
    const segment = psql(env, 'SELECT pg_walfile_name(pg_switch_wal())');
    expect(await eventually(() => psql(env, 'SELECT last_archived_wal FROM pg_stat_archiver'), segment, 100)).toBe(segment);
    expect(contents()).not.toBe(atTarget);
  });

  test('check mode of a restore shows the exact commands and leaves the instance running as it is', () => {
    const now = contents();
    const { result } = backrest({ state: 'restored', target: { time: target } }, { check: true });
    ok(result);
    expect(result.changes).toEqual([
      expect.stringMatching(/^stop instance \d+\/bk$/),
      expect.stringMatching(new RegExp(`^restore \\d+/bk to time ${target.replace(/[.+]/g, '\\$&')}$`)),
      expect.stringMatching(/^start instance \d+\/bk$/),
      expect.stringMatching(/^wait until \d+\/bk has ended recovery$/),
    ]);
    expect(result.commands.join('\n')).toContain(`--delta --link-all --type=time '--target=${target}' --target-action=promote restore`);
    expect(contents()).toBe(now);
  });

  test('a point-in-time restore gives back exactly the rows of the target time, promoted', () => {
    const { result } = backrest({ state: 'restored', target: { time: target } });
    ok(result);
    expect(result.changed).toBe(true);
    expect(psql(env, 'SELECT pg_is_in_recovery()')).toBe('f');
    expect(contents()).toBe(atTarget);
    expect(atTarget.startsWith('200 ')).toBe(true);
    // The restored instance archives on a new timeline: writable, and its WAL reaches the stanza.
    psql(env, 'INSERT INTO t VALUES (1000, \'after\')');
  });

  test('info is no change; a later backup is incremental by default', () => {
    const info = backrest({ state: 'info' }).result;
    ok(info);
    expect(info.changed).toBe(false);
    expect(info.status).toBe('ok');
    expect(info.archive.max).toMatch(/^[0-9A-F]{24}$/);
    const { result } = backrest({ state: 'backed_up' });
    ok(result);
    expect(result.backups.map((b: { type: string }) => b.type)).toEqual(['full', 'incr']);
    const facts = runModule('instance_info', { name: 'bk' }, { env: sb.env }).result;
    expect(facts.pgbackrest.backups.map((b: { type: string }) => b.type)).toEqual(['full', 'incr']);
  });

  test('a time before every backup, or not a time, is refused before the instance is stopped', () => {
    for (const [time, why] of [['2000-01-01 00:00:00+00', /no backup of stanza bk8 ended before 2000-01-01/], ['yesterday-ish', /invalid input syntax for type timestamp/]] as const) {
      const { result } = backrest({ state: 'restored', target: { time } });
      expect(result.failed).toBe(true);
      expect(result.msg).toMatch(/option 'target\.time': /);
      expect(result.msg).toMatch(why);
      expect(psql(env, 'SELECT 1')).toBe('1');
    }
  });

  test('a restore into a new instance: the backup as it ended, beside the source, not archiving; a re-run is no change', async () => {
    const full = backrest({ state: 'info' }).result.backups[0].label;
    const task = { state: 'restored', target: { label: full }, to: { name: 'bkcopy', port: port2 } };
    const check = backrest(task, { check: true }).result;
    ok(check);
    expect(check.commands.join('\n')).toMatch(/--pg1-path=\S+\/bkcopy\/data --link-all --link-map=pg_wal=\S+\/bkcopy\/wal --type=immediate --set=\d{8}-\d{6}F --target-action=promote restore$/m);
    expect(runModule('instance_info', { name: 'bkcopy' }, { env: sb.env }).result.failed).toBe(true);
    const { result } = backrest(task);
    ok(result);
    expect(result.changed).toBe(true);
    const copy = runModule('instance_info', { name: 'bkcopy' }, { env: sb.env }).result;
    ok(copy);
    expect(copy.port).toBe(port2);
    expect(psql(copy.env, 'SELECT pg_is_in_recovery()')).toBe('f');
    expect(psql(copy.env, "SELECT count(*) || ' ' || md5(coalesce(string_agg(id || ':' || v, ',' ORDER BY id), '')) FROM t")).toBe(atBackup);
    expect(psql(copy.env, 'SHOW archive_mode')).toBe('off');
    expect(copy.pgbackrest).toBeNull();
    expect(psql(copy.env, 'SHOW cluster_name')).toBe(`${copy.version}/bkcopy`);
    // The source is untouched.
    expect(psql(env, 'SELECT count(*) FROM t')).toBe('201');
    const again = backrest(task).result;
    ok(again);
    expect(again.changed).toBe(false);
    ok(run({ name: 'bkcopy', state: 'absent' }).result);
  });

  test('a standby of an instance whose stanza has a backup is restored from the repository, then streams', async () => {
    const { result } = run(standby());
    ok(result);
    expect(result.changes[0]).toMatch(/^create standby \d+\/bkstandby from the backups of stanza bk8$/);
    expect(result.commands.join('\n')).toMatch(/--type=standby restore$/m);
    expect(result.changes).not.toContain('create stanza bk8');
    const senv = result.env;
    expect(psql(senv, 'SELECT pg_is_in_recovery()')).toBe('t');
    psql(env, "INSERT INTO t VALUES (2000, 'streamed')");
    expect(await eventually(() => psql(senv, 'SELECT count(*) FROM t'), '202', 100)).toBe('202');
    // Both in the stanza file, one index each.
    const stanzaFile = readFileSync(join(sb.dir, 'srv/etc/pgbackrest/conf.d/bk8.conf'), 'utf8');
    expect(stanzaFile).toMatch(/^pg1-path=\S+\/bk\/data$/m);
    expect(stanzaFile).toMatch(/^pg2-path=\S+\/bkstandby\/data$/m);
    const again = run(standby()).result;
    ok(again);
    expect(again.changed).toBe(false);
  });

  test('backup_standby: with a standby in the stanza, pgBackRest copies the files from it', () => {
    const settings = (backupStandby: boolean) => sb.writeSettings({
      postgresql: { replrole: 'replicator' },
      pgbackrest: { backup_standby: backupStandby, repository: { mode: 'path', path: repo(), retention: { full: 2 } } },
    });
    const stanzaFile = join(sb.dir, 'srv/etc/pgbackrest/conf.d/bk8.conf');
    try {
      settings(true);
      const { result } = run(instance());
      ok(result);
      expect(result.changes).toEqual([expect.stringMatching(/stanza bk8/)]);
      expect(readFileSync(stanzaFile, 'utf8')).toMatch(/^backup-standby=y$/m);
      ok(backrest({ state: 'backed_up', type: 'incr' }).result);
      const log = readFileSync(join(sb.dir, 'srv/log/pgbackrest/bk8-backup.log'), 'utf8');
      const lastBackup = log.slice(log.lastIndexOf('backup command begin'));
      expect(lastBackup).toMatch(/replay on the standby reached/);
    } finally {
      settings(false);
    }
    ok(run(instance()).result);
    expect(readFileSync(stanzaFile, 'utf8')).not.toMatch(/backup-standby/);
  });

  test('dropping the backups is refused while the standby shares the stanza', () => {
    const { result } = run({ name: 'bk', state: 'absent', pgbackrest: { stanza: 'bk8', delete_backups: true } });
    expect(result.failed).toBe(true);
    expect(result.msg).toMatch(/option 'pgbackrest.delete_backups': stanza bk8 is also used by \S+\/bkstandby\/data/);
    expect(psql(env, 'SELECT 1')).toBe('1');
  });

  test('an unknown backup label is refused, naming the option', () => {
    const { result } = backrest({ state: 'restored', target: { label: '20000101-000000F' } });
    expect(result.failed).toBe(true);
    expect(result.msg).toMatch(/option 'target.label': stanza bk8 has no backup 20000101-000000F/);
  });

  test('a dropped instance leaves the stanza and keeps the backups; delete_backups deletes them with the last one', () => {
    const st = run({ name: 'bkstandby', state: 'absent' }).result;
    ok(st);
    expect(st.changes).toEqual(expect.arrayContaining([expect.stringMatching(/^remove instance \d+\/bkstandby from stanza bk8$/)]));
    expect(readFileSync(join(sb.dir, 'srv/etc/pgbackrest/conf.d/bk8.conf'), 'utf8')).not.toContain('pg2-');
    expect(existsSync(join(repo(), 'backup/bk8/backup.info'))).toBe(true);
    const drop = { name: 'bk', state: 'absent', pgbackrest: { stanza: 'bk8', delete_backups: true } };
    const check = run(drop, { check: true }).result;
    ok(check);
    expect(check.commands.join('\n')).toMatch(/--stanza=bk8 --log-level-console=warn --force stanza-delete$/m);
    expect(existsSync(join(repo(), 'backup/bk8/backup.info'))).toBe(true);
    const { result } = run(drop);
    ok(result);
    expect(result.changes).toEqual(expect.arrayContaining(['delete stanza bk8 and its backups', expect.stringMatching(/^remove instance \d+\/bk from stanza bk8$/)]));
    expect(existsSync(join(sb.dir, 'srv/etc/pgbackrest/conf.d/bk8.conf'))).toBe(false);
    expect(existsSync(join(repo(), 'backup/bk8'))).toBe(false);
    expect(run({ name: 'bk', state: 'absent' }).result.changed).toBe(false);
  });

  test('a creation with its stanza killed at any point (issue 12) converges on the next run', async () => {
    for (const ms of [400, 1500, 3000]) {
      const task = { name: `killed${ms}`, port: await freePort(), settings: SETTINGS, pgbackrest: { stanza: `killed${ms}`, password: PASSWORD } };
      await runModuleKilledAfter('instance', task, ms, sb.env);
      const again = run(task);
      ok(again.result);
      expect(existsSync(join(repo(), `backup/killed${ms}/backup.info`))).toBe(true);
      expect(run(task).result).toMatchObject({ changed: false, changes: [] });
      ok(run({ name: task.name, state: 'absent', pgbackrest: { stanza: `killed${ms}`, delete_backups: true } }).result);
    }
  });

  test('no secret leaked', async () => expect((await secrets.finish()).leaks).toEqual([]));
});
