// The `report` module on real PostgreSQL with Debian's pgBadger and pgCluu: an instance with
// the `logging: {preset: pgbadger}` preset runs a known workload (N distinct queries, the k-th
// run k times); the pgBadger report (incremental) counts them; pgcluu_collectd runs as a
// service while declared and the pgCluu report has the host's and the instance's sections; the
// configuration is idempotent, check mode does nothing, the crontab schedule is a managed
// block; absent stops the collector and removes the schedule. Skipped (saying why) when pgBadger
// or pgCluu is not installed (the Debian 13 container).
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { runModule, type RunOptions } from '../helpers/module';
import { freePort, makeSandbox, psql, type Sandbox } from '../helpers/sandbox';

jest.setTimeout(240_000);

const HAVE = ['/usr/bin/pgbadger', '/usr/bin/pgcluu', '/usr/bin/pgcluu_collectd'].every((f) => existsSync(f));
const HAVE_CRON = spawnSync('crontab', ['-l']).error === undefined;
if (!HAVE) {
  // eslint-disable-next-line no-console
  console.warn('report tests skipped: pgBadger or pgCluu is not installed (Debian: pgbadger, pgcluu)');
}
const describeIf = HAVE ? describe : describe.skip;

const N = 6;
let sb: Sandbox;
let port: number;
let env: Record<string, string>;
const run = (module: string, args: Record<string, unknown>, opts: RunOptions = {}) => runModule(module, args, { env: sb.env, ...opts });
const reportArgs = (extra: Record<string, unknown> = {}) => ({ instance: 'rp', pgbadger: {}, pgcluu: { interval: 2 }, ...extra });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

/** The pids of this sandbox's pgcluu_collectd processes (it renames itself: found by name and environment). */
function collectors(): number[] {
  return readdirSync('/proc').filter((e) => /^\d+$/.test(e)).flatMap((e) => {
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, 'utf8');
      const environ = readFileSync(`/proc/${e}/environ`, 'utf8').split('\0');
      return cmd.startsWith('pgcluu_collectd') && environ.includes(`SOCLE_SETTINGS=${sb.settingsFile}`) ? [Number(e)] : [];
    } catch {
      return [];
    }
  });
}

const crontab = () => {
  const r = spawnSync('crontab', ['-l'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout : '';
};

beforeAll(async () => {
  sb = makeSandbox('socle-report-');
  port = await freePort();
});
afterAll(() => {
  // The crontab is the test user's own: leave none of our blocks in it.
  if (HAVE_CRON && crontab().includes('socle.postgresql report')) {
    const kept = crontab().split('\n').filter((l, i, all) => {
      const begin = all.findIndex((x) => x.startsWith('# BEGIN socle.postgresql report'));
      const end = all.findIndex((x) => x.startsWith('# END socle.postgresql report'));
      return i < begin || i > end;
    });
    spawnSync('crontab', ['-'], { input: kept.join('\n') });
  }
  sb.cleanup();
});

describeIf('pgBadger and pgCluu reports', () => {
  test('an instance logging for pgBadger, and a workload of N distinct queries', () => {
    const { result } = run('instance', { name: 'rp', port, settings: { listen_addresses: '127.0.0.1' }, logging: { preset: 'pgbadger' } });
    expect(result.failed ? result.msg : 'ok').toBe('ok');
    env = result.env as Record<string, string>;
    psql(env, `CREATE DATABASE workload`);
    const w = { PGDATABASE: 'workload' };
    for (let k = 1; k <= N; k++) psql(env, `CREATE TABLE socle_wl_${k} (id int)`, w);
    // The k-th query runs k times: 21 executions of 6 distinct queries.
    for (let k = 1; k <= N; k++) for (let i = 0; i < k; i++) psql(env, `SELECT count(*) FROM socle_wl_${k}`, w);
  });

  test('check mode plans the script, the collector, the build, and does nothing', () => {
    const { result } = run('report', reportArgs({ build: true }), { check: true });
    expect(result.failed ? result.msg : 'ok').toBe('ok');
    expect(result.changes).toEqual([
      expect.stringMatching(/^write the report script of \d+-rp$/),
      expect.stringMatching(/^create the pgCluu statistics directory/),
      expect.stringMatching(/^start service socle-pgcluu_collectd-\d+-rp$/),
      expect.stringMatching(/^build the reports of \d+-rp$/),
    ]);
    expect(existsSync((result.script as string))).toBe(false);
    expect(collectors()).toEqual([]);
  });

  test('a bad option is refused, naming it', () => {
    const { result } = run('report', reportArgs({ pgbadger: { execpath: '/nonexistent/pgbadger' } }));
    expect(result.failed).toBe(true);
    expect(result.msg).toMatch(/option 'pgbadger\.execpath'/);
    expect(run('report', { instance: 'nosuch' }).result.msg).toMatch(/option 'instance'/);
  });

  test('the collector runs, and is idempotent', () => {
    const { result } = run('report', reportArgs());
    expect(result.failed ? result.msg : 'ok').toBe('ok');
    expect(result.collector).toMatchObject({ state: 'running' });
    expect(collectors()).toHaveLength(1);
    expect(statSync(result.script as string).mode & 0o777).toBe(0o700);
    expect(run('report', reportArgs()).result).toMatchObject({ changed: false, changes: [] });
    expect(run('report', reportArgs(), { check: true }).result).toMatchObject({ changed: false });
  });

  test('the pgBadger report counts the workload\'s queries; the pgCluu report has host and instance sections', async () => {
    // Two collections at least (interval 2 s): pgCluu reports on a series.
    const stats = join(sb.dir, 'srv/lib/pgcluu');
    for (let i = 0; i < 60 && !walk(stats).some((f) => f.endsWith('pg_stat_database.csv')); i++) await sleep(500);
    await sleep(4500);
    const { result } = run('report', reportArgs({ build: true }));
    expect(result.failed ? result.msg : 'ok').toBe('ok');
    expect(result.changed).toBe(true);
    const reports = result.reports as { pgbadger: string; pgcluu: string };
    expect(existsSync(reports.pgbadger)).toBe(true);
    // The day's report (incremental mode: <outdir>/<year>/<month>/<day>/index.html).
    const outdir = join(reports.pgbadger, '..');
    const day = walk(outdir).find((f) => /\/\d{4}\/\d{2}\/\d{2}\/index\.html$/.test(f))!;
    expect(day).toBeDefined();
    const keep = process.env.SOCLE_KEEP_REPORTS;
    if (keep) {
      cpSync(outdir, join(keep, 'pgbadger'), { recursive: true });
      cpSync(join(reports.pgcluu, '..'), join(keep, 'pgcluu'), { recursive: true });
    }
    const html = readFileSync(day, 'utf8');
    for (let k = 1; k <= N; k++) {
      // Each normalized query, with its number of executions, in the "Most frequent queries" table.
      const re = new RegExp(`<td>${k}</td>[\\s\\S]{0,2000}?select count\\(\\*\\) from socle_wl_${k}\\b`, 'i');
      expect(html).toMatch(re);
    }
    expect(existsSync(reports.pgcluu)).toBe(true);
    const pages = readdirSync(join(reports.pgcluu, '..'));
    // The host (system information) and the instance (cluster statistics).
    expect(pages).toEqual(expect.arrayContaining(['sysinfo.html', 'cluster-size.html']));
    expect(readFileSync(join(reports.pgcluu, '..', 'sysinfo.html'), 'utf8')).toMatch(/Kernel|CPU/i);
  });

  (HAVE_CRON ? test : test.skip)('schedule: a managed block of the crontab, idempotent, removed when left out', () => {
    const { result } = run('report', reportArgs({ schedule: 'daily' }));
    expect(result.failed ? result.msg : 'ok').toBe('ok');
    expect(result.schedule).toEqual({ calendar: 'daily', via: 'crontab' });
    expect(crontab()).toMatch(/^@daily \/bin\/sh \S+\.sh >>\S+ 2>&1$/m);
    expect(run('report', reportArgs({ schedule: 'daily' })).result).toMatchObject({ changed: false });
    const off = run('report', reportArgs()).result;
    expect(off.changes).toEqual([expect.stringMatching(/^remove the schedule/)]);
    expect(crontab()).not.toMatch(/socle\.postgresql report/);
  });

  test('absent stops the collector and removes the script; the reports stay', () => {
    const { result } = run('report', { instance: 'rp', state: 'absent' });
    expect(result.failed ? result.msg : 'ok').toBe('ok');
    expect(result.changes).toEqual(expect.arrayContaining([expect.stringMatching(/^stop service socle-pgcluu_collectd/), expect.stringMatching(/^remove the report script/)]));
    expect(collectors()).toEqual([]);
    expect(run('report', { instance: 'rp', state: 'absent' }).result).toMatchObject({ changed: false });
    expect(walk(join(sb.dir, 'srv/reports')).length).toBeGreaterThan(0);
    execFileSync('true');
  });
});
