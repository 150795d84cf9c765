// The pgBackRest processes a repository host starts on this host. In host-tls mode, this host's
// `pgbackrest server`: the repository host connects to it (TLS, client certificate checked
// against `tls-server-auth`) to back the instances up and to run `check`. One server per host,
// read from [global] of pgbackrest.conf, shared by the instances that archive to a stanza; a
// companion daemon (modules/lib/daemon.ts) of each of them. In host-ssh mode, sshd starts them.
// They connect to the instances as the backup role: its passwords are in one private passfile,
// a line per instance (`*:<port>:*:<role>:<password>`), each under a comment naming it, so that
// an instance updates or removes its own line only.
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { daemonService, type CompanionService } from '../../daemon';
import { readTextOr } from '../../fsutil';
import type { SiteSettings } from '../../settings';
import { globalConfFile, globalConfText, parseStanzaConf, type PgbackrestSite } from './site';

export const SERVER_NAME = 'socle-pgbackrest-server';

export const serverPassfile = (site: PgbackrestSite) => join(site.configpath, 'server.pgpass');

const escape = (v: string) => v.replace(/\\/g, '\\\\').replace(/:/g, '\\:');

/** The server's passfile with instance `id`'s line set (password null: removed). */
export function withServerPassword(text: string | null, id: string, port: number | null, role?: string, password?: string): string {
  const lines = (text ?? '').split('\n').filter((l) => l !== '');
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] === `# ${id}`) {
      i++; // its password line
      continue;
    }
    out.push(lines[i]);
  }
  if (port !== null && role !== undefined && password !== undefined) out.push(`# ${id}`, `*:${port}:*:${escape(role)}:${escape(password)}`);
  return out.length ? `${out.join('\n')}\n` : '';
}

/** Whether an instance other than the one of `datadir` is in a stanza file of this host. */
export function otherInstances(site: PgbackrestSite, datadir: string): boolean {
  const dir = join(site.configpath, 'conf.d');
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.conf'));
  } catch {
    return false;
  }
  return files.some((f) => [...parseStanzaConf(readTextOr(join(dir, f), null)).values()].some((kv) => kv.get('path') !== datadir));
}

/**
 * host-ssh: the repository host starts pgBackRest here through sshd, which gives it no
 * environment: this script (its `pgN-host-cmd`) gives it the passfile and the TCP host.
 */
export const remoteCommandFile = (site: PgbackrestSite) => join(site.configpath, 'pgbackrest-remote');

export function remoteCommandText(site: PgbackrestSite): string {
  const q = (v: string) => `'${v.replace(/'/g, `'\\''`)}'`;
  return [
    '#!/bin/sh',
    '# managed by socle.postgresql: what the repository host runs here through SSH (its pgN-host-cmd)',
    `PGHOST=127.0.0.1 PGPASSFILE=${q(serverPassfile(site))} exec ${q(site.execpath)} "$@"`,
    '',
  ].join('\n');
}

export function tlsServer(settings: SiteSettings, site: PgbackrestSite): CompanionService {
  return daemonService(settings, {
    name: SERVER_NAME,
    description: 'pgBackRest TLS server',
    argv: [site.execpath, `--config=${globalConfFile(site)}`, `--config-include-path=${join(site.configpath, 'conf.d')}`, 'server'],
    env: {
      // Its processes connect over TCP on loopback (as `commandEnv` does), with the passwords of
      // the passfile.
      PGHOST: '127.0.0.1',
      PGPASSFILE: serverPassfile(site),
      // The server reads [global] at start only: a changed file is a changed definition, which
      // restarts it. (The file holds no secret; only its digest is kept.)
      SOCLE_CONFIG_DIGEST: createHash('sha256').update(globalConfText(site)).digest('hex').slice(0, 16),
    },
    logFile: join(site.logpath, `${SERVER_NAME}.log`),
  });
}
