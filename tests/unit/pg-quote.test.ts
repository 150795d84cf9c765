import { identifierTooLong, quoteIdent, quoteLiteral, quoteQualified } from '../../modules/lib/pg/quote';

describe('quoteIdent', () => {
  test.each([
    ['simple', '"simple"'],
    ['MixedCase', '"MixedCase"'], // quoting preserves case: unquoted it would fold to mixedcase
    ['select', '"select"'], // reserved word
    ['user', '"user"'],
    ['with space', '"with space"'],
    ['semi;colon', '"semi;colon"'],
    ['x"; DROP TABLE t; --', '"x""; DROP TABLE t; --"'],
    ['"', '""""'],
    ['""', '""""""'],
    ["o'neil", '"o\'neil"'], // single quotes are ordinary inside identifiers
    ['back\\slash', '"back\\slash"'],
    ['été', '"été"'],
    ['日本', '"日本"'],
    ['tab\there', '"tab\there"'],
  ])('%j -> %s', (input, expected) => {
    expect(quoteIdent(input)).toBe(expected);
  });

  test('rejects empty and NUL', () => {
    expect(() => quoteIdent('')).toThrow(/empty/);
    expect(() => quoteIdent('a\0b')).toThrow(/NUL/);
  });
});

describe('quoteLiteral', () => {
  test.each([
    ['pencil', "'pencil'"],
    ["it's", "'it''s'"],
    ["'", "''''"],
    ["'; DROP ROLE postgres; --", "'''; DROP ROLE postgres; --'"],
    ['back\\slash', "'back\\slash'"], // standard_conforming_strings=on: backslash is literal
    ['\\\'', "'\\'''"], // a backslash does not escape the following quote
    ['', "''"],
    ['pässwörd 日本', "'pässwörd 日本'"],
    ['line\nbreak', "'line\nbreak'"],
    ['$$dollar$$', "'$$dollar$$'"],
  ])('%j -> %s', (input, expected) => {
    expect(quoteLiteral(input)).toBe(expected);
  });

  test('rejects NUL', () => {
    expect(() => quoteLiteral('a\0')).toThrow(/NUL/);
  });
});

describe('quoteQualified', () => {
  test('quotes both parts independently', () => {
    expect(quoteQualified('public', 'T')).toBe('"public"."T"');
    expect(quoteQualified('my schema', 'a.b')).toBe('"my schema"."a.b"');
    expect(quoteQualified('s"x', 'n"y')).toBe('"s""x"."n""y"');
  });
  test('rejects empty parts', () => {
    expect(() => quoteQualified('', 't')).toThrow();
    expect(() => quoteQualified('s', '')).toThrow();
  });
});

describe('identifierTooLong', () => {
  test('counts UTF-8 bytes against NAMEDATALEN-1 = 63', () => {
    expect(identifierTooLong('a'.repeat(63))).toBe(false);
    expect(identifierTooLong('a'.repeat(64))).toBe(true);
    expect(identifierTooLong('é'.repeat(31))).toBe(false); // 62 bytes
    expect(identifierTooLong('é'.repeat(32))).toBe(true); // 64 bytes
  });
});
