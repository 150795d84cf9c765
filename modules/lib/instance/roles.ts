// The roles an instance itself owns: the super-user's password and the replication role of the
// site settings (LOGIN REPLICATION, member of pg_read_all_stats, like pglift). Passwords are
// sent as SCRAM verifiers computed here, so the plain text never reaches the server's logs, and
// shown masked.
import type { InstanceSpec } from './component';
import type { Connection } from '../pg/client';
import { quoteIdent, quoteLiteral } from '../pg/quote';
import { queryUnlogged } from '../pg/unlogged';
import { passwordMatches, scramVerifier } from '../pg/scram';
import { MASK } from '../secrets';
import type { SiteSettings } from '../settings';

export interface SqlStep {
  change: string;
  /** As shown to the user (passwords masked). */
  queries: string[];
  run(conn: Connection): Promise<void>;
}

function passwordClause(password: string | undefined): { shown: string; real: () => string } {
  if (password === undefined) return { shown: '', real: () => '' };
  return { shown: ` PASSWORD '${MASK}'`, real: () => ` PASSWORD ${quoteLiteral(scramVerifier(password))}` };
}

function sqlStep(change: string, build: (pw: string) => string, password: string | undefined): SqlStep {
  const clause = passwordClause(password);
  return {
    change,
    queries: [build(clause.shown)],
    run: async (conn) => {
      // A verifier is no password, but it is what an attacker would brute-force: not in the log.
      if (password === undefined) await conn.query(build(''));
      else await queryUnlogged(conn, build(clause.real()));
    },
  };
}

function createReplrole(name: string, password: string | undefined): SqlStep {
  return sqlStep(
    `create replication role ${name}`,
    (pw) => `CREATE ROLE ${quoteIdent(name)} LOGIN REPLICATION IN ROLE pg_read_all_stats${pw}`,
    password,
  );
}

/** For a new instance: the super-user's password is set by initdb; only the replication role is left. */
export function newInstanceRoleSteps(settings: SiteSettings, opts: InstanceSpec): SqlStep[] {
  const repl = settings.postgresql.replrole;
  return repl ? [createReplrole(repl, opts.replrole_password)] : [];
}

interface RoleRow {
  rolname: string;
  rolpassword: string | null;
  rolcanlogin: boolean;
  rolreplication: boolean;
  stats_member: boolean;
}

export async function roleSteps(settings: SiteSettings, opts: InstanceSpec, conn: Connection): Promise<SqlStep[]> {
  const su = settings.postgresql.surole.name;
  const repl = settings.postgresql.replrole;
  const names = repl ? [su, repl] : [su];
  const { rows } = await conn.query<RoleRow>(
    `SELECT rolname, rolpassword, rolcanlogin, rolreplication,
            pg_has_role(oid, 'pg_read_all_stats', 'MEMBER') AS stats_member
       FROM pg_authid WHERE rolname = ANY($1)`,
    [names],
  );
  const byName = new Map(rows.map((r) => [r.rolname, r]));
  const steps: SqlStep[] = [];
  const suRow = byName.get(su);
  if (opts.surole_password !== undefined && suRow && !passwordMatches(opts.surole_password, su, suRow.rolpassword)) {
    steps.push(sqlStep(`set password of super-user ${su}`, (pw) => `ALTER ROLE ${quoteIdent(su)}${pw}`, opts.surole_password));
  }
  if (repl) {
    const r = byName.get(repl);
    if (!r) {
      steps.push(createReplrole(repl, opts.replrole_password));
    } else {
      if (!r.rolcanlogin || !r.rolreplication) {
        steps.push(sqlStep(`make ${repl} a login replication role`, () => `ALTER ROLE ${quoteIdent(repl)} LOGIN REPLICATION`, undefined));
      }
      if (!r.stats_member) {
        steps.push(sqlStep(`grant pg_read_all_stats to ${repl}`, () => `GRANT pg_read_all_stats TO ${quoteIdent(repl)}`, undefined));
      }
      if (opts.replrole_password !== undefined && !passwordMatches(opts.replrole_password, repl, r.rolpassword)) {
        steps.push(sqlStep(`set password of replication role ${repl}`, (pw) => `ALTER ROLE ${quoteIdent(repl)}${pw}`, opts.replrole_password));
      }
    }
  }
  return steps;
}
