// Module documentation (the sidecar plugins/modules/<name>.yml read by ansible-doc) from a module
// schema, and the option mapping shared with the roles' argument specs (argument-spec.ts).
//
// The output follows what ansible-test's validate-modules schema accepts (ansible-core 2.18),
// which is stricter than ansible-doc itself:
// - DOCUMENTATION options accept only description, type, elements, required, default, choices,
//   aliases, version_added, suboptions: `no_log` is an argument-spec key, not a doc key;
// - a `list` needs `elements`, and `elements` is only allowed with `list`;
// - `required: true` and a `default` are mutually exclusive; the default must match the type and
//   be one of the `choices`; choices must match the type;
// - top-level RETURN entries need description, returned and type (`complex` needs `contains`).
import {
  JSONSchema, SchemaSet, absolutizeRefs, descriptionList, entryOf, expandNode, typeInfo, unionBranches,
} from './load';

export type OptionVariant = 'doc' | 'argspec';

/** One Ansible option: a DOCUMENTATION option (`suboptions`) or an argument spec entry (`options`). */
export interface AnsibleOption {
  description?: string[];
  type: string;
  elements?: string;
  required?: boolean;
  default?: unknown;
  choices?: unknown[];
  aliases?: string[];
  no_log?: boolean;
  suboptions?: Record<string, AnsibleOption>;
  options?: Record<string, AnsibleOption>;
}

export const DEFAULT_AUTHOR = 'socle.postgresql maintainers';

/** Types Ansible accepts for module options (argument spec and validate-modules). */
export const ANSIBLE_OPTION_TYPES = ['bits', 'bool', 'bytes', 'dict', 'float', 'int', 'json', 'jsonarg', 'list', 'path', 'raw', 'sid', 'str'];
const RETURN_TYPES = ['bool', 'complex', 'dict', 'float', 'int', 'list', 'raw', 'str'];
const RETURN_KEYS = ['description', 'returned', 'type', 'elements', 'sample', 'example', 'choices', 'contains', 'version_added', 'version_added_collection'];

const JSON_TO_ANSIBLE: Record<string, string> = {
  string: 'str', integer: 'int', number: 'float', boolean: 'bool', object: 'dict', array: 'list',
};

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isScalar(v: unknown): boolean {
  return v === null || ['string', 'number', 'boolean'].includes(typeof v);
}

/** The Ansible type of an expanded node: `x-ansible-type`, else derived from its JSON types. */
function ansibleTypeOf(set: SchemaSet, node: JSONSchema, where: string): string {
  const override = node['x-ansible-type'];
  if (override !== undefined) {
    if (typeof override !== 'string' || !ANSIBLE_OPTION_TYPES.includes(override)) {
      throw new Error(`${where}: x-ansible-type "${String(override)}" is not one of ${ANSIBLE_OPTION_TYPES.join(', ')}`);
    }
    return override;
  }
  const { types } = typeInfo(set, node);
  if (types.length === 1) return JSON_TO_ANSIBLE[types[0]];
  return 'raw'; // no type at all, or several (oneOf/anyOf/type list of different types)
}

/** Whether `value` fits the Ansible type (what validate-modules checks for defaults and choices). */
function fitsType(value: unknown, type: string, elements?: string): boolean {
  switch (type) {
    case 'str': case 'path': return typeof value === 'string';
    case 'int': return typeof value === 'number' && Number.isInteger(value);
    case 'float': return typeof value === 'number';
    case 'bool': return typeof value === 'boolean';
    case 'dict': return isPlainObject(value);
    case 'list': return Array.isArray(value) && (!elements || value.every((v) => fitsType(v, elements)));
    default: return true;
  }
}

const FQCN = /^[A-Za-z0-9_]+\.[A-Za-z0-9_]+\.[A-Za-z0-9_.]+$/;
const MACRO = /\b(RV|HORIZONTALLINE|[BICULMPOVER])\(/g;

/**
 * Checks Ansible doc markup the way validate-modules does (antsibull-docs-parser, strict): every
 * `X(` macro is closed, `M()` holds a FQCN, `L()`/`R()` have two parameters, `P()` is `fqcn#type`.
 */
export function checkMarkup(text: string, where: string): void {
  for (const m of text.matchAll(MACRO)) {
    const macro = m[1];
    if (macro === 'HORIZONTALLINE') continue;
    const start = m.index! + m[0].length;
    let end = -1;
    for (let i = start; i < text.length; i++) {
      if (text[i] === '\\' && ['O', 'V', 'RV', 'E'].includes(macro)) { i++; continue; }
      if (text[i] === ')') { end = i; break; }
    }
    if (end < 0) throw new Error(`${where}: markup ${macro}( is not closed in "${text}"`);
    const arg = text.slice(start, end);
    if (macro === 'M' && !FQCN.test(arg)) throw new Error(`${where}: M(${arg}) must name a module by its FQCN (ns.collection.name)`);
    if ((macro === 'L' || macro === 'R') && !arg.includes(',')) throw new Error(`${where}: ${macro}(${arg}) needs two parameters (text,target)`);
    if (macro === 'P' && !/^[A-Za-z0-9_]+\.[A-Za-z0-9_]+\.[A-Za-z0-9_.]+#[a-z_]+$/.test(arg)) {
      throw new Error(`${where}: P(${arg}) must be fqcn#type`);
    }
  }
}

function checkedParagraphs(d: unknown, where: string): string[] {
  const list = descriptionList(d, where);
  list.forEach((p) => checkMarkup(p, where));
  return list;
}

/** The allowed values of a node: `enum`, or oneOf/anyOf branches that are all `const`/`enum`. */
function enumValues(set: SchemaSet, node: JSONSchema): unknown[] | undefined {
  if (Array.isArray(node.enum)) return node.enum;
  if ('const' in node) return [node.const];
  const branches = node.oneOf ?? node.anyOf;
  if (Array.isArray(branches) && branches.length > 0) {
    const values: unknown[] = [];
    for (const b of branches.map((x) => expandNode(set, x))) {
      if (Array.isArray(b.enum)) values.push(...b.enum);
      else if ('const' in b) values.push(b.const);
      else if (b.type === 'null') values.push(null);
      else return undefined;
    }
    return values;
  }
  return undefined;
}

/** The object form of a node: itself with properties, or its only oneOf/anyOf branch with properties. */
function objectForm(set: SchemaSet, node: JSONSchema): JSONSchema | undefined {
  if (isPlainObject(node.properties) && Object.keys(node.properties).length > 0) return node;
  const branches = unionBranches(set, node);
  if (!branches) return undefined;
  const withProps = branches.map((b) => expandNode(set, b))
    .filter((b) => isPlainObject(b.properties) && Object.keys(b.properties).length > 0);
  return withProps.length === 1 ? withProps[0] : undefined;
}

/** Whether a default is worth showing: scalars, and non-empty lists/maps of scalars. */
function meaningfulDefault(value: unknown): boolean {
  if (value === undefined || value === null) return false;
  if (Array.isArray(value)) return value.length > 0 && value.every(isScalar);
  if (isPlainObject(value)) return Object.keys(value).length > 0 && Object.values(value).every(isScalar);
  return true;
}

export interface OptionContext {
  variant: OptionVariant;
  /** Listed in the parent's `required`. */
  required?: boolean;
  /** Dotted path, for error messages (`instance: auth.local`). */
  where: string;
}

/**
 * Converts one schema node into an Ansible option. `variant: 'doc'` gives a DOCUMENTATION option
 * (nested `suboptions`, no `no_log`), `'argspec'` an argument spec entry (nested `options`,
 * `no_log`, no `aliases`). `node` may hold local references only if made absolute first
 * (see absolutizeRefs; toAnsibleOptions does it).
 */
export function toAnsibleOption(set: SchemaSet, input: JSONSchema, ctx: OptionContext): AnsibleOption {
  const { variant, where } = ctx;
  const node = expandNode(set, input);
  const description = checkedParagraphs(node.description, `${where}: description`);
  if (description.length === 0) throw new Error(`${where}: option without a description`);
  const type = ansibleTypeOf(set, node, where);
  const option: AnsibleOption = { description, type };

  // list elements (and their choices / object form)
  let choiceSource: JSONSchema = node;
  let subSource: JSONSchema | undefined;
  if (type === 'list') {
    const items = node.items === undefined || Array.isArray(node.items) ? undefined : expandNode(set, node.items);
    option.elements = items ? ansibleTypeOf(set, items, `${where}[]`) : 'raw';
    if (items) {
      choiceSource = items;
      if (option.elements === 'dict' || (option.elements === 'raw' && variant === 'doc')) subSource = objectForm(set, items);
    }
  } else if (type === 'dict' || (type === 'raw' && variant === 'doc')) {
    subSource = objectForm(set, node);
  }
  // An object that also accepts extra keys cannot have `options` in an argument spec (Ansible
  // rejects unknown keys); the documentation can still describe the known ones.
  if (subSource && variant === 'argspec' && subSource.additionalProperties !== undefined
      && subSource.additionalProperties !== false) {
    subSource = undefined;
  }

  // Only the node's own `default` counts (next to a `$ref` is fine): ajv's useDefaults ignores a
  // default that sits in the $ref target or in allOf/oneOf branches, so the module never sees it.
  const ownDefault = input.default;
  const required = ctx.required === true && ownDefault === undefined;
  if (required) option.required = true;

  if (meaningfulDefault(ownDefault)) {
    if (!fitsType(ownDefault, type, option.elements)) {
      throw new Error(`${where}: default ${JSON.stringify(ownDefault)} does not match Ansible type ${type}${option.elements ? ` of ${option.elements}` : ''}`);
    }
    option.default = JSON.parse(JSON.stringify(ownDefault));
  }

  if (type !== 'bool') {
    const values = enumValues(set, choiceSource);
    if (values) {
      const choices = variant === 'doc' ? values.filter((v) => v !== null) : values;
      const elementType = type === 'list' ? option.elements! : type;
      const bad = choices.filter((v) => v !== null && !fitsType(v, elementType));
      if (bad.length > 0) throw new Error(`${where}: choices ${JSON.stringify(bad)} do not match Ansible type ${elementType}`);
      if (choices.length > 0) option.choices = [...choices]; // a copy: no YAML anchors when dumped
      if (option.default !== undefined) {
        const defaults = Array.isArray(option.default) ? option.default : [option.default];
        const missing = defaults.filter((d) => !choices.includes(d));
        if (missing.length > 0) throw new Error(`${where}: default ${JSON.stringify(missing)} is not one of the choices ${JSON.stringify(choices)}`);
      }
    }
  }

  const aliases = node['x-aliases'];
  if (aliases !== undefined && variant === 'doc') {
    if (!Array.isArray(aliases) || !aliases.every((a) => typeof a === 'string')) {
      throw new Error(`${where}: x-aliases must be a list of strings`);
    }
    if (aliases.length > 0) option.aliases = [...aliases];
  }

  if (node['x-secret'] === true && variant === 'argspec') option.no_log = true;

  if (subSource) {
    const sub = toAnsibleOptions(set, subSource, { variant, where });
    if (Object.keys(sub).length > 0) {
      if (variant === 'doc') option.suboptions = sub;
      else option.options = sub;
    }
  }
  return option;
}

/**
 * The options of an object node (its `properties`), in schema order. `docId` is the `$id` of the
 * document `node` comes from, when it may hold local `#/...` references.
 */
export function toAnsibleOptions(
  set: SchemaSet, input: JSONSchema, ctx: { variant: OptionVariant; where: string; docId?: string },
): Record<string, AnsibleOption> {
  const node = expandNode(set, ctx.docId ? absolutizeRefs(input, ctx.docId) : input);
  const required = new Set(Array.isArray(node.required) ? node.required : []);
  const out: Record<string, AnsibleOption> = {};
  for (const [name, prop] of Object.entries(node.properties ?? {})) {
    if (!isPlainObject(prop)) throw new Error(`${ctx.where}.${name}: a property must be a schema mapping`);
    out[name] = toAnsibleOption(set, prop, {
      variant: ctx.variant, required: required.has(name), where: ctx.where ? `${ctx.where}.${name}` : name,
    });
  }
  return out;
}

function stringList(v: unknown, what: string): string[] {
  if (v === undefined || v === null) return [];
  const list = Array.isArray(v) ? v : [v];
  return checkedParagraphs(list, what);
}

const SEEALSO_FORMS: string[][] = [['module'], ['plugin', 'plugin_type'], ['ref', 'description'], ['name', 'link', 'description']];

function validateReturn(entries: unknown, where: string, top: boolean): Record<string, unknown> {
  if (!isPlainObject(entries)) throw new Error(`${where} must be a mapping`);
  for (const [key, entry] of Object.entries(entries)) {
    const at = `${where}.${key}`;
    if (!isPlainObject(entry)) throw new Error(`${at} must be a mapping`);
    const unknown = Object.keys(entry).filter((k) => !RETURN_KEYS.includes(k));
    if (unknown.length > 0) {
      throw new Error(`${at}: unknown keys ${unknown.join(', ')} (allowed: ${RETURN_KEYS.join(', ')}; in a YAML flow mapping {...}, a comma inside an unquoted value starts a new key)`);
    }
    if (checkedParagraphs(entry.description, `${at}.description`).length === 0) throw new Error(`${at}: missing description`);
    if (top && (typeof entry.returned !== 'string' || entry.returned.trim() === '')) {
      throw new Error(`${at}: missing returned (a string such as "always" or "success")`);
    }
    if (typeof entry.type !== 'string' || !RETURN_TYPES.includes(entry.type)) {
      throw new Error(`${at}: type must be one of ${RETURN_TYPES.join(', ')}`);
    }
    if (entry.elements !== undefined && entry.type !== 'list') throw new Error(`${at}: elements is only allowed with type list`);
    if (entry.type === 'complex' && entry.contains === undefined) throw new Error(`${at}: type complex needs contains`);
    if (entry.contains !== undefined && entry.contains !== null) validateReturn(entry.contains, `${at}.contains`, false);
  }
  return entries;
}

function moduleName(id: string): string {
  return id.replace(/^socle\//, '');
}

/**
 * DOCUMENTATION, EXAMPLES and RETURN of a module, for its sidecar `plugins/modules/<name>.yml`.
 * `opts.namespace`/`opts.collection` qualify short module names in `seealso`; `version_added`
 * comes from `x-ansible.version_added` only (`opts.version` is not used for it). `opts.author`
 * is the author when `x-ansible.author` has none (default: DEFAULT_AUTHOR). ansible-test's
 * validate-modules wants each author line as `Name (@github)` or `Name (!UNKNOWN)`.
 */
export function toAnsibleDoc(
  set: SchemaSet, schema: JSONSchema,
  opts: { namespace: string; collection: string; version: string; author?: string[] },
): { DOCUMENTATION: Record<string, unknown>; EXAMPLES: string; RETURN: Record<string, unknown> } {
  const entry = entryOf(set, schema);
  const where = moduleName(entry.id);
  const root = expandNode(set, absolutizeRefs(entry.schema, entry.id));
  const x: Record<string, unknown> = isPlainObject(root['x-ansible']) ? root['x-ansible'] : {};

  const shortDescription = checkedParagraphs(root.description, `${where}: description`);
  if (shortDescription.length !== 1 || shortDescription[0].includes('\n')) {
    throw new Error(`${where}: the root description (short_description) must be one line`);
  }
  const doc: Record<string, unknown> = {
    module: moduleName(entry.id),
    short_description: shortDescription[0],
  };
  const description = stringList(x.description, `${where}: x-ansible.description`);
  doc.description = description.length > 0 ? description : [shortDescription[0]];
  if (x.version_added !== undefined) {
    // YAML reads `1.0` as the number 1: require a string so that "1.0.0" stays what was written.
    if (typeof x.version_added !== 'string') {
      throw new Error(`${where}: x-ansible.version_added must be a string (quote it, e.g. "1.0.0")`);
    }
    doc.version_added = x.version_added;
  }
  const author = stringList(x.author, `${where}: x-ansible.author`);
  doc.author = author.length > 0 ? author : opts.author ?? [DEFAULT_AUTHOR];
  const requirements = stringList(x.requirements, `${where}: x-ansible.requirements`);
  if (requirements.length > 0) doc.requirements = requirements;
  const notes = stringList(x.notes, `${where}: x-ansible.notes`);
  if (notes.length > 0) doc.notes = notes;
  if (x.seealso !== undefined) {
    if (!Array.isArray(x.seealso)) throw new Error(`${where}: x-ansible.seealso must be a list`);
    doc.seealso = x.seealso.map((item, i) => {
      if (!isPlainObject(item) || !SEEALSO_FORMS.some((keys) => keys.every((k) => typeof item[k] === 'string'))) {
        throw new Error(`${where}: x-ansible.seealso[${i}] needs module, plugin + plugin_type, ref + description, or name + link + description`);
      }
      const copy: Record<string, unknown> = { ...item };
      if (typeof copy.description === 'string') checkMarkup(copy.description, `${where}: x-ansible.seealso[${i}]`);
      if (typeof copy.module === 'string' && !copy.module.includes('.')) {
        copy.module = `${opts.namespace}.${opts.collection}.${copy.module}`;
      }
      return copy;
    });
  }
  if (x.attributes !== undefined) {
    if (!isPlainObject(x.attributes)) throw new Error(`${where}: x-ansible.attributes must be a mapping`);
    doc.attributes = JSON.parse(JSON.stringify(x.attributes));
  }
  const options = toAnsibleOptions(set, root, { variant: 'doc', where });
  qualifyOptionRefs(options);
  if (Object.keys(options).length > 0) doc.options = options;

  if (x.examples !== undefined && typeof x.examples !== 'string') {
    throw new Error(`${where}: x-ansible.examples must be a string (a YAML block scalar)`);
  }
  const EXAMPLES = typeof x.examples === 'string' ? x.examples : '';
  const RETURN = x.return === undefined ? {} : validateReturn(x.return, `${where}: x-ansible.return`, true);
  return { DOCUMENTATION: doc, EXAMPLES, RETURN: JSON.parse(JSON.stringify(RETURN)) };
}

/** Whether `O(a[].b.c)` names an option of `options` (the part after `=` is a value). */
function resolves(options: Record<string, AnsibleOption>, ref: string): boolean {
  let level: Record<string, AnsibleOption> | undefined = options;
  for (const segment of ref.split('=')[0].split('.')) {
    const opt: AnsibleOption | undefined = level?.[segment.replace(/\[\]$/, '')];
    if (!opt) return false;
    level = opt.suboptions;
  }
  return true;
}

/**
 * A shared object schema (a role, a database) refers to its options as `O(password)`; embedded
 * in another module's list (`instance.roles`), that link must read `O(roles[].password)`, or
 * Ansible's doc checks reject it. Each `O(...)` that does not resolve from the root is prefixed
 * with the nearest enclosing option path under which it does.
 */
export function qualifyOptionRefs(options: Record<string, AnsibleOption>): void {
  const walk = (level: Record<string, AnsibleOption>, ancestors: string[]) => {
    for (const [name, opt] of Object.entries(level)) {
      const path = [...ancestors, opt.type === 'list' ? `${name}[]` : name];
      opt.description = (opt.description ?? []).map((text) =>
        text.replace(/O\(([^)]+)\)/g, (whole, ref: string) => {
          if (resolves(options, ref)) return whole;
          for (let i = path.length - 1; i >= 1; i--) {
            const prefix = path.slice(0, i).join('.');
            if (resolves(options, `${prefix}.${ref}`)) return `O(${prefix}.${ref})`;
          }
          return whole;
        }),
      );
      if (opt.suboptions) walk(opt.suboptions, path);
    }
  };
  walk(options, []);
}
