// The EXAMPLES of every module's documentation, as installed from the tarball, run by
// ansible-playbook: what users copy must work. The text is used as written (so YAML 1.1 traps
// such as an unquoted `on:` key are met as users meet them); only what cannot be the same here
// is substituted: ports (free ones), the PostgreSQL version, the vault variables. The one example
// that needs a remote publisher host (a subscription to db1.example.com) is left out.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { installCollection, playbookText } from '../helpers/ansible';
import { freePort, makeSandbox, type Sandbox } from '../helpers/sandbox';

jest.setTimeout(300_000);

let sb: Sandbox;
let env: NodeJS.ProcessEnv;
const ports = new Map<string, number>();
const version = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a))[0];

beforeAll(async () => {
  sb = makeSandbox('socle-e2e-');
  env = installCollection(sb.dir);
  // The standby example needs the site's replication role, the pgbackrest examples a repository.
  sb.writeSettings({ postgresql: { replrole: 'replicator' }, pgbackrest: { repository: { mode: 'path', path: join(sb.dir, 'repo') } } });
  for (const p of ['5433', '5434', '5435', '5436', '9187']) ports.set(p, await freePort());
});
afterAll(() => sb.cleanup());

function examples(module: string): string {
  const doc = load(readFileSync(join(sb.dir, 'collections/ansible_collections/socle/postgresql/plugins/modules', `${module}.yml`), 'utf8')) as { EXAMPLES: string };
  return doc.EXAMPLES;
}

/** Keeps the examples (top-level `- name:` items) whose name does not match `skip`. */
function without(text: string, skip: RegExp): string {
  return text
    .split(/\n(?=- name: )/)
    .filter((item) => !skip.test(item.split('\n')[0]))
    .join('\n');
}

function localised(text: string): string {
  return text
    .replace(/\b(5433|5434|5435|5436|9187)\b/g, (p) => String(ports.get(p)))
    .replace(/(version: )"15"/g, `$1"${version}"`)
    .replace(/instance: 15\//g, `instance: ${version}/`);
}

function run(tasks: string) {
  const indented = tasks.trimEnd().split('\n').map((l) => (l ? `    ${l}` : l)).join('\n');
  const play = [
    '- hosts: localhost',
    '  gather_facts: false',
    `  environment: { SOCLE_SETTINGS: ${sb.settingsFile} }`,
    '  vars: { vault_postgres_password: pg-Secret-1, vault_app_password: app-Secret-2, vault_repl_password: repl-Secret-3, vault_monitoring_password: mon Secret-4, vault_backup_password: bk-Secret-5 }',
    '  tasks:',
    indented,
    '',
  ].join('\n');
  return playbookText(sb.dir, env, play);
}

test('every documented example runs', () => {
  const instance = run(localised(examples('instance')));
  expect(instance.output).not.toMatch(/fatal:|ERROR!/);
  expect(instance.recap.failed).toBe(0);
  expect(instance.recap.ok).toBe(9);

  const role = run(localised(examples('role')));
  expect(role.output).not.toMatch(/fatal:|ERROR!/);
  expect(role.recap).toMatchObject({ ok: 4, failed: 0 });

  const info = run(localised(examples('instance_info')));
  expect(info.output).not.toMatch(/fatal:|ERROR!/);
  expect(info.recap).toMatchObject({ ok: 2, failed: 0 });

  // The publication example publishes two tables of schema app: the application's tables.
  const tables = [
    '- name: Tables of the application (for the publication example)',
    '  ansible.builtin.command:',
    '    argv: [psql, -d, app, -c, "CREATE TABLE IF NOT EXISTS app.orders (id int PRIMARY KEY); CREATE TABLE IF NOT EXISTS app.order_lines (id int PRIMARY KEY)"]',
    '  environment: "{{ main_info.env }}"',
    '',
  ].join('\n');
  const dbExamples = without(examples('database'), /subscribed to its publication/);
  const [first, ...rest] = dbExamples.split(/\n(?=- name: )/);
  const database = run(localised(['- socle.postgresql.instance_info: { name: main }\n  register: main_info', first, tables, ...rest].join('\n')));
  expect(database.output).not.toMatch(/fatal:|ERROR!/);
  expect(database.recap.failed).toBe(0);
  expect(database.recap.ok).toBe(2 + dbExamples.split(/\n(?=- name: )/).length);

  // The pgbackrest examples act on main's stanza: main gets one first. The restore's target is
  // a time of this run (after the backup and the restore point the copy example restores to,
  // before a commit that is archived), not the doc's.
  const [backup, restore, ...others] = examples('pgbackrest').split(/\n(?=- name: )/);
  const pitr = [
    '- name: main archives to a stanza (for the pgbackrest examples)',
    '  socle.postgresql.instance:',
    '    { name: main, port: 5433, settings: { shared_buffers: 512MB }, restart_on_changes: true, pgbackrest: { stanza: main, password: "{{ vault_backup_password }}" } }',
    '  register: main_info',
    backup,
    '- name: A restore point and a time to restore to, then a commit after them',
    '  ansible.builtin.command:',
    '    argv: [psql, -XAt, -c, "SELECT pg_create_restore_point(\'before_migration\')", -c, "SELECT clock_timestamp() FROM pg_sleep(1.1)", -c, "CREATE TABLE after_target (); SELECT pg_switch_wal()"]',
    '  environment: "{{ main_info.env }}"',
    '  register: restore_time',
    restore.replace(/time: "[^"]+"/, 'time: "{{ restore_time.stdout_lines[1] }}"'),
    ...others,
  ].join('\n');
  const backups = run(localised(pitr));
  expect(backups.output).not.toMatch(/fatal:|ERROR!/);
  expect(backups.recap).toMatchObject({ ok: 6, failed: 0 });
});
