// For the tests of pgBackRest with a repository host (tests/e2e/pgbackrest-{tls,ssh}.test.ts):
// the pgbackrest_repository role run from the tarball, and what a run changed.
import { playbook, type PlaybookRun } from './ansible';

/** The tasks of a run that reported a change (to name them when a re-run should have none). */
export function changedTasks(r: PlaybookRun): string[] {
  let task = '';
  const out: string[] = [];
  for (const line of r.output.split('\n')) {
    const m = /^TASK \[(.*)\]/.exec(line);
    if (m) task = m[1];
    else if (line.startsWith('changed:')) out.push(task);
  }
  return out;
}

/** The role (or one of its task files) on localhost, with `vars`; `after` tasks run next in the play. */
export function repositoryRole(dir: string, env: NodeJS.ProcessEnv, vars: Record<string, unknown>, tasksFrom = 'main', after: unknown[] = []): PlaybookRun {
  return playbook(dir, env, [{
    hosts: 'localhost',
    gather_facts: false,
    vars,
    tasks: [{ name: 'repository host', 'ansible.builtin.include_role': { name: 'socle.postgresql.pgbackrest_repository', tasks_from: tasksFrom } }, ...after],
  }]);
}

/** A failed run shows the end of its output. */
export const runOk = (r: PlaybookRun) => (r.recap.failed === 0 && r.status === 0 ? 'ok' : r.output.slice(-4000));
