// What differs between PostgreSQL majors (modules/lib/pg/versions.ts), and the code that asks.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initdbArgs } from '../../modules/lib/instance/create';
import { layout } from '../../modules/lib/instance/layout';
import * as versions from '../../modules/lib/pg/versions';
import { resolveSettings } from '../../modules/lib/settings';

test('a major from server_version_num or a directory name', () => {
  expect(versions.majorOf(150004)).toBe(15);
  expect(versions.majorOf('170012')).toBe(17);
  expect(versions.majorOf('17')).toBe(17);
  expect(() => versions.majorOf('x')).toThrow('not a PostgreSQL version: x');
});

test('each difference starts at its major', () => {
  const from = (f: (m: number) => unknown) => [13, 14, 15, 16, 17, 18].find((m) => f(m));
  expect(from(versions.publicSchemaOwnedByDatabaseOwner)).toBe(15);
  expect(from(versions.publicationsOfSchemas)).toBe(15);
  expect(from(versions.membershipsPerGrantor)).toBe(16);
  expect(from(versions.hbaRulesNameTheirFile)).toBe(16);
  expect(from((m) => versions.tablePrivileges(m).includes('MAINTAIN'))).toBe(17);
  expect(from(versions.initdbChecksumsByDefault)).toBe(18);
});

test('initdb is told to leave checksums off where they would be on by default', () => {
  const dir = mkdtempSync(join(tmpdir(), 'socle-unit-'));
  for (const v of ['17', '18']) {
    mkdirSync(join(dir, 'pg', v, 'bin'), { recursive: true });
    writeFileSync(join(dir, 'pg', v, 'bin', 'pg_ctl'), '');
  }
  const s = resolveSettings(
    {
      prefix: join(dir, 'srv'), run_prefix: join(dir, 'run'), lock_timeout: 5, systemd: { unit_path: join(dir, 'units') },
      postgresql: {
        bindir: join(dir, 'pg/{version}/bin'), initdb: { locale: 'C', encoding: 'UTF8', data_checksums: false },
        auth: { local: 'peer', host: 'scram-sha-256' }, surole: { name: 'postgres', pgpass: false },
        datadir: 'pgsql/{version}/{name}/data', waldir: 'pgsql/{version}/{name}/wal', socket_directory: '{run_prefix}/pg', logpath: 'log',
      },
    } as any,
    null,
  );
  const args = (v: string, opts: Record<string, unknown> = {}) => initdbArgs(s, layout(s, v, 'main'), { name: 'main', ...opts } as any, null);
  expect(args('17')).not.toContain('--no-data-checksums');
  expect(args('17')).not.toContain('--data-checksums');
  expect(args('18')).toContain('--no-data-checksums');
  expect(args('18', { data_checksums: true })).toContain('--data-checksums');
  expect(args('18', { data_checksums: true })).not.toContain('--no-data-checksums');
});
