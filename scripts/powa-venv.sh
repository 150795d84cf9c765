#!/usr/bin/env bash
# Creates (or refreshes) the virtualenv of powa-web, PoWA's web UI (Debian 12 has no package;
# PyPI has). powa-web 4.1 is the one for the PoWA 4.1 extension Debian 12 ships (its login refuses
# another major.minor of the extension). Idempotent: a stamp of the pinned versions and the interpreter is kept in the venv;
# when it matches nothing runs. Prints the venv's bin directory on stdout.
#   SOCLE_POWA_VENV  venv directory (default /opt/socle/powa)
#   SOCLE_PYTHON     interpreter (default /usr/bin/python3: the test user must be able to run it)
set -euo pipefail
VENV=${SOCLE_POWA_VENV:-/opt/socle/powa}
PY=${SOCLE_PYTHON:-/usr/bin/python3}
# SQLAlchemy 2 removed the select([...]) form powa-web 4 uses.
PKGS=("powa-web==4.1.4" "sqlalchemy==1.4.54" "psycopg2-binary==2.9.13")
want=$(printf '%s\n' "$PY" "${PKGS[@]}" | sha256sum | cut -d' ' -f1)
stamp="$VENV/.socle-powa.sha256"
log() { printf '[powa-venv] %s\n' "$*" >&2; }
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
