// Pure planning of one role: from what the catalog and the files say now and what is declared,
// the SQL to run (passwords masked in what is shown), the new pg_hba.conf block and passfile
// entry, and the role as it is before and after. No I/O here: unit-tested on plain data.
import { gucEqual, type GucInfo } from '../pg/guc';
import { quoteIdent, quoteLiteral } from '../pg/quote';
import { passwordMatches, scramVerifier } from '../pg/scram';
import { parsePassfile, removePassfileEntries, setPassfileEntry, type PassfileEntry } from '../passfile';
import { ModuleError } from '../runtime';
import { MASK } from '../secrets';
import { membershipOptions, membershipsPerGrantor } from '../pg/versions';
import type { MembershipGrant, RoleCatalog, RoleRow } from './catalog';
import { plannedBlock, readRoleBlock, setRoleBlock } from './hba';
import { ATTRIBUTE_DEFAULT, ATTRIBUTE_KEYWORD, ATTRIBUTES, type NormalizedRole } from './spec';

/** One SQL statement: as shown (secrets masked) and as run (built when run: a SCRAM verifier costs). */
export interface Statement {
  shown: string;
  sql: () => string;
  /** Run in this database rather than on the main connection's (DROP/REASSIGN OWNED). */
  database?: string;
  /** Carries a secret (a password verifier): run so that the server does not log it (pg/unlogged.ts). */
  secret?: boolean;
  /** The option it comes from, named when PostgreSQL refuses it (`configuration.work_mem`). */
  option?: string;
}

/** A role as shown in the diff: never its password, only whether it has one. */
export type RoleState =
  | { state: 'absent' }
  | {
      state: 'present';
      superuser: boolean;
      createdb: boolean;
      createrole: boolean;
      inherit: boolean;
      login: boolean;
      replication: boolean;
      bypassrls: boolean;
      connection_limit: number;
      valid_until: string;
      password: '(none)' | '(set)' | '(changed)';
      memberships: string[];
      configuration: Record<string, string>;
      hba_records?: string[];
      pgpass?: boolean;
    };

export interface PlanFiles {
  /** pg_hba.conf now (null: unreadable, only when no hba record is declared). */
  hbaText: string | null;
  /** The passfile now ('' when missing), null when the site settings have none. */
  passfileText: string | null;
  passfilePath: string | null;
  port: number;
}

export interface PlanContext extends PlanFiles {
  catalog: RoleCatalog;
  /** Roles created by the same batch (before this one): they count as existing for memberships. */
  created: Set<string>;
  /** For DROP/REASSIGN OWNED: the main connection's database and every database accepting connections. */
  databases?: { current: string; all: string[] };
  /** Plain passwords already compared with the stored verifiers (passwordsMatch, in parallel), by role. */
  passwordMatches?: Map<string, boolean>;
}

export interface RolePlan {
  name: string;
  /** One line for the SQL changes, or null when the catalog is already right. */
  change: string | null;
  statements: Statement[];
  /** The role's pg_hba.conf change: what it does to the file, re-applied to the file as read at apply time. */
  hba: { summary: string; edit: (text: string) => string } | null;
  passfile: { summary: string; edit: (text: string) => string } | null;
  before: RoleState;
  after: RoleState;
  /** The files once this role's changes are made (input of the next role of a batch). */
  hbaText: string | null;
  passfileText: string | null;
}

const role = (name: string) => quoteIdent(name);

/** GUC_LIST_QUOTE parameters: a value is a list of names, each quoted by the server when stored. */
const LIST_QUOTE = new Set(['search_path', 'temp_tablespaces', 'session_preload_libraries', 'local_preload_libraries']);

/** `"$user", public` -> ['$user', 'public'] (split on commas outside double quotes, "" is a quote). */
export function splitNameList(value: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  let inQuote = false;
  const push = () => {
    out.push(quoted ? cur : cur.trim());
    cur = '';
    quoted = false;
  };
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (inQuote) {
      if (c === '"' && value[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') inQuote = false;
      else cur += c;
    } else if (c === '"') {
      inQuote = true;
      quoted = true;
      cur = cur.trim();
    } else if (c === ',') push();
    else if (!(quoted && /\s/.test(c))) cur += c;
  }
  push();
  return out.filter((e, i, a) => !(e === '' && a.length === 1));
}

function gucText(v: string | number | boolean): string {
  return typeof v === 'boolean' ? (v ? 'on' : 'off') : String(v);
}

/** The SQL value of `ALTER ROLE ... SET name = <value>`. */
export function settingValueSql(name: string, value: string | number | boolean): string {
  if (LIST_QUOTE.has(name) && typeof value === 'string') {
    const items = splitNameList(value);
    return items.length ? items.map(quoteLiteral).join(', ') : "''";
  }
  return quoteLiteral(gucText(value));
}

/** `work_mem` -> `"work_mem"`, `myext.opt` -> `"myext"."opt"`. */
export function settingNameSql(name: string): string {
  return name.split('.').map(quoteIdent).join('.');
}

function settingEqual(name: string, stored: string, wanted: string | number | boolean, info?: GucInfo): boolean {
  if (LIST_QUOTE.has(name)) {
    const a = splitNameList(stored);
    const b = typeof wanted === 'string' ? splitNameList(wanted) : [gucText(wanted)];
    return a.length === b.length && a.every((x, i) => x === b[i]);
  }
  return gucEqual(stored, wanted, info);
}

function parseConfig(config: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of config) {
    const eq = item.indexOf('=');
    if (eq > 0) out[item.slice(0, eq).toLowerCase()] = item.slice(eq + 1);
  }
  return out;
}

function passfileHas(text: string | null, port: number, user: string): boolean {
  if (text === null) return false;
  return parsePassfile(text).some((l) => l.entry && l.entry.port === String(port) && l.entry.user === user);
}

/** A role as the module shows it (the `before` of its diff); also what `socle role get` prints. */
export function currentState(row: RoleRow | undefined, hbaLines: string[] | null, showHba: boolean, pgpass: boolean | undefined): RoleState {
  if (!row) return { state: 'absent' };
  return {
    state: 'present',
    superuser: row.superuser,
    createdb: row.createdb,
    createrole: row.createrole,
    inherit: row.inherit,
    login: row.login,
    replication: row.replication,
    bypassrls: row.bypassrls,
    connection_limit: row.connection_limit,
    valid_until: row.valid_until ?? 'infinity',
    password: row.password === null ? '(none)' : '(set)',
    memberships: [...row.member_of],
    configuration: parseConfig(row.config),
    ...(showHba ? { hba_records: hbaLines ?? [] } : {}),
    ...(pgpass !== undefined ? { pgpass } : {}),
  };
}

function checkParameters(r: NormalizedRole, catalog: RoleCatalog): void {
  for (const name of Object.keys(r.configuration ?? {})) {
    const info = catalog.parameters.get(name);
    if (!info) {
      if (!name.includes('.')) throw new ModuleError(`option '${r.where}configuration.${name}': unknown PostgreSQL parameter`);
      continue; // an extension's parameter (placeholder): accepted as PostgreSQL does
    }
    if (['postmaster', 'sighup', 'internal'].includes(info.context)) {
      throw new ModuleError(`option '${r.where}configuration.${name}': cannot be set per role (it is a server-wide parameter, context ${info.context})`);
    }
  }
}

function passwordSql(r: NormalizedRole): Statement['sql'] {
  const p = r.password!;
  // A verifier computed here: PostgreSQL stores it as is and never sees the plain text.
  return () => ` PASSWORD ${quoteLiteral('plain' in p ? scramVerifier(p.plain) : p.encrypted)}`;
}

function passwordUpToDate(r: NormalizedRole, row: RoleRow, known?: Map<string, boolean>): boolean {
  const p = r.password!;
  if (!('plain' in p)) return p.encrypted === row.password;
  return known?.get(r.name) ?? passwordMatches(p.plain, r.name, row.password);
}

function wrapTransaction(stmts: Statement[]): Statement[] {
  if (stmts.length < 2) return stmts;
  const database = stmts[0].database;
  const prefix = database !== undefined ? `/* database ${quoteIdent(database)} */ ` : '';
  const plain = (sql: string): Statement => ({ shown: prefix + sql, sql: () => sql, database });
  return [plain('BEGIN'), ...stmts, plain('COMMIT')];
}

/** Statements grouped by database (other databases first, the main connection's last), each group in a transaction. */
export function transactionGroups(stmts: Statement[]): Statement[][] {
  const groups = new Map<string | undefined, Statement[]>();
  for (const s of stmts) {
    const g = groups.get(s.database) ?? [];
    g.push(s);
    groups.set(s.database, g);
  }
  const main = groups.get(undefined);
  groups.delete(undefined);
  return [...groups.values(), ...(main ? [main] : [])].map(wrapTransaction);
}

/**
 * REVOKE of memberships `roles` from `member`. Where a membership is one grant per grantor
 * (pg/versions.ts membershipsPerGrantor), each grantor's grant is revoked GRANTED BY it: a bare
 * REVOKE would only remove the grant made by the role running it and leave the others, so the
 * membership would stay and every run would plan the REVOKE again.
 */
export function revokeStatements(roles: string[], member: string, row: RoleRow, major: number): string[] {
  const head = (list: string[]) => `REVOKE ${list.map(role).join(', ')} FROM ${role(member)}`;
  if (!membershipsPerGrantor(major)) return [head(roles)];
  // A membership whose grantor is unknown (not read) gets the bare form.
  const unknown = roles.filter((m) => !row.grants?.[m]?.length);
  const byGrantor = groupByGrantor(roles, row, () => true);
  return [...(unknown.length ? [head(unknown)] : []), ...byGrantor.map(([g, list]) => `${head(list)} GRANTED BY ${role(g)}`)];
}

/** Memberships among `roles` whose grants pass `keep`, grouped by grantor (sorted). */
function groupByGrantor(roles: string[], row: RoleRow, keep: (g: MembershipGrant) => boolean): Array<[string, string[]]> {
  const byGrantor = new Map<string, string[]>();
  for (const m of roles) {
    for (const g of row.grants?.[m] ?? []) if (keep(g)) byGrantor.set(g.grantor, [...(byGrantor.get(g.grantor) ?? []), m]);
  }
  return [...byGrantor].sort(([a], [b]) => (a < b ? -1 : 1));
}

/**
 * Where memberships have their own INHERIT option (pg/versions.ts membershipOptions), the grants
 * of the declared, existing memberships that do not pass privileges on as the role's `inherit`
 * says: set again WITH INHERIT <inherit>, GRANTED BY their grantor. (The role's attribute is only
 * the default of new grants there; before 16 it was the rule for all, and this is how the
 * option keeps its meaning.)
 */
export function inheritStatements(roles: string[], member: string, row: RoleRow, inherit: boolean, major: number): string[] {
  if (!membershipOptions(major)) return [];
  return groupByGrantor(roles, row, (g) => g.inherit !== inherit).map(
    ([g, list]) => `GRANT ${list.map(role).join(', ')} TO ${role(member)} WITH INHERIT ${inherit ? 'TRUE' : 'FALSE'} GRANTED BY ${role(g)}`,
  );
}

export function planRole(r: NormalizedRole, ctx: PlanContext): RolePlan {
  const row = ctx.catalog.roles.get(r.name);
  const currentBlock = ctx.hbaText !== null ? readRoleBlock(ctx.hbaText, r.name) : null;
  const showHba = r.hbaRecords !== undefined || (r.state === 'absent' && currentBlock !== null);
  const pgpassBefore = r.pgpass !== undefined || r.state === 'absent' ? passfileHas(ctx.passfileText, ctx.port, r.name) : undefined;
  const before = currentState(row, currentBlock, showHba, pgpassBefore);
  const plan: RolePlan = {
    name: r.name,
    change: null,
    statements: [],
    hba: null,
    passfile: null,
    before,
    after: before,
    hbaText: ctx.hbaText,
    passfileText: ctx.passfileText,
  };
  const stmt = (shown: string, sql: () => string = () => shown, database?: string): Statement => ({ shown, sql, database });

  if (r.state === 'absent') {
    if (row) {
      const details: string[] = [];
      const owned: Statement[] = [];
      if (r.dropOwned || r.reassignOwned !== undefined) {
        if (r.reassignOwned !== undefined && !ctx.catalog.roles.has(r.reassignOwned) && !ctx.created.has(r.reassignOwned)) {
          throw new ModuleError(`option '${r.where}reassign_owned': role '${r.reassignOwned}' does not exist`);
        }
        const dbs = ctx.databases ?? { current: 'postgres', all: ['postgres'] };
        const order = [...dbs.all.filter((d) => d !== dbs.current), dbs.current];
        for (const db of order) {
          const where = db === dbs.current ? undefined : db;
          const prefix = where !== undefined ? `/* database ${quoteIdent(db)} */ ` : '';
          if (r.reassignOwned !== undefined) {
            const sql = `REASSIGN OWNED BY ${role(r.name)} TO ${role(r.reassignOwned)}`;
            owned.push(stmt(prefix + sql, () => sql, where));
          }
          const sql = `DROP OWNED BY ${role(r.name)}`;
          owned.push(stmt(prefix + sql, () => sql, where));
        }
        details.push(`${r.reassignOwned !== undefined ? `objects reassigned to ${r.reassignOwned}, ` : 'objects '}dropped in ${order.join(', ')}`);
      }
      plan.statements = [...owned, stmt(`DROP ROLE ${role(r.name)}`)];
      plan.change = `drop role ${r.name}${details.length ? ` (${details.join('; ')})` : ''}`;
    }
    if (currentBlock !== null && ctx.hbaText !== null) {
      const edit = (text: string) => setRoleBlock(text, r.name, null);
      plan.hba = { summary: `role ${r.name} (block removed)`, edit };
      plan.hbaText = edit(ctx.hbaText);
    }
    if (pgpassBefore && ctx.passfileText !== null) {
      const edit = (text: string) => removePassfileEntries(text, { port: String(ctx.port), user: r.name }).text;
      plan.passfile = { summary: `remove the entry of role ${r.name} for port ${ctx.port}`, edit };
      plan.passfileText = edit(ctx.passfileText);
    }
    plan.after = { state: 'absent' };
    return plan;
  }

  // present
  checkParameters(r, ctx.catalog);
  for (const [m, wanted] of r.memberships) {
    if (wanted && !ctx.catalog.roles.has(m) && !ctx.created.has(m)) {
      throw new ModuleError(`option '${r.where}memberships': role '${m}' does not exist`);
    }
  }
  const details: string[] = [];
  const statements: Statement[] = [];
  const clauses: string[] = [];
  let pwChanged = false;
  const wantedValidUntil = r.validUntil !== undefined ? (ctx.catalog.validUntil.get(r.validUntil) ?? r.validUntil) : undefined;

  if (!row) {
    for (const a of ATTRIBUTES) {
      if (r.attributes[a] !== ATTRIBUTE_DEFAULT[a]) clauses.push(`${r.attributes[a] ? '' : 'NO'}${ATTRIBUTE_KEYWORD[a]}`);
    }
    if (r.connectionLimit !== undefined && r.connectionLimit !== -1) clauses.push(`CONNECTION LIMIT ${r.connectionLimit}`);
    if (r.validUntil !== undefined && wantedValidUntil !== 'infinity') clauses.push(`VALID UNTIL ${quoteLiteral(r.validUntil)}`);
    details.push(...clauses);
    const head = `CREATE ROLE ${role(r.name)}${clauses.map((c) => ' ' + c).join('')}`;
    if (r.password) {
      const pw = passwordSql(r);
      statements.push({ ...stmt(`${head} PASSWORD '${MASK}'`, () => head + pw()), secret: true });
      details.push('password');
      pwChanged = true;
    } else {
      statements.push(stmt(head));
    }
  } else {
    for (const a of ATTRIBUTES) {
      if (r.attributes[a] !== row[a]) clauses.push(`${r.attributes[a] ? '' : 'NO'}${ATTRIBUTE_KEYWORD[a]}`);
    }
    if (r.connectionLimit !== undefined && r.connectionLimit !== row.connection_limit) clauses.push(`CONNECTION LIMIT ${r.connectionLimit}`);
    if (wantedValidUntil !== undefined && wantedValidUntil !== (row.valid_until ?? 'infinity')) {
      clauses.push(`VALID UNTIL ${quoteLiteral(r.validUntil!)}`);
    }
    details.push(...clauses);
    pwChanged = r.password !== undefined && !passwordUpToDate(r, row, ctx.passwordMatches);
    if (clauses.length || pwChanged) {
      const head = `ALTER ROLE ${role(r.name)}${clauses.map((c) => ' ' + c).join('')}`;
      if (pwChanged) {
        const pw = passwordSql(r);
        statements.push({ ...stmt(`${head} PASSWORD '${MASK}'`, () => head + pw()), secret: true });
        details.push('password');
      } else {
        statements.push(stmt(head));
      }
    }
  }

  // Memberships
  const memberOf = new Set(row?.member_of ?? []);
  const grant = [...r.memberships].filter(([m, w]) => w && !memberOf.has(m)).map(([m]) => m);
  const revoke = [...r.memberships].filter(([m, w]) => !w && memberOf.has(m)).map(([m]) => m);
  if (grant.length) {
    statements.push({ ...stmt(`GRANT ${grant.map(role).join(', ')} TO ${role(r.name)}`), option: `${r.where}memberships` });
    details.push(`grant ${grant.join(', ')}`);
  }
  if (revoke.length) {
    statements.push(...revokeStatements(revoke, r.name, row!, ctx.catalog.major).map((sql) => ({ ...stmt(sql), option: `${r.where}memberships` })));
    details.push(`revoke ${revoke.join(', ')}`);
  }
  const kept = [...r.memberships].filter(([m, w]) => w && memberOf.has(m)).map(([m]) => m);
  const inheritSql = row ? inheritStatements(kept, r.name, row, r.attributes.inherit, ctx.catalog.major) : [];
  if (inheritSql.length) {
    statements.push(...inheritSql.map((sql) => stmt(sql)));
    details.push(`${r.attributes.inherit ? 'inherit' : 'no inherit'} through ${kept.filter((m) => row!.grants![m].some((g) => g.inherit !== r.attributes.inherit)).join(', ')}`);
  }
  const memberships = [...new Set([...memberOf, ...grant])].filter((m) => !revoke.includes(m)).sort();

  // Configuration
  const currentConfig = parseConfig(row?.config ?? []);
  let configuration = currentConfig;
  if (r.configuration !== undefined) {
    const wanted = r.configuration;
    const set = Object.keys(wanted)
      .filter((k) => !(k in currentConfig) || !settingEqual(k, currentConfig[k], wanted[k], ctx.catalog.parameters.get(k) ?? undefined))
      .sort();
    const reset = Object.keys(currentConfig).filter((k) => !(k in wanted)).sort();
    if (Object.keys(wanted).length === 0 && reset.length) {
      statements.push(stmt(`ALTER ROLE ${role(r.name)} RESET ALL`));
      details.push('reset all parameters');
    } else {
      for (const k of set) statements.push({ ...stmt(`ALTER ROLE ${role(r.name)} SET ${settingNameSql(k)} = ${settingValueSql(k, wanted[k])}`), option: `${r.where}configuration.${k}` });
      for (const k of reset) statements.push(stmt(`ALTER ROLE ${role(r.name)} RESET ${settingNameSql(k)}`));
      if (set.length) details.push(`set ${set.join(', ')}`);
      if (reset.length) details.push(`reset ${reset.join(', ')}`);
    }
    configuration = Object.fromEntries(Object.entries(wanted).map(([k, v]) => [k, k in currentConfig && !set.includes(k) ? currentConfig[k] : gucText(v)]));
  }

  plan.statements = statements;
  if (!row) plan.change = `create role ${r.name}${details.length ? ` (${details.join(', ')})` : ''}`;
  else if (statements.length) plan.change = `alter role ${r.name} (${details.join(', ')})`;

  // pg_hba.conf
  let hbaAfter = currentBlock;
  if (r.hbaRecords !== undefined) {
    if (ctx.hbaText === null) throw new ModuleError(`option '${r.where}hba_records': cannot read the instance's pg_hba.conf`);
    const records = r.hbaRecords;
    const lines = plannedBlock(r.name, currentBlock ?? [], records, r.where, r.hbaExclusive);
    const same = currentBlock !== null ? lines.length === currentBlock.length && lines.every((l, i) => l === currentBlock[i]) : lines.length === 0;
    if (!same) {
      const added = lines.filter((l) => !(currentBlock ?? []).includes(l)).length;
      const removed = (currentBlock ?? []).filter((l) => !lines.includes(l)).length;
      const edit = (text: string) => setRoleBlock(text, r.name, plannedBlock(r.name, readRoleBlock(text, r.name) ?? [], records, r.where, r.hbaExclusive));
      plan.hba = { summary: `role ${r.name} (${[added ? `+${added}` : '', removed ? `-${removed}` : ''].filter(Boolean).join(' ')})`, edit };
      plan.hbaText = edit(ctx.hbaText);
      hbaAfter = lines;
    }
  }

  // Passfile
  let pgpassAfter = pgpassBefore;
  if (r.pgpass !== undefined) {
    if (r.pgpass) {
      if (ctx.passfileText === null || ctx.passfilePath === null) {
        throw new ModuleError(`option '${r.where}pgpass': the site settings name no passfile (postgresql.auth.passfile)`);
      }
      const entry: PassfileEntry = { host: '*', port: String(ctx.port), database: '*', user: r.name, password: (r.password as { plain: string }).plain };
      if (setPassfileEntry(ctx.passfileText, entry).changed) {
        const edit = (text: string) => setPassfileEntry(text, entry).text;
        plan.passfile = { summary: `keep the password of role ${r.name} for port ${ctx.port}`, edit };
        plan.passfileText = edit(ctx.passfileText);
      }
      pgpassAfter = true;
    } else if (ctx.passfileText !== null && pgpassBefore) {
      const edit = (text: string) => removePassfileEntries(text, { port: String(ctx.port), user: r.name }).text;
      plan.passfile = { summary: `remove the entry of role ${r.name} for port ${ctx.port}`, edit };
      plan.passfileText = edit(ctx.passfileText);
      pgpassAfter = false;
    } else {
      pgpassAfter = false;
    }
  }

  const hadPassword = row?.password != null;
  plan.after = {
    state: 'present',
    ...(Object.fromEntries(ATTRIBUTES.map((a) => [a, r.attributes[a]])) as Record<(typeof ATTRIBUTES)[number], boolean>),
    connection_limit: r.connectionLimit ?? row?.connection_limit ?? -1,
    valid_until: wantedValidUntil ?? row?.valid_until ?? 'infinity',
    password: pwChanged ? '(changed)' : hadPassword ? '(set)' : '(none)',
    memberships,
    configuration,
    ...(showHba ? { hba_records: hbaAfter ?? [] } : {}),
    ...(pgpassAfter !== undefined ? { pgpass: pgpassAfter } : {}),
  };
  return plan;
}
