// The docs site (`npm run docs`, build/docsite/build.sh): antsibull-docs and Sphinx render the
// built tarball's modules and roles and the manuals of docs/. The build itself is strict (any
// Sphinx warning fails it); this test builds it into a temporary folder and checks what users
// would click: a page per module (modules/*.ts entry points) and per role (roles/*), a page per
// manual (docs/*.md), and every link between the site's pages leads to a page that exists and,
// with a #fragment, to an element of that id.
//
// The docs virtualenv is made by scripts/docs-venv.sh (as root, by scripts/test.sh); when it
// cannot be made here (PyPI out of reach, no permission), the test says so and is skipped.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';

jest.setTimeout(600_000);

const root = resolve(__dirname, '../..');
const venv = spawnSync('bash', [join(root, 'scripts/docs-venv.sh')], { encoding: 'utf8' });
const available = venv.status === 0;
if (!available) {
  process.stderr.write(`docs-site.test.ts skipped: the docs virtualenv cannot be made here (scripts/docs-venv.sh: ${venv.stderr.trim().split('\n').slice(-1)[0]})\n`);
}
const maybe = available ? test : test.skip;

let out: string;
let build: ReturnType<typeof spawnSync>;
beforeAll(() => {
  if (!available) return;
  out = mkdtempSync(join(tmpdir(), 'socle-docs-site-'));
  build = spawnSync('bash', [join(root, 'build/docsite/build.sh')], { env: { ...process.env, SOCLE_DOCS_OUT: out }, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
});
afterAll(() => {
  if (out) rmSync(out, { recursive: true, force: true });
});

function htmlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) return e === '_static' || e === '_sources' ? [] : htmlFiles(p);
    return e.endsWith('.html') ? [p] : [];
  });
}

const idsCache = new Map<string, Set<string>>();
function ids(file: string): Set<string> {
  if (!idsCache.has(file)) idsCache.set(file, new Set([...readFileSync(file, 'utf8').matchAll(/\s(?:id|name)="([^"]+)"/g)].map((m) => m[1])));
  return idsCache.get(file)!;
}

/** The broken internal links of the site: `page -> href (why)`. */
export function brokenLinks(site: string): string[] {
  const broken: string[] = [];
  for (const page of htmlFiles(site)) {
    const html = readFileSync(page, 'utf8');
    for (const m of html.matchAll(/<a\s[^>]*href="([^"]*)"/g)) {
      const href = m[1].replace(/&amp;/g, '&');
      if (/^[a-z][a-z0-9+.-]*:/i.test(href)) continue; // http:, https:, mailto: ... : not ours
      const [path, fragment] = href.split('#');
      const target = path === '' ? page : resolve(dirname(page), decodeURI(path.split('?')[0]));
      const file = existsSync(target) && statSync(target).isDirectory() ? join(target, 'index.html') : target;
      const where = `${relative(site, page)} -> ${href}`;
      if (!existsSync(file)) broken.push(`${where} (no such page)`);
      else if (fragment && file.endsWith('.html') && !ids(file).has(decodeURIComponent(fragment))) broken.push(`${where} (no element #${fragment})`);
    }
  }
  return broken;
}

maybe('npm run docs builds the site with no Sphinx warning', () => {
  expect({ status: build.status, stderr: build.status === 0 ? '' : String(build.stderr).slice(-4000) }).toEqual({ status: 0, stderr: '' });
  expect(existsSync(join(out, 'index.html'))).toBe(true);
});

maybe('antsibull-docs lint-collection-docs finds nothing to say about the collection (its extra docs included)', () => {
  // The tarball as users install it: docs/docsite/rst/ made from docs/*.md, extra-docs.yml.
  const dir = mkdtempSync(join(tmpdir(), 'socle-docs-lint-'));
  try {
    const bin = venv.stdout.trim();
    const dist = resolve(process.env.SOCLE_DIST ?? join(root, 'dist'));
    const tarball = join(dist, readdirSync(dist).find((f) => /^socle-postgresql-.*\.tar\.gz$/.test(f))!);
    const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, ANSIBLE_COLLECTIONS_PATH: dir, ANSIBLE_LOCAL_TEMP: join(dir, 'tmp') };
    const install = spawnSync('ansible-galaxy', ['collection', 'install', tarball, '-p', dir], { env, encoding: 'utf8' });
    expect(install.status).toBe(0);
    const collection = join(dir, 'ansible_collections/socle/postgresql');
    const manuals = readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => f.replace(/\.md$/, '.rst')).sort();
    expect(readdirSync(join(collection, 'docs/docsite/rst')).sort()).toEqual(manuals);
    const lint = spawnSync('antsibull-docs', ['lint-collection-docs', '--plugin-docs', '.'], { cwd: collection, env, encoding: 'utf8' });
    expect({ status: lint.status, output: `${lint.stdout}${lint.stderr}`.trim() }).toEqual({ status: 0, output: '' });
    // The lint does look at them: a manual missing is reported (the extra docs alone: faster).
    rmSync(join(collection, 'docs/docsite/rst/cli.rst'));
    const broken = spawnSync('antsibull-docs', ['lint-collection-docs', '.'], { cwd: collection, env, encoding: 'utf8' });
    expect(`${broken.stdout}${broken.stderr}`).toContain("ref ('cli') does not reference an existing file");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

maybe('every module, role and manual has a page', () => {
  const modules = readdirSync(join(root, 'modules')).filter((f) => f.endsWith('.ts')).map((f) => f.replace(/\.ts$/, ''));
  const roles = readdirSync(join(root, 'roles'));
  const manuals = readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => f.replace(/\.md$/, ''));
  expect(modules.length).toBeGreaterThan(4);
  const missing = [
    ...modules.map((m) => `${m}_module.html`),
    ...roles.map((r) => `${r}_role.html`),
    ...manuals.map((d) => `docsite/${d}.html`),
  ].filter((p) => !existsSync(join(out, p)));
  expect(missing).toEqual([]);
  // Each is reachable from the index (antsibull-docs' toctrees, extra-docs.yml for the manuals).
  const index = readFileSync(join(out, 'index.html'), 'utf8');
  const unlinked = [...modules.map((m) => `${m}_module.html`), ...roles.map((r) => `${r}_role.html`), ...manuals.map((d) => `docsite/${d}.html`)]
    .filter((p) => !index.includes(`href="${p}`));
  expect(unlinked).toEqual([]);
  // A module's page has its options (not an empty shell).
  expect(readFileSync(join(out, 'instance_module.html'), 'utf8')).toContain('surole_password');
});

maybe('no internal link of the site is broken', () => {
  const pages = htmlFiles(out);
  expect(pages.length).toBeGreaterThan(10);
  expect(brokenLinks(out)).toEqual([]);
});

test('the link checker finds a missing page and a missing anchor, and passes good links', () => {
  const site = mkdtempSync(join(tmpdir(), 'socle-docs-links-'));
  try {
    mkdirSync(join(site, 'docsite'));
    writeFileSync(join(site, 'index.html'), '<a href="docsite/a.html#here">ok</a><a href="docsite/gone.html">x</a><a href="https://example.com/x">ext</a><a href="#top">self</a><p id="top"></p>');
    writeFileSync(join(site, 'docsite/a.html'), '<h2 id="here"></h2><a href="../index.html#nowhere">x</a><a href="../index.html">ok</a>');
    expect(brokenLinks(site).sort()).toEqual(['docsite/a.html -> ../index.html#nowhere (no element #nowhere)', 'index.html -> docsite/gone.html (no such page)']);
  } finally {
    rmSync(site, { recursive: true, force: true });
  }
});
