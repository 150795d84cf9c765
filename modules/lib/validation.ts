// Turns ajv errors into one message that names every bad option by its path, the way a user
// writes it in a playbook (`auth.local`, `databases[2].owner`), and says why it is bad.

/** The subset of ajv's ErrorObject we read (validators are compiled with `verbose: true`). */
export interface ValidationError {
  instancePath: string;
  keyword: string;
  params: Record<string, any>;
  message?: string;
  parentSchema?: Record<string, any>;
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
    case 'not':
    case 'pattern': {
      // A schema may explain a pattern in words (`x-error`); ajv would print the regex.
      const why = e.parentSchema?.['x-error'] ?? e.message;
      return `option '${optionPath(e.instancePath)}' ${why}`;
    }
    case 'if':
      return null; // always accompanied by the error of the branch that failed
    default:
      return `option '${optionPath(e.instancePath) || '(root)'}' ${e.message ?? e.keyword}`;
  }
}

export function formatValidationErrors(errors: ValidationError[]): string {
  const messages = [...new Set(errors.map(describe).filter((m): m is string => m !== null))];
  return `invalid options: ${messages.join('; ')}`;
}
