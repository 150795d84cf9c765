// The socle command's flags, generated from the modules' options (modules/generated/cli.ts).
import { OPTIONS } from '../../modules/generated/cli';
import { applyFlags, deepMerge, flagsOf, plain, withFlagNames } from '../../cli/flags';
import { COMMANDS } from '../../cli/commands';
import { commandFlags } from '../../cli/engine';
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

test('apply -f: flags are merged into the file at every depth; lists and scalars replace', () => {
  const file = {
    name: 'main', port: 5432, settings: { work_mem: '4MB', shared_buffers: '128MB' }, auth: { host: 'scram-sha-256' },
    pgbackrest: { stanza: 'main', schedule: { full: 'Sun 01:00', incr: 'daily' } }, roles: [{ name: 'a' }],
  };
  const { options } = applyFlags(instanceFlags, [
    ['settings', 'work_mem=8MB'], ['auth-local', 'peer'], ['pgbackrest-schedule-full', 'Sat 02:00'], ['roles', '{name: b}'], ['port', '5433'],
  ]);
  const before = structuredClone(file);
  expect(deepMerge(file, options)).toEqual({
    name: 'main', port: 5433, settings: { work_mem: '8MB', shared_buffers: '128MB' }, auth: { host: 'scram-sha-256', local: 'peer' },
    pgbackrest: { stanza: 'main', schedule: { full: 'Sat 02:00', incr: 'daily' } }, roles: [{ name: 'b' }],
  });
  expect(file).toEqual(before);
  // A mapping over a scalar (or a scalar over a mapping) replaces it: the validator names a wrong type.
  expect(deepMerge({ a: 1, b: { c: 1 } }, { a: { x: 1 }, b: 2 })).toEqual({ a: { x: 1 }, b: 2 });
});

/** The module flags each command offers (its --help, its completion, what it accepts). */
const flagNames = (group: string, name: string) => commandFlags(COMMANDS[group][name]).map((f) => f.name).sort();

test('a command offers only the flags it uses', () => {
  expect(flagNames('instance', 'drop')).toEqual(['pgbackrest-delete-backups', 'pgbackrest-stanza', 'version']);
  expect(flagNames('instance', 'promote')).toEqual(['version']);
  for (const c of ['start', 'stop', 'restart', 'reload', 'status', 'get', 'env']) expect({ c, flags: flagNames('instance', c) }).toEqual({ c, flags: ['version'] });
  expect(flagNames('instance', 'backup')).toEqual(['type']);
  expect(flagNames('instance', 'backups')).toEqual([]);
  expect(flagNames('role', 'drop')).toEqual(['drop-owned', 'instance', 'reassign-owned']);
  expect(flagNames('database', 'drop')).toEqual(['dump', 'force-drop', 'instance']);
  for (const c of ['create', 'alter']) {
    const flags = flagNames('database', c);
    expect({ c, dumpOrRestore: flags.filter((f) => /^(dump|restore-|force-drop)/.test(f)) }).toEqual({ c, dumpOrRestore: [] });
    expect(flags).toEqual(expect.arrayContaining(['owner', 'settings', 'instance', 'schedule-dump']));
  }
  expect(flagNames('database', 'alter')).not.toEqual(expect.arrayContaining(['locale']));
  expect(flagNames('database', 'create')).toEqual(expect.arrayContaining(['locale', 'clone-dsn']));
  if (OPTIONS.patroni) {
    expect(flagNames('patroni', 'members')).toEqual([]);
    for (const c of ['switchover', 'failover']) expect({ c, flags: flagNames('patroni', c) }).toEqual({ c, flags: ['candidate', 'timeout'] });
  }
  // Creation and alteration keep the module's options, components' included.
  expect(flagNames('instance', 'create')).toEqual(expect.arrayContaining(['port', 'settings', 'surole-password', 'pgbackrest-stanza', 'prometheus-port']));
  expect(flagNames('instance', 'alter')).not.toContain('data-checksums');
});
