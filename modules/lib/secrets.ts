// Secrets (options marked `x-secret` in the schemas) never appear in any output. Modules build
// their own masked texts (`PASSWORD '********'`, `password=********`); this is the safety net
// applied to the whole result, for a secret that reaches a text some other way (a server's error
// message quoting a value, an exception).
//
// What is masked is the secret *as a value of its own*: an occurrence that stands alone, not one
// that is a piece of a longer word. With `password: e`, `postgres` and `/srv/pgsql/data` must stay
// as they are, while `password=e`, `'e'`, `u:e@host` or a value that is just `e` are masked. A
// secret also reaches texts in the forms our code writes it in (an SQL literal doubles its quotes,
// a conninfo value escapes `\` and `'`, a URI percent-encodes it, the passfile escapes `:`):
// those forms are masked too.
import { splitPassword } from './pg/conninfo';

export const MASK = '********';

/**
 * Last step of a secret path (`x-secret: conninfo` in a schema): the option is a connection string
 * whose password, when it carries one, is the secret (`clone.dsn`), not the whole string.
 */
export const CONNINFO_PASSWORD = '(password in conninfo)';

/** Values found at the given paths (`*` matches any key or array index). */
export function collectSecrets(options: unknown, paths: string[][]): string[] {
  const found = new Set<string>();
  const walk = (node: unknown, path: string[]) => {
    if (node === undefined || node === null) return;
    if (path.length === 1 && path[0] === CONNINFO_PASSWORD) {
      const password = typeof node === 'string' ? splitPassword(node).password : undefined;
      if (password) found.add(password);
      return;
    }
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

/** The forms a secret takes in the texts we build: as is, and as our quoting functions write it. */
export function secretForms(secret: string): string[] {
  const forms = new Set([
    secret,
    secret.replace(/'/g, "''"), // SQL literal (quoteLiteral)
    secret.replace(/\\/g, '\\\\').replace(/'/g, "\\'"), // conninfo value (conninfoValue)
    secret.replace(/[\\:]/g, (c) => '\\' + c), // passfile field
  ]);
  try {
    forms.add(encodeURIComponent(secret)); // postgresql:// URI
  } catch {
    /* a lone surrogate cannot be percent-encoded, nor written in a URI by us */
  }
  return [...forms].sort((a, b) => b.length - a.length);
}

const WORD = /[\p{L}\p{N}_]/u;

/** Is the character of `text` ending at `end` (or starting at `start`) a letter, digit or `_`? */
function wordAt(text: string, index: number, before: boolean): boolean {
  if (before) {
    if (index <= 0) return false;
    const cp = text.codePointAt(index - 1);
    // A low surrogate: the character is the pair before it.
    const c = cp !== undefined && cp >= 0xdc00 && cp <= 0xdfff && index >= 2 ? String.fromCodePoint(text.codePointAt(index - 2)!) : text[index - 1];
    return WORD.test(c);
  }
  if (index >= text.length) return false;
  return WORD.test(String.fromCodePoint(text.codePointAt(index)!));
}

/** Every form of every secret, longest first (a secret containing another is masked whole). */
export function maskForms(secrets: string[]): string[] {
  return [...new Set(secrets.flatMap(secretForms))].filter((f) => f.length > 0).sort((a, b) => b.length - a.length);
}

/**
 * Replaces each form standing alone: a form that begins (ends) with a letter, digit or `_` must
 * not be preceded (followed) by one; a form beginning or ending with punctuation is its own
 * boundary there. Plain searching rather than one regular expression: a secret may be 100 KB.
 */
function maskWith(text: string, forms: string[]): string {
  let out = text;
  for (const f of forms) {
    if (!out.includes(f)) continue;
    const checkBefore = WORD.test(String.fromCodePoint(f.codePointAt(0)!));
    const lastChar = [...f.slice(-2)].pop()!;
    const checkAfter = WORD.test(lastChar);
    let result = '';
    let from = 0;
    for (let at = out.indexOf(f); at >= 0; at = out.indexOf(f, at + 1)) {
      if (at < from) continue;
      const end = at + f.length;
      if ((checkBefore && wordAt(out, at, true)) || (checkAfter && wordAt(out, end, false))) continue;
      result += out.slice(from, at) + MASK;
      from = end;
      at = end - 1;
    }
    out = result + out.slice(from);
  }
  return out;
}

export function maskText(text: string, secrets: string[]): string {
  return maskWith(text, maskForms(secrets));
}

export function maskSecrets(value: unknown, secrets: string[]): unknown {
  const forms = maskForms(secrets);
  if (forms.length === 0) return value;
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return maskWith(v, forms);
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      // Keys are the module's own names (`failed`, `changed`...), never user data: masking a
      // secret inside them would break the result itself.
      for (const [k, x] of Object.entries(v)) out[k] = walk(x);
      return out;
    }
    return v;
  };
  return walk(value);
}
