#!/usr/bin/env bash
# The test command of README.md: unit, integration (real PostgreSQL) and end-to-end
# (ansible-playbook on the built tarball) tests. On a fresh machine, run it as root: it installs
# what the tests need, then runs them as an unprivileged user (scripts/as-user.sh).
# The integration tests run against every PostgreSQL major installed (see below); extra arguments
# go to every jest run. scripts/test-container.sh runs them in a Debian 13 container (PostgreSQL 17).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then
  bash scripts/deps.sh
  npm ci --no-audit --no-fund --loglevel=error
  # The system Python: the test user must be able to run the venv (root's own Pythons may not be).
  export SOCLE_VENV=${SOCLE_VENV:-/opt/socle/venv} SOCLE_PYTHON=${SOCLE_PYTHON:-/usr/bin/python3}
  bash scripts/venv.sh >/dev/null
  chmod -R a+rX "$SOCLE_VENV"
  # The temBoard agent's virtualenv (tests/integration/temboard.test.ts; Debian has no package):
  # a no-op when its stamp matches. Without it (PyPI out of reach) those tests say so and skip.
  bash scripts/temboard-venv.sh >/dev/null || echo "test: no temBoard agent virtualenv; its tests will be skipped" >&2
  # The docs site's virtualenv (antsibull-docs, Sphinx; tests/e2e/docs-site.test.ts): likewise.
  bash scripts/docs-venv.sh >/dev/null 2>&1 || echo "test: no docs virtualenv; the docs site test will be skipped" >&2
  exec bash scripts/as-user.sh bash scripts/test.sh "$@"
fi
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
eval "$(bash scripts/venv.sh)"
npm run --silent build
npm run --silent typecheck
# Every PostgreSQL major installed here (Debian's layout), oldest first. The first run is every
# test with the newest major (what the modules pick by themselves); the integration tests then run
# again for each older major (SOCLE_TEST_PG_VERSION, honoured by tests/helpers/versions.ts).
majors=$( (ls -d /usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null || true) | cut -d/ -f5 | sort -n)
reports=$(mktemp -d /tmp/socle-jest.XXXXXX)
status=0
npx jest --ci --maxWorkers=2 --json --outputFile="$reports/all.json" "$@" || status=$?
for major in $(head -n -1 <<<"$majors"); do
  echo "integration tests again, on PostgreSQL $major" >&2
  SOCLE_TEST_PG_VERSION=$major npx jest --ci --maxWorkers=2 --json --outputFile="$reports/$major.json" --selectProjects integration "$@" || status=$?
done
# One plain closing line, whatever the runner prints above it.
node -e '
  const reports = process.argv.slice(1).map((f) => require(f));
  const sum = (k) => reports.reduce((n, r) => n + r[k], 0);
  console.log(`tests: ${sum("numPassedTests")} passed, ${sum("numFailedTests")} failed`);
' "$reports"/*.json || true
rm -rf "$reports"
exit "$status"
