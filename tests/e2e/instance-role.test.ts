// End to end: the instance role from the tarball, with items that carry passwords. Its loop
// hides nothing (no no_log): changes, diffs and failures are shown, and no password appears in
// the output at any verbosity (-vvvv included). Each instance gets a libpq service in the user's
// service file, and listens on localhost unless its settings say otherwise.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { userInfo } from 'node:os';
import { installCollection, playbook, type PlaybookRun } from '../helpers/ansible';
import { freePort, makeSandbox, type Sandbox } from '../helpers/sandbox';

jest.setTimeout(300_000);

let sb: Sandbox;
let env: NodeJS.ProcessEnv;
let ports: [number, number];
let serviceFile: string;
const version = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a))[0];
const psqlBin = `/usr/lib/postgresql/${version}/bin/psql`;

// Distinct, unlikely strings, so that finding one in the output can only mean a leak.
const SECRETS = {
  surole: 'Surole-s3cret-7Qx',
  app: 'App-s3cret-9Wz',
  repl: 'Repl-s3cret-4Kv',
  publisher: 'Publisher-s3cret-2Jm',
};

beforeAll(async () => {
  sb = makeSandbox('socle-e2e-');
  env = installCollection(sb.dir);
  ports = [await freePort(), await freePort()];
  serviceFile = join(sb.dir, 'pg_service.conf');
  sb.writeSettings({ postgresql: { replrole: 'replication' } });
});
afterAll(() => sb.cleanup());

function instances(workMem = '8MB', extra: Record<string, unknown> = {}, otherState = 'stopped') {
  return [
    {
      name: 'vault',
      port: ports[0],
      surole_password: SECRETS.surole,
      replrole_password: SECRETS.repl,
      settings: { work_mem: workMem, ...extra },
      roles: [{ name: 'app', login: true, password: SECRETS.app, pgpass: true }],
      databases: [{ name: 'app', owner: 'app', schemas: [{ name: 'app', owner: 'app' }] }],
    },
    { name: 'other', port: ports[1], state: otherState },
  ];
}

function runRole(socleInstances: unknown[], args: string[] = []): PlaybookRun {
  return playbook(sb.dir, env, [{
    hosts: 'localhost',
    gather_facts: false,
    environment: { SOCLE_SETTINGS: sb.settingsFile },
    vars: { socle_user: userInfo().username, socle_pg_service_file: serviceFile, socle_instances: socleInstances },
    roles: ['socle.postgresql.instance'],
  }], args);
}

function expectNoSecret(r: PlaybookRun): void {
  for (const [what, secret] of Object.entries(SECRETS)) {
    const at = r.output.indexOf(secret);
    // Name what leaked and where, without printing the secret's context twice.
    expect(at === -1 ? 'no leak' : `${what} password at offset ${at}`).toBe('no leak');
  }
}

function psqlService(service: string, sql: string): string {
  return execFileSync(psqlBin, [`service=${service}`, '-XAtc', sql], {
    env: { PATH: process.env.PATH, HOME: sb.dir, PGSERVICEFILE: serviceFile },
    encoding: 'utf8',
  }).trim();
}

test('the role deploys instances with passwords, shows each change, and prints no password at -vvvv', () => {
  const r = runRole(instances(), ['-vvvv']);
  expect(r.recap.failed).toBe(0);
  expect(r.recap.changed).toBeGreaterThanOrEqual(2);
  // The results are shown (they were hidden by no_log): the module's own facts and changes.
  expect(r.output).toMatch(/changed: \[localhost\] => \(item=vault\) => \{/);
  expect(r.output).toMatch(/"changes": \[\s*"create instance [0-9]+\/vault"/);
  expect(r.output).toMatch(/\*\*\*\*\*\*\*\*/); // the masked passwords, in the queries
  expectNoSecret(r);
});

test('a second run changes nothing, and still prints no password', () => {
  const r = runRole(instances(), ['-vvvv']);
  expect(r.recap).toMatchObject({ changed: 0, failed: 0 });
  expectNoSecret(r);
});

test('each instance has a service in the user\'s service file, with no password in it', () => {
  const text = readFileSync(serviceFile, 'utf8');
  expect(text).toContain('[vault]');
  expect(text).toContain(`port=${ports[0]}`);
  expect(text).toContain('[other]');
  for (const secret of Object.values(SECRETS)) expect(text.includes(secret)).toBe(false);
  expect(psqlService('vault', "SELECT current_user, current_setting('port')")).toBe(`postgres|${ports[0]}`);
});

test('an instance listens on localhost unless its settings say otherwise', () => {
  expect(psqlService('vault', 'SHOW listen_addresses')).toBe('localhost');
});

test('--check --diff shows the change of an item that carries passwords, and no password', () => {
  const before = readFileSync(serviceFile, 'utf8');
  const r = runRole(instances('16MB'), ['--check', '--diff', '-vvvv']);
  expect(r.recap).toMatchObject({ changed: 1, failed: 0 });
  expect(r.output).toMatch(/-work_mem = '8MB'/);
  expect(r.output).toMatch(/\+work_mem = '16MB'/);
  expectNoSecret(r);
  expect(psqlService('vault', 'SHOW work_mem')).toBe('8MB');
  expect(readFileSync(serviceFile, 'utf8')).toBe(before);
});

test('a failing item shows its error in full, and no password', () => {
  const r = runRole(instances('8MB', { work_mme: '4MB' }), ['-vvvv']);
  expect(r.recap.failed).toBe(1);
  expect(r.output).toContain("option 'settings.work_mme': unknown PostgreSQL parameter");
  expectNoSecret(r);
});

test('an absent instance loses its service', () => {
  const r = runRole(instances('8MB', {}, 'absent'), ['-v']);
  expect(r.recap).toMatchObject({ changed: 2, failed: 0 });
  expectNoSecret(r);
  const text = readFileSync(serviceFile, 'utf8');
  expect(text).toContain('[vault]');
  expect(text).not.toContain('[other]');
});
