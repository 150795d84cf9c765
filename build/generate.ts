// Code generated from the schemas into modules/generated/ (git-ignored), before bundling:
// for each module and for the site settings, a precompiled ajv validator and a TypeScript file
// with the options' types and the paths of their secrets.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv';
import standaloneCode from 'ajv/dist/standalone';
import { expandNode, typeInfo, type JSONSchema, type SchemaSet } from './schema/load';
import { pascalCase, toTypeScript } from './schema/typescript';
import { CONNINFO_PASSWORD } from '../modules/lib/secrets';

/** Annotation keywords of our schemas (see schemas/README.md): ajv must know them in strict mode. */
const ANNOTATIONS = ['x-secret', 'x-ansible-type', 'x-aliases', 'x-error'];

/**
 * Our `$id`s are `socle/...` (short, readable), which URI resolution would treat as relative
 * paths (`socle/defs/x` from `socle/instance` would become `socle/socle/defs/x`). ajv gets them
 * as absolute URIs instead.
 */
const BASE = 'https://schemas.socle.invalid/';
/** Keywords that only document: left out of validators (with `verbose`, ajv would embed them). */
const DOC_ONLY = new Set(['description', 'title', 'x-ansible', '$comment', 'examples', 'x-contributes']);
/** Keywords whose value maps names to schemas (a property may well be called "description"). */
const SCHEMA_MAPS = new Set(['properties', 'definitions', 'patternProperties']);
function forAjv<T>(node: T, isSchemaMap = false): T {
  if (Array.isArray(node)) return node.map((n) => forAjv(n)) as unknown as T;
  if (node === null || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) {
    if (isSchemaMap) out[k] = forAjv(v);
    else if (DOC_ONLY.has(k)) continue;
    else if ((k === '$id' || k === '$ref') && typeof v === 'string' && v.startsWith('socle/')) out[k] = BASE + v;
    else if (k === 'default' || k === 'enum' || k === 'const') out[k] = v;
    else out[k] = forAjv(v, SCHEMA_MAPS.has(k));
  }
  return out as T;
}

export function createAjv(set: SchemaSet): Ajv {
  const ajv = new Ajv({
    allErrors: true, // every bad option reported at once
    useDefaults: true,
    coerceTypes: true, // "5432" is accepted for an integer, as Ansible users expect
    verbose: true, // errors carry their schema, for `x-error` messages
    strict: true,
    strictTypes: false, // `type: [string, number, boolean]` unions are intended
    allowUnionTypes: true,
    code: { source: true, esm: false },
  });
  for (const k of ANNOTATIONS) ajv.addKeyword(k);
  for (const entry of set.byId.values()) ajv.addSchema(forAjv(entry.schema));
  return ajv;
}

/**
 * Option paths (`*` for any key or index) whose schema says `x-secret: true`; for `x-secret:
 * conninfo` (a connection string that may carry a password), the path ends with the step that
 * takes the password out of it.
 */
export function secretPaths(set: SchemaSet, node: JSONSchema, path: string[] = [], seen = new Set<JSONSchema>()): string[][] {
  const n = expandNode(set, node);
  if (seen.has(n)) return [];
  const out: string[][] = [];
  if (n['x-secret'] === true) out.push(path);
  if (n['x-secret'] === 'conninfo') out.push([...path, CONNINFO_PASSWORD]);
  for (const [k, child] of Object.entries(n.properties ?? {})) out.push(...secretPaths(set, child, [...path, k], seen));
  if (n.items && typeof n.items === 'object' && !Array.isArray(n.items)) out.push(...secretPaths(set, n.items as JSONSchema, [...path, '*'], seen));
  if (n.additionalProperties && typeof n.additionalProperties === 'object') {
    out.push(...secretPaths(set, n.additionalProperties as JSONSchema, [...path, '*'], seen));
  }
  for (const branch of [...(n.oneOf ?? []), ...(n.anyOf ?? [])]) out.push(...secretPaths(set, branch, path, seen));
  return out;
}

/** Option paths (`*` for any key or index) whose schema admits numbers and no boolean. */
export function numericPaths(set: SchemaSet, node: JSONSchema, path: string[] = [], seen = new Set<JSONSchema>()): string[][] {
  const n = expandNode(set, node);
  if (seen.has(n)) return [];
  const out: string[][] = [];
  const { types } = typeInfo(set, n);
  if (types.length && types.every((t) => t === 'integer' || t === 'number')) out.push(path);
  for (const [k, child] of Object.entries(n.properties ?? {})) out.push(...numericPaths(set, child, [...path, k], seen));
  if (n.items && typeof n.items === 'object' && !Array.isArray(n.items)) out.push(...numericPaths(set, n.items as JSONSchema, [...path, '*'], seen));
  if (n.additionalProperties && typeof n.additionalProperties === 'object') {
    out.push(...numericPaths(set, n.additionalProperties as JSONSchema, [...path, '*'], seen));
  }
  for (const branch of [...(n.oneOf ?? []), ...(n.anyOf ?? [])]) {
    // Only where every alternative is numeric would a boolean be refused: one object branch suffices to look inside.
    out.push(...numericPaths(set, branch, path, seen).filter((p) => p.length > path.length));
  }
  return out;
}

/** Writes modules/generated/<name>.validate.js (+ .d.ts) and modules/generated/<name>.ts. */
export function generate(set: SchemaSet, names: string[], outDir: string): void {
  mkdirSync(outDir, { recursive: true });
  const ajv = createAjv(set);
  for (const name of names) {
    const entry = set.byId.get(`socle/${name}`);
    if (!entry) throw new Error(`no schema socle/${name}`);
    const validate = ajv.getSchema(BASE + entry.id);
    if (!validate) throw new Error(`ajv did not compile ${entry.id}`);
    writeFileSync(join(outDir, `${name}.validate.js`), standaloneCode(ajv, validate));
    writeFileSync(
      join(outDir, `${name}.validate.d.ts`),
      "import type { Validator } from '../lib/runtime';\ndeclare const validate: Validator;\nexport default validate;\n",
    );
    const typeName = name === 'settings' ? 'Settings' : `${pascalCase(name)}Options`;
    const ts = [
      toTypeScript(set, entry.schema, typeName),
      `import compiled from './${name}.validate';`,
      `import { refuseBooleansAsNumbers } from '../lib/validation';`,
      `/** Options that are numbers only (ajv would coerce a boolean into one). */`,
      `export const validate = refuseBooleansAsNumbers(compiled, ${JSON.stringify(numericPaths(set, entry.schema))});`,
      `/** Options marked x-secret in schemas/${entry.file}. */`,
      `export const secretPaths: string[][] = ${JSON.stringify(secretPaths(set, entry.schema))};`,
      '',
    ].join('\n');
    writeFileSync(join(outDir, `${name}.ts`), ts);
  }
}
