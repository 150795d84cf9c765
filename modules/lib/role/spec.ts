// What a role declaration means once its defaults are applied: the `role` module's options
// without `instance` (also the items of `instance.roles`), normalized for planning.
import type { RoleHbaRecord, RoleMembership, RoleOptions } from '../../generated/role';
import { ModuleError } from '../runtime';
import { identifierTooLong } from '../pg/quote';
import { passwordType } from '../pg/scram';

/**
 * One role as declared: schemas/defs/role.schema.yml. Options with a schema default may be left
 * out (they get the same default here), so the validated module options and hand-built specs
 * both fit.
 */
export type RoleSpec = { name: string } & Partial<Omit<RoleOptions, 'instance' | 'name'>>;
export type { RoleHbaRecord, RoleMembership };

export const ATTRIBUTES = ['superuser', 'createdb', 'createrole', 'inherit', 'login', 'replication', 'bypassrls'] as const;
export type Attribute = (typeof ATTRIBUTES)[number];

/** SQL keyword of each attribute (`NO` + it when false). */
export const ATTRIBUTE_KEYWORD: Record<Attribute, string> = {
  superuser: 'SUPERUSER',
  createdb: 'CREATEDB',
  createrole: 'CREATEROLE',
  inherit: 'INHERIT',
  login: 'LOGIN',
  replication: 'REPLICATION',
  bypassrls: 'BYPASSRLS',
};

/** PostgreSQL's defaults for CREATE ROLE, which are also the schema's. */
export const ATTRIBUTE_DEFAULT: Record<Attribute, boolean> = {
  superuser: false,
  createdb: false,
  createrole: false,
  inherit: true,
  login: false,
  replication: false,
  bypassrls: false,
};

export interface WantedHbaRecord {
  type: 'host' | 'hostssl' | 'hostnossl' | 'local';
  database: string;
  address?: string;
  netmask?: string;
  /** Method and its options, as declared (`cert clientcert=verify-full`). */
  method: string;
  state: 'present' | 'absent';
}

/** A spec with its defaults applied and its lists in one form. */
export interface NormalizedRole {
  /** Prefix of this spec's options in messages: '' for the module, `roles[3].` in a list. */
  where: string;
  name: string;
  state: 'present' | 'absent';
  attributes: Record<Attribute, boolean>;
  connectionLimit?: number;
  validUntil?: string;
  password?: { plain: string } | { encrypted: string };
  /** role name -> wanted membership. */
  memberships: Map<string, boolean>;
  configuration?: Record<string, string | number | boolean>;
  hbaRecords?: WantedHbaRecord[];
  /** The block holds only the listed present records. */
  hbaExclusive: boolean;
  pgpass?: boolean;
  dropOwned: boolean;
  reassignOwned?: string;
}

function checkName(name: string, option: string): void {
  if (identifierTooLong(name)) throw new ModuleError(`option '${option}': '${name}' is longer than 63 bytes, PostgreSQL would truncate it`);
}

export function normalizeSpec(spec: RoleSpec, where = ''): NormalizedRole {
  checkName(spec.name, `${where}name`);
  const attributes = {} as Record<Attribute, boolean>;
  for (const a of ATTRIBUTES) attributes[a] = spec[a] ?? ATTRIBUTE_DEFAULT[a];
  const memberships = new Map<string, boolean>();
  (spec.memberships ?? []).forEach((m, i) => {
    const role = typeof m === 'string' ? m : m.role;
    checkName(role, `${where}memberships[${i}]`);
    if (role === spec.name) throw new ModuleError(`option '${where}memberships[${i}]': role '${role}' cannot be a member of itself`);
    memberships.set(role, typeof m === 'string' ? true : (m.state ?? 'present') === 'present');
  });
  if (spec.password !== undefined && spec.encrypted_password !== undefined) {
    throw new ModuleError(`options '${where}password' and '${where}encrypted_password' are mutually exclusive`);
  }
  const state = spec.state ?? 'present';
  if (state === 'present' && (spec.drop_owned || spec.reassign_owned !== undefined)) {
    throw new ModuleError(`option '${where}${spec.drop_owned ? 'drop_owned' : 'reassign_owned'}' is only allowed with state: absent`);
  }
  if (spec.pgpass === true && spec.password === undefined) {
    throw new ModuleError(`option '${where}pgpass' needs option '${where}password' (a plain password)`);
  }
  // PostgreSQL stores a string that is not a verifier as a new password (hashing it): a plain text
  // given here would reach the server and its logs as is, and never compare equal to what is stored.
  if (spec.encrypted_password !== undefined && passwordType(spec.encrypted_password) === 'plain') {
    throw new ModuleError(
      `option '${where}encrypted_password' must be a password verifier as PostgreSQL stores it ` +
        `(SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>, or md5 and 32 hex digits), not a plain text: use option '${where}password' for that`,
    );
  }
  // The passfile is line-based: such a password cannot be kept there (and PostgreSQL refuses NUL).
  if (spec.password !== undefined && /\0/.test(spec.password)) {
    throw new ModuleError(`option '${where}password' must not contain a NUL character (PostgreSQL cannot store it)`);
  }
  if (spec.pgpass === true && spec.password !== undefined && /[\r\n]/.test(spec.password)) {
    throw new ModuleError(`option '${where}password': a password with a line break cannot be kept in the passfile (option '${where}pgpass')`);
  }
  if (spec.reassign_owned !== undefined) {
    checkName(spec.reassign_owned, `${where}reassign_owned`);
    if (spec.drop_owned) throw new ModuleError(`options '${where}drop_owned' and '${where}reassign_owned' are mutually exclusive`);
  }
  let configuration: NormalizedRole['configuration'];
  if (spec.configuration !== undefined) {
    configuration = {};
    for (const [k, v] of Object.entries(spec.configuration)) {
      const key = k.toLowerCase(); // parameter names are case-insensitive; PostgreSQL stores them in lower case
      if (key in configuration) throw new ModuleError(`option '${where}configuration': '${k}' is given twice`);
      configuration[key] = v;
    }
  }
  return {
    where,
    name: spec.name,
    state,
    attributes,
    connectionLimit: spec.connection_limit,
    validUntil: spec.valid_until,
    password: spec.password !== undefined ? { plain: spec.password } : spec.encrypted_password !== undefined ? { encrypted: spec.encrypted_password } : undefined,
    memberships,
    configuration,
    hbaRecords: spec.hba_records?.map((r) => ({
      type: r.connection ? (r.connection.type ?? 'host') : 'local',
      database: r.database ?? 'all',
      address: r.connection?.address,
      netmask: r.connection?.netmask,
      method: r.method,
      state: r.state ?? 'present',
    })),
    hbaExclusive: spec.hba_records_exclusive ?? false,
    pgpass: spec.pgpass,
    dropOwned: spec.drop_owned ?? false,
    reassignOwned: spec.reassign_owned,
  };
}
