import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  JSONSchema, createSchemaSet, descriptionList, expandNode, isModuleSchema, loadSchemas, moduleSchemas,
  resolveRef, typeInfo,
} from '../../build/schema/load';

function tempDir(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'socle-schema-'));
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

describe('loadSchemas', () => {
  test('reads *.schema.yml recursively, indexes by $id, keeps relative files', () => {
    const dir = tempDir({
      'instance.schema.yml': '$id: socle/instance\ntitle: instance\ntype: object\nproperties:\n  port: {$ref: socle/defs/port}\n',
      'settings.schema.yml': '$id: socle/settings\ntype: object\n',
      'defs/port.schema.yml': '$id: socle/defs/port\ntype: integer\ndefault: 5432\n',
      'README.md': '# not a schema\n',
      'notes.yml': 'not: a schema\n',
    });
    dirs.push(dir);
    const set = loadSchemas(dir);
    expect([...set.byId.keys()].sort()).toEqual(['socle/defs/port', 'socle/instance', 'socle/settings']);
    expect(set.byId.get('socle/defs/port')!.file).toBe('defs/port.schema.yml');
    expect(set.dir).toBe(dir);
    expect(moduleSchemas(set).map((e) => e.id)).toEqual(['socle/instance']);
  });

  test('reads YAML as plain JSON values (core schema: no dates)', () => {
    const dir = tempDir({ 'a.schema.yml': '$id: socle/a\nx-ansible: {version_added: 2024-01-01}\n' });
    dirs.push(dir);
    const set = loadSchemas(dir);
    expect(set.byId.get('socle/a')!.schema['x-ansible']!.version_added).toBe('2024-01-01');
  });

  test('throws a clear error on a duplicate $id, naming both files', () => {
    const dir = tempDir({ 'a.schema.yml': '$id: socle/a\n', 'defs/b.schema.yml': '$id: socle/a\n' });
    dirs.push(dir);
    expect(() => loadSchemas(dir)).toThrow('duplicate $id "socle/a" in a.schema.yml and defs/b.schema.yml');
  });

  test('throws on a missing $id and on invalid YAML, naming the file', () => {
    const missing = tempDir({ 'defs/x.schema.yml': 'type: object\n' });
    const invalid = tempDir({ 'x.schema.yml': '$id: socle/x\n  bad: [\n' });
    dirs.push(missing, invalid);
    expect(() => loadSchemas(missing)).toThrow(/defs\/x\.schema\.yml: missing \$id/);
    expect(() => loadSchemas(invalid)).toThrow(/x\.schema\.yml: invalid YAML/);
  });
});

describe('x-contributes (components)', () => {
  const instance = { $id: 'socle/instance', type: 'object', additionalProperties: false, properties: { name: { type: 'string' } } };

  test('a component adds its options to the module and keeps its local references', () => {
    const set = createSchemaSet([
      { schema: { ...instance } },
      {
        schema: {
          $id: 'socle/components/probe',
          'x-contributes': { 'socle/instance': { properties: { probe: { $ref: '#/definitions/probe' } } } },
          definitions: { probe: { type: 'object', properties: { port: { type: 'integer' } } } },
        },
      },
    ]);
    const merged = set.byId.get('socle/instance')!.schema;
    expect(Object.keys(merged.properties!)).toEqual(['name', 'probe']);
    expect(merged.properties!.probe.$ref).toBe('socle/components/probe#/definitions/probe');
    expect(typeInfo(set, merged.properties!.probe).types).toEqual(['object']);
  });

  test('two owners of one option, or an unknown target, are build errors', () => {
    const taken = { $id: 'socle/components/x', 'x-contributes': { 'socle/instance': { properties: { name: { type: 'string' } } } } };
    expect(() => createSchemaSet([{ schema: { ...instance } }, { file: 'components/x.schema.yml', schema: taken }]))
      .toThrow("components/x.schema.yml: x-contributes socle/instance: option 'name' is already defined there");
    const lost = { $id: 'socle/components/y', 'x-contributes': { 'socle/nothing': { properties: {} } } };
    expect(() => createSchemaSet([{ schema: { ...instance } }, { schema: lost }])).toThrow(/no schema with that \$id/);
  });
});

describe('resolveRef', () => {
  const auth: JSONSchema = {
    $id: 'socle/defs/auth', title: 'auth', type: 'string',
    definitions: { method: { type: 'string', enum: ['peer', 'md5'] }, 'a/b': { type: 'integer' } },
  };
  const mod: JSONSchema = {
    $id: 'socle/mod', definitions: { local: { type: 'boolean' } },
    properties: { x: { $ref: '#/definitions/local' } },
  };
  const set = createSchemaSet([{ schema: auth }, { schema: mod }]);

  test('a whole document', () => {
    const r = resolveRef(set, 'socle/defs/auth');
    expect(r.schema).toBe(auth);
    expect(r).toMatchObject({ id: 'socle/defs/auth', pointer: '', ref: 'socle/defs/auth' });
  });

  test('a definition of another document', () => {
    const r = resolveRef(set, 'socle/defs/auth#/definitions/method');
    expect(r.schema).toEqual({ type: 'string', enum: ['peer', 'md5'] });
    expect(r.ref).toBe('socle/defs/auth#/definitions/method');
  });

  test('a local pointer, relative to the referencing document', () => {
    expect(resolveRef(set, '#/definitions/local', 'socle/mod').schema).toEqual({ type: 'boolean' });
    expect(() => resolveRef(set, '#/definitions/local')).toThrow(/needs the \$id/);
  });

  test('escaped pointer tokens and relative document references', () => {
    expect(resolveRef(set, 'socle/defs/auth#/definitions/a~1b').schema).toEqual({ type: 'integer' });
    expect(resolveRef(set, 'defs/auth', 'socle/mod').id).toBe('socle/defs/auth');
  });

  test('clear errors for unknown documents and pointers', () => {
    expect(() => resolveRef(set, 'socle/defs/nope')).toThrow(/no schema with \$id "socle\/defs\/nope"/);
    expect(() => resolveRef(set, 'socle/defs/auth#/definitions/nope')).toThrow(/not found in socle\/defs\/auth/);
  });
});

describe('isModuleSchema / moduleSchemas', () => {
  test('modules are socle/<name>, not defs, not the site settings', () => {
    expect(isModuleSchema('socle/instance')).toBe(true);
    expect(isModuleSchema('socle/settings')).toBe(false);
    expect(isModuleSchema('socle/defs/auth')).toBe(false);
    expect(isModuleSchema('other/instance')).toBe(false);
    const set = createSchemaSet(['socle/b', 'socle/a', 'socle/settings', 'socle/defs/x'].map(($id) => ({ schema: { $id } })));
    expect(moduleSchemas(set).map((e) => e.id)).toEqual(['socle/a', 'socle/b']);
  });
});

describe('expandNode and typeInfo', () => {
  const conn: JSONSchema = {
    $id: 'socle/defs/conn', title: 'conn', type: 'object', required: ['host'],
    properties: { host: { type: 'string' }, level: { $ref: '#/definitions/level' } },
    definitions: { level: { enum: ['low', 'high'] } },
  };
  const set = createSchemaSet([{ schema: conn }]);

  test('$ref siblings override the target; local refs of the target become absolute', () => {
    const node = expandNode(set, { $ref: 'socle/defs/conn', description: 'Here.' });
    expect(node.description).toBe('Here.');
    expect(node.$id).toBeUndefined();
    expect(node.properties!.level).toEqual({ $ref: 'socle/defs/conn#/definitions/level' });
    expect(expandNode(set, node.properties!.level)).toEqual({ enum: ['low', 'high'] });
  });

  test('allOf merges properties and required', () => {
    const node = expandNode(set, {
      description: 'Merged.',
      allOf: [{ $ref: 'socle/defs/conn' }, { required: ['db'], properties: { db: { type: 'string' } } }],
    });
    expect(Object.keys(node.properties!)).toEqual(['host', 'level', 'db']);
    expect(node.required).toEqual(['host', 'db']);
    expect(node.description).toBe('Merged.');
  });

  test('circular references are reported', () => {
    const loop = createSchemaSet([{ schema: { $id: 'socle/defs/loop', definitions: { a: { $ref: '#/definitions/b' }, b: { $ref: '#/definitions/a' } } } }]);
    expect(() => expandNode(loop, { $ref: 'socle/defs/loop#/definitions/a' })).toThrow(/circular \$ref/);
  });

  test('typeInfo: type lists, nullable, enums, oneOf', () => {
    expect(typeInfo(set, { type: ['string', 'null'] })).toEqual({ types: ['string'], nullable: true });
    expect(typeInfo(set, { enum: ['a', 1, null] })).toEqual({ types: ['string', 'integer'], nullable: true });
    expect(typeInfo(set, { oneOf: [{ type: 'string' }, { type: 'object' }] })).toEqual({ types: ['string', 'object'], nullable: false });
    expect(typeInfo(set, { type: ['integer', 'number'] })).toEqual({ types: ['number'], nullable: false });
    expect(typeInfo(set, { properties: {} })).toEqual({ types: ['object'], nullable: false });
    expect(typeInfo(set, {})).toEqual({ types: [], nullable: false });
  });
});

describe('descriptionList', () => {
  test('string or list, trimmed, empties dropped', () => {
    expect(descriptionList(' One. ')).toEqual(['One.']);
    expect(descriptionList(['A.', '', 'B.'])).toEqual(['A.', 'B.']);
    expect(descriptionList(undefined)).toEqual([]);
  });

  test('an unquoted "key: value" paragraph (a YAML mapping) is an error', () => {
    expect(() => descriptionList(['Fine.', { 'Compared with X': 'Y' }], 'instance: x'))
      .toThrow(/instance: x\[1\]: must be a string, got object .*quote a paragraph/);
  });
});
