// pgBackRest with a repository host: the [global] lines of each mode, the shared passfile of the
// processes the repository host starts here, the command run there through SSH, and what the
// cached facts of a local repository are keyed on (no process here).
import { repositoryHostCommand } from '../../modules/lib/components/pgbackrest/module';
import { remoteCommandText, withServerPassword } from '../../modules/lib/components/pgbackrest/server';
import { globalConfText, repositoryFingerprint, type PgbackrestSite } from '../../modules/lib/components/pgbackrest/site';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const base = {
  execpath: '/usr/bin/pgbackrest',
  configpath: '/srv/etc/pgbackrest',
  logpath: '/srv/log/pgbackrest',
  spoolpath: '/srv/spool',
  lockpath: '/run/pgbackrest/lock',
  backuprole: 'backup', backupStandby: false,
};
const tls: PgbackrestSite = {
  ...base,
  repository: {
    mode: 'host-tls', host: 'backup1', host_port: 8433, host_config: '/etc/pgbackrest/pgbackrest.conf', cn: 'backup1.example.net',
    certificate: { ca_cert: '/tls/ca.crt', cert: '/tls/db1.crt', key: '/tls/db1.key' }, port: 8432, address: '*',
  },
};
const ssh: PgbackrestSite = {
  ...base,
  repository: { mode: 'host-ssh', host: 'backup1', host_port: 2222, host_config: '/etc/pgbackrest/pgbackrest.conf', host_user: 'pgbackrest', cmd_ssh: null },
};

test('host-tls: the repository host with the client certificate, and this host\'s own TLS server letting the repository host in', () => {
  const text = globalConfText(tls);
  expect(text).toContain([
    'repo1-host=backup1', 'repo1-host-port=8433', 'repo1-host-config=/etc/pgbackrest/pgbackrest.conf',
    'repo1-host-config-include-path=/etc/pgbackrest/conf.d', 'repo1-host-type=tls',
    'repo1-host-ca-file=/tls/ca.crt', 'repo1-host-cert-file=/tls/db1.crt', 'repo1-host-key-file=/tls/db1.key',
    'tls-server-address=*', 'tls-server-port=8432', 'tls-server-auth=backup1.example.net=*',
  ].join('\n'));
  expect(text).not.toMatch(/^repo1-path=|^repo1-retention/m);
});

test('host-ssh: the repository host and its user, no TLS server', () => {
  const text = globalConfText(ssh);
  expect(text).toContain('repo1-host=backup1\nrepo1-host-port=2222\n');
  expect(text).toContain('repo1-host-type=ssh\nrepo1-host-user=pgbackrest\n');
  expect(text).not.toMatch(/tls-server|cmd-ssh/);
  expect(globalConfText({ ...ssh, repository: { ...ssh.repository, cmd_ssh: '/opt/ssh' } as PgbackrestSite['repository'] })).toContain('cmd-ssh=/opt/ssh\n');
});

test('the shared passfile: each instance sets and removes its own line only, passwords escaped', () => {
  const one = withServerPassword(null, '15/main', 5432, 'backup', 'a:b\\c');
  expect(one).toBe('# 15/main\n*:5432:*:backup:a\\:b\\\\c\n');
  const two = withServerPassword(one, '16/other', 5433, 'backup', 'x');
  expect(two).toBe(`${one}# 16/other\n*:5433:*:backup:x\n`);
  expect(withServerPassword(two, '15/main', 6432, 'backup', 'new')).toBe('# 16/other\n*:5433:*:backup:x\n# 15/main\n*:6432:*:backup:new\n');
  expect(withServerPassword(two, '16/other', null)).toBe(one);
  expect(withServerPassword(one, '15/main', null)).toBe('');
});

test('host-ssh: the remote command gives pgbackrest the passfile; backups run on the repository host through ssh', () => {
  expect(remoteCommandText(ssh)).toBe(
    "#!/bin/sh\n# managed by socle.postgresql: what the repository host runs here through SSH (its pgN-host-cmd)\n"
    + "PGHOST=127.0.0.1 PGPASSFILE='/srv/etc/pgbackrest/server.pgpass' exec '/usr/bin/pgbackrest' \"$@\"\n",
  );
  const cmd = repositoryHostCommand(ssh, 'main', ['--type=full', 'backup']);
  expect(cmd.file).toBe('ssh');
  expect(cmd.text).toBe("ssh -o BatchMode=yes -p 2222 pgbackrest@backup1 '/usr/bin/pgbackrest --config=/etc/pgbackrest/pgbackrest.conf "
    + "--config-include-path=/etc/pgbackrest/conf.d --stanza=main --log-level-console=warn --type=full backup'");
  expect(() => repositoryHostCommand(tls, 'main', ['backup'])).toThrow(/backups run on that host: use the pgbackrest_repository role/);
});

test('the fingerprint of a local repository moves with a new backup.info or a new WAL segment, and is null for a remote one', () => {
  const dir = mkdtempSync(join(tmpdir(), 'socle-fp-'));
  try {
    const local: PgbackrestSite = { ...base, repository: { mode: 'path', path: dir, retention: { full: 2, diff: 3, archive: 2 } } };
    expect(repositoryFingerprint(local, 'main')).toBeNull();
    mkdirSync(join(dir, 'backup/main'), { recursive: true });
    mkdirSync(join(dir, 'archive/main/15-1/0000000100000000'), { recursive: true });
    writeFileSync(join(dir, 'backup/main/backup.info'), '[backrest]\n');
    writeFileSync(join(dir, 'archive/main/archive.info'), '[backrest]\n');
    const empty = repositoryFingerprint(local, 'main');
    expect(empty).toMatch(/^[0-9a-f]{64}$/);
    expect(repositoryFingerprint(local, 'main')).toBe(empty);
    writeFileSync(join(dir, 'archive/main/15-1/0000000100000000/000000010000000000000001-abc.gz'), 'x');
    const oneSegment = repositoryFingerprint(local, 'main');
    expect(oneSegment).not.toBe(empty);
    writeFileSync(join(dir, 'backup/main/backup.info'), '[backrest]\n[backup:current]\n');
    expect(repositoryFingerprint(local, 'main')).not.toBe(oneSegment);
    expect(repositoryFingerprint(tls, 'main')).toBeNull();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
