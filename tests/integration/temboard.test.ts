// The `temboard` component of the instance module, on real PostgreSQL and temboard-agent 9.0.1
// (PyPI, in the virtualenv of scripts/temboard-venv.sh): the agent's API answers over HTTPS with
// the instance's identity, follows the instance's state, restarts on a changed configuration, a
// standby gets its own, drop leaves nothing; the password is in no output, command line or file
// others can read. Skipped (saying why) only when the virtualenv cannot be made here.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { runModule, runModuleKilledAfter, type RunOptions } from '../helpers/module';
import { freePort, httpGet, httpUntil, makeSandbox, type Sandbox } from '../helpers/sandbox';
import { watchSecrets, type SecretsCheck } from '../helpers/secrets';

jest.setTimeout(180_000);

// The virtualenv: made by scripts/test.sh as root beforehand (idempotent: the script returns at
// once when it is there); as the test user it can only be found, not made in /opt.
const venv = spawnSync('bash', ['scripts/temboard-venv.sh'], { encoding: 'utf8', env: { ...process.env, SOCLE_PYTHON: '/usr/bin/python3' } });
const BIN = venv.status === 0 ? venv.stdout.trim() : null;
const AGENT = BIN ? join(BIN, 'temboard-agent') : '';
if (!BIN) {
  // eslint-disable-next-line no-console
  console.warn(`temboard tests skipped: no temBoard agent virtualenv (run scripts/temboard-venv.sh as root): ${venv.stderr.trim().split('\n').pop()}`);
}
const describeIf = BIN ? describe : describe.skip;

// Spaces, quotes and a colon: what an ini value or a passfile entry breaks on.
const PASSWORD = `t3mb 'pa:ss"\\ wörd`;
const PASSWORD2 = 'an0ther-Secret';
const AUTH = { local: 'scram-sha-256' };
const LOOPBACK = { listen_addresses: '127.0.0.1' };

let sb: Sandbox;
let secrets: SecretsCheck;
let ports: { primary: number; standby: number; agent1: number; agent2: number; agent3: number };
// The instance's local method takes a password (the agent's only way in is the socket, see
// below): the module's own sessions find the super-user's in the site's passfile.
const run = (args: Record<string, unknown>, opts: RunOptions = {}) => runModule('instance', args, { env: { ...sb.env, PGPASSFILE: sb.passfile }, ...opts });
const common = { settings: LOOPBACK, auth: AUTH, surole_password: 'su-Secret-1', replrole_password: 'repl-Secret' };
const primary = (extra: Record<string, unknown> = {}) => ({ name: 'tb', port: ports.primary, ...common, temboard: { port: ports.agent1, password: PASSWORD }, ...extra });
const standby = (extra: Record<string, unknown> = {}) => ({
  name: 'tb_standby',
  port: ports.standby,
  ...common,
  standby: { primary_conninfo: `host=127.0.0.1 port=${ports.primary}`, password: 'repl-Secret' },
  temboard: { port: ports.agent2, password: PASSWORD },
  ...extra,
});

/** This sandbox's agents running now (the agent renames its processes: found by their environment), or those of one instance. */
function agentProcesses(instance?: string): number[] {
  const out = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const env = readFileSync(`/proc/${e}/environ`, 'utf8').split('\0');
      if (instance && !env.some((v) => v.startsWith('PGPASSFILE=') && v.endsWith(`-${instance}.pgpass`))) continue;
      if (env.includes(`SOCLE_SETTINGS=${sb.settingsFile}`) && env.some((v) => v.startsWith('SOCLE_TEMBOARD_CONFIG_SHA256='))) out.push(Number(e));
    } catch {
      /* gone, or another user's */
    }
  }
  return out;
}

function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

/** The agent's /discover: what it knows of its instance (JSON), once it answers. */
async function discover(port: number): Promise<{ postgres: Record<string, unknown> }> {
  const body = await httpUntil(`https://127.0.0.1:${port}/discover`, (b) => b.startsWith('{') && b.includes('"postgres"'));
  return JSON.parse(body);
}

beforeAll(async () => {
  sb = makeSandbox('socle-temboard-');
  ports = { primary: await freePort(), standby: await freePort(), agent1: await freePort(), agent2: await freePort(), agent3: await freePort() };
  const tls = join(sb.dir, 'tls');
  if (BIN) {
    // A self-signed certificate for the agents' API, and the console's signing key pair.
    execFileSync('mkdir', ['-p', tls]);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(tls, 'agent.key'), '-out', join(tls, 'agent.pem'), '-days', '2', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });
    execFileSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', join(tls, 'signing-private.pem')], { stdio: 'ignore' });
    execFileSync('openssl', ['pkey', '-in', join(tls, 'signing-private.pem'), '-pubout', '-out', join(tls, 'signing-public.pem')], { stdio: 'ignore' });
  }
  sb.writeSettings({
    postgresql: { replrole: 'replicator', surole: { pgpass: true } },
    temboard: {
      execpath: AGENT,
      address: '127.0.0.1',
      certificate: { cert: join(tls, 'agent.pem'), key: join(tls, 'agent.key') },
      signing_key: join(tls, 'signing-public.pem'),
    },
  });
  secrets = watchSecrets(sb);
});
afterAll(() => sb.cleanup());

describeIf('the temBoard agent with each instance', () => {
  test('check mode plans the role, the files and the service, and does nothing', () => {
    const { result } = run(primary(), { check: true });
    expect(result.failed ? result.msg : 'ok').toBe('ok');
    expect(result.changes).toEqual(expect.arrayContaining([
      expect.stringMatching(/^write the configuration of temBoard agent \d+-tb$/),
      expect.stringMatching(/^write the password of temBoard agent \d+-tb$/),
      expect.stringMatching(/^start service socle-temboard_agent-\d+-tb$/),
      'create role temboardagent (temBoard agent)',
      // Restarted once its role exists (it inspects the instance when it starts).
      expect.stringMatching(/^restart service socle-temboard_agent-\d+-tb$/),
    ]));
    expect(existsSync(join(sb.dir, 'srv'))).toBe(false);
    expect(agentProcesses()).toEqual([]);
  });

  test('bad options are refused before anything is written, naming them', () => {
    const samePort = run(primary({ temboard: { port: ports.primary } })).result;
    expect(samePort.failed).toBe(true);
    expect(samePort.msg).toMatch(/option 'temboard\.port'/);
    // peer (the site's default) lets only the owner in through the socket, the agent's only way in.
    const peer = run(primary({ auth: undefined })).result;
    expect(peer.failed).toBe(true);
    expect(peer.msg).toMatch(/option 'temboard'.*option 'auth\.local'/);
    expect(existsSync(join(sb.dir, 'srv'))).toBe(false);
  });

  test('creation: the API answers over HTTPS with the instance\'s identity; facts give URL and state', async () => {
    const { result, stdout, stderr } = run(primary());
    expect(result.failed ? result.msg : 'ok').toBe('ok');
    expect(result.temboard).toEqual({ url: `https://127.0.0.1:${ports.agent1}`, state: 'running', service: `socle-temboard_agent-${result.version}-tb` });
    const d = await discover(ports.agent1);
    expect(d.postgres).toMatchObject({ port: ports.primary, data_directory: result.datadir });
    expect(String(d.postgres.version)).toMatch(new RegExp(`^PostgreSQL ${result.version}\\.`));
    // The password: in no output, no file others can read; the ini file is private and holds none.
    expect(stdout + stderr).not.toContain('t3mb');
    const files = walk(join(sb.dir, 'srv'));
    const conf = files.find((f) => f.endsWith(`temboard-agent_${result.version}-tb.conf`))!;
    expect(statSync(conf).mode & 0o777).toBe(0o600);
    expect(readFileSync(conf, 'utf8')).not.toMatch(/t3mb|password/);
    for (const f of files.filter((x) => statSync(x).isFile() && statSync(x).mode & 0o004)) expect(readFileSync(f, 'utf8')).not.toMatch(/t3mb/);
  });

  test('a re-run is no change, and check mode agrees', () => {
    expect(run(primary()).result).toMatchObject({ changed: false, changes: [] });
    expect(run(primary(), { check: true }).result).toMatchObject({ changed: false });
  });

  test('a changed configuration restarts the agent alone', async () => {
    const before = agentProcesses();
    const moved = run(primary({ temboard: { port: ports.agent3, password: PASSWORD } })).result;
    expect(moved.changes).toEqual([
      expect.stringMatching(/^write the configuration of temBoard agent/),
      expect.stringMatching(/^restart service socle-temboard_agent-/),
    ]);
    expect(moved.temboard.url).toBe(`https://127.0.0.1:${ports.agent3}`);
    expect((await discover(ports.agent3)).postgres.port).toBe(ports.primary);
    await expect(httpGet(`https://127.0.0.1:${ports.agent1}/discover`)).rejects.toThrow();
    expect(agentProcesses().filter((p) => before.includes(p))).toEqual([]);
    // Back to the first port for what follows.
    expect(run(primary()).result.changed).toBe(true);
  });

  test('a new password alone: passfile and role, then the agent restarted, which connects with it; check mode plans that and changes nothing', async () => {
    const log = join(sb.dir, 'srv/log/temboard', readdirSync(join(sb.dir, 'srv/log/temboard')).find((f) => f.endsWith('-tb.log'))!);
    await discover(ports.agent1); // the agent of the test before, serving (its lines logged)
    const offset = statSync(log).size;
    const pids = agentProcesses();
    const passfile = readdirSync(join(sb.dir, 'srv/etc/temboard-agent')).find((f) => f.endsWith('-tb.pgpass'))!;
    const passText = readFileSync(join(sb.dir, 'srv/etc/temboard-agent', passfile), 'utf8');
    const wanted = [
      expect.stringMatching(/^write the password of temBoard agent \d+-tb$/),
      'set password of temboardagent',
      expect.stringMatching(/^restart service socle-temboard_agent-\d+-tb$/),
    ];
    // Check mode (with diff: the secrets check reads it) plans exactly that and changes nothing.
    const planned = run(primary({ temboard: { port: ports.agent1, password: PASSWORD2 } }), { check: true, diff: true }).result;
    expect(planned).toMatchObject({ changed: true, changes: wanted });
    expect(agentProcesses()).toEqual(pids);
    expect(readFileSync(join(sb.dir, 'srv/etc/temboard-agent', passfile), 'utf8')).toBe(passText);
    for (const password of [PASSWORD2, PASSWORD]) {
      const { result } = run(primary({ temboard: { port: ports.agent1, password } }), { diff: true });
      expect(result.changes).toEqual(wanted);
      expect((await discover(ports.agent1)).postgres.port).toBe(ports.primary);
    }
    // Each agent inspects the instance before it serves (an error is logged then): both restarted
    // agents served, and neither failed to connect with the password it was given.
    const text = readFileSync(log, 'utf8').slice(offset);
    expect(text.match(/web: Serving at/g)).toHaveLength(2);
    expect(text).not.toMatch(/Failed to collect Postgres data|authentication failed/);
  });

  test('stopping the instance stops its agent; starting it starts it again', async () => {
    const stopped = run(primary({ state: 'stopped' })).result;
    expect(stopped.changes).toEqual(expect.arrayContaining([expect.stringMatching(/^stop service socle-temboard_agent-/)]));
    expect(stopped.temboard.state).toBe('stopped');
    expect(agentProcesses()).toEqual([]);
    // Without repeating the option: the agent follows the instance all the same.
    const started = run({ name: 'tb', port: ports.primary, ...common }).result;
    expect(started.temboard.state).toBe('running');
    expect((await discover(ports.agent1)).postgres.port).toBe(ports.primary);
  });

  test('a standby gets its own agent on its own port (its role is the primary\'s)', async () => {
    const { result } = run(standby());
    expect(result.failed ? result.msg : 'ok').toBe('ok');
    expect(result.changes).not.toContain('create role temboardagent (temBoard agent)');
    expect(result.temboard.url).toBe(`https://127.0.0.1:${ports.agent2}`);
    expect((await discover(ports.agent2)).postgres.port).toBe(ports.standby);
    expect(run(standby()).result.changed).toBe(false);
  });

  test('an agent killed is started again by the next task', async () => {
    // The agent and its worker processes, all at once (as the OOM killer or an operator would).
    for (const pid of agentProcesses('tb')) process.kill(pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 300));
    expect(agentProcesses('tb')).toEqual([]);
    const { result } = run(primary());
    expect(result.changes).toEqual([expect.stringMatching(/^start service socle-temboard_agent-\d+-tb$/)]);
    expect((await discover(ports.agent1)).postgres.port).toBe(ports.primary);
    expect(run(primary()).result.changed).toBe(false);
  });

  test('a creation killed at any point converges on the next run, agent included, and leaves no agent at drop', async () => {
    for (const ms of [1000, 4000, 7000]) {
      const name = `killed${ms}`;
      const agent = await freePort();
      const task = { ...primary(), name, port: await freePort(), temboard: { port: agent, password: PASSWORD } };
      await runModuleKilledAfter('instance', task, ms, { ...sb.env, PGPASSFILE: sb.passfile });
      const again = run(task);
      expect(again.result.failed ? again.result.msg : 'ok').toBe('ok');
      expect((await discover(agent)).postgres.port).toBe(task.port);
      expect(agentProcesses(name).length).toBeGreaterThan(0);
      expect(run(task).result).toMatchObject({ changed: false, changes: [] });
      expect(run({ ...task, state: 'absent' }).result.failed).toBeUndefined();
      expect(agentProcesses(name)).toEqual([]);
    }
  });

  test('drop leaves no process and no file', () => {
    for (const task of [standby({ state: 'absent' }), primary({ state: 'absent' })]) {
      const { result } = run(task);
      expect(result.changed).toBe(true);
      expect(result.changes).toEqual(expect.arrayContaining([expect.stringMatching(/^stop service socle-temboard_agent-/)]));
    }
    expect(agentProcesses()).toEqual([]);
    const left = [...walk(join(sb.dir, 'srv')), ...walk(join(sb.dir, 'run'))].map((f) => f.slice(sb.dir.length)).filter((f) => /temboard/.test(f));
    expect(left).toEqual([]);
    // The agents' homes too (folders, which walk() does not list).
    const homes = join(sb.dir, 'srv/lib/temboard-agent/data');
    expect(existsSync(homes) ? readdirSync(homes) : []).toEqual([]);
    expect(run(primary({ state: 'absent' })).result.changed).toBe(false);
  });

  test('no secret leaked', async () => expect((await secrets.finish()).leaks).toEqual([]));
});
