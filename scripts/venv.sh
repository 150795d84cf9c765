#!/usr/bin/env bash
# Create (or refresh) the project's Python virtualenv with the Ansible tooling.
#
# Usage:
#   eval "$(bash scripts/venv.sh)"      # creates/updates the venv, then exports
#                                       # VIRTUAL_ENV, PATH and ANSIBLE_COLLECTIONS_PATH
#   bash scripts/venv.sh >/dev/null     # just make sure it is there
#
# Where things go:
#   venv:         $SOCLE_VENV, default <repo>/.venv
#   collections:  <venv>/collections/ansible_collections/<namespace>/<name>
#                 -> use ANSIBLE_COLLECTIONS_PATH=<venv>/collections
#                 (the same export lines are kept in <venv>/socle.env for `source`).
#
# stdout carries only the export lines above; progress goes to stderr.
#
# Idempotent and fast: a hash of requirements.txt, of the collection source
# and of the interpreter is stored in the venv; when it matches, nothing is run
# (a few milliseconds). When it differs the venv is rebuilt from scratch, so
# the result never depends on what an older requirements.txt left behind.
#
# Collections: galaxy.ansible.com is out of reach here, only PyPI is. The PyPI
# package `ansible` (the community bundle) ships every collection, but is 55 MB
# to download and ~200 MiB / 24,000 files installed. We download its wheel
# once (pinned below, matching ansible-core of requirements.txt) and extract
# only the collections listed in COLLECTIONS: containers.podman is what the
# Molecule podman driver (molecule-plugins) needs for its create/destroy
# playbooks and its `containers.podman.podman` connection; ansible.posix and
# community.general are small and commonly needed by roles. The extracted
# trees keep their MANIFEST.json/FILES.json, so `ansible-galaxy collection
# list` shows them with their versions, exactly as a galaxy install would.
#
# Environment:
#   SOCLE_VENV         venv directory (default <repo>/.venv)
#   SOCLE_PYTHON       interpreter to build the venv from (default: python3 on PATH)
#   SOCLE_COLLECTIONS  space-separated list, default "containers.podman ansible.posix community.general"
#
# Works as root or as an unprivileged user owning the repository; only the
# optional `apt-get install python3-venv` step needs root.
set -euo pipefail

# The community bundle whose collections we extract. ansible 11.x requires
# ansible-core ~=2.18: keep it in step with the ansible-core pin of requirements.txt.
ANSIBLE_BUNDLE="ansible==11.13.0"
COLLECTIONS="${SOCLE_COLLECTIONS:-containers.podman ansible.posix community.general}"
# Bump when this script changes what it puts into the venv.
RECIPE_VERSION=1

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="${SOCLE_VENV:-$ROOT/.venv}"
REQ="$ROOT/requirements.txt"
STAMP="$VENV/.socle-venv.sha256"

log() { printf '[venv %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ -f "$REQ" ] || die "missing $REQ"
case "$VENV" in /*) ;; *) VENV="$PWD/$VENV"; STAMP="$VENV/.socle-venv.sha256" ;; esac

ansible_test_pip_version() {
    sed -n "s/^ *pip='\([0-9.]*\)',.*/\1/p" \
        "$VENV"/lib/python3*/site-packages/ansible_test/_internal/python_requirements.py 2>/dev/null | head -n1
}

install_get_pip_standin() {
    # See "ansible-test's pip bootstrap" below. The path comes from the HOME of whoever runs this
    # script, not from whoever built the venv: a venv built by root is used by the test user,
    # who must not try to write into root's home.
    local pip_ver target
    pip_ver=$(ansible_test_pip_version)
    [ -n "$pip_ver" ] && [ -n "${HOME:-}" ] || return 0
    # Same path as ansible-test's os.path.expanduser('~/.ansible/test/cache/get_pip_X_Y.py').
    target="$HOME/.ansible/test/cache/get_pip_${pip_ver//./_}.py"
    [ ! -f "$target" ] || return 0
    if mkdir -p "$(dirname "$target")" 2>/dev/null && cat > "$target.$$" 2>/dev/null <<'PYEOF'
"""Offline stand-in for get-pip.py, written by socle.postgresql's scripts/venv.sh.

ansible-test downloads get-pip.py from ci-files.testing.ansible.com, out of
reach here. This does the same job: bootstrap pip from the interpreter's own
wheel (ensurepip), then `pip install` the requested packages from the index.
"""
import subprocess
import sys

# Options that only get-pip.py knows.
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
# ensurepip in a child process: in-process it sets PIP_CONFIG_FILE=/dev/null in
# os.environ, which would hide the machine's pip.conf (index, certificates).
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", *args]))
PYEOF
    then
        mv -f "$target.$$" "$target"
        log "ansible-test get-pip stand-in: $target"
    else
        rm -f "$target.$$" 2>/dev/null || true
        log "WARNING: cannot write $target; ansible-test sanity will try to download get-pip"
    fi
}

emit_env() {
    # printf %q keeps paths with spaces intact through `eval`.
    printf 'export VIRTUAL_ENV=%q\n' "$VENV"
    # shellcheck disable=SC2016  # $PATH is expanded by the caller's eval, on purpose
    printf 'export PATH=%q:"$PATH"\n' "$VENV/bin"
    printf 'export ANSIBLE_COLLECTIONS_PATH=%q\n' "$VENV/collections"
}

# --- interpreter -------------------------------------------------------------
PY="${SOCLE_PYTHON:-$(command -v python3 || true)}"
[ -n "$PY" ] || die "python3 not found on PATH"

# Fast path first: the stamp records the interpreter path too, so this needs
# no Python process. (Resolving symlinks would be wrong here: pyenv shims.)
want_hash=$(
    {
        printf 'recipe=%s\nbundle=%s\ncollections=%s\npython=%s\n' \
            "$RECIPE_VERSION" "$ANSIBLE_BUNDLE" "$COLLECTIONS" "$PY"
        cat "$REQ"
    } | sha256sum | cut -d' ' -f1
)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want_hash" ] && [ -x "$VENV/bin/python" ] \
    && "$VENV/bin/python" -c '' 2>/dev/null; then
    log "up to date: $VENV"
    install_get_pip_standin
    emit_env
    exit 0
fi

# ansible-core 2.18 needs Python >= 3.11 on the controller.
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
    || die "$PY is $("$PY" -V 2>&1); ansible-core 2.18 needs Python >= 3.11"
log "python: $PY ($("$PY" -V 2>&1))"

# Debian/Ubuntu split venv/ensurepip out of python3 into python3-venv.
if ! "$PY" -c 'import venv, ensurepip' 2>/dev/null; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        log "python3 -m venv unavailable: apt-get install python3-venv"
        export DEBIAN_FRONTEND=noninteractive
        { apt-get update -q && apt-get install -y -q python3-venv; } >&2
    fi
    "$PY" -c 'import venv, ensurepip' 2>/dev/null \
        || die "'$PY -m venv' does not work: install python3-venv (Debian/Ubuntu) as root"
fi

# --- venv --------------------------------------------------------------------
start=$SECONDS
if [ -e "$VENV" ]; then
    # Only ever delete something that is recognisably a venv.
    if [ -f "$VENV/pyvenv.cfg" ]; then
        log "requirements or recipe changed: rebuilding $VENV"
        rm -rf "$VENV"
    elif [ -d "$VENV" ] && [ -z "$(ls -A "$VENV")" ]; then
        rmdir "$VENV"
    else
        die "$VENV exists and is not a virtualenv; remove it or set SOCLE_VENV"
    fi
fi
log "creating $VENV"
"$PY" -m venv "$VENV"
VPY="$VENV/bin/python"

log "pip install -r requirements.txt"
# pip's own output (incl. warnings about local find-links) goes to stderr.
"$VPY" -m pip install --disable-pip-version-check -q -r "$REQ" >&2 \
    || die "pip install failed"
log "  pip done in $((SECONDS - start)) s"

# --- collections -------------------------------------------------------------
cstart=$SECONDS
tmp=$(mktemp -d "${TMPDIR:-/tmp}/socle-venv.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
log "collections: $COLLECTIONS (from the $ANSIBLE_BUNDLE wheel)"
"$VPY" -m pip download --disable-pip-version-check -q --no-deps --only-binary=:all: \
    -d "$tmp" "$ANSIBLE_BUNDLE" >&2 || die "pip download $ANSIBLE_BUNDLE failed"

# $COLLECTIONS is split on purpose: one argument per collection.
# shellcheck disable=SC2086
"$VPY" - "$tmp" "$VENV/collections" $COLLECTIONS <<'PYEOF' >&2
"""Extract a few collections from the `ansible` wheel; check it matches ansible-core."""
import glob
import json
import shutil
import sys
import zipfile
from importlib.metadata import version

from packaging.requirements import Requirement

tmp, dest, *wanted = sys.argv[1:]
wheel = zipfile.ZipFile(glob.glob(f"{tmp}/ansible-*.whl")[0])

# The bundle declares which ansible-core its collections were tested with.
meta = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
core = version("ansible-core")
for line in wheel.read(meta).decode().splitlines():
    if line.startswith("Requires-Dist: ansible-core"):
        req = Requirement(line.split(":", 1)[1].strip())
        if not req.specifier.contains(core):
            print(f"WARNING: bundle wants {req}, venv has ansible-core {core}")

names = wheel.namelist()
for fqcn in wanted:
    ns, name = fqcn.split(".")
    prefix = f"ansible_collections/{ns}/{name}/"
    members = [n for n in names if n.startswith(prefix)]
    if not members:
        sys.exit(f"collection {fqcn} is not in the bundle")
    target = f"{dest}/ansible_collections/{ns}/{name}"
    shutil.rmtree(target, ignore_errors=True)
    for n in members:
        wheel.extract(n, dest)
    ver = json.loads(wheel.read(prefix + "MANIFEST.json"))["collection_info"]["version"]
    print(f"  {fqcn} {ver}: {len(members)} files")
PYEOF
rm -rf "$tmp"
trap - EXIT
log "  collections done in $((SECONDS - cstart)) s"

# --- ansible-test's pip bootstrap ---------------------------------------------
# `ansible-test sanity` builds one venv per test that needs packages (yamllint,
# validate-modules, runtime-metadata, pylint...) and bootstraps pip in it with
# get-pip.py downloaded from ci-files.testing.ansible.com, which is unreachable.
# It first looks for ~/.ansible/test/cache/get_pip_<version>.py: we put there a
# stand-in that bootstraps pip with ensurepip and installs the requested pip
# version (and the rest) from PyPI. Not fatal: only ansible-test needs it.
[ -n "$(ansible_test_pip_version)" ] \
    || log "WARNING: cannot tell ansible-test's pip version; skipping its get-pip stand-in"

install_get_pip_standin
emit_env > "$VENV/socle.env"
printf '%s\n' "$want_hash" > "$STAMP"
log "ready in $((SECONDS - start)) s: $VENV ($(du -sh "$VENV" | cut -f1))"
emit_env
