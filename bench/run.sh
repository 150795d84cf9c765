#!/usr/bin/env bash
# Benchmarks: `bash bench/run.sh [name]`. As root, runs as the unprivileged test user (like the tests).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then
  bash scripts/deps.sh
  # The reference of the databases/roles benchmark: community.postgresql 2.4.2 from Debian's
  # `ansible` package (and psycopg2 for its modules).
  if [ ! -d /usr/lib/python3/dist-packages/ansible_collections/community/postgresql ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ansible python3-psycopg2 >/dev/null
  fi
  export SOCLE_VENV=${SOCLE_VENV:-/opt/socle/venv} SOCLE_PYTHON=${SOCLE_PYTHON:-/usr/bin/python3}
  bash scripts/venv.sh >/dev/null
  exec bash scripts/as-user.sh bash bench/run.sh "$@"
fi
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
eval "$(bash scripts/venv.sh)"
npm run --silent build
node bench/run.mjs "$@"
