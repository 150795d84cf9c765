// Runs the benchmarks (bench/*.bench.ts): each is bundled with esbuild and run with node.
// They print ratios against references measured in the same run; nothing is asserted.
import { buildSync } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const only = process.argv[2];
// The bundles run from a temporary folder: tell the test helpers where the repository's outputs are.
process.env.SOCLE_DIST ??= join(here, '..', 'dist');
process.env.SOCLE_VENV ??= join(here, '..', '.venv');
const out = mkdtempSync(join(tmpdir(), 'socle-bench-build-'));
let status = 0;
for (const f of readdirSync(here).filter((n) => n.endsWith('.bench.ts') && (!only || n.includes(only))).sort()) {
  const outfile = join(out, f.replace(/\.ts$/, '.cjs'));
  buildSync({ entryPoints: [join(here, f)], outfile, bundle: true, platform: 'node', target: 'node18', format: 'cjs', logLevel: 'warning' });
  const r = spawnSync(process.execPath, [outfile], { stdio: 'inherit' });
  status ||= r.status ?? 1;
}
process.exit(status);
