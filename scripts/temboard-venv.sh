#!/usr/bin/env bash
# Creates (or refreshes) the virtualenv of the temBoard agent (and, with --console, of the
# temBoard console the integration tests register agents with): Debian has no package for
# them, PyPI has. The console goes into a virtualenv of its own (/opt/socle/temboard-console), so
# the agent's stays as it is while another test uses it. Idempotent (scripts/pyvenv.sh); prints the venv's bin directory on stdout.
#   SOCLE_TEMBOARD_VENV  venv directory (default /opt/socle/temboard, with --console /opt/socle/temboard-console)
#   SOCLE_PYTHON         interpreter (default /usr/bin/python3: the test user must be able to run it)
set -euo pipefail
CONSOLE=false
[ "${1:-}" = --console ] && CONSOLE=true
if $CONSOLE; then VENV=${SOCLE_TEMBOARD_VENV:-/opt/socle/temboard-console}; else VENV=${SOCLE_TEMBOARD_VENV:-/opt/socle/temboard}; fi
# psycopg2: the agent imports it but does not require it (distributions package it apart).
# Python 3.12 and later: the agent imports pkg_resources (setuptools, no longer in a new venv);
# 3.13: its bottle (< 0.13) imports cgi, gone from the standard library (legacy-cgi has it).
PKGS=("temboard-agent==9.0.1" "psycopg2-binary==2.9.13" "legacy-cgi==2.6.4; python_version >= '3.13'" "setuptools==80.9.0; python_version >= '3.12'")
$CONSOLE && PKGS+=("temboard==9.0.1")
exec bash "$(dirname "${BASH_SOURCE[0]}")/pyvenv.sh" "$VENV" temboard "${PKGS[@]}"
