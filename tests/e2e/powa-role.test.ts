// End to end: the powa role from the tarball finds the PoWA-enabled instances in the inventory
// (host vars socle_instances), deploys the repository instance that registers them and runs
// powa-collector; a re-run is no change; an instance whose `powa` is gone from the inventory is
// unregistered. No password in the output. Skipped when PoWA or powa-collector is not installed.
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { userInfo } from 'node:os';
import { dump } from 'js-yaml';
import { ansiblePlaybook, installCollection, type PlaybookRun } from '../helpers/ansible';
import { freePort, makeSandbox, psql, type Sandbox } from '../helpers/sandbox';
import { testedMajor } from '../helpers/versions';

jest.setTimeout(300_000);

const MAJOR = testedMajor();
const HAVE = ['powa', 'pg_qualstats', 'pg_stat_kcache'].every((e) => existsSync(`/usr/share/postgresql/${MAJOR}/extension/${e}.control`)) && existsSync('/usr/bin/powa-collector');
if (!HAVE) {
  // eslint-disable-next-line no-console
  console.warn(`powa role test skipped: PoWA or powa-collector is not installed for PostgreSQL ${MAJOR}`);
}
const testIf = HAVE ? test : test.skip;

const SECRETS = { remote: 'Remote-p0wa-8Hq', repo: 'Repo-p0wa-3Tz' };
let sb: Sandbox;
let env: NodeJS.ProcessEnv;
let ports: { remote: number; repo: number };

function runPlays(withPowa: boolean): PlaybookRun {
  const inventory = join(sb.dir, 'inventory.yml');
  const remote: Record<string, unknown> = { name: 'remote', port: ports.remote, settings: { listen_addresses: '127.0.0.1' } };
  if (withPowa) remote.powa = { password: SECRETS.remote };
  writeFileSync(inventory, dump({ all: { hosts: { localhost: { ansible_connection: 'local', ansible_host: '127.0.0.1', socle_instances: [remote] } } } }));
  const play = join(sb.dir, 'powa.yml');
  const common = { hosts: 'localhost', gather_facts: false, environment: { SOCLE_SETTINGS: sb.settingsFile }, vars: { socle_user: userInfo().username } };
  writeFileSync(play, dump([
    { ...common, roles: ['socle.postgresql.instance'] },
    {
      ...common,
      roles: [{
        role: 'socle.postgresql.powa',
        vars: {
          socle_powa_install: false,
          socle_powa_web: {},
          socle_powa_frequency: 5,
          socle_powa_repository: { name: 'repo', port: ports.repo, settings: { listen_addresses: '127.0.0.1' }, powa: { password: SECRETS.repo } },
        },
      }],
    },
  ]));
  return ansiblePlaybook(env, ['-i', inventory, play]);
}

function expectNoSecret(r: PlaybookRun): void {
  for (const [what, secret] of Object.entries(SECRETS)) expect(r.output.includes(secret) ? `${what} password leaked` : 'no leak').toBe('no leak');
}

const repoEnv = () => ({ PATH: `/usr/lib/postgresql/${MAJOR}/bin:${process.env.PATH}`, PGPORT: String(ports.repo), PGDATABASE: 'powa', PGUSER: 'postgres' });

beforeAll(async () => {
  sb = makeSandbox('socle-e2e-powa-');
  env = installCollection(sb.dir);
  ports = { remote: await freePort(), repo: await freePort() };
});
afterAll(() => sb.cleanup());

testIf('the role registers the inventory\'s PoWA-enabled instance, idempotently, and unregisters it when its powa goes', () => {
  const first = runPlays(true);
  expect(first.recap.failed === 0 ? 'ok' : first.output.slice(-3000)).toBe('ok');
  expectNoSecret(first);
  // The repository's socket directory (the site's default, under the sandbox).
  const socket = execFileSync('find', [sb.dir, '-name', `.s.PGSQL.${ports.repo}`], { encoding: 'utf8' }).trim().split('\n')[0];
  const env2 = { ...repoEnv(), PGHOST: dirname(socket) } as Record<string, string>;
  expect(psql(env2, "SELECT alias || ' ' || hostname || ' ' || port FROM powa_servers WHERE id > 0")).toBe(`localhost/remote 127.0.0.1 ${ports.remote}`);
  const again = runPlays(true);
  expect(again.recap).toMatchObject({ failed: 0, changed: 0 });
  const gone = runPlays(false);
  expect(gone.recap.failed).toBe(0);
  expect(psql(env2, 'SELECT count(*) FROM powa_servers WHERE id > 0')).toBe('0');
  expectNoSecret(gone);
});
