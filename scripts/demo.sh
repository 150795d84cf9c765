#!/usr/bin/env bash
# The main job of README.md: build the collection and deploy a demo PostgreSQL instance with it
# on this machine, run by an unprivileged user. As root on a fresh machine it installs what it
# needs and deploys as the user `socle` (created if missing, override with SOCLE_DEMO_USER);
# as any other user it deploys as that user.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then
  bash scripts/deps.sh
  user=${SOCLE_DEMO_USER:-socle}
  id "$user" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$user"
  # Ansible's temporary directory for the user, made the way Ansible asks (else its first module
  # run as that user warns that it created remote_tmp itself); the setup role does the same.
  install -d -m 0700 -o "$user" -g "$(id -gn "$user")" "$(getent passwd "$user" | cut -d: -f6)/.ansible" \
    "$(getent passwd "$user" | cut -d: -f6)/.ansible/tmp"
else
  user=$(id -un)
fi
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
eval "$(bash scripts/venv.sh)"
npm run --silent build
collections=$(mktemp -d /tmp/socle-demo.XXXXXX)
trap 'rm -rf "$collections"' EXIT
ANSIBLE_COLLECTIONS_PATH="$collections" ansible-galaxy collection install dist/socle-postgresql-*.tar.gz -p "$collections" --force >/dev/null
ANSIBLE_COLLECTIONS_PATH="$collections:$ANSIBLE_COLLECTIONS_PATH" ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3 \
  ansible-playbook -i localhost, -c local examples/demo.yml -e "demo_user=$user"
