// PoWA on every instance that declares `powa: {password}` (pglift's powa), ready to be collected
// in remote mode by a central powa-collector (roles/powa): the statistics libraries merged into
// shared_preload_libraries, the PoWA role (a super-user, as PoWA requires) and the PoWA database
// with its extensions. A marker file keeps the component declared when a later task leaves the
// option out (its libraries stay in shared_preload_libraries). Nothing to undo at drop: the role
// and database go with the instance; the marker is removed.
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { planDatabases } from '../../database';
import { formatCommand } from '../../exec';
import type { ComponentContext, InstanceComponent, SqlContext } from '../../instance/component';
import { inRecovery } from '../../instance/layout';
import { privateFileStep } from '../../instance/lifecycle';
import { readTextOr } from '../../fsutil';
import type { Step } from '../../plan';
import { ModuleError } from '../../runtime';
import { serviceRoleSteps } from '../service-role';

/** The libraries PoWA needs loaded at start, in pglift's order. */
export const POWA_LIBRARIES = ['pg_stat_statements', 'pg_qualstats', 'pg_stat_kcache'];
/** The extensions of the PoWA database, in creation order (powa last: it requires the others). */
const REQUIRED_EXTENSIONS = ['btree_gist', 'pg_stat_statements', 'pg_qualstats', 'pg_stat_kcache'];
const OPTIONAL_EXTENSIONS = ['hypopg'];

export interface PowaSite {
  dbname: string;
  role: string;
}

export function powaSite(c: Pick<ComponentContext, 'settings'>): PowaSite {
  const s = (c.settings.raw as { powa?: Partial<PowaSite> }).powa ?? {};
  return { dbname: s.dbname ?? 'powa', role: s.role ?? 'powa' };
}

const markerOf = (c: ComponentContext) => c.privateFile('powa', '.conf');
const markerText = (site: PowaSite) => `# PoWA is enabled on this instance (socle.postgresql)\ndbname=${site.dbname}\nrole=${site.role}\n`;
const enabled = (c: ComponentContext) => c.opts.powa !== undefined || existsSync(markerOf(c));
const staysStandby = (c: ComponentContext) => inRecovery(c.layout) && c.opts.standby?.status !== 'promoted';

/** The server's library directory (`pg_config --pkglibdir`), or null when pg_config is not beside the binaries. */
function pkglibdir(bindir: string): string | null {
  const pgConfig = join(bindir, 'pg_config');
  if (!existsSync(pgConfig)) return null;
  try {
    return execFileSync(pgConfig, ['--pkglibdir'], { encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}

function check(c: ComponentContext): void {
  const o = c.opts.powa;
  if (!o || c.lifecycle === 'drop') return;
  if (o.password?.includes('\0')) throw new ModuleError("option 'powa.password': must not contain NUL");
  // A library missing from the host would keep the server from starting: refuse before writing.
  const libdir = pkglibdir(c.layout.bindir);
  if (libdir === null) return;
  const missing = POWA_LIBRARIES.filter((lib) => !existsSync(join(libdir, `${lib}.so`)));
  if (missing.length) {
    throw new ModuleError(
      `option 'powa': the libraries ${missing.join(', ')} are not installed in ${libdir} ` +
        `(Debian: postgresql-${c.layout.version}-pg-qualstats, postgresql-${c.layout.version}-pg-stat-kcache; the setup role installs them with socle_powa: true)`,
    );
  }
}

function configure(c: ComponentContext): Step[] {
  if (!c.opts.powa) return [];
  const step = privateFileStep(markerOf(c), markerText(powaSite(c)), `record that PoWA is enabled on instance ${c.layout.id}`, c.onUndo);
  return step ? [step] : [];
}

async function sql(c: SqlContext) {
  // A standby is read-only: the role and the database are its primary's, replicated.
  if (c.server.inRecovery) return { steps: [] };
  const site = powaSite(c);
  const conn = await c.session.connection();
  const steps: Step[] = await serviceRoleSteps(conn, { name: site.role, password: c.opts.powa?.password, superuser: true }, 'PoWA');
  const { rows } = await conn.query<{ name: string }>('SELECT name FROM pg_available_extensions WHERE name = ANY($1::text[])', [
    [...REQUIRED_EXTENSIONS, ...OPTIONAL_EXTENSIONS, 'powa'],
  ]);
  const available = new Set(rows.map((r) => r.name));
  const missing = [...REQUIRED_EXTENSIONS, 'powa'].filter((e) => !available.has(e));
  if (missing.length) {
    throw new ModuleError(`option 'powa': the extensions ${missing.join(', ')} are not available on instance ${c.layout.id} (Debian: postgresql-${c.layout.version}-powa and its companions)`);
  }
  // pg_stat_kcache and pg_qualstats refuse to load outside shared_preload_libraries: until the
  // restart that loads them, the database waits (a re-run after the restart makes it).
  const { rows: loaded } = await conn.query<{ setting: string }>("SELECT setting FROM pg_settings WHERE name = 'shared_preload_libraries'");
  const libs = (loaded[0]?.setting ?? '').split(',').map((s) => s.trim().replace(/^"|"$/g, ''));
  const notLoaded = POWA_LIBRARIES.filter((l) => !libs.includes(l));
  if (notLoaded.length) {
    c.module.warn(`instance ${c.layout.id}: database ${site.dbname} (PoWA) waits for a restart that loads ${notLoaded.join(', ')}; re-run the task after it`);
    return { steps };
  }
  const extensions = [...REQUIRED_EXTENSIONS, ...OPTIONAL_EXTENSIONS.filter((e) => available.has(e)), 'powa'];
  const plan = await planDatabases(c.session, [{ name: site.dbname, extensions, state: 'present', force_drop: false }], { optionPath: (_i, p) => `powa (database ${site.dbname}).${p}`, plannedRoles: c.server.plannedRoles });
  return { steps: [...steps, ...plan.steps], before: plan.before, after: plan.after };
}

export const powaComponent: InstanceComponent = {
  name: 'powa',
  declared: enabled,
  check,
  parameters: (c) => (c.lifecycle === 'drop' || !enabled(c) ? {} : { lists: { shared_preload_libraries: POWA_LIBRARIES } }),
  configure,
  needsServer: (c) => c.opts.powa !== undefined && c.lifecycle !== 'drop' && !staysStandby(c),
  sql,
  sqlOnCreation: (c) => {
    if (!c.opts.powa || c.opts.standby) return [];
    const site = powaSite(c);
    return [`create role ${site.role} (PoWA)`, `create database ${site.dbname} with the extensions of PoWA`];
  },
  drop(c) {
    const marker = markerOf(c);
    if (!existsSync(marker)) return [];
    return [{ change: `remove the PoWA marker of instance ${c.layout.id}`, commands: [formatCommand('rm', ['-f', marker])], apply: async () => rmSync(marker, { force: true }) }];
  },
  facts(c) {
    if (!enabled(c) || c.lifecycle === 'drop') return undefined;
    const text = readTextOr(markerOf(c), '');
    const site = powaSite(c);
    return {
      dbname: /^dbname=(.*)$/m.exec(text)?.[1] ?? site.dbname,
      role: /^role=(.*)$/m.exec(text)?.[1] ?? site.role,
      libraries: POWA_LIBRARIES,
    };
  },
};
