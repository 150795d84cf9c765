// Scheduled pgBackRest backups (`pgbackrest: {schedule}`) with service_manager none: one entry
// of the owner's crontab per kind, written at creation, removed when the instance stops, back when
// it starts (also in a task that does not repeat the option), removed with the instance; the
// job's command, run once by hand, takes a backup that `info` lists; on a standby it does nothing.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runModule, type RunOptions } from '../helpers/module';
import { CRON_MARKER, removeSandboxCrontab, sandboxCrontab } from '../helpers/crontab';
import { freePort, makeSandbox, type Sandbox } from '../helpers/sandbox';

jest.setTimeout(180_000);

const MARKER = CRON_MARKER;
const PASSWORD = 'sch3dule-B4ckup';
const usable = existsSync('/usr/bin/pgbackrest') && spawnSync('crontab', ['-l']).error === undefined;
const describeIf = usable ? describe : describe.skip;

let sb: Sandbox;
let port: number;
/**
 * This sandbox's entries of the test user's crontab (marker and entry lines): the marker names the
 * job's script, under the sandbox; other test files run beside this one with their own.
 */
const crontab = () => sandboxCrontab(sb.dir);
const run = (args: Record<string, unknown>, opts: RunOptions = {}) => runModule('instance', { name: 'sched', ...args }, { env: sb.env, ...opts }).result;
const ok = (r: Record<string, any>) => expect(r.failed ? r.msg : 'ok').toBe('ok');
const declared = (schedule: Record<string, unknown> = { full: 'Sun *-*-* 01:00:00', incr: 'daily' }) => ({
  port, settings: { listen_addresses: '127.0.0.1' }, pgbackrest: { stanza: 'sch', password: PASSWORD, schedule },
});
const script = (kind: string) => {
  const m = new RegExp(`^${MARKER}socle-backup-\\d+-sched-${kind} \\S+\\n.* /bin/sh (\\S+) `, 'm').exec(crontab());
  return m ? m[1] : null;
};
const runJob = (file: string) => spawnSync('/bin/sh', [file], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', HOME: process.env.HOME! } });
const info = () => runModule('pgbackrest', { instance: 'sched', state: 'info' }, { env: sb.env }).result;

const cleanCrontab = () => removeSandboxCrontab(sb.dir);

beforeAll(async () => {
  sb = makeSandbox('socle-bksched-');
  sb.writeSettings({ pgbackrest: { repository: { mode: 'path', path: join(sb.dir, 'repo') } } });
  port = await freePort();
});
afterAll(() => {
  if (usable) cleanCrontab();
  sb?.cleanup();
});

describeIf('scheduled backups (crontab)', () => {
  test('check mode plans the entries and writes none', () => {
    const r = run(declared(), { check: true });
    ok(r);
    expect(r.changes).toEqual(expect.arrayContaining([expect.stringMatching(/^start service socle-backup-\d+-sched-full$/), expect.stringMatching(/^start service socle-backup-\d+-sched-incr$/)]));
    expect(crontab()).not.toMatch(/socle-backup/);
  });

  test('a new instance gets one crontab entry per kind; a re-run changes nothing', () => {
    const r = run(declared());
    ok(r);
    expect(crontab()).toMatch(new RegExp(`^${MARKER}socle-backup-\\d+-sched-full \\S+\\n0 1 \\* \\* 0 /bin/sh \\S+ >>\\S+ 2>&1$`, 'm'));
    expect(crontab()).toMatch(new RegExp(`^${MARKER}socle-backup-\\d+-sched-incr \\S+\\n0 0 \\* \\* \\* /bin/sh `, 'm'));
    expect(crontab()).not.toMatch(/sched-diff/);
    const full = script('full')!;
    expect(statSync(full).mode & 0o777).toBe(0o700);
    expect(readFileSync(full, 'utf8')).not.toContain(PASSWORD);
    expect(readFileSync(full, 'utf8')).toMatch(/pgbackrest --config-path=\S+ --stanza=sch --log-level-console=warn --type=full backup$/m);
    const again = run(declared());
    ok(again);
    expect(again.changed).toBe(false);
  });

  test("the job's command takes a backup that info lists (full, then incremental)", () => {
    let p = runJob(script('full')!);
    expect(p.stderr).toBe('');
    expect(p.status).toBe(0);
    let r = info();
    ok(r);
    expect(r.backups.map((b: any) => b.type)).toEqual(['full']);
    p = runJob(script('incr')!);
    expect(p.status).toBe(0);
    r = info();
    expect(r.backups.map((b: any) => b.type)).toEqual(['full', 'incr']);
  });

  test('a kind no longer declared is removed; a changed expression rewrites its entry', () => {
    const r = run(declared({ full: 'Sat *-*-* 02:15', incr: '' }));
    ok(r);
    expect(r.changes).toEqual(expect.arrayContaining([expect.stringMatching(/^remove the scheduled backup socle-backup-\d+-sched-incr$/)]));
    expect(crontab()).not.toMatch(/sched-incr/);
    expect(crontab()).toMatch(/^15 2 \* \* 6 \/bin\/sh \S+sched-full\.sh /m);
    expect(run(declared({ full: 'Sat *-*-* 02:15', incr: '' })).changed).toBe(false);
  });

  test('a bad expression is refused, naming the option, before anything is written', () => {
    const r = run(declared({ full: 'Sat *-*-* 02:15:07' }));
    expect(r.failed).toBe(true);
    expect(r.msg).toMatch(/option 'pgbackrest.schedule.full': .*seconds must be 00/);
    expect(crontab()).toMatch(/^15 2 \* \* 6 /m);
  });

  const sat = () => declared({ full: 'Sat *-*-* 02:15', incr: '' });
  test('stopping the instance removes the entries; starting it puts them back', () => {
    let r = run({ ...sat(), state: 'stopped' });
    ok(r);
    expect(crontab()).not.toMatch(/socle-backup/);
    r = run({ ...sat(), state: 'started' });
    ok(r);
    expect(crontab()).toMatch(/^15 2 \* \* 6 \/bin\/sh \S+sched-full\.sh /m);
    expect(run({ ...sat(), state: 'started' }).changed).toBe(false);
  });

  test('on a standby the job does nothing', () => {
    const file = script('full')!;
    ok(run({ ...sat(), state: 'stopped' }));
    const datadir = /^if \[ -e (\S+)\/standby\.signal \]/m.exec(readFileSync(file, 'utf8'))![1].replace(/^'|'$/g, '');
    writeFileSync(join(datadir, 'standby.signal'), '');
    try {
      const p = runJob(file);
      expect(p.status).toBe(0);
      expect(p.stdout).toMatch(/is a standby: no backup/);
    } finally {
      rmSync(join(datadir, 'standby.signal'));
    }
    ok(run({ ...sat(), state: 'started' }));
    expect(info().backups).toHaveLength(2);
  });

  test('dropping the instance removes its entries and scripts', () => {
    const file = script('full')!;
    const r = run({ state: 'absent' });
    ok(r);
    expect(crontab()).not.toMatch(/socle-backup/);
    expect(existsSync(file)).toBe(false);
  });
});
