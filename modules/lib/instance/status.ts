// Is the instance running? Read from postmaster.pid, as pg_ctl status does, without a process:
// this is on every task's path.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface RunningState {
  pid: number;
  /** Port and socket directory the running server actually uses (they may differ from the config until a restart). */
  port: number;
  socketDir: string;
}

export function runningState(datadir: string): RunningState | null {
  let lines: string[];
  try {
    lines = readFileSync(join(datadir, 'postmaster.pid'), 'utf8').split('\n');
  } catch {
    return null;
  }
  const pid = Number(lines[0]);
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    process.kill(pid, 0);
  } catch {
    // ESRCH: gone. EPERM: the pid was reused by another user's process; like PostgreSQL, treat
    // the pid file as stale.
    return null;
  }
  return { pid, port: Number(lines[3]), socketDir: (lines[4] ?? '').trim() };
}
