// A lock file per instance, so that two tasks on the same instance (two plays, or a play and a
// cron job) never interleave. Created with O_EXCL; it holds the owner's pid, so that a lock left
// by a killed process is recognised and taken over.
import { closeSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { ModuleError } from './runtime';

function ownerAlive(path: string): boolean {
  let content: string;
  try {
    content = readFileSync(path, 'utf8').trim();
  } catch {
    return true; // being removed right now: look again shortly
  }
  // Created but not written yet (the owner is between open and write): alive, unless it stayed
  // empty for long (its owner died right after creating it).
  if (content === '') return Date.now() - statSync(path).mtimeMs < 10_000;
  const pid = Number(content);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function tryAcquire(path: string): boolean {
  try {
    const fd = openSync(path, 'wx', 0o600);
    writeSync(fd, String(process.pid));
    closeSync(fd);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    if (!ownerAlive(path)) {
      try {
        unlinkSync(path);
      } catch {
        /* another waiter removed it first */
      }
    }
    return false;
  }
}

export async function withLock<T>(path: string, timeoutSeconds: number, what: string, fn: () => Promise<T>): Promise<T> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const deadline = Date.now() + timeoutSeconds * 1000;
  while (!tryAcquire(path)) {
    if (Date.now() >= deadline) {
      throw new ModuleError(`${what} is locked by another task (lock file ${path}) and stayed locked for ${timeoutSeconds} s`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  try {
    return await fn();
  } finally {
    try {
      unlinkSync(path);
    } catch {
      /* already gone */
    }
  }
}
