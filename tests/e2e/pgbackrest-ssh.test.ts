// End to end: a pgBackRest repository on another "host" reached by SSH. An sshd run by the test
// user on a loopback port (its own host key, an authorized_keys file of the sandbox) stands for
// both hosts' SSH servers; the ssh client is a wrapper with the sandbox's client configuration
// (the site settings' `cmd_ssh` and the role's ssh_command). The repository host (a folder) is set
// up by the pgbackrest_repository role, the instance by the instance module in host-ssh mode; a
// backup taken through the module (which starts it on the repository host through SSH), then a
// restore to the end of the archive through it.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { homedir, userInfo } from 'node:os';
import { installCollection, type PlaybookRun } from '../helpers/ansible';
import { runModule, type RunOptions } from '../helpers/module';
import { changedTasks, repositoryRole as repositoryRole_, runOk } from '../helpers/pgbackrest-remote';
import { eventually, freePort, makeSandbox, psql, stopDaemons, type Sandbox } from '../helpers/sandbox';

jest.setTimeout(300_000);

const SSHD = '/usr/sbin/sshd';
const describeIf = existsSync('/usr/bin/pgbackrest') && existsSync(SSHD) ? describe : describe.skip;
const PASSWORD = 'Backup-s3cret-Ssh7';
const STANZA = 'viassh';

let sb: Sandbox;
let ansibleEnv: NodeJS.ProcessEnv;
let pgPort: number;
let sshPort: number;
let env: Record<string, string>;
let datadir: string;
const repoDir = () => join(sb.dir, 'repohost');
const sshDir = () => join(sb.dir, 'ssh');
const sshWrapper = () => join(sshDir(), 'ssh');
const ok = (r: Record<string, any>) => expect(r.failed ? r.msg : 'ok').toBe('ok');
const instance = () => ({ name: 'rs', port: pgPort, settings: { listen_addresses: '127.0.0.1' }, pgbackrest: { stanza: STANZA, password: PASSWORD } });
const run = (args: Record<string, unknown>, opts: RunOptions = {}) => runModule('instance', args, { env: sb.env, ...opts });
const backrest = (args: Record<string, unknown>, opts: RunOptions = {}) => runModule('pgbackrest', { instance: 'rs', ...args }, { env: sb.env, ...opts });
const contents = () => psql(env, "SELECT count(*) || ' ' || md5(coalesce(string_agg(id || ':' || v, ',' ORDER BY id), '')) FROM t");
const expectRun = (r: PlaybookRun) => expect(runOk(r)).toBe('ok');

/** sshd as the test user on 127.0.0.1:port, with its own host key; the client's configuration and wrapper. */
function startSshd(dir: string, port: number): void {
  execFileSync('mkdir', ['-p', '-m', '0700', dir]);
  const keygen = (f: string) => execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, f)]);
  keygen('host_key');
  keygen('client_key');
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client_key.pub')), { mode: 0o600 });
  writeFileSync(join(dir, 'sshd_config'), [
    `Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${join(dir, 'host_key')}`, `PidFile ${join(dir, 'sshd.pid')}`,
    // The sandbox's keys, and the user's own file, where the role authorizes keys.
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')} .ssh/authorized_keys`,
    'UsePAM no', 'StrictModes no', 'PasswordAuthentication no', 'KbdInteractiveAuthentication no', '',
  ].join('\n'));
  writeFileSync(join(dir, 'known_hosts'), `[127.0.0.1]:${port} ${readFileSync(join(dir, 'host_key.pub'), 'utf8')}`);
  writeFileSync(join(dir, 'ssh_config'), [
    'Host *', `  IdentityFile ${join(dir, 'client_key')}`, `  IdentityFile ${join(homedir(), '.ssh/id_ed25519')}`, '  IdentitiesOnly yes',
    `  UserKnownHostsFile ${join(dir, 'known_hosts')}`, '  StrictHostKeyChecking yes', '  BatchMode yes', '',
  ].join('\n'));
  writeFileSync(sshWrapper(), `#!/bin/sh\nexec /usr/bin/ssh -F ${join(dir, 'ssh_config')} "$@"\n`);
  chmodSync(sshWrapper(), 0o700);
  // sshd forks into the background and writes its pid file (killed by the sandbox's cleanup).
  execFileSync(SSHD, ['-f', join(dir, 'sshd_config'), '-E', join(dir, 'sshd.log')]);
}

function repositoryVars(extra: Record<string, unknown> = {}) {
  return {
    socle_pgbackrest_repository_mode: 'ssh',
    socle_pgbackrest_repository_user: userInfo().username,
    socle_pgbackrest_repository_create_user: false,
    // The play runs as the repository user itself: nothing to become (root included).
    socle_pgbackrest_repository_become: false,
    socle_pgbackrest_repository_configpath: join(repoDir(), 'etc'),
    socle_pgbackrest_repository_path: join(repoDir(), 'backups'),
    socle_pgbackrest_repository_logpath: join(repoDir(), 'log'),
    socle_pgbackrest_repository_lockpath: join(repoDir(), 'run'),
    socle_pgbackrest_repository_ssh_command: sshWrapper(),
    socle_pgbackrest_repository_ssh_authorized_keys: [readFileSync(join(sshDir(), 'client_key.pub'), 'utf8').trim()],
    socle_pgbackrest_repository_stanzas: [{
      name: STANZA,
      instances: [{
        host: '127.0.0.1', path: datadir, port: pgPort, host_port: sshPort, host_user: userInfo().username,
        host_config: join(sb.dir, 'srv/etc/pgbackrest/pgbackrest.conf'), host_cmd: join(sb.dir, 'srv/etc/pgbackrest/pgbackrest-remote'),
      }],
    }],
    ...extra,
  };
}
const repositoryRole = (vars: Record<string, unknown>, tasksFrom = 'main', after: unknown[] = []) => repositoryRole_(sb.dir, ansibleEnv, vars, tasksFrom, after);

beforeAll(async () => {
  sb = makeSandbox('socle-pgbr-ssh-');
  ansibleEnv = installCollection(sb.dir);
  [pgPort, sshPort] = [await freePort(), await freePort()];
  startSshd(sshDir(), sshPort);
  sb.writeSettings({
    pgbackrest: {
      repository: {
        mode: 'host-ssh',
        host: '127.0.0.1',
        host_port: sshPort,
        host_user: userInfo().username,
        host_config: join(repoDir(), 'etc/pgbackrest.conf'),
        cmd_ssh: sshWrapper(),
      },
    },
  });
});
afterAll(() => {
  stopDaemons(sshDir());
  sb.cleanup();
});

describeIf('pgBackRest with a repository host reached by SSH', () => {
  test('the instance archives to the remote stanza, with the command the repository host runs here', () => {
    const { result } = run(instance());
    ok(result);
    env = result.env;
    datadir = result.datadir;
    const global = readFileSync(join(sb.dir, 'srv/etc/pgbackrest/pgbackrest.conf'), 'utf8');
    expect(global).toContain(`repo1-host=127.0.0.1\nrepo1-host-port=${sshPort}\n`);
    expect(global).toContain(`repo1-host-type=ssh\nrepo1-host-user=${userInfo().username}\ncmd-ssh=${sshWrapper()}\n`);
    // No TLS server in SSH mode.
    expect(result.changes.join('\n')).not.toMatch(/socle-pgbackrest-server/);
    const remote = readFileSync(join(sb.dir, 'srv/etc/pgbackrest/pgbackrest-remote'), 'utf8');
    expect(remote).toMatch(/PGPASSFILE='[^']+\/server\.pgpass' exec '\/usr\/bin\/pgbackrest' "\$@"/);
  });

  test('the role makes the repository user key, authorizes the database host, and creates the stanza once both ways work', () => {
    // First without stanza-create: the database host must authorize the repository user's key.
    const pub = join(sb.dir, 'repository-user.pub');
    const first = repositoryRole(repositoryVars({ socle_pgbackrest_repository_stanza_create: false }), 'main', [
      { name: 'keep the public key', 'ansible.builtin.copy': { content: '{{ socle_pgbackrest_repository_ssh_public_key }}\n', dest: pub, mode: '0600' } },
    ]);
    expectRun(first);
    expect(readFileSync(pub, 'utf8')).toMatch(/^ssh-ed25519 /);
    appendFileSync(join(sshDir(), 'authorized_keys'), readFileSync(pub, 'utf8'));
    const r = repositoryRole(repositoryVars());
    expectRun(r);
    expect(changedTasks(r)).toEqual(['socle.postgresql.pgbackrest_repository : Create the stanzas']);
    expect(existsSync(join(repoDir(), `backups/backup/${STANZA}/backup.info`))).toBe(true);
    const again = repositoryRole(repositoryVars());
    expectRun(again);
    expect(changedTasks(again)).toEqual([]);
  });

  let atBackup: string;
  test('a backup through the module runs on the repository host through SSH', () => {
    psql(env, 'CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT i, md5(i::text) FROM generate_series(1, 100) i');
    const check = backrest({ state: 'backed_up' }, { check: true }).result;
    ok(check);
    expect(check.commands).toEqual([expect.stringMatching(new RegExp(`^\\S+/ssh -o BatchMode=yes -p ${sshPort} \\S+@127\\.0\\.0\\.1 '.*--stanza=${STANZA} .*--type=full backup'$`))]);
    const { result } = backrest({ state: 'backed_up' });
    ok(result);
    expect(result.changed).toBe(true);
    expect(result.backups).toHaveLength(1);
    expect(result.backups[0]).toMatchObject({ type: 'full' });
    atBackup = contents();
  });

  test('a restore to the end of the archive through the repository host', async () => {
    psql(env, 'INSERT INTO t SELECT i, md5(i::text) FROM generate_series(101, 150) i');
    const want = contents();
    const segment = psql(env, 'SELECT pg_walfile_name(pg_switch_wal())');
    expect(await eventually(() => psql(env, 'SELECT last_archived_wal FROM pg_stat_archiver'), segment, 100)).toBe(segment);
    const { result } = backrest({ state: 'restored' });
    ok(result);
    expect(psql(env, 'SELECT pg_is_in_recovery()')).toBe('f');
    expect(contents()).toBe(want);
    expect(want).not.toBe(atBackup);
  });
});
