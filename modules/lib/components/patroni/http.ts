// Small HTTP(S) client for Patroni's REST API and etcd's JSON gateway (node:http, no
// dependency): basic authentication, a CA, client certificates, a timeout. Bodies are JSON.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';

export interface Endpoint {
  /** `http://host:port` or `https://host:port`. */
  base: string;
  auth?: { username: string; password: string };
  cafile?: string;
  certfile?: string;
  keyfile?: string;
}

export interface HttpAnswer {
  status: number;
  body: string;
}

export function call(ep: Endpoint, method: string, path: string, body?: unknown, timeoutMs = 5000, headers: Record<string, string> = {}): Promise<HttpAnswer> {
  const url = new URL(path, ep.base);
  const https = url.protocol === 'https:';
  const data = body === undefined ? undefined : JSON.stringify(body);
  const h: Record<string, string> = { ...headers };
  if (data !== undefined) {
    h['content-type'] = 'application/json';
    h['content-length'] = String(Buffer.byteLength(data));
  } else if (method !== 'GET') {
    h['content-length'] = '0';
  }
  if (ep.auth) h.authorization = `Basic ${Buffer.from(`${ep.auth.username}:${ep.auth.password}`).toString('base64')}`;
  const tls = https
    ? {
        ...(ep.cafile ? { ca: readFileSync(ep.cafile) } : {}),
        ...(ep.certfile ? { cert: readFileSync(ep.certfile) } : {}),
        ...(ep.keyfile ? { key: readFileSync(ep.keyfile) } : {}),
      }
    : {};
  return new Promise((resolve, reject) => {
    const req = (https ? httpsRequest : httpRequest)(url, { method, headers: h, timeout: timeoutMs, ...tls }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url.href}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    if (data !== undefined) req.write(data);
    req.end();
  });
}

/** The answer's status, or 0 when nothing answers (connection refused, timeout). */
export async function statusOf(ep: Endpoint, path: string, timeoutMs = 2000): Promise<number> {
  try {
    return (await call(ep, 'GET', path, undefined, timeoutMs)).status;
  } catch {
    return 0;
  }
}

export async function getJson<T>(ep: Endpoint, path: string): Promise<T> {
  const a = await call(ep, 'GET', path);
  if (a.status !== 200) throw new Error(`GET ${path}: HTTP ${a.status}: ${a.body.slice(0, 200)}`);
  return JSON.parse(a.body) as T;
}
