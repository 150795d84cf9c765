// A component registered without touching the core: a test-only component that adds a
// parameter, a private file and a companion daemon to every instance, plugged in next to the
// shipped components the way modules/instance.ts composes them. Run in-process against real
// PostgreSQL: creation, check mode, re-run, stop, drop, and rollback when its step fails.
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { COMPONENTS } from '../../modules/lib/components';
import { alive as processAlive, daemonService } from '../../modules/lib/daemon';
import type { InstanceComponent } from '../../modules/lib/instance/component';
import { privateDir } from '../../modules/lib/instance/lifecycle';
import { reconcileInstance } from '../../modules/lib/instance/reconcile';
import { writePrivateFileAtomic } from '../../modules/lib/fsutil';
import type { ModuleContext, ModuleResult } from '../../modules/lib/runtime';
import { freePort, makeSandbox, psql, type Sandbox } from '../helpers/sandbox';

jest.setTimeout(120_000);

let failConfigure = false;

/** Everything a satellite does, in a few lines: the whole of what this test adds. */
const testComponent: InstanceComponent = {
  name: 'probe',
  declared: () => true,
  check: (c) => {
    if (c.opts.settings.application_name === 'forbidden') throw new Error("option 'settings.application_name': the probe refuses it");
  },
  parameters: () => ({ required: { track_io_timing: 'on' }, lists: { shared_preload_libraries: ['pg_stat_statements'] } }),
  configure(c) {
    const file = c.privateFile('probe', '.conf');
    const text = `port=${c.port}\n`;
    if (existsSync(file) && readFileSync(file, 'utf8') === text) return [];
    return [{
      change: `write ${file}`,
      commands: [`write ${file}`],
      async apply() {
        if (failConfigure) throw new Error('probe: disk full');
        privateDir(file);
        writePrivateFileAtomic(file, text);
        c.onUndo(async () => rmSync(file, { force: true }));
      },
    }];
  },
  services: (c) => [daemonService(c.settings, { name: `probe-${c.layout.version}-${c.layout.name}`, description: 'probe', argv: ['/bin/sleep', '3600'], logFile: c.privateFile('probe', '.log') })],
  drop(c) {
    const file = c.privateFile('probe', '.conf');
    return existsSync(file) ? [{ change: `remove ${file}`, commands: [`rm ${file}`], apply: async () => rmSync(file, { force: true }) }] : [];
  },
  facts: (c) => ({ file: c.privateFile('probe', '.conf') }),
};

const reconcile = reconcileInstance([...COMPONENTS, testComponent]);
let sb: Sandbox;
let port: number;

function ctx(checkMode = false): ModuleContext & { warnings: string[] } {
  const warnings: string[] = [];
  return { name: 'instance', checkMode, diff: true, verbosity: 0, warn: (m) => warnings.push(m), warnings };
}

async function task(opts: Record<string, unknown>, checkMode = false): Promise<ModuleResult> {
  const defaults = { port, state: 'started', settings: { listen_addresses: '127.0.0.1' }, restart_on_changes: false };
  return reconcile({ name: 'probed', ...defaults, ...opts } as never, ctx(checkMode));
}

const pidOf = (file: string) => {
  try {
    return Number(readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
};
// A stopped daemon may stay a zombie a moment (until PID 1 reaps it): daemon.ts's test says not running.
const alive = (pid: number | null) => (pid ? processAlive(pid) : false);

beforeAll(async () => {
  sb = makeSandbox('socle-components-');
  process.env.SOCLE_SETTINGS = sb.settingsFile;
  port = await freePort();
});
let daemonPidFile = '';
afterAll(() => {
  const pid = pidOf(daemonPidFile);
  if (alive(pid)) process.kill(pid!, 'SIGKILL');
  sb.cleanup();
});

describe('a test-only component', () => {
  let confFile: string;

  test('a failing step of the component rolls the creation back to nothing', async () => {
    failConfigure = true;
    await expect(task({})).rejects.toThrow(/probe: disk full/);
    failConfigure = false;
    expect(existsSync(`${sb.dir}/srv/etc/probe`) && readdirSync(`${sb.dir}/srv/etc/probe`).length).toBeFalsy();
    const versions: string[] = existsSync(`${sb.dir}/srv/pgsql`) ? readdirSync(`${sb.dir}/srv/pgsql`) : [];
    expect(versions.filter((v) => existsSync(`${sb.dir}/srv/pgsql/${v}/probed`))).toEqual([]);
  });

  test('its check runs before anything is written', async () => {
    await expect(task({ settings: { application_name: 'forbidden' } })).rejects.toThrow(/settings\.application_name/);
  });

  test('check mode plans its file and service, and writes nothing', async () => {
    const r = await task({}, true);
    expect(r.changed).toBe(true);
    expect(r.commands).toEqual(expect.arrayContaining([expect.stringMatching(/^write .*\/etc\/probe\/\d+-probed\.conf$/), expect.stringMatching(/\/bin\/sleep 3600/)]));
    expect(existsSync(`${sb.dir}/srv/etc/probe`)).toBe(false);
  });

  test('creation: its parameter, merged list, file, service and facts', async () => {
    const r = await task({ settings: { listen_addresses: '127.0.0.1', shared_preload_libraries: 'auto_explain' } });
    expect(r.changed).toBe(true);
    expect(r.probe).toEqual({ file: expect.stringMatching(/probe\/\d+-probed\.conf$/) });
    const env = r.env as Record<string, string>;
    expect(psql(env, 'SHOW track_io_timing')).toBe('on');
    expect(psql(env, 'SHOW shared_preload_libraries')).toBe('auto_explain, pg_stat_statements');
    expect(readFileSync((r.probe as { file: string }).file, 'utf8')).toBe(`port=${port}\n`);
    daemonPidFile = `${sb.dir}/run/daemons/probe-${r.version}-probed.pid`;
    confFile = (r.probe as { file: string }).file;
    expect(alive(pidOf(daemonPidFile))).toBe(true);
    // The order of the plan is the registration list's: the core, then the component.
    const changes = r.changes as string[];
    expect(changes.findIndex((c) => c.startsWith('write ') && c.endsWith('probed.conf'))).toBeGreaterThan(changes.findIndex((c) => c.startsWith('create instance')));
  });

  test('a re-run is no change', async () => {
    const r = await task({ settings: { listen_addresses: '127.0.0.1', shared_preload_libraries: 'auto_explain' } });
    expect({ changed: r.changed, changes: r.changes }).toEqual({ changed: false, changes: [] });
  });

  test('a user value contradicting the component is an error naming both', async () => {
    await expect(task({ settings: { listen_addresses: '127.0.0.1', track_io_timing: 'off' } })).rejects.toThrow(
      "option 'settings.track_io_timing': off contradicts component probe, which needs track_io_timing = on",
    );
  });

  test('its service stops with the instance and starts with it', async () => {
    const pid = pidOf(daemonPidFile);
    const stopped = await task({ state: 'stopped', settings: { listen_addresses: '127.0.0.1', shared_preload_libraries: 'auto_explain' } });
    expect(stopped.changes).toEqual(expect.arrayContaining([expect.stringMatching(/^stop service probe-/)]));
    expect(alive(pid)).toBe(false);
    const started = await task({ settings: { listen_addresses: '127.0.0.1', shared_preload_libraries: 'auto_explain' } });
    expect(started.changes).toEqual(expect.arrayContaining([expect.stringMatching(/^start service probe-/)]));
    expect(alive(pidOf(daemonPidFile))).toBe(true);
  });

  test('drop removes its file and stops its service', async () => {
    const pid = pidOf(daemonPidFile);
    const r = await task({ state: 'absent' });
    expect(r.changed).toBe(true);
    expect(alive(pid)).toBe(false);
    expect(existsSync(confFile)).toBe(false);
    const again = await task({ state: 'absent' });
    expect(again.changed).toBe(false);
  });
});
