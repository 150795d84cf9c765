// Runs ansible-playbook / ansible-doc against the built tarball, installed into a temporary
// collections path, the way users get the collection.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dump } from 'js-yaml';
import { DIST } from './module';

export interface PlaybookRun {
  status: number | null;
  output: string;
  recap: { ok: number; changed: number; failed: number };
}

function venvBin(tool: string): string {
  const venv = process.env.SOCLE_VENV ?? join(__dirname, '../../.venv');
  const p = join(venv, 'bin', tool);
  return existsSync(p) ? p : tool;
}

export function tarball(): string {
  const f = readdirSync(DIST).find((n) => /^socle-postgresql-.*\.tar\.gz$/.test(n));
  if (!f) throw new Error(`no collection tarball in ${DIST}: run npm run build`);
  return join(DIST, f);
}

/** Installs the tarball into `<dir>/collections` and returns the env that makes Ansible use it. */
export function installCollection(dir: string): NodeJS.ProcessEnv {
  const collections = join(dir, 'collections');
  mkdirSync(collections, { recursive: true });
  execFileSync(venvBin('ansible-galaxy'), ['collection', 'install', tarball(), '-p', collections, '--force'], { stdio: 'pipe' });
  return {
    ...process.env,
    ANSIBLE_COLLECTIONS_PATH: collections,
    ANSIBLE_LOCAL_TEMP: join(dir, 'ansible-local'),
    ANSIBLE_REMOTE_TEMP: join(dir, 'ansible-remote'),
    ANSIBLE_NOCOLOR: '1',
    ANSIBLE_FORCE_COLOR: '0',
    ANSIBLE_RETRY_FILES_ENABLED: '0',
    ANSIBLE_PYTHON_INTERPRETER: '/usr/bin/python3',
  };
}

export function playbook(dir: string, env: NodeJS.ProcessEnv, plays: unknown[], args: string[] = []): PlaybookRun {
  return playbookText(dir, env, dump(plays), args);
}

/** A playbook written as YAML text (read by Ansible's own YAML 1.1 parser, as users' are). */
export function playbookText(dir: string, env: NodeJS.ProcessEnv, text: string, args: string[] = []): PlaybookRun {
  const file = join(dir, `play-${Date.now()}-${Math.random().toString(36).slice(2)}.yml`);
  writeFileSync(file, text);
  return ansiblePlaybook(env, ['-i', 'localhost,', '-c', 'local', file, ...args]);
}

/** ansible-playbook with the arguments as given (inventory, playbook file, options). */
export function ansiblePlaybook(env: NodeJS.ProcessEnv, args: string[], cwd?: string): PlaybookRun {
  // -vvvv output of a few tasks runs into megabytes.
  const p = spawnSync(venvBin('ansible-playbook'), args, { env, cwd, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  const output = `${p.stdout}\n${p.stderr}`;
  const m = /localhost\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)/.exec(output);
  return { status: p.status, output, recap: { ok: Number(m?.[1] ?? -1), changed: Number(m?.[2] ?? -1), failed: Number(m?.[3] ?? -1) } };
}

/** Each host's line of a run's recap (changed, and unreachable + failed), by inventory name. */
export function hostRecaps(output: string): Record<string, { changed: number; failed: number }> {
  const recap: Record<string, { changed: number; failed: number }> = {};
  for (const m of output.matchAll(/^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)/gm)) {
    recap[m[1]] = { changed: Number(m[2]), failed: Number(m[3]) + Number(m[4]) };
  }
  return recap;
}

export function ansibleDoc(env: NodeJS.ProcessEnv, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const p = spawnSync(venvBin('ansible-doc'), args, { env, encoding: 'utf8' });
  return { status: p.status, stdout: p.stdout, stderr: p.stderr };
}
