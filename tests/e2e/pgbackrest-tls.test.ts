// End to end: a pgBackRest repository on another "host" reached by TLS. The repository host is a
// folder of the sandbox with its own `pgbackrest server` on 127.0.0.1, set up by the
// pgbackrest_repository role from the tarball (ansible-playbook, connection local, as the test
// user, service manager none); the database host is an instance with the instance module's
// `pgbackrest` option and site settings in host-tls mode, whose own TLS server (a companion
// daemon) lets the repository host in. Certificates (a CA, one certificate per host) are made
// here with openssl. A backup taken on the repository host (the role's tasks_from backup), then a
// point-in-time restore through the module gives back exactly the rows of the target time.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { userInfo } from 'node:os';
import { installCollection, type PlaybookRun } from '../helpers/ansible';
import { changedTasks, repositoryRole as repositoryRole_, runOk } from '../helpers/pgbackrest-remote';
import { runModule, type RunOptions } from '../helpers/module';
import { eventually, filesContaining, freePort, makeSandbox, psql, stopDaemons, type Sandbox } from '../helpers/sandbox';

jest.setTimeout(300_000);

const PGBACKREST = '/usr/bin/pgbackrest';
const describeIf = existsSync(PGBACKREST) && existsSync('/usr/bin/openssl') ? describe : describe.skip;
// The Debian 13 container of the tests has no cron.
const testIfCron = existsSync('/usr/bin/crontab') ? test : test.skip;
const PASSWORD = 'Backup-s3cret-Tls9';
const STANZA = 'remote';

let sb: Sandbox;
let ansibleEnv: NodeJS.ProcessEnv;
let pgPort: number;
let dbTlsPort: number;
let repoTlsPort: number;
let env: Record<string, string>;
let datadir: string;
const repoDir = () => join(sb.dir, 'repohost');
const tls = () => join(sb.dir, 'tls');
const ok = (r: Record<string, any>) => expect(r.failed ? r.msg : 'ok').toBe('ok');
const instance = () => ({ name: 'rt', port: pgPort, settings: { listen_addresses: '127.0.0.1' }, pgbackrest: { stanza: STANZA, password: PASSWORD } });
const run = (args: Record<string, unknown>, opts: RunOptions = {}) => runModule('instance', args, { env: sb.env, ...opts });
const backrest = (args: Record<string, unknown>, opts: RunOptions = {}) => runModule('pgbackrest', { instance: 'rt', ...args }, { env: sb.env, ...opts });
const contents = () => psql(env, "SELECT count(*) || ' ' || md5(coalesce(string_agg(id || ':' || v, ',' ORDER BY id), '')) FROM t");

/** A CA, and a certificate for each host signed by it (its CN, valid for 127.0.0.1). */
function makeCertificates(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=socle-test-ca');
  // pgBackRest matches the host it connects to against the certificate's DNS names.
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=DNS:127.0.0.1,DNS:localhost,IP:127.0.0.1\n');
  for (const host of ['db', 'repo']) {
    ssl('req', ...ec, '-keyout', `${host}.key`, '-out', `${host}.csr`, '-subj', `/CN=${host}-host`);
    ssl('x509', '-req', '-in', `${host}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${host}.crt`, '-days', '2', '-extfile', 'san.ext');
    chmodSync(join(dir, `${host}.key`), 0o600);
  }
}

function repositoryVars(extra: Record<string, unknown> = {}) {
  return {
    socle_pgbackrest_repository_mode: 'tls',
    socle_pgbackrest_repository_user: userInfo().username,
    socle_pgbackrest_repository_create_user: false,
    // The play runs as the repository user itself: nothing to become (root included).
    socle_pgbackrest_repository_become: false,
    socle_pgbackrest_repository_service_manager: 'none',
    socle_pgbackrest_repository_configpath: join(repoDir(), 'etc'),
    socle_pgbackrest_repository_path: join(repoDir(), 'backups'),
    socle_pgbackrest_repository_logpath: join(repoDir(), 'log'),
    socle_pgbackrest_repository_lockpath: join(repoDir(), 'run'),
    socle_pgbackrest_repository_tls: {
      address: '127.0.0.1',
      port: repoTlsPort,
      certificate: { ca_cert: join(tls(), 'ca.crt'), cert: join(tls(), 'repo.crt'), key: join(tls(), 'repo.key') },
      clients: ['db-host'],
    },
    socle_pgbackrest_repository_stanzas: [{
      name: STANZA,
      instances: [{ host: '127.0.0.1', path: datadir, port: pgPort, host_port: dbTlsPort, host_config: join(sb.dir, 'srv/etc/pgbackrest/pgbackrest.conf') }],
    }],
    ...extra,
  };
}

const repositoryRole = (vars: Record<string, unknown>, tasksFrom = 'main') => repositoryRole_(sb.dir, ansibleEnv, vars, tasksFrom);

const expectRun = (r: PlaybookRun) => expect(runOk(r)).toBe('ok');

function writeSettings(key = join(tls(), 'db.key')): void {
  sb.writeSettings({
    pgbackrest: {
      repository: {
        mode: 'host-tls',
        host: '127.0.0.1',
        host_port: repoTlsPort,
        host_config: join(repoDir(), 'etc/pgbackrest.conf'),
        cn: 'repo-host',
        certificate: { ca_cert: join(tls(), 'ca.crt'), cert: join(tls(), 'db.crt'), key },
        port: dbTlsPort,
        address: '127.0.0.1',
      },
    },
  });
}

beforeAll(async () => {
  sb = makeSandbox('socle-pgbr-tls-');
  ansibleEnv = installCollection(sb.dir);
  [pgPort, dbTlsPort, repoTlsPort] = [await freePort(), await freePort(), await freePort()];
  makeCertificates(tls());
  writeSettings();
});
afterAll(() => {
  // The repository host's server (its pid file is under the sandbox), then the rest.
  stopDaemons(repoDir());
  sb.cleanup();
});

describeIf('pgBackRest with a repository host reached by TLS', () => {
  test('a certificate file that does not exist is refused before anything is written', () => {
    writeSettings(join(tls(), 'missing.key'));
    try {
      const { result } = run(instance());
      expect(result.failed).toBe(true);
      expect(result.msg).toMatch(/pgbackrest\.repository\.certificate\.key \(\S+missing\.key\) does not exist/);
      expect(existsSync(join(sb.dir, 'srv/etc/pgbackrest'))).toBe(false);
    } finally {
      writeSettings();
    }
  });

  test('the instance archives to the remote stanza and runs its own TLS server for the repository host', () => {
    const { result } = run(instance());
    ok(result);
    env = result.env;
    datadir = result.datadir;
    expect(result.changes).toEqual(expect.arrayContaining(['start service socle-pgbackrest-server']));
    // stanza-create runs on the repository host, not here.
    expect(result.commands.join('\n')).not.toMatch(/stanza-create/);
    const global = readFileSync(join(sb.dir, 'srv/etc/pgbackrest/pgbackrest.conf'), 'utf8');
    expect(global).toContain(`repo1-host=127.0.0.1\nrepo1-host-port=${repoTlsPort}\n`);
    expect(global).toContain('repo1-host-type=tls\n');
    expect(global).toContain(`tls-server-port=${dbTlsPort}\ntls-server-auth=repo-host=*\n`);
    expect(global).not.toMatch(/^repo1-path=/m);
    // The repository host is not set up yet: the facts say so (at once, not after pgBackRest's retries).
    expect(result.pgbackrest.status).toBe(`repository host 127.0.0.1:${repoTlsPort} unreachable (ECONNREFUSED)`);
    const again = run(instance()).result;
    ok(again);
    expect({ changed: again.changed, changes: again.changes }).toEqual({ changed: false, changes: [] });
  });

  test('the role prepares the repository host: its server, the stanza pointing back, stanza-create and check', () => {
    const r = repositoryRole(repositoryVars());
    expectRun(r);
    expect(r.recap.changed).toBeGreaterThan(0);
    const stanzaFile = readFileSync(join(repoDir(), `etc/conf.d/${STANZA}.conf`), 'utf8');
    expect(stanzaFile).toContain(`pg1-host=127.0.0.1\npg1-host-type=tls\npg1-host-port=${dbTlsPort}\n`);
    expect(stanzaFile).toContain(`pg1-path=${datadir}\npg1-port=${pgPort}\npg1-user=backup\n`);
    expect(existsSync(join(repoDir(), `backups/backup/${STANZA}/backup.info`))).toBe(true);
    // The database host archives through the repository host's server.
    const archived = psql(env, 'SELECT archived_count FROM pg_stat_archiver');
    expect(Number(archived)).toBeGreaterThan(0);
  });

  test('a second run of the role is no change', () => {
    const r = repositoryRole(repositoryVars());
    expectRun(r);
    expect(changedTasks(r)).toEqual([]);
    expect(r.recap.changed).toBe(0);
  });

  // No systemd here: the schedule is a crontab entry of the repository user, named after the
  // stanza, the type and this repository's configuration; one left out of the list goes.
  const scheduleLines = () => {
    const r = spawnSync('crontab', ['-l'], { encoding: 'utf8' });
    const lines = r.status === 0 ? r.stdout.split('\n') : [];
    return lines.filter((l, i) => l.includes(join(repoDir(), 'etc/pgbackrest.conf')) && (l.startsWith('#Ansible: ') || lines[i - 1]?.startsWith('#Ansible: ')));
  };
  testIfCron('a scheduled backup is a crontab entry of the repository user; a re-run is no change; one left out is removed', () => {
    const schedules = [{ stanza: STANZA, type: 'full', cron: '30 2 * * 0' }];
    try {
      expectRun(repositoryRole(repositoryVars({ socle_pgbackrest_repository_schedules: schedules })));
      const lines = scheduleLines();
      expect(lines[0]).toBe(`#Ansible: socle-pgbackrest-backup-${STANZA}-full ${join(repoDir(), 'etc/pgbackrest.conf')}`);
      expect(lines[1]).toMatch(new RegExp(`^30 2 \\* \\* 0 /usr/bin/pgbackrest --config=\\S+ --config-include-path=\\S+ --stanza=${STANZA} --type=full --log-level-console=warn backup$`));
      const again = repositoryRole(repositoryVars({ socle_pgbackrest_repository_schedules: schedules }));
      expectRun(again);
      expect(changedTasks(again)).toEqual([]);
      expectRun(repositoryRole(repositoryVars()));
      expect(scheduleLines()).toEqual([]);
    } finally {
      if (scheduleLines().length) repositoryRole(repositoryVars());
    }
  });

  test('the module cannot start a backup from the database host in TLS mode, and says where to', () => {
    const { result } = backrest({ state: 'backed_up' });
    expect(result.failed).toBe(true);
    expect(result.msg).toMatch(/backups run on that host: use the pgbackrest_repository role/);
  });

  let target: string;
  let atTarget: string;
  test('a backup on the repository host, then rows written on both sides of a known time', async () => {
    psql(env, 'CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT i, md5(i::text) FROM generate_series(1, 100) i');
    const r = repositoryRole(repositoryVars({ socle_pgbackrest_repository_backup_stanza: STANZA, socle_pgbackrest_repository_backup_type: 'full' }), 'backup');
    expectRun(r);
    const { result } = backrest({ state: 'info' });
    ok(result);
    expect(result.backups).toHaveLength(1);
    expect(result.backups[0]).toMatchObject({ type: 'full', label: expect.stringMatching(/^\d{8}-\d{6}F$/) });

    psql(env, 'SELECT pg_sleep(1.1); INSERT INTO t SELECT i, md5(i::text) FROM generate_series(101, 200) i');
    target = psql(env, 'SELECT clock_timestamp()::text');
    atTarget = contents();
    psql(env, 'SELECT pg_sleep(0.05); INSERT INTO t SELECT i, md5(i::text) FROM generate_series(201, 300) i');
    const segment = psql(env, 'SELECT pg_walfile_name(pg_switch_wal())');
    expect(await eventually(() => psql(env, 'SELECT last_archived_wal FROM pg_stat_archiver'), segment, 100)).toBe(segment);
    expect(contents()).not.toBe(atTarget);
  });

  test('a point-in-time restore through the repository host gives back the rows of the target time', () => {
    const { result } = backrest({ state: 'restored', target: { time: target } });
    ok(result);
    expect(result.changed).toBe(true);
    expect(psql(env, 'SELECT pg_is_in_recovery()')).toBe('f');
    expect(contents()).toBe(atTarget);
  });

  test('the backup role password is in no file but the private passfiles', () => {
    const holders = filesContaining(sb.dir, PASSWORD).map((f) => f.slice(sb.dir.length));
    expect(holders).toContain('/srv/etc/pgbackrest/server.pgpass');
    for (const f of holders) expect(f).toMatch(/^\/srv\/etc\/pgbackrest\/(\d+-rt|server)\.pgpass$/);
  });

  test('dropping the instance stops its TLS server (no other instance uses it)', () => {
    const { result } = run({ name: 'rt', state: 'absent' });
    ok(result);
    expect(result.changes).toEqual(expect.arrayContaining(['stop service socle-pgbackrest-server']));
  });
});
