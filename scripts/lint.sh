#!/usr/bin/env bash
# The collection's linters (`npm run lint`), on what users get: the built collection.
#
#   1. build the collection (npm run build)
#   2. ansible-lint, production profile, offline (.ansible-lint): the built collection tree (roles,
#      Molecule scenarios under extensions/molecule, galaxy.yml, meta/runtime.yml, changelogs),
#      then examples/ (playbooks of the repository). The tarball is installed into a temporary
#      collections path so that socle.postgresql.* modules and roles resolve.
#   3. ansible-test sanity on the tarball installed as <tmp>/ansible_collections/socle/postgresql,
#      for the venv's Python; tests/sanity/ignore-<ansible-core X.Y>.txt (written by the build
#      for every module) lists what the Node modules cannot satisfy.
#
# Runs every step even when one fails; exits non-zero when any failed.
# Works as root (venv /opt/socle/venv, shared with scripts/test.sh) or as a user owning the
# repository (venv .venv); SOCLE_VENV, SOCLE_PYTHON and SOCLE_DIST are honoured.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

log() { printf '[lint %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

if [ "$(id -u)" -eq 0 ]; then
    export SOCLE_VENV=${SOCLE_VENV:-/opt/socle/venv} SOCLE_PYTHON=${SOCLE_PYTHON:-/usr/bin/python3}
fi
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
eval "$(bash scripts/venv.sh)"
venv_collections=$ANSIBLE_COLLECTIONS_PATH

npm run --silent build
dist=${SOCLE_DIST:-$ROOT/dist}
tarball=$(ls "$dist"/socle-postgresql-*.tar.gz | head -n1)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/socle-lint.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export ANSIBLE_COLLECTIONS_PATH="$tmp/lint:$venv_collections"
ansible-galaxy collection install "$tarball" -p "$tmp/lint" >/dev/null
export ANSIBLE_NOCOLOR=1 NO_COLOR=1 ANSIBLE_FORCE_COLOR=0 PY_COLORS=0

failed=()
step() {
    local name=$1; shift
    local t=$SECONDS
    log "$name"
    if "$@"; then
        log "  $name: ok ($((SECONDS - t)) s)"
    else
        log "  $name: FAILED ($((SECONDS - t)) s)"
        failed+=("$name")
    fi
}

# --- ansible-lint ------------------------------------------------------------------------------
lint_collection() {
    (cd "$dist/collection" && ansible-lint -c "$ROOT/.ansible-lint" --offline --profile production -f pep8)
}
lint_examples() {
    ansible-lint -c "$ROOT/.ansible-lint" --offline --profile production -f pep8 examples/
}
step "ansible-lint (collection tree: roles, extensions/molecule, metadata)" lint_collection
step "ansible-lint (examples/)" lint_examples

# --- ansible-test sanity -----------------------------------------------------------------------
sanity() {
    local py core
    py=$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    core=$(python -c 'from ansible.release import __version__ as v; print(".".join(v.split(".")[:2]))')
    mkdir -p "$tmp/sanity"
    ansible-galaxy collection install "$tarball" -p "$tmp/sanity" --force >/dev/null 2>&1
    [ -f "$tmp/sanity/ansible_collections/socle/postgresql/tests/sanity/ignore-$core.txt" ] \
        || log "  WARNING: the build wrote no tests/sanity/ignore-$core.txt for ansible-core $core (build/main.ts SANITY_CORE_VERSIONS)"
    log "  ansible-test sanity --python $py (ansible-core $core)"
    (cd "$tmp/sanity/ansible_collections/socle/postgresql" && ansible-test sanity --python "$py" --color no)
}
step "ansible-test sanity" sanity

if [ ${#failed[@]} -gt 0 ]; then
    log "FAILED: ${failed[*]}"
    exit 1
fi
log "all linters passed"
