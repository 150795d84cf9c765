import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hbaAuthLines, managedParameters } from '../../modules/lib/instance/config';
import { layout, resolveVersion, systemdEscape } from '../../modules/lib/instance/layout';
import { changedParameters, restartNeeded, unknownParameters, type ParameterCatalog } from '../../modules/lib/instance/parameters';
import { systemdUnit } from '../../modules/lib/instance/service';
import { discoverVersions, resolveSettings, type SiteSettings } from '../../modules/lib/settings';

function settingsIn(dir: string, extra: Record<string, unknown> = {}): SiteSettings {
  const bin = join(dir, 'pg/{version}/bin');
  for (const v of ['13', '15']) {
    mkdirSync(join(dir, 'pg', v, 'bin'), { recursive: true });
    writeFileSync(join(dir, 'pg', v, 'bin', 'pg_ctl'), '');
  }
  return resolveSettings(
    {
      prefix: join(dir, 'srv'), run_prefix: join(dir, 'run'), lock_timeout: 5, systemd: { unit_path: join(dir, 'units') },
      postgresql: {
        bindir: bin, initdb: { locale: 'C', encoding: 'UTF8', data_checksums: false },
        auth: { local: 'peer', host: 'scram-sha-256', passfile: join(dir, 'pgpass') }, surole: { name: 'postgres', pgpass: false },
        datadir: 'pgsql/{version}/{name}/data', waldir: 'pgsql/{version}/{name}/wal', socket_directory: '{run_prefix}/pg', logpath: 'log',
      },
      ...extra,
    } as any,
    null,
  );
}

describe('settings and layout', () => {
  const dir = mkdtempSync(join(tmpdir(), 'socle-unit-'));
  const s = settingsIn(dir);

  test('versions are discovered from the bindir template; the newest is the default', () => {
    expect(discoverVersions(join(dir, 'pg/{version}/bin')).map((v) => v.version)).toEqual(['13', '15']);
    expect(s.postgresql.defaultVersion).toBe('15');
  });

  test('paths are resolved under prefix and run_prefix', () => {
    const l = layout(s, '15', 'main');
    expect(l.datadir).toBe(join(dir, 'srv/pgsql/15/main/data'));
    expect(l.socketDir).toBe(join(dir, 'run/pg'));
    expect(l.managedConf).toBe(join(l.datadir, 'socle.conf'));
    expect(l.unitName).toBe('socle-postgresql-15-main.service');
  });

  test('an existing instance is found in its version; a new one gets the default', () => {
    expect(resolveVersion(s, 'old')).toBe('15');
    mkdirSync(join(dir, 'srv/pgsql/13/old/data'), { recursive: true });
    writeFileSync(join(dir, 'srv/pgsql/13/old/data/PG_VERSION'), '13\n');
    expect(resolveVersion(s, 'old')).toBe('13');
    expect(() => resolveVersion(s, 'old', '15')).not.toThrow();
    writeFileSync(join(dir, 'srv/pgsql/13/old/data/PG_VERSION'), '12\n');
    expect(() => resolveVersion(s, 'old', '13')).toThrow(/holds PostgreSQL 12 data/);
  });

  test('unit names escape what systemd does not allow', () => {
    expect(systemdEscape('my app')).toBe('my\\x20app');
    expect(systemdEscape('a.b_c:1')).toBe('a.b_c:1');
  });

  test('the systemd unit runs pg_ctl for this instance, quoting paths with spaces', () => {
    const l = { ...layout(s, '15', 'main'), datadir: '/srv/my data' };
    const unit = systemdUnit(l);
    expect(unit).toContain('Type=forking');
    expect(unit).toContain('ExecStart=');
    expect(unit).toMatch(/start -D "\/srv\/my data" -w/);
    expect(unit).toContain('PIDFile="/srv/my data/postmaster.pid"');
    expect(unit).toContain('WantedBy=default.target');
  });
});

describe('parameters', () => {
  const catalog: ParameterCatalog = new Map([
    ['shared_buffers', { context: 'postmaster', vartype: 'integer', unit: '8kB', setting: '4096' }],
    ['work_mem', { context: 'user', vartype: 'integer', unit: 'kB', setting: '4096' }],
    ['log_connections', { context: 'superuser-backend', vartype: 'bool', unit: null, setting: 'off' }],
    ['max_connections', { context: 'postmaster', vartype: 'integer', unit: null, setting: '100', pendingRestart: false }],
  ]);

  test('values are compared as PostgreSQL reads them', () => {
    expect(changedParameters({ work_mem: '4MB', log_connections: 'on' }, { work_mem: '4096kB', log_connections: true }, catalog)).toEqual([]);
    expect(changedParameters({ shared_buffers: '32MB' }, { shared_buffers: 4096 }, catalog)).toEqual([]);
    expect(changedParameters({ work_mem: '4MB', a: 1 }, { work_mem: '8MB', b: 2 }, catalog)).toEqual(['a', 'b', 'work_mem']);
  });

  test('a restart is needed only for a postmaster parameter that differs from the running value', () => {
    expect(restartNeeded(['work_mem'], { work_mem: '8MB' }, catalog)).toBe(false);
    expect(restartNeeded(['shared_buffers'], { shared_buffers: '64MB' }, catalog)).toBe(true);
    // Back to the value in use: nothing waits for a restart.
    expect(restartNeeded(['shared_buffers'], { shared_buffers: '32MB' }, catalog)).toBe(false);
    // Removed from the file: the default may differ from what runs.
    expect(restartNeeded(['shared_buffers'], {}, catalog)).toBe(true);
  });

  test('a restart already pending stays pending', () => {
    const pending: ParameterCatalog = new Map([...catalog, ['max_connections', { ...catalog.get('max_connections')!, pendingRestart: true }]]);
    expect(restartNeeded([], {}, pending)).toBe(true);
  });

  test('unknown names are reported, extension parameters allowed', () => {
    expect(unknownParameters(['work_mem', 'work_mme', 'pg_stat_statements.max'], catalog)).toEqual(['work_mme']);
  });

  test('without listen_addresses in settings, the instance listens on localhost only (as pg_hba.conf admits)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'socle-unit-'));
    const l = layout(settingsIn(dir), '15', 'main');
    expect(managedParameters(l, 5433, { work_mem: '8MB' }).listen_addresses).toBe('localhost');
    expect(managedParameters(l, 5433, { Listen_Addresses: '*' }).listen_addresses).toBe('*');
  });

  test('socle.conf parameters: site base, user settings, port always from its option', () => {
    const dir = mkdtempSync(join(tmpdir(), 'socle-unit-'));
    const l = layout(settingsIn(dir), '15', 'main');
    const p = managedParameters(l, 5433, { Work_Mem: '8MB', listen_addresses: '127.0.0.1' });
    expect(p).toMatchObject({ port: 5433, work_mem: '8MB', listen_addresses: '127.0.0.1', cluster_name: '15/main', unix_socket_directories: l.socketDir });
  });

  describe('with components', () => {
    const l = layout(settingsIn(mkdtempSync(join(tmpdir(), 'socle-unit-'))), '15', 'main');

    test('defaults yield to the user, required values win, list entries are merged once', () => {
      const p = managedParameters(l, 5433, { work_mem: '8MB', Shared_Preload_Libraries: 'auto_explain, pg_stat_statements' }, [
        { component: 'a', needs: { defaults: { work_mem: '4MB', wal_level: 'replica' }, lists: { shared_preload_libraries: ['pg_stat_statements', 'pg_qualstats'] } } },
        { component: 'b', needs: { required: { archive_mode: 'on' }, lists: { shared_preload_libraries: ['pg_stat_kcache'] } } },
      ]);
      expect(p).toMatchObject({ work_mem: '8MB', wal_level: 'replica', archive_mode: 'on', shared_preload_libraries: 'auto_explain, pg_stat_statements, pg_qualstats, pg_stat_kcache' });
    });

    test('a user value contradicting a component, or two components disagreeing, is an error naming them', () => {
      expect(() => managedParameters(l, 5433, { archive_mode: 'off' }, [{ component: 'pgbackrest', needs: { required: { archive_mode: 'on' } } }]))
        .toThrow("option 'settings.archive_mode': off contradicts component pgbackrest, which needs archive_mode = on");
      expect(() => managedParameters(l, 5433, {}, [
        { component: 'x', needs: { required: { wal_level: 'replica' } } },
        { component: 'y', needs: { required: { wal_level: 'logical' } } },
      ])).toThrow('parameter wal_level: component x needs replica, component y needs logical');
    });
  });
});

describe('pg_hba.conf from auth', () => {
  test('peer maps the owner through pg_ident; host rules cover loopback; hostssl only when asked', () => {
    const lines = hbaAuthLines({ local: 'peer', host: 'scram-sha-256', hostssl: null });
    expect(lines).toHaveLength(6);
    expect(lines[0]).toMatch(/^local\s+all\s+all\s+peer map=socle$/);
    expect(lines[1]).toMatch(/^host\s+all\s+all\s+127\.0\.0\.1\/32\s+scram-sha-256$/);
    expect(lines.some((l) => l.startsWith('hostssl'))).toBe(false);
    const ssl = hbaAuthLines({ local: 'trust', host: 'md5', hostssl: 'cert' });
    expect(ssl).toContain(ssl.find((l) => /^hostssl\s+all\s+all\s+all\s+cert$/.test(l)));
    expect(ssl[0]).toMatch(/\strust$/);
  });

  test('a replication role may connect from any address, always with a password', () => {
    expect(hbaAuthLines({ local: 'peer', host: 'md5', hostssl: null }, 'repl user').pop()).toMatch(/^host\s+replication\s+"repl user"\s+all\s+md5$/);
    expect(hbaAuthLines({ local: 'peer', host: 'trust', hostssl: null }, 'replicator').pop()).toMatch(/^host\s+replication\s+"replicator"\s+all\s+scram-sha-256$/);
  });
});
