#!/usr/bin/env bash
# Creates (or refreshes) the virtualenv of the temBoard agent (and, with --console, of the
# temBoard console the integration tests register agents with): Debian has no package for
# them, PyPI has. The console goes into a virtualenv of its own (/opt/socle/temboard-console), so
# the agent's stays as it is while another test uses it. Idempotent: a stamp of the pinned versions and the interpreter is kept in the
# venv; when it matches nothing runs. Prints the venv's bin directory on stdout.
#   SOCLE_TEMBOARD_VENV  venv directory (default /opt/socle/temboard, with --console /opt/socle/temboard-console)
#   SOCLE_PYTHON         interpreter (default /usr/bin/python3: the test user must be able to run it)
set -euo pipefail
CONSOLE=false
[ "${1:-}" = --console ] && CONSOLE=true
if $CONSOLE; then VENV=${SOCLE_TEMBOARD_VENV:-/opt/socle/temboard-console}; else VENV=${SOCLE_TEMBOARD_VENV:-/opt/socle/temboard}; fi
PY=${SOCLE_PYTHON:-/usr/bin/python3}
# psycopg2: the agent imports it but does not require it (distributions package it apart).
PKGS=("temboard-agent==9.0.1" "psycopg2-binary==2.9.13")
$CONSOLE && PKGS+=("temboard==9.0.1")
want=$(printf '%s\n' "$PY" "${PKGS[@]}" | sha256sum | cut -d' ' -f1)
stamp="$VENV/.socle-temboard.sha256"
log() { printf '[temboard-venv] %s\n' "$*" >&2; }
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$VENV/bin/python" -c '' 2>/dev/null; then
  echo "$VENV/bin"; exit 0
fi
if [ -e "$VENV" ]; then
  [ -f "$VENV/pyvenv.cfg" ] || { log "$VENV exists and is not a virtualenv"; exit 1; }
  rm -rf "$VENV"
fi
log "creating $VENV with ${PKGS[*]}"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --disable-pip-version-check -q "${PKGS[@]}" >&2
# The test user runs it: readable and executable by all (it holds no secret).
chmod -R a+rX "$VENV"
printf '%s\n' "$want" >"$stamp"
echo "$VENV/bin"
