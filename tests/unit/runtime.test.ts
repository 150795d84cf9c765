import { dropNulls, execute, ModuleError, splitAnsibleArgs, toAnsibleJson, type ModuleDefinition } from '../../modules/lib/runtime';
import { collectSecrets, maskSecrets } from '../../modules/lib/secrets';
import { formatValidationErrors, optionPath } from '../../modules/lib/validation';

const asUser = () => jest.spyOn(process, 'getuid').mockReturnValue(1000);
afterEach(() => jest.restoreAllMocks());

function def(run: ModuleDefinition<any>['run'], valid = true): ModuleDefinition<any> {
  const validate = Object.assign((_: unknown) => valid, {
    errors: valid ? null : [{ instancePath: '/port', keyword: 'type', params: { type: 'integer' }, message: 'must be integer' }],
  });
  return { name: 'demo', validate, secretPaths: [['password'], ['users', '*', 'pw']], run };
}

describe('args', () => {
  test('splits Ansible keys from options', () => {
    const a = splitAnsibleArgs({ name: 'x', _ansible_check_mode: true, _ansible_diff: true, _ansible_verbosity: 2 });
    expect(a).toEqual({ options: { name: 'x' }, checkMode: true, diff: true, verbosity: 2 });
  });
  test('nulls are options not given', () => {
    expect(dropNulls({ a: null, b: { c: null, d: 1 }, e: [{ f: null }] })).toEqual({ b: { d: 1 }, e: [{}] });
  });
});

describe('output', () => {
  test('JSON is ASCII only (U+2028 would break the controller)', () => {
    const out = toAnsibleJson({ msg: 'é\u2028日' });
    expect(out).toBe('{"msg":"\\u00e9\\u2028\\u65e5"}');
    expect(JSON.parse(out).msg).toBe('é\u2028日');
  });
  test('secrets are masked in every value, nested', () => {
    const secrets = collectSecrets({ password: 'hunter2', users: [{ pw: 's3cr3t' }] }, [['password'], ['users', '*', 'pw']]);
    expect(maskSecrets({ msg: 'a hunter2 b', list: ['s3cr3t!'], obj: { k: 'hunter2' } }, secrets)).toEqual({
      msg: 'a ******** b', list: ['********!'], obj: { k: '********' },
    });
  });
  test('a short secret never breaks the result keys, nor the words that contain it', async () => {
    asUser();
    const r = await execute(def(async () => { throw new ModuleError('bad'); }), { password: 'a' });
    expect(r.failed).toBe(true);
    expect(r.msg).toBe('demo: bad');
  });
  test('a secret is masked where it stands alone, not inside unrelated words (issue 12, item 4)', async () => {
    asUser();
    const d = def(async () => ({
      changed: true,
      msg: 'created instance 15/main in /srv/pgsql/15/main/data',
      datadir: '/srv/pgsql/15/main/data',
      env: { PGUSER: 'postgres', PGPASSWORD: 'e' },
      queries: ["ALTER ROLE \"postgres\" PASSWORD 'e'"],
      commands: ['psql postgresql://postgres:e@localhost/db', "conn host=h password=e"],
      error: 'at or near "e"',
    }));
    const r = await execute(d, { password: 'e' });
    expect(r).toMatchObject({
      msg: 'created instance 15/main in /srv/pgsql/15/main/data',
      datadir: '/srv/pgsql/15/main/data',
      env: { PGUSER: 'postgres', PGPASSWORD: '********' },
      queries: ["ALTER ROLE \"postgres\" PASSWORD '********'"],
      commands: ['psql postgresql://postgres:********@localhost/db', 'conn host=h password=********'],
      error: 'at or near "********"',
    });
  });
  test('a secret of 100 KB is masked like any other (no regular expression is built of it)', () => {
    const big = 'x'.repeat(100_000);
    expect(maskSecrets({ msg: `a ${big} b`, other: `y${big}` }, [big])).toEqual({ msg: 'a ******** b', other: `y${big}` });
    expect(maskSecrets({ msg: 'été-été été' }, ['été'])).toEqual({ msg: '********-******** ********' });
  });
  test('a secret is masked in the forms our quoting gives it', () => {
    const secret = "it's a:b\\c é";
    const out = maskSecrets({
      sql: "PASSWORD 'it''s a:b\\c é'",
      conninfo: "password='it\\'s a:b\\\\c é' host=h",
      passfile: '*:5432:*:u:it\'s a\\:b\\\\c é',
      uri: `postgresql://u:${encodeURIComponent(secret)}@h/d`,
    }, [secret]) as Record<string, string>;
    for (const v of Object.values(out)) expect(v).toContain('********');
    expect(JSON.stringify(out)).not.toContain('a:b');
    expect(JSON.stringify(out)).not.toContain('%C3%A9');
  });
});

describe('execute', () => {
  test('refuses root, telling what to do', async () => {
    jest.spyOn(process, 'getuid').mockReturnValue(0);
    const r = await execute(def(async () => ({ changed: true, msg: 'x' })), {});
    expect(r.failed).toBe(true);
    expect(r.msg).toMatch(/^demo: refusing to run as root.*become_user/);
  });
  test('validation failure names the option', async () => {
    asUser();
    const r = await execute(def(async () => ({ changed: true, msg: 'x' }), false), { port: 'x' });
    expect(r).toMatchObject({ failed: true, changed: false, msg: "demo: invalid options: option 'port' must be integer" });
  });
  test('a secret in an error message is masked; traces only at -vvv', async () => {
    asUser();
    const boom = def(async (o) => { throw new Error(`bad ${o.password}`); });
    let r = await execute(boom, { password: 'hunter2' });
    expect(r.msg).toBe('demo: unexpected error: bad ********');
    expect(r.exception).toBeUndefined();
    r = await execute(boom, { password: 'hunter2', _ansible_verbosity: 3 });
    expect(String(r.exception)).toMatch(/Error: bad \*\*\*\*\*\*\*\*/);
  });
  test('diff only when asked; module errors keep their facts', async () => {
    asUser();
    const d = def(async () => ({ changed: true, msg: 'ok', diff: { before: 'a', after: 'b' } }));
    expect((await execute(d, {})).diff).toBeUndefined();
    expect((await execute(d, { _ansible_diff: true })).diff).toEqual({ before: 'a', after: 'b' });
    const e = def(async () => { throw new ModuleError('nope', { status: 'stopped' }); });
    expect(await execute(e, {})).toMatchObject({ failed: true, msg: 'demo: nope', status: 'stopped' });
  });
  test('warnings are returned', async () => {
    asUser();
    const r = await execute(def(async (_o, ctx) => { ctx.warn('careful'); return { changed: false, msg: 'ok' }; }), {});
    expect(r.warnings).toEqual(['careful']);
  });
});

describe('validation messages', () => {
  test('paths read like playbook options', () => {
    expect(optionPath('/databases/2/owner')).toBe('databases[2].owner');
    expect(optionPath('', 'name')).toBe('name');
  });
  test('every error is listed once', () => {
    const msg = formatValidationErrors([
      { instancePath: '', keyword: 'required', params: { missingProperty: 'name' } },
      { instancePath: '', keyword: 'additionalProperties', params: { additionalProperty: 'colour' } },
      { instancePath: '/state', keyword: 'enum', params: { allowedValues: ['a', 'b'] } },
      { instancePath: '/name', keyword: 'pattern', params: {}, message: 'must match pattern', parentSchema: { 'x-error': "must not contain '-'" } },
      { instancePath: '/state', keyword: 'enum', params: { allowedValues: ['a', 'b'] } },
    ]);
    expect(msg).toBe("invalid options: option 'name' is required; unknown option 'colour'; option 'state' must be one of: a, b; option 'name' must not contain '-'");
  });
});

describe('what YAML 1.1 does to `on:`', () => {
  test('an unquoted `on` key (received as "true") is put back before validation', async () => {
    asUser();
    const { prepareInstanceOptions } = await import('../../modules/lib/database/yaml-keys');
    let seen: unknown;
    const d = { ...def(async (o) => { seen = o; return { changed: false, msg: 'ok' }; }), prepare: prepareInstanceOptions };
    await execute(d, { databases: [{ name: 'app', privileges: [{ role: 'r', true: 'database' }, { role: 's', on: 'schema', true: 'x' }] }] });
    expect(seen).toEqual({ databases: [{ name: 'app', privileges: [{ role: 'r', on: 'database' }, { role: 's', on: 'schema', true: 'x' }] }] });
  });
});
