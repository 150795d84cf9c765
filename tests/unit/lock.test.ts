import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withLock } from '../../modules/lib/lock';

const dir = mkdtempSync(join(tmpdir(), 'socle-lock-'));

test('a second holder waits for the first', async () => {
  const path = join(dir, 'a.lock');
  const events: string[] = [];
  const slow = withLock(path, 5, 'x', async () => {
    events.push('1 in');
    await new Promise((r) => setTimeout(r, 300));
    events.push('1 out');
  });
  await new Promise((r) => setTimeout(r, 20));
  await withLock(path, 5, 'x', async () => { events.push('2 in'); });
  await slow;
  expect(events).toEqual(['1 in', '1 out', '2 in']);
});

test('a lock whose owner died is taken over', async () => {
  const path = join(dir, 'b.lock');
  writeFileSync(path, '999999999');
  await expect(withLock(path, 1, 'x', async () => 'ok')).resolves.toBe('ok');
});

test('a lock just created, not yet written, is respected', async () => {
  const path = join(dir, 'c.lock');
  writeFileSync(path, '');
  await expect(withLock(path, 0.3, 'instance 15/x', async () => 'ok')).rejects.toThrow(/instance 15\/x is locked by another task/);
});
