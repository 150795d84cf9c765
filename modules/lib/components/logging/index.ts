// Logging presets of an instance (`logging: {preset: pgbadger}`): parameters written into
// socle.conf as component defaults, so the user's `settings` win over any of them. Declarative
// like `settings`: a task that leaves the option out drops the preset's parameters.
import type { ConfValue } from '../../instance/config';
import type { InstanceComponent } from '../../instance/component';

/**
 * What pgBadger needs (its documentation's "POSTGRESQL CONFIGURATION"): a prefix it can parse
 * (`-f stderr` with the same `--prefix`), durations, and English messages.
 */
export const PGBADGER_LINE_PREFIX = '%t [%p]: user=%u,db=%d,app=%a,client=%h ';

export function pgbadgerParameters(minDuration: number): Record<string, ConfValue> {
  return {
    log_line_prefix: PGBADGER_LINE_PREFIX,
    log_min_duration_statement: minDuration,
    log_statement: 'none',
    log_checkpoints: true,
    log_connections: true,
    log_disconnections: true,
    log_lock_waits: true,
    log_temp_files: 0,
    log_autovacuum_min_duration: 0,
    lc_messages: 'C',
  };
}

export const loggingComponent: InstanceComponent = {
  name: 'logging',
  declared: (c) => c.opts.logging !== undefined && c.lifecycle !== 'drop',
  parameters: (c) => ({ defaults: pgbadgerParameters(c.opts.logging!.min_duration_statement ?? 0) }),
  facts: (c) => ({ preset: c.opts.logging!.preset, line_prefix: PGBADGER_LINE_PREFIX }),
};
