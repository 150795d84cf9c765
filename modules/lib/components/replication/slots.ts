// `replication_slots`: physical slots created and dropped idempotently; slots not declared are
// left alone (another tool, or a standby being rebuilt, may own them).
import type { SqlContext } from '../../instance/component';
import type { Step } from '../../plan';
import { quoteLiteral } from '../../pg/quote';
import { ModuleError } from '../../runtime';

export interface WantedSlot {
  name: string;
  state: 'present' | 'absent';
}

export function wantedSlots(declared: Array<string | { name: string; state?: 'present' | 'absent' }> | undefined): WantedSlot[] {
  return (declared ?? []).map((s) => (typeof s === 'string' ? { name: s, state: 'present' } : { name: s.name, state: s.state ?? 'present' }));
}

interface SlotRow {
  slot_name: string;
  slot_type: string;
  active: boolean;
}

export async function planSlots(c: SqlContext, promoting: boolean): Promise<{ steps: Step[]; before: object; after: object }> {
  const wanted = wantedSlots(c.opts.replication_slots);
  if (!wanted.length) return { steps: [], before: {}, after: {} };
  if (c.server.inRecovery && !promoting) {
    throw new ModuleError(`option 'replication_slots': instance ${c.layout.id} is a standby (in recovery); declare its slots on the primary, or promote it first`);
  }
  const conn = await c.session.connection();
  const { rows } = await conn.query<SlotRow>('SELECT slot_name, slot_type, active FROM pg_replication_slots WHERE slot_name = ANY($1)', [wanted.map((s) => s.name)]);
  const byName = new Map(rows.map((r) => [r.slot_name, r]));
  const steps: Step[] = [];
  const before: Record<string, string> = {};
  const after: Record<string, string> = {};
  wanted.forEach((w, i) => {
    const cur = byName.get(w.name);
    before[w.name] = cur ? 'present' : 'absent';
    after[w.name] = w.state;
    if (cur && cur.slot_type !== 'physical') {
      throw new ModuleError(`option 'replication_slots[${i}]': ${w.name} is a ${cur.slot_type} slot, not a physical one`);
    }
    if (w.state === 'present' && !cur) {
      const q = `SELECT pg_create_physical_replication_slot(${quoteLiteral(w.name)})`;
      steps.push({ change: `create replication slot ${w.name}`, queries: [q], apply: async () => { await conn.query(q); } });
    } else if (w.state === 'absent' && cur) {
      if (cur.active) throw new ModuleError(`option 'replication_slots[${i}]': slot ${w.name} is in use by a standby; stop or re-point that standby first`);
      const q = `SELECT pg_drop_replication_slot(${quoteLiteral(w.name)})`;
      steps.push({ change: `drop replication slot ${w.name}`, queries: [q], apply: async () => { await conn.query(q); } });
    }
  });
  return { steps, before: { slots: before }, after: { slots: after } };
}
