// What the command prints: readable tables and plans for people, one JSON document for scripts
// (`-o json`), progress on stderr. Results are already masked by the runtime (secrets).
import { dump } from 'js-yaml';

export type Format = 'table' | 'json';

export function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : text + '\n');
}

export function json(value: unknown): void {
  out(JSON.stringify(value, null, 2));
}

/** Columns aligned, a header line; values that are objects shown as compact JSON. */
export function table(rows: Array<Record<string, unknown>>, columns?: string[]): string {
  if (!rows.length) return '(none)';
  const cols = columns ?? [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cell = (v: unknown) => (v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) => vals.map((v, i) => (i < vals.length - 1 ? v.padEnd(widths[i]) : v)).join('  ');
  return [line(cols.map((c) => c.toUpperCase())), ...rows.map((r) => line(cols.map((c) => cell(r[c]))))].join('\n');
}

/** A mapping as `key: value` lines (nested values in YAML). */
export function facts(obj: Record<string, unknown>): string {
  return dump(obj, { lineWidth: 120, noRefs: true }).trimEnd();
}

/** A line diff of two texts (longest common subsequence), `-`/`+`/` ` prefixed. */
export function lineDiff(before: string, after: string): string {
  const a = before.split('\n');
  const b = after.split('\n');
  const n = a.length;
  const m = b.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  const lines: string[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      lines.push(`  ${a[i]}`);
      i++;
      j++;
    } else if (j < m && (i >= n || lcs[i][j + 1] >= lcs[i + 1][j])) lines.push(`+ ${b[j++]}`);
    else lines.push(`- ${a[i++]}`);
  }
  return lines.join('\n');
}

function text(v: unknown): string {
  return typeof v === 'string' ? v : dump(v ?? {}, { lineWidth: 120, noRefs: true, sortKeys: true });
}

/** The result of a command that changes things: its plan (dry run) or what it did, and its diff. */
export function renderChange(result: Record<string, unknown>, opts: { dryRun: boolean; diff: boolean }): string {
  const lines: string[] = [];
  const changes = (result.changes as string[] | undefined) ?? [];
  const commands = (result.commands as string[] | undefined) ?? [];
  const queries = (result.queries as string[] | undefined) ?? [];
  if (opts.dryRun) {
    lines.push(changes.length ? 'Plan (dry run, nothing was changed):' : 'Nothing to change (dry run).');
    for (const c of changes) lines.push(`  - ${c}`);
    if (commands.length) lines.push('Commands:', ...commands.map((c) => `  $ ${c}`));
    if (queries.length) lines.push('SQL:', ...queries.map((q) => `  ${q.replace(/\n/g, '\n  ')}${q.trimEnd().endsWith(';') ? '' : ';'}`));
  } else {
    lines.push(String(result.msg ?? ''));
  }
  const diff = result.diff as { before?: unknown; after?: unknown } | undefined;
  if (opts.diff && diff) {
    lines.push('Diff:', ...lineDiff(text(diff.before).trimEnd(), text(diff.after).trimEnd()).split('\n').map((l) => `  ${l}`));
  }
  return lines.join('\n');
}

/** Progress of a long operation on stderr: each step as it starts, with the elapsed time on a terminal. */
export class Progress {
  private timer: NodeJS.Timeout | null = null;
  private started = Date.now();
  private current = '';
  constructor(private readonly enabled: boolean) {}

  step(change: string): void {
    if (!this.enabled) return;
    this.clear();
    this.current = change;
    this.started = Date.now();
    if (process.stderr.isTTY) {
      this.draw();
      this.timer ??= setInterval(() => this.draw(), 1000);
      this.timer.unref();
    } else {
      process.stderr.write(`... ${change}\n`);
    }
  }

  private draw(): void {
    const s = Math.round((Date.now() - this.started) / 1000);
    process.stderr.write(`\r\x1b[K... ${this.current} (${s}s)`);
  }

  private clear(): void {
    if (this.current && process.stderr.isTTY) process.stderr.write(`\r\x1b[K... ${this.current}: done\n`);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.clear();
    this.current = '';
  }
}
