// End to end: the "First hour" of the collection README, read from the installed collection as
// users read it. Its files (group_vars/databases.yml, site.yml, objects.yml) are written to a
// project folder and run by ansible-playbook against an inventory group `databases`, then what
// the README says a DBA can do with the result is done: the owner connects by service name,
// another local user connects as itself, the application's roles work from a non-loopback
// address (shop creates a table in its schema, analyst reads it), and the module playbook and
// site.yml do not undo each other.
//
// Only what cannot be the same here is substituted, and each substitution must apply: the port
// (a free one), the clients' network (this host's own address), the owner (the test user, as
// extra var). The setup role's play is left out (it needs root: packages, users); the sandbox's
// site settings stand in for the file it writes, with a socket directory made the way it makes
// /run/postgresql (traversable by every user).
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { dump } from 'js-yaml';
import { ansiblePlaybook, installCollection, type PlaybookRun } from '../helpers/ansible';
import { freePort, makeSandbox, type Sandbox } from '../helpers/sandbox';

jest.setTimeout(300_000);

const version = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a))[0];
const psqlBin = `/usr/lib/postgresql/${version}/bin/psql`;
const me = userInfo().username;
const other = process.env.SOCLE_OTHER_USER;
const VAULT = { vault_postgres_password: 'Pg-first-hour-1', vault_shop_password: 'Shop-first-hour-2', vault_analyst_password: 'Analyst-first-hour-3' };

let sb: Sandbox;
let env: NodeJS.ProcessEnv;
let port: number;
let sockets: string;
let project: string;
let home: string;
/** An address of this host that is not loopback: connections from it are "remote" for pg_hba. */
const address = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address;

beforeAll(async () => {
  sb = makeSandbox('socle-e2e-');
  env = installCollection(sb.dir);
  port = await freePort();
  sockets = mkdtempSync(join(tmpdir(), 'socle-e2e-sockets-'));
  chmodSync(sockets, 0o755);
  sb.writeSettings({ postgresql: { socket_directory: sockets } });
  project = join(sb.dir, 'project');
  home = join(sb.dir, 'home');
  mkdirSync(join(project, 'group_vars'), { recursive: true });
  mkdirSync(home);
  // The owner's home: where the instance role writes ~/.pg_service.conf, and psql reads it.
  env = { ...env, HOME: home, SOCLE_SETTINGS: sb.settingsFile };
  writeFileSync(join(project, 'inventory'), '[databases]\nlocalhost ansible_connection=local\n');
  writeFileSync(join(project, 'vault.yml'), dump({ ...VAULT, socle_user: me }));

  const readme = readFileSync(join(sb.dir, 'collections/ansible_collections/socle/postgresql/README.md'), 'utf8');
  const file = (name: string) => {
    const block = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]).find((b) => b.startsWith(`# ${name}\n`));
    if (!block) throw new Error(`the README has no \`# ${name}\` yaml block`);
    return block;
  };
  writeFileSync(join(project, 'group_vars/databases.yml'), substitute(file('group_vars/databases.yml'), [
    [/port: 5432\n/g, `port: ${port}\n`],
    [/address: 10\.0\.0\.0, netmask: 255\.0\.0\.0/g, `address: ${address}, netmask: 255.255.255.255`],
  ]));
  // site.yml without the setup role's play.
  const plays = file('site.yml').split(/\n(?=- name: )/);
  expect(plays.filter((p) => p.includes('socle.postgresql.setup'))).toHaveLength(1);
  writeFileSync(join(project, 'site.yml'), plays.filter((p) => !p.includes('socle.postgresql.setup')).join('\n'));
  writeFileSync(join(project, 'objects.yml'), substitute(file('objects.yml'), [[/become_user: postgres\n/g, `become_user: ${me}\n`]]));
});
afterAll(() => {
  sb?.cleanup();
  if (sockets) rmSync(sockets, { recursive: true, force: true });
});

function substitute(text: string, rules: Array<[RegExp, string]>): string {
  for (const [pattern, by] of rules) {
    expect({ pattern: String(pattern), found: pattern.test(text) }).toEqual({ pattern: String(pattern), found: true });
    pattern.lastIndex = 0;
    text = text.replace(pattern, by);
  }
  return text;
}

function run(playbookFile: string, args: string[] = []): PlaybookRun {
  return ansiblePlaybook(env, ['-i', 'inventory', playbookFile, '-e', '@vault.yml', ...args], project);
}

/** psql as a client of the README: only the variables a user would have, plus the password. */
function psql(args: string[], extra: NodeJS.ProcessEnv = {}): string {
  return execFileSync(psqlBin, ['-X', '-At', '-v', 'ON_ERROR_STOP=1', ...args], {
    env: { PATH: process.env.PATH, HOME: home, ...extra },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

test('this host has an address other than loopback (to connect as a remote client)', () => {
  expect(address).toBeDefined();
});

test('site.yml deploys the instance and its application; a second run changes nothing', () => {
  const first = run('site.yml');
  expect(first.output).not.toMatch(/fatal:|ERROR!/);
  expect(first.recap.failed).toBe(0);
  expect(first.output).toContain('changed: [localhost] => (item=main)');
  const again = run('site.yml');
  expect(again.recap).toMatchObject({ changed: 0, failed: 0 });
  for (const secret of Object.values(VAULT)) expect(first.output.includes(secret) || again.output.includes(secret)).toBe(false);
});

test('the owner connects by the instance\'s name: psql service=main', () => {
  expect(psql(['service=main', '-c', "SELECT current_user, current_setting('port'), current_database()"])).toBe(`postgres|${port}|postgres`);
  expect(psql(['service=main dbname=shop', '-c', 'SELECT current_database()'])).toBe('shop');
  expect(psql(['shop', '-c', 'SELECT current_database()'], { PGSERVICE: 'main' })).toBe('shop');
});

(other ? test : test.skip)('another local user reaches the socket and connects as the role of its own name, and only as it', () => {
  // "create those roles": the owner does, by hand.
  psql(['service=main', '-c', `CREATE ROLE "${other}" LOGIN`]);
  const asOther = (user: string) => spawnSync('sudo', ['-n', '-u', other!, psqlBin, '-X', '-At', '-h', sockets, '-p', String(port), '-U', user, '-d', 'postgres', '-c', 'SELECT current_user'], { encoding: 'utf8' });
  const ok = asOther(other!);
  expect(ok.stderr).toBe('');
  expect(ok.stdout.trim()).toBe(other);
  // Peer authentication: the socket is reachable, but another user is not the owner.
  const refused = asOther('postgres');
  expect(refused.status).not.toBe(0);
  expect(refused.stderr).toMatch(/Peer authentication failed for user "postgres"/);
});

test('from a remote address, shop creates a table in its schema and analyst reads it, created after the grants', () => {
  const conn = (user: string) => `host=${address} port=${port} dbname=shop user=${user}`;
  expect(psql([conn('shop'), '-c', 'SHOW listen_addresses'], { PGPASSWORD: VAULT.vault_shop_password })).toBe('*');
  psql([conn('shop'), '-c', 'CREATE TABLE sales.orders (id int PRIMARY KEY, total numeric)', '-c', 'INSERT INTO sales.orders VALUES (1, 10), (2, 32)'], { PGPASSWORD: VAULT.vault_shop_password });
  expect(psql([conn('analyst'), '-c', 'SELECT count(*), sum(total) FROM sales.orders'], { PGPASSWORD: VAULT.vault_analyst_password })).toBe('2|42');
  // The default rules admit loopback only: the super-user is not let in from that address.
  const su = spawnSync(psqlBin, ['-X', conn('postgres'), '-c', 'SELECT 1'], { env: { PATH: process.env.PATH, HOME: home, PGPASSWORD: VAULT.vault_postgres_password }, encoding: 'utf8' });
  expect(su.status).not.toBe(0);
  expect(su.stderr).toMatch(/no pg_hba\.conf entry for host/);
});

test('objects.yml and site.yml run one after the other without undoing each other', () => {
  const objects = run('objects.yml');
  expect(objects.output).not.toMatch(/fatal:|ERROR!/);
  expect(objects.recap.failed).toBe(0);
  expect(run('site.yml').recap).toMatchObject({ changed: 0, failed: 0 });
  expect(run('objects.yml').recap).toMatchObject({ changed: 0, failed: 0 });
  expect(psql(['service=main', '-c', "SELECT pg_has_role('auditor', 'analyst', 'MEMBER'), (SELECT count(*) FROM pg_database WHERE datname = 'audit')"])).toBe('t|1');
});
