// A role's pg_hba.conf block as planned from its declared records (role/hba.ts).
import { plannedBlock } from '../../modules/lib/role/hba';
import type { WantedHbaRecord } from '../../modules/lib/role/spec';

const rec = (address: string, state: 'present' | 'absent' = 'present'): WantedHbaRecord =>
  ({ type: 'host', database: 'app', address, method: 'scram-sha-256', state });
const line = (address: string) => plannedBlock('app_rw', [], [rec(address)], '')[0];

describe('plannedBlock', () => {
  const current = [line('10.1.0.0/16'), '# a comment left by hand', line('10.2.0.0/16')];

  test('adds the present records, removes the absent ones, keeps the rest', () => {
    expect(plannedBlock('app_rw', current, [rec('10.2.0.0/16', 'absent'), rec('10.3.0.0/16')], '')).toEqual([
      line('10.1.0.0/16'), '# a comment left by hand', line('10.3.0.0/16'),
    ]);
  });

  test('exclusive: only the listed present records, in place, new ones appended', () => {
    expect(plannedBlock('app_rw', current, [rec('10.2.0.0/16'), rec('10.3.0.0/16')], '', true)).toEqual([line('10.2.0.0/16'), line('10.3.0.0/16')]);
    expect(plannedBlock('app_rw', current, [], '', true)).toEqual([]);
  });

  test('a record written differently (spacing) is the same record', () => {
    const spaced = line('10.1.0.0/16').replace(/\s+/g, '   ');
    expect(plannedBlock('app_rw', [spaced], [rec('10.1.0.0/16')], '', true)).toEqual([spaced]);
  });
});
