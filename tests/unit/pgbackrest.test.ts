// pgBackRest's configuration texts, restore arguments and `info` output (no process here).
import { targetArgs } from '../../modules/lib/components/pgbackrest/module';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { archiveCommand, parseInfo, stanzaHasBackup, withInstance, withoutInstance, type PgbackrestSite } from '../../modules/lib/components/pgbackrest/site';

const site: PgbackrestSite = {
  execpath: '/usr/bin/pgbackrest',
  configpath: '/srv/etc/pgbackrest',
  logpath: '/srv/log/pgbackrest',
  spoolpath: '/srv/spool',
  lockpath: '/run/pgbackrest/lock',
  repository: { mode: 'path', path: '/srv/repo', retention: { full: 2, diff: 3, archive: 2 } },
  backuprole: 'backup', backupStandby: false,
};

test('a primary and its standby share a stanza file, one index each, kept across rewrites', () => {
  const primary = withInstance('main', null, { datadir: '/d/primary', port: 5432, user: 'backup', socketDir: '/run/pg' });
  expect(primary).toBe('# managed by socle.postgresql: changes are overwritten\n[main]\npg1-path=/d/primary\npg1-port=5432\npg1-user=backup\npg1-socket-path=/run/pg\n');
  const both = withInstance('main', primary, { datadir: '/d/standby', port: 5433, user: 'backup', socketDir: null });
  expect(both).toContain('pg2-path=/d/standby\npg2-port=5433\npg2-user=backup\n');
  // A new port of the primary rewrites its lines only, in place.
  const moved = withInstance('main', both, { datadir: '/d/primary', port: 6432, user: 'backup', socketDir: '/run/pg' });
  expect(moved).toBe(both.replace('pg1-port=5432', 'pg1-port=6432'));
  // The primary leaves: the standby keeps its index; the last one out removes the file.
  const left = withoutInstance('main', moved, '/d/primary');
  expect(left).not.toContain('pg1-');
  expect(left).toContain('pg2-path=/d/standby');
  expect(withoutInstance('main', left, '/d/standby')).toBeNull();
});

test('backup_standby: backup-standby=y only while the stanza has a standby (pgBackRest refuses it otherwise)', () => {
  const primary = withInstance('main', null, { datadir: '/d/primary', port: 5432, user: 'backup', socketDir: '/run/pg' }, true);
  expect(primary).not.toContain('backup-standby');
  const both = withInstance('main', primary, { datadir: '/d/standby', port: 5433, user: 'backup', socketDir: null }, true);
  expect(both).toMatch(/^\[main\]\nbackup-standby=y\npg1-path=/m);
  expect(withoutInstance('main', both, '/d/standby', true)).toBe(primary);
  expect(withInstance('main', both, { datadir: '/d/standby', port: 5433, user: 'backup', socketDir: null })).not.toContain('backup-standby');
});

test('archive_command names the configuration folder and the stanza', () => {
  expect(archiveCommand(site, 'main')).toBe('/usr/bin/pgbackrest --config-path=/srv/etc/pgbackrest --stanza=main archive-push %p');
  expect(archiveCommand({ ...site, configpath: '/my etc' }, 'main')).toBe("/usr/bin/pgbackrest '--config-path=/my etc' --stanza=main archive-push %p");
});

test('restore targets: one kind each, promoted at the target; a label restores that backup as it ended', () => {
  expect(targetArgs(undefined)).toEqual([]);
  expect(targetArgs({ time: '2026-11-30 04:00:00+00' })).toEqual(['--type=time', '--target=2026-11-30 04:00:00+00', '--target-action=promote']);
  expect(targetArgs({ lsn: '0/3000028' })).toEqual(['--type=lsn', '--target=0/3000028', '--target-action=promote']);
  expect(targetArgs({ label: '20261130-040000F' })).toEqual(['--type=immediate', '--set=20261130-040000F', '--target-action=promote']);
});

test('info: the backups of the stanza, times in ISO 8601', () => {
  const json = JSON.stringify([
    { name: 'other', backup: [] },
    {
      name: 'main',
      status: { code: 0, message: 'ok' },
      archive: [{ id: '15-1', min: '000000010000000000000001', max: '000000010000000000000005' }],
      backup: [{
        label: '20261130-040000F', type: 'full', prior: null,
        timestamp: { start: 1796011200, stop: 1796011203 },
        info: { size: 30000000, delta: 30000000, repository: { size: 4000000, delta: 4000000 } },
        archive: { start: '000000010000000000000002', stop: '000000010000000000000002' },
        lsn: { start: '0/2000028', stop: '0/2000100' },
      }],
    },
  ]);
  expect(parseInfo('main', json)).toEqual({
    stanza: 'main',
    status: 'ok',
    archive: { min: '000000010000000000000001', max: '000000010000000000000005' },
    backups: [{
      label: '20261130-040000F', type: 'full', prior: null, start: '2026-11-30T04:00:00.000Z', stop: '2026-11-30T04:00:03.000Z',
      size: 30000000, delta: 30000000, repo_size: 4000000, repo_delta: 4000000,
      wal_start: '000000010000000000000002', wal_stop: '000000010000000000000002', lsn_start: '0/2000028', lsn_stop: '0/2000100',
    }],
  });
  expect(parseInfo('gone', json).status).toBe('missing stanza path');
});

test('whether a stanza has a backup, from the repository\'s backup.info', () => {
  const dir = mkdtempSync(join(tmpdir(), 'socle-unit-pgbackrest-'));
  try {
    const repo = { ...site, repository: { ...site.repository, path: dir } };
    expect(stanzaHasBackup(repo, 'main')).toBe(false);
    mkdirSync(join(dir, 'backup/main'), { recursive: true });
    const info = (current: string) => `[backrest]\nbackrest-format=5\n\n[backup:current]\n${current}[db]\ndb-id=1\n`;
    writeFileSync(join(dir, 'backup/main/backup.info'), info(''));
    expect(stanzaHasBackup(repo, 'main')).toBe(false);
    writeFileSync(join(dir, 'backup/main/backup.info'), info('20261130-040000F={"backup-type":"full"}\n\n'));
    expect(stanzaHasBackup(repo, 'main')).toBe(true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
