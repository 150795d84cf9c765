// The pure parts of the database planner: conninfo strings, settings, names, spec normalisation.
import { conninfoValue, maskConninfo, parseConninfo, passwordOf, renderConninfo, sameConninfo, splitPassword, withPassword } from '../../modules/lib/pg/conninfo';
import { collectSecrets, CONNINFO_PASSWORD } from '../../modules/lib/secrets';
import { parameterSql, planSettings, settingEqual, splitList, valueSql } from '../../modules/lib/database/settings';
import { normalizeSpec, parseQualifiedName } from '../../modules/lib/database/spec';
import { ModuleError } from '../../modules/lib/runtime';

const id = (p: string) => p;

describe('conninfo', () => {
  test('parses bare and quoted values with escapes, like libpq', () => {
    const info = parseConninfo(`host=127.0.0.1  port = 5432 dbname='Pub "source"' user='o\\'brien' application_name=a\\ b`);
    expect([...info]).toEqual([['host', '127.0.0.1'], ['port', '5432'], ['dbname', 'Pub "source"'], ['user', "o'brien"], ['application_name', 'a b']]);
    expect(() => parseConninfo('host')).toThrow(/missing "="/);
    expect(() => parseConninfo("dbname='x")).toThrow(/unterminated/);
  });

  test('writes values libpq reads back the same', () => {
    for (const v of ['plain', 'with space', "quote'd", 'back\\slash', '']) {
      expect(parseConninfo(`k=${conninfoValue(v)}`).get('k')).toBe(v);
    }
    const info = new Map([['dbname', "Robert'); DROP TABLE x;--"], ['host', '/tmp/a b']]);
    expect(parseConninfo(renderConninfo(info))).toEqual(info);
  });

  test('the password is appended for the server and masked for people', () => {
    const c = withPassword('host=h dbname=d', "p'w d");
    expect(c.shown).toBe('host=h dbname=d password=********');
    expect(parseConninfo(c.real).get('password')).toBe("p'w d");
    expect(withPassword('host=h', undefined)).toEqual({ real: 'host=h', shown: 'host=h' });
  });

  test('compares keywords regardless of order', () => {
    expect(sameConninfo(parseConninfo('a=1 b=2'), parseConninfo("b='2' a=1"))).toBe(true);
    expect(sameConninfo(parseConninfo('a=1 b=2'), parseConninfo('a=1 b=2 password=x'))).toBe(false);
  });

  test('masks passwords in keyword/value strings and URIs', () => {
    expect(maskConninfo("host=h password='se cret' dbname=d")).toBe('host=h password=******** dbname=d');
    expect(maskConninfo('postgresql://u:secret@h:5432/d')).toBe('postgresql://u:********@h:5432/d');
    expect(maskConninfo('postgresql://h/d?password=secret&x=1')).toBe('postgresql://h/d?password=********&x=1');
    expect(maskConninfo('host=h')).toBe('host=h');
    expect(passwordOf('host=h password=pw')).toBe('pw');
    expect(passwordOf('postgresql://u:p%40w@h/d')).toBe('p@w');
    expect(passwordOf('host=h')).toBeUndefined();
  });

  test('a password is taken out of a dsn, in both forms, to go through the environment (issue 12, item 3)', () => {
    expect(splitPassword("host=h password='se cret' dbname=d")).toEqual({ dsn: 'host=h dbname=d', password: 'se cret' });
    expect(splitPassword('postgresql://u:p%40ss@h:5432/d')).toEqual({ dsn: 'postgresql://u@h:5432/d', password: 'p@ss' });
    // several hosts (which the WHATWG URL parser refuses), a password in the query, other parameters kept
    expect(splitPassword('postgres://u:pw@h1:5432,h2:5433/d?sslmode=require&password=q%26w&application_name=x')).toEqual({
      dsn: 'postgres://u@h1:5432,h2:5433/d?sslmode=require&application_name=x',
      password: 'q&w',
    });
    expect(splitPassword('postgresql://h/d?password=only')).toEqual({ dsn: 'postgresql://h/d', password: 'only' });
    expect(splitPassword('postgresql://u@h/d')).toEqual({ dsn: 'postgresql://u@h/d' });
    expect(splitPassword('postgresql:///d?host=/tmp')).toEqual({ dsn: 'postgresql:///d?host=/tmp' });
    expect(splitPassword('host=h')).toEqual({ dsn: 'host=h' });
  });

  test('the password of a connection string option is a secret of the result', () => {
    const secrets = collectSecrets({ clone: { dsn: 'postgresql://u:e@h/d' }, databases: [{ clone: { dsn: 'host=h password=hunter2' } }] }, [
      ['clone', 'dsn', CONNINFO_PASSWORD],
      ['databases', '*', 'clone', 'dsn', CONNINFO_PASSWORD],
    ]);
    expect(secrets).toEqual(['hunter2', 'e']);
  });
});

describe('database settings', () => {
  test('list parameters are split into elements, quotes removed', () => {
    expect(splitList('"$user", public')).toEqual(['$user', 'public']);
    expect(splitList('"$user" ,  "select" ,public')).toEqual(['$user', 'select', 'public']);
    expect(splitList('"a,b", "c""d"')).toEqual(['a,b', 'c"d']);
    expect(splitList('')).toEqual([]);
    expect(splitList('""')).toEqual([]);
    expect(valueSql('search_path', '"$user", public')).toBe("'$user', 'public'");
    expect(valueSql('search_path', '')).toBe("''");
    expect(valueSql('work_mem', '4MB')).toBe("'4MB'");
    expect(valueSql('enable_seqscan', false)).toBe("'off'");
    expect(valueSql('statement_timeout', 100)).toBe("'100'");
    expect(parameterSql('app.tenant')).toBe('"app"."tenant"');
  });

  test('values compare the way PostgreSQL reads them', () => {
    expect(settingEqual('work_mem', '4096kB', '4MB')).toBe(true);
    expect(settingEqual('enable_seqscan', false, 'off')).toBe(true);
    expect(settingEqual('enable_seqscan', 'false', 'off')).toBe(true);
    expect(settingEqual('search_path', '"$user",public', '"$user", public')).toBe(true);
    expect(settingEqual('search_path', 'a, b', '"a, b"')).toBe(false);
    expect(settingEqual('work_mem', '4MB', '8MB')).toBe(false);
  });

  test('plans SET for what differs, RESET for what is not declared, RESET ALL for {}', () => {
    expect(planSettings('d', undefined, ['work_mem=4MB']).statements).toEqual([]);
    expect(planSettings('d', {}, ['work_mem=4MB']).statements).toEqual(['ALTER DATABASE "d" RESET ALL']);
    expect(planSettings('d', {}, []).statements).toEqual([]);
    const p = planSettings("it's", { work_mem: '4096kB', Maintenance_Work_Mem: '64MB' }, ['work_mem=4MB', 'search_path=a', 'maintenance_work_mem=32MB']);
    expect(p.statements).toEqual([`ALTER DATABASE "it's" SET "Maintenance_Work_Mem" TO '64MB'`, `ALTER DATABASE "it's" RESET "search_path"`]);
    expect(p.set).toEqual(['Maintenance_Work_Mem']);
    expect(p.reset).toEqual(['search_path']);
    expect(p.after).toEqual({ work_mem: '4MB', Maintenance_Work_Mem: '64MB' });
  });
});

describe('spec normalisation', () => {
  test('qualified table names, quoted parts kept whole', () => {
    expect(parseQualifiedName('orders')).toEqual(['public', 'orders']);
    expect(parseQualifiedName('shop.Orders')).toEqual(['shop', 'Orders']);
    expect(parseQualifiedName('"my.schema"."a ""b"""')).toEqual(['my.schema', 'a "b"']);
    expect(parseQualifiedName('a.b.c')).toBeNull();
    expect(parseQualifiedName('a.')).toBeNull();
    expect(parseQualifiedName('"open')).toBeNull();
  });

  test('names or objects become objects; privileges are expanded and upper case', () => {
    const s = normalizeSpec(
      {
        name: 'd',
        state: 'present',
        force_drop: false,
        schemas: ['a', { name: 'b', owner: 'o' }],
        extensions: ['x', { name: 'y', state: 'absent' }],
        privileges: [
          { role: 'public', privileges: ['temp', 'Connect'], on: 'database', state: 'present' },
          { role: 'r', privileges: ['all'], on: 'sequences', schema: 's', state: 'absent' },
        ],
      },
      id,
    );
    expect(s.schemas).toEqual([
      { name: 'a', owner: undefined, state: 'present', path: 'schemas[0]' },
      { name: 'b', owner: 'o', state: 'present', path: 'schemas[1]' },
    ]);
    expect(s.extensions?.map((e) => [e.name, e.state])).toEqual([['x', 'present'], ['y', 'absent']]);
    expect(s.privileges?.[0]).toMatchObject({ role: 'PUBLIC', privileges: ['TEMPORARY', 'CONNECT'] });
    expect(s.privileges?.[1]).toMatchObject({ role: 'r', privileges: ['SELECT', 'UPDATE', 'USAGE'], state: 'absent' });
  });

  test('every bad option is named, with the caller\'s prefix', () => {
    const path = (p: string) => `databases[3].${p}`;
    let err: unknown;
    try {
      normalizeSpec(
        {
          name: 'x'.repeat(64),
          state: 'present',
          force_drop: true,
          privileges: [{ role: 'r', privileges: ['SELECT'], on: 'database', state: 'present' }, { role: 'r', privileges: ['USAGE'], on: 'tables', schema: 's', state: 'present' }],
          publications: [{ name: 'p', tables: ['a.b.c'], state: 'present' }],
          subscriptions: [{ name: 's', connection: { conninfo: 'postgresql://h/d' }, publications: [], enabled: true, state: 'present' }],
          settings: { 'bad name': 1 },
        },
        path,
      );
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ModuleError);
    const msg = (err as Error).message;
    expect(msg).toContain("option 'databases[3].name': 'xxxx");
    expect(msg).toContain('longer than 63 bytes');
    expect(msg).toContain("option 'databases[3].force_drop' is only valid with state: absent");
    expect(msg).toContain("option 'databases[3].privileges[0].privileges': SELECT is not a privilege on database");
    expect(msg).toContain("option 'databases[3].privileges[1].privileges': USAGE is not a privilege on tables");
    expect(msg).toContain("option 'databases[3].publications[0].tables[0]': expected table or schema.table");
    expect(msg).toContain("option 'databases[3].subscriptions[0].publications' is required");
    expect(msg).toContain("option 'databases[3].subscriptions[0].connection.conninfo': write it in keyword=value form");
    expect(msg).toContain("option 'databases[3].settings.bad name': not a parameter name");
  });
});
