#!/usr/bin/env bash
# The collection's quality gates, as root (CI calls this from .ci/run after the tests):
#
#   1. molecule    the default scenario end to end on Debian 12 and Debian 13, in parallel with
#                  the backup scenario on Debian 12 (scheduled backups and dumps), then the
#                  reference scenario (the reference deployment on five Debian 12 containers,
#                  scripts/reference.sh)
#                  (scripts/molecule.sh: images, venv, build, tarball installed,
#                  destroy/syntax/create/converge/idempotence/verify/destroy);
#                  SOCLE_QUALITY_PLATFORMS names others (default "debian12 debian13")
#   2. lint        ansible-lint (production, offline) and ansible-test sanity (scripts/lint.sh)
#   3. verify      the tarball installed into a fresh path, `ansible-galaxy collection verify
#                  --offline` (every file against the checksums of FILES.json), and its
#                  MANIFEST.json identical to the tarball's
#   4. docs        `ansible-doc` renders every module and `ansible-doc -t role` every role,
#                  without errors or warnings, with their options
#
# Every gate runs even if an earlier one failed; the exit status is non-zero if any failed, and
# the last line says which. SOCLE_VENV, SOCLE_PYTHON, SOCLE_DIST are honoured.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

log() { printf '[quality %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
    log "ERROR: run as root (Molecule's containers are rootful podman)"
    exit 1
fi
export SOCLE_VENV=${SOCLE_VENV:-/opt/socle/venv} SOCLE_PYTHON=${SOCLE_PYTHON:-/usr/bin/python3}
dist=${SOCLE_DIST:-$ROOT/dist}
start=$SECONDS
failed=()
passed=()
gate() {
    local name=$1; shift
    local t=$SECONDS
    log "=== $name"
    if "$@"; then
        log "=== $name: ok ($((SECONDS - t)) s)"
        passed+=("$name")
    else
        log "=== $name: FAILED ($((SECONDS - t)) s)"
        failed+=("$name")
    fi
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/socle-quality.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

venv() {
    # Sets PATH and ANSIBLE_COLLECTIONS_PATH in this shell (the gates below run in it).
    eval "$(bash scripts/venv.sh)"
}

tarball() { ls "$dist"/socle-postgresql-*.tar.gz 2>/dev/null | head -n1; }

verify() {
    local tb
    tb=$(tarball)
    [ -n "$tb" ] || { log "no tarball in $dist"; return 1; }
    ansible-galaxy collection install "$tb" -p "$tmp/verify" --force >/dev/null 2>&1 || return 1
    ANSIBLE_COLLECTIONS_PATH="$tmp/verify" ansible-galaxy collection verify --offline socle.postgresql -p "$tmp/verify" || return 1
    local want got
    want=$(tar -xOzf "$tb" MANIFEST.json | sha256sum | cut -d' ' -f1)
    got=$(sha256sum < "$tmp/verify/ansible_collections/socle/postgresql/MANIFEST.json" | cut -d' ' -f1)
    [ "$want" = "$got" ] || { log "installed MANIFEST.json differs from the tarball's"; return 1; }
    log "  MANIFEST.json sha256 $got (same as $(basename "$tb"))"
}

docs() {
    local coll="$tmp/verify/ansible_collections/socle/postgresql" ok=0 n=0 name out err
    [ -d "$coll" ] || { log "collection not installed (verify failed?)"; return 1; }
    export ANSIBLE_COLLECTIONS_PATH="$tmp/verify"
    for f in "$coll"/plugins/modules/*.yml; do
        name=socle.postgresql.$(basename "$f" .yml)
        n=$((n + 1))
        if out=$(ansible-doc "$name" 2>"$tmp/err") && ! grep -qE 'ERROR|WARNING' "$tmp/err" \
            && grep -q "$name" <<<"$out" \
            && ansible-doc --json "$name" 2>/dev/null | python -c "import json,sys; d=json.load(sys.stdin)['$name']['doc']; sys.exit(0 if d.get('options') else 1)"; then
            log "  module $name: ok ($(wc -l <<<"$out") lines)"
            ok=$((ok + 1))
        else
            log "  module $name: FAILED"; cat "$tmp/err" >&2
        fi
    done
    for d in "$coll"/roles/*/; do
        name=socle.postgresql.$(basename "$d")
        n=$((n + 1))
        if out=$(ansible-doc -t role "$name" 2>"$tmp/err") && ! grep -qE 'ERROR|WARNING' "$tmp/err" \
            && ansible-doc -t role --json "$name" 2>/dev/null | python -c "import json,sys; d=json.load(sys.stdin)['$name']; sys.exit(0 if d['entry_points']['main'].get('options') else 1)"; then
            log "  role $name: ok ($(wc -l <<<"$out") lines)"
            ok=$((ok + 1))
        else
            log "  role $name: FAILED"; cat "$tmp/err" >&2
        fi
    done
    [ "$n" -gt 0 ] && [ "$ok" -eq "$n" ]
}

# The default scenario (SOCLE_QUALITY_PLATFORMS) and the backup scenario (Debian 12 only, lean) in
# parallel, from one build, each with its own container prefix and Molecule state. What both
# would otherwise set up at once (images, node_modules, venv, the tarball) is done first.
molecules() {
    local platforms=${SOCLE_QUALITY_PLATFORMS:-debian12 debian13} tb rc=0 rcb=0 rch=0 pid
    # shellcheck disable=SC2086
    bash scripts/podman-setup.sh $platforms debian12 >&2 || return 1
    [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error || return 1
    bash scripts/venv.sh >/dev/null || return 1
    npm run --silent build || return 1
    tb=$(tarball)
    env SOCLE_MOLECULE_TARBALL="$tb" SOCLE_MOLECULE_SCENARIO=backup SOCLE_MOLECULE_PLATFORM=debian12 \
        SOCLE_MOLECULE_PREFIX="${SOCLE_MOLECULE_PREFIX:-}backup-" \
        SOCLE_MOLECULE_WORK="${SOCLE_MOLECULE_WORK:-/var/tmp/socle-molecule}-backup" \
        bash scripts/molecule.sh >"$tmp/molecule-backup.log" 2>&1 &
    pid=$!
    env SOCLE_MOLECULE_TARBALL="$tb" SOCLE_MOLECULE_PLATFORM="$platforms" bash scripts/molecule.sh || rc=$?
    wait "$pid" || rcb=$?
    log "----- molecule scenario backup (exit $rcb) -----"
    cat "$tmp/molecule-backup.log" >&2
    # The reference deployment (five Debian 12 containers: etcd + Patroni members with their
    # satellites, a pgBackRest repository host, a supervision host; a failover under load, a
    # scheduled backup and a PITR copy) after the others: five more systemd containers at once
    # would crowd two cores. It covers the ha scenario's checks (which stays runnable alone:
    # SOCLE_MOLECULE_SCENARIO=ha SOCLE_MOLECULE_PLATFORM=all bash scripts/molecule.sh).
    env SOCLE_MOLECULE_TARBALL="$tb" \
        SOCLE_MOLECULE_PREFIX="${SOCLE_MOLECULE_PREFIX:-}" \
        SOCLE_MOLECULE_WORK="${SOCLE_MOLECULE_WORK:-/var/tmp/socle-molecule}-reference" \
        bash scripts/reference.sh || rch=$?
    [ "$rc" = 0 ] && [ "$rcb" = 0 ] && [ "$rch" = 0 ]
}

gate molecule molecules
gate lint bash scripts/lint.sh
venv
gate "collection verify" verify
gate "ansible-doc" docs

total=$((SECONDS - start))
if [ ${#failed[@]} -gt 0 ]; then
    echo "quality: FAILED: ${failed[*]} (passed: ${passed[*]:-none}) in ${total} s"
    exit 1
fi
echo "quality: PASSED: ${passed[*]} in ${total} s"
