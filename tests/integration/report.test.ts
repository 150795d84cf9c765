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

/**
 * This sandbox's pgcluu_collectd processes, from its pid files (Perl's `$0 =` overwrites the
 * process's command line and environment: they cannot be found by those).
 */
function collectors(): number[] {
  const dir = join(sb.dir, 'run/daemons');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => /pgcluu_collectd.*\.pid$/.test(f)).flatMap((f) => {
    try {
      const pid = Number(readFileSync(join(dir, f), 'utf8').trim());
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('pgcluu_collectd') ? [pid] : [];
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
    // The k-th query runs 50 k times (one statement a line, each logged alone), well above what
    // the pgCluu collector's own queries count in the report's top 20.
    const lines = [];
    for (let k = 1; k <= N; k++) for (let i = 0; i < 50 * k; i++) lines.push(`SELECT count(*) FROM socle_wl_${k};`);
    execFileSync(join(env.PATH.split(':')[0], 'psql'), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', '-'], {
      env: { ...process.env, ...env, ...w, PGAPPNAME: 'socle_workload' }, input: `${lines.join('\n')}\n`, stdio: ['pipe', 'ignore', 'inherit'],
    });
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
    // The "Most frequent queries" section, as text: `<rank> <times executed> Details <4 durations> <normalized query>`.
    const html = readFileSync(day, 'utf8');
    const section = html.slice(html.indexOf('id="most-frequent-queries"'), html.indexOf('id="normalized-slowest-queries"'));
    const text = section.replace(/<[^>]+>/g, ' ').replace(/&[a-z]+;/g, ' ').replace(/\s+/g, ' ');
    for (let k = 1; k <= N; k++) {
      const m = new RegExp(`\\d+ (\\d+) Details (?:\\S+ ){4}select count \\( \\* \\) from socle_wl_${k};`).exec(text);
      expect([k, m ? Number(m[1]) : null]).toEqual([k, 50 * k]);
    }
    expect(existsSync(reports.pgcluu)).toBe(true);
    // The host's section (kernel, CPU, memory) and the instance's (cluster, its databases).
    const home = readFileSync(reports.pgcluu, 'utf8').replace(/<script[\s\S]*?<\/script>/g, ' ').replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');
    expect(home).toMatch(/ Kernel /);
    expect(home).toMatch(/ Hostname /);
    expect(home).toMatch(/ Cluster size /);
    expect(home).toMatch(/ Largest database \(workload\) /);
    expect(readdirSync(join(reports.pgcluu, '..'))).toEqual(expect.arrayContaining(['cluster-database-size.html', 'database-workload.html']));
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
