// A role's records in pg_hba.conf: one managed block per role,
//
//   # BEGIN socle role "alice"
//   host    app             "alice"         10.0.0.0/8              scram-sha-256
//   # END socle role "alice"
//
// written before the instance's own `# BEGIN socle auth` block (pg_hba.conf is read top down and
// the first matching record wins, so a role's records must come before the generic ones).
// One block per role rather than one for all roles: a task on one role rewrites only its own
// block without having to tell which lines of a shared block belong to whom, a dropped role
// takes its block with it, and a reader sees at once which rules a role has.
import { HBA_AUTH_BLOCK } from '../instance/config';
import { formatHbaRecord, hbaQuote, hbaRecordsEqual, parseHbaRecord, readBlock, replaceBlock, type HbaRecord } from '../pg/hba';
import { ModuleError } from '../runtime';
import type { WantedHbaRecord } from './spec';

/** The marker of a role's block; the name is quoted as in pg_hba.conf, so any name fits on the line. */
export function roleBlockMarker(role: string): string {
  return `socle role ${hbaQuote(role)}`;
}

const HBA_KEYWORDS = new Set(['all', 'sameuser', 'samerole', 'replication']);

/** The database field: keywords and plain names (or lists of them) as written, anything else quoted. */
export function hbaDatabaseField(database: string): string {
  if (HBA_KEYWORDS.has(database) || /^[A-Za-z0-9_.,-]+$/.test(database)) return database;
  return hbaQuote(database);
}

export function toHbaRecord(role: string, r: WantedHbaRecord): HbaRecord {
  const [method, ...options] = r.method.trim().split(/\s+/);
  const record: HbaRecord = { type: r.type, database: hbaDatabaseField(r.database), user: hbaQuote(role), method };
  if (r.type !== 'local') record.address = r.address;
  if (r.netmask !== undefined) record.netmask = r.netmask;
  if (options.length) record.options = options.join(' ');
  return record;
}

/** The record as a pg_hba.conf line; fails naming the option when it cannot be written. */
export function formatRoleRecord(role: string, r: WantedHbaRecord, option: string): string {
  try {
    return formatHbaRecord(toHbaRecord(role, r));
  } catch (err) {
    throw new ModuleError(`option '${option}': ${(err as Error).message}`);
  }
}

function sameRecord(line: string, wanted: HbaRecord): boolean {
  try {
    return hbaRecordsEqual(parseHbaRecord(line), wanted);
  } catch {
    return false; // a comment or a broken line in the block: never "the same record"
  }
}

/**
 * The lines of a role's block once the declared records are applied: a present record not in the
 * block is appended, an absent one is removed; other lines are kept as they are, or, `exclusive`,
 * only those that are a listed present record.
 */
export function plannedBlock(role: string, current: string[], wanted: WantedHbaRecord[], where: string, exclusive = false): string[] {
  const records = wanted.map((r) => toHbaRecord(role, r));
  const present = records.filter((_, i) => wanted[i].state === 'present');
  let lines = exclusive ? current.filter((l) => present.some((p) => sameRecord(l, p))) : [...current];
  wanted.forEach((r, i) => {
    const record = records[i];
    const line = formatRoleRecord(role, r, `${where}hba_records[${i}]`);
    if (r.state === 'present') {
      if (!lines.some((l) => sameRecord(l, record))) lines.push(line);
    } else {
      lines = lines.filter((l) => !sameRecord(l, record));
    }
  });
  return lines;
}

/** The lines of a role's block, or null when there is none. */
export function readRoleBlock(text: string, role: string): string[] | null {
  return readBlock(text, roleBlockMarker(role));
}

function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/**
 * Sets a role's block to `lines` (null or [] removes it). A new block goes right before the
 * instance's authentication block (after the other roles' blocks), or at the end of a file
 * without one. Everything else is kept byte for byte.
 */
export function setRoleBlock(text: string, role: string, lines: string[] | null): string {
  const marker = roleBlockMarker(role);
  const exists = readBlock(text, marker) !== null;
  if (!lines || lines.length === 0) {
    if (!exists) return text;
    const begin = `# BEGIN ${marker}`;
    const end = `# END ${marker}`;
    const all = splitLines(text);
    const out: string[] = [];
    let inside = false;
    for (const l of all) {
      if (!inside && l.trim() === begin) inside = true;
      else if (inside && l.trim() === end) inside = false;
      else if (!inside) out.push(l);
    }
    return out.length ? out.join('\n') + '\n' : '';
  }
  if (exists) return replaceBlock(text, marker, lines);
  const all = splitLines(text);
  const auth = all.findIndex((l) => l.trim() === `# BEGIN ${HBA_AUTH_BLOCK}`);
  if (auth < 0) return replaceBlock(text, marker, lines);
  const block = [`# BEGIN ${marker}`, ...lines, `# END ${marker}`];
  for (const l of lines) {
    if (/[\r\n]/.test(l)) throw new Error('block lines must not contain line breaks');
  }
  return [...all.slice(0, auth), ...block, ...all.slice(auth)].join('\n') + '\n';
}
