import {
  formatPassfileEntry,
  lookupPassfile,
  parsePassfile,
  removePassfileEntries,
  setPassfileEntry,
} from '../../modules/lib/passfile';

const key = { host: 'db1', port: '5432', database: 'app', user: 'alice' };

describe('parsePassfile', () => {
  test('entries, comments, blanks and escapes as libpq reads them', () => {
    const text = [
      '# comment',
      '',
      'db1:5432:app:alice:s3cret',
      'h\\:x:*:*:bob:pa\\:ss\\\\word',
      '*:*:*:*:rest:ignored after colon',
      ' # indented',
      ' #x:*:*:*:indented hash is not a comment',
      'too:few:fields',
      'db2:5432:app:carol:',
      'db3:5432:app:dave:trailing\\',
      'crlf:1:d:u:pw\r',
    ].join('\n') + '\n';
    const lines = parsePassfile(text);
    expect(lines.map((l) => l.line)).toEqual(text.split('\n').slice(0, -1));
    expect(lines.map((l) => l.entry ?? null)).toEqual([
      null,
      null,
      { host: 'db1', port: '5432', database: 'app', user: 'alice', password: 's3cret' },
      { host: 'h:x', port: '*', database: '*', user: 'bob', password: 'pa:ss\\word' },
      { host: '*', port: '*', database: '*', user: '*', password: 'rest' },
      null, // no ':' at all: never matches
      { host: ' #x', port: '*', database: '*', user: '*', password: 'indented hash is not a comment' },
      null,
      { host: 'db2', port: '5432', database: 'app', user: 'carol', password: '' },
      { host: 'db3', port: '5432', database: 'app', user: 'dave', password: 'trailing\\' },
      { host: 'crlf', port: '1', database: 'd', user: 'u', password: 'pw' },
    ]);
  });

  test('empty text', () => {
    expect(parsePassfile('')).toEqual([]);
  });
});

describe('formatPassfileEntry', () => {
  test('escapes : and \\, keeps * as wildcard in key fields, protects a leading #', () => {
    expect(formatPassfileEntry({ ...key, password: 'a:b\\c' })).toBe('db1:5432:app:alice:a\\:b\\\\c');
    expect(formatPassfileEntry({ host: '*', port: '*', database: '*', user: 'u', password: '*' })).toBe('*:*:*:u:*');
    expect(formatPassfileEntry({ ...key, host: '#h', password: 'p' })).toBe('\\#h:5432:app:alice:p');
    expect(formatPassfileEntry({ ...key, host: '/var/run/postgresql', password: 'p' })).toBe('/var/run/postgresql:5432:app:alice:p');
    expect(formatPassfileEntry({ ...key, host: '::1', password: 'p' })).toBe('\\:\\:1:5432:app:alice:p');
  });

  test.each(['simple', 'with:colon', 'back\\slash', '\\:', 'trailing\\', '::', 'pässwörd 日本', '#hash', ' spaces '])(
    'password %j round-trips',
    (password) => {
      const [l] = parsePassfile(formatPassfileEntry({ ...key, password }) + '\n');
      expect(l.entry).toEqual({ ...key, password });
    },
  );

  test('refuses line breaks and NUL', () => {
    expect(() => formatPassfileEntry({ ...key, password: 'a\nb' })).toThrow();
    expect(() => formatPassfileEntry({ ...key, user: 'a\rb', password: 'x' })).toThrow();
    expect(() => formatPassfileEntry({ ...key, password: 'a\0' })).toThrow();
  });
});

describe('lookupPassfile (first match wins)', () => {
  test('wildcards and order', () => {
    const text = 'db1:5432:app:alice:first\n*:*:*:alice:wild\ndb1:5432:app:alice:dead\n';
    expect(lookupPassfile(text, key)).toBe('first');
    expect(lookupPassfile(text, { ...key, host: 'other' })).toBe('wild');
    expect(lookupPassfile(text, { ...key, user: 'bob' })).toBeNull();
    expect(lookupPassfile('# db1:5432:app:alice:x\n', key)).toBeNull();
  });
});

describe('setPassfileEntry', () => {
  test('appends to an empty or missing file', () => {
    expect(setPassfileEntry('', { ...key, password: 'p' })).toEqual({ text: 'db1:5432:app:alice:p\n', changed: true });
  });

  test('unchanged when already the effective entry', () => {
    const text = '# mine\ndb1:5432:app:alice:p\nother:1:d:u:x\n';
    expect(setPassfileEntry(text, { ...key, password: 'p' })).toEqual({ text, changed: false });
  });

  test('replaces in place, keeping comments and other lines', () => {
    const text = '# mine\ndb1:5432:app:alice:old\nother:1:d:u:x';
    const r = setPassfileEntry(text, { ...key, password: 'new:pw' });
    expect(r).toEqual({ text: '# mine\ndb1:5432:app:alice:new\\:pw\nother:1:d:u:x\n', changed: true });
    expect(lookupPassfile(r.text, key)).toBe('new:pw');
  });

  test('appends after unrelated lines (keeps a missing final newline sane)', () => {
    const r = setPassfileEntry('other:1:d:u:x', { ...key, password: 'p' });
    expect(r.text).toBe('other:1:d:u:x\ndb1:5432:app:alice:p\n');
  });

  test('inserts before a wildcard line that would shadow it, and drops the dead duplicate', () => {
    const text = '# top\n*:*:*:*:catchall\ndb1:5432:app:alice:old\n';
    const r = setPassfileEntry(text, { ...key, password: 'p' });
    expect(r.text).toBe('# top\ndb1:5432:app:alice:p\n*:*:*:*:catchall\n');
    expect(lookupPassfile(r.text, key)).toBe('p');
    expect(lookupPassfile(r.text, { ...key, user: 'bob' })).toBe('catchall');
    expect(setPassfileEntry(r.text, { ...key, password: 'p' }).changed).toBe(false);
  });

  test('a matching entry shadowed by a wildcard is moved above it', () => {
    const text = '*:*:app:*:wild\ndb1:5432:app:alice:p\n';
    const r = setPassfileEntry(text, { ...key, password: 'p' });
    expect(r).toEqual({ text: 'db1:5432:app:alice:p\n*:*:app:*:wild\n', changed: true });
  });

  test('duplicates of the key are collapsed', () => {
    const text = 'db1:5432:app:alice:p\nx:1:d:u:y\ndb1:5432:app:alice:stale\n';
    const r = setPassfileEntry(text, { ...key, password: 'p' });
    expect(r).toEqual({ text: 'db1:5432:app:alice:p\nx:1:d:u:y\n', changed: true });
  });

  test('a wildcard entry is its own key', () => {
    const text = 'db1:5432:app:alice:specific\n';
    const r = setPassfileEntry(text, { host: '*', port: '*', database: '*', user: 'alice', password: 'w' });
    expect(r.text).toBe('db1:5432:app:alice:specific\n*:*:*:alice:w\n');
  });
});

describe('removePassfileEntries', () => {
  const text = '# c\ndb1:5432:app:alice:a\ndb1:5432:other:alice:b\ndb2:5432:app:bob:c\n*:*:*:*:d\n';
  test('by full key', () => {
    expect(removePassfileEntries(text, key)).toEqual({
      text: '# c\ndb1:5432:other:alice:b\ndb2:5432:app:bob:c\n*:*:*:*:d\n',
      changed: true,
    });
  });
  test('by partial key', () => {
    expect(removePassfileEntries(text, { user: 'alice' }).text).toBe('# c\ndb2:5432:app:bob:c\n*:*:*:*:d\n');
    expect(removePassfileEntries(text, { host: '*' }).text).toBe('# c\ndb1:5432:app:alice:a\ndb1:5432:other:alice:b\ndb2:5432:app:bob:c\n');
  });
  test('no match: unchanged, text returned as is', () => {
    expect(removePassfileEntries(text, { user: 'nobody' })).toEqual({ text, changed: false });
    expect(removePassfileEntries('no newline at end', { user: 'x' })).toEqual({ text: 'no newline at end', changed: false });
  });
  test('empty match removes every entry but keeps comments', () => {
    expect(removePassfileEntries(text, {})).toEqual({ text: '# c\n', changed: true });
  });
});
