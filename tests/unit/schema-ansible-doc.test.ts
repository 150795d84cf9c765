import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as yaml from 'js-yaml';
import { checkMarkup, toAnsibleDoc, toAnsibleOption } from '../../build/schema/ansible-doc';
import { toArgumentSpec, toArgumentSpecEntryPoint } from '../../build/schema/argument-spec';
import { JSONSchema, SchemaSet, createSchemaSet } from '../../build/schema/load';

const conn: JSONSchema = {
  $id: 'socle/defs/conn', title: 'connection', description: 'How to reach an instance.',
  type: 'object', additionalProperties: false,
  properties: {
    host: { type: 'string', default: 'localhost', description: 'Host name or socket directory.' },
    port: { type: 'integer', default: 5432, description: 'Port.' },
    password: { type: 'string', 'x-secret': true, description: 'Password.' },
  },
  definitions: {
    sslmode: { type: 'string', enum: ['disable', 'prefer', 'require'], default: 'prefer', description: 'libpq sslmode.' },
  },
};

const demo: JSONSchema = {
  $id: 'socle/demo', title: 'demo', description: 'Demonstrate every schema feature',
  'x-ansible': {
    description: ['First paragraph with C(code).', 'Second paragraph.'],
    notes: 'A single note.',
    requirements: ['Node.js >= 18'],
    seealso: [{ module: 'instance' }, { name: 'pglift', link: 'https://pglift.readthedocs.io', description: 'pglift docs.' }],
    version_added: '0.1.0',
    examples: '- name: Demo\n  socle.postgresql.demo:\n    name: x\n',
    return: {
      changed_items: { description: 'What changed.', returned: 'always', type: 'list', elements: 'str', sample: ['a'] },
      info: { description: 'Details.', returned: 'success', type: 'complex', contains: { size: { description: 'Size in bytes.', type: 'int' } } },
    },
  },
  type: 'object', additionalProperties: false, required: ['name', 'state'],
  definitions: { level: { type: 'string', enum: ['low', 'high'], description: 'A level.' } },
  properties: {
    name: { type: 'string', description: 'Name.', 'x-aliases': ['instance'] },
    state: { type: 'string', enum: ['present', 'absent'], default: 'present', description: ['Desired state.', 'Second line.'] },
    password: { type: 'string', 'x-secret': true, description: 'A secret password.' },
    level: { $ref: '#/definitions/level', description: 'Local ref with override.' },
    connection: { $ref: 'socle/defs/conn', description: 'Connection parameters.' },
    sslmode: { $ref: 'socle/defs/conn#/definitions/sslmode' },
    settings: { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean'] }, default: {}, description: 'Free-form map.' },
    nested: {
      type: 'object', additionalProperties: false, description: 'A nested object.', default: {}, required: ['must'],
      properties: {
        must: { type: 'string', description: 'Required inside.' },
        ratio: { type: 'number', default: 0.5, description: 'A ratio.' },
        deeper: { type: 'object', additionalProperties: false, description: 'Deeper.', properties: { flag: { type: 'boolean', default: true, description: 'A flag.' } } },
      },
    },
    records: {
      type: 'array', description: 'Lines: a string or a mapping.',
      items: {
        oneOf: [
          { type: 'string' },
          {
            type: 'object', additionalProperties: false, required: ['user'], properties: {
              user: { type: 'string', description: 'Role.' },
              method: { type: 'string', enum: ['md5', 'scram-sha-256'], default: 'scram-sha-256', description: 'Method.' },
            },
          },
        ],
      },
    },
    members: {
      type: 'array', description: 'Objects.', items: {
        type: 'object', additionalProperties: false, required: ['host'],
        properties: { host: { type: 'string', description: 'Host.' }, weight: { type: 'integer', default: 1, description: 'Weight.' } },
      },
    },
    tags: { type: 'array', items: { type: 'string', enum: ['a', 'b', 'c'] }, default: ['a'], description: 'Tags.' },
    anything: { type: 'array', description: 'Untyped items.' },
    replrole: { type: ['string', 'null'], default: null, description: 'Nullable string.' },
    mode: { type: ['string', 'null'], enum: ['fast', 'smart', null], description: 'Nullable enum.' },
    size: { oneOf: [{ type: 'integer' }, { type: 'string' }], description: 'Int or string.' },
    path: { type: 'string', 'x-ansible-type': 'path', description: 'A path.' },
    combined: {
      allOf: [{ $ref: 'socle/defs/conn' }, { properties: { dbname: { type: 'string', description: 'Database.' } } }],
      description: 'allOf merge.',
    },
  },
};

const set = createSchemaSet([{ file: 'demo.schema.yml', schema: demo }, { file: 'defs/conn.schema.yml', schema: conn }]);
const opts = { namespace: 'socle', collection: 'postgresql', version: '0.1.0' };

/** A one-module set for error cases. */
function single(properties: Record<string, JSONSchema>, extra: JSONSchema = {}): SchemaSet {
  return createSchemaSet([{ schema: { $id: 'socle/m', description: 'M.', type: 'object', properties, ...extra } }, { schema: conn }]);
}
function docOf(s: SchemaSet) {
  return toAnsibleDoc(s, s.byId.get('socle/m')!.schema, opts);
}

describe('toAnsibleDoc: DOCUMENTATION', () => {
  const { DOCUMENTATION: doc, EXAMPLES, RETURN } = toAnsibleDoc(set, demo, opts);
  const options = doc.options as Record<string, Record<string, unknown>>;

  test('module-level keys', () => {
    expect(doc).toMatchObject({
      module: 'demo',
      short_description: 'Demonstrate every schema feature',
      description: ['First paragraph with C(code).', 'Second paragraph.'],
      version_added: '0.1.0',
      author: ['socle.postgresql maintainers'],
      requirements: ['Node.js >= 18'],
      notes: ['A single note.'],
      seealso: [{ module: 'socle.postgresql.instance' }, { name: 'pglift', link: 'https://pglift.readthedocs.io', description: 'pglift docs.' }],
    });
    expect(Object.keys(doc)).toEqual(['module', 'short_description', 'description', 'version_added', 'author', 'requirements', 'notes', 'seealso', 'options']);
    expect(EXAMPLES).toBe('- name: Demo\n  socle.postgresql.demo:\n    name: x\n');
    expect(RETURN).toEqual((demo['x-ansible'] as { return: unknown }).return);
  });

  test('scalars, required, aliases, enum with default, descriptions as lists', () => {
    expect(options.name).toEqual({ description: ['Name.'], type: 'str', required: true, aliases: ['instance'] });
    // listed in required but has a default: not required (ajv fills it in)
    expect(options.state).toEqual({ description: ['Desired state.', 'Second line.'], type: 'str', default: 'present', choices: ['present', 'absent'] });
    expect(options.path).toEqual({ description: ['A path.'], type: 'path' });
  });

  test('a secret is not marked no_log in the docs (validate-modules rejects the key)', () => {
    expect(options.password).toEqual({ description: ['A secret password.'], type: 'str' });
  });

  test('$ref: local, to a whole def, to a def\'s definition; siblings override', () => {
    expect(options.level).toEqual({ description: ['Local ref with override.'], type: 'str', choices: ['low', 'high'] });
    // a default inside the $ref target is ignored by ajv's useDefaults: not documented either
    expect(options.sslmode).toEqual({ description: ['libpq sslmode.'], type: 'str', choices: ['disable', 'prefer', 'require'] });
    expect(options.connection).toEqual({
      description: ['Connection parameters.'], type: 'dict',
      suboptions: {
        host: { description: ['Host name or socket directory.'], type: 'str', default: 'localhost' },
        port: { description: ['Port.'], type: 'int', default: 5432 },
        password: { description: ['Password.'], type: 'str' },
      },
    });
    expect(Object.keys((options.combined.suboptions as object))).toEqual(['host', 'port', 'password', 'dbname']);
  });

  test('free-form map: dict without suboptions, empty default omitted', () => {
    expect(options.settings).toEqual({ description: ['Free-form map.'], type: 'dict' });
  });

  test('nested objects: suboptions, recursively, required inside', () => {
    expect(options.nested).toEqual({
      description: ['A nested object.'], type: 'dict',
      suboptions: {
        must: { description: ['Required inside.'], type: 'str', required: true },
        ratio: { description: ['A ratio.'], type: 'float', default: 0.5 },
        deeper: { description: ['Deeper.'], type: 'dict', suboptions: { flag: { description: ['A flag.'], type: 'bool', default: true } } },
      },
    });
  });

  test('lists: oneOf items are raw (object form documented), object items are dicts, untyped items raw', () => {
    expect(options.records).toEqual({
      description: ['Lines: a string or a mapping.'], type: 'list', elements: 'raw',
      suboptions: {
        user: { description: ['Role.'], type: 'str', required: true },
        method: { description: ['Method.'], type: 'str', default: 'scram-sha-256', choices: ['md5', 'scram-sha-256'] },
      },
    });
    expect(options.members).toMatchObject({ type: 'list', elements: 'dict', suboptions: { host: { required: true } } });
    expect(options.tags).toEqual({ description: ['Tags.'], type: 'list', elements: 'str', default: ['a'], choices: ['a', 'b', 'c'] });
    expect(options.anything).toEqual({ description: ['Untyped items.'], type: 'list', elements: 'raw' });
  });

  test('nullable types: no default null, null dropped from choices; oneOf of types is raw', () => {
    expect(options.replrole).toEqual({ description: ['Nullable string.'], type: 'str' });
    expect(options.mode).toEqual({ description: ['Nullable enum.'], type: 'str', choices: ['fast', 'smart'] });
    expect(options.size).toEqual({ description: ['Int or string.'], type: 'raw' });
  });

  test('no undefined values and no shared objects (clean js-yaml dump, no anchors)', () => {
    const dumped = yaml.dump(toAnsibleDoc(createSchemaSet([
      { schema: { $id: 'socle/m', description: 'M.', properties: { a: { $ref: 'socle/defs/conn#/definitions/sslmode' }, b: { $ref: 'socle/defs/conn#/definitions/sslmode' } } } },
      { schema: conn },
    ]), { $id: 'socle/m' }, opts).DOCUMENTATION);
    expect(dumped).not.toMatch(/&ref|\*ref|undefined/);
  });

  test('x-ansible-type overrides, and elements only with list', () => {
    const s = single({ a: { type: 'array', items: { type: 'string' }, 'x-ansible-type': 'raw', description: 'A.' } });
    expect((docOf(s).DOCUMENTATION.options as Record<string, unknown>).a).toEqual({ description: ['A.'], type: 'raw' });
    expect(() => docOf(single({ a: { type: 'string', 'x-ansible-type': 'text', description: 'A.' } }))).toThrow(/x-ansible-type "text"/);
  });

  test('opts.author replaces the default author; x-ansible.author wins', () => {
    const s = single({});
    expect(toAnsibleDoc(s, { $id: 'socle/m' }, { ...opts, author: ['Team (@socle)'] }).DOCUMENTATION.author).toEqual(['Team (@socle)']);
    const t = single({}, { 'x-ansible': { author: 'Jane (@jane)' } });
    expect(docOf(t).DOCUMENTATION.author).toEqual(['Jane (@jane)']);
    expect(docOf(t).DOCUMENTATION.description).toEqual(['M.']);
  });
});

describe('toAnsibleDoc: what Ansible would reject is an error at build time', () => {
  test('option without description', () => {
    expect(() => docOf(single({ a: { type: 'string' } }))).toThrow('m.a: option without a description');
    expect(() => docOf(single({ o: { type: 'object', description: 'O.', properties: { b: { type: 'string', description: [] } } } })))
      .toThrow('m.o.b: option without a description');
  });

  test('default of the wrong type, default outside the choices', () => {
    expect(() => docOf(single({ a: { type: 'string', default: 5, description: 'A.' } }))).toThrow(/default 5 does not match Ansible type str/);
    expect(() => docOf(single({ a: { type: 'string', enum: ['x'], default: 'y', description: 'A.' } }))).toThrow(/not one of the choices/);
    expect(() => docOf(single({ a: { type: 'array', items: { type: 'integer' }, default: ['x'], description: 'A.' } }))).toThrow(/of int/);
  });

  test('non-string description paragraphs (unquoted "key: value" in YAML)', () => {
    expect(() => docOf(single({ a: { type: 'string', description: ['A.', { 'Compared with X': 'Y' }] as unknown as string[] } })))
      .toThrow(/m\.a: description\[1\]: must be a string/);
  });

  test('short_description must be one line; version_added must be a string', () => {
    expect(() => docOf(single({}, { description: ['One.', 'Two.'] }))).toThrow(/short_description/);
    expect(() => docOf(single({}, { 'x-ansible': { version_added: 1 as unknown as string } }))).toThrow(/version_added must be a string/);
  });

  test('RETURN entries need description, returned and a known type; no stray keys', () => {
    const ret = (r: Record<string, unknown>) => docOf(single({}, { 'x-ansible': { return: r } }));
    expect(() => ret({ a: { description: 'A.', type: 'str' } })).toThrow(/return\.a: missing returned/);
    expect(() => ret({ a: { returned: 'always', type: 'str' } })).toThrow(/return\.a: missing description/);
    expect(() => ret({ a: { description: 'A.', returned: 'always', type: 'string' } })).toThrow(/type must be one of/);
    expect(() => ret({ a: { description: 'A.', returned: 'always', type: 'complex' } })).toThrow(/complex needs contains/);
    expect(() => ret({ a: { description: 'A.', returned: 'always', type: 'dict', contains: { b: { description: 'B.' } } } })).toThrow(/contains\.b: type/);
    // `{ description: What changed, or would be, one line each. }` in a YAML flow mapping
    expect(() => ret({ a: { description: 'What changed', 'or would be': null, returned: 'always', type: 'list' } }))
      .toThrow(/unknown keys or would be/);
    expect(() => ret({ a: { description: 'A.', returned: 'always', type: 'str', elements: 'str' } })).toThrow(/elements is only allowed/);
  });

  test('seealso entries must have one of the known shapes', () => {
    expect(() => docOf(single({}, { 'x-ansible': { seealso: [{ link: 'https://x' }] } }))).toThrow(/seealso\[0\]/);
  });

  test('markup is checked like validate-modules does', () => {
    expect(() => checkMarkup('Use C(foo) and O(bar=1) and RV(baz).', 'x')).not.toThrow();
    expect(() => checkMarkup('See M(socle.postgresql.instance) and L(docs,https://x).', 'x')).not.toThrow();
    expect(() => checkMarkup('Unclosed O(foo', 'x')).toThrow(/O\( is not closed/);
    expect(() => checkMarkup('See M(instance).', 'x')).toThrow(/FQCN/);
    expect(() => checkMarkup('See L(https://x).', 'x')).toThrow(/two parameters/);
    expect(() => checkMarkup('PostgreSQL(TM) and TCP(IP) are not macros.', 'x')).not.toThrow();
    expect(() => docOf(single({ a: { type: 'string', description: 'C(oops' } }))).toThrow(/m\.a: description: markup C\(/);
  });
});

describe('toArgumentSpec', () => {
  const spec = toArgumentSpec(set, demo) as unknown as Record<string, Record<string, unknown>>;

  test('same mapping, with options instead of suboptions, no_log for secrets, no aliases', () => {
    expect(spec.name).toEqual({ description: ['Name.'], type: 'str', required: true });
    expect(spec.password).toEqual({ description: ['A secret password.'], type: 'str', no_log: true });
    expect(spec.connection).toEqual({
      description: ['Connection parameters.'], type: 'dict',
      options: {
        host: { description: ['Host name or socket directory.'], type: 'str', default: 'localhost' },
        port: { description: ['Port.'], type: 'int', default: 5432 },
        password: { description: ['Password.'], type: 'str', no_log: true },
      },
    });
    expect(spec.members).toMatchObject({ type: 'list', elements: 'dict', options: { host: { type: 'str', required: true } } });
    expect(JSON.stringify(spec)).not.toContain('suboptions');
  });

  test('raw options and raw elements get no nested options (Ansible would ignore them)', () => {
    expect(spec.records).toEqual({ description: ['Lines: a string or a mapping.'], type: 'list', elements: 'raw' });
    expect(spec.size).toEqual({ description: ['Int or string.'], type: 'raw' });
  });

  test('a nullable enum keeps null among the choices (Ansible checks choices even for null)', () => {
    expect(spec.mode).toEqual({ description: ['Nullable enum.'], type: 'str', choices: ['fast', 'smart', null] });
  });

  test('an object with known properties that also accepts extra keys gets no options', () => {
    const s = single({ o: { type: 'object', description: 'O.', additionalProperties: true, properties: { a: { type: 'string', description: 'A.' } } } });
    expect(toArgumentSpec(s, { $id: 'socle/m' }).o).toEqual({ description: ['O.'], type: 'dict' });
    expect((docOf(s).DOCUMENTATION.options as Record<string, Record<string, unknown>>).o.suboptions).toBeDefined();
  });

  test('entry point for meta/argument_specs.yml', () => {
    const ep = toArgumentSpecEntryPoint(set, demo);
    expect(ep.short_description).toBe('Demonstrate every schema feature');
    expect(ep.description).toEqual(['First paragraph with C(code).', 'Second paragraph.']);
    expect(ep.author).toEqual(['socle.postgresql maintainers']);
    expect(ep.options).toEqual(spec);
  });

  test('toAnsibleOption is the shared converter', () => {
    const node: JSONSchema = { type: 'object', description: 'D.', properties: { s: { type: 'string', 'x-secret': true, description: 'S.' } } };
    expect(toAnsibleOption(set, node, { variant: 'doc', where: 'x' })).toEqual({ description: ['D.'], type: 'dict', suboptions: { s: { description: ['S.'], type: 'str' } } });
    expect(toAnsibleOption(set, node, { variant: 'argspec', where: 'x' })).toEqual({ description: ['D.'], type: 'dict', options: { s: { description: ['S.'], type: 'str', no_log: true } } });
  });
});

// Proof against the real thing, when an ansible-doc is at hand ($ANSIBLE_DOC, $SOCLE_VENV or the repo's .venv,
// or PATH): a throwaway collection with a Node module, its sidecar docs and a role.
function findAnsibleDoc(): string | undefined {
  const venv = process.env.SOCLE_VENV ?? path.join(__dirname, '../../.venv');
  const candidates = [process.env.ANSIBLE_DOC, path.join(venv, 'bin/ansible-doc')].filter(Boolean) as string[];
  for (const c of candidates) if (fs.existsSync(c)) return c;
  try {
    return execFileSync('sh', ['-c', 'command -v ansible-doc'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}
const ansibleDoc = findAnsibleDoc();
(ansibleDoc ? describe : describe.skip)('ansible-doc accepts the generated docs', () => {
  let tmp = '';
  const run = (...args: string[]) => execFileSync(ansibleDoc!, args, {
    encoding: 'utf8', env: { ...process.env, ANSIBLE_COLLECTIONS_PATH: tmp, ANSIBLE_NOCOLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'socle-ansible-doc-'));
    const root = path.join(tmp, 'ansible_collections/socle/postgresql');
    fs.mkdirSync(path.join(root, 'plugins/modules'), { recursive: true });
    fs.mkdirSync(path.join(root, 'roles/demo_role/meta'), { recursive: true });
    fs.mkdirSync(path.join(root, 'roles/demo_role/tasks'), { recursive: true });
    fs.writeFileSync(path.join(root, 'plugins/modules/demo.js'), '#!/usr/bin/node\n// WANT_JSON\n');
    const d = toAnsibleDoc(set, demo, opts);
    const block = (o: unknown) => yaml.dump(o, { noRefs: true, lineWidth: 100 }).replace(/^(?=.)/gm, '  ');
    fs.writeFileSync(path.join(root, 'plugins/modules/demo.yml'),
      `DOCUMENTATION:\n${block(d.DOCUMENTATION)}EXAMPLES: |\n${d.EXAMPLES.replace(/^(?=.)/gm, '  ')}RETURN:\n${block(d.RETURN)}`);
    fs.writeFileSync(path.join(root, 'roles/demo_role/meta/argument_specs.yml'),
      yaml.dump({ argument_specs: { main: toArgumentSpecEntryPoint(set, demo) } }, { noRefs: true }));
    fs.writeFileSync(path.join(root, 'roles/demo_role/tasks/main.yml'), '- ansible.builtin.debug: {msg: hi}\n');
  });
  afterAll(() => { if (tmp) fs.rmSync(tmp, { recursive: true, force: true }); });

  test('module docs, text and --json', () => {
    expect(run('socle.postgresql.demo')).toContain('First paragraph with');
    const json = JSON.parse(run('--json', 'socle.postgresql.demo'))['socle.postgresql.demo'];
    expect(json.doc.options.records).toMatchObject({ type: 'list', elements: 'raw' });
    expect(json.doc.options.nested.suboptions.must.required).toBe(true);
    expect(json.return.info.contains.size.type).toBe('int');
    expect(json.examples).toContain('socle.postgresql.demo');
  }, 60_000);

  test('role argument spec', () => {
    const json = JSON.parse(run('-t', 'role', '--json', 'socle.postgresql.demo_role'))['socle.postgresql.demo_role'];
    expect(json.entry_points.main.options.password.no_log).toBe(true);
    expect(json.entry_points.main.options.nested.options.must.required).toBe(true);
  }, 60_000);
});

describe('links of a shared object embedded in a list', () => {
  test('O(x) becomes O(list[].x) where only that resolves', () => {
    const { qualifyOptionRefs } = require('../../build/schema/ansible-doc');
    const options: Record<string, any> = {
      name: { type: 'str', description: ['See O(roles).'] },
      roles: {
        type: 'list', elements: 'dict', description: ['Roles.'],
        suboptions: {
          password: { type: 'str', description: ['Plain; not with O(encrypted_password) nor O(name=x).'] },
          encrypted_password: { type: 'str', description: ['Verifier.'] },
          hba: { type: 'list', elements: 'dict', description: ['Records.'], suboptions: { address: { type: 'str', description: ['Use O(password), O(hba[].address), O(missing).'] } } },
        },
      },
    };
    qualifyOptionRefs(options);
    expect(options.name.description).toEqual(['See O(roles).']);
    expect(options.roles.suboptions.password.description).toEqual(['Plain; not with O(roles[].encrypted_password) nor O(name=x).']);
    expect(options.roles.suboptions.hba.suboptions.address.description).toEqual(['Use O(roles[].password), O(roles[].hba[].address), O(missing).']);
  });
});
