/**
 * Atomic file replacement.
 *
 * Why: configuration files (postgresql.conf includes, pg_hba.conf, ~/.pgpass) are read by other
 * processes at any time; a crash or a concurrent reader must see either the old or the new content,
 * never a truncated file. Hence: write a temporary file in the SAME directory (rename is only atomic
 * within a filesystem), fsync it, rename it over the target, then fsync the directory so the rename
 * itself survives a power loss.
 *
 * For secrets the temporary file is created with its final mode (0600) from the start, so the
 * content is never readable by others, not even for an instant (a chmod after writing would leave
 * a window). Note that renaming replaces a symlink at `path` by a regular file.
 */
import { accessSync, closeSync, constants, fchmodSync, fchownSync, fsyncSync, lstatSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeSync } from 'fs';
import { randomBytes } from 'crypto';
import { basename, dirname, join } from 'path';

/** A text file's content, or `fallback` when it cannot be read (missing, most often). */
export function readTextOr<T extends string | null>(path: string, fallback: T): string | T {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}

export interface FileOwner {
  uid: number;
  gid: number;
}

/**
 * Removes `path` and what writeFileAtomic may have left beside it: the temporary file of a
 * process killed between its open and its rename (`.<name>.<pid>.<random>.tmp`), unless that
 * process still runs (it is writing now).
 */
export function rmWithTemps(path: string): void {
  rmSync(path, { force: true });
  const prefix = `.${basename(path)}.`;
  let names: string[];
  try {
    names = readdirSync(dirname(path));
  } catch {
    return;
  }
  for (const n of names) {
    const m = n.startsWith(prefix) && /^(\d+)\.[0-9a-f]+\.tmp$/.exec(n.slice(prefix.length));
    if (!m) continue;
    let alive = false;
    try {
      process.kill(Number(m[1]), 0);
      alive = Number(m[1]) !== process.pid;
    } catch {
      /* no such process */
    }
    if (!alive) rmSync(join(dirname(path), n), { force: true });
  }
}

/** Atomically replaces `path` with `content`, created with `mode` (exactly: the umask does not apply). */
export function writeFileAtomic(path: string, content: string | Uint8Array, mode = 0o644, owner?: FileOwner): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  // 'wx' = O_CREAT | O_EXCL: never follow or reuse an existing file (or symlink planted) at tmp.
  const fd = openSync(tmp, 'wx', mode & 0o7777);
  let renamed = false;
  try {
    try {
      fchmodSync(fd, mode & 0o7777); // open()'s mode was filtered by the umask
      if (owner) fchownSync(fd, owner.uid, owner.gid); // e.g. root writing ~postgres/.pgpass
      const data = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
      let off = 0;
      while (off < data.length) off += writeSync(fd, data, off, data.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    renamed = true;
    fsyncDir(dir);
  } finally {
    if (!renamed) {
      try {
        unlinkSync(tmp);
      } catch {
        /* already gone */
      }
    }
  }
}

/**
 * Why writeFileAtomic(path) would fail, or null when it can write it: checked while planning, so
 * that a task does not commit its SQL and then find it cannot write the file that goes with it.
 * The folder must exist and let us create and rename files in it; what is at `path` must be a
 * regular file (or nothing) - a symlink would be replaced, a folder cannot be.
 */
export function whyNotWritable(path: string): string | null {
  const dir = dirname(path);
  try {
    if (!statSync(dir).isDirectory()) return `${dir} is not a folder`;
  } catch (err) {
    return `folder ${dir} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
  }
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch {
    return `folder ${dir} is not writable by this user`;
  }
  try {
    const st = lstatSync(path);
    if (st.isDirectory()) return `${path} is a folder`;
  } catch {
    /* missing: it will be created */
  }
  return null;
}

/** Same as writeFileAtomic, mode 0600 by default: for files holding secrets (~/.pgpass, keys). */
export function writePrivateFileAtomic(path: string, content: string | Uint8Array, mode = 0o600, owner?: FileOwner): void {
  writeFileAtomic(path, content, mode, owner);
}

/** Best effort: some filesystems / platforms refuse to fsync a directory. */
function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    /* not supported here: the rename is still atomic, only its durability is not forced */
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
