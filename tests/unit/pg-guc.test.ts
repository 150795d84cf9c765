import {
  formatConfValue,
  gucEqual,
  normalizeGucValue,
  parseBaseUnit,
  parseConf,
  parseConfDirectives,
  parseConfItems,
  parsePgBool,
  renderConf,
  unquoteConfString,
} from '../../modules/lib/pg/guc';

// pg_settings rows (PostgreSQL 15) used as `info`.
const WORK_MEM = { vartype: 'integer', unit: 'kB' };
const SHARED_BUFFERS = { vartype: 'integer', unit: '8kB' };
const MAX_WAL_SIZE = { vartype: 'integer', unit: 'MB' };
const WAL_SEGMENT_SIZE = { vartype: 'integer', unit: 'B' };
const STATEMENT_TIMEOUT = { vartype: 'integer', unit: 'ms' };
const CHECKPOINT_TIMEOUT = { vartype: 'integer', unit: 's' };
const LOG_ROTATION_AGE = { vartype: 'integer', unit: 'min' };
const VACUUM_COST_DELAY = { vartype: 'real', unit: 'ms' };
const SEQ_PAGE_COST = { vartype: 'real', unit: null };
const MAX_CONNECTIONS = { vartype: 'integer', unit: null };
const BOOL = { vartype: 'bool', unit: null };
const ENUM = { vartype: 'enum', unit: null };
const STRING = { vartype: 'string', unit: null };

describe('parsePgBool (parse_bool_with_len)', () => {
  test.each(['on', 'ON', 'On', 't', 'tr', 'tru', 'true', 'TRUE', 'y', 'ye', 'yes', 'YES', '1'])('%s is true', (v) => {
    expect(parsePgBool(v)).toBe(true);
  });
  test.each(['off', 'OFF', 'of', 'OF', 'f', 'fa', 'fals', 'false', 'n', 'no', 'NO', '0'])('%s is false', (v) => {
    expect(parsePgBool(v)).toBe(false);
  });
  test.each(['o', '', ' on', 'on ', 'onn', 'offf', 'truex', '2', '01', 'yess', 'enable'])('%j is invalid', (v) => {
    expect(parsePgBool(v)).toBeNull();
  });
});

describe('normalizeGucValue: booleans', () => {
  test('any PostgreSQL spelling with vartype bool', () => {
    expect(normalizeGucValue('tr', BOOL)).toBe('on');
    expect(normalizeGucValue('OF', BOOL)).toBe('off');
    expect(normalizeGucValue('1', BOOL)).toBe('on');
    expect(normalizeGucValue(0, BOOL)).toBe('off');
    expect(normalizeGucValue(true, BOOL)).toBe('on');
    expect(normalizeGucValue("'yes'", BOOL)).toBe('on');
    expect(normalizeGucValue('o', BOOL)).toBe('o'); // invalid: left as is
  });
  test('without info only unambiguous words are booleans', () => {
    expect(normalizeGucValue('TRUE')).toBe('on');
    expect(normalizeGucValue('Yes')).toBe('on');
    expect(normalizeGucValue('no')).toBe('off');
    expect(normalizeGucValue(false)).toBe('off');
    expect(normalizeGucValue('1')).toBe('1');
    expect(normalizeGucValue('t')).toBe('t');
  });
  test('a string parameter that happens to say "on" stays a string', () => {
    expect(normalizeGucValue('On', STRING)).toBe('On');
  });
});

describe('normalizeGucValue: memory', () => {
  test('units are 1024-based and converted to bytes', () => {
    expect(normalizeGucValue('64MB')).toBe('67108864B');
    expect(normalizeGucValue('1GB')).toBe(String(1024 ** 3) + 'B');
    expect(normalizeGucValue('1TB')).toBe(String(1024 ** 4) + 'B');
    expect(normalizeGucValue('512B')).toBe('512B');
    expect(normalizeGucValue('1 MB')).toBe('1048576B'); // space allowed between number and unit
    expect(normalizeGucValue(' 64kB ')).toBe('65536B');
  });
  test('units are case-sensitive: 1mb and 1Mb are not quantities', () => {
    expect(normalizeGucValue('1mb', WORK_MEM)).toBe('1mb');
    expect(normalizeGucValue('1Kb')).toBe('1Kb');
    expect(gucEqual('1mb', '1MB', WORK_MEM)).toBe(false);
  });
  test('bare numbers are in the parameter unit', () => {
    expect(normalizeGucValue('65536', WORK_MEM)).toBe('67108864B');
    expect(normalizeGucValue(65536, WORK_MEM)).toBe('67108864B');
    expect(normalizeGucValue('16384', SHARED_BUFFERS)).toBe(String(128 * 1024 ** 2) + 'B');
    expect(normalizeGucValue('1024', MAX_WAL_SIZE)).toBe(String(1024 ** 3) + 'B');
    expect(normalizeGucValue('16777216', WAL_SEGMENT_SIZE)).toBe('16777216B');
  });
  test('equalities PostgreSQL agrees with', () => {
    expect(gucEqual('128MB', '16384', SHARED_BUFFERS)).toBe(true);
    expect(gucEqual('128MB', "'131072kB'", SHARED_BUFFERS)).toBe(true);
    expect(gucEqual('1GB', '1024MB', MAX_WAL_SIZE)).toBe(true);
    expect(gucEqual('1GB', '1024MB')).toBe(true); // units alone suffice
    expect(gucEqual('64MB', '65536', WORK_MEM)).toBe(true);
    expect(gucEqual('64MB', '65537', WORK_MEM)).toBe(false);
    expect(gucEqual('64MB', '65536')).toBe(false); // without info a bare number has no unit
  });
  test('fractions are rounded like PostgreSQL (verified with SET work_mem)', () => {
    expect(normalizeGucValue('1.5MB', WORK_MEM)).toBe(String(1536 * 1024) + 'B'); // 1536kB
    expect(normalizeGucValue('64.7', WORK_MEM)).toBe(String(65 * 1024) + 'B'); // rint
    expect(normalizeGucValue('1e3', WORK_MEM)).toBe(String(1000 * 1024) + 'B');
    expect(normalizeGucValue('100B', WORK_MEM)).toBe('0B'); // rint(100/1024) = 0 kB
    expect(normalizeGucValue('12kB', SHARED_BUFFERS)).toBe('16384B'); // rint(1.5) = 2 blocks
    expect(normalizeGucValue('4kB', SHARED_BUFFERS)).toBe('0B'); // rint(0.5) = 0: half to even
  });
  test('integer parameters read a leading 0 as octal and 0x as hex (strtol base 0)', () => {
    expect(normalizeGucValue('010', WORK_MEM)).toBe(String(8 * 1024) + 'B');
    expect(normalizeGucValue('0x10', WORK_MEM)).toBe(String(16 * 1024) + 'B');
    expect(normalizeGucValue('0100', MAX_CONNECTIONS)).toBe('64');
    expect(gucEqual('010', '8', MAX_CONNECTIONS)).toBe(true);
    // real parameters use strtod: decimal
    expect(normalizeGucValue('010', SEQ_PAGE_COST)).toBe('10');
    expect(normalizeGucValue('0x10', SEQ_PAGE_COST)).toBe('16');
  });
  test('wrong kind of unit is not a quantity', () => {
    expect(normalizeGucValue('1s', WORK_MEM)).toBe('1s');
    expect(normalizeGucValue('1MB', STATEMENT_TIMEOUT)).toBe('1MB');
    expect(normalizeGucValue('12 MB x', WORK_MEM)).toBe('12 MB x');
  });
});

describe('normalizeGucValue: time', () => {
  test('units converted to microseconds', () => {
    expect(normalizeGucValue('1s')).toBe('1000000us');
    expect(normalizeGucValue('1min')).toBe('60000000us');
    expect(normalizeGucValue('1h')).toBe('3600000000us');
    expect(normalizeGucValue('1d')).toBe('86400000000us');
    expect(normalizeGucValue('250ms')).toBe('250000us');
    expect(normalizeGucValue('100us')).toBe('100us');
  });
  test('bare numbers in the parameter unit', () => {
    expect(gucEqual('60s', '1min', CHECKPOINT_TIMEOUT)).toBe(true);
    expect(gucEqual('300', '5min', CHECKPOINT_TIMEOUT)).toBe(true);
    expect(gucEqual('1d', '1440', LOG_ROTATION_AGE)).toBe(true);
    expect(gucEqual('1500', '1.5s', STATEMENT_TIMEOUT)).toBe(true);
    expect(gucEqual('1500ms', '1.5s', STATEMENT_TIMEOUT)).toBe(true);
    expect(gucEqual('1s', '1001ms', STATEMENT_TIMEOUT)).toBe(false);
  });
  test('rounding to the base unit for integers, not for reals (verified with SET)', () => {
    expect(normalizeGucValue('0.5ms', STATEMENT_TIMEOUT)).toBe('0us'); // SET statement_timeout='0.5ms' -> 0
    expect(normalizeGucValue('100us', STATEMENT_TIMEOUT)).toBe('0us');
    expect(normalizeGucValue('0.5ms', VACUUM_COST_DELAY)).toBe('500us');
    expect(normalizeGucValue('2', VACUUM_COST_DELAY)).toBe('2000us');
    expect(normalizeGucValue('010', STATEMENT_TIMEOUT)).toBe('8000us'); // octal again
  });
});

describe('normalizeGucValue: numbers, enums, strings', () => {
  test('numbers are canonical', () => {
    expect(normalizeGucValue('1.0')).toBe('1');
    expect(normalizeGucValue('1.50', SEQ_PAGE_COST)).toBe('1.5');
    expect(normalizeGucValue('.5e1', SEQ_PAGE_COST)).toBe('5');
    expect(normalizeGucValue(4, SEQ_PAGE_COST)).toBe('4');
    expect(normalizeGucValue('-0')).toBe('0');
    expect(gucEqual('100', 100, MAX_CONNECTIONS)).toBe(true);
    expect(gucEqual('1.0', 1)).toBe(true);
    expect(gucEqual('1.1', 1)).toBe(false);
  });
  test('enums are case-insensitive', () => {
    expect(normalizeGucValue('Replica', ENUM)).toBe('replica');
    expect(gucEqual('LOGICAL', 'logical', ENUM)).toBe(true);
    expect(gucEqual('replica', 'logical', ENUM)).toBe(false);
  });
  test('strings are exact, after unquoting', () => {
    expect(gucEqual('"$user", public', '"$user", public', STRING)).toBe(true);
    expect(gucEqual("'\"$user\", public'", '"$user", public', STRING)).toBe(true);
    expect(gucEqual('Europe/Paris', 'europe/paris', STRING)).toBe(false);
    expect(gucEqual('1s', '1000ms', STRING)).toBe(false);
    expect(normalizeGucValue("'it''s'", STRING)).toBe("it's");
    expect(normalizeGucValue('%m [%p] ')).toBe('%m [%p] ');
  });
});

describe('parseBaseUnit', () => {
  test('pg_settings.unit values', () => {
    expect(parseBaseUnit('8kB')).toEqual({ kind: 'memory', factor: 8192 });
    expect(parseBaseUnit('kB')).toEqual({ kind: 'memory', factor: 1024 });
    expect(parseBaseUnit('16MB')).toEqual({ kind: 'memory', factor: 16 * 1024 ** 2 });
    expect(parseBaseUnit('min')).toEqual({ kind: 'time', factor: 60e6 });
    expect(parseBaseUnit(null)).toBeNull();
    expect(parseBaseUnit('furlong')).toBeNull();
  });
});

describe('formatConfValue', () => {
  test('numbers and booleans bare', () => {
    expect(formatConfValue(100)).toBe('100');
    expect(formatConfValue(-1)).toBe('-1');
    expect(formatConfValue(1.5)).toBe('1.5');
    expect(formatConfValue(true)).toBe('on');
    expect(formatConfValue(false)).toBe('off');
    expect(formatConfValue(1e21)).toBe("'1e+21'"); // not a valid bare token
    expect(formatConfValue(1e-7)).toBe("'1e-7'");
    expect(() => formatConfValue(NaN)).toThrow();
  });
  test('strings quoted and escaped', () => {
    expect(formatConfValue('128MB')).toBe("'128MB'");
    expect(formatConfValue("it's")).toBe("'it''s'");
    expect(formatConfValue('C:\\dir')).toBe("'C:\\\\dir'");
    expect(formatConfValue('a\nb')).toBe("'a\\nb'");
    expect(formatConfValue('')).toBe("''");
    expect(() => formatConfValue('a\0')).toThrow(/NUL/);
  });
  test.each(["it's", 'back\\slash', "\\'", "''", 'a\nb\rc', '#not a comment', 'pässwörd 日本', '%m [%p] %q%u@%d '])(
    'round-trips %j through parseConf',
    (v) => {
      expect(parseConf(`x = ${formatConfValue(v)}\n`).get('x')).toBe(v);
    },
  );
});

describe('parseConf', () => {
  const text = [
    '# -----------------------------',
    '# PostgreSQL configuration file',
    '',
    "listen_addresses = '*'\t\t# what IP address(es) to listen on;",
    'max_connections = 100',
    'Shared_Buffers = 128MB   # min 128kB',
    '#work_mem = 4MB',
    'work_mem 8MB',
    'enable_seqscan=of#no spaces',
    "search_path = '\"$user\", public'",
    "application_name = 'it''s \\'quoted\\' \\\\ \\101\\t!'",
    'lc_messages = C.UTF-8',
    'my_ext.setting = foo-bar.baz:/x',
    'random_page_cost = .5e1',
    'temp_buffers = 0x10',
    "include 'extra.conf'",
    "include_if_exists = 'maybe.conf'",
    "INCLUDE_DIR 'conf.d'",
    'max_connections = 200',
    '   ',
    'last_line = -5',
  ].join('\n');

  test('values, names lower-cased, last occurrence wins', () => {
    const m = parseConf(text);
    expect(Object.fromEntries(m)).toEqual({
      listen_addresses: '*',
      shared_buffers: '128MB',
      work_mem: '8MB',
      enable_seqscan: 'of',
      search_path: '"$user", public',
      application_name: "it's 'quoted' \\ A\t!",
      lc_messages: 'C.UTF-8',
      'my_ext.setting': 'foo-bar.baz:/x',
      random_page_cost: '.5e1',
      temp_buffers: '0x10',
      max_connections: '200',
      last_line: '-5',
    });
    expect([...m.keys()].indexOf('max_connections')).toBe(m.size - 2); // position of the effective line
  });

  test('include directives are reported separately', () => {
    expect(parseConfDirectives(text)).toEqual([
      { directive: 'include', path: 'extra.conf', line: 16 },
      { directive: 'include_if_exists', path: 'maybe.conf', line: 17 },
      { directive: 'include_dir', path: 'conf.d', line: 18 },
    ]);
  });

  test('items keep line numbers', () => {
    expect(parseConfItems(text).find((i) => i.name === 'work_mem')).toEqual({ name: 'work_mem', value: '8MB', line: 8 });
  });

  test('CRLF line endings and no trailing newline', () => {
    expect(Object.fromEntries(parseConf('a = 1\r\nb = on\r\n'))).toEqual({ a: '1', b: 'on' });
    expect(Object.fromEntries(parseConf('a = 1'))).toEqual({ a: '1' });
    expect(parseConf('').size).toBe(0);
  });

  // Each rejected by `postgres -C` of PostgreSQL 15 with "syntax error in file".
  test.each([
    'work_mem = 1.5MB', // a REAL cannot carry a unit unquoted
    'statement_timeout = 1.5s',
    'search_path = a.b', // a qualified name is not a value
    'include_dir conf.d', // ... which bites directory names: quote them
    "search_path = 'x' 'y'",
    'work_mem =',
    '= 5',
    "name = 'unterminated",
    'path = /var/lib',
    'a = b, c',
    '5 = 5',
  ])('syntax error: %s', (line) => {
    expect(() => parseConf(`ok = 1\n${line}\n`)).toThrow(/line 2/);
  });
});

describe('unquoteConfString', () => {
  test('escapes of DeescapeQuotedString', () => {
    expect(unquoteConfString("'a''b'")).toBe("a'b");
    expect(unquoteConfString("'a\\'b'")).toBe("a'b");
    expect(unquoteConfString("'\\b\\f\\n\\r\\t'")).toBe('\b\f\n\r\t');
    expect(unquoteConfString("'\\101\\1010\\x'")).toBe('AA0x');
  });
});

describe('renderConf', () => {
  test('header, sorted settings, trailing newline', () => {
    const out = renderConf(
      { work_mem: '64MB', max_connections: 200, Enable_Seqscan: false, 'auto_explain.log_min_duration': '1s', search_path: "it's" },
      ['Managed by Ansible (socle.postgresql)', '', 'Do not edit'],
    );
    expect(out).toBe(
      [
        '# Managed by Ansible (socle.postgresql)',
        '#',
        '# Do not edit',
        "auto_explain.log_min_duration = '1s'",
        'Enable_Seqscan = off',
        'max_connections = 200',
        "search_path = 'it''s'",
        "work_mem = '64MB'",
        '',
      ].join('\n'),
    );
    expect(Object.fromEntries(parseConf(out))).toEqual({
      'auto_explain.log_min_duration': '1s',
      enable_seqscan: 'off',
      max_connections: '200',
      search_path: "it's",
      work_mem: '64MB',
    });
  });

  test('empty', () => {
    expect(renderConf({}, [])).toBe('');
    expect(renderConf({ a: 1 }, [])).toBe('a = 1\n');
  });

  test('rejects names that could inject lines, and case duplicates', () => {
    expect(() => renderConf({ 'a = 1\nb': 1 }, [])).toThrow(/invalid/);
    expect(() => renderConf({ 'a b': 1 }, [])).toThrow(/invalid/);
    expect(() => renderConf({ '1a': 1 }, [])).toThrow(/invalid/);
    expect(() => renderConf({ work_mem: 1, WORK_MEM: 2 }, [])).toThrow(/twice/);
  });

  test('multi-line header entries become several comment lines', () => {
    expect(renderConf({}, ['a\nb'])).toBe('# a\n# b\n');
  });
});
