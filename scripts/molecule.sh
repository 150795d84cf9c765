#!/usr/bin/env bash
# Runs a Molecule scenario of the collection end to end (`npm run test:molecule`), as root, on a
# fresh machine: it prepares what is missing, then tests the collection the way users get it.
#
#   1. podman and the Debian 12 systemd image      (scripts/podman-setup.sh; skipped when done)
#   2. node_modules and the Python venv            (npm ci, scripts/venv.sh; skipped when done)
#   3. the collection tarball                      (npm run build)
#   4. the tarball installed with ansible-galaxy into a fresh collections path
#   5. `molecule test` run from the installed collection, on its shipped scenarios
#      (extensions/molecule/<scenario>), with ANSIBLE_COLLECTIONS_PATH = that path + the venv's
#      collections (containers.podman, the driver's connection)
#
# Usage: scripts/molecule.sh [molecule command, default: test] [extra molecule arguments...]
#   bash scripts/molecule.sh                 # destroy, syntax, create, converge, idempotence, verify, destroy
#   bash scripts/molecule.sh converge        # keep the container for a look: then
#   bash scripts/molecule.sh login           #   a shell in it, and
#   bash scripts/molecule.sh destroy         #   clean up
#
# Environment:
#   SOCLE_MOLECULE_SCENARIO   scenario (default: default)
#   SOCLE_MOLECULE_PLATFORM   platform of the scenario (default: debian12, the only image that can
#                             be built here); "all" for every platform of molecule.yml (their
#                             images must exist: SOCLE_IMAGE_<PLATFORM> names them)
#   SOCLE_MOLECULE_WORK       where the collection is installed (default /var/tmp/socle-molecule)
#   SOCLE_VENV, SOCLE_PYTHON  the venv (default, as root: /opt/socle/venv from /usr/bin/python3,
#                             the one scripts/test.sh makes, so CI builds it once)
#   SOCLE_DIST                build output (default dist/)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

log() { printf '[molecule %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root: the containers are rootful podman (see ../shared/ENVIRONMENT.md)"

scenario=${SOCLE_MOLECULE_SCENARIO:-default}
platform=${SOCLE_MOLECULE_PLATFORM:-debian12}
work=${SOCLE_MOLECULE_WORK:-/var/tmp/socle-molecule}
export SOCLE_VENV=${SOCLE_VENV:-/opt/socle/venv} SOCLE_PYTHON=${SOCLE_PYTHON:-/usr/bin/python3}
command=${1:-test}
[ $# -gt 0 ] && shift

start=$SECONDS
# --- 1. podman and images (the systemd image the debian12 platform uses) -------------------------
bash scripts/podman-setup.sh

# --- 2. node_modules and venv ------------------------------------------------------------------
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
eval "$(bash scripts/venv.sh)"

# --- 3, 4. the tarball, installed as users install it ------------------------------------------
if [ "$command" = test ] || [ "$command" = converge ] || [ "$command" = syntax ] || [ ! -d "$work/collections" ]; then
    log "building the collection"
    npm run --silent build
    dist=${SOCLE_DIST:-$ROOT/dist}
    tarball=$(ls "$dist"/socle-postgresql-*.tar.gz | head -n1)
fi
export ANSIBLE_COLLECTIONS_PATH="$work/collections:$SOCLE_VENV/collections"
if [ -n "${tarball:-}" ]; then
    rm -rf "$work/collections"
    mkdir -p "$work/collections"
    ansible-galaxy collection install "$tarball" -p "$work/collections" --force >/dev/null
    log "installed $(basename "$tarball") into $work/collections"
fi

# --- 5. molecule, from the installed collection ------------------------------------------------
collection="$work/collections/ansible_collections/socle/postgresql"
[ -f "$collection/extensions/molecule/$scenario/molecule.yml" ] \
    || die "no scenario $scenario in $collection/extensions/molecule"
cd "$collection"
# The installed collection has MANIFEST.json, not galaxy.yml: tell Molecule where its scenarios are.
export MOLECULE_GLOB='extensions/molecule/*/molecule.yml'
export ANSIBLE_FORCE_COLOR=${ANSIBLE_FORCE_COLOR:-0} PY_COLORS=${PY_COLORS:-0} ANSIBLE_NOCOLOR=${ANSIBLE_NOCOLOR:-1}
args=(-s "$scenario")
case "$command" in
    test|create|converge|idempotence|verify|destroy|syntax|login|prepare|side-effect|cleanup)
        [ "$platform" = all ] || args+=(--platform-name "$platform") ;;
esac
[ "$command" = login ] && args=(-s "$scenario" --host "$platform")
log "molecule $command ${args[*]} $*"
status=0
molecule "$command" "${args[@]}" "$@" || status=$?
log "molecule $command: exit $status after $((SECONDS - start)) s"
exit "$status"
