// libpq connection strings in keyword/value form (`host=db1 port=5432 dbname='my db'`): parsing,
// writing, and the password they may carry (a subscription's conninfo, a clone's dsn), which is
// never shown.
import { MASK } from '../secrets';

export type Conninfo = Map<string, string>;

export function isUri(s: string): boolean {
  return /^postgres(?:ql)?:\/\//.test(s.trim());
}

/**
 * Parses `keyword = value` pairs as libpq's conninfo_parse does: values are bare words or single
 * quoted, a backslash escapes the next character in both. Throws on a malformed string.
 */
export function parseConninfo(text: string): Conninfo {
  const out: Conninfo = new Map();
  let i = 0;
  const n = text.length;
  const space = (c: string) => /\s/.test(c);
  while (i < n) {
    while (i < n && space(text[i])) i++;
    if (i >= n) break;
    let key = '';
    while (i < n && text[i] !== '=' && !space(text[i])) key += text[i++];
    while (i < n && space(text[i])) i++;
    if (text[i] !== '=' || key === '') throw new Error(`missing "=" after "${key}" in connection info string`);
    i++;
    while (i < n && space(text[i])) i++;
    let value = '';
    if (text[i] === "'") {
      i++;
      let closed = false;
      while (i < n) {
        const c = text[i++];
        if (c === '\\' && i < n) value += text[i++];
        else if (c === "'") {
          closed = true;
          break;
        } else value += c;
      }
      if (!closed) throw new Error('unterminated quoted string in connection info string');
    } else {
      while (i < n && !space(text[i])) {
        const c = text[i++];
        if (c === '\\' && i < n) value += text[i++];
        else value += c;
      }
    }
    out.set(key, value);
  }
  return out;
}

/** A value as libpq reads it back: bare when it can be, else quoted with \ and ' escaped. */
export function conninfoValue(value: string): string {
  if (/^[^\s'\\]+$/.test(value)) return value;
  return "'" + value.replace(/\\/g, '\\\\').replace(/'/g, "\\'") + "'";
}

export function renderConninfo(info: Conninfo): string {
  return [...info].map(([k, v]) => `${k}=${conninfoValue(v)}`).join(' ');
}

/** The connection string with the password appended (`real`) and with it masked (`shown`). */
export function withPassword(conninfo: string, password: string | undefined): { real: string; shown: string } {
  if (password === undefined) return { real: conninfo, shown: conninfo };
  return { real: `${conninfo} password=${conninfoValue(password)}`, shown: `${conninfo} password=${MASK}` };
}

/** Same keywords and values, in any order. */
export function sameConninfo(a: Conninfo, b: Conninfo): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

/** For display: the string without its password (a `password=********` stands for it). */
export function maskConninfo(text: string): string {
  if (isUri(text)) return text.replace(/^(postgres(?:ql)?:\/\/[^:@/]*:)[^@/]*@/, `$1${MASK}@`).replace(/([?&]password=)[^&]*/g, `$1${MASK}`);
  try {
    const info = parseConninfo(text);
    if (!info.has('password')) return text;
    info.set('password', MASK);
    return renderConninfo(info).replace(`password=${conninfoValue(MASK)}`, `password=${MASK}`);
  } catch {
    return text.replace(/(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)/g, `$1${MASK}`);
  }
}

function percentDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s; // libpq would refuse it: it then fails with its own message, without the value
  }
}

/**
 * A connection string without its password, and the password: the password then goes to the
 * program through its environment (PGPASSWORD), never on its command line, which every user of
 * the host can read (`ps`, /proc/<pid>/cmdline). Both forms: keyword/value (`password=...`) and
 * URI, where libpq reads a password in the user info (`postgresql://user:pw@host`) up to the first
 * `@` or `/`, and in a `password=` parameter of the query; the last one given wins, as in libpq.
 */
export function splitPassword(dsn: string): { dsn: string; password?: string } {
  if (!isUri(dsn)) {
    let info: Conninfo;
    try {
      info = parseConninfo(dsn);
    } catch {
      return { dsn }; // libpq refuses it too, before any password is used
    }
    const password = info.get('password');
    if (password === undefined) return { dsn };
    info.delete('password');
    return { dsn: renderConninfo(info), password };
  }
  const text = dsn.trim();
  const scheme = /^postgres(?:ql)?:\/\//.exec(text)![0];
  let rest = text.slice(scheme.length);
  let password: string | undefined;
  const end = rest.search(/[@/]/);
  if (end >= 0 && rest[end] === '@') {
    const userinfo = rest.slice(0, end);
    const colon = userinfo.indexOf(':');
    if (colon >= 0) {
      password = percentDecode(userinfo.slice(colon + 1));
      rest = userinfo.slice(0, colon) + rest.slice(end);
    }
  }
  const q = rest.indexOf('?');
  if (q >= 0) {
    const params = rest.slice(q + 1).split('&');
    const kept = params.filter((p) => {
      const eq = p.indexOf('=');
      if (eq >= 0 && percentDecode(p.slice(0, eq)) === 'password') {
        password = percentDecode(p.slice(eq + 1));
        return false;
      }
      return true;
    });
    rest = rest.slice(0, q) + (kept.length ? '?' + kept.join('&') : '');
  }
  return { dsn: scheme + rest, ...(password !== undefined ? { password } : {}) };
}

/** The password a keyword/value string or a URI carries, if any. */
export function passwordOf(text: string): string | undefined {
  return splitPassword(text).password;
}
