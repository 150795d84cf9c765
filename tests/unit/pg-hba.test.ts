import {
  formatHbaRecord,
  HbaRecord,
  hbaQuote,
  hbaRecordsEqual,
  parseHba,
  parseHbaRecord,
  readBlock,
  replaceBlock,
} from '../../modules/lib/pg/hba';

describe('parseHba', () => {
  // The expectations mirror what PostgreSQL 15's pg_hba_file_rules view reported for this file.
  const file = [
    '# TYPE  DATABASE        USER            ADDRESS                 METHOD',
    '',
    'local all postgres trust',
    'host db1, db2 ,alice 10.0.0.1 255.255.255.0 md5',
    'host "all","my db" "+grp",+admins samehost scram-sha-256',
    'hostssl "a""b",x all 0.0.0.0/0 cert clientcert=verify-full map=m1',
    'host all all ::1/128 trust #comment',
    'host all all example.COM ldap ldapserver="a b" ldapprefix="cn=" ldapsuffix=", dc=x"',
    'host all all 127.0.0.1/32 \\',
    '  trust',
    'host all all 127.0.0.1/32 trust#x',
    'host all all ldapserver=a,b ldap',
    'host "db x"#y all samenet trust',
    '   # indented comment',
    'bogus all all trust',
  ].join('\n') + '\n';
  const lines = parseHba(file);

  test('every line is kept, continuation lines joined', () => {
    expect(lines.map((l) => l.line).join('\n') + '\n').toBe(file);
    expect(lines).toHaveLength(14);
    expect(lines[0]).toEqual({ line: '# TYPE  DATABASE        USER            ADDRESS                 METHOD' });
    expect(lines[1]).toEqual({ line: '' });
    expect(lines[12]).toEqual({ line: '   # indented comment' });
  });

  test('records', () => {
    expect(lines[2].record).toEqual({ type: 'local', database: 'all', user: 'postgres', method: 'trust' });
    // "db1, db2 ,alice": a blank after a comma continues the list, a blank before it ends the field.
    expect(lines[3].record).toEqual({
      type: 'host',
      database: 'db1,db2',
      user: 'alice',
      address: '10.0.0.1',
      netmask: '255.255.255.0',
      method: 'md5',
    });
    expect(lines[4].record).toEqual({
      type: 'host',
      database: '"all","my db"',
      user: '"+grp",+admins',
      address: 'samehost',
      method: 'scram-sha-256',
    });
    expect(lines[5].record).toEqual({
      type: 'hostssl',
      database: '"a""b",x',
      user: 'all',
      address: '0.0.0.0/0',
      method: 'cert',
      options: 'clientcert=verify-full map=m1',
    });
    expect(lines[6].record).toEqual({ type: 'host', database: 'all', user: 'all', address: '::1/128', method: 'trust' });
    expect(lines[7].record?.options).toBe('ldapserver="a b" ldapprefix="cn=" ldapsuffix=", dc=x"');
    expect(lines[7].record?.address).toBe('example.COM');
    expect(lines[8].record).toEqual({ type: 'host', database: 'all', user: 'all', address: '127.0.0.1/32', method: 'trust' });
    expect(lines[9].record?.method).toBe('trust'); // '#' ends the token
  });

  test('errors as PostgreSQL reports them', () => {
    expect(lines[10].record).toBeUndefined();
    expect(lines[10].error).toBe('multiple values specified for host address');
    expect(lines[11].error).toBe('end-of-line before role'); // "#" right after a quoted token starts a comment
    expect(lines[13].error).toMatch(/invalid connection type "bogus"/);
  });

  test('CRLF and no trailing newline', () => {
    const l = parseHba('local all all peer\r\nhost all all 10.0.0.0/8 md5');
    expect(l.map((x) => x.record?.method)).toEqual(['peer', 'md5']);
    expect(parseHba('')).toEqual([]);
  });
});

describe('formatHbaRecord', () => {
  test('aligned like pg_hba.conf.sample', () => {
    expect(formatHbaRecord({ type: 'local', database: 'all', user: 'all', method: 'trust' })).toBe(
      'local   all             all                                     trust',
    );
    expect(formatHbaRecord({ type: 'host', database: 'all', user: 'all', address: '127.0.0.1/32', method: 'trust' })).toBe(
      'host    all             all             127.0.0.1/32            trust',
    );
    expect(
      formatHbaRecord({ type: 'host', database: 'replication', user: 'all', address: '::1/128', method: 'scram-sha-256' }),
    ).toBe('host    replication     all             ::1/128                 scram-sha-256');
  });

  test('netmask, options and overlong fields', () => {
    expect(
      formatHbaRecord({
        type: 'hostssl',
        database: 'a_very_long_database_name',
        user: 'u',
        address: '10.0.0.0',
        netmask: '255.0.0.0',
        method: 'cert',
        options: '  clientcert=verify-full   map=m ',
      }),
    ).toBe('hostssl a_very_long_database_name u               10.0.0.0 255.0.0.0      cert clientcert=verify-full map=m');
  });

  test('round-trips through the parser', () => {
    const recs: HbaRecord[] = [
      { type: 'host', database: hbaQuote('my db') + ',' + hbaQuote('a"b'), user: '+admins', address: 'db.example.com', method: 'md5' },
      { type: 'hostnossl', database: 'all', user: hbaQuote('all'), address: 'samenet', method: 'reject' },
      { type: 'hostgssenc', database: 'all', user: 'all', address: '0.0.0.0/0', method: 'gss', options: 'include_realm=0 krb_realm=EXAMPLE.COM' },
      { type: 'hostnogssenc', database: '@dbs.txt', user: 'all', address: 'fe80::1', netmask: 'ffff::', method: 'reject' },
    ];
    for (const r of recs) {
      const parsed = parseHbaRecord(formatHbaRecord(r));
      expect(parsed).toEqual(r);
    }
  });

  test('refuses records that would not read back or are incomplete', () => {
    const base: HbaRecord = { type: 'host', database: 'all', user: 'all', address: '10.0.0.0/8', method: 'md5' };
    expect(() => formatHbaRecord({ ...base, database: 'my db' })).toThrow(/read back/);
    expect(() => formatHbaRecord({ ...base, user: 'a#b' })).toThrow(/read back/);
    expect(() => formatHbaRecord({ ...base, method: 'md5\nlocal all all trust' })).toThrow(/one line/);
    expect(() => formatHbaRecord({ ...base, address: undefined })).toThrow(/address/);
    expect(() => formatHbaRecord({ type: 'local', database: 'all', user: 'all', address: '::1/128', method: 'peer' })).toThrow(/local/);
    expect(() => formatHbaRecord({ ...base, type: 'hostx' as HbaRecord['type'] })).toThrow(/type/);
    expect(() => formatHbaRecord({ ...base, method: '' })).toThrow(/required/);
    expect(() => formatHbaRecord({ ...base, address: '10.0.0.1' })).toThrow(/read back/); // an IP needs a netmask
  });
});

describe('hbaQuote', () => {
  test('quotes and doubles quotes', () => {
    expect(hbaQuote('all')).toBe('"all"');
    expect(hbaQuote('a"b')).toBe('"a""b"');
    expect(hbaQuote('my db,x')).toBe('"my db,x"');
    expect(() => hbaQuote('a\nb')).toThrow();
  });
});

describe('hbaRecordsEqual', () => {
  const r = (line: string) => parseHbaRecord(line);
  test('whitespace and alignment do not matter', () => {
    expect(hbaRecordsEqual(r('host all all 127.0.0.1/32 md5'), r('host\tall   all    127.0.0.1/32\t\tmd5   '))).toBe(true);
    expect(hbaRecordsEqual(r('host db1,db2 all 10.0.0.0/8 md5'), r('host db1, db2 all 10.0.0.0/8 md5'))).toBe(true);
  });
  test('list order matters', () => {
    expect(hbaRecordsEqual(r('host db1,db2 all 10.0.0.0/8 md5'), r('host db2,db1 all 10.0.0.0/8 md5'))).toBe(false);
  });
  test('quoting matters only for keywords and prefixes', () => {
    expect(hbaRecordsEqual(r('host "mydb" all 10.0.0.0/8 md5'), r('host mydb all 10.0.0.0/8 md5'))).toBe(true);
    expect(hbaRecordsEqual(r('host "all" all 10.0.0.0/8 md5'), r('host all all 10.0.0.0/8 md5'))).toBe(false);
    expect(hbaRecordsEqual(r('host all "+g" 10.0.0.0/8 md5'), r('host all +g 10.0.0.0/8 md5'))).toBe(false);
    expect(hbaRecordsEqual(r('host MyDb all 10.0.0.0/8 md5'), r('host mydb all 10.0.0.0/8 md5'))).toBe(false);
  });
  test('address forms', () => {
    expect(hbaRecordsEqual(r('host all all 127.0.0.1 255.255.255.255 md5'), r('host all all 127.0.0.1/32 md5'))).toBe(true);
    expect(hbaRecordsEqual(r('host all all 10.0.0.0 255.0.0.0 md5'), r('host all all 10.0.0.0/8 md5'))).toBe(true);
    expect(hbaRecordsEqual(r('host all all 10.0.0.0 255.0.0.0 md5'), r('host all all 10.0.0.0/16 md5'))).toBe(false);
    expect(hbaRecordsEqual(r('host all all DB.example.com md5'), r('host all all db.example.com md5'))).toBe(true);
    expect(hbaRecordsEqual(r('host all all ::1/128 md5'), r('host all all ::1/64 md5'))).toBe(false);
  });
  test('type, method and options', () => {
    expect(hbaRecordsEqual(r('host all all 10.0.0.0/8 md5'), r('hostssl all all 10.0.0.0/8 md5'))).toBe(false);
    expect(hbaRecordsEqual(r('host all all 10.0.0.0/8 md5'), r('host all all 10.0.0.0/8 scram-sha-256'))).toBe(false);
    expect(hbaRecordsEqual(r('hostssl all all 0/0 cert map=a clientcert=verify-full'), r('hostssl all all 0/0 cert clientcert=verify-full  map=a'))).toBe(true);
    expect(hbaRecordsEqual(r('hostssl all all 0/0 cert map=a'), r('hostssl all all 0/0 cert map=b'))).toBe(false);
    expect(hbaRecordsEqual(r('hostssl all all 0/0 cert map=a'), r('hostssl all all 0/0 cert'))).toBe(false);
    expect(hbaRecordsEqual(r('local all all peer'), r('local all all peer map=x'))).toBe(false);
  });
});

describe('replaceBlock / readBlock', () => {
  const original = ['# admin stuff', 'local all postgres peer', '', '# trailing comment'].join('\n') + '\n';

  test('appends a block when absent, keeping the rest', () => {
    const out = replaceBlock(original, 'socle', ['host all all 10.0.0.0/8 md5']);
    expect(out).toBe(original + '# BEGIN socle\nhost all all 10.0.0.0/8 md5\n# END socle\n');
    expect(readBlock(out, 'socle')).toEqual(['host all all 10.0.0.0/8 md5']);
    expect(readBlock(original, 'socle')).toBeNull();
  });

  test('replaces the block in place', () => {
    const text = 'a\n# BEGIN m\nold1\nold2\n# END m\nb\n';
    expect(replaceBlock(text, 'm', ['new'])).toBe('a\n# BEGIN m\nnew\n# END m\nb\n');
    expect(replaceBlock(text, 'm', [])).toBe('a\n# BEGIN m\n# END m\nb\n');
    expect(readBlock(replaceBlock(text, 'm', []), 'm')).toEqual([]);
  });

  test('idempotent', () => {
    const once = replaceBlock(original, 'x', ['l1', 'l2']);
    expect(replaceBlock(once, 'x', ['l1', 'l2'])).toBe(once);
  });

  test('other markers and text without trailing newline', () => {
    const text = '# BEGIN other\nkeep\n# END other\nlast';
    const out = replaceBlock(text, 'mine', ['x']);
    expect(out).toBe('# BEGIN other\nkeep\n# END other\nlast\n# BEGIN mine\nx\n# END mine\n');
    expect(readBlock(out, 'other')).toEqual(['keep']);
    expect(replaceBlock('', 'm', ['x'])).toBe('# BEGIN m\nx\n# END m\n');
  });

  test('duplicate blocks collapse into the first', () => {
    const text = '# BEGIN m\n1\n# END m\nmiddle\n# BEGIN m\n2\n# END m\n';
    expect(replaceBlock(text, 'm', ['3'])).toBe('# BEGIN m\n3\n# END m\nmiddle\n');
  });

  test('CRLF lines outside the block stay untouched', () => {
    const text = 'a\r\n# BEGIN m\r\nold\r\n# END m\r\nb\r\n';
    expect(replaceBlock(text, 'm', ['new'])).toBe('a\r\n# BEGIN m\nnew\n# END m\nb\r\n');
    expect(readBlock(text, 'm')).toEqual(['old']);
  });

  test('errors', () => {
    expect(() => replaceBlock('# BEGIN m\nx\n', 'm', [])).toThrow(/without/);
    expect(() => readBlock('# BEGIN m\nx\n', 'm')).toThrow(/without/);
    expect(() => replaceBlock('', 'm', ['a\nb'])).toThrow(/line breaks/);
    expect(() => replaceBlock('', 'm', ['# END m'])).toThrow(/markers/);
    expect(() => replaceBlock('', '', [])).toThrow(/marker/);
    expect(() => replaceBlock('', 'a\nb', [])).toThrow(/marker/);
  });

  test('marker match is exact: a prefix marker is another block', () => {
    const text = '# BEGIN socle-extra\nx\n# END socle-extra\n';
    expect(readBlock(text, 'socle')).toBeNull();
  });
});
