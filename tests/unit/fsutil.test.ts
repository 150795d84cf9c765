import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, chmodSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { rmWithTemps, writeFileAtomic, writePrivateFileAtomic } from '../../modules/lib/fsutil';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fsutil-'));
});
afterEach(() => {
  chmodSync(dir, 0o700);
  rmSync(dir, { recursive: true, force: true });
});

const mode = (p: string) => statSync(p).mode & 0o7777;

describe('writeFileAtomic', () => {
  test('creates a file with mode 0644 by default, whatever the umask', () => {
    const old = process.umask(0o077);
    try {
      const p = join(dir, 'a.conf');
      writeFileAtomic(p, 'hello\n');
      expect(readFileSync(p, 'utf8')).toBe('hello\n');
      expect(mode(p)).toBe(0o644);
    } finally {
      process.umask(old);
    }
  });

  test('replaces an existing file and takes the requested mode', () => {
    const p = join(dir, 'a.conf');
    writeFileSync(p, 'old content that is longer', { mode: 0o600 });
    writeFileAtomic(p, 'new', 0o640);
    expect(readFileSync(p, 'utf8')).toBe('new');
    expect(mode(p)).toBe(0o640);
  });

  test('binary content and non-ASCII text', () => {
    const p = join(dir, 'b');
    writeFileAtomic(p, Buffer.from([0, 1, 2, 255]));
    expect([...readFileSync(p)]).toEqual([0, 1, 2, 255]);
    writeFileAtomic(p, 'pässwörd 日本');
    expect(readFileSync(p, 'utf8')).toBe('pässwörd 日本');
  });

  test('leaves no temporary file behind', () => {
    writeFileAtomic(join(dir, 'x'), '1');
    writeFileAtomic(join(dir, 'x'), '2');
    expect(readdirSync(dir)).toEqual(['x']);
  });

  test('replaces a symlink by a regular file (the link target is untouched)', () => {
    const target = join(dir, 'target');
    writeFileSync(target, 'target');
    const link = join(dir, 'link');
    symlinkSync(target, link);
    writeFileAtomic(link, 'new');
    expect(readFileSync(target, 'utf8')).toBe('target');
    expect(readFileSync(link, 'utf8')).toBe('new');
  });

  test('fails cleanly when the directory does not exist', () => {
    expect(() => writeFileAtomic(join(dir, 'missing', 'f'), 'x')).toThrow(/ENOENT/);
  });

  test('cleans up the temporary file when the rename fails', () => {
    const sub = join(dir, 'sub');
    writeFileAtomic(join(dir, 'placeholder'), '');
    // Renaming a file over a non-empty directory fails (EISDIR / ENOTEMPTY).
    mkdirSync(sub);
    writeFileSync(join(sub, 'child'), 'x');
    expect(() => writeFileAtomic(sub, 'x')).toThrow();
    expect(readdirSync(dir).sort()).toEqual(['placeholder', 'sub']);
  });
});

describe('writePrivateFileAtomic', () => {
  test('mode 0600, even over a world-readable file', () => {
    const p = join(dir, '.pgpass');
    writeFileSync(p, 'old', { mode: 0o644 });
    chmodSync(p, 0o644);
    writePrivateFileAtomic(p, 'db:5432:app:u:secret\n');
    expect(mode(p)).toBe(0o600);
    expect(readFileSync(p, 'utf8')).toBe('db:5432:app:u:secret\n');
  });

  test('a given mode is honoured', () => {
    const p = join(dir, 'key');
    writePrivateFileAtomic(p, 'k', 0o400);
    expect(mode(p)).toBe(0o400);
  });

  test('owner can be set (to the current owner here)', () => {
    const p = join(dir, 'owned');
    const uid = process.getuid ? process.getuid() : 0;
    const gid = process.getgid ? process.getgid() : 0;
    writePrivateFileAtomic(p, 'x', 0o600, { uid, gid });
    expect(statSync(p).uid).toBe(uid);
  });
});

describe('rmWithTemps', () => {
  test("removes the file and a killed writer's temporary file, not a running writer's nor another file's", () => {
    const dir = mkdtempSync(join(tmpdir(), 'socle-rmtemps-'));
    try {
      writeFileSync(join(dir, 'a.def'), 'x');
      writeFileSync(join(dir, '.a.def.999999999.0a1b2c.tmp'), 'x'); // no such pid: a killed writer
      writeFileSync(join(dir, `.a.def.${process.ppid}.0a1b2c.tmp`), 'x'); // a live process: writing now
      writeFileSync(join(dir, '.b.def.999999999.0a1b2c.tmp'), 'x'); // another file's
      rmWithTemps(join(dir, 'a.def'));
      expect(readdirSync(dir).sort()).toEqual([`.a.def.${process.ppid}.0a1b2c.tmp`, '.b.def.999999999.0a1b2c.tmp']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
