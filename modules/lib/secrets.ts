// Secrets (options marked `x-secret` in the schemas) never appear in any output. Modules build
// their own masked texts (`PASSWORD '********'`); this is the safety net applied to the whole
// result: any occurrence of a secret value in any string is replaced.
export const MASK = '********';

/** Values found at the given paths (`*` matches any key or array index). */
export function collectSecrets(options: unknown, paths: string[][]): string[] {
  const found = new Set<string>();
  const walk = (node: unknown, path: string[]) => {
    if (node === undefined || node === null) return;
    if (path.length === 0) {
      if (typeof node === 'string' || typeof node === 'number') {
        const s = String(node);
        if (s.length > 0) found.add(s);
      }
      return;
    }
    const [head, ...rest] = path;
    if (typeof node !== 'object') return;
    if (head === '*') for (const child of Object.values(node as object)) walk(child, rest);
    else walk((node as Record<string, unknown>)[head], rest);
  };
  for (const p of paths) walk(options, p);
  // Longest first, so that a secret containing another is masked whole.
  return [...found].sort((a, b) => b.length - a.length);
}

export function maskText(text: string, secrets: string[]): string {
  let out = text;
  for (const s of secrets) out = out.split(s).join(MASK);
  return out;
}

export function maskSecrets(value: unknown, secrets: string[]): unknown {
  if (secrets.length === 0) return value;
  if (typeof value === 'string') return maskText(value, secrets);
  if (Array.isArray(value)) return value.map((v) => maskSecrets(v, secrets));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    // Keys are the module's own names (`failed`, `changed`...), never user data: masking a short
    // secret inside them would break the result itself.
    for (const [k, v] of Object.entries(value)) out[k] = maskSecrets(v, secrets);
    return out;
  }
  return value;
}
