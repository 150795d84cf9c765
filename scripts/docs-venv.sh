#!/usr/bin/env bash
# Creates (or refreshes) the virtualenv that builds the docs site (`npm run docs`): antsibull-docs
# (the tool the Ansible ecosystem renders collection docs with), Sphinx, its Ansible theme and
# myst-parser (our docs/*.md are Markdown), and the ansible-core whose ansible-doc antsibull-docs
# reads the installed collection with. Debian packages none of them at these versions; PyPI does.
# Idempotent: a stamp of the pinned versions and the interpreter is kept in the venv; when it
# matches nothing runs. Prints the venv's bin directory on stdout.
#   SOCLE_DOCS_VENV  venv directory (default /opt/socle/docs-venv)
#   SOCLE_PYTHON     interpreter (default /usr/bin/python3: the test user must be able to run it)
set -euo pipefail
VENV=${SOCLE_DOCS_VENV:-/opt/socle/docs-venv}
PY=${SOCLE_PYTHON:-/usr/bin/python3}
PKGS=("antsibull-docs==2.28.0" "sphinx-ansible-theme==0.10.4" "myst-parser==4.0.1" "sphinx==8.1.3" "ansible-core==2.18.19")
want=$(printf '%s\n' "$PY" "${PKGS[@]}" | sha256sum | cut -d' ' -f1)
stamp="$VENV/.socle-docs.sha256"
log() { printf '[docs-venv] %s\n' "$*" >&2; }
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
