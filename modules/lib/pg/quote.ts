/**
 * SQL quoting for identifiers and literals that end up inside statements we cannot parameterise
 * (utility statements: CREATE ROLE, ALTER ROLE ... PASSWORD, GRANT, ALTER SYSTEM, ...).
 *
 * Identifiers are ALWAYS double-quoted (unlike PostgreSQL's quote_ident(), which quotes only when
 * needed): that is simpler, never wrong, and keeps case and non-ASCII characters as written, so
 * `quoteIdent('MyRole')` names the role `MyRole`, not `myrole`.
 */

/** PostgreSQL silently truncates identifiers to NAMEDATALEN-1 = 63 bytes (with a NOTICE). */
export const MAX_IDENTIFIER_BYTES = 63;

function assertNoNul(value: string, what: string): void {
  // PostgreSQL strings are C strings: a NUL byte cannot be represented and is rejected by the server
  // ("invalid byte sequence for encoding UTF8: 0x00"); refuse it early with a clear message.
  if (value.includes('\0')) throw new Error(`${what} must not contain a NUL character`);
}

/** `"name"` with embedded `"` doubled. Throws on an empty name (a zero-length identifier is invalid) or NUL. */
export function quoteIdent(name: string): string {
  if (typeof name !== 'string' || name.length === 0) throw new Error('identifier must not be empty');
  assertNoNul(name, 'identifier');
  return '"' + name.replace(/"/g, '""') + '"';
}

/**
 * `'value'` with embedded `'` doubled. Backslashes are NOT escaped: we always connect with
 * standard_conforming_strings=on (the default since 9.1), under which they are ordinary characters.
 * Throws on NUL.
 */
export function quoteLiteral(value: string): string {
  if (typeof value !== 'string') throw new Error('literal must be a string');
  assertNoNul(value, 'literal');
  return "'" + value.replace(/'/g, "''") + "'";
}

/** `"schema"."name"`. */
export function quoteQualified(schema: string, name: string): string {
  return quoteIdent(schema) + '.' + quoteIdent(name);
}

/** True when PostgreSQL would truncate this identifier (more than 63 bytes in UTF-8). */
export function identifierTooLong(name: string): boolean {
  return Buffer.byteLength(name, 'utf8') > MAX_IDENTIFIER_BYTES;
}
