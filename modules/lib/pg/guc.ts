/**
 * PostgreSQL configuration parameters (GUCs): comparing values the way the server understands them,
 * and reading / writing postgresql.conf syntax.
 *
 * Why: a module declaring `work_mem: 64MB` must report "no change" when the server already has
 * `65536` (kB) or a config file says `'64MB'`; `enable_seqscan: true` equals `on`; `1min` equals `60s`.
 * The rules below mirror src/backend/utils/misc/guc.c (parse_bool_with_len, parse_int, parse_real,
 * convert_to_base_unit) and the postgresql.conf lexer (guc-file.l), verified against PostgreSQL 15.
 */

export interface GucInfo {
  /** pg_settings.vartype: bool, integer, real, string, enum. */
  vartype?: string;
  /** pg_settings.unit: e.g. '8kB', 'kB', 'MB', 'B', 'ms', 's', 'min'; null when unitless. */
  unit?: string | null;
}

export type GucValue = string | number | boolean;

/* ------------------------------------------------------------------------------------------------
 * Booleans
 * ---------------------------------------------------------------------------------------------- */

/**
 * PostgreSQL's parse_bool(): case-insensitive, any prefix of true/false/yes/no, "on", "of"/"off",
 * "1", "0". A lone "o" is ambiguous and rejected, as are surrounding spaces. Returns null if invalid.
 */
export function parsePgBool(value: string): boolean | null {
  const v = value.toLowerCase();
  if (v.length === 0) return null;
  const prefixOf = (word: string, min = 1) => v.length >= min && word.startsWith(v);
  if (prefixOf('true') || prefixOf('yes') || v === 'on' || v === '1') return true;
  if (prefixOf('false') || prefixOf('no') || prefixOf('off', 2) || v === '0') return false;
  return null;
}

/** Words that mean a boolean whatever the parameter: used when we have no pg_settings info. */
const UNAMBIGUOUS_BOOL: Record<string, boolean> = { on: true, off: false, true: true, false: false, yes: true, no: false };

/* ------------------------------------------------------------------------------------------------
 * Numbers and units
 * ---------------------------------------------------------------------------------------------- */

/** Memory units, case-sensitive and 1024-based as PostgreSQL requires ("mb" is an error). */
const MEMORY_UNITS = ['B', 'kB', 'MB', 'GB', 'TB'] as const;
const MEMORY_FACTOR: Record<string, number> = { B: 1, kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };
/** Time units, in microseconds. */
const TIME_UNITS = ['us', 'ms', 's', 'min', 'h', 'd'] as const;
const TIME_FACTOR: Record<string, number> = { us: 1, ms: 1e3, s: 1e6, min: 60e6, h: 3600e6, d: 86400e6 };

type UnitKind = 'memory' | 'time';

function unitKind(unit: string): UnitKind | null {
  if (unit in MEMORY_FACTOR) return 'memory';
  if (unit in TIME_FACTOR) return 'time';
  return null;
}

/** Size of one unit in absolute terms (bytes or microseconds). */
function unitFactor(unit: string): number {
  return MEMORY_FACTOR[unit] ?? TIME_FACTOR[unit];
}

/** The next smaller unit of the same kind (PostgreSQL rounds fractional inputs to it), or null. */
function nextSmallerUnit(unit: string): string | null {
  const list: readonly string[] = unitKind(unit) === 'memory' ? MEMORY_UNITS : TIME_UNITS;
  const i = list.indexOf(unit);
  return i > 0 ? list[i - 1] : null;
}

/** The base unit of a parameter from pg_settings.unit ('8kB' -> 8192 bytes), or null if unknown. */
export function parseBaseUnit(unit: string | null | undefined): { kind: UnitKind; factor: number } | null {
  if (!unit) return null;
  const m = /^\s*(\d+)?\s*([A-Za-z]+)\s*$/.exec(unit);
  if (!m) return null;
  const kind = unitKind(m[2]);
  if (!kind) return null;
  return { kind, factor: (m[1] ? Number(m[1]) : 1) * unitFactor(m[2]) };
}

/** C rint(): round half to even (PostgreSQL rounds GUC values with rint). */
function rint(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Parse a leading number like C's strtol(s, &end, 0) (integer parameters: octal with a leading 0,
 * hex with 0x; falls back to strtod when followed by '.', 'e' or 'E', as parse_int() does) or
 * strtod() (real parameters: decimal, exponent, hex). Leading whitespace is skipped.
 * Returns the value and the rest of the string, or null when there is no number.
 */
function parseLeadingNumber(s: string, integer: boolean): { value: number; rest: string } | null {
  const ws = /^\s*/.exec(s)![0].length;
  const body = s.slice(ws);
  if (integer) {
    const m = /^([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)/.exec(body);
    if (m && !/^[.eE]/.test(body.slice(m[0].length))) {
      const digits = m[2];
      let v: number;
      if (/^0[xX]/.test(digits)) v = parseInt(digits.slice(2), 16);
      else if (digits.length > 1 && digits[0] === '0') v = parseInt(digits, 8);
      else v = parseInt(digits, 10);
      return { value: m[1] === '-' ? -v : v, rest: body.slice(m[0].length) };
    }
  }
  const hex = /^([+-]?)0[xX]([0-9a-fA-F]+)/.exec(body);
  if (hex) return { value: (hex[1] === '-' ? -1 : 1) * parseInt(hex[2], 16), rest: body.slice(hex[0].length) };
  const dec = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/.exec(body);
  if (!dec) return null;
  return { value: Number(dec[0]), rest: body.slice(dec[0].length) };
}

/** Canonical text of a finite number: 1.0 -> "1", 1e3 -> "1000", -0 -> "0". */
function canonicalNumber(n: number): string {
  return String(n === 0 ? 0 : n);
}

/**
 * Parses "<number>[ ]<unit>" into an absolute quantity (bytes or microseconds) as PostgreSQL's
 * parse_int/parse_real + convert_to_base_unit do; a bare number is in the parameter's base unit.
 * Returns null if the text is not a valid quantity for that parameter.
 */
function parseQuantity(
  text: string,
  integer: boolean,
  base: { kind: UnitKind; factor: number } | null,
): { kind: UnitKind | null; value: number } | null {
  const num = parseLeadingNumber(text, integer);
  if (!num || !Number.isFinite(num.value)) return null;
  const unit = num.rest.trim();
  if (unit === '') {
    if (!base) return { kind: null, value: num.value };
    const v = integer ? rint(num.value) : num.value;
    return { kind: base.kind, value: v * base.factor };
  }
  const kind = unitKind(unit);
  if (!kind || (base && base.kind !== kind)) return null; // unknown unit, or e.g. "1s" for a memory parameter
  let value = num.value * unitFactor(unit);
  // "30.1GB" is rounded to the nearest MB, "1.5ms" to the nearest us (convert_to_base_unit).
  const smaller = nextSmallerUnit(unit);
  if (smaller) value = rint(value / unitFactor(smaller)) * unitFactor(smaller);
  // Integer parameters are then rounded to their base unit (parse_int's rint()).
  if (base && integer) value = rint(value / base.factor) * base.factor;
  return { kind, value };
}

/* ------------------------------------------------------------------------------------------------
 * Normalisation and comparison
 * ---------------------------------------------------------------------------------------------- */

/**
 * Canonical form of a parameter value, for comparison only (not for writing back):
 *  - booleans: 'on' / 'off' (any accepted spelling when info.vartype is 'bool'; without info only
 *    the unambiguous words on/off/true/false/yes/no, case-insensitive);
 *  - memory quantities: '<bytes>B' (e.g. '64MB' -> '67108864B'); time: '<microseconds>us';
 *    a bare number for a parameter with info.unit is scaled by that unit ('16384' for 8kB -> bytes);
 *  - other numbers: canonical decimal ('1.0' -> '1'); for vartype 'integer', a leading 0 means octal
 *    and 0x hex, exactly as PostgreSQL reads them ('010' is 8!);
 *  - enums: lower case (PostgreSQL matches enum values case-insensitively);
 *  - anything else (strings, invalid values): unchanged, compared exactly.
 * A value quoted as in postgresql.conf ("'64MB'") is unquoted first.
 */
export function normalizeGucValue(value: GucValue, info?: GucInfo): string {
  const vartype = info?.vartype?.toLowerCase();
  if (typeof value === 'boolean') return value ? 'on' : 'off';
  let text: string;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return String(value);
    if (vartype === 'bool' && (value === 0 || value === 1)) return value ? 'on' : 'off';
    text = canonicalNumber(value);
  } else {
    text = isQuotedConfString(value) ? unquoteConfString(value) : value;
  }

  switch (vartype) {
    case 'bool': {
      const b = parsePgBool(text);
      return b === null ? text : b ? 'on' : 'off';
    }
    case 'enum':
      return text.toLowerCase();
    case 'string':
      return text;
    case 'integer':
    case 'real': {
      const q = parseQuantity(text, vartype === 'integer', parseBaseUnit(info?.unit));
      if (!q) return text;
      return canonicalNumber(q.value) + (q.kind === 'memory' ? 'B' : q.kind === 'time' ? 'us' : '');
    }
    default: {
      const word = UNAMBIGUOUS_BOOL[text.toLowerCase()];
      if (word !== undefined) return word ? 'on' : 'off';
      const q = parseQuantity(text, false, parseBaseUnit(info?.unit));
      if (!q) return text;
      return canonicalNumber(q.value) + (q.kind === 'memory' ? 'B' : q.kind === 'time' ? 'us' : '');
    }
  }
}

/** True when PostgreSQL would see the same setting for both values. */
export function gucEqual(a: GucValue, b: GucValue, info?: GucInfo): boolean {
  return normalizeGucValue(a, info) === normalizeGucValue(b, info);
}

/* ------------------------------------------------------------------------------------------------
 * postgresql.conf syntax
 * ---------------------------------------------------------------------------------------------- */

/** A complete quoted string token, as guc-file.l's STRING: \'([^'\\\n]|\\.|\'\')*\' */
const STRING_TOKEN = /^'(?:[^'\\\n]|\\.|'')*'$/;

function isQuotedConfString(s: string): boolean {
  return STRING_TOKEN.test(s);
}

/**
 * DeescapeQuotedString() from guc-file.l: strips the quotes, turns '' into ', and handles the
 * backslash escapes \b \f \n \r \t, octal \ooo, and \<any> -> <any>.
 */
export function unquoteConfString(quoted: string): string {
  const s = quoted.slice(1, -1);
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\' && i + 1 < s.length) {
      const n = s[++i];
      const simple: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
      if (n in simple) out += simple[n];
      else if (n >= '0' && n <= '7') {
        let oct = n;
        while (oct.length < 3 && i + 1 < s.length && s[i + 1] >= '0' && s[i + 1] <= '7') oct += s[++i];
        out += String.fromCharCode(parseInt(oct, 8));
      } else out += n;
    } else if (c === "'" && s[i + 1] === "'") {
      out += "'";
      i++;
    } else out += c;
  }
  return out;
}

/** Bare values the lexer reads back unchanged as INTEGER or REAL. */
const BARE_NUMBER = /^[+-]?(?:\d+|\d*\.\d*(?:[eE][+-]?\d+)?)$/;

/**
 * How to write a value in postgresql.conf: numbers and booleans bare (booleans as on/off),
 * strings single-quoted with ' doubled and \ escaped (plus \n, \r, which a line cannot hold).
 */
export function formatConfValue(value: GucValue): string {
  if (typeof value === 'boolean') return value ? 'on' : 'off';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`cannot write non-finite number ${value} in postgresql.conf`);
    const s = canonicalNumber(value);
    // 1e+21 would be lexed as "1e" followed by garbage: quote whatever is not a plain number token.
    return BARE_NUMBER.test(s) ? s : `'${s}'`;
  }
  if (value.includes('\0')) throw new Error('a postgresql.conf value must not contain a NUL character');
  return (
    "'" +
    value.replace(/\\/g, '\\\\').replace(/'/g, "''").replace(/\n/g, '\\n').replace(/\r/g, '\\r') +
    "'"
  );
}

type TokenType = 'ID' | 'QUALIFIED_ID' | 'STRING' | 'UNQUOTED_STRING' | 'INTEGER' | 'REAL' | 'EQUALS' | 'EOL' | 'EOF';

interface Token {
  type: TokenType;
  text: string;
  line: number;
}

// guc-file.l definitions; \u0080-\uffff stands for the bytes \200-\377 of multibyte characters.
const L = 'A-Za-z_\\u0080-\\uffff';
const LD = 'A-Za-z_0-9\\u0080-\\uffff';
const ID_SRC = `[${L}][${LD}]*`;
// In the order of the flex rules: on equal length the earlier rule wins.
const RULES: Array<[TokenType, RegExp]> = [
  ['ID', new RegExp(ID_SRC, 'y')],
  ['QUALIFIED_ID', new RegExp(`${ID_SRC}\\.${ID_SRC}`, 'y')],
  ['STRING', /'(?:[^'\\\n]|\\.|'')*'/y],
  ['UNQUOTED_STRING', new RegExp(`[${L}](?:[${LD}]|[-._:/])*`, 'y')],
  ['INTEGER', /[+-]?(?:0x[0-9a-fA-F]+|\d+)[a-zA-Z]*/y],
  ['REAL', /[+-]?\d*\.\d*(?:[Ee][+-]?\d+)?/y],
  ['EQUALS', /=/y],
];

/** The postgresql.conf lexer: longest match wins, like flex. */
function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let pos = 0;
  let line = 1;
  while (pos < text.length) {
    const c = text[pos];
    if (c === '\n') {
      tokens.push({ type: 'EOL', text: '\n', line: line++ });
      pos++;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r') {
      pos++;
      continue;
    }
    if (c === '#') {
      const nl = text.indexOf('\n', pos);
      pos = nl < 0 ? text.length : nl;
      continue;
    }
    let best: Token | null = null;
    for (const [type, re] of RULES) {
      re.lastIndex = pos;
      const m = re.exec(text);
      if (m && m[0].length > 0 && (!best || m[0].length > best.text.length)) best = { type, text: m[0], line };
    }
    if (!best) throw new Error(`syntax error in configuration file, line ${line}, near "${c}"`);
    tokens.push(best);
    pos += best.text.length;
  }
  tokens.push({ type: 'EOF', text: '', line });
  return tokens;
}

export interface ConfItem {
  /** Parameter name, lower-cased (GUC names are case-insensitive). */
  name: string;
  /** Value, unquoted / de-escaped. */
  value: string;
  /** 1-based line number. */
  line: number;
}

const INCLUDE_DIRECTIVES = new Set(['include', 'include_if_exists', 'include_dir']);

/** All `name = value` items in file order, include directives included. Throws on syntax errors. */
export function parseConfItems(text: string): ConfItem[] {
  const tokens = tokenize(text);
  const items: ConfItem[] = [];
  let i = 0;
  const fail = (t: Token): never => {
    throw new Error(`syntax error in configuration file, line ${t.line}, near ${t.type === 'EOL' || t.type === 'EOF' ? 'end of line' : `token "${t.text}"`}`);
  };
  for (;;) {
    let t = tokens[i++];
    if (t.type === 'EOF') break;
    if (t.type === 'EOL') continue;
    if (t.type !== 'ID' && t.type !== 'QUALIFIED_ID') fail(t);
    const name = t.text;
    t = tokens[i++];
    if (t.type === 'EQUALS') t = tokens[i++];
    // A QUALIFIED_ID ("a.b") is not accepted as a value: it must be quoted.
    if (!['ID', 'STRING', 'INTEGER', 'REAL', 'UNQUOTED_STRING'].includes(t.type)) fail(t);
    const value = t.type === 'STRING' ? unquoteConfString(t.text) : t.text;
    const end = tokens[i++];
    if (end.type !== 'EOL' && end.type !== 'EOF') fail(end);
    items.push({ name: name.toLowerCase(), value, line: t.line });
    if (end.type === 'EOF') break;
  }
  return items;
}

/**
 * Settings of a postgresql.conf text: lower-cased names to unquoted values, last occurrence wins
 * (as PostgreSQL applies them). include / include_if_exists / include_dir are left out (see
 * parseConfDirectives). Throws on a syntax error, like the server which then ignores the whole file.
 */
export function parseConf(text: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const item of parseConfItems(text)) {
    if (INCLUDE_DIRECTIVES.has(item.name)) continue;
    map.delete(item.name); // keep Map order = order of the effective (last) occurrence
    map.set(item.name, item.value);
  }
  return map;
}

/** The include directives of a postgresql.conf text, in order. */
export function parseConfDirectives(text: string): Array<{ directive: 'include' | 'include_if_exists' | 'include_dir'; path: string; line: number }> {
  return parseConfItems(text)
    .filter((item) => INCLUDE_DIRECTIVES.has(item.name))
    .map((item) => ({ directive: item.name as 'include' | 'include_if_exists' | 'include_dir', path: item.value, line: item.line }));
}

const NAME_RE = new RegExp(`^${ID_SRC}(?:\\.${ID_SRC})?$`);

/**
 * A whole configuration file: header lines as `# ` comments, then `name = value` lines sorted by
 * name, with a trailing newline. Names must be valid GUC names (so that nothing can be injected).
 */
export function renderConf(settings: Record<string, GucValue>, header: string[]): string {
  const names = Object.keys(settings);
  const seen = new Map<string, string>();
  for (const name of names) {
    if (!NAME_RE.test(name)) throw new Error(`invalid configuration parameter name: ${JSON.stringify(name)}`);
    const lower = name.toLowerCase();
    if (seen.has(lower)) throw new Error(`parameter ${name} given twice (as ${seen.get(lower)})`);
    seen.set(lower, name);
  }
  const lines = header.flatMap((h) => h.split(/\r?\n/)).map((h) => (h === '' ? '#' : `# ${h}`.trimEnd()));
  const sorted = [...names].sort((a, b) => {
    const x = a.toLowerCase();
    const y = b.toLowerCase();
    return x < y ? -1 : x > y ? 1 : 0;
  });
  for (const name of sorted) lines.push(`${name} = ${formatConfValue(settings[name])}`);
  return lines.length ? lines.join('\n') + '\n' : '';
}
