// What the instance result and instance_info say about replication: whether the instance is a
// primary or a standby; for a standby, its upstream (never a password), slot, WAL received and
// replayed, and its lag; for a primary, its connected standbys and their lag. Without a
// connection (a stopped instance, or a task that needed none), only the role is known, from
// PostgreSQL's own signal file.
import { readTextOr } from '../../fsutil';
import type { ComponentContext } from '../../instance/component';
import { inRecovery, type InstanceLayout } from '../../instance/layout';
import type { Connection } from '../../pg/client';
import { parseConf } from '../../pg/guc';
import { maskConninfo } from '../../pg/conninfo';

interface StandbyRow {
  upstream: string | null;
  slot: string | null;
  receiver_status: string | null;
  received_lsn: string | null;
  replayed_lsn: string | null;
  lag_bytes: string | null;
  lag_seconds: number | null;
}

interface PrimaryRow {
  name: string;
  address: string | null;
  state: string;
  sync_state: string;
  sent_lsn: string | null;
  replayed_lsn: string | null;
  lag_bytes: string | null;
  lag_seconds: number | null;
}

const STANDBY_SQL = `
SELECT current_setting('primary_conninfo') AS upstream,
       nullif(current_setting('primary_slot_name'), '') AS slot,
       (SELECT status FROM pg_stat_wal_receiver) AS receiver_status,
       pg_last_wal_receive_lsn()::text AS received_lsn,
       pg_last_wal_replay_lsn()::text AS replayed_lsn,
       pg_wal_lsn_diff((SELECT latest_end_lsn FROM pg_stat_wal_receiver), pg_last_wal_replay_lsn())::text AS lag_bytes,
       CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
            ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END::float8 AS lag_seconds`;

const PRIMARY_SQL = `
SELECT application_name AS name, host(client_addr) AS address, state, sync_state,
       sent_lsn::text AS sent_lsn, replay_lsn::text AS replayed_lsn,
       pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::text AS lag_bytes,
       extract(epoch FROM replay_lag)::float8 AS lag_seconds
  FROM pg_stat_replication ORDER BY application_name, pid`;

const num = (v: string | null) => (v === null ? null : Number(v));

export async function replicationFacts(c: ComponentContext, conn: Connection | null): Promise<Record<string, unknown>> {
  if (c.module.checkMode && !c.current.exists) return { role: c.opts.standby ? 'standby' : 'primary' };
  return replicationInfo(conn, c.layout);
}

/** The facts read from a running server (also used by instance_info). */
export async function replicationFactsFrom(conn: Connection): Promise<Record<string, unknown>> {
  const recovery = (await conn.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')).rows[0].r;
  if (recovery) {
    const r = (await conn.query<StandbyRow>(STANDBY_SQL)).rows[0];
    return {
      role: 'standby',
      standby: {
        upstream: maskConninfo(r.upstream ?? ''),
        slot: r.slot,
        receiver: r.receiver_status,
        received_lsn: r.received_lsn,
        replayed_lsn: r.replayed_lsn,
        lag_bytes: num(r.lag_bytes),
        lag_seconds: r.lag_seconds,
      },
    };
  }
  const { rows } = await conn.query<PrimaryRow>(PRIMARY_SQL);
  return {
    role: 'primary',
    standbys: rows.map((r) => ({ ...r, lag_bytes: num(r.lag_bytes) })),
  };
}

/** For instance_info: the same facts, from the server when it runs, else from the files. */
export async function replicationInfo(conn: Connection | null, l: InstanceLayout): Promise<Record<string, unknown>> {
  if (conn) return replicationFactsFrom(conn);
  const standby = inRecovery(l);
  if (!standby) return { role: 'primary' };
  const conf = parseConf(readTextOr(l.managedConf, ''));
  return { role: 'standby', standby: { upstream: maskConninfo(conf.get('primary_conninfo') ?? ''), slot: conf.get('primary_slot_name') ?? null } };
}
