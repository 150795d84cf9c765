// End to end: an application declared in a playbook (an instance with 2 databases, 4 roles with
// memberships, schemas, extensions, privileges), re-run with changed=0, then partly dropped
// with the role and database modules.
import { installCollection, playbook } from '../helpers/ansible';
import { freePort, makeSandbox, type Sandbox } from '../helpers/sandbox';

jest.setTimeout(300_000);

let sb: Sandbox;
let env: NodeJS.ProcessEnv;
let port: number;

beforeAll(async () => {
  sb = makeSandbox('socle-e2e-');
  env = installCollection(sb.dir);
  port = await freePort();
});
afterAll(() => sb.cleanup());

const play = (tasks: unknown[]) => [{ hosts: 'localhost', gather_facts: false, environment: { SOCLE_SETTINGS: sb.settingsFile }, tasks }];

const application = () => ({
  name: 'shop',
  port,
  settings: { listen_addresses: '127.0.0.1' },
  roles: [
    { name: 'shop_owner', login: true, password: 'Owner-pw-1' },
    { name: 'shop_readers' },
    { name: 'Ana María', login: true, password: 'ana-pw-2', memberships: ['shop_readers'] },
    { name: 'report bot', login: true, password: 'bot-pw-3', memberships: [{ role: 'shop_readers' }], connection_limit: 2 },
  ],
  databases: [
    {
      name: 'shop',
      owner: 'shop_owner',
      schemas: [{ name: 'sales', owner: 'shop_owner' }, 'audit'],
      extensions: ['pgcrypto', { name: 'hstore', schema: 'audit' }],
      privileges: [
        { role: 'shop_readers', privileges: ['CONNECT'], on: 'database' },
        { role: 'shop_readers', privileges: ['USAGE'], on: 'schema', schema: 'sales' },
        { role: 'shop_readers', privileges: ['SELECT'], on: 'tables', schema: 'sales' },
        { role: 'shop_readers', privileges: ['SELECT'], on: 'default_tables', schema: 'sales' },
      ],
    },
    { name: 'shop_archive', owner: 'shop_owner', settings: { work_mem: '16MB' } },
  ],
});

const check = (sql: string, want: string) => [
  { 'socle.postgresql.instance_info': { name: 'shop' }, register: 'info' },
  {
    'ansible.builtin.command': { argv: ['psql', '-XAtd', 'shop', '-c', sql] },
    environment: '{{ info.env }}', register: 'out', changed_when: false,
  },
  { 'ansible.builtin.assert': { that: [`out.stdout == ${JSON.stringify(want)}`], fail_msg: '{{ out.stdout }}' } },
];

test('the application is created, then a re-run changes nothing', () => {
  const first = playbook(sb.dir, env, play([{ 'socle.postgresql.instance': application(), no_log: true }]));
  expect(first.recap).toEqual({ ok: 1, changed: 1, failed: 0 });
  const again = playbook(sb.dir, env, play([{ 'socle.postgresql.instance': application(), no_log: true }]));
  expect(again.recap).toEqual({ ok: 1, changed: 0, failed: 0 });
});

test('the catalog is as declared', () => {
  const r = playbook(sb.dir, env, play([
    ...check(
      "SELECT pg_has_role('Ana María', 'shop_readers', 'MEMBER'), pg_has_role('report bot', 'shop_readers', 'MEMBER'), " +
        "(SELECT rolconnlimit FROM pg_roles WHERE rolname = 'report bot'), " +
        "pg_get_userbyid((SELECT datdba FROM pg_database WHERE datname = 'shop_archive')), " +
        "(SELECT extnamespace::regnamespace FROM pg_extension WHERE extname = 'hstore'), " +
        "has_schema_privilege('shop_readers', 'sales', 'USAGE'), has_schema_privilege('shop_readers', 'audit', 'USAGE')",
      't|t|2|shop_owner|audit|t|f',
    ),
  ]));
  expect(r.recap.failed).toBe(0);
});

test('part of it is dropped with the role and database modules; a re-run changes nothing', () => {
  const drop = play([
    { 'socle.postgresql.database': { instance: 'shop', name: 'shop_archive', state: 'absent' } },
    { 'socle.postgresql.role': { instance: 'shop', name: 'report bot', state: 'absent' } },
  ]);
  expect(playbook(sb.dir, env, drop).recap).toEqual({ ok: 2, changed: 2, failed: 0 });
  expect(playbook(sb.dir, env, drop).recap).toEqual({ ok: 2, changed: 0, failed: 0 });
  const r = playbook(sb.dir, env, play(check(
    "SELECT count(*) FILTER (WHERE rolname = 'report bot'), (SELECT count(*) FROM pg_database WHERE datname = 'shop_archive') FROM pg_roles",
    '0|0',
  )));
  expect(r.recap.failed).toBe(0);
});
