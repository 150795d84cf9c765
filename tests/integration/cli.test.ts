// The `socle` command (files/socle of the built collection) against real PostgreSQL, run the way
// a DBA runs it: an instance's lifecycle with roles and databases, JSON output parsed, a dry run
// that changes nothing, errors naming the option and its flag, exit codes, and a password typed
// at a prompt in a pseudo-terminal (never echoed, never on the command line).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dump } from 'js-yaml';
import { OPTIONS } from '../../modules/generated/cli';
import { DIST } from '../helpers/module';
import { freePort, makeSandbox, psql, type Sandbox } from '../helpers/sandbox';
import { serverLogs } from '../helpers/secrets';

jest.setTimeout(180_000);

const SOCLE = join(DIST, 'collection', 'files', 'socle');
const MODULES = join(DIST, 'collection', 'plugins', 'modules');

let sb: Sandbox;
let port: number;
let port2: number;
/** Everything the command printed in this file, for the secrets check at the end. */
const printed: string[] = [];

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function socle(args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}): Run {
  const p = spawnSync(SOCLE, args, { env: { ...sb.env, ...opts.env }, input: opts.input ?? '', encoding: 'utf8' });
  printed.push(p.stdout, p.stderr);
  return { status: p.status, stdout: p.stdout, stderr: p.stderr };
}

/** Runs and expects exit code 0, with stderr in the failure message. */
function ok(args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}): string {
  const r = socle(args, opts);
  expect({ args, status: r.status, stderr: r.status === 0 ? '' : r.stderr }).toEqual({ args, status: 0, stderr: '' });
  return r.stdout;
}

function jsonOf(args: string[]): any {
  return JSON.parse(ok([...args, '-o', 'json']));
}

/**
 * Runs the command in a pseudo-terminal (python's pty module): answers each prompt when it shows,
 * returns everything the terminal displayed and the exit code.
 */
function inTerminal(args: string[], answers: Array<[string, string]>): { output: string; status: number } {
  const script = `
import json, os, pty, select, sys, time
args, answers = json.loads(sys.argv[1]), json.loads(sys.argv[2])
pid, fd = pty.fork()
if pid == 0:
    os.execv(args[0], args)
out = b''
def read_until(pattern, timeout):
    global out
    end = time.time() + timeout
    while (pattern is None or pattern.encode() not in out) and time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                return
            if not chunk:
                return
            out += chunk
for prompt, answer in answers:
    read_until(prompt, 60)
    os.write(fd, (answer + '\\r').encode())
    out += b'<answered>'
read_until(None, 120)
_, status = os.waitpid(pid, 0)
print(json.dumps({'output': out.decode('utf-8', 'replace'), 'status': os.waitstatus_to_exitcode(status)}))
`;
  const p = spawnSync('python3', ['-c', script, JSON.stringify([SOCLE, ...args]), JSON.stringify(answers)], { env: sb.env, encoding: 'utf8' });
  if (p.status !== 0) throw new Error(`pty driver failed: ${p.stderr}`);
  const r = JSON.parse(p.stdout);
  printed.push(r.output);
  return r;
}

const PASSWORD = "cli pa'ss wörd";
const PROMPTED = 'typed-at-the-prompt-42';

beforeAll(async () => {
  sb = makeSandbox('socle-cli-');
  port = await freePort();
  port2 = await freePort();
});
afterAll(() => sb.cleanup());

describe('help and usage', () => {
  test('the command is an executable Node program', () => {
    expect(existsSync(SOCLE)).toBe(true);
    const r = socle(['--version']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^socle \d+\.\d+\.\d+/);
  });

  test('--help lists the commands; a command\'s help has the flags of its schema, with their descriptions', () => {
    expect(ok(['--help'])).toMatch(/instance create[\s\S]*role create[\s\S]*database list[\s\S]*pgbackrest info[\s\S]*apply -f FILE/);
    const help = ok(['instance', 'create', '--help']);
    expect(help).toContain('--port N');
    expect(help).toContain('TCP port');
    expect(help).toMatch(/--auth-local \{trust,reject,scram-sha-256/);
    expect(help).toContain('--settings KEY=VALUE');
    expect(help).toContain('--surole-password | --surole-password-file FILE');
    // A command's help lists the flags it uses, not every option of its module.
    const drop = ok(['instance', 'drop', '--help']);
    expect(drop).toContain('--[no-]pgbackrest-delete-backups');
    for (const unrelated of ['--port', '--settings', '--surole-password', '--prometheus-port', '--standby-']) expect({ unrelated, shown: drop.includes(unrelated) }).toEqual({ unrelated, shown: false });
    expect(ok(['instance', 'promote', '--help'])).not.toMatch(/--(port|settings|data-checksums|pgbackrest|roles)\b/);
    // ... and refuses the others, naming them.
    const refused = socle(['instance', 'drop', 'main', '--port', '5432']);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain('unknown option --port');
  });

  test('no command, an unknown command or flag: exit code 2, named', () => {
    expect(socle([]).status).toBe(2);
    const r = socle(['instance', 'craete', 'x']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('instance craete');
    const f = socle(['instance', 'create', 'x', '--bogus-flag', '1']);
    expect(f.status).toBe(2);
    expect(f.stderr).toContain('--bogus-flag');
  });

  test('bash completion', () => {
    expect(ok(['completion', 'bash'])).toContain('complete -o default -F _socle socle');
    expect(ok(['__complete', 'instance']).split('\n')).toEqual(expect.arrayContaining(['create', 'drop', 'list']));
    expect(ok(['__complete', 'role', 'create']).split('\n')).toEqual(expect.arrayContaining(['--login', '--no-login', '--password', '--password-file']));
    // The script itself, in bash, with socle on the PATH as the setup role installs it.
    const bin = join(sb.dir, 'bin');
    mkdirSync(bin, { recursive: true });
    symlinkSync(SOCLE, join(bin, 'socle'));
    const complete = (line: string) => {
      const words = line.split(' ');
      const script = `source <(socle completion bash); COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _socle; printf '%s\\n' "\${COMPREPLY[@]}"`;
      const p = spawnSync('bash', ['-c', script], { env: { ...sb.env, PATH: `${bin}:${process.env.PATH}` }, encoding: 'utf8' });
      expect(p.stderr).toBe('');
      return p.stdout.split('\n').filter(Boolean).sort();
    };
    expect(complete('socle inst')).toEqual(['instance']);
    expect(complete('socle instance dr')).toEqual(['drop']);
    expect(complete('socle instance drop main --pg')).toEqual(['--pgbackrest-delete-backups', '--pgbackrest-stanza']);
    expect(complete('socle instance promote main --p')).toEqual([]);
  });

  test('a command whose module (or option) is not in this build says so (exit code 6)', () => {
    // Patroni and the dumps come with their satellites: once built, these commands are available.
    if (!existsSync(join(MODULES, 'patroni.js'))) {
      const r = socle(['patroni', 'members', 'main']);
      expect(r.status).toBe(6);
      expect(r.stderr).toContain("its module 'patroni' is not part of it");
    }
    if (!('dump' in OPTIONS.database)) {
      const r = socle(['database', 'dump', 'app', '-i', 'main']);
      expect(r.status).toBe(6);
      expect(r.stderr).toContain("option 'dump' of module 'database'");
    }
  });
});

describe('an instance with roles and databases', () => {
  test('a dry run prints the plan (exact commands) and changes nothing', () => {
    const out = ok(['instance', 'create', 'main', '--port', String(port), '--dry-run']);
    expect(out).toContain('Plan (dry run, nothing was changed)');
    expect(out).toMatch(/initdb --pgdata \S+\/main\/data/);
    expect(out).toMatch(/pg_ctl start/);
    expect(jsonOf(['instance', 'list'])).toEqual([]);
    expect(existsSync(join(sb.dir, 'srv'))).toBe(false);
  });

  test('bad values are refused before anything is done, naming the option and its flag', () => {
    const port = socle(['instance', 'create', 'main', '--port', 'eighty']);
    expect(port.status).toBe(2);
    expect(port.stderr).toContain("option 'port' (--port) must be integer");
    const auth = socle(['instance', 'create', 'main', '--auth-local', 'bogus']);
    expect(auth.status).toBe(2);
    expect(auth.stderr).toContain("option 'auth.local' (--auth-local) must be one of");
    const name = socle(['instance', 'create', 'a-b']);
    expect(name.status).toBe(2);
    expect(name.stderr).toContain("option 'name' (NAME) must not contain '-'");
    expect(jsonOf(['instance', 'list'])).toEqual([]);
  });

  test('create NAME --port N; list -o json; get', () => {
    const out = ok(['instance', 'create', 'main', '--port', String(port), '--settings', 'work_mem=8MB', '--settings', 'log_statement=all', '--settings', 'listen_addresses=127.0.0.1']);
    expect(out).toContain('create instance');
    const list = jsonOf(['instance', 'list']);
    expect(list).toEqual([expect.objectContaining({ name: 'main', port, status: 'running' })]);
    const info = jsonOf(['instance', 'get', 'main']);
    expect(info.settings.work_mem).toBe('8MB');
    expect(psql(info.env, 'SELECT 40 + 2')).toBe('42');
    expect(ok(['instance', 'list'])).toMatch(/^NAME\s+VERSION\s+PORT\s+STATUS[\s\S]*\nmain\s+\d+\s+\d+\s+running/);
    const again = socle(['instance', 'create', 'main', '--port', String(port)]);
    expect(again.status).toBe(4);
    expect(again.stderr).toContain('already exists');
  });

  test('env and exec give the instance\'s environment', () => {
    expect(ok(['instance', 'env', 'main'])).toContain(`export PGPORT=${port}`);
    expect(ok(['instance', 'exec', 'main', '--', 'psql', '-X', '-Atc', 'SELECT 6 * 7']).trim()).toBe('42');
    expect(socle(['instance', 'exec', 'main', '--', 'sh', '-c', 'exit 7']).status).toBe(7);
  });

  test('a password on the command line is refused without being echoed', () => {
    const r = socle(['role', 'create', 'app', '-i', 'main', '--login', '--password', PASSWORD]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('never read from the command line');
    expect(r.stdout + r.stderr).not.toContain(PASSWORD);
    const eq = socle(['role', 'create', 'app', '-i', 'main', `--password=${PASSWORD}`]);
    expect(eq.status).toBe(2);
    expect(eq.stdout + eq.stderr).not.toContain(PASSWORD);
  });

  test('role create with --password-file, get, alter keeps what is not given, list', () => {
    const file = join(sb.dir, 'app.password');
    writeFileSync(file, PASSWORD + '\n', { mode: 0o600 });
    const plan = ok(['role', 'create', 'app', '-i', 'main', '--login', '--password-file', file, '--connection-limit', '5', '--dry-run']);
    expect(plan).toContain(`CREATE ROLE "app" LOGIN CONNECTION LIMIT 5 PASSWORD '********'`);
    expect(socle(['role', 'get', 'app', '-i', 'main']).status).toBe(3);
    ok(['role', 'create', 'app', '-i', 'main', '--login', '--password-file', file, '--connection-limit', '5']);
    expect(jsonOf(['role', 'get', 'app', '-i', 'main'])).toEqual(expect.objectContaining({ name: 'app', state: 'present', login: true, connection_limit: 5, password: '(set)', valid_until: 'infinity' }));
    const info = jsonOf(['instance', 'get', 'main']);
    const login = (password: string) =>
      psql({ ...info.env, PGHOST: '127.0.0.1', PGUSER: 'app', PGPASSFILE: '/dev/null' }, 'SELECT current_user', { PGPASSWORD: password });
    expect(login(PASSWORD)).toBe('app');
    ok(['role', 'alter', 'app', '-i', 'main', '--connection-limit', '7']);
    expect(jsonOf(['role', 'get', 'app', '-i', 'main'])).toEqual(expect.objectContaining({ login: true, connection_limit: 7 }));
    // The only instance of the host is the default one.
    expect(jsonOf(['role', 'list']).map((r: any) => r.name)).toEqual(expect.arrayContaining(['app', 'postgres']));
  });

  test('a password typed at a prompt in a terminal: not echoed, asked twice, applied', () => {
    const r = inTerminal(['role', 'alter', 'app', '-i', 'main', '--password'], [['password: ', PROMPTED], ['(again): ', PROMPTED]]);
    expect(r.status).toBe(0);
    expect(r.output).toContain('alter role app');
    expect(r.output).not.toContain(PROMPTED);
    const info = jsonOf(['instance', 'get', 'main']);
    expect(psql({ ...info.env, PGHOST: '127.0.0.1', PGUSER: 'app', PGPASSFILE: '/dev/null' }, 'SELECT current_user', { PGPASSWORD: PROMPTED })).toBe('app');
    const differ = inTerminal(['role', 'alter', 'app', '-i', 'main', '--password'], [['password: ', 'one'], ['(again): ', 'two']]);
    expect(differ.status).toBe(2);
    expect(differ.output).toContain('the two entries differ');
  });

  test('without a terminal, the password comes from the environment', () => {
    const r = socle(['role', 'alter', 'app', '-i', 'main', '--password'], { env: { SOCLE_PASSWORD: PASSWORD } });
    expect(r.status).toBe(0);
    const none = socle(['role', 'alter', 'app', '-i', 'main', '--password']);
    expect(none.status).toBe(2);
    expect(none.stderr).toContain('$SOCLE_PASSWORD');
  });

  test('database create, list -o json, get, drop (a dry run first)', () => {
    ok(['database', 'create', 'appdb', '-i', 'main', '--owner', 'app', '--settings', 'work_mem=32MB']);
    expect(jsonOf(['database', 'list', '-i', 'main'])).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'appdb', owner: 'app' })]));
    // The database module's own view of it (the `before` of its diff), with its size.
    const got = jsonOf(['database', 'get', 'appdb', '-i', 'main']);
    expect(got).toEqual(expect.objectContaining({ name: 'appdb', state: 'present', owner: 'app', tablespace: 'pg_default', settings: { work_mem: '32MB' } }));
    expect(got.size).toBeGreaterThan(0);
    expect(ok(['database', 'list', '-i', 'main'])).toMatch(/^NAME\s+OWNER\s+ENCODING\s+LC_COLLATE\s+TABLESPACE\s+SIZE\n(.*\n)*appdb\s+app\s/);
    const plan = ok(['database', 'drop', 'appdb', '-i', 'main', '--dry-run']);
    expect(plan).toContain('DROP DATABASE "appdb"');
    expect(jsonOf(['database', 'get', 'appdb', '-i', 'main']).name).toBe('appdb');
    const refused = socle(['database', 'drop', 'appdb', '-i', 'main']);
    expect(refused.status).toBe(5);
    ok(['database', 'drop', 'appdb', '-i', 'main', '--yes']);
    expect(socle(['database', 'get', 'appdb', '-i', 'main']).status).toBe(3);
  });

  test('alter changes what is given and keeps the other settings; stop, status, start', () => {
    const before = jsonOf(['instance', 'get', 'main']);
    const plan = ok(['instance', 'alter', 'main', '--settings', 'statement_timeout=30s', '--dry-run', '--diff']);
    expect(plan).toContain("+ statement_timeout = '30s'");
    expect(jsonOf(['instance', 'get', 'main']).settings).toEqual(before.settings);
    ok(['instance', 'alter', 'main', '--settings', 'statement_timeout=30s']);
    const after = jsonOf(['instance', 'get', 'main']);
    expect(after.settings).toEqual({ ...before.settings, statement_timeout: '30s' });
    const again = jsonOf(['instance', 'alter', 'main', '--settings', 'statement_timeout=30s']);
    expect(again.changed).toBe(false);

    ok(['instance', 'stop', 'main']);
    const status = socle(['instance', 'status', 'main']);
    expect(status.status).toBe(3);
    expect(status.stdout).toContain('stopped');
    const startPlan = ok(['instance', 'start', 'main', '--dry-run']);
    expect(startPlan).toMatch(/pg_ctl start/);
    expect(socle(['instance', 'status', 'main']).status).toBe(3);
    ok(['instance', 'start', 'main']);
    expect(socle(['instance', 'status', 'main']).status).toBe(0);
    expect(jsonOf(['instance', 'get', 'main']).settings).toEqual(after.settings);
    expect(ok(['instance', 'logs', 'main', '-n', '200'])).toContain('database system is ready to accept connections');
  });

  test('apply -f: a manifest with roles and databases, idempotent', () => {
    const manifest = join(sb.dir, 'other.yml');
    writeFileSync(manifest, dump({
      name: 'other',
      port: port2,
      settings: { work_mem: '4MB' },
      roles: [{ name: 'owner2', login: true }],
      databases: [{ name: 'db2', owner: 'owner2' }],
    }));
    const plan = ok(['apply', '-f', manifest, '--dry-run']);
    expect(plan).toMatch(/create instance \S+\/other[\s\S]*create role owner2[\s\S]*create database db2/);
    expect(jsonOf(['instance', 'list']).map((i: any) => i.name)).toEqual(['main']);
    const first = jsonOf(['apply', '-f', manifest]);
    expect(first.changed).toBe(true);
    const second = jsonOf(['apply', '-f', manifest]);
    expect(second.changed).toBe(false);
    // A flag of a nested option is merged into the file's mapping, the file's other keys kept.
    const merged = jsonOf(['apply', '-f', manifest, '--settings', 'maintenance_work_mem=64MB']);
    expect(merged.changed).toBe(true);
    expect(jsonOf(['instance', 'get', 'other']).settings).toEqual(expect.objectContaining({ work_mem: '4MB', maintenance_work_mem: '64MB' }));
    expect(jsonOf(['database', 'get', 'db2', '-i', 'other']).owner).toBe('owner2');
    // Two instances now: role and database commands need -i.
    const ambiguous = socle(['role', 'list']);
    expect(ambiguous.status).toBe(2);
    expect(ambiguous.stderr).toContain("option 'instance' is required");
  });

  test('drop asks for confirmation, then removes the instance', () => {
    const refused = socle(['instance', 'drop', 'other']);
    expect(refused.status).toBe(5);
    expect(jsonOf(['instance', 'list']).map((i: any) => i.name)).toEqual(['main', 'other']);
    ok(['instance', 'drop', 'other', '--yes']);
    ok(['instance', 'drop', 'main', '--yes']);
    expect(jsonOf(['instance', 'list'])).toEqual([]);
    const gone = socle(['instance', 'get', 'main']);
    expect(gone.status).toBe(3);
    expect(gone.stderr).toContain('does not exist');
  });

  test('no password was ever printed, nor written in the server logs', () => {
    for (const secret of [BACKUP_PASSWORD]) expect(printed.filter((t) => t.includes(secret))).toEqual([]);
    for (const secret of [PASSWORD, PROMPTED]) {
      expect(printed.filter((t) => t.includes(secret))).toEqual([]);
    }
    // The instance was dropped with its logs folder? The log directory is the site's (kept).
    const logs = serverLogs(sb.dir);
    expect(logs).toContain('ALTER ROLE');
    for (const secret of [PASSWORD, PROMPTED]) expect(logs.includes(secret)).toBe(false);
  });
});

const BACKUP_PASSWORD = 'backup-secret-77';

// Backups: the pgbackrest module behind `instance backup|backups|restore` and `pgbackrest info`,
// with Debian's pgbackrest and a repository in a sandbox of its own.
(existsSync('/usr/bin/pgbackrest') ? describe : describe.skip)('backups with pgBackRest', () => {
  let bsb: Sandbox;
  let saved: Sandbox;
  beforeAll(async () => {
    saved = sb;
    bsb = makeSandbox('socle-cli-bk-');
    bsb.writeSettings({ pgbackrest: { repository: { mode: 'path', path: join(bsb.dir, 'repo') } } });
    sb = bsb;
  });
  afterAll(() => {
    sb = saved;
    bsb.cleanup();
  });

  test('create with a stanza, backup (progress shown), backups, info, restore into a new instance', async () => {
    const p1 = await freePort();
    const p2 = await freePort();
    const pw = join(bsb.dir, 'backup.password');
    writeFileSync(pw, BACKUP_PASSWORD, { mode: 0o600 });
    ok(['instance', 'create', 'bk', '--port', String(p1), '--pgbackrest-stanza', 'bk', '--pgbackrest-password-file', pw]);
    const info = jsonOf(['instance', 'get', 'bk']);
    psql(info.env, 'CREATE TABLE kept AS SELECT 1 AS x');
    const plan = ok(['instance', 'backup', 'bk', '--type', 'full', '--dry-run']);
    expect(plan).toMatch(/pgbackrest .*--type=full.* backup/);
    expect(jsonOf(['instance', 'backups', 'bk']).backups).toEqual([]);
    const backup = socle(['instance', 'backup', 'bk', '--type', 'full']);
    expect(backup.status).toBe(0);
    expect(backup.stderr).toMatch(/^\.\.\. .*backup/m);
    const backups = jsonOf(['instance', 'backups', 'bk']).backups;
    expect(backups).toEqual([expect.objectContaining({ type: 'full' })]);
    expect(ok(['instance', 'backups', 'bk'])).toMatch(/^LABEL\s+TYPE[\s\S]*full/);
    expect(jsonOf(['pgbackrest', 'info', 'bk'])).toEqual(expect.objectContaining({ stanza: 'bk', status: 'ok' }));
    // Progress of the restore on stderr, one line per step (no terminal here: no timer redrawn).
    const restore = socle(['instance', 'restore', 'bk', '--to-name', 'bk2', '--to-port', String(p2)]);
    expect({ status: restore.status, stderr: restore.status === 0 ? '' : restore.stderr }).toEqual({ status: 0, stderr: '' });
    expect(restore.stderr).toMatch(/^\.\.\. .*restore/m);
    const restored = jsonOf(['instance', 'get', 'bk2']);
    expect(psql(restored.env, 'SELECT x FROM kept')).toBe('1');
    ok(['instance', 'drop', 'bk2', '--yes']);
    ok(['instance', 'drop', 'bk', '--yes']);
  });
});

// A standby made with `apply -f` (the instance module's standby option), promoted by the command.
describe('promote', () => {
  let psb: Sandbox;
  let saved: Sandbox;
  beforeAll(() => {
    saved = sb;
    psb = makeSandbox('socle-cli-ha-');
    psb.writeSettings({ postgresql: { replrole: 'replicator' } });
    sb = psb;
  });
  afterAll(() => {
    sb = saved;
    psb.cleanup();
  });

  test('a standby is promoted; promoting a primary is refused', async () => {
    const p1 = await freePort();
    const p2 = await freePort();
    const replPassword = join(psb.dir, 'repl.password');
    writeFileSync(replPassword, 'repl-secret-5\n', { mode: 0o600 });
    ok(['instance', 'create', 'primary', '--port', String(p1), '--replrole-password-file', replPassword]);
    const manifest = join(psb.dir, 'standby.yml');
    writeFileSync(manifest, dump({ name: 'standby', port: p2, standby: { primary_conninfo: `host=127.0.0.1 port=${p1}`, password: 'repl-secret-5' } }), { mode: 0o600 });
    // The base backup of the new standby shows as a step in progress.
    const cloned = socle(['apply', '-f', manifest]);
    expect({ status: cloned.status, stderr: cloned.status === 0 ? '' : cloned.stderr }).toEqual({ status: 0, stderr: '' });
    expect(cloned.stderr).toMatch(/^\.\.\. .*(pg_basebackup|base backup)/m);
    expect(jsonOf(['instance', 'get', 'standby']).replication.role).toBe('standby');
    expect(ok(['instance', 'promote', 'standby', '--dry-run'])).toMatch(/pg_ctl promote/);
    expect(jsonOf(['instance', 'get', 'standby']).replication.role).toBe('standby');
    ok(['instance', 'promote', 'standby']);
    expect(jsonOf(['instance', 'get', 'standby']).replication.role).toBe('primary');
    const again = socle(['instance', 'promote', 'standby']);
    expect(again.status).toBe(1);
    expect(again.stderr).toContain('is not a standby');
    expect(printed.filter((t) => t.includes('repl-secret-5'))).toEqual([]);
  });
});
