// Turns ajv errors into one message that names every bad option by its path, the way a user
// writes it in a playbook (`auth.local`, `databases[2].owner`), and says why it is bad.

/** The subset of ajv's ErrorObject we read (validators are compiled with `verbose: true`). */
export interface ValidationError {
  instancePath: string;
  keyword: string;
  params: Record<string, any>;
  message?: string;
  /** With `verbose`: the keyword's value (for `not`, the negated schema). */
  schema?: unknown;
  parentSchema?: Record<string, any>;
  /** `#/allOf/1/if`: used to drop the errors of an `if` rule's branch when the rule explains itself. */
  schemaPath?: string;
}

/** `/databases/2/owner` → `databases[2].owner` */
export function optionPath(instancePath: string, child?: string): string {
  const parts = instancePath.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (child !== undefined) parts.push(child);
  let out = '';
  for (const part of parts) out += /^\d+$/.test(part) ? `[${part}]` : out ? `.${part}` : part;
  return out;
}

function describe(e: ValidationError): string | null {
  switch (e.keyword) {
    case 'required':
      return `option '${optionPath(e.instancePath, e.params.missingProperty)}' is required`;
    case 'additionalProperties':
      return `unknown option '${optionPath(e.instancePath, e.params.additionalProperty)}'`;
    case 'enum':
      return `option '${optionPath(e.instancePath)}' must be one of: ${(e.params.allowedValues as unknown[]).map(String).join(', ')}`;
    case 'not': {
      // An object-level exclusion (`not: {required: [a, b]}`) names the options it excludes.
      const req = (e.schema as { required?: unknown } | undefined)?.required;
      if (e.parentSchema?.['x-error'] === undefined && Array.isArray(req) && req.length > 1) {
        return `options ${req.map((r) => `'${optionPath(e.instancePath, String(r))}'`).join(' and ')} are mutually exclusive`;
      }
      const why = e.parentSchema?.['x-error'] ?? e.message;
      return `option '${optionPath(e.instancePath)}' ${why}`;
    }
    case 'pattern': {
      // A schema may explain a pattern in words (`x-error`); ajv would print the regex.
      const why = e.parentSchema?.['x-error'] ?? e.message;
      return `option '${optionPath(e.instancePath)}' ${why}`;
    }
    case 'propertyNames':
      return null; // accompanied by the error on the name itself (e.g. its pattern)
    case 'if': {
      // A rule with its own `x-error` explains itself (its branch's errors are dropped, see
      // below); otherwise the error of the branch that failed says it.
      const why = e.parentSchema?.['x-error'];
      if (why === undefined) return null;
      return e.instancePath ? `option '${optionPath(e.instancePath)}' ${why}` : String(why);
    }
    default:
      return `option '${optionPath(e.instancePath) || '(root)'}' ${e.message ?? e.keyword}`;
  }
}

/** Schema paths (`#/allOf/1/`) of the branches of `if` rules that carry their own `x-error`. */
function explainedBranches(errors: ValidationError[]): string[] {
  return errors
    .filter((e) => e.keyword === 'if' && e.parentSchema?.['x-error'] !== undefined && e.schemaPath?.endsWith('/if'))
    .map((e) => `${e.instancePath}\0${e.schemaPath!.slice(0, -'if'.length)}`);
}

/**
 * A value that matches none of a `oneOf`/`anyOf`'s alternatives gets, from ajv, the errors of every
 * alternative plus "must match exactly one schema": an object with an unknown key inside a list of
 * "name or {name, ...}" reads "must be string; unknown option 'x[0].bogus'; must match exactly one
 * schema in oneOf". Only one of those explains it: the errors of the alternative whose type the
 * value has (the unknown key), or, when it has the type of none, what types are expected.
 * Alternatives are told apart by their schema paths (`.../oneOf/1/...`).
 */
export function explainAlternatives(errors: ValidationError[]): ValidationError[] {
  let out = errors;
  // Innermost first: a nested alternative's errors are settled before its enclosing one's.
  const choices = errors
    .filter((e) => (e.keyword === 'oneOf' || e.keyword === 'anyOf') && e.schemaPath !== undefined)
    .sort((a, b) => b.schemaPath!.length - a.schemaPath!.length);
  for (const choice of choices) {
    if (!out.includes(choice)) continue;
    const prefix = choice.schemaPath! + '/';
    const inBranch = (e: ValidationError) => e !== choice && e.schemaPath?.startsWith(prefix) && e.instancePath.startsWith(choice.instancePath);
    const branchOf = (e: ValidationError) => e.schemaPath!.slice(prefix.length).split('/')[0];
    const branches = Array.isArray(choice.schema) ? choice.schema.map((_, i) => String(i)) : [];
    if (branches.length === 0) continue;
    // A branch "does not fit" when the value itself has the wrong type for it.
    const typeErrors = out.filter((e) => inBranch(e) && e.keyword === 'type' && e.instancePath === choice.instancePath && e.schemaPath === `${prefix}${branchOf(e)}/type`);
    const misfits = new Set(typeErrors.map(branchOf));
    const fitting = branches.filter((b) => !misfits.has(b));
    if (fitting.length === 1) {
      out = out.filter((e) => e !== choice && !(inBranch(e) && branchOf(e) !== fitting[0]));
    } else if (fitting.length === 0) {
      const types = [...new Set(typeErrors.map((e) => String(e.params.type)))];
      const typeError: ValidationError = {
        instancePath: choice.instancePath,
        keyword: 'type',
        params: { type: types.join(',') },
        message: `must be ${types.join(' or ')}`,
      };
      out = out.flatMap((e) => (e === choice ? [typeError] : inBranch(e) ? [] : [e]));
    }
    // Several fit (or all): ajv's "must match exactly one schema" is the explanation.
  }
  return out;
}

export function formatValidationErrors(all: ValidationError[]): string {
  const errors = explainAlternatives(all);
  const explained = explainedBranches(errors);
  const inExplainedBranch = (e: ValidationError) =>
    e.schemaPath !== undefined &&
    explained.some((p) => {
      const [path, prefix] = p.split('\0');
      return e.instancePath.startsWith(path) && (e.schemaPath!.startsWith(prefix + 'then/') || e.schemaPath!.startsWith(prefix + 'else/'));
    });
  const messages = [...new Set(errors.filter((e) => !inExplainedBranch(e)).map(describe).filter((m): m is string => m !== null))];
  return `invalid options: ${messages.join('; ')}`;
}

/**
 * ajv's coerceTypes (so that "5432" is accepted for an integer, as Ansible users expect) also
 * turns `true` into 1: `port: true` would be port 1. Booleans are refused where the schema wants
 * only a number, before the compiled validator coerces them. `paths` come from the schema at
 * build time (`*` for any key or index).
 */
export function refuseBooleansAsNumbers<V extends { (data: unknown): boolean; errors?: ValidationError[] | null }>(compiled: V, paths: string[][]): V {
  const check = ((data: unknown) => {
    const errors: ValidationError[] = [];
    const walk = (value: unknown, path: string[], at: string) => {
      if (path.length === 0) {
        if (typeof value === 'boolean') errors.push({ instancePath: at, keyword: 'type', params: { type: 'number' }, message: 'must be a number, not a boolean' });
        return;
      }
      if (value === null || typeof value !== 'object') return;
      const [head, ...rest] = path;
      const keys = head === '*' ? Object.keys(value) : head in value ? [head] : [];
      for (const k of keys) walk((value as Record<string, unknown>)[k], rest, `${at}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`);
    };
    for (const p of paths) walk(data, p, '');
    if (errors.length) {
      check.errors = errors;
      return false;
    }
    const ok = compiled(data);
    check.errors = compiled.errors;
    return ok;
  }) as V;
  return check;
}
