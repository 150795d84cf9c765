#!/usr/bin/env bash
# The test command of README.md: unit, integration (real PostgreSQL) and end-to-end
# (ansible-playbook on the built tarball) tests. On a fresh machine, run it as root: it installs
# what the tests need, then runs them as an unprivileged user (scripts/as-user.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then
  bash scripts/deps.sh
  npm ci --no-audit --no-fund --loglevel=error
  # The system Python: the test user must be able to run the venv (root's own Pythons may not be).
  export SOCLE_VENV=${SOCLE_VENV:-/opt/socle/venv} SOCLE_PYTHON=${SOCLE_PYTHON:-/usr/bin/python3}
  bash scripts/venv.sh >/dev/null
  chmod -R a+rX "$SOCLE_VENV"
  exec bash scripts/as-user.sh bash scripts/test.sh "$@"
fi
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
eval "$(bash scripts/venv.sh)"
npm run --silent build
npm run --silent typecheck
report=$(mktemp /tmp/socle-jest.XXXXXX.json)
status=0
npx jest --ci --maxWorkers=2 --json --outputFile="$report" "$@" || status=$?
# One plain closing line, whatever the runner prints above it.
node -e 'const r = require(process.argv[1]); console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed`)' "$report" || true
rm -f "$report"
exit "$status"
