// The super-user's entry in the libpq passfile (~/.pgpass), when the site settings ask for it
// (postgresql.surole.pgpass). Entries are `*:<port>:*:<role>:<password>`, like pglift's.
import type { InstanceSpec } from './component';
import { readTextOr, writePrivateFileAtomic } from '../fsutil';
import { removePassfileEntries, setPassfileEntry } from '../passfile';
import type { Step } from '../plan';
import type { SiteSettings } from '../settings';
import type { InstanceLayout } from './layout';

const readPassfile = (path: string): string => readTextOr(path, '');

/** Steps keeping the super-user's entry for `opts.port` (nothing when it is already there). */
export function passfileSteps(settings: SiteSettings, l: InstanceLayout, opts: InstanceSpec): Step[] {
  const path = settings.postgresql.auth.passfile;
  const su = settings.postgresql.surole;
  if (!path || !su.pgpass || opts.surole_password === undefined) return [];
  const entry = { host: '*', port: String(opts.port), database: '*', user: su.name, password: opts.surole_password };
  const { changed } = setPassfileEntry(readPassfile(path), entry);
  if (!changed) return [];
  return [{
    change: `keep the password of ${su.name} for port ${opts.port} in ${path} (instance ${l.id})`,
    commands: [`update ${path}`],
    async apply() {
      // Re-read at apply time: another instance's task may have written the file meanwhile.
      writePrivateFileAtomic(path, setPassfileEntry(readPassfile(path), entry).text);
    },
  }];
}

/** Removes every entry of a port (the instance being dropped, or moved to another port). */
export function removePassfileStep(settings: SiteSettings, port: number): Step | null {
  const path = settings.postgresql.auth.passfile;
  if (!path) return null;
  if (!removePassfileEntries(readPassfile(path), { port: String(port) }).changed) return null;
  return {
    change: `remove the entries of port ${port} from ${path}`,
    commands: [`update ${path}`],
    async apply() {
      writePrivateFileAtomic(path, removePassfileEntries(readPassfile(path), { port: String(port) }).text);
    },
  };
}
