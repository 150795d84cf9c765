/**
 * ~/.pgpass (libpq password file) editing.
 *
 * Format, as libpq's passwordFromFile() reads it (src/interfaces/libpq/fe-connect.c):
 *   hostname:port:database:username:password
 * - a line whose FIRST character is '#' is a comment (an indented '#' is not);
 * - a field consisting of exactly `*` matches anything (`\*` is a literal star);
 * - `\` escapes the next character, so `\:` and `\\` stand for ':' and '\';
 * - the password ends at the first unescaped ':' (anything after it is ignored);
 * - the FIRST matching line wins: a wildcard line above a specific one shadows it, which is why
 *   setPassfileEntry() inserts a new entry before any line that would shadow it.
 * libpq ignores the file unless its mode is 0600 or stricter: write it with writePrivateFileAtomic().
 */

export interface PassfileEntry {
  host: string;
  port: string;
  database: string;
  user: string;
  password: string;
}

export type PassfileKey = Omit<PassfileEntry, 'password'>;

export interface PassfileLine {
  /** The line as in the file (without its '\n'). */
  line: string;
  /** The entry, when the line is one (not for comments, blank or malformed lines). */
  entry?: PassfileEntry;
}

const KEY_FIELDS = ['host', 'port', 'database', 'user'] as const;

/** Reads one ':'-terminated field with '\' escapes; returns the value and where the next field starts. */
function readField(s: string, pos: number): { value: string; raw: string; next: number } | null {
  let value = '';
  const start = pos;
  while (pos < s.length) {
    let c = s[pos];
    if (c === '\\' && pos + 1 < s.length) {
      c = s[++pos];
      value += c;
      pos++;
      continue;
    }
    if (c === ':') return { value, raw: s.slice(start, pos), next: pos + 1 };
    value += c;
    pos++;
  }
  return null; // no terminating ':': libpq never matches such a line
}

function parseEntry(line: string): PassfileEntry | undefined {
  const s = line.replace(/\r$/, '');
  if (s === '' || s[0] === '#') return undefined;
  const values: string[] = [];
  let pos = 0;
  for (let i = 0; i < 4; i++) {
    const f = readField(s, pos);
    if (!f) return undefined;
    values.push(f.value);
    pos = f.next;
  }
  // Password: de-escaped up to the first unescaped ':'.
  let password = '';
  for (; pos < s.length && s[pos] !== ':'; pos++) {
    if (s[pos] === '\\' && pos + 1 < s.length) pos++;
    password += s[pos];
  }
  const [host, port, database, user] = values;
  return { host, port, database, user, password };
}

/** Splits a passfile into lines; comment, blank and malformed lines come without entry. */
export function parsePassfile(text: string): PassfileLine[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.map((line) => {
    const entry = parseEntry(line);
    return entry ? { line, entry } : { line };
  });
}

function escapeField(value: string, isKey: boolean): string {
  if (/[\r\n\0]/.test(value)) throw new Error('.pgpass fields must not contain line breaks or NUL');
  if (isKey && value === '*') return '*'; // wildcard
  return value.replace(/[\\:]/g, (c) => '\\' + c);
}

/** One entry as a line; a key field of exactly '*' is written as the wildcard. */
export function formatPassfileEntry(e: PassfileEntry): string {
  const host = escapeField(e.host, true);
  const line = [
    host.startsWith('#') ? '\\' + host : host, // a leading '#' would turn the line into a comment
    escapeField(e.port, true),
    escapeField(e.database, true),
    escapeField(e.user, true),
    escapeField(e.password, false),
  ].join(':');
  return line;
}

const sameKey = (a: PassfileKey, b: PassfileKey) => KEY_FIELDS.every((k) => a[k] === b[k]);
/** Would line `a` be used by libpq for a connection described by `b`? */
const covers = (a: PassfileKey, b: PassfileKey) => KEY_FIELDS.every((k) => a[k] === '*' || a[k] === b[k]);

function join(lines: string[]): string {
  return lines.length ? lines.join('\n') + '\n' : '';
}

/**
 * The password libpq would pick for a connection (first matching line), or null.
 * Use '*'-free values: they are compared with the file's fields like libpq does.
 */
export function lookupPassfile(text: string, key: PassfileKey): string | null {
  for (const l of parsePassfile(text)) if (l.entry && covers(l.entry, key)) return l.entry.password;
  return null;
}

/**
 * Sets the password of the entry with exactly this host/port/database/user (wildcards '*' compared
 * literally), so that libpq uses it: in place if that line is the first one matching, otherwise
 * inserted just before the first line that would shadow it (e.g. `*:*:*:*:x`), or appended.
 * Other lines with the same key are removed (they would be dead or shadowing).
 */
export function setPassfileEntry(text: string, entry: PassfileEntry): { text: string; changed: boolean } {
  const newLine = formatPassfileEntry(entry);
  const lines = parsePassfile(text);
  const target = lines.findIndex((l) => l.entry && covers(l.entry, entry));
  const sameKeyCount = lines.filter((l) => l.entry && sameKey(l.entry, entry)).length;
  if (target >= 0 && sameKey(lines[target].entry!, entry) && lines[target].entry!.password === entry.password && sameKeyCount === 1) {
    return { text, changed: false };
  }
  const out: string[] = [];
  lines.forEach((l, i) => {
    if (i === target) out.push(newLine);
    if (!(l.entry && sameKey(l.entry, entry))) out.push(l.line);
  });
  if (target < 0) out.push(newLine);
  const result = join(out);
  return { text: result, changed: result !== text };
}

/**
 * Removes the entries whose given fields equal `match` (fields not given match anything;
 * '*' only matches a wildcard line, literally).
 */
export function removePassfileEntries(text: string, match: Partial<PassfileKey>): { text: string; changed: boolean } {
  const lines = parsePassfile(text);
  const keep = lines.filter((l) => !(l.entry && KEY_FIELDS.every((k) => match[k] === undefined || l.entry![k] === match[k])));
  if (keep.length === lines.length) return { text, changed: false };
  return { text: join(keep.map((l) => l.line)), changed: true };
}
