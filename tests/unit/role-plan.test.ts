// Pure planning of roles: catalog rows and file texts in, SQL and file edits out.
import type { RoleCatalog, RoleRow } from '../../modules/lib/role/catalog';
import { referencedNames } from '../../modules/lib/role/catalog';
import { orderRoles } from '../../modules/lib/role';
import { planRole, settingValueSql, splitNameList, transactionGroups, type PlanContext } from '../../modules/lib/role/plan';
import { normalizeSpec, type RoleSpec } from '../../modules/lib/role/spec';
import { md5Verifier, scramVerifier } from '../../modules/lib/pg/scram';

const HBA = [
  '# header',
  'host all admin 10.0.0.1/32 trust',
  '# BEGIN socle auth',
  'local all all peer map=socle',
  '# END socle auth',
  '',
].join('\n');

function row(name: string, extra: Partial<RoleRow> = {}): RoleRow {
  return {
    name,
    superuser: false,
    inherit: true,
    createrole: false,
    createdb: false,
    login: false,
    replication: false,
    bypassrls: false,
    connection_limit: -1,
    password: null,
    valid_until: null,
    member_of: [],
    config: [],
    ...extra,
  };
}

function ctx(rows: RoleRow[] = [], extra: Partial<PlanContext> = {}): PlanContext {
  const catalog: RoleCatalog = {
    major: 15,
    roles: new Map(rows.map((r) => [r.name, r])),
    validUntil: new Map([['2030-01-01', '2030-01-01 00:00:00+00'], ['infinity', 'infinity']]),
    parameters: new Map([
      ['work_mem', { context: 'user', vartype: 'integer', unit: 'kB' }],
      ['search_path', { context: 'user', vartype: 'string', unit: null }],
      ['shared_buffers', { context: 'postmaster', vartype: 'integer', unit: '8kB' }],
      ['log_statement', { context: 'superuser', vartype: 'enum', unit: null }],
    ]),
  };
  return { catalog, created: new Set(), hbaText: HBA, passfileText: '', passfilePath: '/p/.pgpass', port: 5433, ...extra };
}

const plan = (spec: RoleSpec, c = ctx()) => planRole(normalizeSpec(spec), c);
const shown = (spec: RoleSpec, c = ctx()) => plan(spec, c).statements.map((s) => s.shown);

describe('a new role', () => {
  test('only what differs from PostgreSQL defaults is written; everything quoted', () => {
    expect(shown({ name: 'a"b', login: true, inherit: false, connection_limit: 3, valid_until: '2030-01-01' })).toEqual([
      `CREATE ROLE "a""b" NOINHERIT LOGIN CONNECTION LIMIT 3 VALID UNTIL '2030-01-01'`,
    ]);
    expect(shown({ name: 'plain' })).toEqual(['CREATE ROLE "plain"']);
    expect(shown({ name: 'x', valid_until: 'infinity', connection_limit: -1 })).toEqual(['CREATE ROLE "x"']);
  });

  test('the password is masked when shown and sent as a SCRAM verifier', () => {
    const p = plan({ name: "o'k", password: "it's secret" });
    expect(p.statements[0].shown).toBe(`CREATE ROLE "o'k" PASSWORD '********'`);
    const sql = p.statements[0].sql();
    expect(sql).toMatch(/^CREATE ROLE "o'k" PASSWORD 'SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+'$/);
    expect(sql).not.toContain('secret');
    expect(p.after).toMatchObject({ state: 'present', password: '(changed)' });
    expect(p.change).toBe("create role o'k (password)");
  });

  test('memberships, configuration, change line and state after', () => {
    const p = plan({ name: 'app', login: true, memberships: ['grp', { role: 'old', state: 'absent' }], configuration: { work_mem: '4MB', Search_Path: '"$user", public' } }, ctx([row('grp'), row('old')]));
    expect(p.statements.map((s) => s.shown)).toEqual([
      'CREATE ROLE "app" LOGIN',
      'GRANT "grp" TO "app"',
      `ALTER ROLE "app" SET "search_path" = '$user', 'public'`,
      `ALTER ROLE "app" SET "work_mem" = '4MB'`,
    ]);
    expect(p.change).toBe('create role app (LOGIN, grant grp, set search_path, work_mem)');
    expect(p.before).toEqual({ state: 'absent' });
    expect(p.after).toMatchObject({ memberships: ['grp'], configuration: { work_mem: '4MB', search_path: '"$user", public' }, connection_limit: -1, valid_until: 'infinity' });
  });

  test('a membership in a role created by the same batch is allowed; a missing one is refused', () => {
    expect(() => plan({ name: 'app', memberships: ['nobody'] })).toThrow("option 'memberships': role 'nobody' does not exist");
    expect(shown({ name: 'app', memberships: ['grp'] }, ctx([], { created: new Set(['grp']) }))).toEqual(['CREATE ROLE "app"', 'GRANT "grp" TO "app"']);
    // Revoking a membership in a missing role is nothing to do.
    expect(shown({ name: 'app', memberships: [{ role: 'nobody', state: 'absent' }] })).toEqual(['CREATE ROLE "app"']);
  });
});

describe('an existing role', () => {
  const scram = scramVerifier('pw');
  const existing = row('app', { login: true, password: scram, member_of: ['grp'], config: ['work_mem=4MB', 'search_path="$user", public'], valid_until: '2030-01-01 00:00:00+00', connection_limit: 3 });

  test('the same declaration is no change, even written differently', () => {
    const p = plan({ name: 'app', login: true, password: 'pw', memberships: ['grp'], configuration: { work_mem: '4096kB', search_path: '"$user",public' }, valid_until: '2030-01-01', connection_limit: 3 }, ctx([existing, row('grp')]));
    expect(p.statements).toEqual([]);
    expect(p.change).toBeNull();
    expect(p.before).toEqual(p.after);
    expect(p.after).toMatchObject({ password: '(set)' });
  });

  test('options not given are left as they are', () => {
    const p = plan({ name: 'app', login: true }, ctx([existing]));
    expect(p.statements).toEqual([]);
    expect(p.after).toMatchObject({ connection_limit: 3, valid_until: '2030-01-01 00:00:00+00', memberships: ['grp'], configuration: { work_mem: '4MB' } });
  });

  test('changed attributes go in one ALTER ROLE, with the password', () => {
    const p = plan({ name: 'app', login: false, createrole: true, password: 'other', connection_limit: -1, valid_until: 'infinity' }, ctx([existing]));
    expect(p.statements.map((s) => s.shown)).toEqual([`ALTER ROLE "app" CREATEROLE NOLOGIN CONNECTION LIMIT -1 VALID UNTIL 'infinity' PASSWORD '********'`]);
    expect(p.change).toBe("alter role app (CREATEROLE, NOLOGIN, CONNECTION LIMIT -1, VALID UNTIL 'infinity', password)");
    expect(p.after).toMatchObject({ password: '(changed)', login: false, createrole: true, connection_limit: -1, valid_until: 'infinity' });
  });

  test('an md5 verifier that matches is no change; an encrypted password is compared as is', () => {
    const md5 = row('legacy', { password: md5Verifier('pw', 'legacy') });
    expect(plan({ name: 'legacy', password: 'pw' }, ctx([md5])).statements).toEqual([]);
    expect(plan({ name: 'legacy', password: 'PW' }, ctx([md5])).statements).toHaveLength(1);
    expect(plan({ name: 'legacy', encrypted_password: md5Verifier('pw', 'legacy') }, ctx([md5])).statements).toEqual([]);
    const p = plan({ name: 'legacy', encrypted_password: scram }, ctx([md5]));
    expect(p.statements.map((s) => s.shown)).toEqual([`ALTER ROLE "legacy" PASSWORD '********'`]);
    expect(p.statements[0].sql()).toBe(`ALTER ROLE "legacy" PASSWORD '${scram}'`);
  });

  test('revoke, reset one parameter, reset all', () => {
    expect(shown({ name: 'app', login: true, memberships: [{ role: 'grp', state: 'absent' }], configuration: { work_mem: '8MB' } }, ctx([existing]))).toEqual([
      'REVOKE "grp" FROM "app"',
      `ALTER ROLE "app" SET "work_mem" = '8MB'`,
      'ALTER ROLE "app" RESET "search_path"',
    ]);
    expect(shown({ name: 'app', login: true, configuration: {} }, ctx([existing]))).toEqual(['ALTER ROLE "app" RESET ALL']);
    expect(shown({ name: 'app', login: true, configuration: {} }, ctx([row('app', { login: true })]))).toEqual([]);
  });

  test('from PostgreSQL 16 a membership is revoked GRANTED BY each role that granted it', () => {
    const on = (...grantors: string[]) => grantors.map((grantor) => ({ grantor, inherit: true }));
    const granted = row('app', { member_of: ['grp', 'other'], grants: { grp: on('admin', 'postgres'), other: on('postgres') } });
    const revokeBoth = { name: 'app', memberships: [{ role: 'grp', state: 'absent' as const }, { role: 'other', state: 'absent' as const }] };
    const at = (major: number) => {
      const c = ctx([granted]);
      c.catalog.major = major;
      return shown(revokeBoth, c);
    };
    expect(at(15)).toEqual(['REVOKE "grp", "other" FROM "app"']);
    expect(at(16)).toEqual(['REVOKE "grp" FROM "app" GRANTED BY "admin"', 'REVOKE "grp", "other" FROM "app" GRANTED BY "postgres"']);
    // Grantors not known: the bare form.
    const c = ctx([row('app', { member_of: ['grp'] })]);
    c.catalog.major = 17;
    expect(shown({ name: 'app', memberships: [{ role: 'grp', state: 'absent' }] }, c)).toEqual(['REVOKE "grp" FROM "app"']);
  });

  test('from PostgreSQL 16 the declared memberships pass privileges on as the role\'s inherit says', () => {
    const granted = row('app', { member_of: ['grp', 'other'], grants: { grp: [{ grantor: 'admin', inherit: true }, { grantor: 'postgres', inherit: false }], other: [{ grantor: 'postgres', inherit: true }] } });
    const at = (major: number, spec: RoleSpec) => {
      const c = ctx([granted, row('grp'), row('other')]);
      c.catalog.major = major;
      return plan(spec, c);
    };
    const noInherit: RoleSpec = { name: 'app', inherit: false, memberships: ['grp', 'other'] };
    expect(at(15, noInherit).statements.map((s) => s.shown)).toEqual(['ALTER ROLE "app" NOINHERIT']);
    const p = at(17, noInherit);
    expect(p.statements.map((s) => s.shown)).toEqual([
      'ALTER ROLE "app" NOINHERIT',
      'GRANT "grp" TO "app" WITH INHERIT FALSE GRANTED BY "admin"',
      'GRANT "other" TO "app" WITH INHERIT FALSE GRANTED BY "postgres"',
    ]);
    expect(p.change).toBe('alter role app (NOINHERIT, no inherit through grp, other)');
    // Memberships not declared are left alone; inherit (the default) on 17 sets back the one grant without it.
    expect(at(17, { name: 'app', memberships: ['grp'] }).statements.map((s) => s.shown)).toEqual(['GRANT "grp" TO "app" WITH INHERIT TRUE GRANTED BY "postgres"']);
    expect(at(17, { name: 'app', memberships: ['other'] }).statements).toEqual([]);
  });

  test('parameters: unknown or server-wide ones are refused naming the option; extension ones accepted', () => {
    expect(() => plan({ name: 'app', configuration: { work_mme: 1 } })).toThrow("option 'configuration.work_mme': unknown PostgreSQL parameter");
    expect(() => plan({ name: 'app', configuration: { shared_buffers: '1GB' } })).toThrow("option 'configuration.shared_buffers': cannot be set per role");
    expect(() => planRole(normalizeSpec({ name: 'app', configuration: { nope: 1 } }, 'roles[2].'), ctx())).toThrow("option 'roles[2].configuration.nope'");
    expect(shown({ name: 'app', configuration: { 'pg_stat_statements.track': 'all', log_statement: true } })).toEqual([
      'CREATE ROLE "app"',
      `ALTER ROLE "app" SET "log_statement" = 'on'`,
      `ALTER ROLE "app" SET "pg_stat_statements"."track" = 'all'`,
    ]);
  });
});

describe('dropping', () => {
  test('a missing role: nothing to do', () => {
    const p = plan({ name: 'gone', state: 'absent', drop_owned: true });
    expect(p.statements).toEqual([]);
    expect(p.change).toBeNull();
    expect(p.before).toEqual({ state: 'absent' });
  });

  test('drop_owned runs in every database, the main one last, each in a transaction', () => {
    const p = plan({ name: 'old', state: 'absent', drop_owned: true }, ctx([row('old')], { databases: { current: 'postgres', all: ['app', 'postgres'] } }));
    expect(transactionGroups(p.statements).map((g) => g.map((s) => s.shown))).toEqual([
      ['/* database "app" */ DROP OWNED BY "old"'],
      ['BEGIN', 'DROP OWNED BY "old"', 'DROP ROLE "old"', 'COMMIT'],
    ]);
    expect(p.change).toBe('drop role old (objects dropped in app, postgres)');
  });

  test('reassign_owned reassigns then drops what is left; its target must exist', () => {
    const c = ctx([row('old'), row('heir')], { databases: { current: 'postgres', all: ['postgres', 'x y'] } });
    const groups = transactionGroups(plan({ name: 'old', state: 'absent', reassign_owned: 'heir' }, c).statements);
    expect(groups.map((g) => g.map((s) => s.shown))).toEqual([
      ['/* database "x y" */ BEGIN', '/* database "x y" */ REASSIGN OWNED BY "old" TO "heir"', '/* database "x y" */ DROP OWNED BY "old"', '/* database "x y" */ COMMIT'],
      ['BEGIN', 'REASSIGN OWNED BY "old" TO "heir"', 'DROP OWNED BY "old"', 'DROP ROLE "old"', 'COMMIT'],
    ]);
    expect(groups[0].every((s) => s.database === 'x y')).toBe(true);
    expect(() => plan({ name: 'old', state: 'absent', reassign_owned: 'nobody' }, ctx([row('old')]))).toThrow("option 'reassign_owned': role 'nobody' does not exist");
  });

  test('its pg_hba.conf block and passfile entry go with it', () => {
    const hba = HBA.replace('# BEGIN socle auth', '# BEGIN socle role "old"\nlocal all "old" trust\n# END socle role "old"\n# BEGIN socle auth');
    const p = plan({ name: 'old', state: 'absent' }, ctx([row('old')], { hbaText: hba, passfileText: '*:5433:*:old:pw\n*:5432:*:old:pw\n' }));
    expect(p.statements.map((s) => s.shown)).toEqual(['DROP ROLE "old"']);
    expect(p.hbaText).toBe(HBA);
    expect(p.passfileText).toBe('*:5432:*:old:pw\n');
    expect(p.before).toMatchObject({ hba_records: ['local all "old" trust'], pgpass: true });
    expect(p.after).toEqual({ state: 'absent' });
  });
});

describe('pg_hba.conf records', () => {
  const records: RoleSpec['hba_records'] = [
    { connection: { type: 'host', address: '10.0.0.0/8' }, database: 'app', method: 'scram-sha-256', state: 'present' },
    { database: 'all', method: 'peer', state: 'present' },
  ];

  test('a new block goes before the instance rules; re-planning the result is no change', () => {
    const p = plan({ name: 'Élodie "x"', hba_records: records });
    expect(p.hba?.summary).toBe('role Élodie "x" (+2)');
    expect(p.hbaText).toBe([
      '# header',
      'host all admin 10.0.0.1/32 trust',
      '# BEGIN socle role "Élodie ""x"""',
      'host    app             "Élodie ""x"""  10.0.0.0/8              scram-sha-256',
      'local   all             "Élodie ""x"""                          peer',
      '# END socle role "Élodie ""x"""',
      '# BEGIN socle auth',
      'local all all peer map=socle',
      '# END socle auth',
      '',
    ].join('\n'));
    const again = plan({ name: 'Élodie "x"', hba_records: records }, ctx([row('Élodie "x"')], { hbaText: p.hbaText }));
    expect(again.hba).toBeNull();
    expect(again.before).toEqual(again.after);
    // The edit is re-applied to the file as read at apply time (here: changed meanwhile).
    expect(p.hba!.edit(HBA.replace('# header', '# other header'))).toBe(p.hbaText!.replace('# header', '# other header'));
  });

  test('an equivalent record is recognised; absent removes it; an emptied block is removed', () => {
    const hba = HBA.replace('# BEGIN socle auth', '# BEGIN socle role "app"\nhost app app 10.0.0.0 255.0.0.0 scram-sha-256\n# END socle role "app"\n# BEGIN socle auth');
    expect(plan({ name: 'app', hba_records: records.slice(0, 1) }, ctx([], { hbaText: hba })).hba).toBeNull();
    const p = plan({ name: 'app', hba_records: [{ ...records[0], state: 'absent' }] }, ctx([], { hbaText: hba }));
    expect(p.hba?.summary).toBe('role app (-1)');
    expect(p.hbaText).toBe(HBA);
  });

  test('databases with special characters are quoted, keywords and lists are not', () => {
    const lines = (database: string) => plan({ name: 'r', hba_records: [{ database, method: 'md5', state: 'present' }] }).after;
    expect(lines('my db')).toMatchObject({ hba_records: ['local   "my db"         "r"                                     md5'] });
    expect(lines('a,b')).toMatchObject({ hba_records: ['local   a,b             "r"                                     md5'] });
    expect(lines('replication')).toMatchObject({ hba_records: ['local   replication     "r"                                     md5'] });
    expect(lines('@file')).toMatchObject({ hba_records: ['local   "@file"         "r"                                     md5'] });
  });
});

describe('the passfile', () => {
  test('pgpass keeps the entry, once', () => {
    const p = plan({ name: 'a:b', password: 'p:w\\', pgpass: true });
    expect(p.passfileText).toBe('*:5433:*:a\\:b:p\\:w\\\\\n');
    expect(plan({ name: 'a:b', password: 'p:w\\', pgpass: true }, ctx([], { passfileText: p.passfileText })).passfile).toBeNull();
  });
  test('pgpass false removes it; no passfile in the settings is an error only for pgpass true', () => {
    expect(plan({ name: 'app', pgpass: false }, ctx([], { passfileText: '*:5433:*:app:x\n*:5433:*:other:y\n' })).passfileText).toBe('*:5433:*:other:y\n');
    expect(plan({ name: 'app', pgpass: false }, ctx([], { passfileText: null, passfilePath: null })).passfile).toBeNull();
    expect(() => plan({ name: 'app', password: 'x', pgpass: true }, ctx([], { passfileText: null, passfilePath: null }))).toThrow("option 'pgpass': the site settings name no passfile");
  });
});

describe('helpers', () => {
  test('name lists as the server stores them', () => {
    expect(splitNameList('"$user", public')).toEqual(['$user', 'public']);
    expect(splitNameList('a,"b ""c"", d" ,e')).toEqual(['a', 'b "c", d', 'e']);
    expect(splitNameList('')).toEqual([]);
    expect(settingValueSql('search_path', "x', y")).toBe("'x''', 'y'");
    expect(settingValueSql('search_path', '')).toBe("''");
    expect(settingValueSql('work_mem', 64)).toBe("'64'");
  });

  test('roles are ordered so that a batch creates a group before its members; absent ones last', () => {
    const specs = [{ name: 'gone', state: 'absent' as const }, { name: 'member', memberships: ['group'] }, { name: 'group', memberships: ['top'] }, { name: 'top' }];
    expect(orderRoles(specs.map((s) => normalizeSpec(s))).map((r) => r.name)).toEqual(['top', 'group', 'member', 'gone']);
    expect(referencedNames([normalizeSpec({ name: 'a', memberships: ['b'], state: 'absent', reassign_owned: 'c' })])).toEqual(['a', 'b', 'c']);
  });

  test('declarations that cannot be applied fail naming the option', () => {
    expect(() => normalizeSpec({ name: 'x'.repeat(64) })).toThrow("option 'name': 'xxx");
    expect(() => normalizeSpec({ name: 'a', memberships: ['a'] })).toThrow("option 'memberships[0]': role 'a' cannot be a member of itself");
    expect(() => normalizeSpec({ name: 'a', password: 'x', encrypted_password: 'y' }, 'roles[1].')).toThrow("options 'roles[1].password' and 'roles[1].encrypted_password' are mutually exclusive");
    expect(() => normalizeSpec({ name: 'a', drop_owned: true })).toThrow("option 'drop_owned' is only allowed with state: absent");
    expect(() => normalizeSpec({ name: 'a', pgpass: true })).toThrow("option 'pgpass' needs option 'password'");
    expect(() => normalizeSpec({ name: 'a', configuration: { Work_Mem: 1, work_mem: 2 } })).toThrow("'work_mem' is given twice");
  });
});
