// A standby's connection string to its upstream: the user's `primary_conninfo` (keyword/value or
// URI, never with a password), completed with the site's replication role when it names no user
// and with the private passfile that holds the password, so the password is in neither the
// configuration nor any output.
import { conninfoValue, isUri, parseConninfo, passwordOf } from '../../pg/conninfo';
import { ModuleError } from '../../runtime';

const OPTION = 'standby.primary_conninfo';

function parsed(conninfo: string): { user: string | undefined; hasPassword: boolean } {
  if (isUri(conninfo)) {
    let u: URL;
    try {
      u = new URL(conninfo.trim());
    } catch (err) {
      throw new ModuleError(`option '${OPTION}': not a valid URI (${(err as Error).message})`);
    }
    const user = u.searchParams.get('user') ?? (u.username ? decodeURIComponent(u.username) : undefined);
    return { user, hasPassword: passwordOf(conninfo) !== undefined };
  }
  let info: Map<string, string>;
  try {
    info = parseConninfo(conninfo);
  } catch (err) {
    throw new ModuleError(`option '${OPTION}': ${(err as Error).message}`);
  }
  return { user: info.get('user'), hasPassword: info.has('password') };
}

/** Fails naming the option when the string carries a password or cannot be read. */
export function checkConninfo(conninfo: string): void {
  if (parsed(conninfo).hasPassword) {
    throw new ModuleError(`option '${OPTION}': must not contain a password (give it in 'standby.password', which is kept out of the configuration)`);
  }
}

/** `conninfo` with these keywords added (a URI gets them as query parameters). */
function withKeywords(conninfo: string, extra: Record<string, string>): string {
  const entries = Object.entries(extra);
  if (!entries.length) return conninfo;
  const text = conninfo.trim();
  if (isUri(text)) {
    const q = entries.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&');
    return `${text}${text.includes('?') ? '&' : '?'}${q}`;
  }
  return `${text} ${entries.map(([k, v]) => `${k}=${conninfoValue(v)}`).join(' ')}`;
}

/** What pg_basebackup connects with (the password comes from its environment). */
export function upstreamConninfo(conninfo: string, replrole: string | null): string {
  const { user } = parsed(conninfo);
  return withKeywords(conninfo, user === undefined && replrole ? { user: replrole } : {});
}

/** The `primary_conninfo` parameter: the upstream, plus `passfile` when a password is kept. */
export function primaryConninfo(conninfo: string, replrole: string | null, passfile: string | null): string {
  return withKeywords(upstreamConninfo(conninfo, replrole), passfile ? { passfile } : {});
}

/** One passfile line matching any host, port, database and user: the file belongs to one standby. */
export function passfileLine(password: string): string {
  return `*:*:*:*:${password.replace(/\\/g, '\\\\').replace(/:/g, '\\:')}\n`;
}
