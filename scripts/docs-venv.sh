#!/usr/bin/env bash
# Creates (or refreshes) the virtualenv that builds the docs site (`npm run docs`): antsibull-docs
# (the tool the Ansible ecosystem renders collection docs with), Sphinx, its Ansible theme and
# myst-parser (unused since the build converts docs/*.md to rst with pandoc, build/docs-rst.ts;
# left in the list so that the existing virtualenvs stay valid), and the ansible-core whose ansible-doc antsibull-docs
# reads the installed collection with. Debian packages none of them at these versions; PyPI does.
# Idempotent (scripts/pyvenv.sh); prints the venv's bin directory on stdout.
#   SOCLE_DOCS_VENV  venv directory (default /opt/socle/docs-venv)
#   SOCLE_PYTHON     interpreter (default /usr/bin/python3: the test user must be able to run it)
set -euo pipefail
VENV=${SOCLE_DOCS_VENV:-/opt/socle/docs-venv}
PKGS=("antsibull-docs==2.28.0" "sphinx-ansible-theme==0.10.4" "myst-parser==4.0.1" "sphinx==8.1.3" "ansible-core==2.18.19")
exec bash "$(dirname "${BASH_SOURCE[0]}")/pyvenv.sh" "$VENV" docs "${PKGS[@]}"
