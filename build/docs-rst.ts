// The manuals of docs/ (GitHub Markdown, read as they are on a forge) as the reStructuredText
// pages antsibull-docs takes a collection's extra docs from: docs/docsite/rst/<manual>.rst of the
// collection, listed by docs/docsite/extra-docs.yml. `antsibull-docs lint-collection-docs` checks
// them (tests/e2e/docs-site.test.ts) and `npm run docs` renders them. pandoc converts; its filter
// (docsite/md-to-rst.lua) turns the headings into the labels antsibull-docs wants and the links
// between manuals into :ref: to them.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Converts each docs/<manual>.md into out/<manual>.rst; `filter` is docsite/md-to-rst.lua. */
export function manualsToRst(docs: string, out: string, filter: string): string[] {
  const manuals = readdirSync(docs).filter((f) => f.endsWith('.md')).map((f) => f.slice(0, -3)).sort();
  mkdirSync(out, { recursive: true });
  for (const m of manuals) {
    let rst: string;
    try {
      rst = execFileSync('pandoc', [
        '--from', 'gfm', '--to', 'rst', '--columns', '10000', '--metadata', `manual=${m}`,
        '--lua-filter', filter, join(docs, `${m}.md`),
      ], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { stderr?: string };
      if (e.code === 'ENOENT') throw new Error('pandoc is needed to convert docs/*.md for the docs site: install it (scripts/deps.sh: apt-get install pandoc)');
      throw new Error(`pandoc: docs/${m}.md: ${e.stderr ?? e.message}`);
    }
    // pandoc writes a raw block (the filter's targets) right above the heading that follows:
    // reStructuredText wants a blank line after an explicit target.
    rst = rst.replace(/^(\.\. _[^\n]+:)\n(?!\n)/gm, '$1\n\n');
    writeFileSync(join(out, `${m}.rst`), rst);
  }
  return manuals;
}
