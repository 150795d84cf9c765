#!/usr/bin/env bash
# The reference deployment proved end to end (`npm run test:reference`, as root): Molecule's
# `reference` scenario on five containers, from bare containers to the verify (see
# molecule/reference/molecule.yml and examples/reference/README.md).
#
# What is the lab's, made here: the secrets of the example's vault.yml, random, with the lab's own
# values (the lab CA's folder, pip's wheels folder), in one vault-encrypted extra-vars file and its password file, under
# $SOCLE_MOLECULE_WORK/reference (mode 0700). Then scripts/molecule.sh runs the scenario.
#
# Environment: as scripts/molecule.sh (SOCLE_MOLECULE_PREFIX, SOCLE_MOLECULE_WORK, SOCLE_DIST,
# SOCLE_MOLECULE_TARBALL, ...), and SOCLE_REFERENCE_NET, the first three bytes of the podman
# network's /24 (default 10.231.0; change it if this machine already has that subnet).
#   bash scripts/reference.sh              # destroy, syntax, create, converge, idempotence, verify, destroy
#   bash scripts/reference.sh converge     # keep the containers for a look (then: ... destroy)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
[ "$(id -u)" -eq 0 ] || { echo "reference.sh: run as root (rootful podman)" >&2; exit 1; }

work=${SOCLE_MOLECULE_WORK:-/var/tmp/socle-molecule}
lab="$work/reference"
# A whole test starts from new secrets and a new lab CA; other commands reuse the lab's.
if [ "${1:-test}" = test ]; then rm -rf "$lab"; fi
mkdir -p "$lab"
chmod 0700 "$lab"
export SOCLE_REFERENCE_VARS="$lab/vars.yml" SOCLE_REFERENCE_VAULT_PASSWORD_FILE="$lab/vault-password"

# The venv scripts/molecule.sh uses (as root: /opt/socle/venv, the one CI builds once).
export SOCLE_VENV=${SOCLE_VENV:-/opt/socle/venv} SOCLE_PYTHON=${SOCLE_PYTHON:-/usr/bin/python3}
eval "$(bash scripts/venv.sh)"

# The secrets: made once per lab folder (a converge, then verify or destroy, use the same ones).
if [ ! -s "$SOCLE_REFERENCE_VARS" ]; then
    pw() { printf '%s' "$(openssl rand -base64 18 | tr -d '\n')"; }
    (umask 077
     openssl rand -hex 32 > "$SOCLE_REFERENCE_VAULT_PASSWORD_FILE"
     cat > "$SOCLE_REFERENCE_VARS" <<VARS
---
# Made by scripts/reference.sh for the lab: the example's vault_* secrets, and the lab's values.
vault_postgres_password: "$(pw)"
vault_replication_password: "$(pw)"
vault_patroni_api_password: "$(pw)"
vault_backup_password: "$(pw)"
vault_exporter_password: "$(pw)"
vault_temboard_agent_password: "$(pw)"
vault_temboard_admin_password: "$(pw)"
vault_temboard_repository_password: "$(pw)"
vault_powa_password: "$(pw)"
vault_powa_repository_password: "$(pw)"
vault_etcd_root_password: "$(pw)"
vault_etcd_patroni_password: "$(pw)"
vault_application_passwords:
  inventory: { writer: "$(pw)", reader: "$(pw)" }
  orders: { writer: "$(pw)", reader: "$(pw)" }
  analytics: { writer: "$(pw)", reader: "$(pw)" }
reference_pki_dir: "$lab/pki"
reference_pip_extra_args: "--no-index --find-links /var/tmp/socle-wheels"
VARS
     ansible-vault encrypt --vault-password-file "$SOCLE_REFERENCE_VAULT_PASSWORD_FILE" "$SOCLE_REFERENCE_VARS" >/dev/null)
fi

# The network, with a fixed subnet (the containers get fixed addresses in molecule.yml, kept when
# the verify restarts one), made before Molecule's create, which would make it without one. A
# whole test first destroys what an earlier run left (the scenario's sequence does not).
export SOCLE_REFERENCE_NET=${SOCLE_REFERENCE_NET:-10.231.0}
export SOCLE_MOLECULE_PREFIX=${SOCLE_MOLECULE_PREFIX:-}
net="${SOCLE_MOLECULE_PREFIX}ref-net"
if [ "${1:-test}" = test ] || [ "${1:-}" = converge ]; then
    if [ -d "$work/state/reference-all" ]; then
        SOCLE_MOLECULE_SCENARIO=reference SOCLE_MOLECULE_PLATFORM=all bash scripts/molecule.sh destroy >/dev/null 2>&1 || true
    fi
    for h in db1 db2 db3 backup1 supervision1; do podman rm -f -t 0 "$SOCLE_MOLECULE_PREFIX$h" >/dev/null 2>&1 || true; done
    podman network rm -f "$net" >/dev/null 2>&1 || true
    podman network create --subnet "$SOCLE_REFERENCE_NET.0/24" "$net" >/dev/null
fi

SOCLE_MOLECULE_SCENARIO=reference SOCLE_MOLECULE_PLATFORM=all exec bash scripts/molecule.sh "$@"
