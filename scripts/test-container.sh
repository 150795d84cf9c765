#!/usr/bin/env bash
# Runs the unit and integration tests inside a Debian container, against the PostgreSQL and the
# Node.js of that release: Debian 13 by default (PostgreSQL 17, Node.js 20), where this machine
# has Debian 12's (15, 18). The modules' version-dependent code (modules/lib/pg/versions.ts) is
# exercised for real this way.
#
#   usage: scripts/test-container.sh [jest arguments...]         (as root)
#
#   1. the platform's image (scripts/podman-setup.sh; skipped when it exists)
#   2. the bundles, built here (npm run build; the container needs no Python nor Ansible)
#   3. a throw-away container: apt-get install the distribution's `postgresql` (its own main
#      cluster not created; the image has Node.js, npm is not needed), then the repository (with this machine's node_modules: pure
#      JavaScript and esbuild's linux-x64 binary, the same in the container) is copied to an
#      unprivileged user, who runs jest's unit and integration projects
#   4. the container is removed, also on failure or interruption
#
# The last line is `tests: N passed, M failed (<platform>, PostgreSQL <major>)`.
#
# Environment:
#   SOCLE_TEST_PLATFORM     debian13 (default) or debian12
#   SOCLE_CONTAINER_PREFIX  put in front of the container's name (default empty), for
#                           checkouts sharing this machine's podman
#   SOCLE_VENV, SOCLE_DIST  as for scripts/molecule.sh (the build needs ansible-galaxy)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

log() { printf '[test-container %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root: the container is rootful podman (see ../shared/ENVIRONMENT.md)"

platform=${SOCLE_TEST_PLATFORM:-debian13}
image="localhost/socle-${platform}-systemd:latest"
name="${SOCLE_CONTAINER_PREFIX:-}socle-test-${platform}-$$"
export SOCLE_VENV=${SOCLE_VENV:-/opt/socle/venv} SOCLE_PYTHON=${SOCLE_PYTHON:-/usr/bin/python3}
dist=${SOCLE_DIST:-$ROOT/dist}
start=$SECONDS

# --- 1, 2. image and bundles ---------------------------------------------------------------------
bash scripts/podman-setup.sh "$platform"
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
log "building the collection into $dist"
SOCLE_DIST=$dist npm run --silent build

# --- 3. the tests, in the container --------------------------------------------------------------
# What runs inside, as root first. The image has nodejs, sudo and acl already.
inside=$(cat <<'EOF'
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
# Debian's package would create and start a "main" cluster on 5432: not wanted (as the setup role).
mkdir -p /etc/postgresql-common/createcluster.d
echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/socle.conf
t=$SECONDS
{ apt-get update -q && apt-get install -y -q --no-install-recommends postgresql; } > /tmp/apt.log 2>&1 \
    || { tail -n 30 /tmp/apt.log; exit 1; }
major=$(ls /usr/lib/postgresql | sort -n | tail -n1)
echo "[in container] Debian $(cat /etc/debian_version): PostgreSQL $major, Node.js $(node -v), installed in $((SECONDS - t)) s" >&2
useradd --create-home --shell /bin/bash socletest
# The repository is copied (it is mounted read-only), without what the tests do not need.
mkdir /home/socletest/repo
tar -C /src --exclude=./.git --exclude=./.venv --exclude=./dist -cf - . | tar -C /home/socletest/repo -xf -
chown -R socletest: /home/socletest/repo
runuser -u socletest -- env HOME=/home/socletest SOCLE_DIST=/dist CI=1 FORCE_COLOR=0 \
    bash -c 'cd ~/repo && node node_modules/jest/bin/jest.js --ci --maxWorkers=2 --json --outputFile=/tmp/report.json --selectProjects unit integration "$@"' _ "$@" \
    || status=$?
[ -f /tmp/report.json ] && node -e '
  const r = require("/tmp/report.json");
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed (${process.argv[1]}, PostgreSQL ${process.argv[2]})`);
' "$PLATFORM" "$major" || true
exit "${status:-0}"
EOF
)

cleanup() { podman rm -f --time 0 "$name" >/dev/null 2>&1 || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM
log "container $name from $image"
status=0
# --rm is not enough: an interrupted `podman run` may leave the container behind (cleanup does it).
podman run --rm --name "$name" --env PLATFORM="$platform" \
    --volume "$ROOT:/src:ro" --volume "$dist:/dist:ro" \
    "$image" bash -c "$inside" _ "$@" || status=$?
log "done: exit $status after $((SECONDS - start)) s"
exit "$status"
