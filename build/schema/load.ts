// Loading and navigating the schemas of schemas/ (JSON Schema draft-07 written in YAML).
// See schemas/README.md for the conventions: `$id: socle/<module>`, shared pieces in
// `defs/<thing>.schema.yml` with `$id: socle/defs/<thing>`, referenced as `socle/defs/<thing>`
// or `socle/defs/<thing>#/definitions/<x>`; local `#/definitions/<x>` pointers also work.
import * as fs from 'fs';
import * as path from 'path';
import * as yaml from 'js-yaml';

/** What the root `x-ansible` keyword may hold (everything that is not an option). */
export interface XAnsible {
  description?: string | string[];
  notes?: string | string[];
  examples?: string;
  return?: Record<string, unknown>;
  seealso?: Array<Record<string, unknown>>;
  requirements?: string | string[];
  author?: string | string[];
  version_added?: string;
  attributes?: Record<string, unknown>;
  [key: string]: unknown;
}

/** A JSON Schema node, loosely typed (the schemas are data written by people). */
export interface JSONSchema {
  $id?: string;
  $ref?: string;
  $schema?: string;
  title?: string;
  description?: string | string[];
  type?: string | string[];
  properties?: Record<string, JSONSchema>;
  required?: string[];
  additionalProperties?: boolean | JSONSchema;
  items?: JSONSchema | JSONSchema[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  oneOf?: JSONSchema[];
  anyOf?: JSONSchema[];
  allOf?: JSONSchema[];
  definitions?: Record<string, JSONSchema>;
  'x-ansible'?: XAnsible;
  /** true: the value is a secret; `conninfo`: the password a connection string may carry is. */
  'x-secret'?: boolean | 'conninfo';
  'x-ansible-type'?: string;
  'x-aliases'?: string[];
  [key: string]: unknown;
}

export interface SchemaEntry {
  /** `$id` of the document, e.g. `socle/instance` or `socle/defs/auth`. */
  id: string;
  /** Path of the file relative to the schemas folder, with `/` separators (`defs/auth.schema.yml`). */
  file: string;
  schema: JSONSchema;
}

export interface SchemaSet {
  /** The folder the schemas were read from (`<memory>` for createSchemaSet without one). */
  dir: string;
  /** Documents by `$id`, in file order. */
  byId: Map<string, SchemaEntry>;
}

export interface ResolvedRef {
  /** The node the reference points to. */
  schema: JSONSchema;
  /** `$id` of the document holding that node (base of its own local `#/...` references). */
  id: string;
  /** JSON pointer inside that document ('' for the whole document). */
  pointer: string;
  /** Absolute form of the reference: `<id>#<pointer>` or `<id>`. */
  ref: string;
}

const SCHEMA_FILE = /\.schema\.ya?ml$/;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Builds a SchemaSet from already parsed documents (used by loadSchemas, handy in tests). */
export function createSchemaSet(
  docs: Array<{ file?: string; schema: JSONSchema }>,
  dir = '<memory>',
): SchemaSet {
  const byId = new Map<string, SchemaEntry>();
  docs.forEach((doc, index) => {
    const file = doc.file ?? `<schema #${index}>`;
    if (!isPlainObject(doc.schema)) {
      throw new Error(`${file}: a schema must be a mapping (got ${doc.schema === null ? 'null' : typeof doc.schema})`);
    }
    const id = doc.schema.$id;
    if (typeof id !== 'string' || id === '') {
      throw new Error(`${file}: missing $id (expected e.g. "$id: socle/<module>" or "$id: socle/defs/<thing>")`);
    }
    if (id.includes('#')) throw new Error(`${file}: $id "${id}" must not contain '#'`);
    const previous = byId.get(id);
    if (previous) throw new Error(`duplicate $id "${id}" in ${previous.file} and ${file}`);
    byId.set(id, { id, file, schema: doc.schema });
  });
  return applyExtends(applyContributions({ dir, byId }));
}

function listSchemaFiles(dir: string, rel = ''): string[] {
  const out: string[] = [];
  const entries = fs.readdirSync(path.join(dir, rel), { withFileTypes: true })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const relPath = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) {
      if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
      out.push(...listSchemaFiles(dir, relPath));
    } else if (e.isFile() && SCHEMA_FILE.test(e.name)) {
      out.push(relPath);
    }
  }
  return out;
}

/**
 * Reads every `*.schema.yml` under `dir` (recursively, `defs/` included), in a stable order, and
 * indexes the documents by `$id`. YAML is read with the core schema (plain JSON values: no
 * dates, no `<<` merges), so what ajv sees is exactly what a JSON reader would.
 */
export function loadSchemas(dir: string): SchemaSet {
  const docs = listSchemaFiles(dir).map((file) => {
    const full = path.join(dir, file);
    let schema: unknown;
    try {
      schema = yaml.load(fs.readFileSync(full, 'utf8'), { filename: full, schema: yaml.CORE_SCHEMA });
    } catch (e) {
      throw new Error(`${full}: invalid YAML: ${(e as Error).message}`);
    }
    return { file, schema: schema as JSONSchema };
  });
  return createSchemaSet(docs, dir);
}

/** Decodes a JSON pointer (`/definitions/a~1b`) into its tokens. */
export function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new Error(`invalid JSON pointer "${pointer}" (must start with '/')`);
  return pointer.slice(1).split('/').map((t) => decodeURIComponent(t).replace(/~1/g, '/').replace(/~0/g, '~'));
}

function lookupId(set: SchemaSet, base: string, from?: string): string | undefined {
  if (set.byId.has(base)) return base;
  if (from) {
    // URI-style resolution relative to the referencing document (`defs/x` from `socle/m`).
    const fromDir = path.posix.dirname(from);
    const candidate = path.posix.normalize(path.posix.join(fromDir, base));
    if (set.byId.has(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Resolves `ref` (`socle/defs/x`, `socle/defs/x#/definitions/y` or local `#/definitions/y`);
 * `from` is the `$id` of the document holding the reference (needed for local references).
 */
export function resolveRef(set: SchemaSet, ref: string, from?: string): ResolvedRef {
  const hash = ref.indexOf('#');
  const base = hash < 0 ? ref : ref.slice(0, hash);
  const fragment = hash < 0 ? '' : ref.slice(hash + 1);
  let id: string | undefined;
  if (base === '') {
    if (!from) throw new Error(`local $ref "${ref}" needs the $id of the document it appears in`);
    id = from;
    if (!set.byId.has(id)) throw new Error(`$ref "${ref}": unknown document "${from}"`);
  } else {
    id = lookupId(set, base, from);
    if (!id) {
      const known = [...set.byId.keys()].sort().join(', ');
      throw new Error(`$ref "${ref}"${from ? ` in ${from}` : ''}: no schema with $id "${base}" (known: ${known})`);
    }
  }
  if (fragment !== '' && !fragment.startsWith('/')) {
    throw new Error(`$ref "${ref}": only JSON pointer fragments (#/definitions/x) are supported`);
  }
  let node: unknown = set.byId.get(id)!.schema;
  for (const token of parsePointer(fragment)) {
    if (isPlainObject(node) && token in node) node = node[token];
    else if (Array.isArray(node) && /^\d+$/.test(token) && Number(token) < node.length) node = node[Number(token)];
    else throw new Error(`$ref "${ref}"${from ? ` in ${from}` : ''}: "${fragment}" not found in ${id}`);
  }
  if (!isPlainObject(node) && typeof node !== 'boolean') {
    throw new Error(`$ref "${ref}": target is not a schema`);
  }
  const schema: JSONSchema = typeof node === 'boolean' ? (node ? {} : { not: {} }) : (node as JSONSchema);
  return { schema, id, pointer: fragment, ref: fragment ? `${id}#${fragment}` : id };
}

/** True for a module's `$id` (`socle/<name>`, one segment), false for defs and the site settings. */
export function isModuleSchema(id: string): boolean {
  return /^socle\/[^/#]+$/.test(id) && id !== 'socle/settings';
}

/** The module schemas (`$id: socle/<name>`, except `socle/settings`), sorted by `$id`. */
export function moduleSchemas(set: SchemaSet): SchemaEntry[] {
  return [...set.byId.values()].filter((e) => isModuleSchema(e.id)).sort((a, b) => (a.id < b.id ? -1 : 1));
}

/** The entry of a loaded document, from its root node or `$id`. */
export function entryOf(set: SchemaSet, schema: JSONSchema | string): SchemaEntry {
  const id = typeof schema === 'string' ? schema : schema.$id;
  const entry = id === undefined ? undefined : set.byId.get(id);
  if (!entry) throw new Error(`schema ${id ?? '(without $id)'} is not part of the schema set`);
  return entry;
}

// ---------------------------------------------------------------------------------------------
// Expansion: `$ref` resolved (siblings override the target, as ajv 8 evaluates them too) and
// `allOf` merged, so that consumers see one self-contained node. Local references inside the
// returned nodes are rewritten as absolute (`<id>#/...`), so nodes can be moved between documents.

/** Deep copy of `node` with every local `$ref` (`#/...`) made absolute against `docId`. */
export function absolutizeRefs<T>(node: T, docId: string): T {
  if (Array.isArray(node)) return node.map((n) => absolutizeRefs(n, docId)) as unknown as T;
  if (!isPlainObject(node)) return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === '$ref' && typeof v === 'string' && v.startsWith('#')) out[k] = `${docId}${v}`;
    else if (k === 'enum' || k === 'const' || k === 'default' || k === 'examples' || k === 'x-ansible') out[k] = v;
    else out[k] = absolutizeRefs(v, docId);
  }
  return out as T;
}

/** Merges `b` into `a` (allOf semantics, approximated): properties united, required united, `b` wins otherwise. */
export function mergeSchemas(a: JSONSchema, b: JSONSchema): JSONSchema {
  const out: JSONSchema = { ...a };
  for (const [k, v] of Object.entries(b)) {
    if (k === 'properties' && isPlainObject(v) && isPlainObject(a.properties)) {
      out.properties = { ...a.properties, ...(v as Record<string, JSONSchema>) };
    } else if (k === 'required' && Array.isArray(v) && Array.isArray(a.required)) {
      out.required = [...new Set([...a.required, ...(v as string[])])];
    } else if (k === 'definitions' && isPlainObject(v) && isPlainObject(a.definitions)) {
      out.definitions = { ...a.definitions, ...(v as Record<string, JSONSchema>) };
    } else {
      out[k] = v;
    }
  }
  return out;
}

/**
 * Returns `node` with its top-level `$ref` and `allOf` resolved and merged (not recursively
 * below: call again on properties/items). `docId` is the document holding `node` (for local
 * references; not needed once nodes come from expandNode, which makes them absolute).
 */
export function expandNode(set: SchemaSet, node: JSONSchema, docId?: string, stack: string[] = []): JSONSchema {
  let current: JSONSchema = docId ? absolutizeRefs(node, docId) : node;
  if (typeof current.$ref === 'string') {
    const { $ref, ...siblings } = current;
    const target = resolveRef(set, $ref, docId);
    if (stack.includes(target.ref)) {
      throw new Error(`circular $ref: ${[...stack, target.ref].join(' -> ')}`);
    }
    const resolved = expandNode(set, target.schema, target.id, [...stack, target.ref]);
    // The $id of a whole referenced document is not part of the referencing node.
    const { $id: _id, $schema: _s, definitions: _d, ...rest } = resolved;
    void _id; void _s; void _d;
    current = { ...rest, ...siblings };
  }
  if (Array.isArray(current.allOf)) {
    const { allOf, ...own } = current;
    let merged: JSONSchema = {};
    for (const part of allOf) merged = mergeSchemas(merged, expandNode(set, part, undefined, stack));
    current = mergeSchemas(merged, own);
  }
  return current;
}

/** The non-null JSON types a node admits, and whether it admits null. Empty `types` = anything. */
export interface TypeInfo {
  types: string[];
  nullable: boolean;
}

const TYPE_ORDER = ['string', 'integer', 'number', 'boolean', 'object', 'array'];

function jsonTypeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v; // string, boolean, object
}

/** Branches of a oneOf/anyOf that carry type information, merged with the node's other keywords. */
export function unionBranches(set: SchemaSet, node: JSONSchema): JSONSchema[] | undefined {
  const branches = node.oneOf ?? node.anyOf;
  if (!Array.isArray(branches)) return undefined;
  const typed = branches.map((b) => expandNode(set, b));
  const shaping = ['type', 'properties', 'items', 'enum', 'const', 'additionalProperties', '$ref', 'oneOf', 'anyOf'];
  if (!typed.some((b) => shaping.some((k) => k in b))) return undefined; // only required-variants
  const { oneOf: _o, anyOf: _a, ...base } = node;
  void _o; void _a;
  const baseShape = { ...base };
  delete baseShape.description; delete baseShape.default; delete baseShape.title;
  return typed.map((b) => mergeSchemas(baseShape, b));
}

/** Derives the JSON types of an (expanded) node. */
export function typeInfo(set: SchemaSet, input: JSONSchema): TypeInfo {
  const node = expandNode(set, input);
  const types = new Set<string>();
  let nullable = false;
  const add = (t: string) => {
    if (t === 'null') nullable = true;
    else types.add(t);
  };
  const branches = unionBranches(set, node);
  if (branches) {
    for (const b of branches) {
      const info = typeInfo(set, b);
      if (info.types.length === 0 && !info.nullable) return { types: [], nullable: true };
      info.types.forEach(add);
      if (info.nullable) nullable = true;
    }
  } else if (node.type !== undefined) {
    (Array.isArray(node.type) ? node.type : [node.type]).forEach(add);
  } else if (Array.isArray(node.enum)) {
    node.enum.forEach((v) => add(jsonTypeOf(v)));
  } else if ('const' in node) {
    add(jsonTypeOf(node.const));
  } else if (node.properties || node.additionalProperties !== undefined) {
    add('object');
  } else if (node.items) {
    add('array');
  }
  // integer is a subset of number
  if (types.has('integer') && types.has('number')) types.delete('integer');
  return { types: TYPE_ORDER.filter((t) => types.has(t)), nullable };
}

/**
 * `description` as a list of non-empty paragraphs ([] when there is none). Throws on a paragraph
 * that is not a string: in YAML, an unquoted `- Compared with X: Y` is a mapping, not a string.
 */
export function descriptionList(d: unknown, where = 'description'): string[] {
  if (d === undefined || d === null) return [];
  const list = Array.isArray(d) ? d : [d];
  return list.map((p, i) => {
    if (typeof p !== 'string') {
      const hint = typeof p === 'object' && p !== null && !Array.isArray(p)
        ? ` (YAML read ${JSON.stringify(p)}: quote a paragraph holding ": ")` : '';
      throw new Error(`${where}${Array.isArray(d) ? `[${i}]` : ''}: must be a string, got ${p === null ? 'null' : typeof p}${hint}`);
    }
    return p.trim();
  }).filter((p) => p !== '');
}

/**
 * `x-extends: socle/defs/<thing>` on a module schema: the module takes the def's properties and
 * required list (its own properties win), so that one object schema serves both a module
 * (`role`, with its own `instance` option) and a list item (`instance.roles`), written once.
 * JSON Schema has no such merge under `additionalProperties: false`; this is done on load, so
 * ajv, the docs and the types all see the merged schema.
 */
export function applyExtends(set: SchemaSet): SchemaSet {
  for (const entry of set.byId.values()) {
    const target = entry.schema['x-extends'];
    if (target === undefined) continue;
    if (typeof target !== 'string') throw new Error(`${entry.file}: x-extends must be a schema $id`);
    const base = set.byId.get(target);
    if (!base) throw new Error(`${entry.file}: x-extends ${target}: no schema with that $id`);
    if (base.schema['x-extends'] !== undefined) throw new Error(`${entry.file}: x-extends ${target}: chained x-extends is not supported`);
    const baseSchema = absolutizeRefs(base.schema, base.id);
    const { 'x-extends': _drop, ...own } = entry.schema;
    void _drop;
    entry.schema = {
      ...own,
      type: own.type ?? baseSchema.type,
      additionalProperties: own.additionalProperties ?? baseSchema.additionalProperties,
      properties: { ...(baseSchema.properties ?? {}), ...(own.properties ?? {}) },
      required: [...new Set([...(own.required ?? []), ...(baseSchema.required ?? [])])],
    };
  }
  return set;
}

/**
 * `x-contributes` on a component's schema (`schemas/components/<name>.schema.yml`): the options
 * the component adds to other documents, by `$id` — typically its instance option(s) to
 * `socle/instance` and its site-settings section to `socle/settings`:
 *
 *     x-contributes:
 *       socle/instance: { properties: { standby: {...} } }
 *       socle/settings: { properties: { pgbackrest: {...} } }
 *
 * Properties are added (a name already there is an error: two components cannot own one option),
 * so a new satellite touches no schema of the core. Local `#/definitions/...` references of the
 * component's document keep pointing at it. Done on load: ajv, docs and types see the result.
 */
export function applyContributions(set: SchemaSet): SchemaSet {
  for (const entry of set.byId.values()) {
    const contributes = entry.schema['x-contributes'];
    if (contributes === undefined) continue;
    if (!isPlainObject(contributes)) throw new Error(`${entry.file}: x-contributes must map target $ids to schemas`);
    for (const [targetId, part] of Object.entries(contributes)) {
      const target = set.byId.get(targetId);
      if (!target) throw new Error(`${entry.file}: x-contributes ${targetId}: no schema with that $id`);
      if (!isPlainObject(part) || Object.keys(part).some((k) => k !== 'properties' && k !== 'required')) {
        throw new Error(`${entry.file}: x-contributes ${targetId}: only 'properties' and 'required' can be contributed`);
      }
      const props = absolutizeRefs((part.properties ?? {}) as Record<string, JSONSchema>, entry.id);
      const own = target.schema.properties ?? {};
      for (const name of Object.keys(props)) {
        if (name in own) throw new Error(`${entry.file}: x-contributes ${targetId}: option '${name}' is already defined there`);
      }
      target.schema = {
        ...target.schema,
        properties: { ...own, ...props },
        ...(Array.isArray(part.required) ? { required: [...new Set([...(target.schema.required ?? []), ...(part.required as string[])])] } : {}),
      };
    }
  }
  return set;
}
