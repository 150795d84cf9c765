// Issue target for the roles and databases components as the batch grows, in one instance task
// (a play's fixed cost subtracted), nothing to change: 100 databases (each with a schema and a
// setting) + 200 roles, then 500 + 1000. Targets: 500 + 1000 in <= 1.5 s, and a cost per object
// at 500 no higher than at 100.
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { installCollection, playbook } from '../tests/helpers/ansible';
import { runModule, runModuleCpu } from '../tests/helpers/module';
import { median, seconds } from './timing';
import { freePort, makeSandbox } from '../tests/helpers/sandbox';

async function scale() {
  const sb = makeSandbox('socle-bench-scale-');
  try {
    const env = installCollection(sb.dir);
    const port = await freePort();
    const play = (tasks: unknown[]) => [{ hosts: 'localhost', gather_facts: false, environment: { SOCLE_SETTINGS: sb.settingsFile }, tasks }];
    const timed = (tasks: unknown[], runs = 3) => {
      const warm = playbook(sb.dir, env, play(tasks));
      if (warm.recap.failed !== 0 || warm.recap.changed !== 0) throw new Error(warm.output.slice(-3000));
      return median(Array.from({ length: runs }, () => seconds(() => playbook(sb.dir, env, play(tasks)))));
    };
    const empty = timed([{ 'ansible.builtin.debug': { msg: 'start' } }]);
    const perObject: number[] = [];
    for (const [dbs, nroles] of [[100, 200], [500, 1000]]) {
      const roles = Array.from({ length: nroles }, (_, i) => ({ name: `role_${i}`, login: true, password: `pw-${i}-secret` }));
      const databases = Array.from({ length: dbs }, (_, i) => ({ name: `db_${i}`, owner: `role_${i}`, schemas: [`s_${i}`], settings: { work_mem: '8MB' } }));
      const instance = { name: 'scale', port, settings: { listen_addresses: '127.0.0.1', fsync: 'off', max_connections: 200 }, roles, databases };
      const created = runModule('instance', instance, { env: sb.env });
      if (created.result.failed) throw new Error(created.result.msg);
      const t = timed([{ 'socle.postgresql.instance': instance }]) - empty;
      perObject.push(t / (dbs + nroles));
      console.log(`${dbs} databases (schema + setting each) + ${nroles} roles, nothing to change: one instance task ${t.toFixed(2)} s` +
        ` (${((t / (dbs + nroles)) * 1000).toFixed(2)} ms per object)`);
      // Where the time goes: the CPU the module and the server's backends spend on a no-op run.
      // Both sides are CPU-bound and run in parallel (password checks in the thread pool, eight
      // databases inspected at once), so CPU / cores is the floor of the task on this machine.
      const backends0 = postmasterChildrenCpu(sb.dir);
      const cpu = runModuleCpu('instance', instance, { env: sb.env });
      if (cpu.run.result.changed) throw new Error('the no-op run changed something');
      const server = postmasterChildrenCpu(sb.dir) - backends0;
      console.log(`  CPU of one run: module ${cpu.seconds.toFixed(2)} s, server backends ${server.toFixed(2)} s;` +
        ` floor on ${cpus().length} cores ${((cpu.seconds + server) / cpus().length).toFixed(2)} s`);
    }
    console.log(`  -> 500 + 1000 ${perObject[1] * 1500 <= 1.5 ? 'within' : 'over'} 1.5 s; cost per object at 500 / at 100: ${(perObject[1] / perObject[0]).toFixed(2)} (target <= 1.00)`);
  } finally {
    sb.cleanup();
  }
}

/** CPU seconds of the exited children of the sandbox's postmaster (its backends), from /proc. */
function postmasterChildrenCpu(dir: string): number {
  const pid = spawnSync('pgrep', ['-o', '-f', `postgres -D ${dir}`], { encoding: 'utf8' }).stdout.trim();
  const fields = spawnSync('cat', [`/proc/${pid}/stat`], { encoding: 'utf8' }).stdout.split(') ')[1].split(' ');
  return (Number(fields[13]) + Number(fields[14])) / 100; // cutime + cstime, in clock ticks (USER_HZ 100)
}

scale().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
