// TypeScript declarations of a module's validated options (modules/generated/<name>.ts).
//
// - A property is non-optional when it is required or has a default (ajv's useDefaults fills
//   it), except inside oneOf/anyOf branches, where ajv does not apply defaults. Only the
//   property's own `default` counts: ajv ignores one that sits in a `$ref` target (checked
//   with ajv 8.17: `{$ref: X, default: d}` is applied, a default inside X is not).
// - `$ref`s to other nodes become named exports, named from the target's `title` (PascalCase),
//   else from the document title plus the definition key (`socle/defs/auth#/definitions/method`
//   -> `AuthMethod`): two modules using the same def share the type name.
// - Free-form maps are `Record<string, T>` (T from additionalProperties, else
//   `string | number | boolean`).
import {
  JSONSchema, SchemaSet, absolutizeRefs, descriptionList, entryOf, expandNode, resolveRef,
} from './load';

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `pg_hba entry` -> `PgHbaEntry`, `method` -> `Method`, `scramSha` -> `ScramSha`. */
export function pascalCase(s: string): string {
  const words = s.replace(/([a-z0-9])([A-Z])/g, '$1 $2').split(/[^A-Za-z0-9]+/).filter(Boolean);
  const name = words.map((w) => w[0].toUpperCase() + w.slice(1)).join('');
  return /^[0-9]/.test(name) ? `T${name}` : name;
}

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
// Keywords that only annotate: a $ref with only these siblings is still the named type.
const ANNOTATIONS = new Set(['description', 'title', 'default', 'examples', '$comment', 'readOnly', 'writeOnly', 'deprecated']);

function literal(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return JSON.stringify(v);
  return 'unknown';
}

function union(types: string[]): string {
  const unique = [...new Set(types)];
  if (unique.includes('unknown')) return 'unknown';
  return unique.length === 0 ? 'never' : unique.join(' | ');
}

function wrapForArray(t: string): string {
  return /^[A-Za-z0-9_$.<>, ]+$/.test(t) && !t.includes(' | ') ? `${t}[]` : `Array<${t}>`;
}

function comment(lines: string[], indent: string, extra: string[] = []): string {
  const all = [...lines, ...extra];
  if (all.length === 0) return '';
  const body = all.flatMap((l) => l.replace(/\*\//g, '*\\/').split('\n')).map((l) => l.trimEnd());
  if (body.length === 1) return `${indent}/** ${body[0]} */\n`;
  return `${indent}/**\n${body.map((l) => `${indent} *${l ? ` ${l}` : ''}`).join('\n')}\n${indent} */\n`;
}

class Emitter {
  /** Named declarations: name -> { ref, code }. */
  readonly named = new Map<string, { ref: string; code: string }>();
  private readonly byRef = new Map<string, string>();

  constructor(private readonly set: SchemaSet, private readonly reserved: string) {}

  nameFor(ref: string): string {
    const known = this.byRef.get(ref);
    if (known) return known;
    const target = resolveRef(this.set, ref);
    const docTitle = this.set.byId.get(target.id)!.schema.title ?? target.id.split('/').pop()!;
    let name: string;
    if (typeof target.schema.title === 'string' && target.schema.title.trim() !== '') {
      name = pascalCase(target.schema.title);
    } else if (target.pointer === '') {
      name = pascalCase(docTitle);
    } else {
      const last = target.pointer.split('/').pop()!;
      name = pascalCase(docTitle) + pascalCase(last);
    }
    const clash = this.named.get(name);
    if (name === this.reserved || (clash && clash.ref !== target.ref)) {
      throw new Error(`type name ${name} of ${target.ref} clashes with ${clash ? clash.ref : 'the options type'}: give one of them a distinct title`);
    }
    this.byRef.set(ref, name);
    this.byRef.set(target.ref, name);
    if (!clash) {
      this.named.set(name, { ref: target.ref, code: '' }); // reserve first: recursive defs
      const node = absolutizeRefs(target.schema, target.id);
      this.named.set(name, { ref: target.ref, code: this.declaration(name, node) });
    }
    return name;
  }

  /** `export interface Name {...}` for objects with properties, else `export type Name = ...;`. */
  declaration(name: string, input: JSONSchema): string {
    const node = expandNode(this.set, input);
    const doc = comment(descriptionList(node.description), '');
    if (this.isPlainObjectShape(node)) {
      return `${doc}export interface ${name} ${this.objectBody(node, '', true)}\n`;
    }
    return `${doc}export type ${name} = ${this.typeOf(node, '', true)};\n`;
  }

  private isPlainObjectShape(node: JSONSchema): boolean {
    return isPlainObject(node.properties) && !node.oneOf && !node.anyOf
      && (node.type === undefined || node.type === 'object');
  }

  typeOf(input: JSONSchema, indent: string, defaultsApply: boolean): string {
    if (typeof input.$ref === 'string' && Object.keys(input).every((k) => k === '$ref' || ANNOTATIONS.has(k) || k.startsWith('x-'))) {
      return this.nameFor(input.$ref);
    }
    const node = expandNode(this.set, input);
    const branches = node.oneOf ?? node.anyOf;
    if (Array.isArray(branches)) {
      const typed = branches.some((b) => ['type', 'properties', 'items', 'enum', 'const', '$ref', 'oneOf', 'anyOf', 'allOf', 'additionalProperties'].some((k) => k in b));
      if (typed) {
        const { oneOf: _o, anyOf: _a, description: _d, default: _df, title: _t, ...base } = node;
        void _o; void _a; void _d; void _df; void _t;
        const hasBase = Object.keys(base).some((k) => !k.startsWith('x-') && !ANNOTATIONS.has(k));
        return union(branches.map((b) => {
          const branch = hasBase && !b.$ref ? { ...base, ...b } : b;
          return this.typeOf(branch, indent, false);
        }));
      }
    }
    if (Array.isArray(node.enum)) return union(node.enum.map(literal));
    if ('const' in node) return literal(node.const);
    let types: string[];
    if (node.type !== undefined) types = Array.isArray(node.type) ? node.type : [node.type];
    else if (node.properties || node.additionalProperties !== undefined) types = ['object'];
    else if (node.items) types = ['array'];
    else return 'unknown';
    return union(types.map((t) => this.singleType(t, node, indent, defaultsApply)));
  }

  private singleType(type: string, node: JSONSchema, indent: string, defaultsApply: boolean): string {
    switch (type) {
      case 'string': return 'string';
      case 'integer': case 'number': return 'number';
      case 'boolean': return 'boolean';
      case 'null': return 'null';
      case 'array': {
        if (Array.isArray(node.items)) return `[${node.items.map((i) => this.typeOf(i, indent, false)).join(', ')}]`;
        if (!node.items) return 'unknown[]';
        return wrapForArray(this.typeOf(node.items, indent, defaultsApply));
      }
      case 'object': {
        const props = isPlainObject(node.properties) ? Object.keys(node.properties) : [];
        if (props.length === 0) {
          const ap = node.additionalProperties;
          if (ap === false) return 'Record<string, never>';
          if (isPlainObject(ap)) return `Record<string, ${this.typeOf(ap as JSONSchema, indent, defaultsApply)}>`;
          return 'Record<string, string | number | boolean>';
        }
        return this.objectBody(node, indent, defaultsApply);
      }
      default: return 'unknown';
    }
  }

  private objectBody(node: JSONSchema, indent: string, defaultsApply: boolean): string {
    const inner = `${indent}  `;
    const required = new Set(Array.isArray(node.required) ? node.required : []);
    const lines: string[] = [];
    for (const [name, input] of Object.entries(node.properties ?? {})) {
      const prop = expandNode(this.set, input);
      // ajv applies only the property's own default (next to a $ref is fine, inside the target not)
      const ownDefault = input.default;
      const hasDefault = defaultsApply && ownDefault !== undefined;
      const optional = !required.has(name) && !hasDefault;
      const key = IDENT.test(name) ? name : JSON.stringify(name);
      const extra: string[] = [];
      if (ownDefault !== undefined && (ownDefault === null || typeof ownDefault !== 'object')) {
        extra.push(`@default ${JSON.stringify(ownDefault)}`);
      }
      if (prop['x-secret'] === true) extra.push('Secret: never log or return it.');
      lines.push(`${comment(descriptionList(prop.description), inner, extra)}${inner}${key}${optional ? '?' : ''}: ${this.typeOf(input, inner, defaultsApply)};`);
    }
    const ap = node.additionalProperties;
    if (ap !== undefined && ap !== false) lines.push(`${inner}[key: string]: unknown;`);
    return lines.length === 0 ? '{}' : `{\n${lines.join('\n')}\n${indent}}`;
  }
}

/**
 * TypeScript declarations for a schema: `export interface <typeName>` for its root (or `export
 * type` when it is not an object with properties), then one export per referenced def, sorted by
 * name. Deterministic, with a "generated from schemas/<file>, do not edit" header.
 */
export function toTypeScript(set: SchemaSet, schema: JSONSchema, typeName: string): string {
  const entry = entryOf(set, schema);
  if (!IDENT.test(typeName)) throw new Error(`invalid TypeScript type name "${typeName}"`);
  const emitter = new Emitter(set, typeName);
  const root = absolutizeRefs(entry.schema, entry.id);
  const main = emitter.declaration(typeName, root);
  const defs = [...emitter.named.keys()].sort().map((n) => emitter.named.get(n)!.code);
  return [`// generated from schemas/${entry.file}, do not edit\n`, main, ...defs].join('\n');
}
