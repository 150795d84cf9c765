// Unit tests of the analysis satellites' text makers: the PoWA collector's passfile (libpq's
// escaping, servers before the repository's wildcard line), the report script (shell quoting of
// paths and of pgBadger's prefix), the pgBadger logging preset.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectorPassfileText } from '../../modules/lib/components/powa/repository';
import { PGBADGER_LINE_PREFIX, pgbadgerParameters } from '../../modules/lib/components/logging';
import { scriptText, type ReportFiles } from '../../modules/lib/report/script';
import type { InstanceLayout } from '../../modules/lib/instance/layout';
import type { ReportOptions } from '../../modules/generated/report';

test('the collector passfile: one escaped line per server with a password, the repository last', () => {
  const text = collectorPassfileText(
    [
      { hostname: 'db1', port: 5432, username: 'powa', dbname: 'powa', password: 'a:b\\c', frequency: 300, retention: '1 day' },
      { hostname: 'db2', port: 5433, username: 'powa', dbname: 'powa', frequency: 300, retention: '1 day' },
    ],
    'powa',
    'rep:o',
  );
  expect(text).toBe('db1:5432:powa:powa:a\\:b\\\\c\n*:*:*:powa:rep\\:o\n');
});

test('the pgBadger preset', () => {
  expect(pgbadgerParameters(250)).toMatchObject({ log_line_prefix: PGBADGER_LINE_PREFIX, log_min_duration_statement: 250, lc_messages: 'C', log_temp_files: 0 });
});

test('the report script quotes paths and the prefix, and is valid sh', () => {
  const dir = mkdtempSync(join(tmpdir(), 'socle-analysis-'));
  const l = { id: '15/my app', version: '15', name: "my'app", logDir: join(dir, "log dir's") } as unknown as InstanceLayout;
  const opts = {
    instance: 'x',
    pgbadger: { outdir: 'o', retention: 4, jobs: 1, execpath: '/usr/bin/pgbadger' },
    pgcluu: { outdir: 'c', statsdir: 's', interval: 60, retention: 7, execpath: '/usr/bin/pgcluu' },
    build: false,
    state: 'present',
  } as ReportOptions;
  const files: ReportFiles = {
    name: "15-my'app",
    script: join(dir, 'r.sh'),
    log: join(dir, 'r.log'),
    pgbadger: { outdir: join(dir, "out put's"), index: '' },
    pgcluu: { outdir: join(dir, 'pgcluu out'), statsdir: join(dir, 'stats'), index: '' },
  };
  const text = scriptText(l, opts, files, "%t [%p]: user=%u,db=%d 'x' ");
  expect(text).toContain(`--prefix '%t [%p]: user=%u,db=%d '\\''x'\\'' '`);
  expect(text).toContain('--retention 4');
  writeFileSync(files.script, text);
  // sh -n: it parses (no run).
  execFileSync('/bin/sh', ['-n', files.script]);
});
