// The manuals' links (docs/*.md), checked without building the site: a relative link leads to a
// file of the repository, and a #fragment to a heading of the target (GitHub's and myst-parser's
// slugs: lower case, punctuation dropped, spaces as hyphens). A manual not written yet is not
// linked (tests/e2e/docs-site.test.ts checks the built site the same way); the marked playbooks
// are well-formed (tests/e2e/docs.test.ts runs them).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { load } from 'js-yaml';

const docs = resolve(__dirname, '../../docs');
const manuals = readdirSync(docs).filter((f) => f.endsWith('.md'));

export function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/`/g, '').replace(/ /g, '-').replace(/[^\p{L}\p{N}_-]/gu, '');
}

/** The anchors of a Markdown text's headings (outside fenced blocks). */
function anchors(markdown: string): Set<string> {
  const text = markdown.replace(/^```[\s\S]*?^```$/gm, '');
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1])));
}

function links(markdown: string): string[] {
  const text = markdown.replace(/^```[\s\S]*?^```$/gm, '').replace(/`[^`\n]*`/g, '');
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]);
}

test('every relative link of docs/*.md leads to a file and heading that exist', () => {
  const broken: string[] = [];
  for (const f of manuals) {
    for (const href of links(readFileSync(join(docs, f), 'utf8'))) {
      if (/^[a-z]+:/i.test(href)) continue;
      const [path, fragment] = href.split('#');
      const target = path ? resolve(dirname(join(docs, f)), path) : join(docs, f);
      if (!existsSync(target)) broken.push(`${f}: ${href} (no such file)`);
      else if (fragment && target.endsWith('.md') && !anchors(readFileSync(target, 'utf8')).has(fragment)) broken.push(`${f}: ${href} (no heading #${fragment})`);
    }
  }
  expect(broken).toEqual([]);
});

test('the marked playbooks and files of the manuals are YAML, playbooks a list of plays with a name', () => {
  const bad: string[] = [];
  for (const f of manuals) {
    const md = readFileSync(join(docs, f), 'utf8');
    for (const m of md.matchAll(/^```yaml (runnable|runnable-once|project-file)\n([\s\S]*?)^```$/gm)) {
      const where = `${f}:${md.slice(0, m.index).split('\n').length}`;
      if (!/^# \S+\n/.test(m[2])) bad.push(`${where}: the first line must name the file (# path)`);
      let doc: unknown;
      try {
        doc = load(m[2]);
      } catch (e) {
        bad.push(`${where}: ${(e as Error).message.split('\n')[0]}`);
        continue;
      }
      if (m[1] !== 'project-file' && !(Array.isArray(doc) && doc.every((p) => p && typeof p === 'object' && 'name' in p && 'hosts' in p))) {
        bad.push(`${where}: not a list of plays, each with a name and hosts`);
      }
    }
  }
  expect(bad).toEqual([]);
});

test('the docs site lists the manuals in reading order (docs/docsite/extra-docs.yml) and each exists', () => {
  const extra = load(readFileSync(join(docs, 'docsite/extra-docs.yml'), 'utf8')) as { sections: Array<{ toctree: Array<{ ref: string }> }> };
  const refs = extra.sections.flatMap((s) => s.toctree.map((t) => t.ref));
  expect(refs.slice(0, 3)).toEqual(['architecture', 'installation', 'operations']);
  expect(refs.filter((r) => !manuals.includes(`${r}.md`))).toEqual([]);
});

// The reference deployment's procedures (```yaml reference blocks) are files of
// examples/reference/ that the Molecule scenario `reference` runs: a block is the file, whole,
// under a first line naming it.
test("the manuals' reference-deployment playbooks are the example's files, as they are", () => {
  const root = resolve(__dirname, '../..');
  const seen: string[] = [];
  const differ: string[] = [];
  for (const f of manuals) {
    for (const m of readFileSync(join(docs, f), 'utf8').matchAll(/^```yaml reference\n# (\S+)\n([\s\S]*?)^```$/gm)) {
      seen.push(m[1]);
      const file = join(root, m[1]);
      if (!m[1].startsWith('examples/reference/') || !existsSync(file)) differ.push(`${f}: ${m[1]} (no such file of examples/reference)`);
      else if (readFileSync(file, 'utf8') !== m[2]) differ.push(`${f}: ${m[1]} (the block differs from the file)`);
    }
  }
  expect(differ).toEqual([]);
  expect(seen.length).toBeGreaterThanOrEqual(4);
});
