// Runs a bundled module exactly the way Ansible does: `/usr/bin/node <module>.js <args-file>`,
// the args file holding the task's options plus Ansible's `_ansible_*` keys.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const DIST = process.env.SOCLE_DIST ? resolve(process.env.SOCLE_DIST) : resolve(__dirname, '../../dist');
export const MODULES_DIR = join(DIST, 'collection/plugins/modules');

export interface RunOptions {
  check?: boolean;
  diff?: boolean;
  verbosity?: number;
  env?: NodeJS.ProcessEnv;
}

export interface ModuleRun {
  result: Record<string, any>;
  stdout: string;
  stderr: string;
  status: number | null;
}

/** Told of every module run of this test file, before and after (the secrets check listens: tests/helpers/secrets.ts). */
export interface ModuleRunListener {
  before?(name: string, args: Record<string, unknown>): void;
  after?(name: string, args: Record<string, unknown>, run: ModuleRun): void;
}
const listeners: ModuleRunListener[] = [];
export function onModuleRun(listener: ModuleRunListener): void {
  listeners.push(listener);
}

export function runModule(name: string, args: Record<string, unknown>, opts: RunOptions = {}): ModuleRun {
  return withArgsFile(name, args, opts, (argsFile) => spawnSync(process.execPath, [join(MODULES_DIR, `${name}.js`), argsFile], { env: opts.env, encoding: 'utf8' }));
}

/**
 * runModule, and the CPU (user + system seconds) the module's process and its children spent,
 * as bash's `times` reports for its children (benchmarks: where the time of a task goes).
 */
export function runModuleCpu(name: string, args: Record<string, unknown>, opts: RunOptions = {}): { run: ModuleRun; seconds: number } {
  let seconds = 0;
  const run = withArgsFile(name, args, opts, (argsFile) => {
    // `times` on descriptor 3: the module's own stdout (the result) and stderr stay as they are.
    const p = spawnSync('bash', ['-c', '"$@"; s=$?; times >&3; exit $s', '_', process.execPath, join(MODULES_DIR, `${name}.js`), argsFile],
      { env: opts.env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
    const children = String(p.output[3] ?? '').trimEnd().split('\n').pop() ?? ''; // line 2: the children's user and system times
    seconds = children.split(' ').reduce((sum, t) => {
      const m = /^(\d+)m([\d.]+)s$/.exec(t);
      return m ? sum + Number(m[1]) * 60 + Number(m[2]) : sum;
    }, 0);
    return p;
  });
  return { run, seconds };
}

function withArgsFile(name: string, args: Record<string, unknown>, opts: RunOptions, spawn: (argsFile: string) => { stdout: string; stderr: string; status: number | null }): ModuleRun {
  for (const l of listeners) l.before?.(name, args);
  const dir = mkdtempSync(join(tmpdir(), 'socle-args-'));
  const argsFile = join(dir, 'args');
  writeFileSync(argsFile, JSON.stringify({
    ...args,
    _ansible_check_mode: opts.check ?? false,
    _ansible_diff: opts.diff ?? false,
    _ansible_verbosity: opts.verbosity ?? 0,
    _ansible_no_log: false,
    _ansible_module_name: `socle.postgresql.${name}`,
  }));
  try {
    const p = spawn(argsFile);
    let result: Record<string, any>;
    try {
      result = JSON.parse(p.stdout);
    } catch {
      throw new Error(`module ${name} printed no JSON result (status ${p.status}):\nstdout: ${p.stdout}\nstderr: ${p.stderr}`);
    }
    const run = { result, stdout: p.stdout, stderr: p.stderr, status: p.status };
    for (const l of listeners) l.after?.(name, args, run);
    return run;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs a bundled module as Ansible would, and SIGKILLs it after `ms` (fault injection). */
export async function runModuleKilledAfter(name: string, args: Record<string, unknown>, ms: number, env?: NodeJS.ProcessEnv): Promise<void> {
  const { spawn } = await import('node:child_process');
  const dir = mkdtempSync(join(tmpdir(), 'socle-kill-'));
  const argsFile = join(dir, 'args');
  writeFileSync(argsFile, JSON.stringify({ ...args, _ansible_check_mode: false, _ansible_diff: false, _ansible_verbosity: 0 }));
  const child = spawn(process.execPath, [join(MODULES_DIR, `${name}.js`), argsFile], { env, stdio: 'ignore' });
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.on('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  rmSync(dir, { recursive: true, force: true });
}
