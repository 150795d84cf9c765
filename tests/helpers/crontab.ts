// The test user's crontab as the scheduled jobs (modules/lib/schedule.ts) leave it with
// service_manager none: a marker line naming the job and its script, then the entry. Test files
// running side by side share that crontab; each sees and cleans only the entries of its sandbox
// (their scripts are under the sandbox's folder).
import { spawnSync } from 'node:child_process';

export const CRON_MARKER = '# socle.postgresql job ';

const mine = (dir: string) => (l: string) => l.startsWith(CRON_MARKER) && l.includes(dir);

/** The sandbox's entries (marker and entry lines), as text; '' when there are none. */
export function sandboxCrontab(dir: string): string {
  const r = spawnSync('crontab', ['-l'], { encoding: 'utf8' });
  const lines = r.status === 0 ? r.stdout.split('\n') : [];
  const out: string[] = [];
  lines.forEach((l, i) => {
    if (mine(dir)(l)) out.push(l, lines[i + 1] ?? '');
  });
  return out.length ? `${out.join('\n')}\n` : '';
}

/** Removes the sandbox's entries from the crontab, other lines kept. */
export function removeSandboxCrontab(dir: string): void {
  const r = spawnSync('crontab', ['-l'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return;
  const lines = r.stdout.split('\n');
  const keep = lines.filter((l, i) => !mine(dir)(l) && !(i > 0 && mine(dir)(lines[i - 1])));
  spawnSync('crontab', ['-'], { input: keep.join('\n').trim() ? `${keep.join('\n').trim()}\n` : '' });
}
