// The socle command's flags, generated from the modules' options (modules/generated/cli.ts).
import { OPTIONS } from '../../modules/generated/cli';
import { applyFlags, flagsOf, plain, withFlagNames } from '../../cli/flags';
import { lineDiff, table } from '../../cli/output';

const instanceFlags = flagsOf(OPTIONS.instance, ['name', 'state']);
const roleFlags = flagsOf(OPTIONS.role, ['name']);

test('each option is a flag of its kind; sub-options are dash-joined', () => {
  const byName = Object.fromEntries(instanceFlags.map((f) => [f.name, f.kind]));
  expect(byName).toEqual(expect.objectContaining({
    port: 'scalar', 'data-checksums': 'bool', settings: 'map', 'auth-local': 'scalar',
    'surole-password': 'secret', roles: 'list', 'pgbackrest-password': 'secret',
  }));
  expect(byName.name).toBeUndefined();
  expect(byName.state).toBeUndefined();
});

test('values are typed as the option wants them; maps and lists accumulate', () => {
  const { options, secrets } = applyFlags(instanceFlags, [
    ['port', '5433'], ['no-data-checksums', undefined], ['settings', 'work_mem=8MB'], ['settings', 'search_path=a=b'],
    ['auth-local', 'peer'], ['surole-password', undefined], ['roles', '{name: app, login: true}'],
  ]);
  expect(options).toEqual({
    port: 5433, data_checksums: false, settings: { work_mem: '8MB', search_path: 'a=b' }, auth: { local: 'peer' },
    roles: [{ name: 'app', login: true }],
  });
  expect(secrets.map((s) => s.flag.name)).toEqual(['surole-password']);
  expect(applyFlags(roleFlags, [['memberships', 'a'], ['memberships', 'b'], ['password-file', '/x']]).options).toEqual({ memberships: ['a', 'b'] });
});

test('a text that is not a number is left for the validator to name', () => {
  expect(applyFlags(instanceFlags, [['port', 'eighty']]).options).toEqual({ port: 'eighty' });
});

test('a secret is never taken from the command line, and the message does not repeat it', () => {
  expect(() => applyFlags(roleFlags, [['password', 'hunter2']])).toThrow(/takes no value/);
  try {
    applyFlags(roleFlags, [['password', 'hunter2']]);
  } catch (err) {
    expect((err as Error).message).not.toContain('hunter2');
  }
});

test('unknown flags and malformed values are named', () => {
  expect(() => applyFlags(instanceFlags, [['bogus', '1']])).toThrow('unknown option --bogus');
  expect(() => applyFlags(instanceFlags, [['settings', 'novalue']])).toThrow('--settings needs KEY=VALUE');
  expect(() => applyFlags(instanceFlags, [['roles', '{name: [}']])).toThrow('--roles: not valid YAML');
});

test("a module's message names the flag of each option", () => {
  expect(withFlagNames("invalid options: option 'auth.local' must be one of: peer; option 'name' is bad; option 'roles[0].name' x", instanceFlags, { name: 'NAME' }))
    .toBe("invalid options: option 'auth.local' (--auth-local) must be one of: peer; option 'name' (NAME) is bad; option 'roles[0].name' (--roles) x");
});

test('Ansible markup is shown as plain text', () => {
  expect(plain('See O(port) and C(listen_addresses), RV(pending_restart), M(socle.postgresql.role).')).toBe(
    'See port and listen_addresses, pending_restart, socle.postgresql.role.',
  );
});

test('tables and line diffs', () => {
  expect(table([{ name: 'main', port: 5432 }, { name: 'b', port: null }])).toBe('NAME  PORT\nmain  5432\nb     ');
  expect(lineDiff('a\nb\nc', 'a\nc\nd')).toBe('  a\n- b\n  c\n+ d');
});
