#!/usr/bin/env bash
# Creates (or refreshes) the virtualenv of powa-web, PoWA's web UI (Debian 12 has no package;
# PyPI has). powa-web 4.1 is the one for the PoWA 4.1 extension Debian 12 ships (its login refuses
# another major.minor of the extension). Idempotent (scripts/pyvenv.sh); prints the venv's bin directory on stdout.
#   SOCLE_POWA_VENV  venv directory (default /opt/socle/powa)
#   SOCLE_PYTHON     interpreter (default /usr/bin/python3: the test user must be able to run it)
set -euo pipefail
VENV=${SOCLE_POWA_VENV:-/opt/socle/powa}
# SQLAlchemy 2 removed the select([...]) form powa-web 4 uses.
PKGS=("powa-web==4.1.4" "sqlalchemy==1.4.54" "psycopg2-binary==2.9.13")
exec bash "$(dirname "${BASH_SOURCE[0]}")/pyvenv.sh" "$VENV" powa "${PKGS[@]}"
