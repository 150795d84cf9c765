// The login role a satellite connects with (the exporter's member of pg_monitor, the temBoard
// agent's super-user), made to match in the component's `sql` phase: created, or its LOGIN,
// membership, super-user bit and password corrected. The password is sent as a SCRAM verifier
// computed here (the plain text never reaches the server or its logs) and shown masked; an
// unchanged password is recognised from the stored verifier, so a re-run is no change.
import type { Connection } from '../pg/client';
import { quoteIdent, quoteLiteral } from '../pg/quote';
import { passwordMatches, scramVerifier } from '../pg/scram';
import type { Step } from '../plan';
import { MASK } from '../secrets';

export interface ServiceRole {
  name: string;
  password?: string;
  /** A predefined role it must be member of (`pg_monitor`). */
  memberOf?: string;
  superuser?: boolean;
}

interface Row {
  rolcanlogin: boolean;
  rolsuper: boolean;
  rolpassword: string | null;
  member: boolean;
}

export async function serviceRoleSteps(conn: Connection, role: ServiceRole, why: string): Promise<Step[]> {
  const { rows } = await conn.query<Row>(
    `SELECT rolcanlogin, rolsuper, rolpassword, ($2::text IS NOT NULL AND pg_has_role(oid, $2::text, 'MEMBER')) AS member
       FROM pg_authid WHERE rolname = $1`,
    [role.name, role.memberOf ?? null],
  );
  const name = quoteIdent(role.name);
  const pw = (real: boolean) => (role.password === undefined ? '' : ` PASSWORD ${real ? quoteLiteral(scramVerifier(role.password)) : `'${MASK}'`}`);
  const step = (change: string, sql: (real: boolean) => string): Step => ({
    change,
    queries: [sql(false)],
    apply: async () => {
      await conn.query(sql(true));
    },
  });
  const r = rows[0];
  if (!r) {
    const attrs = `LOGIN${role.superuser ? ' SUPERUSER' : ''}${role.memberOf ? ` IN ROLE ${quoteIdent(role.memberOf)}` : ''}`;
    return [step(`create role ${role.name} (${why})`, (real) => `CREATE ROLE ${name} ${attrs}${pw(real)}`)];
  }
  const steps: Step[] = [];
  const missing = [!r.rolcanlogin ? 'LOGIN' : '', role.superuser && !r.rolsuper ? 'SUPERUSER' : ''].filter(Boolean);
  if (missing.length) steps.push(step(`make ${role.name} ${missing.join(' ').toLowerCase()} (${why})`, () => `ALTER ROLE ${name} ${missing.join(' ')}`));
  if (role.memberOf && !r.member) steps.push(step(`grant ${role.memberOf} to ${role.name}`, () => `GRANT ${quoteIdent(role.memberOf!)} TO ${name}`));
  if (role.password !== undefined && !passwordMatches(role.password, role.name, r.rolpassword)) {
    steps.push(step(`set password of ${role.name}`, (real) => `ALTER ROLE ${name}${pw(real)}`));
  }
  return steps;
}
