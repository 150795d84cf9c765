// What a user reads for a bad option, through the validators generated from the schemas: one
// explanation per bad value, naming its path (issue 12, items 9 and 10).
import { join } from 'node:path';
import { loadSchemas } from '../../build/schema/load';
import { createAjv } from '../../build/generate';
import { formatValidationErrors, type ValidationError } from '../../modules/lib/validation';
import { execute, MAX_DEPTH, nulPaths, tooDeep, type ModuleDefinition } from '../../modules/lib/runtime';

const set = loadSchemas(join(__dirname, '../../schemas'));
const ajv = createAjv(set);
const validator = (name: string) => ajv.getSchema(`https://schemas.socle.invalid/socle/${name}`)!;

function errors(module: string, options: Record<string, unknown>): string | null {
  const v = validator(module);
  return v(structuredClone(options)) ? null : formatValidationErrors(v.errors as ValidationError[]);
}

describe('a value matching none of "a name or a mapping"', () => {
  test('an unknown key inside the mapping is the one error reported', () => {
    expect(errors('database', { instance: 'main', name: 'd', extensions: [{ name: 'x', bogus: 1 }] })).toBe("invalid options: unknown option 'extensions[0].bogus'");
    expect(errors('database', { instance: 'main', name: 'd', schemas: [{ name: 'x', owner: 'o', colour: 'red' }] })).toBe("invalid options: unknown option 'schemas[0].colour'");
    expect(errors('role', { instance: 'main', name: 'r', memberships: [{ role: 'x', bogus: 1 }] })).toBe("invalid options: unknown option 'memberships[0].bogus'");
    expect(errors('instance', { name: 'main', roles: [{ name: 'r', memberships: [{ role: 'x', bogus: 1 }] }] })).toBe("invalid options: unknown option 'roles[0].memberships[0].bogus'");
  });
  test('a bad value inside the mapping is reported alone', () => {
    expect(errors('database', { instance: 'main', name: 'd', extensions: [{ name: 'x', state: 'gone' }] })).toBe("invalid options: option 'extensions[0].state' must be one of: present, absent");
  });
  test('a value of neither type says which types fit', () => {
    expect(errors('role', { instance: 'main', name: 'r', memberships: [[1]] })).toBe("invalid options: option 'memberships[0]' must be string or object");
    expect(errors('database', { instance: 'main', name: 'd', extensions: [true, ['x']] })).toMatch(/option 'extensions\[1\]' must be string or object$/);
  });
});

describe('limits the schemas must state (PostgreSQL would fail later, without the option)', () => {
  test('connection limits are 32-bit integers', () => {
    expect(errors('role', { instance: 'main', name: 'r', connection_limit: 2147483648 })).toBe("invalid options: option 'connection_limit' must be <= 2147483647");
    expect(errors('database', { instance: 'main', name: 'd', connection_limit: 2147483648 })).toBe("invalid options: option 'connection_limit' must be <= 2147483647");
    expect(errors('role', { instance: 'main', name: 'r', connection_limit: 2147483647 })).toBeNull();
  });
  test('every integer option has a maximum', () => {
    const unbounded: string[] = [];
    const walk = (node: any, path: string) => {
      if (!node || typeof node !== 'object') return;
      if (node.type === 'integer' && node.maximum === undefined) unbounded.push(path);
      for (const [k, v] of Object.entries(node)) walk(v, `${path}/${k}`);
    };
    for (const e of set.byId.values()) if (!e.id.startsWith('socle/role_')) walk(e.schema, e.id);
    expect(unbounded).toEqual([]);
  });
  test('an instance is never named . or .., nor with a line break', () => {
    for (const bad of ['.', '..', '15/.', '15/..', 'a\nb', 'a\0b', 'a\u2028b']) {
      expect(errors('role', { instance: bad, name: 'r' })).toMatch(/^invalid options: option 'instance' must be <version>\/<name>/);
      expect(errors('database', { instance: bad, name: 'd' })).toMatch(/^invalid options: option 'instance' must be <version>\/<name>/);
    }
    for (const bad of ['.', '..', 'a\nb']) {
      expect(errors('instance', { name: bad })).toMatch(/^invalid options: option 'name' must not contain '-' or '\/' nor control characters \(line breaks, NUL\), and must not be '\.' or '\.\.'$/);
      expect(errors('instance_info', { name: bad })).toMatch(/^invalid options: option 'name' must not contain '-' or '\/' nor control characters \(line breaks, NUL\), and must not be '\.' or '\.\.'$/);
    }
    for (const good of ['main', '15/main', '.main', 'a..b', 'été']) expect(errors('role', { instance: good, name: 'r' })).toBeNull();
  });
  test('a pg_hba.conf database field is one line', () => {
    expect(errors('role', { instance: 'main', name: 'r', hba_records: [{ database: 'a\nhost all all 0.0.0.0/0 trust', method: 'md5' }] }))
      .toBe("invalid options: option 'hba_records[0].database' must not contain line breaks or NUL characters (a pg_hba.conf record is one line)");
  });
});

describe('a NUL character in any option', () => {
  test('is refused by its path before anything else (no PostgreSQL text, file line or argument holds one)', async () => {
    jest.spyOn(process, 'getuid').mockReturnValue(1000);
    const def: ModuleDefinition<unknown> = {
      name: 'demo',
      validate: Object.assign(() => true, { errors: null }),
      secretPaths: [['password']],
      run: async () => ({ changed: false, msg: 'ok' }),
    };
    expect((await execute(def, { schemas: [{ name: 'ok' }, { name: 'a\0b' }] })).msg).toBe("demo: invalid options: option 'schemas[1].name' must not contain a NUL character");
    expect((await execute(def, { settings: { 'a\0b': 1 } })).msg).toBe("demo: invalid options: option 'settings.a\\0b' must not contain a NUL character");
    expect((await execute(def, { password: 'x\0y' })).msg).toBe("demo: invalid options: option 'password' must not contain a NUL character");
    expect((await execute(def, { a: 'x\0', b: ['y\0'] })).msg).toBe("demo: invalid options: option 'a' must not contain a NUL character; option 'b[0]' must not contain a NUL character");
    expect(nulPaths({ a: ['fine', { b: 'also fine' }] })).toEqual([]);
    jest.restoreAllMocks();
  });
});

describe('an args file nested without end', () => {
  const def: ModuleDefinition<unknown> = {
    name: 'demo',
    validate: Object.assign(() => true, { errors: null }),
    secretPaths: [],
    run: async () => ({ changed: false, msg: 'ok' }),
  };
  test('is a clean failure naming where, not a RangeError', async () => {
    jest.spyOn(process, 'getuid').mockReturnValue(1000);
    let deep: unknown = 'x';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    const r = await execute(def, { settings: { a: deep } });
    expect(r.failed).toBe(true);
    expect(r.msg).toMatch(new RegExp(`^demo: invalid options: option 'settings\\.a(\\[0\\])+' is nested deeper than ${MAX_DEPTH} levels$`));
    expect(tooDeep({ a: [[{ b: 1 }]] })).toBeNull();
    jest.restoreAllMocks();
  });
});

describe('a boolean where a number is wanted (ajv would coerce true into 1)', () => {
  const { numericPaths } = require('../../build/generate') as typeof import('../../build/generate');
  const { refuseBooleansAsNumbers } = require('../../modules/lib/validation') as typeof import('../../modules/lib/validation');
  const instance = refuseBooleansAsNumbers(validator('instance') as never, numericPaths(set, set.byId.get('socle/instance')!.schema)) as unknown as ReturnType<typeof validator>;

  test('is refused by path, at the top and inside lists', () => {
    expect(instance({ name: 'main', port: true })).toBe(false);
    expect(formatValidationErrors(instance.errors as ValidationError[])).toBe("invalid options: option 'port' must be a number, not a boolean");
    expect(instance({ name: 'main', roles: [{ name: 'r', connection_limit: false }] })).toBe(false);
    expect(formatValidationErrors(instance.errors as ValidationError[])).toContain("option 'roles[0].connection_limit' must be a number, not a boolean");
  });

  test('numbers written as strings are still accepted', () => {
    const opts: Record<string, unknown> = { name: 'main', port: '5433' };
    expect(instance(opts)).toBe(true);
    expect(opts.port).toBe(5433);
  });
});
