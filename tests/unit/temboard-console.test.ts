// What the site settings ask of the temBoard console (no console here): whether to register, as
// which address, and the password file's rules.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentSite } from '../../modules/lib/components/temboard/agent';
import { consolePassword, registrationOf } from '../../modules/lib/components/temboard/console';

const site: AgentSite = {
  execpath: '/opt/socle/temboard/bin/temboard-agent',
  role: 'temboardagent',
  configpath: 'etc/x_{name}.conf',
  pidFile: 'x.pid',
  home: 'x',
  logpath: 'log',
  address: '0.0.0.0',
  plugins: [],
  certificate: {},
  uiEnvironment: 'default',
};

let dir: string;
beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'socle-tbconsole-unit-'))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('no registration without the console\'s URL and a user', () => {
  expect(registrationOf(site)).toBeNull();
  expect(registrationOf({ ...site, uiUrl: 'https://ui:8888' })).toBeNull();
  expect(registrationOf({ ...site, uiUsername: 'admin' })).toBeNull();
});

test('the agents\' address: agent_host, else a specific listen address, else the host name', () => {
  const r = registrationOf({ ...site, uiUrl: 'https://ui:8888/', uiUsername: 'admin', uiPasswordFile: '/p' })!;
  expect(r).toEqual({ url: 'https://ui:8888', username: 'admin', passwordFile: '/p', environment: 'default', agentHost: hostname() });
  expect(registrationOf({ ...site, uiUrl: 'https://ui', uiUsername: 'a', address: '10.0.0.5' })!.agentHost).toBe('10.0.0.5');
  expect(registrationOf({ ...site, uiUrl: 'https://ui', uiUsername: 'a', address: '10.0.0.5', agentHost: 'db1.example.com' })!.agentHost).toBe('db1.example.com');
});

test('the password: the first line of a private file; a file others may read, a missing or empty one, are refused by name', () => {
  const reg = (passwordFile: string) => registrationOf({ ...site, uiUrl: 'https://ui', uiUsername: 'admin', uiPasswordFile: passwordFile })!;
  const f = join(dir, 'pw');
  writeFileSync(f, "s3cret with 'quotes' and spaces\nignored\n", { mode: 0o600 });
  expect(consolePassword(reg(f))).toBe("s3cret with 'quotes' and spaces");
  const open = join(dir, 'open');
  writeFileSync(open, 'x\n', { mode: 0o640 });
  expect(() => consolePassword(reg(open))).toThrow(/site setting 'temboard\.ui_password_file': .* may be read by others \(mode 640\)/);
  expect(() => consolePassword(reg(join(dir, 'none')))).toThrow(/'temboard\.ui_password_file': .* does not exist/);
  expect(() => consolePassword(reg(''))).toThrow(/'temboard\.ui_password_file': required/);
  const empty = join(dir, 'empty');
  writeFileSync(empty, '\n', { mode: 0o600 });
  expect(() => consolePassword(reg(empty))).toThrow(/is empty/);
});
