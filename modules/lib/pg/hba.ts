/**
 * pg_hba.conf records: parsing, formatting, semantic comparison and managed blocks.
 *
 * Why: modules manage their own records inside a `# BEGIN <marker>` / `# END <marker>` block and must
 * leave the rest of the file (the administrator's records and comments) byte for byte intact,
 * and must recognise that an existing record is the one declared even if it is aligned differently.
 * Tokenisation follows src/backend/libpq/hba.c (next_token / next_field_expand) of PostgreSQL 15.
 */
import { isIP } from 'net';

export type HbaType = 'local' | 'host' | 'hostssl' | 'hostnossl' | 'hostgssenc' | 'hostnogssenc';

export type HbaRecord = {
  type: HbaType;
  /** Database field as written: comma-separated, elements possibly "quoted" (e.g. `db1,"my db"`). */
  database: string;
  /** User field as written, same syntax as database (e.g. `+admins,alice`). */
  user: string;
  /** Absent for `local`. CIDR (`10.0.0.0/8`), IP address (then with netmask), hostname or keyword. */
  address?: string;
  /** Only with a bare IP address: `127.0.0.1 255.255.255.255`. */
  netmask?: string;
  method: string;
  /** Authentication options as written, `name=value` separated by spaces. */
  options?: string;
};

export interface HbaLine {
  /** The line exactly as in the file (for a continued record: the physical lines joined with '\n'). */
  line: string;
  /** The record, when the line holds one. */
  record?: HbaRecord;
  /** Why a non-blank, non-comment line could not be read as a record. */
  error?: string;
}

const HBA_TYPES: readonly HbaType[] = ['local', 'host', 'hostssl', 'hostnossl', 'hostgssenc', 'hostnogssenc'];

interface HbaToken {
  /** Text as written, quotes included. */
  raw: string;
  /** Value with quoting removed. */
  value: string;
  /** Whether any part was quoted: a quoted "all" is a database named all, not the keyword. */
  quoted: boolean;
}

const isBlank = (c: string) => c === ' ' || c === '\t' || c === '\r' || c === '\n';

/**
 * Splits one logical line into fields, each a list of comma-separated tokens, as hba.c does:
 * blanks separate fields, a comma continues the list (blanks after it are skipped), double quotes
 * protect blanks, commas and '#' ("" inside quotes is a literal quote), '#' starts a comment.
 */
function tokenizeHbaLine(line: string): HbaToken[][] {
  const fields: HbaToken[][] = [];
  let pos = 0;
  let field: HbaToken[] = [];
  let comment = false;
  for (;;) {
    // Skip blanks and commas preceding the next token.
    while (pos < line.length && (isBlank(line[pos]) || line[pos] === ',')) pos++;
    if (pos >= line.length || comment) break;
    const start = pos;
    let value = '';
    let inQuote = false;
    let wasQuote = false;
    let sawQuote = false;
    let trailingComma = false;
    while (pos < line.length && (!isBlank(line[pos]) || inQuote)) {
      const c = line[pos];
      if (c === '#' && !inQuote) {
        comment = true;
        break;
      }
      if (c === ',' && !inQuote) {
        trailingComma = true;
        break;
      }
      if (c !== '"' || wasQuote) value += c;
      wasQuote = inQuote && c === '"' ? !wasQuote : false;
      if (c === '"') {
        inQuote = !inQuote;
        sawQuote = true;
      }
      pos++;
    }
    const raw = line.slice(start, pos);
    if (trailingComma) pos++; // consume the comma
    if (sawQuote || value.length > 0) field.push({ raw, value, quoted: sawQuote });
    if (!trailingComma && field.length > 0) {
      fields.push(field);
      field = [];
    }
    if (comment) break;
  }
  if (field.length > 0) fields.push(field);
  return fields;
}

const rawOf = (field: HbaToken[]) => field.map((t) => t.raw).join(',');

function parseRecord(text: string): { record?: HbaRecord; error?: string } {
  const fields = tokenizeHbaLine(text);
  if (fields.length === 0) return {};
  const next = (what: string): HbaToken[] => {
    const f = fields.shift();
    if (!f) throw new Error(`end-of-line before ${what}`);
    return f;
  };
  try {
    const typeField = next('connection type');
    const type = typeField[0].value as HbaType;
    if (typeField.length > 1 || typeField[0].quoted || !HBA_TYPES.includes(type)) {
      return { error: `invalid connection type "${rawOf(typeField)}"` };
    }
    const record: HbaRecord = { type, database: rawOf(next('database')), user: rawOf(next('role')), method: '' };
    if (type !== 'local') {
      const addr = next('IP address');
      if (addr.length > 1) return { error: 'multiple values specified for host address' };
      record.address = addr[0].raw;
      // A bare numeric address takes a netmask in the next field; CIDR, hostnames and keywords do not.
      if (!addr[0].value.includes('/') && isIP(addr[0].value) !== 0) {
        const mask = next('netmask');
        if (mask.length > 1) return { error: 'multiple values specified for netmask' };
        record.netmask = mask[0].raw;
      }
    }
    const method = next('authentication method');
    if (method.length > 1) return { error: 'multiple values specified for authentication type' };
    record.method = method[0].raw;
    if (fields.length > 0) record.options = fields.map(rawOf).join(' ');
    return { record };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

/**
 * Parses pg_hba.conf text into lines; comments and blank lines are kept (without record) so the
 * file can be written back unchanged. A line ending with a backslash continues on the next line
 * (verified with PostgreSQL 15's pg_hba_file_rules); such a record is kept as a single entry.
 */
export function parseHba(text: string): HbaLine[] {
  const physical = text.split('\n');
  if (physical.length > 0 && physical[physical.length - 1] === '') physical.pop(); // trailing newline
  const out: HbaLine[] = [];
  for (let i = 0; i < physical.length; i++) {
    let logical = physical[i].replace(/\r$/, '');
    let line = physical[i];
    while (logical.endsWith('\\') && i + 1 < physical.length) {
      i++;
      logical = logical.slice(0, -1) + physical[i].replace(/\r$/, '');
      line += '\n' + physical[i];
    }
    const { record, error } = parseRecord(logical);
    const entry: HbaLine = { line };
    if (record) entry.record = record;
    if (error) entry.error = error;
    out.push(entry);
  }
  return out;
}

/** Parses a single record line; throws if it is not one. */
export function parseHbaRecord(line: string): HbaRecord {
  const { record, error } = parseRecord(line);
  if (!record) throw new Error(`not a pg_hba.conf record: ${JSON.stringify(line)}${error ? ` (${error})` : ''}`);
  return record;
}

/** Column widths of PostgreSQL's pg_hba.conf.sample: TYPE 8, DATABASE 16, USER 16, ADDRESS 24. */
const WIDTHS = [8, 16, 16, 24];

function pad(s: string, width: number): string {
  return s.length < width ? s + ' '.repeat(width - s.length) : s + ' ';
}

/**
 * One record as a line aligned like PostgreSQL's sample (no trailing newline). Throws when a
 * field is missing or would not read back as the same record (e.g. an unquoted space or '#').
 */
export function formatHbaRecord(r: HbaRecord): string {
  if (!HBA_TYPES.includes(r.type)) throw new Error(`invalid pg_hba.conf connection type: ${r.type}`);
  for (const [k, v] of Object.entries(r)) {
    if (v !== undefined && typeof v !== 'string') throw new Error(`pg_hba.conf ${k} must be a string`);
    if (typeof v === 'string' && /[\r\n\0]/.test(v)) throw new Error(`pg_hba.conf ${k} must be on one line`);
  }
  if (!r.database || !r.user || !r.method) throw new Error('pg_hba.conf database, user and method are required');
  if (r.type === 'local' && (r.address || r.netmask)) throw new Error('a local record takes no address');
  if (r.type !== 'local' && !r.address) throw new Error(`a ${r.type} record needs an address`);
  if (r.netmask && !r.address) throw new Error('a netmask needs an address');
  const address = r.type === 'local' ? '' : r.netmask ? `${r.address} ${r.netmask}` : (r.address as string);
  let line = pad(r.type, WIDTHS[0]) + pad(r.database, WIDTHS[1]) + pad(r.user, WIDTHS[2]) + pad(address, WIDTHS[3]) + r.method;
  if (r.options && r.options.trim()) line += ' ' + tokenizeHbaLine(r.options).map(rawOf).join(' ');
  const back = parseRecord(line).record;
  if (!back || !hbaRecordsEqual(back, r)) throw new Error(`pg_hba.conf record would not read back as written: ${line}`);
  return line;
}

/** Quotes a database or user name for pg_hba.conf so it is taken literally (never as a keyword, +group or @file). */
export function hbaQuote(name: string): string {
  if (/[\r\n\0]/.test(name)) throw new Error('pg_hba.conf names must be on one line');
  return '"' + name.replace(/"/g, '""') + '"';
}

/**
 * Canonical list for a database/user field. Quoting only matters where it changes the meaning
 * (keywords, +group, @file, /regex): otherwise "db" and db are the same name.
 */
function canonicalList(field: string): string[] | null {
  const fields = tokenizeHbaLine(field);
  if (fields.length !== 1) return null;
  return fields[0].map((t) => {
    const special = /^(all|sameuser|samerole|samegroup|replication)$/.test(t.value) || /^[+@/]/.test(t.value);
    return t.quoted && special ? `"${t.value}` : `=${t.value}`;
  });
}

function ipv4ToInt(ip: string): number | null {
  if (isIP(ip) !== 4) return null;
  return ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
}

/** Address and netmask in one comparable form: IPv4 netmasks become prefix lengths; hostnames lower-cased. */
function canonicalAddress(address: string | undefined, netmask: string | undefined): string {
  if (address === undefined) return '';
  const a = address.trim().toLowerCase();
  if (netmask === undefined) {
    const m = /^(.*)\/0*(\d+)$/.exec(a);
    return m ? `${m[1]}/${Number(m[2])}` : a;
  }
  const mask = ipv4ToInt(netmask.trim());
  if (mask !== null && isIP(a) === 4) {
    const bits = mask.toString(2).padStart(32, '0');
    if (/^1*0*$/.test(bits)) return `${a}/${bits.indexOf('0') === -1 ? 32 : bits.indexOf('0')}`;
  }
  return `${a} ${netmask.trim().toLowerCase()}`;
}

function canonicalOptions(options: string | undefined): string[] {
  if (!options) return [];
  return tokenizeHbaLine(options)
    .map(rawOf)
    .sort();
}

/**
 * Same record as PostgreSQL reads it: whitespace and alignment do not matter, database/user lists
 * are compared in order (PostgreSQL tries them in order), superfluous quotes do not matter,
 * `127.0.0.1 255.255.255.255` equals `127.0.0.1/32`, options are compared as a set.
 */
export function hbaRecordsEqual(a: HbaRecord, b: HbaRecord): boolean {
  if (a.type !== b.type || a.method.trim() !== b.method.trim()) return false;
  const same = (x: string[] | null, y: string[] | null) => x !== null && y !== null && x.length === y.length && x.every((v, i) => v === y[i]);
  if (!same(canonicalList(a.database), canonicalList(b.database))) return false;
  if (!same(canonicalList(a.user), canonicalList(b.user))) return false;
  if (canonicalAddress(a.address, a.netmask) !== canonicalAddress(b.address, b.netmask)) return false;
  return same(canonicalOptions(a.options), canonicalOptions(b.options));
}

/* ------------------------------------------------------------------------------------------------
 * Managed blocks
 * ---------------------------------------------------------------------------------------------- */

function markers(marker: string): { begin: string; end: string } {
  if (!marker.trim() || /[\r\n]/.test(marker)) throw new Error('block marker must be a non-empty single line');
  return { begin: `# BEGIN ${marker.trim()}`, end: `# END ${marker.trim()}` };
}

/** Locates blocks: [beginIndex, endIndex] pairs of line indexes. Throws on a BEGIN without END. */
function findBlocks(lines: string[], begin: string, end: string): Array<[number, number]> {
  const blocks: Array<[number, number]> = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== begin) continue;
    let j = i + 1;
    while (j < lines.length && lines[j].trim() !== end) j++;
    if (j >= lines.length) throw new Error(`"${begin}" without "${end}"`);
    blocks.push([i, j]);
    i = j;
  }
  return blocks;
}

function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines; // a CRLF file keeps its '\r's: lines outside the block must stay byte for byte
}

/**
 * Replaces the content of the `# BEGIN <marker>` ... `# END <marker>` block with `lines`, keeping
 * everything outside it unchanged; appends the block at the end if there is none. Further blocks
 * with the same marker (e.g. from a bad manual merge) are removed. The result ends with a newline.
 */
export function replaceBlock(text: string, marker: string, lines: string[]): string {
  const { begin, end } = markers(marker);
  for (const l of lines) {
    if (/[\r\n]/.test(l)) throw new Error('block lines must not contain line breaks');
    if (l.trim() === begin || l.trim() === end) throw new Error('block lines must not contain the block markers');
  }
  const all = splitLines(text);
  const blocks = findBlocks(all, begin, end);
  const block = [begin, ...lines, end];
  if (blocks.length === 0) return [...all, ...block].join('\n') + '\n';
  const out: string[] = [];
  let pos = 0;
  blocks.forEach(([b, e], k) => {
    out.push(...all.slice(pos, b));
    if (k === 0) out.push(...block);
    pos = e + 1;
  });
  out.push(...all.slice(pos));
  return out.join('\n') + '\n';
}

/** The lines inside the first `# BEGIN <marker>` / `# END <marker>` block, or null if absent. */
export function readBlock(text: string, marker: string): string[] | null {
  const { begin, end } = markers(marker);
  const all = splitLines(text);
  const blocks = findBlocks(all, begin, end);
  if (blocks.length === 0) return null;
  const [b, e] = blocks[0];
  return all.slice(b + 1, e).map((l) => l.replace(/\r$/, ''));
}
