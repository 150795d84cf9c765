// End to end: every playbook of the Socle's manuals (docs/*.md, as installed from the tarball) is
// run by ansible-playbook against a real PostgreSQL on loopback, in the order of its document.
//
// The marker is the fenced block's info string (Markdown renderers keep the first word, `yaml`,
// for highlighting and ignore the rest):
//   ```yaml runnable       a playbook, run twice: it succeeds, and the second run changes nothing
//   ```yaml runnable-once  a playbook that acts each time (backup, restore, restart): run once
//   ```yaml project-file   a file of the project (first line `# path`), written before what follows
//   ```yaml syntax-only    a playbook that needs what one host cannot be (an etcd cluster and
//                          Patroni members on several hosts, root for the etcd role): checked by
//                          `ansible-playbook --syntax-check` only (tests/integration/patroni.test.ts
//                          and the Molecule scenario `ha` run the same modules and roles)
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
};
/** Documents run in this order (each continues the platform the previous one left); others after, by name. */
const ORDER = ['installation.md', 'operations.md'];
/** The plays the tests leave out because they need root, by name. */
const ROOT_PLAYS = ['Prepare the hosts (packages, user, socket directory, site settings)', 'Upgrade the PostgreSQL packages (as root)'];

export interface Block { kind: 'runnable' | 'runnable-once' | 'project-file' | 'syntax-only' | 'console'; file: string; text: string; line: number }

/** The marked yaml blocks of a Markdown text, in order. */
export function markedBlocks(markdown: string): Block[] {
  const out: Block[] = [];
  for (const m of markdown.matchAll(/^```(?:yaml (runnable|runnable-once|project-file|syntax-only)|console (socle))\n([\s\S]*?)^```$/gm)) {
    const text = m[3];
    const file = m[2] ? '' : /^# (\S+)\n/.exec(text)?.[1] ?? '';
    out.push({ kind: (m[1] ?? 'console') as Block['kind'], file, text, line: markdown.slice(0, m.index).split('\n').length });
  }
  return out;
}

let sb: Sandbox;
let env: NodeJS.ProcessEnv;
let docsDir: string;
let project: string;
const ports: Record<string, number> = {};
let socleBin: string;
const consoleRules = new Map<string, number>();
const dropped: string[] = [];

beforeAll(async () => {
  sb = makeSandbox('socle-e2e-docs-');
  env = installCollection(sb.dir);
  docsDir = join(sb.dir, 'collections/ansible_collections/socle/postgresql/docs');
  project = join(sb.dir, 'project');
  newProject(project);
  for (const p of ['5432', 'standby', '5436', '9187']) ports[p] = await freePort();
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
  };
  const key = `${doc}:${file}`;
  return rules[key] ? substitute(key, text, rules[key]) : text;
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

function run(file: string, args: string[] = []): PlaybookRun {
  return ansiblePlaybook(env, ['-i', 'inventory', file, '-e', '@vault.yml', ...args], project);
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
        continue;
      }
      if (b.kind === 'console') {
        runConsole(where, b.text, report);
        continue;
      }
      if (b.kind === 'syntax-only') {
        writeFileSync(join(project, name), text);
        const check = run(name, ['--syntax-check']);
        expect({ where, status: check.status, output: check.status === 0 ? '' : check.output.slice(-3000) }).toEqual({ where, status: 0, output: '' });
        report.push(`${where} ${b.kind}: syntax ok (not run)`);
        continue;
      }
      writeFileSync(join(project, name), withoutRootPlays(text));
      const first = run(name);
      const failure = first.output.match(/(fatal:|ERROR!)[\s\S]{0,3000}/)?.[0];
      expect({ where, failure, failed: first.recap.failed }).toEqual({ where, failure: undefined, failed: 0 });
      if (b.kind === 'runnable') {
        const again = run(name);
        expect({ where, second: again.recap }).toMatchObject({ where, second: { changed: 0, failed: 0 } });
      }
      for (const secret of Object.values(VAULT)) expect({ where, leaks: first.output.includes(secret) }).toEqual({ where, leaks: false });
      report.push(`${where} ${b.kind}: ok`);
    }
  }
  expect(dropped.sort()).toEqual([...ROOT_PLAYS].sort());
  expect([...consoleRules.keys()].sort()).toEqual(consoleRulesHere().map(([r]) => String(r)).sort());
  process.stderr.write(report.join('\n') + '\n');
});
