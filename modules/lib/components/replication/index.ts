// Streaming replication, as a component of the instance (pglift's `standby` and
// `replication_slots`):
//   - creation of a standby: its data directory is a base backup of the upstream (provision),
//     `standby.signal` and the password's private passfile are written (configure), and
//     `primary_conninfo` / `primary_slot_name` go to socle.conf (parameters);
//   - `status: promoted` promotes (sql phase, before the roles and databases, which then apply);
//   - `replication_slots` are created and dropped (sql phase), refused on a demoted standby;
//   - facts: the replication role, a standby's upstream and lag, a primary's standbys.
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { formatCommand, run } from '../../exec';
import type { ComponentContext, InstanceComponent, SqlContext, SqlPlan } from '../../instance/component';
import { inRecovery } from '../../instance/layout';
import { privateFileStep } from '../../instance/lifecycle';
import type { Step } from '../../plan';
import { ModuleError } from '../../runtime';
import { checkConninfo, passfileLine, primaryConninfo, upstreamConninfo } from './conninfo';
import { replicationFacts } from './facts';
import { planSlots, wantedSlots } from './slots';

const passfileOf = (c: ComponentContext) => c.privateFile('replication', '.pgpass');

/** The standby declaration when the instance is to stay (or become) a standby. */
function demoted(c: ComponentContext) {
  const s = c.opts.standby;
  return s && s.status !== 'promoted' ? s : null;
}

function check(c: ComponentContext): void {
  const s = c.opts.standby;
  if (s) {
    checkConninfo(s.primary_conninfo);
    if (s.password !== undefined && /[\n\r\0]/.test(s.password)) {
      throw new ModuleError("option 'standby.password': must not contain a line break or NUL (it is kept in a passfile, one entry per line)");
    }
    if (s.status !== 'promoted' && c.lifecycle === 'update' && !inRecovery(c.layout)) {
      throw new ModuleError(`option 'standby.status': instance ${c.layout.id} is a primary; it cannot be made a standby again (drop it and create it as a standby)`);
    }
  }
  const slots = wantedSlots(c.opts.replication_slots);
  const staysStandby = demoted(c) !== null || (!s && c.lifecycle === 'update' && inRecovery(c.layout));
  if (slots.length && staysStandby) {
    throw new ModuleError(`option 'replication_slots': instance ${c.layout.id} is a standby (status demoted); declare its slots on the primary, or promote it first`);
  }
}

function provisionStep(c: ComponentContext): Step {
  const s = c.opts.standby!;
  const l = c.layout;
  const conninfo = upstreamConninfo(s.primary_conninfo, c.settings.postgresql.replrole);
  const args = ['--pgdata', l.datadir, '--waldir', l.waldir, '--wal-method=stream', '--checkpoint=fast', '--no-password', '--dbname', conninfo];
  if (s.slot) args.push('--slot', s.slot);
  const basebackup = join(l.bindir, 'pg_basebackup');
  return {
    change: `create standby ${l.id} from a base backup of its upstream`,
    commands: [`${s.password ? 'PGPASSWORD=<standby.password> ' : ''}${formatCommand(basebackup, args)}`],
    async apply() {
      mkdirSync(dirname(l.datadir), { recursive: true, mode: 0o700 });
      mkdirSync(dirname(l.waldir), { recursive: true, mode: 0o700 });
      // The password goes in the child's environment: not on its command line, in no file.
      const env: Record<string, string> = { ...(process.env as Record<string, string>) };
      delete env.PGPASSWORD;
      if (s.password) env.PGPASSWORD = s.password;
      await run(basebackup, args, { env, timeout: 24 * 3600 });
    },
  };
}

function configure(c: ComponentContext): Step[] {
  const s = demoted(c);
  if (!s) return [];
  const steps: Step[] = [];
  const l = c.layout;
  if (c.lifecycle === 'create') {
    const signal = join(l.datadir, 'standby.signal');
    steps.push({ change: `make ${l.id} a standby`, commands: [`write ${signal}`], apply: async () => writeFileSync(signal, '', { mode: 0o600 }) });
  }
  if (s.password !== undefined) {
    const file = passfileOf(c);
    const step = privateFileStep(file, passfileLine(s.password), `keep the replication password of ${l.id} in ${file}`, c.onUndo);
    if (step) steps.push(step);
  }
  return steps;
}

async function sql(c: SqlContext): Promise<SqlPlan> {
  const steps: Step[] = [];
  const l = c.layout;
  if (c.opts.standby?.status === 'promoted' && c.server.inRecovery) {
    const pgCtl = join(l.bindir, 'pg_ctl');
    const args = ['promote', '-D', l.datadir, '-w', '-t', '300', '-s'];
    steps.push({ change: `promote instance ${l.id}`, commands: [formatCommand(pgCtl, args)], apply: async () => { await run(pgCtl, args, { timeout: 310 }); } });
    // Planned as a primary from here on: the roles and databases apply in the same task.
    c.server.inRecovery = false;
  }
  const slots = await planSlots(c, steps.length > 0);
  return { steps: [...steps, ...slots.steps], before: slots.before, after: slots.after };
}

export const replicationComponent: InstanceComponent = {
  name: 'replication',
  declared: () => true,
  check,
  parameters(c) {
    const s = demoted(c);
    if (!s) return {};
    const passfile = s.password !== undefined || existsSync(passfileOf(c)) ? passfileOf(c) : null;
    return {
      required: {
        primary_conninfo: primaryConninfo(s.primary_conninfo, c.settings.postgresql.replrole, passfile),
        ...(s.slot ? { primary_slot_name: s.slot } : {}),
      },
    };
  },
  provision: (c) => (c.opts.standby ? { step: provisionStep(c), standby: true } : null),
  configure,
  needsServer: (c) => c.opts.standby?.status === 'promoted' || wantedSlots(c.opts.replication_slots).length > 0,
  sql,
  sqlOnCreation: (c) => [
    ...(c.opts.standby?.status === 'promoted' ? [`promote instance ${c.layout.id}`] : []),
    ...wantedSlots(c.opts.replication_slots).filter((s) => s.state === 'present').map((s) => `create replication slot ${s.name}`),
  ],
  drop(c) {
    const file = passfileOf(c);
    if (!existsSync(file)) return [];
    return [{ change: `remove ${file}`, commands: [formatCommand('rm', ['-f', file])], apply: async () => rmSync(file, { force: true }) }];
  },
  facts: (c, conn) => replicationFacts(c, conn),
};
