// Logical dumps with the database module (and the instance's `databases` list), on real
// PostgreSQL: a dump now (check mode runs nothing), the `dumps` fact, the retention pruning the
// oldest, a restore into a new database and into an existing one with identical contents (row
// count and checksum), a scheduled dump as an entry of the owner's crontab (service_manager none)
// written, run once by hand, and removed with the option, with the database and with the instance.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { runModule, type RunOptions } from '../helpers/module';
import { CRON_MARKER, removeSandboxCrontab, sandboxCrontab } from '../helpers/crontab';
import { freePort, makeSandbox, psql, type Sandbox } from '../helpers/sandbox';
import { watchSecrets, type SecretsCheck } from '../helpers/secrets';

jest.setTimeout(180_000);

const MARKER = CRON_MARKER;
const hasCrontab = spawnSync('crontab', ['-l']).error === undefined;
const testCron = hasCrontab ? test : test.skip;

let sb: Sandbox;
let secrets: SecretsCheck;
const SU_PASSWORD = "dump 'Su-p4ss\\word";
let env: Record<string, string>;
const run = (args: Record<string, unknown>, opts: RunOptions = {}) => runModule('database', { instance: 'dmp', ...args }, { env: sb.env, ...opts }).result;
const sql = (text: string, db = 'postgres') => psql({ ...env, PGDATABASE: db }, text);
const ok = (r: Record<string, any>) => expect(r.failed ? r.msg : 'ok').toBe('ok');
const contents = (db: string) => sql("SELECT count(*) || ' ' || md5(coalesce(string_agg(id || ':' || v, ',' ORDER BY id), '')) FROM t", db);
/**
 * This sandbox's entries of the test user's crontab (marker and entry lines): the marker names the
 * job's script, under the sandbox; other test files run beside this one with their own.
 */
const crontab = () => sandboxCrontab(sb.dir);
const dumpsDir = () => join(sb.dir, 'srv', 'dumps');

const cleanCrontab = () => removeSandboxCrontab(sb.dir);

beforeAll(async () => {
  sb = makeSandbox('socle-dumps-');
  // The super-user's password (of the second instance) is kept in the site's passfile.
  sb.writeSettings({ postgresql: { dumps_directory: join(sb.dir, 'srv', 'dumps', '{version}-{name}'), dump_retention: 2, surole: { pgpass: true } } });
  secrets = watchSecrets(sb);
  const port = await freePort();
  const r = runModule('instance', { name: 'dmp', port, databases: [{ name: 'shop' }] }, { env: sb.env }).result;
  if (r.failed) throw new Error(r.msg);
  env = r.env;
  sql("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 5000) g", 'shop');
});
afterAll(() => {
  cleanCrontab();
  sb?.cleanup();
});

describe('logical dumps', () => {
  let first: string;

  test('check mode shows the pg_dump command and takes no dump', () => {
    const r = run({ name: 'shop', dump: true }, { check: true });
    ok(r);
    expect(r.changed).toBe(true);
    expect(r.changes).toEqual(['dump database shop']);
    expect(r.commands[0]).toMatch(/\/pg_dump -Fc -f '\S+\/shop_<date>\.dump' -d 'host=\S+ port=\d+ user=postgres dbname=shop'$/);
    expect(r.dumps).toEqual([]);
    expect(existsSync(dumpsDir())).toBe(false);
  });

  test('dump: true takes a dump (always a change), listed in the dumps fact', () => {
    const r = run({ name: 'shop', dump: true });
    ok(r);
    expect(r.changed).toBe(true);
    expect(r.dumps).toHaveLength(1);
    const d = r.dumps[0];
    expect(d.id).toMatch(/^\d{4}-\d\d-\d\dT\d{6}\.\d{3}Z$/);
    expect(d.path).toBe(join(dumpsDir(), `${d.path.split('/').slice(-2)[0]}`, `shop_${d.id}.dump`));
    expect(d.path.split('/').slice(-2)[0]).toMatch(/^\d+-dmp$/);
    expect(d.size).toBe(statSync(d.path).size);
    expect(d.size).toBeGreaterThan(1000);
    expect(new Date(d.date).toString()).not.toBe('Invalid Date');
    // pg_dump's custom format
    expect(readFileSync(d.path).subarray(0, 5).toString()).toBe('PGDMP');
    expect((statSync(d.path).mode & 0o077)).toBe(0);
    first = d.id;
  });

  test('the retention keeps the newest two dumps of the database', () => {
    ok(run({ name: 'shop', dump: true }));
    const r = run({ name: 'shop', dump: true });
    ok(r);
    expect(r.dumps).toHaveLength(2);
    expect(r.dumps.map((d: any) => d.id)).not.toContain(first);
    expect(r.dumps[0].id > r.dumps[1].id).toBe(true);
    expect(existsSync(join(dumpsDir(), r.dumps[0].path.split('/').slice(-2)[0], `shop_${first}.dump`))).toBe(false);
  });

  test('a task without dump options changes nothing (idempotent)', () => {
    const r = run({ name: 'shop' });
    ok(r);
    expect(r.changed).toBe(false);
    expect(r.dumps).toHaveLength(2);
  });

  test('restore into a new database gives identical contents', () => {
    const want = contents('shop');
    const r = run({ name: 'shop', restore: { dump: 'latest', target: 'shop_copy' } });
    ok(r);
    expect(r.changes).toEqual(['restore dump latest of shop into new database shop_copy']);
    expect(r.queries).toEqual(['CREATE DATABASE "shop_copy" OWNER "postgres" TEMPLATE template0']);
    expect(contents('shop_copy')).toBe(want);
    expect(want).toMatch(/^5000 [0-9a-f]{32}$/);
  });

  test('restore of a given dump into an existing database replaces what it holds', () => {
    sql('DELETE FROM t WHERE id > 10', 'shop_copy');
    const id = run({ name: 'shop' }).dumps[1].id;
    const r = run({ name: 'shop', restore: { dump: id, target: 'shop_copy' } });
    ok(r);
    expect(r.commands[0]).toMatch(/pg_restore --exit-on-error --clean --if-exists --dbname .* \S+shop_.*\.dump$/);
    expect(contents('shop_copy')).toBe(contents('shop'));
  });

  test('an unknown dump is an error naming the option, before anything is done', () => {
    const r = run({ name: 'shop', restore: { dump: '1999-01-01T000000.000Z', target: 'nope' } });
    expect(r.failed).toBe(true);
    expect(r.msg).toMatch(/option 'restore.dump': no dump 1999/);
    expect(sql("SELECT count(*) FROM pg_database WHERE datname = 'nope'")).toBe('0');
  });

  test('a calendar expression cron cannot express is refused, naming the option', () => {
    const r = run({ name: 'shop', schedule_dump: '*-*-* 03:00:30' });
    expect(r.failed).toBe(true);
    expect(r.msg).toMatch(/^database: option 'schedule_dump': .*seconds must be 00/);
  });

  test('without crontab on the host, a schedule is refused before anything is written', () => {
    const r = runModule('database', { instance: 'dmp', name: 'shop', schedule_dump: 'daily' }, { env: { ...sb.env, PATH: '/nonexistent' } }).result;
    expect(r.failed).toBe(true);
    expect(r.msg).toMatch(/^database: option 'schedule_dump': without systemd .* crontab is not available on this host/);
  });

  testCron('schedule_dump writes a crontab entry and its script; a re-run changes nothing', () => {
    const r = run({ name: 'shop', schedule_dump: 'Sun *-*-* 03:00' });
    ok(r);
    expect(r.changes).toEqual(['schedule the dumps of shop (Sun *-*-* 03:00)']);
    const tab = crontab();
    const m = new RegExp(`^${MARKER}(socle-dump-\\d+-dmp-shop) \\S+\\n0 3 \\* \\* 0 /bin/sh (\\S+) >>\\S+ 2>&1$`, 'm').exec(tab);
    expect(m).not.toBeNull();
    expect(statSync(m![2]).mode & 0o777).toBe(0o700);
    expect(readFileSync(m![2], 'utf8')).not.toMatch(/PGPASSWORD=|password=/i);
    const again = run({ name: 'shop', schedule_dump: 'Sun *-*-* 03:00' });
    ok(again);
    expect(again.changed).toBe(false);
    // A changed schedule rewrites the entry.
    const moved = run({ name: 'shop', schedule_dump: 'daily' });
    ok(moved);
    expect(moved.changed).toBe(true);
    expect(crontab()).toMatch(/^0 0 \* \* \* \/bin\/sh /m);
  });

  testCron("the scheduled job's command takes a dump and applies the retention", () => {
    const script = /\/bin\/sh (\S+)/.exec(crontab())![1];
    const before = run({ name: 'shop', schedule_dump: 'daily' }).dumps;
    const p = spawnSync('/bin/sh', [script], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', HOME: process.env.HOME! } });
    expect(p.stderr).toBe('');
    expect(p.status).toBe(0);
    const after = run({ name: 'shop', schedule_dump: 'daily' }).dumps;
    expect(after).toHaveLength(2);
    expect(after[0].id > before[0].id).toBe(true);
    expect(after.map((d: any) => d.id)).not.toContain(before[1].id);
  });

  testCron('a task that does not mention the schedule keeps it; the empty string removes it', () => {
    const kept = run({ name: 'shop', dump: true });
    ok(kept);
    expect(kept.changes).not.toContain('remove the scheduled dumps of shop');
    expect(crontab()).toMatch(/socle-dump/);
    const r = run({ name: 'shop', schedule_dump: '' });
    ok(r);
    expect(r.changes).toEqual(['remove the scheduled dumps of shop']);
    expect(crontab()).not.toMatch(/socle-dump/);
    expect(run({ name: 'shop', schedule_dump: '' }).changed).toBe(false);
  });

  testCron('a dropped database takes its schedule with it, after a last dump', () => {
    ok(run({ name: 'gone', schedule_dump: 'daily' }));
    expect(crontab()).toMatch(/socle-dump-\d+-dmp-gone/);
    const r = run({ name: 'gone', state: 'absent', dump: true });
    ok(r);
    expect(r.changes[0]).toBe('dump database gone');
    expect(r.changes).toContain('remove the scheduled dumps of gone');
    expect(r.dumps).toHaveLength(1);
    expect(crontab()).not.toMatch(/socle-dump-\d+-dmp-gone/);
  });

  testCron("the instance's databases list schedules dumps too, and dropping the instance removes them", () => {
    const i = runModule('instance', { name: 'dmp', databases: [{ name: 'shop', schedule_dump: 'Mon..Fri *-*-* 01:30:00' }] }, { env: sb.env }).result;
    ok(i);
    expect(crontab()).toMatch(/^30 1 \* \* 1-5 \/bin\/sh \S+socle-dump-\d+-dmp-shop\.sh/m);
    const again = runModule('instance', { name: 'dmp', databases: [{ name: 'shop', schedule_dump: 'Mon..Fri *-*-* 01:30:00' }] }, { env: sb.env }).result;
    ok(again);
    expect(again.changed).toBe(false);
    const d = runModule('instance', { name: 'dmp', state: 'absent' }, { env: sb.env }).result;
    ok(d);
    expect(d.changes).toEqual(expect.arrayContaining([expect.stringMatching(/^remove the scheduled dump socle-dump-\d+-dmp-shop$/)]));
    expect(crontab()).not.toMatch(/socle-dump/);
    // The dumps outlive the instance.
    expect(spawnSync('ls', ['-R', dumpsDir()], { encoding: 'utf8' }).stdout).toMatch(/shop_\d{4}/);
  });
});

describe('an instance whose super-user needs a password (scram-sha-256 on the socket)', () => {
  // The modules and the dump commands read the password from the site's passfile.
  const pwenv = () => ({ ...sb.env, PGPASSFILE: sb.passfile });
  const runw = (args: Record<string, unknown>) => runModule('database', { instance: 'dmpw', name: 'w', ...args }, { env: pwenv() }).result;

  beforeAll(async () => {
    const port = await freePort();
    const r = runModule('instance', {
      name: 'dmpw', port, surole_password: SU_PASSWORD, auth: { local: 'scram-sha-256', host: 'scram-sha-256' }, databases: [{ name: 'w' }],
    }, { env: pwenv() }).result;
    if (r.failed) throw new Error(r.msg);
  });

  test('a dump now and a scheduled one take the password from the passfile', () => {
    let r = runw({ dump: true });
    ok(r);
    expect(r.dumps).toHaveLength(1);
    if (hasCrontab) {
      r = runw({ schedule_dump: 'daily' });
      ok(r);
      const script = /\/bin\/sh (\S+socle-dump-\d+-dmpw-w\.sh)/.exec(crontab())![1];
      expect(readFileSync(script, 'utf8')).toMatch(/^PGPASSFILE=/m);
      const p = spawnSync('/bin/sh', [script], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', HOME: process.env.HOME! } });
      expect(p.stderr).toBe('');
      expect(runw({}).dumps).toHaveLength(2);
    }
    ok(runModule('instance', { name: 'dmpw', state: 'absent' }, { env: pwenv() }).result);
  });

  test('no secret leaked (outputs, command lines, logs, files)', async () => expect((await secrets.finish()).leaks).toEqual([]));
});
