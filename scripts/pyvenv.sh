#!/usr/bin/env bash
# A virtualenv of pinned PyPI packages for a tool Debian does not package (at that version): the
# one recipe behind scripts/{temboard,powa,docs}-venv.sh. Idempotent: a stamp of the interpreter
# and the pinned packages is kept in the venv; when it matches nothing runs. Prints the venv's bin
# directory on stdout.
#   usage: scripts/pyvenv.sh <venv directory> <name, for the log and stamp> <package==version>...
#   SOCLE_PYTHON   interpreter (default /usr/bin/python3: the test user must be able to run it)
set -euo pipefail
VENV=$1 NAME=$2
shift 2
PY=${SOCLE_PYTHON:-/usr/bin/python3}
want=$(printf '%s\n' "$PY" "$@" | sha256sum | cut -d' ' -f1)
stamp="$VENV/.socle-$NAME.sha256"
log() { printf '[%s-venv] %s\n' "$NAME" "$*" >&2; }
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$VENV/bin/python" -c '' 2>/dev/null; then
  echo "$VENV/bin"; exit 0
fi
if [ -e "$VENV" ]; then
  [ -f "$VENV/pyvenv.cfg" ] || { log "$VENV exists and is not a virtualenv"; exit 1; }
  rm -rf "$VENV"
fi
log "creating $VENV with $*"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --disable-pip-version-check -q "$@" >&2
# The test user runs it: readable and executable by all (it holds no secret).
chmod -R a+rX "$VENV"
printf '%s\n' "$want" >"$stamp"
echo "$VENV/bin"
