// The role module's options as the generated validator and the runtime report them.
import { join } from 'node:path';
import { loadSchemas } from '../../build/schema/load';
import { createAjv } from '../../build/generate';
import { formatValidationErrors, type ValidationError } from '../../modules/lib/validation';
import { scramVerifier } from '../../modules/lib/pg/scram';

const set = loadSchemas(join(__dirname, '../../schemas'));
const ajv = createAjv(set);
const validate = ajv.getSchema('https://schemas.socle.invalid/socle/role')!;
const item = ajv.getSchema('https://schemas.socle.invalid/socle/defs/role')!;

function errors(options: Record<string, unknown>, v = validate): string | null {
  const data = { ...options };
  return v(data) ? null : formatValidationErrors(v.errors as ValidationError[]);
}

describe('role options', () => {
  test('defaults are applied; the module takes every option of the role def plus instance', () => {
    const data: Record<string, unknown> = { instance: 'main', name: 'app' };
    expect(validate(data)).toBe(true);
    expect(data).toMatchObject({ inherit: true, login: false, superuser: false, state: 'present', drop_owned: false });
    expect(data.connection_limit).toBeUndefined();
    expect(errors({ name: 'app' })).toBe("invalid options: option 'instance' is required");
    expect(errors({ name: 'app' }, item)).toBeNull();
    expect(errors({ instance: 'main', name: 'app' }, item)).toBe("invalid options: unknown option 'instance'");
  });

  test('an encrypted password must be a verifier, never a plain text (issue 12, item 3)', () => {
    expect(errors({ instance: 'main', name: 'a', encrypted_password: 'hunter2' })).toBe(
      "invalid options: option 'encrypted_password' must be a password verifier as PostgreSQL stores it " +
        "(SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>, or md5 and 32 hex digits), not a plain text: use option 'password' for that",
    );
    expect(errors({ instance: 'main', name: 'a', encrypted_password: 'md5' + 'A'.repeat(32) })).toMatch(/must be a password verifier/);
    expect(errors({ instance: 'main', name: 'a', encrypted_password: 'md5' + 'a'.repeat(32) })).toBeNull();
    expect(errors({ instance: 'main', name: 'a', encrypted_password: scramVerifier('x') })).toBeNull();
    expect(errors({ instance: 'main', name: 'a', password: 'a\0b' })).toBe("invalid options: option 'password' must not contain a NUL character (PostgreSQL cannot store it)");
  });

  test('exclusions and rules name the options', () => {
    expect(errors({ instance: 'main', name: 'a', password: 'x', encrypted_password: 'md500000000000000000000000000000000' })).toBe(
      "invalid options: options 'password' and 'encrypted_password' are mutually exclusive",
    );
    expect(errors({ instance: 'main', name: 'a', drop_owned: true })).toBe("invalid options: option 'drop_owned' is only allowed with state: absent");
    expect(errors({ instance: 'main', name: 'a', drop_owned: true, state: 'absent' })).toBeNull();
    expect(errors({ instance: 'main', name: 'a', drop_owned: false, reassign_owned: 'b', state: 'absent' })).toBeNull();
    expect(errors({ instance: 'main', name: 'a', reassign_owned: 'b' })).toBe("invalid options: option 'reassign_owned' is only allowed with state: absent");
    expect(errors({ instance: 'main', name: 'a', reassign_owned: 'b', drop_owned: true, state: 'absent' })).toBe(
      "invalid options: options 'drop_owned' and 'reassign_owned' are mutually exclusive",
    );
    expect(errors({ instance: 'main', name: 'a', pgpass: true })).toBe("invalid options: option 'pgpass' needs option 'password' (a plain password)");
    expect(errors({ instance: 'main', name: 'a', pgpass: true, encrypted_password: 'x' })).toMatch(/option 'pgpass' needs option 'password'/);
    expect(errors({ instance: 'main', name: 'a', pgpass: false })).toBeNull();
  });

  test('hba records, memberships, configuration keys, names', () => {
    expect(errors({
      instance: 'main',
      name: 'a',
      hba_records: [{ connection: {}, method: 'md5' }, { connection: { type: 'local', address: 'x' }, method: 'md5' }, { method: 'magic' }, { method: 'cert clientcert=verify-full' }],
    })).toBe(
      "invalid options: option 'hba_records[0].connection' needs an address unless its type is local; " +
        "option 'hba_records[1].connection' takes no address or netmask when its type is local; " +
        "option 'hba_records[2].method' must be an authentication method (trust, reject, scram-sha-256, md5, peer, cert, ...) optionally followed by its options",
    );
    expect(errors({ instance: 'main', name: 'a', memberships: ['x', { role: 'y', state: 'absent' }] })).toBeNull();
    expect(errors({ instance: 'main', name: 'a', configuration: { 'bad name': 1, 'ext.ok': 'x' } })).toBe(
      "invalid options: option 'configuration' keys must be parameter names (letters, digits and '_', with at most one '.')",
    );
    expect(errors({ instance: 'main', name: 'a\nb' })).toBe("invalid options: option 'name' must not contain line breaks or NUL characters");
    expect(errors({ instance: '15/a-b', name: 'x' })).toMatch(/option 'instance' must be <version>\/<name> or <name>/);
  });

  test('rules nested in a list are prefixed with the item path', () => {
    const list = ajv.compile({ type: 'array', items: { $ref: 'https://schemas.socle.invalid/socle/defs/role' } });
    expect(list([{ name: 'a', drop_owned: true }])).toBe(false);
    expect(formatValidationErrors(list.errors as ValidationError[])).toBe("invalid options: option '[0]' option 'drop_owned' is only allowed with state: absent");
    expect(list([{ name: 'a', password: 'x', encrypted_password: 'md500000000000000000000000000000000' }])).toBe(false);
    expect(formatValidationErrors(list.errors as ValidationError[])).toBe("invalid options: options '[0].password' and '[0].encrypted_password' are mutually exclusive");
  });
});
