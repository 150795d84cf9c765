// End to end: a primary and its standby declared in one playbook, from the built tarball, run by
// ansible-playbook: converges, replicates, re-runs with changed=0, and --check --diff on a new
// standby changes nothing.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { installCollection, playbook } from '../helpers/ansible';
import { eventually, freePort, makeSandbox, psql, type Sandbox } from '../helpers/sandbox';

jest.setTimeout(300_000);

let sb: Sandbox;
let env: NodeJS.ProcessEnv;
let ports: number[];

beforeAll(async () => {
  sb = makeSandbox('socle-e2e-standby-');
  sb.writeSettings({ postgresql: { replrole: 'replicator' } });
  env = installCollection(sb.dir);
  ports = [await freePort(), await freePort(), await freePort()];
});
afterAll(() => sb.cleanup());

const play = (tasks: unknown[]) => [{
  hosts: 'localhost',
  gather_facts: false,
  environment: { SOCLE_SETTINGS: sb.settingsFile },
  vars: { repl_password: 'Repl-e2e-Secret' },
  tasks,
}];

const cluster = [
  {
    name: 'primary',
    'socle.postgresql.instance': {
      name: 'pri', port: '{{ ports[0] }}', settings: { listen_addresses: '127.0.0.1' },
      replrole_password: '{{ repl_password }}', replication_slots: ['sec'],
    },
    register: 'pri',
  },
  {
    name: 'standby',
    'socle.postgresql.instance': {
      name: 'sec', port: '{{ ports[1] }}', settings: { listen_addresses: '127.0.0.1' },
      standby: { primary_conninfo: 'host=127.0.0.1 port={{ ports[0] }}', password: '{{ repl_password }}', slot: 'sec' },
    },
    register: 'sec',
  },
];

test('a primary and its standby converge, replicate, and re-run with no change', async () => {
  const tasks = cluster.map((t) => ({ ...t, vars: { ports } }));
  const first = playbook(sb.dir, env, play(tasks), ['-v']);
  expect(first.output).not.toMatch(/fatal:|ERROR!/);
  expect(first.recap).toMatchObject({ changed: 2, failed: 0 });
  expect(first.output).not.toContain('Repl-e2e-Secret');
  const info = playbook(sb.dir, env, play([
    { 'socle.postgresql.instance_info': { name: 'pri' }, register: 'p' },
    { 'socle.postgresql.instance_info': { name: 'sec' }, register: 's' },
    { 'ansible.builtin.copy': { content: '{{ {"p": p, "s": s} | to_json }}', dest: `${sb.dir}/facts.json` } },
  ]));
  expect(info.recap.failed).toBe(0);
  const facts = JSON.parse(readFileSync(`${sb.dir}/facts.json`, 'utf8'));
  expect(facts.s.replication.role).toBe('standby');
  expect(facts.p.replication.standbys).toHaveLength(1);
  psql(facts.p.env, 'CREATE TABLE t AS SELECT generate_series(1, 42) AS id');
  expect(await eventually(() => psql(facts.s.env, "SELECT count(*) FROM pg_class WHERE relname = 't'"), '1')).toBe('1');
  expect(psql(facts.s.env, 'SELECT count(*) FROM t')).toBe('42');

  const second = playbook(sb.dir, env, play(tasks));
  expect(second.recap).toMatchObject({ changed: 0, failed: 0 });
});

test('--check --diff on a new standby shows the base backup and changes nothing', () => {
  const task = {
    name: 'another standby',
    'socle.postgresql.instance': {
      name: 'third', port: ports[2], settings: { listen_addresses: '127.0.0.1' },
      standby: { primary_conninfo: `host=127.0.0.1 port=${ports[0]}`, password: '{{ repl_password }}' },
    },
  };
  const r = playbook(sb.dir, env, play([task]), ['--check', '--diff', '-v']);
  expect(r.recap).toMatchObject({ changed: 1, failed: 0 });
  expect(r.output).toMatch(/PGPASSWORD=<standby\.password> \S+pg_basebackup/);
  expect(r.output).toContain('primary_conninfo');
  expect(r.output).not.toContain('Repl-e2e-Secret');
  expect(existsSync(`${sb.dir}/srv/pgsql`) && readdirSync(`${sb.dir}/srv/pgsql`).some((v: string) => existsSync(`${sb.dir}/srv/pgsql/${v}/third`))).toBe(false);
});
