// The patroni module: the cluster of a member on this host, read with GET /cluster, and the
// actions Patroni's REST API offers. Plan-then-apply: each action is a step (the exact REST
// call), none when the cluster is already as asked (a switchover to the leader, pause when
// paused, restart with nothing pending), so check mode and idempotency need no special case.
import { load } from 'js-yaml';
import type { PatroniOptions } from '../../../generated/patroni';
import { readTextOr } from '../../fsutil';
import { layout, resolveVersion } from '../../instance/layout';
import { applySteps, report, type Step } from '../../plan';
import { ModuleError, type ModuleContext, type ModuleResult } from '../../runtime';
import { loadSettings } from '../../settings';
import { call, getJson, statusOf, type Endpoint } from './http';
import { memberFiles, restEndpoint } from './site';

interface ClusterMember {
  name: string;
  role: string;
  state: string;
  api_url?: string;
  host?: string;
  port?: number;
  timeline?: number;
  lag?: number | string;
  pending_restart?: boolean;
}
interface ClusterJson {
  members: ClusterMember[];
  pause?: boolean;
}

function facts(scope: string, c: ClusterJson) {
  const leader = c.members.find((m) => m.role === 'leader' || m.role === 'standby_leader');
  return {
    cluster: scope,
    leader: leader?.name ?? null,
    paused: c.pause ?? false,
    sync_standby: c.members.filter((m) => m.role === 'sync_standby').map((m) => m.name),
    members: c.members.map((m) => ({
      name: m.name, role: m.role, state: m.state, timeline: m.timeline ?? null,
      lag: m.lag === undefined || m.lag === '' ? (m.role === 'leader' ? 0 : null) : m.lag,
      host: m.host ?? null, port: m.port ?? null, pending_restart: m.pending_restart ?? false,
    })),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, seconds: number, ok: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    if (await ok().catch(() => false)) return;
    await sleep(500);
  }
  throw new ModuleError(`patroni: ${what} not reached within ${seconds} s`);
}

export async function runPatroni(o: PatroniOptions, ctx: ModuleContext): Promise<ModuleResult> {
  const settings = loadSettings();
  const [v, n] = o.instance.includes('/') ? o.instance.split('/') : [undefined, o.instance];
  const l = layout(settings, resolveVersion(settings, n, v), n);
  const files = memberFiles(settings, l.version, l.name);
  const text = readTextOr(files.configFile, null);
  if (text === null) throw new ModuleError(`option 'instance': ${l.id} is not a Patroni member (no ${files.configFile})`);
  const y = load(text) as { scope: string; name: string; restapi: { connect_address: string; authentication?: { username: string; password: string } } };
  const self = restEndpoint(settings, y.restapi.connect_address, y.restapi.authentication);
  const at = (m: ClusterMember): Endpoint => (m.api_url ? { ...self, base: new URL(m.api_url).origin } : self);
  let cluster: ClusterJson;
  try {
    cluster = await getJson<ClusterJson>(self, '/cluster');
  } catch (err) {
    throw new ModuleError(`patroni: member ${y.name} of ${y.scope} does not answer at ${self.base} (${(err as Error).message})`);
  }
  const f = facts(y.scope, cluster);
  const byName = new Map(cluster.members.map((m) => [m.name, m]));
  const named = (option: string, name: string) => {
    const m = byName.get(name);
    if (!m) throw new ModuleError(`option '${option}': no member ${name} in cluster ${y.scope} (members: ${[...byName.keys()].join(', ')})`);
    return m;
  };
  const post = async (ep: Endpoint, path: string, body: unknown, okStatus = [200, 202]) => {
    const r = await call(ep, path === '/config' ? 'PATCH' : 'POST', path, body, 120_000);
    if (!okStatus.includes(r.status)) throw new ModuleError(`patroni: ${path} refused (HTTP ${r.status}): ${r.body.slice(0, 300)}`);
  };
  const leaderNow = async () => facts(y.scope, await getJson<ClusterJson>(self, '/cluster')).leader;
  const steps: Step[] = [];
  const timeout = o.timeout!;

  switch (o.action) {
    case 'switchover':
    case 'failover': {
      if (o.action === 'failover' && !o.candidate) throw new ModuleError("option 'candidate': required by action=failover");
      const cand = o.candidate ? named('candidate', o.candidate) : null;
      if (cand && cand.name === f.leader) break;
      const body = o.action === 'switchover' ? { leader: f.leader, ...(cand ? { candidate: cand.name } : {}) } : { candidate: cand!.name };
      if (o.action === 'switchover' && !f.leader) throw new ModuleError(`patroni: cluster ${y.scope} has no leader to switch over from (use action=failover)`);
      steps.push({
        change: `${o.action} of cluster ${y.scope} from ${f.leader ?? '(no leader)'} to ${cand?.name ?? 'the member Patroni chooses'}`,
        commands: [`POST ${self.base}/${o.action} ${JSON.stringify(body)}`],
        async apply() {
          await post(self, `/${o.action}`, body);
          await until(`a new leader of ${y.scope}`, timeout, async () => {
            const now = await leaderNow();
            return now !== null && (cand ? now === cand.name : now !== f.leader);
          });
        },
      });
      break;
    }
    case 'restart': {
      // Replicas first, the leader last: one member down at a time.
      const pending = cluster.members.filter((m) => m.pending_restart).sort((a, b) => Number(a.role === 'leader') - Number(b.role === 'leader'));
      for (const m of pending) {
        steps.push({
          change: `restart member ${m.name} (pending restart)`,
          commands: [`POST ${at(m).base}/restart`],
          async apply() {
            await post(at(m), '/restart', { restart_pending: true });
            // Done when the cluster (the DCS, as the facts read it) shows the member running with
            // nothing pending: its /health may still say 200 just after the request, and its
            // member key is updated at its next loop.
            await until(`member ${m.name} restarted`, timeout, async () => {
              const now = (await getJson<ClusterJson>(self, '/cluster')).members.find((x) => x.name === m.name);
              return (now?.state === 'running' || now?.state === 'streaming') && !now.pending_restart;
            });
          },
        });
      }
      break;
    }
    case 'pause':
    case 'resume': {
      const want = o.action === 'pause';
      if (f.paused === want) break;
      steps.push({
        change: `${want ? 'pause' : 'resume'} cluster ${y.scope} (automatic failover ${want ? 'off' : 'on'})`,
        commands: [`PATCH ${self.base}/config {"pause":${want}}`],
        async apply() {
          await post(self, '/config', { pause: want }, [200]);
          await until(`cluster ${y.scope} ${want ? 'paused' : 'resumed'}`, timeout, async () => ((await getJson<ClusterJson>(self, '/cluster')).pause ?? false) === want);
        },
      });
      break;
    }
    case 'reinit': {
      const m = named('member', o.member ?? y.name);
      if (m.name === f.leader) throw new ModuleError(`option 'member': ${m.name} is the leader; only a replica is rebuilt`);
      steps.push({
        change: `rebuild member ${m.name} from the leader`,
        commands: [`POST ${at(m).base}/reinitialize {"force":true}`],
        async apply() {
          await post(at(m), '/reinitialize', { force: true });
          await sleep(1000);
          await until(`member ${m.name} running`, timeout, async () => (await statusOf(at(m), '/health')) === 200);
        },
      });
      break;
    }
    default:
      break;
  }
  if (!ctx.checkMode) await applySteps(steps);
  const after = steps.length && !ctx.checkMode ? facts(y.scope, await getJson<ClusterJson>(self, '/cluster')) : f;
  const r = report(steps);
  return {
    ...r,
    msg: r.changed ? `${ctx.checkMode ? 'would ' : ''}${r.changes.join('; ')}` : `cluster ${y.scope}: leader ${f.leader ?? 'none'}, nothing to do`,
    diff: { before: `leader: ${f.leader}\npaused: ${f.paused}\n`, after: `leader: ${after.leader}\npaused: ${after.paused}\n` },
    ...after,
  };
}
