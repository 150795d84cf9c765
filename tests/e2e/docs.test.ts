// End to end: every playbook of the Socle's manuals (docs/*.md, as installed from the tarball) is
// run by ansible-playbook against a real PostgreSQL on loopback, in the order of its document.
//
// The marker is the fenced block's info string (Markdown renderers keep the first word, `yaml`,
// for highlighting and ignore the rest):
//   ```yaml runnable       a playbook, run twice: it succeeds, and the second run changes nothing
//   ```yaml runnable-once  a playbook that acts each time (backup, restore, restart): run once
//   ```yaml project-file   a file of the project (first line `# path`), written before what follows
//   ```ini project-file    likewise (an inventory)
//   ```yaml syntax-only    a playbook checked by `ansible-playbook --syntax-check` only (none is
//                          left: kept for a playbook that cannot run here, which must say why)
//   ```console socle       a terminal session: each `$ socle ...` line is run (by bash, as the
//                          owner, the collection's files/socle as `socle`) where it stands and must
//                          exit 0; other lines (`$ systemctl ...`, the output shown) are left alone,
//                          but for `$ cat FILE`, whose lines below are written as FILE first; the
//                          password files the lines read (`~/repl.pw`, `~/backup.pw`, `~/shop.pw`) hold the vault's
//                          passwords
// A `runnable*` block's first line may name its file (`# site.yml`), as users save it.
//
// Only what cannot be the same here is substituted, and each substitution must apply (a rule that
// matches nothing fails the test, so the docs cannot drift away from it): ports (free ones), the
// second host (db2's instance `main` is `main_standby` on this one host, its primary 127.0.0.1),
// the owner (the test user, as extra var). Plays that need root (`become: true` without
// `become_user`: the setup role, package upgrades) are left out, and exactly those; the site
// settings of group_vars/all.yml are used with the sandbox's paths and `service_manager: none`.
// installation.md and operations.md share one project folder (the second operates what the first
// deploys); any other manual gets a project folder of its own, on the same host and settings.
//
// The high-availability cluster (installation.md section 7, `inventory-ha`: three etcd hosts and
// three Patroni members) is six inventory hosts on loopback (ansible_connection local), each with
// its own ports and files in host_vars/ the test writes: the etcd role runs without root
// (`socle_etcd_install: false`, no systemd, its play's `become: true` removed, the one
// substitution of a play), the members' instance `main` is `main_<host>` (one owner on one host:
// one data directory per name), their site settings (group_vars/cluster.yml's, with the
// sandbox's paths and `service_manager: none`) a file of their own, given to ansible-playbook for
// the playbooks of hosts `cluster`/`etcd` and to the members' `socle` lines (--site-settings, the
// member host's /etc/socle/settings.yaml). The `--candidate` of those lines is the synchronous
// standby of the moment, read as the manual says (Patroni hands over to no other one). Every
// daemon lives under the sandbox: its cleanup kills them by pid file.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { dump, load } from 'js-yaml';
import { ansiblePlaybook, installCollection, type PlaybookRun } from '../helpers/ansible';
import { freePort, makeSandbox, type Sandbox } from '../helpers/sandbox';

jest.setTimeout(900_000);

const me = userInfo().username;
const VAULT = {
  vault_postgres_password: 'Pg-docs-1', vault_repl_password: 'Repl-docs-2', vault_backup_password: 'Backup-docs-3',
  vault_monitoring_password: 'Mon docs-4', vault_shop_password: 'Shop-docs-5',
  vault_etcd_root_password: 'Etcd-root-docs-6', vault_etcd_main_password: 'Etcd main-docs-7', vault_patroni_api_password: 'Rest-docs-8',
};
/** Documents run in this order (each continues the platform the previous one left); others after, by name. */
const ORDER = ['installation.md', 'operations.md'];
/** The plays the tests leave out because they need root, by name. */
const ROOT_PLAYS = [
  'Prepare the hosts (packages, user, socket directory, site settings)', 'Upgrade the PostgreSQL packages (as root)',
  "Prepare the members' hosts (packages, user, socket directory, site settings)",
];
/** The hosts of inventory-ha (installation.md section 7), all on loopback here. */
const ETCD_HOSTS = ['etcd1', 'etcd2', 'etcd3'];
const MEMBERS = ['pg1', 'pg2', 'pg3'];
/** A playbook for the hosts of inventory-ha. */
const HA_PLAYBOOK = /^ {2}hosts: (?:cluster|etcd)\b/m;

export interface Block { kind: 'runnable' | 'runnable-once' | 'project-file' | 'syntax-only' | 'console'; file: string; text: string; line: number }

/** The marked yaml blocks of a Markdown text, in order. */
export function markedBlocks(markdown: string): Block[] {
  const out: Block[] = [];
  for (const m of markdown.matchAll(/^```(?:yaml (runnable|runnable-once|project-file|syntax-only)|ini (project-file)|console (socle))\n([\s\S]*?)^```$/gm)) {
    const text = m[4];
    const file = m[3] ? '' : /^# (\S+)\n/.exec(text)?.[1] ?? '';
    out.push({ kind: (m[1] ?? m[2] ?? 'console') as Block['kind'], file, text, line: markdown.slice(0, m.index).split('\n').length });
  }
  return out;
}

/** The recap of a run over every host of its inventory, summed. */
function recapAll(output: string): PlaybookRun['recap'] {
  const r = { ok: 0, changed: 0, failed: 0 };
  const lines = [...output.matchAll(/^\S+\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)/gm)];
  if (!lines.length) return { ok: -1, changed: -1, failed: -1 };
  for (const m of lines) {
    r.ok += Number(m[1]);
    r.changed += Number(m[2]);
    r.failed += Number(m[3]) + Number(m[4]);
  }
  return r;
}

let sb: Sandbox;
let env: NodeJS.ProcessEnv;
let docsDir: string;
let project: string;
const ports: Record<string, number> = {};
let socleBin: string;
/** The site settings of the Patroni members (group_vars/cluster.yml's, with the sandbox's paths). */
let haSettings: string;
const haPorts: Record<string, Record<string, number>> = {};
const consoleRules = new Map<string, number>();
const dropped: string[] = [];

beforeAll(async () => {
  sb = makeSandbox('socle-e2e-docs-');
  env = installCollection(sb.dir);
  docsDir = join(sb.dir, 'collections/ansible_collections/socle/postgresql/docs');
  project = join(sb.dir, 'project');
  newProject(project);
  for (const p of ['5432', 'standby', '5436', '9187']) ports[p] = await freePort();
  for (const h of ETCD_HOSTS) haPorts[h] = { client: await freePort(), peer: await freePort() };
  for (const h of MEMBERS) haPorts[h] = { pg: await freePort(), rest: await freePort(), exporter: await freePort() };
  haSettings = join(sb.dir, 'ha', 'settings.yaml');
  mkdirSync(join(sb.dir, 'ha'), { recursive: true });
  env = { ...env, HOME: join(sb.dir, 'home'), SOCLE_SETTINGS: sb.settingsFile };
  mkdirSync(env.HOME!, { recursive: true });
  // The password files the manuals' `socle` lines read (written by the operator, as they say).
  writeFileSync(join(env.HOME!, 'repl.pw'), `${VAULT.vault_repl_password}\n`, { mode: 0o600 });
  writeFileSync(join(env.HOME!, 'backup.pw'), `${VAULT.vault_backup_password}\n`, { mode: 0o600 });
  writeFileSync(join(env.HOME!, 'shop.pw'), `${VAULT.vault_shop_password}\n`, { mode: 0o600 });
  // `socle` as the setup role installs it: the collection's files/socle, on the PATH.
  socleBin = join(sb.dir, 'bin');
  mkdirSync(socleBin);
  writeFileSync(join(socleBin, 'socle'), `#!/bin/sh\nexec node ${join(docsDir, '../files/socle')} "$@"\n`, { mode: 0o755 });
});
afterAll(() => sb?.cleanup());

/** A project folder: the inventory (db1 and db2 are this host), the vault, group_vars/. */
function newProject(dir: string): void {
  mkdirSync(join(dir, 'group_vars'), { recursive: true });
  writeFileSync(join(dir, 'inventory'), '[databases]\nlocalhost ansible_connection=local\n[standbys]\nlocalhost ansible_connection=local\n');
  writeFileSync(join(dir, 'vault.yml'), dump({ ...VAULT, socle_user: me }));
}

function substitute(where: string, text: string, rules: Array<[RegExp, string]>): string {
  for (const [pattern, by] of rules) {
    expect({ where, pattern: String(pattern), found: pattern.test(text) }).toEqual({ where, pattern: String(pattern), found: true });
    pattern.lastIndex = 0;
    text = text.replace(pattern, by);
  }
  return text;
}

/** What cannot be the same on this one host, per file of a manual (`manual.md:file`). */
function localised(doc: string, file: string, text: string): string {
  const standby: Array<[RegExp, string]> = [
    [/host=db1 port=5432/g, `host=127.0.0.1 port=${ports['5432']}`],
    [/\bname: main\n/g, 'name: main_standby\n'],
    [/\bport: 5432\n/g, `port: ${ports.standby}\n`],
  ];
  const rules: Record<string, Array<[RegExp, string]>> = {
    'installation.md:group_vars/databases.yml': [[/\bport: 5432\n/g, `port: ${ports['5432']}\n`], [/\bport: 9187\n/g, `port: ${ports['9187']}\n`]],
    'operations.md:restore-copy.yml': [[/\bport: 5436\b/g, `port: ${ports['5436']}`]],
    'operations.md:metrics.yml': [[/127\.0\.0\.1:9187/g, `127.0.0.1:${ports['9187']}`]],
    'operations.md:standby.yml': standby,
    'operations.md:replication.yml': [[/\bname: main\n/g, 'name: main_standby\n']],
    'operations.md:promote.yml': standby,
    'installation.md:inventory-ha': [[/ansible_host=10\.0\.\d+\.\d+/g, 'ansible_host=127.0.0.1 ansible_connection=local']],
    'installation.md:group_vars/cluster.yml': [
      [/\n {2}- name: main\n/g, '\n  - name: "main_{{ inventory_hostname_short }}"\n'],
      [/\n {4}port: 5432\n/g, '\n    port: "{{ docs_test_pg_port }}"\n'],
      [/listen: "\{\{ ansible_host \}\}:8008"/g, 'listen: "{{ ansible_host }}:{{ docs_test_rest_port }}"'],
      [/\n {6}port: 9187\n/g, '\n      port: "{{ docs_test_exporter_port }}"\n'],
      [/hosts: \[10\.0\.1\.1:2379, 10\.0\.1\.2:2379, 10\.0\.1\.3:2379\]/g, `hosts: [${ETCD_HOSTS.map((h) => `127.0.0.1:${haPorts[h].client}`).join(', ')}]`],
    ],
    'installation.md:ha.yml': [
      // The etcd role runs without root here (host_vars: no package install, no systemd, no etcd user).
      [/(\n {2}hosts: etcd\n) {2}become: true\n/g, '$1'],
      [/\binstance: main\n/g, 'instance: main_pg1\n'],
    ],
    'operations.md:switchover.yml': [[/\binstance: main\n/g, 'instance: main_pg1\n']],
    'operations.md:patroni-maintenance.yml': [[/\binstance: main([,\n ])/g, 'instance: main_pg1$1']],
  };
  const key = `${doc}:${file}`;
  return rules[key] ? substitute(key, text, rules[key]) : text;
}

/** What inventory-ha's hosts need to be six hosts on this one: their ports and files (host_vars/). */
function haHostVars(): void {
  mkdirSync(join(project, 'host_vars'), { recursive: true });
  for (const h of ETCD_HOSTS) {
    const dir = join(sb.dir, 'ha', h);
    writeFileSync(join(project, 'host_vars', `${h}.yml`), dump({
      socle_etcd_install: false, socle_etcd_user: '', socle_etcd_service_manager: 'none', socle_etcd_cluster_token: `docs-${process.pid}`,
      socle_etcd_address: '127.0.0.1', socle_etcd_client_port: haPorts[h].client, socle_etcd_peer_port: haPorts[h].peer,
      socle_etcd_data_dir: join(dir, 'data'), socle_etcd_config_file: join(dir, 'etcd.env'),
      socle_etcd_pid_file: join(sb.dir, 'ha', `${h}.pid`), socle_etcd_log_file: join(dir, 'etcd.log'),
    }));
  }
  for (const h of MEMBERS) {
    writeFileSync(join(project, 'host_vars', `${h}.yml`), dump({
      docs_test_pg_port: haPorts[h].pg, docs_test_rest_port: haPorts[h].rest, docs_test_exporter_port: haPorts[h].exporter,
    }));
  }
}

/** The members' site settings: group_vars/cluster.yml's, with the sandbox's paths, no systemd. */
function haSiteSettings(clusterVars: string): void {
  const s = structuredClone((load(clusterVars) as { socle_settings: Record<string, any> }).socle_settings);
  const dir = join(sb.dir, 'ha');
  Object.assign(s, { prefix: join(dir, 'srv'), run_prefix: join(dir, 'run'), lock_timeout: 60, service_manager: 'none' });
  s.postgresql = { ...s.postgresql, auth: { ...(s.postgresql?.auth ?? {}), passfile: join(dir, 'pgpass') } };
  if (process.env.SOCLE_TEST_PG_VERSION) s.postgresql.default_version = process.env.SOCLE_TEST_PG_VERSION;
  writeFileSync(haSettings, dump(s));
}

/** The plays of a playbook that need root (`become: true`, no `become_user`) are left out. */
function withoutRootPlays(text: string): string {
  const plays = text.split(/\n(?=- name: )/);
  return plays.filter((p) => {
    const head = `${p.split(/\n  (?:tasks|roles):/)[0]}\n`;
    const root = /\n  become: true\n/.test(head) && !/\n  become_user:/.test(head);
    if (root) dropped.push(/^(?:# \S+\n)?- name: (.*)/.exec(p)![1]);
    return !root;
  }).join('\n');
}

/** The settings the setup role would write from group_vars/all.yml, with the sandbox's paths. */
function siteSettings(allVars: string): void {
  const vars = load(allVars) as { socle_settings: Record<string, any> };
  const s = structuredClone(vars.socle_settings);
  s.service_manager = 'none';
  s.pgbackrest.repository.path = join(sb.dir, 'repo');
  sb.writeSettings(s);
}

/** What cannot be the same on this host in the manuals' `socle` lines and files (each rule must apply once at least). */
function consoleRulesHere(): Array<[RegExp, string]> {
  return [
    [/--to-port 5436\b/g, `--to-port ${ports['5436']}`],
    // db2's standby `main` is `main_standby` here, its primary 127.0.0.1 (as in standby.yml).
    [/'host=db1 port=5432'/g, `'host=127.0.0.1 port=${ports['5432']}'`],
    [/^name: main$/gm, 'name: main_standby'],
    [/^port: 5432$/gm, `port: ${ports.standby}`],
    // A Patroni member's instance (main_pg1 here), with the member host's site settings.
    [/\b(socle patroni \w+) main\b/g, `$1 main_pg1 --site-settings ${haSettings}`],
    // The candidate: the synchronous standby of the moment, read as the manual says (right after a
    // switchover the new leader has none for a loop_wait or so: read again, for a minute at most).
    [/--candidate pg\d\b/g, `--candidate "$(for i in $(seq 60); do s=$(socle patroni members main_pg1 --site-settings ${haSettings} -o json | jq -r '.sync_standby[0] // empty'); [ -n "$s" ] && break; sleep 1; done; echo "$s")"`],
  ];
}
function consoleLocalised(line: string): string {
  const rules = consoleRulesHere();
  for (const [pattern, by] of rules) {
    if (pattern.test(line)) consoleRules.set(String(pattern), (consoleRules.get(String(pattern)) ?? 0) + 1);
    pattern.lastIndex = 0;
    line = line.replace(pattern, by);
  }
  return line;
}

/** The `$ socle ...` lines of a console block, run in turn by bash as they are typed. */
function runConsole(where: string, text: string, report: string[]): void {
  // `$ cat FILE` shows a file the next lines use: written first, with what follows it up to the next `$ `.
  for (const m of text.matchAll(/^\$ cat (\S+)\n((?:(?!\$ ).*\n)*)/gm)) writeFileSync(join(project, m[1]), consoleLocalised(m[2]));
  const lines = text.split('\n').filter((l) => /^\$ socle /.test(l)).map((l) => l.slice(2));
  expect({ where, socleLines: lines.length > 0 }).toEqual({ where, socleLines: true });
  for (const line of lines) {
    const p = spawnSync('bash', ['-c', consoleLocalised(line)], { cwd: project, env: { ...env, PATH: `${socleBin}:${process.env.PATH}` }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const failure = p.status === 0 ? '' : `exit ${p.status}: ${p.stderr.slice(-2000)}`;
    expect({ where, line, failure }).toEqual({ where, line, failure: '' });
    for (const secret of Object.values(VAULT)) expect({ where, line, leaks: `${p.stdout}${p.stderr}`.includes(secret) }).toEqual({ where, line, leaks: false });
    report.push(`${where} $ ${line}: ok`);
  }
}

/** A playbook of the project, against inventory-ha (with the members' settings) when it is for its hosts. */
function run(file: string, args: string[] = [], ha = false): PlaybookRun {
  const r = ansiblePlaybook(ha ? { ...env, SOCLE_SETTINGS: haSettings } : env, ['-i', ha ? 'inventory-ha' : 'inventory', file, '-e', '@vault.yml', ...args], project);
  return { ...r, recap: recapAll(r.output) };
}

function documents(): string[] {
  const all = readdirSync(docsDir).filter((f) => f.endsWith('.md')).sort();
  return [...ORDER.filter((d) => all.includes(d)), ...all.filter((d) => !ORDER.includes(d))];
}

test('the manuals have runnable playbooks (installation, operations)', () => {
  const playbooks = (d: string) => markedBlocks(readFileSync(join(docsDir, d), 'utf8')).filter((b) => b.kind === 'runnable' || b.kind === 'runnable-once').length;
  const consoles = markedBlocks(readFileSync(join(docsDir, 'operations.md'), 'utf8')).filter((b) => b.kind === 'console').length;
  expect({ consoles: consoles >= 5 }).toEqual({ consoles: true });
  expect({ installation: playbooks('installation.md') >= 2, operations: playbooks('operations.md') >= 10 }).toEqual({ installation: true, operations: true });
});

test('every playbook of docs/*.md runs, in order; a second run of a runnable one changes nothing', () => {
  const report: string[] = [];
  for (const doc of documents()) {
    // installation.md and operations.md share a project (the platform of the one is the other's);
    // any other manual starts in a project of its own (same host and site settings).
    if (!ORDER.includes(doc)) {
      project = join(sb.dir, `project-${doc.replace(/\.md$/, '')}`);
      newProject(project);
    }
    for (const [i, b] of markedBlocks(readFileSync(join(docsDir, doc), 'utf8')).entries()) {
      const where = `${doc}:${b.line} ${b.file}`;
      const name = b.file || `${doc.replace(/\.md$/, '')}-${i}.yml`;
      const text = localised(doc, b.file, b.text);
      if (b.kind === 'project-file') {
        expect({ where, file: b.file }).toEqual({ where, file: expect.stringMatching(/\S/) });
        mkdirSync(dirname(join(project, b.file)), { recursive: true });
        writeFileSync(join(project, b.file), text);
        if (b.file === 'group_vars/all.yml') siteSettings(text);
        if (b.file === 'group_vars/cluster.yml') haSiteSettings(text);
        if (b.file === 'inventory-ha') haHostVars();
        continue;
      }
      if (b.kind === 'console') {
        runConsole(where, b.text, report);
        continue;
      }
      if (b.kind === 'syntax-only') {
        writeFileSync(join(project, name), text);
        const check = run(name, ['--syntax-check'], HA_PLAYBOOK.test(text));
        expect({ where, status: check.status, output: check.status === 0 ? '' : check.output.slice(-3000) }).toEqual({ where, status: 0, output: '' });
        report.push(`${where} ${b.kind}: syntax ok (not run)`);
        continue;
      }
      writeFileSync(join(project, name), withoutRootPlays(text));
      const ha = HA_PLAYBOOK.test(text);
      const started = Date.now();
      const first = run(name, [], ha);
      const failure = first.output.match(/(fatal:|failed: \[|ERROR!)[\s\S]{0,3000}/)?.[0];
      expect({ where, failure, failed: first.recap.failed }).toEqual({ where, failure: undefined, failed: 0 });
      if (b.kind === 'runnable') {
        const again = run(name, [], ha);
        expect({ where, second: again.recap }).toMatchObject({ where, second: { changed: 0, failed: 0 } });
      }
      for (const secret of Object.values(VAULT)) expect({ where, leaks: first.output.includes(secret) }).toEqual({ where, leaks: false });
      // The time each playbook took (both runs), to see what the manuals cost the suite.
      report.push(`${where} ${b.kind}: ok (${Math.round((Date.now() - started) / 1000)} s)`);
    }
  }
  expect(dropped.sort()).toEqual([...ROOT_PLAYS].sort());
  expect([...consoleRules.keys()].sort()).toEqual(consoleRulesHere().map(([r]) => String(r)).sort());
  process.stderr.write(report.join('\n') + '\n');
});
