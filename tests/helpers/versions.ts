// Which PostgreSQL major the tests run against. The integration suites run once per major
// installed on the machine: scripts/test.sh runs them for each, naming it in
// SOCLE_TEST_PG_VERSION; the sandbox's site settings then make it the version of new instances.
// Without the variable, the newest installed major is used (what the modules pick by themselves).
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = '/usr/lib/postgresql';

/** Majors installed here (Debian's layout, /usr/lib/postgresql/<major>/bin/pg_ctl), oldest first. */
export function installedMajors(): string[] {
  let entries: string[] = [];
  try {
    entries = readdirSync(ROOT);
  } catch {
    return [];
  }
  return entries.filter((e) => /^[0-9]+$/.test(e) && existsSync(join(ROOT, e, 'bin', 'pg_ctl'))).sort((a, b) => Number(a) - Number(b));
}

/** The major under test: $SOCLE_TEST_PG_VERSION (which must be installed), or the newest installed. */
export function testedMajor(): string {
  const installed = installedMajors();
  const wanted = process.env.SOCLE_TEST_PG_VERSION;
  if (wanted) {
    if (!installed.includes(wanted)) throw new Error(`SOCLE_TEST_PG_VERSION=${wanted}: not installed here (installed: ${installed.join(', ') || 'none'})`);
    return wanted;
  }
  if (!installed.length) throw new Error(`no PostgreSQL under ${ROOT}`);
  return installed[installed.length - 1];
}

/** Whether the major under test is at least `major`, for the few assertions that differ. */
export function testedAtLeast(major: number): boolean {
  return Number(testedMajor()) >= major;
}
