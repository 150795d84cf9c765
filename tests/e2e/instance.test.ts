// End to end: the built tarball installed with ansible-galaxy, playbooks run by ansible-playbook
// on localhost as an unprivileged user, twice (second run changed=0), with --check and --diff.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ansibleDoc, installCollection, playbook } from '../helpers/ansible';
import { freePort, makeSandbox, type Sandbox } from '../helpers/sandbox';

jest.setTimeout(300_000);

let sb: Sandbox;
let env: NodeJS.ProcessEnv;
let ports: [number, number];

beforeAll(async () => {
  sb = makeSandbox('socle-e2e-');
  env = installCollection(sb.dir);
  ports = [await freePort(), await freePort()];
});
afterAll(() => sb.cleanup());

function play(tasks: unknown[], extra: Record<string, unknown> = {}) {
  return [{ hosts: 'localhost', gather_facts: false, environment: { SOCLE_SETTINGS: sb.settingsFile }, tasks, ...extra }];
}

const instances = (overrides: Record<string, unknown> = {}) => [
  {
    name: 'app: a started instance',
    'socle.postgresql.instance': {
      name: 'app', port: ports[0], settings: { listen_addresses: '127.0.0.1', work_mem: '8MB', log_min_duration_statement: '1s' }, ...overrides,
    },
    register: 'app',
  },
  {
    name: 'reporting: a stopped instance',
    'socle.postgresql.instance': { name: 'reporting', port: ports[1], state: 'stopped', settings: { listen_addresses: '127.0.0.1', shared_buffers: '64MB' } },
  },
];

describe('playbooks against localhost', () => {
  test('ansible-doc renders every module', () => {
    for (const m of ['instance', 'instance_info']) {
      const r = ansibleDoc(env, [`socle.postgresql.${m}`]);
      expect(r.stderr).not.toMatch(/ERROR/);
      expect(r.status).toBe(0);
      expect(r.stdout).toContain(`socle.postgresql.${m}`);
      const json = JSON.parse(ansibleDoc(env, ['--json', `socle.postgresql.${m}`]).stdout);
      expect(Object.keys(json[`socle.postgresql.${m}`].doc.options).length).toBeGreaterThan(0);
    }
    expect(ansibleDoc(env, ['socle.postgresql.instance']).stdout).toMatch(/surole_password/);
  });

  test('creates two instances, then a re-run changes nothing', () => {
    const first = playbook(sb.dir, env, play(instances()));
    expect(first.output).toContain('changed=2');
    expect(first.recap).toEqual({ ok: 2, changed: 2, failed: 0 });
    const second = playbook(sb.dir, env, play(instances()));
    expect(second.recap).toEqual({ ok: 2, changed: 0, failed: 0 });
  });

  test('the instances are as declared', () => {
    const r = playbook(sb.dir, env, play([
      { 'socle.postgresql.instance_info': { name: 'app' }, register: 'info' },
      { 'ansible.builtin.command': "psql -Atc 'SHOW work_mem'", environment: '{{ info.env }}', register: 'wm', changed_when: false },
      { 'ansible.builtin.assert': { that: ["wm.stdout == '8MB'", "info.status == 'running'"] } },
      { 'socle.postgresql.instance_info': { name: 'reporting' }, register: 'rep' },
      { 'ansible.builtin.assert': { that: ["rep.status == 'stopped'"] } },
    ]));
    expect(r.recap).toEqual({ ok: 5, changed: 0, failed: 0 });
  });

  test('--check --diff reports a changed setting and changes nothing', () => {
    const app = JSON.parse(JSON.stringify(instances({ settings: { listen_addresses: '127.0.0.1', work_mem: '16MB', log_min_duration_statement: '1s' } })));
    const before = readConf('app');
    const r = playbook(sb.dir, env, play(app), ['--check', '--diff']);
    expect(r.recap).toEqual({ ok: 2, changed: 1, failed: 0 });
    expect(r.output).toMatch(/-work_mem = '8MB'/);
    expect(r.output).toMatch(/\+work_mem = '16MB'/);
    expect(readConf('app')).toBe(before);
    const info = playbook(sb.dir, env, play([
      { 'socle.postgresql.instance_info': { name: 'app' }, register: 'info' },
      { 'ansible.builtin.command': "psql -Atc 'SHOW work_mem'", environment: '{{ info.env }}', register: 'wm', changed_when: false },
      { 'ansible.builtin.assert': { that: ["wm.stdout == '8MB'"] } },
    ]));
    expect(info.recap.failed).toBe(0);
  });

  test('module_defaults for the action group apply to every module', () => {
    const version = readFileSync(join(sb.dir, 'srv/pgsql', onlyVersion(), 'app/data/PG_VERSION'), 'utf8').trim();
    const r = playbook(sb.dir, env, play(
      [
        { 'socle.postgresql.instance_info': { name: 'app' }, register: 'info' },
        { 'ansible.builtin.assert': { that: [`info.version == '${version}'`] } },
      ],
      { module_defaults: { 'group/socle.postgresql.all': { version } } },
    ));
    expect(r.recap).toEqual({ ok: 2, changed: 0, failed: 0 });
  });

  test('bad options fail clearly, naming the option, and create nothing', () => {
    const r = playbook(sb.dir, env, play([{ 'socle.postgresql.instance': { name: 'bad-one', port: 'five', state: 'on' } }]));
    expect(r.recap.failed).toBe(1);
    expect(r.output).toContain("option 'name' must not contain '-' or '/'");
    expect(r.output).toContain("option 'port' must be integer");
    expect(r.output).toContain("option 'state' must be one of: started, stopped, restarted, absent");
    expect(existsSync(join(sb.dir, 'srv/pgsql', onlyVersion(), 'bad-one'))).toBe(false);
  });

  test('absent drops both; a second run changes nothing', () => {
    const drop = play([
      { 'socle.postgresql.instance': { name: 'app', state: 'absent' } },
      { 'socle.postgresql.instance': { name: 'reporting', state: 'absent' } },
    ]);
    expect(playbook(sb.dir, env, drop).recap).toEqual({ ok: 2, changed: 2, failed: 0 });
    expect(existsSync(join(sb.dir, 'srv/pgsql', onlyVersion(), 'app'))).toBe(false);
    expect(playbook(sb.dir, env, drop).recap).toEqual({ ok: 2, changed: 0, failed: 0 });
  });
});

function onlyVersion(): string {
  return readdirSync(join(sb.dir, 'srv/pgsql'))[0];
}

function readConf(name: string): string {
  return readFileSync(join(sb.dir, 'srv/pgsql', onlyVersion(), name, 'data/socle.conf'), 'utf8');
}

