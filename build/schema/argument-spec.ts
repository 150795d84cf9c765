// Roles' meta/argument_specs.yml from a schema, with the option mapping of ansible-doc.ts.
//
// Ansible behaviour this follows (ansible-core 2.18, module_utils/common/parameters.py):
// - `elements` on anything but `type: list` fails at run time as soon as a value is given
//   ("elements value check is supported only with 'list' type"); only lists get `elements`;
// - nested `options` are only checked for `dict` and for `list` with `elements: dict`, so a `raw`
//   (oneOf) option gets none, and an object accepting extra keys gets none (Ansible would reject
//   the extra keys as unsupported parameters);
// - `required` with a `default` is an internal error;
// - `choices` are checked even when the value is null: a nullable enum keeps its null choice;
// - role argument specs are validated at role start, their defaults are not applied to the
//   role's variables (keep defaults in defaults/main.yml).
import { AnsibleOption, DEFAULT_AUTHOR, toAnsibleOptions } from './ansible-doc';
import { JSONSchema, SchemaSet, absolutizeRefs, descriptionList, entryOf, expandNode } from './load';

/** The `options` mapping of an argument spec (for a role entry point), from an object schema. */
export function toArgumentSpec(set: SchemaSet, schema: JSONSchema): Record<string, AnsibleOption> {
  const entry = entryOf(set, schema);
  const options = toAnsibleOptions(set, entry.schema, { variant: 'argspec', where: entry.id.replace(/^socle\//, ''), docId: entry.id });
  unlinkDanglingRefs(options, options);
  return options;
}

/**
 * A role's variable reuses a module's schema (`socle_instances` items are the instance module's
 * options) without its suboptions (argument specs cannot check them, see above), and a role has no
 * return values: the descriptions' `O(state)` and `RV(env)` would be links to nothing on the role's
 * page (antsibull-docs renders them as references Sphinx cannot resolve). Such a reference is
 * written as code, `C(state)`, instead; one that resolves stays a link.
 */
function unlinkDanglingRefs(root: Record<string, AnsibleOption>, level: Record<string, AnsibleOption>): void {
  const resolves = (ref: string) => {
    let at: Record<string, AnsibleOption> | undefined = root;
    for (const segment of ref.split('=')[0].split('.')) {
      const opt: AnsibleOption | undefined = at?.[segment.replace(/\[\]$/, '')];
      if (!opt) return false;
      at = opt.options;
    }
    return true;
  };
  for (const opt of Object.values(level)) {
    if (opt.description) {
      opt.description = opt.description.map((text) => text
        .replace(/\bO\(([^)]+)\)/g, (whole, ref: string) => (resolves(ref) ? whole : `C(${ref})`))
        .replace(/\bRV\(([^)]+)\)/g, 'C($1)'));
    }
    if (opt.options) unlinkDanglingRefs(root, opt.options);
  }
}

/**
 * A whole entry point of `argument_specs` (short_description, description, author, options):
 * `{ argument_specs: { main: toArgumentSpecEntryPoint(set, schema) } }` is a complete
 * meta/argument_specs.yml.
 */
export function toArgumentSpecEntryPoint(
  set: SchemaSet, schema: JSONSchema,
): { short_description: string; description: string[]; author: string[]; options: Record<string, AnsibleOption> } {
  const entry = entryOf(set, schema);
  const root = expandNode(set, absolutizeRefs(entry.schema, entry.id));
  const x = (root['x-ansible'] ?? {}) as Record<string, unknown>;
  const short = descriptionList(root.description);
  const description = descriptionList(x.description);
  const author = descriptionList(x.author);
  return {
    short_description: short[0] ?? entry.id,
    description: description.length > 0 ? description : short,
    author: author.length > 0 ? author : [DEFAULT_AUTHOR],
    options: toArgumentSpec(set, schema),
  };
}
