// Issue targets for databases and roles, as ratios against community.postgresql 2.4.2 (Debian's
// `ansible` package), run in the same run against the same server:
//  1. 100 databases and 200 roles declared in one `instance` task, re-run with nothing to change:
//     at least 20x faster than the community.postgresql loop over the same objects, and < 1.5 s;
//  2. one `role` task with nothing to change: at most 0.7x one `postgresql_user` task.
import { existsSync } from 'node:fs';
import { installCollection, playbook } from '../tests/helpers/ansible';
import { runModule } from '../tests/helpers/module';
import { median, seconds } from './timing';
import { freePort, makeSandbox } from '../tests/helpers/sandbox';

const COMMUNITY = '/usr/lib/python3/dist-packages/ansible_collections';
const DBS = 100;
const ROLES = 200;
const TASKS = 40;


async function main() {
  if (!existsSync(`${COMMUNITY}/community/postgresql`)) {
    console.log(`objects bench skipped: community.postgresql not found in ${COMMUNITY} (apt-get install ansible python3-psycopg2)`);
    return;
  }
  const sb = makeSandbox('socle-bench-');
  try {
    const ours = installCollection(sb.dir);
    const env = { ...ours, ANSIBLE_COLLECTIONS_PATH: `${ours.ANSIBLE_COLLECTIONS_PATH}:${COMMUNITY}` };
    const port = await freePort();
    const roles = Array.from({ length: ROLES }, (_, i) => ({ name: `role_${i}`, login: true, password: `pw-${i}-secret` }));
    const databases = Array.from({ length: DBS }, (_, i) => ({ name: `db_${i}`, owner: `role_${i}` }));
    const instance = { name: 'bench', port, settings: { listen_addresses: '127.0.0.1', fsync: 'off' }, roles, databases };
    const created = runModule('instance', instance, { env: sb.env });
    if (created.result.failed) throw new Error(created.result.msg);
    const socket = created.result.env.PGHOST;

    // One task per play; the fixed cost of a play is measured and subtracted.
    const play = (tasks: unknown[]) => [{ hosts: 'localhost', gather_facts: false, environment: { SOCLE_SETTINGS: sb.settingsFile }, tasks }];
    const timed = (tasks: unknown[], runs = 3) => {
      const warm = playbook(sb.dir, env, play(tasks));
      if (warm.recap.failed !== 0 || warm.recap.changed !== 0) throw new Error(warm.output.slice(-3000));
      return median(Array.from({ length: runs }, () => seconds(() => playbook(sb.dir, env, play(tasks)))));
    };
    const empty = timed([{ 'ansible.builtin.debug': { msg: 'start' } }]);
    const login = { login_unix_socket: socket, port, login_user: 'postgres' };

    const oursBatch = timed([{ 'socle.postgresql.instance': instance }]) - empty;
    const direct = median(Array.from({ length: 3 }, () => seconds(() => runModule('instance', instance, { env: sb.env }))));
    const community = timed([
      { 'community.postgresql.postgresql_user': { name: '{{ item.name }}', password: '{{ item.password }}', role_attr_flags: 'LOGIN', ...login }, loop: roles, no_log: true },
      { 'community.postgresql.postgresql_db': { name: '{{ item.name }}', owner: '{{ item.owner }}', ...login }, loop: databases },
    ], 1) - empty;
    console.log(`${DBS} databases + ${ROLES} roles, nothing to change: one instance task ${oursBatch.toFixed(2)} s` +
      ` (module alone ${direct.toFixed(2)} s), community.postgresql loop ${community.toFixed(2)} s` +
      ` -> ${(community / oursBatch).toFixed(1)}x faster (target >= 20x, and < 1.5 s)`);

    // Per task, over TASKS tasks a play; three rounds alternating ours and theirs (the machine's
    // load drifts), medians compared.
    const role = { instance: 'bench', name: 'role_7', login: true, password: 'pw-7-secret' };
    const user = { name: 'role_7', password: 'pw-7-secret', role_attr_flags: 'LOGIN', ...login };
    const ourTimes: number[] = [];
    const theirTimes: number[] = [];
    for (let round = 0; round < 3; round++) {
      ourTimes.push((timed(Array.from({ length: TASKS }, () => ({ 'socle.postgresql.role': role })), 1) - empty) / TASKS);
      theirTimes.push((timed(Array.from({ length: TASKS }, () => ({ 'community.postgresql.postgresql_user': user })), 1) - empty) / TASKS);
    }
    const ours1 = median(ourTimes);
    const theirs1 = median(theirTimes);
    console.log(`one role task, nothing to change: ${(ours1 * 1000).toFixed(0)} ms/task, postgresql_user ${(theirs1 * 1000).toFixed(0)} ms/task` +
      ` -> ratio ${(ours1 / theirs1).toFixed(2)} (target <= 0.70; median of 3 rounds of ${TASKS} tasks each)`);
  } finally {
    sb.cleanup();
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
