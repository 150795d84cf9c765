// The generator of the collection: `npm run build` turns schemas, TypeScript modules, roles and
// galaxy/ into dist/collection/ (the collection tree) and dist/socle-postgresql-<version>.tar.gz.
//
//   1. generate validators and types from schemas/ into modules/generated/
//   2. bundle each modules/<name>.ts into plugins/modules/<name>.js (one CommonJS file, Node 18)
//   3. render each module's documentation sidecar plugins/modules/<name>.yml from its schema
//   4. copy galaxy/ and roles/ (with argument specs generated from schemas), fill in the version
//      and the action group
//   5. `ansible-galaxy collection build`
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { execFileSync } from 'node:child_process';
import { buildSync } from 'esbuild';
import { dump, load } from 'js-yaml';
import { withCodeCache } from './code-cache';
import { generate } from './generate';
import { bundleCli, generateCli } from './cli';
import { manualsToRst } from './docs-rst';
import { loadSchemas, moduleSchemas } from './schema/load';
import { toAnsibleDoc } from './schema/ansible-doc';
import { toArgumentSpecEntryPoint } from './schema/argument-spec';

const root = resolve(__dirname, '..', '..');
// SOCLE_DIST lets several builds (parallel work, CI) not overwrite each other's output.
const dist = process.env.SOCLE_DIST ? resolve(process.env.SOCLE_DIST) : join(root, 'dist');
const tree = join(dist, 'collection');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const NAMESPACE = 'socle';
const COLLECTION = 'postgresql';
/** The license line ansible-test's validate-modules looks for in a module's first 20 lines (and its docs'). */
const LICENSE_LINE = '// GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)';
/** Sidecar docs' author: ansible-test's validate-modules wants `Name (@github)` or `Name (!UNKNOWN)`. */
const AUTHOR = ['socle.postgresql maintainers (!UNKNOWN)'];

/**
 * Text that makes Ansible treat a module as something else, or rewrite it: Ansible scans module
 * files for these (module_common.py) before deciding how to run them.
 */
const FORBIDDEN_MARKERS = [
  'from ansible.module_utils', 'import ansible.module_utils', '#Requires -Module', '#Requires -Version',
  '#AnsibleRequires', '#<<INCLUDE_ANSIBLE_MODULE_COMMON>>', '<<INCLUDE_ANSIBLE_MODULE_JSON_ARGS>>',
  '<<INCLUDE_ANSIBLE_MODULE_COMPLEX_ARGS>>', '<<ANSIBLE_VERSION>>', '<<SELINUX_SPECIAL_FILESYSTEMS>>',
  '<<INCLUDE_ANSIBLE_MODULE_WINDOWS_ARGS>>', 'POWERSHELL_COMMON',
];

function step(what: string): void {
  process.stderr.write(`build: ${what}\n`);
}

function yaml(doc: unknown): string {
  return dump(doc, { lineWidth: 100, noRefs: true, quotingType: '"' });
}

/** All modules/<name>.ts, or those listed in $SOCLE_MODULES (comma-separated, for quick rebuilds). */
function moduleNames(): string[] {
  const only = process.env.SOCLE_MODULES?.split(',').filter(Boolean);
  if (only?.length) return only.sort();
  return readdirSync(join(root, 'modules'))
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .map((f) => f.slice(0, -3))
    .sort();
}

export function bundle(name: string, outfile: string): void {
  buildSync({
    entryPoints: [join(root, 'modules', `${name}.ts`)],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node18',
    format: 'cjs',
    minify: true,
    legalComments: 'none',
    // Optional drivers pg never loads unless asked to.
    external: ['pg-native', 'pg-cloudflare'],
    // pg probes for Cloudflare Workers with `new Response(...)`; on Node 18/20 merely touching
    // the global `Response` loads undici (~10 ms on every task). Modules never use fetch.
    define: { Response: 'undefined' },
    logLevel: 'warning',
  });
  // The shebang lets `ansible_node_interpreter` override node per host; WANT_JSON makes Ansible
  // pass the args as a JSON file (esbuild strips comments, so they are added here).
  const header = ['#!/usr/bin/node', '// WANT_JSON', `// socle.postgresql ${name} ${pkg.version}`, LICENSE_LINE].join('\n');
  const code = withCodeCache(header, readFileSync(outfile, 'utf8'), name);
  writeFileSync(outfile, code);
  for (const marker of FORBIDDEN_MARKERS) {
    if (code.includes(marker)) throw new Error(`${outfile} contains "${marker}": Ansible would misdetect or rewrite this module`);
  }
}

const CHANGE_SECTIONS: Array<[string, string]> = [
  ['major_changes', 'Major changes'], ['minor_changes', 'Minor changes'], ['breaking_changes', 'Breaking changes'],
  ['deprecated_features', 'Deprecated features'], ['removed_features', 'Removed features'], ['security_fixes', 'Security fixes'],
  ['bugfixes', 'Bugfixes'], ['known_issues', 'Known issues'],
];

/** CHANGELOG.md from changelogs/changelog.yaml (antsibull-changelog's format), newest release first. */
export function renderChangelog(doc: any): string {
  const out = ['# Changelog', ''];
  const versions = Object.keys(doc?.releases ?? {}).sort((a, b) => b.localeCompare(a, undefined, { numeric: true }));
  for (const v of versions) {
    const changes = doc.releases[v].changes ?? {};
    out.push(`## ${v}`, '');
    if (changes.release_summary) out.push(String(changes.release_summary).trim(), '');
    for (const [key, title] of CHANGE_SECTIONS) {
      if (!changes[key]?.length) continue;
      out.push(`### ${title}`, '', ...changes[key].map((c: string) => `- ${c.trim().replace(/``/g, '`')}`), '');
    }
  }
  return out.join('\n');
}

function buildRoles(set: ReturnType<typeof loadSchemas>): void {
  const rolesDir = join(root, 'roles');
  if (!existsSync(rolesDir)) return;
  for (const role of readdirSync(rolesDir)) {
    const src = join(rolesDir, role);
    const dst = join(tree, 'roles', role);
    cpSync(src, dst, { recursive: true });
    // A role's variables are described by schemas/role_<role>.schema.yml: its argument specs are
    // generated from it, never written by hand.
    const schema = set.byId.get(`socle/role_${role}`);
    if (schema) {
      mkdirSync(join(dst, 'meta'), { recursive: true });
      writeFileSync(join(dst, 'meta', 'argument_specs.yml'), '---\n' + yaml({ argument_specs: { main: toArgumentSpecEntryPoint(set, schema.schema) } }));
    }
  }
}

/**
 * ansible-galaxy of the project's virtualenv ($SOCLE_VENV or .venv), made by scripts/venv.sh
 * when missing, so that `npm ci && npm run build` works on a fresh clone.
 */
function ansibleGalaxy(): string {
  const venv = process.env.SOCLE_VENV ?? join(root, '.venv');
  const candidate = join(venv, 'bin', 'ansible-galaxy');
  if (!existsSync(candidate)) {
    step(`no ${candidate}: creating the virtualenv with scripts/venv.sh`);
    execFileSync('bash', [join(root, 'scripts', 'venv.sh')], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, SOCLE_VENV: venv } });
  }
  return candidate;
}

function main(): void {
  const set = loadSchemas(join(root, 'schemas'));
  const modules = moduleNames();
  const schemaNames = moduleSchemas(set).map((e) => e.id.slice('socle/'.length));
  for (const m of modules) {
    if (!schemaNames.includes(m)) throw new Error(`module ${m} has no schema schemas/${m}.schema.yml`);
  }

  step(`generating validators and types for ${modules.join(', ')} and settings`);
  generate(set, [...modules, 'settings'], join(root, 'modules', 'generated'));
  generateCli(set, modules, join(root, 'modules', 'generated'));
  if (process.argv.includes('--generate-only')) return;

  rmSync(dist, { recursive: true, force: true });
  const pluginDir = join(tree, 'plugins', 'modules');
  mkdirSync(pluginDir, { recursive: true });
  for (const m of modules) {
    step(`bundling ${m}`);
    bundle(m, join(pluginDir, `${m}.js`));
    const doc = toAnsibleDoc(set, set.byId.get(`socle/${m}`)!.schema, { namespace: NAMESPACE, collection: COLLECTION, version: pkg.version, author: AUTHOR });
    writeFileSync(
      join(pluginDir, `${m}.yml`),
      '---\n' + LICENSE_LINE.replace('//', '#') + '\n' + yaml({ DOCUMENTATION: doc.DOCUMENTATION }) + yaml({ EXAMPLES: doc.EXAMPLES }) + yaml({ RETURN: doc.RETURN }),
    );
  }

  step('bundling the socle command (files/socle)');
  mkdirSync(join(tree, 'files'), { recursive: true });
  bundleCli(root, join(tree, 'files', 'socle'), ['#!/usr/bin/node', `// socle ${pkg.version}: the terminal command of socle.postgresql (docs/cli.md)`, LICENSE_LINE].join('\n'), pkg.version);

  step('assembling the collection tree');
  const galaxy = load(readFileSync(join(root, 'galaxy', 'galaxy.yml'), 'utf8')) as Record<string, unknown>;
  galaxy.version = pkg.version;
  writeFileSync(join(tree, 'galaxy.yml'), yaml(galaxy));
  const runtime = load(readFileSync(join(root, 'galaxy', 'meta', 'runtime.yml'), 'utf8')) as Record<string, any>;
  runtime.action_groups = { ...(runtime.action_groups ?? {}), all: modules };
  mkdirSync(join(tree, 'meta'), { recursive: true });
  writeFileSync(join(tree, 'meta', 'runtime.yml'), '---\n' + yaml(runtime));
  if (existsSync(join(root, 'galaxy', 'README.md'))) cpSync(join(root, 'galaxy', 'README.md'), join(tree, 'README.md'));
  writeFileSync(join(tree, 'CHANGELOG.md'), renderChangelog(load(readFileSync(join(root, 'galaxy', 'changelogs', 'changelog.yaml'), 'utf8'))));
  for (const d of ['docs', 'playbooks', 'tests', 'changelogs']) {
    if (existsSync(join(root, 'galaxy', d))) cpSync(join(root, 'galaxy', d), join(tree, d), { recursive: true });
  }
  writeSanityIgnores(tree, modules);
  // The Socle's documents (docs/ of the repository) are published with the collection.
  if (existsSync(join(root, 'docs'))) {
    cpSync(join(root, 'docs'), join(tree, 'docs'), { recursive: true });
    // ... and as the reStructuredText extra docs antsibull-docs renders (docs/docsite/rst/).
    manualsToRst(join(root, 'docs'), join(tree, 'docs', 'docsite', 'rst'), join(root, 'build', 'docsite', 'md-to-rst.lua'));
  }
  // Examples users copy (examples/reference: the reference deployment, which Molecule's `reference` scenario runs).
  if (existsSync(join(root, 'examples'))) cpSync(join(root, 'examples'), join(tree, 'examples'), { recursive: true });
  // Molecule scenarios: where Molecule looks for them in a collection (extensions/molecule/<scenario>).
  if (existsSync(join(root, 'molecule'))) cpSync(join(root, 'molecule'), join(tree, 'extensions', 'molecule'), { recursive: true });
  if (existsSync(join(root, 'LICENSE'))) cpSync(join(root, 'LICENSE'), join(tree, 'LICENSE'));
  buildRoles(set);

  step('ansible-galaxy collection build');
  execFileSync(ansibleGalaxy(), ['collection', 'build', tree, '--output-path', dist, '--force'], { stdio: ['ignore', 'ignore', 'inherit'] });
  step(`done: ${join(dist, `${NAMESPACE}-${COLLECTION}-${pkg.version}.tar.gz`)}`);
}

/**
 * ansible-test sanity knows only Python and PowerShell modules: two tests cannot pass for a Node
 * module, whatever it does. Their ignore lines are written for every module the build bundles
 * (a new module needs no hand-written entry), for each ansible-core version we test with.
 */
function writeSanityIgnores(tree: string, modules: string[]): void {
  const lines = modules.flatMap((m) => [
    `plugins/modules/${m}.js shebang  # Node module: \`#!/usr/bin/node\` (so ansible_node_interpreter can override it); the test knows only Python/PowerShell interpreters and extensions`,
    `plugins/modules/${m}.js validate-modules:invalid-extension  # Node module bundled as .js (ansible-doc reads its docs from ${m}.yml); the test wants .py or .ps1`,
  ]);
  // The socle command is a Node program too (files/socle, installed by the setup role).
  lines.push('files/socle shebang  # the socle command, a Node program: `#!/usr/bin/node`; the test knows only Python/PowerShell interpreters');
  mkdirSync(join(tree, 'tests', 'sanity'), { recursive: true });
  for (const core of SANITY_CORE_VERSIONS) writeFileSync(join(tree, 'tests', 'sanity', `ignore-${core}.txt`), lines.join('\n') + '\n');
}

/** ansible-core versions whose `ansible-test sanity` gets an ignore file (the venv's is 2.18). */
const SANITY_CORE_VERSIONS = ['2.18'];

main();
