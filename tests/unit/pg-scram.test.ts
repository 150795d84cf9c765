import {
  md5Verifier,
  parseScramVerifier,
  passwordMatches,
  passwordType,
  saslprep,
  scramVerifier,
} from '../../modules/lib/pg/scram';

/*
 * Fixtures produced by a real PostgreSQL 15.18 server (UTF8 database):
 *   SET password_encryption = 'scram-sha-256';   CREATE ROLE <role> LOGIN PASSWORD E'<password>';
 *   SELECT rolname, rolpassword FROM pg_authid;
 * The notes say which SASLprep path each password exercises.
 */
interface ScramFixture {
  role: string;
  password: string;
  note: string;
  stored: string;
}

const SCRAM_FIXTURES: ScramFixture[] = [
  { role: "s_pencil", password: 'pencil', note: "ASCII",
    stored: "SCRAM-SHA-256$4096:pLiFIq2OVf++IuBEUtDDEw==$a313dsi+fD+801rJENoPcltOMAN67XcA2e5h9OyI1HI=:IUiit5WBOfPymZxvuvwVYc1ZG5x+YNUbQeh/ymu8Ie4=" },
  { role: "s_umlaut_nfc", password: 'p\u00E4ssw\u00F6rd', note: "precomposed umlauts",
    stored: "SCRAM-SHA-256$4096:efrPbHAMtJMcPxhLk0VdPg==$l+UO39Rg0ERFppS7xD2SfehVQ5BaYnBMpI6YWbZQyzk=:JCZo9HbO5/Hm5iO5ACW4Kd1mjxLJXPd52/Q2UE/N8YA=" },
  { role: "s_umlaut_nfd", password: 'pa\u0308sswo\u0308rd', note: "decomposed umlauts: NFKC composes them",
    stored: "SCRAM-SHA-256$4096:UryjwxKr3RLO776OaKblqw==$EuO/gaj33/FFnRz9yyOuyT1rT069mm7ABenvpCyQ3gs=:vrXb451jKByyaWl73ULc3/+DdLqP7izkhWJA/+PDNCU=" },
  { role: "s_fullwidth", password: '\uFF41\uFF42\uFF43', note: "fullwidth: NFKC gives abc",
    stored: "SCRAM-SHA-256$4096:ixzEOTj1BV2NcO+90Vg9rQ==$v7sSXyKLsH98nEUZZ8ZnPr+dq9vcVk4ayk1ttcsYfsE=:VvtdFNfJZnVGx18qioh5Ru3XMcMRANq7E3XzOzjL+2c=" },
  { role: "s_nbsp", password: 'pass\u00A0word', note: "no-break space mapped to space",
    stored: "SCRAM-SHA-256$4096:JWYC3U0PnYB/rtUm2fVJIg==$ppQiJDGm/CzKCpKtA78vs+rIW+e59/t5iNAkJtVA+H4=:yDrPZgy3G7S7vaz+12js87xQaEnSzARuq0nAyhygBog=" },
  { role: "s_softhyphen", password: 'pass\u00ADword', note: "soft hyphen mapped to nothing",
    stored: "SCRAM-SHA-256$4096:cX7hQWki3XH2uQjKeb32Ow==$rAIp7bF5JufTGkZNMSr/ruMZXX7wlDR0YkVI6KlVUVE=:ZERpu9UDvX0ikHw/ZQjgki+a2t7yqOzPVkhhOsxfBS4=" },
  { role: "s_roman", password: '\u216B', note: "ROMAN NUMERAL TWELVE: NFKC gives XII",
    stored: "SCRAM-SHA-256$4096:O07I9Us/iIxYFn1U004REQ==$CeoH96EbLNilr526ZStZHg6tGMKiZgJpm4eyC7rUfng=:SS25Y4uY2lE83XMjLax7M17gCpjzG681nXcbTlg9W5I=" },
  { role: "s_ligature", password: '\uFB01x', note: "fi ligature",
    stored: "SCRAM-SHA-256$4096:N7/6LNKSyxq+JS8QlZQOfA==$Jipfge2p17jI6x4A/R9JcBmLrGY60eddjIJ7YaxXQ5E=:TCDC82J5qoJI/pbRd/QZ99jcqoF99a7PyyqKijx3Etk=" },
  { role: "s_emoji", password: 'pw\u{1F600}', note: "emoji: unassigned in Unicode 3.2, raw bytes",
    stored: "SCRAM-SHA-256$4096:BEEz5XoF7qbzON4qlFb0uA==$oFLxeDR3ytsZoe+3aXFOWXd97GwblRe24roZFLruM6A=:Tl8fbSVRJtEsdqgeBVEp5SHKnCtsVI/rmrJSnDDHbzE=" },
  { role: "s_bidi_bad", password: 'a\u05D0', note: "L + RandAL mixed: bidi violation, raw bytes",
    stored: "SCRAM-SHA-256$4096:zJnRmrvdlXKbR2CRFuYzKw==$VKp4N4lgOYh6xErNw7hquHy+USvLoxJ2d7nQLMTpL6k=:2sliaWuoahxV1e1CLIirtRI+lrSeSkqal3uOxT0ae8M=" },
  { role: "s_bidi_ok", password: '\u05D0\u05D1', note: "RandAL only",
    stored: "SCRAM-SHA-256$4096:OV5KGBarWqSAXjEVNRbfww==$h4o7Oipga9s2KHYiRRV0r+UZLiPNaoyTfTGvpk6VIKk=:02wMamih+S5pIYSYRj3Yo48k5Wyxdo5bA4cdBTk0/3g=" },
  { role: "s_ctrl_nonascii", password: '\u00E9\u0007', note: "non-ASCII with a control character: prohibited, raw bytes",
    stored: "SCRAM-SHA-256$4096:59NXzcLUzBhPGCQEEiLlHg==$0hnk8UUzeGH9vuw9kU9eSFFlX5aK/99RB4YO3OC/e7U=:p3sGHLnyi6GL6SI9s5vEW4MAYs5SMf8fxu7UDTMj2DE=" },
  { role: "s_only_nothing", password: '\u00AD', note: "empty after mapping: raw bytes",
    stored: "SCRAM-SHA-256$4096:/Oev7p18E/nxtFYrmNo4Bg==$uOJ75TGfPgBSgk+AlEV2t1pqvAM87b+/YzlhOdS5hNo=:2TDllOxRjFtEUo7ihStZAPGCcLirwI+9VldTc8jDrbE=" },
  { role: "s_ascii_ctrl", password: 'a\u0001b', note: "ASCII fast path with a control character",
    stored: "SCRAM-SHA-256$4096:6H1/N/uU9py4KFyC0OOhNQ==$ltyCW9A9yRf39ZuLtN/Z354S0PEzzSXfUZ/PNjuNFjQ=:QqkBHF9CffhxZk9onLwHQKLbLAHtYgdSCRpGawuQmPY=" },
  { role: "s_cjk", password: '\u65E5\u672C', note: "CJK",
    stored: "SCRAM-SHA-256$4096:8gucFjoP0HpqxarzCQXuaA==$0LcfjZSW37pVMT2A5h70DpQIC3RAGlx/rcgdnvje27Q=:FRTPb/TiViv0IAJmse6l1RWWLC5d6N9JbBPXhwuZm9c=" },
  { role: "s_quote", password: "it's a \\ back", note: "quote and backslash",
    stored: "SCRAM-SHA-256$4096:ye0rFyaWVsaZ+ibaaWmO+w==$ZlOTO5K6QVpbzg2wE0JOTpMMoHIu7OQKkqWWCKJERPI=:VMtSWY75h1xIKkXFPAoS19QjbBUUg6261nltUWKdJKE=" },
  { role: "s_acct", password: '\u05D0\u2100\u05D0', note: "bidi checked BEFORE NFKC: U+2100 becomes a/c (LCat) yet is accepted",
    stored: "SCRAM-SHA-256$4096:CxQ/RbUK4ZALjtoHv5/F4Q==$Jug7pS7buL8QFkC3MqFHRQU00rSDbvg0qNHdZOE+fRw=:HN5Eey7xAejFSTsTBvVYtfUMMeB6FgIQd64WrWu1t+U=" },
  { role: "s_tone", password: 'e\u0340', note: "prohibited checked BEFORE NFKC: U+0340 (C.8) rejected though NFKC maps it to U+0300",
    stored: "SCRAM-SHA-256$4096:0zJNLfBcIFHY6GqWaBYuig==$4EQmrzgJFGhD4+HO8sCCDu1BSfod4L3Vrl4C+QTWmZc=:Avi45Lu97oLR4Z74qHJ1xY7ApXxCOqfQ6d8CJdhX9YI=" },
  { role: "s_paren", password: 'x\u2474', note: "PARENTHESIZED DIGIT ONE: NFKC gives (1)",
    stored: "SCRAM-SHA-256$4096:Rh2mhQcAyFLuLXNybKUNxA==$wS3/8wnB3gJI/w2D3l8cjpEc0SP5tpDqwIYLAXDQ1bk=:JquJbxmzrT4rEEzhzIoHnx/27/us9FHJC1cozlBVfxg=" },
  { role: "s_ideospace", password: 'a\u3000b\u200Bc', note: "ideographic space to space; U+200B is in both tables, space wins",
    stored: "SCRAM-SHA-256$4096:5hOMIB55Ge4XsmTiKjt+fQ==$8xElihvgD3E1ithyjUwEylE60/lHMmFuYqTwwG+ksE8=:D2nDe0IctfAkJpvtf6O5G00mIx3Plys9BIFaokdFB7k=" },
];

const MD5_FIXTURES = [
  { role: "m_pencil", password: 'pencil', stored: "md5bef09426a7c817af2f9349e842261495" },
  { role: "m_umlaut", password: 'p\u00E4ssw\u00F6rd', stored: "md52703e5cf02e84c0c8bdb53140b083206" },
  { role: "m_rôle", password: 'pencil', stored: "md5b1070af4b8b3c373fbd65065c991a7c9" },
  { role: "M_Upper", password: '\uFF41\uFF42\uFF43', stored: "md5ed3dfae2ce0c302c681ac17305e00ef3" },
];

function saltAndIterations(stored: string): { salt: Buffer; iterations: number } {
  const p = parseScramVerifier(stored);
  if (!p) throw new Error(`not a SCRAM verifier: ${stored}`);
  return { salt: p.salt, iterations: p.iterations };
}

describe('scramVerifier reproduces PostgreSQL byte for byte', () => {
  test.each(SCRAM_FIXTURES)('$role ($note)', ({ password, stored }) => {
    expect(scramVerifier(password, saltAndIterations(stored))).toBe(stored);
  });
});

describe('passwordMatches against PostgreSQL verifiers', () => {
  test.each(SCRAM_FIXTURES)('SCRAM $role', ({ role, password, stored }) => {
    expect(passwordMatches(password, role, stored)).toBe(true);
    expect(passwordMatches(password + 'x', role, stored)).toBe(false);
    expect(passwordMatches('', role, stored)).toBe(false);
  });

  test.each(MD5_FIXTURES)('md5 $role', ({ role, password, stored }) => {
    expect(md5Verifier(password, role)).toBe(stored);
    expect(passwordMatches(password, role, stored)).toBe(true);
    expect(passwordMatches(password + 'x', role, stored)).toBe(false);
    // md5 is salted with the role name: the same password under another role does not match.
    expect(passwordMatches(password, role + 'x', stored)).toBe(false);
  });

  test('SCRAM is not salted with the role name', () => {
    const f = SCRAM_FIXTURES.find((x) => x.role === 's_pencil')!;
    expect(passwordMatches('pencil', 'someone_else', f.stored)).toBe(true);
  });

  test('md5 uses the raw password: no SASLprep (fullwidth abc is not abc)', () => {
    const f = MD5_FIXTURES.find((x) => x.role === 'M_Upper')!;
    expect(passwordMatches('abc', 'M_Upper', f.stored)).toBe(false);
    expect(passwordMatches('\uFF41\uFF42\uFF43', 'm_upper', f.stored)).toBe(false); // role name is case-sensitive
  });

  test('equivalent spellings under SASLprep match the same SCRAM verifier', () => {
    const nfc = SCRAM_FIXTURES.find((x) => x.role === 's_umlaut_nfc')!;
    expect(passwordMatches('pa\u0308sswo\u0308rd', 'x', nfc.stored)).toBe(true);
    const full = SCRAM_FIXTURES.find((x) => x.role === 's_fullwidth')!;
    expect(passwordMatches('abc', 'x', full.stored)).toBe(true);
    const nbsp = SCRAM_FIXTURES.find((x) => x.role === 's_nbsp')!;
    expect(passwordMatches('pass word', 'x', nbsp.stored)).toBe(true);
    const shy = SCRAM_FIXTURES.find((x) => x.role === 's_softhyphen')!;
    expect(passwordMatches('password', 'x', shy.stored)).toBe(true);
    const roman = SCRAM_FIXTURES.find((x) => x.role === 's_roman')!;
    expect(passwordMatches('XII', 'x', roman.stored)).toBe(true);
  });

  test('when SASLprep fails the raw bytes are hashed: the normalised spelling does NOT match', () => {
    // U+0340 is prohibited (C.8) in the input, so PostgreSQL hashes 'e\u0340' as is,
    // although NFKC would turn it into U+00E8.
    const tone = SCRAM_FIXTURES.find((x) => x.role === 's_tone')!;
    expect(passwordMatches('\u00E8', 'x', tone.stored)).toBe(false);
    expect(passwordMatches('e\u0300', 'x', tone.stored)).toBe(false);
    // An only-"mapped to nothing" password is hashed raw, not as the empty string.
    const nothing = SCRAM_FIXTURES.find((x) => x.role === 's_only_nothing')!;
    expect(passwordMatches('\u00AD', 'x', nothing.stored)).toBe(true);
  });

  test('null, unknown formats and NUL passwords never match', () => {
    expect(passwordMatches('pencil', 'r', null)).toBe(false);
    expect(passwordMatches('pencil', 'r', 'pencil')).toBe(false); // plain text is not a verifier
    expect(passwordMatches('pencil', 'r', '')).toBe(false);
    expect(passwordMatches('pencil', 'm_pencil', 'MD5BEF09426A7C817AF2F9349E842261495')).toBe(false);
    expect(passwordMatches('pencil', 'r', 'SCRAM-SHA-256$4096:abc$def:ghi')).toBe(false);
    expect(passwordMatches('pen\0cil', 'r', SCRAM_FIXTURES[0].stored)).toBe(false);
  });
});

describe('saslprep', () => {
  test('ASCII is returned unchanged, even with control characters (PostgreSQL fast path)', () => {
    expect(saslprep('pencil')).toBe('pencil');
    expect(saslprep('a\u0001b\u007f')).toBe('a\u0001b\u007f');
    expect(saslprep('')).toBe('');
    expect(saslprep('  spaced  ')).toBe('  spaced  ');
  });

  test('mapping and NFKC', () => {
    expect(saslprep('p\u00E4ssw\u00F6rd')).toBe('p\u00E4ssw\u00F6rd');
    expect(saslprep('pa\u0308sswo\u0308rd')).toBe('p\u00E4ssw\u00F6rd');
    expect(saslprep('\uFF41\uFF42\uFF43')).toBe('abc');
    expect(saslprep('pass\u00A0word')).toBe('pass word');
    expect(saslprep('a\u2003b\u3000c')).toBe('a b c');
    expect(saslprep('pass\u00ADwo\u200Drd\uFEFF')).toBe('password');
    expect(saslprep('\u216B')).toBe('XII');
    expect(saslprep('\uFB01x')).toBe('fix');
    expect(saslprep('x\u2474')).toBe('x(1)');
    expect(saslprep('\u65E5\u672C')).toBe('\u65E5\u672C');
    expect(saslprep('I\u00A8')).toBe('I \u0308'); // U+00A8 DIAERESIS: compatibility-decomposes to space + combining
  });

  test('U+200B is both a "space" and "mapped to nothing": PostgreSQL maps it to a space', () => {
    expect(saslprep('a\u3000b\u200Bc')).toBe('a b c');
  });

  test('prohibited, unassigned (in Unicode 3.2) and empty-after-mapping give null', () => {
    expect(saslprep('\u00E9\u0007')).toBeNull(); // control character
    expect(saslprep('\u00E9\u0085')).toBeNull(); // C.2.2 non-ASCII control
    expect(saslprep('\u00E9\uE000')).toBeNull(); // private use
    expect(saslprep('\u00E9\uFFFD')).toBeNull(); // C.6 replacement character
    expect(saslprep('pw\u{1F600}')).toBeNull(); // emoji: unassigned in Unicode 3.2
    expect(saslprep('\u00E9\u0221')).toBeNull(); // U+0221: unassigned in 3.2 (assigned since 4.0)
    expect(saslprep('\u00E9\u{E0041}')).toBeNull(); // C.9 tag character
    expect(saslprep('\u00AD')).toBeNull();
    expect(saslprep('\u00AD\uFEFF\u200D')).toBeNull();
    expect(saslprep('\u00E9\uD800')).toBeNull(); // lone surrogate: not valid UTF-8
  });

  test('bidi rules (RFC 3454 section 6)', () => {
    expect(saslprep('\u05D0\u05D1')).toBe('\u05D0\u05D1');
    expect(saslprep('\u05D01\u05D1')).toBe('\u05D01\u05D1'); // digits (EN) are neither L nor RandAL
    expect(saslprep('a\u05D0')).toBeNull(); // L and RandAL mixed
    expect(saslprep('\u05D01')).toBeNull(); // RandAL must also be last
    expect(saslprep('1\u05D0')).toBeNull(); // RandAL must also be first
  });

  test('PostgreSQL checks prohibited/bidi on the mapped input, before NFKC (not RFC-exact)', () => {
    // RFC 4013 would check NFKC's output, where U+2100 has become "a/c" (two LCat letters).
    expect(saslprep('\u05D0\u2100\u05D0')).toBe('\u05D0a/c\u05D0');
    // And would accept U+0340 because NFKC maps it to U+0300.
    expect(saslprep('e\u0340')).toBeNull();
  });
});

describe('scramVerifier', () => {
  test('defaults: 4096 iterations, 16-byte random salt, verifiable', () => {
    const a = scramVerifier('s3cret');
    const b = scramVerifier('s3cret');
    expect(a).not.toBe(b);
    const p = parseScramVerifier(a)!;
    expect(p.iterations).toBe(4096);
    expect(p.salt).toHaveLength(16);
    expect(p.storedKey).toHaveLength(32);
    expect(p.serverKey).toHaveLength(32);
    expect(a).toMatch(/^SCRAM-SHA-256\$4096:[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$/);
    expect(passwordMatches('s3cret', 'any', a)).toBe(true);
    expect(passwordMatches('s3cret ', 'any', a)).toBe(false);
  });

  test('iterations and salt are honoured', () => {
    const salt = Buffer.from('0123456789abcdef');
    const v = scramVerifier('pencil', { salt, iterations: 10000 });
    expect(v.startsWith(`SCRAM-SHA-256$10000:${salt.toString('base64')}$`)).toBe(true);
    expect(v).not.toBe(scramVerifier('pencil', { salt, iterations: 4096 }));
    expect(passwordMatches('pencil', 'r', v)).toBe(true);
  });

  test('rejects NUL, bad iteration counts and empty salts', () => {
    expect(() => scramVerifier('a\0b')).toThrow(/NUL/);
    expect(() => scramVerifier('a', { iterations: 0 })).toThrow(/iteration/);
    expect(() => scramVerifier('a', { iterations: 1.5 })).toThrow(/iteration/);
    expect(() => scramVerifier('a', { salt: Buffer.alloc(0) })).toThrow(/salt/);
    expect(() => md5Verifier('a\0b', 'r')).toThrow(/NUL/);
  });
});

describe('passwordType / parseScramVerifier', () => {
  test('classifies like PostgreSQL get_password_type()', () => {
    expect(passwordType(null)).toBeNull();
    expect(passwordType(SCRAM_FIXTURES[0].stored)).toBe('scram-sha-256');
    expect(passwordType('md5bef09426a7c817af2f9349e842261495')).toBe('md5');
    expect(passwordType('md5BEF09426A7C817AF2F9349E842261495')).toBe('plain'); // upper-case hex is not md5
    expect(passwordType('md5bef0942')).toBe('plain');
    expect(passwordType('pencil')).toBe('plain');
  });

  test('rejects malformed verifiers', () => {
    expect(parseScramVerifier('SCRAM-SHA-256$0:AAAA$' + 'A'.repeat(43) + '=:' + 'A'.repeat(43) + '=')).toBeNull();
    expect(parseScramVerifier('SCRAM-SHA-256$4096:AAAA$AAAA:AAAA')).toBeNull(); // keys not 32 bytes
    expect(parseScramVerifier('SCRAM-SHA-1$4096:AAAA$' + 'A'.repeat(43) + '=:' + 'A'.repeat(43) + '=')).toBeNull();
    const ok = parseScramVerifier('SCRAM-SHA-256$4096:AAAA$' + 'A'.repeat(43) + '=:' + 'A'.repeat(43) + '=');
    expect(ok?.iterations).toBe(4096);
    expect(ok?.salt).toEqual(Buffer.from([0, 0, 0]));
  });
});
