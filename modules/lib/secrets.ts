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

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * A matcher for every form of every secret, each standing alone: a form that begins (ends) with a
 * letter, digit or `_` must not be preceded (followed) by one. A form beginning or ending with
 * punctuation is its own boundary there.
 */
export function secretPattern(secrets: string[]): RegExp | null {
  const forms = [...new Set(secrets.flatMap(secretForms))].sort((a, b) => b.length - a.length);
  if (forms.length === 0) return null;
  const alternatives = forms.map((f) => {
    const [first] = [...f];
    const last = [...f].pop()!;
    const before = WORD.test(first) ? '(?<![\\p{L}\\p{N}_])' : '';
    const after = WORD.test(last) ? '(?![\\p{L}\\p{N}_])' : '';
    return `${before}${escapeRegExp(f)}${after}`;
  });
  return new RegExp(alternatives.join('|'), 'gu');
}

export function maskText(text: string, secrets: string[]): string {
  const re = secretPattern(secrets);
  return re ? text.replace(re, MASK) : text;
}

export function maskSecrets(value: unknown, secrets: string[]): unknown {
  const re = secretPattern(secrets);
  if (!re) return value;
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return v.replace(re, MASK);
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
