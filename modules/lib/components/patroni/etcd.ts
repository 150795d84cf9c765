// What the members need of etcd directly (its v3 JSON gateway, /v3/...): whether a cluster was
// already initialised (a new member then clones, else it bootstraps), and removing a cluster's
// keys when its last member is dropped (pglift leaves that to `patronictl remove`).
import { call, type Endpoint } from './http';

export interface EtcdAccess {
  endpoints: Endpoint[];
  user?: { username: string; password: string };
  /** Patroni's namespace (`/service`). */
  namespace: string;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

/** Tries each endpoint in turn; the first that answers wins. */
async function post(a: EtcdAccess, path: string, body: unknown): Promise<unknown> {
  let last: unknown = null;
  for (const ep of a.endpoints) {
    try {
      const headers: Record<string, string> = {};
      if (a.user) {
        const auth = await call(ep, 'POST', '/v3/auth/authenticate', { name: a.user.username, password: a.user.password });
        if (auth.status !== 200) throw new Error(`etcd authentication refused (HTTP ${auth.status})`);
        headers.authorization = (JSON.parse(auth.body) as { token: string }).token;
      }
      const r = await call(ep, 'POST', path, body, 5000, headers);
      if (r.status !== 200) throw new Error(`etcd ${path}: HTTP ${r.status}: ${r.body.slice(0, 200)}`);
      return JSON.parse(r.body);
    } catch (err) {
      last = err;
    }
  }
  throw new Error(`no etcd endpoint answered (${a.endpoints.map((e) => e.base).join(', ')}): ${(last as Error)?.message}`);
}

function prefix(a: EtcdAccess, cluster: string): string {
  return `${a.namespace.replace(/\/$/, '')}/${cluster}/`;
}

/** Whether the cluster was initialised (its `initialize` key holds the system identifier). */
export async function clusterInitialized(a: EtcdAccess, cluster: string): Promise<boolean> {
  const r = (await post(a, '/v3/kv/range', { key: b64(`${prefix(a, cluster)}initialize`) })) as { count?: string };
  return Number(r.count ?? 0) > 0;
}

/** The members registered in the DCS, with their REST API's URL. */
export async function registeredMembers(a: EtcdAccess, cluster: string): Promise<Array<{ name: string; apiUrl: string | null }>> {
  const p = `${prefix(a, cluster)}members/`;
  const end = p.slice(0, -1) + String.fromCharCode(p.charCodeAt(p.length - 1) + 1);
  const r = (await post(a, '/v3/kv/range', { key: b64(p), range_end: b64(end) })) as { kvs?: Array<{ key: string; value?: string }> };
  return (r.kvs ?? []).map((kv) => {
    let apiUrl: string | null = null;
    try {
      apiUrl = (JSON.parse(Buffer.from(kv.value ?? '', 'base64').toString('utf8')) as { api_url?: string }).api_url ?? null;
    } catch {
      /* not JSON */
    }
    return { name: Buffer.from(kv.key, 'base64').toString('utf8').slice(p.length), apiUrl };
  });
}

/** Removes every key of the cluster. */
export async function removeCluster(a: EtcdAccess, cluster: string): Promise<void> {
  const p = prefix(a, cluster);
  const end = p.slice(0, -1) + String.fromCharCode(p.charCodeAt(p.length - 1) + 1);
  await post(a, '/v3/kv/deleterange', { key: b64(p), range_end: b64(end) });
}
