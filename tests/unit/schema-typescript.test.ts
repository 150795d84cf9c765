import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ts from 'typescript';
import { JSONSchema, createSchemaSet } from '../../build/schema/load';
import { pascalCase, toTypeScript } from '../../build/schema/typescript';

const auth: JSONSchema = {
  $id: 'socle/defs/auth', title: 'auth', description: 'Authentication.',
  definitions: {
    method: { type: 'string', enum: ['peer', 'md5', 'scram-sha-256'] },
    withdefault: { type: 'string', default: 'x' },
    rule: {
      title: 'hba rule', type: 'object', additionalProperties: false, required: ['user'],
      description: 'A pg_hba.conf line.',
      properties: { user: { type: 'string', description: 'Role.' }, method: { $ref: '#/definitions/method', default: 'scram-sha-256', description: 'Method.' } },
    },
  },
};

const conn: JSONSchema = {
  $id: 'socle/defs/conn', title: 'connection', type: 'object', additionalProperties: false,
  properties: {
    host: { type: 'string', default: 'localhost', description: 'Host.' },
    password: { type: 'string', 'x-secret': true, description: 'Password.' },
  },
};

const instance: JSONSchema = {
  $id: 'socle/instance', title: 'instance', description: 'Manage an instance',
  type: 'object', additionalProperties: false, required: ['name'],
  properties: {
    name: { type: 'string', description: 'Name.' },
    port: { type: 'integer', default: 5432, description: 'Port.' },
    state: { type: 'string', enum: ['started', 'stopped'], default: 'started', description: 'State.' },
    password: { type: 'string', 'x-secret': true, description: 'Secret.' },
    settings: { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean'] }, default: {}, description: 'Map.' },
    labels: { type: 'object', description: 'Any map.' },
    counts: { type: 'object', additionalProperties: { type: 'integer' }, description: 'Counts.' },
    local: { $ref: 'socle/defs/auth#/definitions/method', description: 'Local method.' },
    host: { $ref: 'socle/defs/auth#/definitions/withdefault', description: 'Default in the target: ajv ignores it.' },
    hostssl: { $ref: 'socle/defs/auth#/definitions/method', default: 'md5', description: 'Default next to the $ref: applied.' },
    rules: { type: 'array', items: { $ref: 'socle/defs/auth#/definitions/rule' }, description: 'Rules.' },
    conn: { $ref: 'socle/defs/conn', description: 'Connection.' },
    nested: {
      type: 'object', additionalProperties: false, default: {}, description: 'Nested.',
      properties: { flag: { type: 'boolean', default: false, description: 'Flag.' }, 'with-dash': { type: 'number', description: 'Dash.' } },
    },
    records: {
      type: 'array', description: 'String or mapping.',
      items: { oneOf: [{ type: 'string' }, { type: 'object', additionalProperties: false, properties: { user: { type: 'string', default: 'all', description: 'User.' } } }] },
    },
    replrole: { type: ['string', 'null'], description: 'Nullable.' },
    mode: { type: ['string', 'null'], enum: ['fast', null], default: null, description: 'Nullable enum.' },
    merged: { allOf: [{ $ref: 'socle/defs/conn' }, { properties: { db: { type: 'string', description: 'Db.' } } }], description: 'Merged.' },
    anything: { description: 'No type.' },
  },
};

const other: JSONSchema = {
  $id: 'socle/other', title: 'other', description: 'Another module', type: 'object', additionalProperties: false,
  properties: { method: { $ref: 'socle/defs/auth#/definitions/method', description: 'M.' } },
};

const set = createSchemaSet([
  { file: 'instance.schema.yml', schema: instance }, { file: 'other.schema.yml', schema: other },
  { file: 'defs/auth.schema.yml', schema: auth }, { file: 'defs/conn.schema.yml', schema: conn },
]);

describe('toTypeScript', () => {
  const out = toTypeScript(set, instance, 'InstanceOptions');

  test('header and root interface', () => {
    expect(out.startsWith('// generated from schemas/instance.schema.yml, do not edit\n')).toBe(true);
    expect(out).toContain('/** Manage an instance */\nexport interface InstanceOptions {');
  });

  test('required and defaulted properties are non-optional, others optional', () => {
    expect(out).toMatch(/\n {2}name: string;/);
    expect(out).toMatch(/\n {2}port: number;/);
    expect(out).toMatch(/\n {2}replrole\?: string \| null;/);
    expect(out).toMatch(/\n {2}mode: "fast" \| null;/);
  });

  test('enums as literal unions; secrets flagged in the doc comment', () => {
    expect(out).toMatch(/\n {2}state: "started" \| "stopped";/);
    expect(out).toMatch(/Secret: never log or return it\.\n {3}\*\/\n {2}password\?: string;/);
  });

  test('free-form maps', () => {
    expect(out).toMatch(/\n {2}settings: Record<string, string \| number \| boolean>;/);
    expect(out).toMatch(/\n {2}labels\?: Record<string, string \| number \| boolean>;/);
    expect(out).toMatch(/\n {2}counts\?: Record<string, number>;/);
  });

  test('$ref defs are named exports, from their title or document title + key', () => {
    expect(out).toMatch(/\n {2}local\?: AuthMethod;/);
    expect(out).toMatch(/\n {2}host\?: AuthWithdefault;/);
    expect(out).toMatch(/\n {2}hostssl: AuthMethod;/);
    expect(out).toMatch(/\n {2}rules\?: HbaRule\[\];/);
    expect(out).toMatch(/\n {2}conn\?: Connection;/);
    expect(out).toContain('export type AuthMethod = "peer" | "md5" | "scram-sha-256";');
    expect(out).toContain('/** A pg_hba.conf line. */\nexport interface HbaRule {\n');
    expect(out).toMatch(/export interface HbaRule \{[^}]*\n {2}user: string;[^}]*\n {2}method: AuthMethod;/);
    expect(out).toMatch(/export interface Connection \{[^}]*\n {2}host: string;/);
    // named declarations sorted after the root
    const order = ['export interface InstanceOptions', 'export type AuthMethod', 'export interface Connection', 'export interface HbaRule'];
    expect(order.map((s) => out.indexOf(s))).toEqual([...order.map((s) => out.indexOf(s))].sort((a, b) => a - b));
  });

  test('two modules referencing the same def share the type name', () => {
    expect(toTypeScript(set, other, 'OtherOptions')).toContain('export type AuthMethod = "peer" | "md5" | "scram-sha-256";');
  });

  test('nested objects inline; odd keys quoted; oneOf as a union (no defaults applied inside)', () => {
    expect(out).toMatch(/\n {2}nested: \{\n[^}]*\n {4}flag: boolean;[^}]*\n {4}"with-dash"\?: number;\n {2}\};/);
    expect(out).toMatch(/\n {2}records\?: Array<string \| \{\n[^}]*\n {4}user\?: string;\n {2}\}>;/);
  });

  test('allOf merged; no type is unknown', () => {
    expect(out).toMatch(/\n {2}merged\?: \{[^}]*host: string;[^}]*password\?: string;[^}]*db\?: string;\n {2}\};/);
    expect(out).toMatch(/\n {2}anything\?: unknown;/);
  });

  test('deterministic', () => {
    expect(toTypeScript(set, instance, 'InstanceOptions')).toBe(out);
  });

  test('a clash of type names is an error', () => {
    const clash = createSchemaSet([
      { schema: { $id: 'socle/m', type: 'object', properties: { a: { $ref: 'socle/defs/a' }, b: { $ref: 'socle/defs/b' } } } },
      { schema: { $id: 'socle/defs/a', title: 'thing', type: 'string' } },
      { schema: { $id: 'socle/defs/b', title: 'thing', type: 'integer' } },
    ]);
    expect(() => toTypeScript(clash, { $id: 'socle/m' }, 'MOptions')).toThrow(/type name Thing/);
  });

  test('pascalCase', () => {
    expect(pascalCase('hba rule')).toBe('HbaRule');
    expect(pascalCase('pg_hba-entry')).toBe('PgHbaEntry');
    expect(pascalCase('camelCase')).toBe('CamelCase');
  });

  test('the output compiles and types real values', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'socle-ts-'));
    try {
      fs.writeFileSync(path.join(dir, 'types.ts'), out);
      fs.writeFileSync(path.join(dir, 'use.ts'), [
        "import type { InstanceOptions, AuthMethod } from './types';",
        "const ok: InstanceOptions = { name: 'a', port: 5432, state: 'started', settings: { jit: false }, nested: { flag: true }, mode: null, hostssl: 'md5',",
        "  rules: [{ user: 'u', method: 'md5' }], records: ['x', { user: 'y' }], conn: { host: 'h' } };",
        "const m: AuthMethod = 'peer';",
        '// @ts-expect-error not a method',
        "const bad: AuthMethod = 'trust';",
        '// @ts-expect-error port is not optional (defaults applied)',
        "const missing: InstanceOptions = { name: 'a', state: 'started', settings: {}, nested: { flag: true }, mode: null, hostssl: 'md5' };",
        'export { ok, m, bad, missing };',
      ].join('\n'));
      const program = ts.createProgram([path.join(dir, 'use.ts')], { strict: true, noEmit: true, types: [], lib: ['lib.es2022.d.ts'] });
      const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      expect(diagnostics).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
