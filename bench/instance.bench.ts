// Issue targets for the instance module, as ratios against references run side by side:
//  1. a no-op `socle.postgresql.instance` task costs at most as much as `ansible.builtin.ping`
//     (per task, over 60 tasks in one play, minus the cost of an empty play);
//  2. creating and starting an instance with the module costs at most 1.3x raw
//     `initdb` + `pg_ctl start -w` (median of 5 each).
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { installCollection, playbook } from '../tests/helpers/ansible';
import { runModule } from '../tests/helpers/module';
import { median, seconds } from './timing';
import { freePort, makeSandbox, stopAll } from '../tests/helpers/sandbox';
import { discoverVersions } from '../modules/lib/settings';

const TASKS = 60;


async function noopTask() {
  const sb = makeSandbox('socle-bench-');
  try {
    const env = installCollection(sb.dir);
    const port = await freePort();
    const play = (tasks: unknown[]) => [{ hosts: 'localhost', gather_facts: false, environment: { SOCLE_SETTINGS: sb.settingsFile }, tasks }];
    const instance = { 'socle.postgresql.instance': { name: 'bench', port, settings: { listen_addresses: '127.0.0.1' } } };
    const setup = playbook(sb.dir, env, play([instance]));
    if (setup.recap.failed !== 0) throw new Error(setup.output);
    // Each play once to warm caches, then timed.
    const time = (tasks: unknown[]) => {
      const warm = playbook(sb.dir, env, play(tasks));
      if (warm.recap.failed !== 0 || warm.recap.changed !== 0) throw new Error(warm.output);
      return seconds(() => playbook(sb.dir, env, play(tasks)));
    };
    // The fixed cost of a play (start-up, inventory, one task that runs no module).
    const empty = time([{ 'ansible.builtin.debug': { msg: 'start' } }]);
    const ping = time(Array.from({ length: TASKS }, () => ({ 'ansible.builtin.ping': {} })));
    const ours = time(Array.from({ length: TASKS }, () => instance));
    const perPing = (ping - empty) / TASKS;
    const perOurs = (ours - empty) / TASKS;
    console.log(`no-op instance task: ${(perOurs * 1000).toFixed(0)} ms/task, ansible.builtin.ping: ${(perPing * 1000).toFixed(0)} ms/task` +
      ` -> ratio ${(perOurs / perPing).toFixed(2)} (target <= 1.00; ${TASKS} tasks each, empty play ${empty.toFixed(2)} s subtracted)`);
  } finally {
    sb.cleanup();
  }
}

async function create() {
  const sb = makeSandbox('socle-bench-');
  try {
    const bindir = discoverVersions().at(-1)!.bindir;
    const raw: number[] = [];
    const ours: number[] = [];
    for (let i = 0; i < 5; i++) {
      const dir = mkdtempSync(join(sb.dir, 'raw-'));
      const port = await freePort();
      raw.push(seconds(() => {
        execFileSync(join(bindir, 'initdb'), ['-D', join(dir, 'data'), '--username', 'postgres', '--encoding', 'UTF8', '--locale', 'C', '--auth-local', 'peer', '--auth-host', 'reject'], { stdio: 'ignore' });
        execFileSync(join(bindir, 'pg_ctl'), ['start', '-D', join(dir, 'data'), '-w', '-s', '-l', join(dir, 'log'), '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`], { stdio: 'ignore' });
      }));
      stopAll(dir);
      const p2 = await freePort();
      ours.push(seconds(() => {
        const r = runModule('instance', { name: `b${i}`, port: p2, settings: { listen_addresses: '127.0.0.1' } }, { env: sb.env });
        if (r.result.failed || !r.result.changed) throw new Error(JSON.stringify(r.result));
      }));
      stopAll(sb.dir);
    }
    console.log(`create+start: module ${median(ours).toFixed(2)} s, raw initdb + pg_ctl start -w ${median(raw).toFixed(2)} s` +
      ` -> ratio ${(median(ours) / median(raw)).toFixed(2)} (target <= 1.30; median of 5)`);
  } finally {
    sb.cleanup();
  }
}

noopTask().then(create).catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
