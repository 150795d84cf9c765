// The temBoard console's files, all private to the instance (one folder of mode 0700 under
// `{prefix}/etc/temboard-console/<version>-<instance>`): its ini configuration (0600: the
// repository role's password and the cookie secret), a self-signed TLS certificate when none is
// given, the signing key pair the console signs its requests to the agents with, its home, and
// the marker that says its repository is ready (from then on the console follows the instance).
import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { isIP } from 'node:net';
import type { ComponentContext } from '../../instance/component';
import { effectiveAuth } from '../../instance/config';
import { daemonService, type CompanionService } from '../../daemon';
import { readTextOr } from '../../fsutil';
import { sitePath } from '../../settings';
import type { InstanceOptions } from '../../../generated/instance';

export type ConsoleOptions = NonNullable<InstanceOptions['temboard_console']>;

/** The repository's role and database: temBoard's migrations grant to a role named `temboard`. */
export const REPOSITORY_ROLE = 'temboard';
export const REPOSITORY_DB = 'temboard';

export interface ConsoleFiles {
  name: string;
  dir: string;
  conf: string;
  cert: string;
  key: string;
  signingPrivate: string;
  signingPublic: string;
  home: string;
  ready: string;
  log: string;
}

export function consoleFiles(c: ComponentContext): ConsoleFiles {
  const dir = c.privateFile('temboard-console', '');
  const name = `${c.layout.version}-${c.layout.name}`;
  return {
    name,
    dir,
    conf: join(dir, 'temboard.conf'),
    cert: join(dir, 'tls', 'cert.pem'),
    key: join(dir, 'tls', 'key.pem'),
    signingPrivate: join(dir, 'signing-private.pem'),
    signingPublic: join(dir, 'signing-public.pem'),
    home: join(dir, 'home'),
    ready: join(dir, 'ready'),
    log: sitePath(c.settings, 'log/temboard-console-{name}.log', { name }),
  };
}

/** The certificate and key the console serves: the given ones, or the generated self-signed pair. */
export function tlsFiles(o: ConsoleOptions, f: ConsoleFiles): { cert: string; key: string; generated: boolean } {
  return o.certificate ? { cert: o.certificate.cert, key: o.certificate.key, generated: false } : { cert: f.cert, key: f.key, generated: true };
}

const PASSWORD_METHODS = new Set(['scram-sha-256', 'md5', 'password', 'trust']);

/** Where the console reaches its repository: the socket when the local method takes a password, else TCP on loopback. */
export function repositoryHost(c: ComponentContext): string {
  return PASSWORD_METHODS.has(effectiveAuth(c.settings, c.opts.auth).local) ? c.layout.socketDir : '127.0.0.1';
}

/**
 * temBoard puts the repository's settings into a URL (postgresql://user:password@:port/db?host=...)
 * without quoting them: the password is percent-encoded here (libpq and SQLAlchemy decode it).
 */
const urlEncoded = (s: string) => Array.from(Buffer.from(s, 'utf8')).map((b) => (/[A-Za-z0-9_.~-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('');

/** The ini text (temboard reads it with RawConfigParser: no interpolation). The cookie secret is kept from `existing`. */
export function configText(c: ComponentContext, o: ConsoleOptions, f: ConsoleFiles, existing: string | null): string {
  const kept = existing ? /^cookie_secret = ([0-9a-f]{64})$/m.exec(existing)?.[1] : undefined;
  const tls = tlsFiles(o, f);
  return [
    '# Written by socle.postgresql; changes are overwritten.',
    // The console reads the certificates it is given when it starts: their digests here make a
    // renewed one a new configuration, which restarts it (the self-signed one is made once). The
    // program: the service of a later task without the option stays the same.
    ...(o.certificate ? [`# certificate sha256: ${digestOf(o.certificate.cert)}`] : []),
    ...(o.ca_cert ? [`# ca_cert sha256: ${digestOf(o.ca_cert)}`] : []),
    `# program: ${o.execpath}`,
    '[temboard]',
    `address = ${o.address}`,
    `port = ${o.port}`,
    `ssl_cert_file = ${tls.cert}`,
    `ssl_key_file = ${tls.key}`,
    ...(o.ca_cert ? [`ssl_ca_cert_file = ${o.ca_cert}`] : []),
    `signing_private_key = ${f.signingPrivate}`,
    `signing_public_key = ${f.signingPublic}`,
    `cookie_secret = ${kept ?? randomBytes(32).toString('hex')}`,
    `home = ${f.home}`,
    '',
    '[repository]',
    `host = ${repositoryHost(c)}`,
    `port = ${c.port}`,
    `user = ${REPOSITORY_ROLE}`,
    `password = ${urlEncoded(o.password)}`,
    `dbname = ${REPOSITORY_DB}`,
    '',
    '[logging]',
    'method = stderr',
    'level = INFO',
    '',
  ].join('\n');
}

/** A file's sha256 (the options' files exist: check() says so). */
function digestOf(file: string): string {
  const text = readTextOr(file, null);
  return text === null ? 'none' : createHash('sha256').update(text).digest('hex');
}

/** The program a configuration was written for. */
export const programOf = (text: string | null) => (text === null ? null : /^# program: (.*)$/m.exec(text)?.[1] ?? null);

/** The text without its cookie secret: what decides whether the file must be rewritten. */
export const configShape = (text: string | null) => (text === null ? null : text.replace(/^cookie_secret = .*$/m, ''));

export const readConfig = (f: ConsoleFiles) => readTextOr(f.conf, null);

/** The value given to `-addext subjectAltName=` for a self-signed certificate. */
export function subjectAltName(address: string): string {
  const names = new Set([`DNS:${hostname()}`, 'DNS:localhost', 'IP:127.0.0.1']);
  if (address && !['0.0.0.0', '::'].includes(address)) names.add(isIP(address) ? `IP:${address}` : `DNS:${address}`);
  return [...names].join(',');
}

/** The openssl commands that make a self-signed certificate, and the signing key pair. */
export function selfSignedArgs(o: ConsoleOptions, f: ConsoleFiles, key: string, cert: string): string[] {
  return ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '3650',
    '-subj', `/CN=${hostname()}`, '-addext', `subjectAltName=${subjectAltName(o.address!)}`];
}

/** temBoard's password hash (temboardui.application.hash_password): base64(sha512(hex(password) + sha512(username))). */
export function hashPassword(username: string, password: string): string {
  const user = createHash('sha512').update(username, 'utf8').digest();
  const hex = Buffer.from(Buffer.from(password, 'utf8').toString('hex'), 'ascii');
  return createHash('sha512').update(Buffer.concat([hex, user])).digest('base64');
}

/** The console as a companion service of its repository instance. */
export function consoleService(c: ComponentContext, execpath: string, f: ConsoleFiles): CompanionService {
  return daemonService(c.settings, {
    name: `socle-temboard-console-${f.name}`,
    description: `temBoard console of repository ${c.layout.id}`,
    argv: [execpath, '-c', f.conf, 'serve'],
    // temboard reads no secret from its environment: its configuration is restarted for explicitly.
    env: { HOME: f.home },
    logFile: f.log,
  });
}

/** The URL the task waits on (a wildcard address is reached on loopback). */
export function consoleUrl(o: Pick<ConsoleOptions, 'address' | 'port'>): string {
  const a = o.address!;
  const host = ['', '0.0.0.0'].includes(a) ? '127.0.0.1' : a === '::' ? '[::1]' : isIP(a) === 6 ? `[${a}]` : a;
  return `https://${host}:${o.port}`;
}
