#!/usr/bin/env bash
# Installs, as root, the system packages the demo and the tests need on a fresh Debian/Ubuntu
# machine: PostgreSQL server binaries, Node.js >= 18 (if missing), python3-venv (for the Ansible
# tooling virtualenv), and acl and sudo (so Ansible can `become` an unprivileged user).
# Idempotent: apt runs only when something is missing.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "deps.sh: run as root" >&2; exit 1; }

missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql postgresql-contrib)
command -v setfacl >/dev/null || missing+=(acl)
command -v sudo >/dev/null || missing+=(sudo)
command -v runuser >/dev/null || missing+=(util-linux)
# The satellites the integration tests run: Debian's postgres_exporter and pgBackRest.
[ -x /usr/bin/prometheus-postgres-exporter ] || missing+=(prometheus-postgres-exporter)
[ -x /usr/bin/pgbackrest ] || missing+=(pgbackrest)
# Scheduled dumps and backups without systemd are entries of the owner's crontab.
command -v crontab >/dev/null || missing+=(cron)
# The temBoard test makes its TLS certificate and signing keys with openssl.
command -v openssl >/dev/null || missing+=(openssl)
/usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
if ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 18 ]; then
  missing+=(nodejs npm)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps.sh: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's package creates and starts a "main" cluster we do not use: keep it out of the way.
if command -v pg_lsclusters >/dev/null; then
  # Only the running ones: pg_ctlcluster says "Cluster is not running." (on stdout) otherwise.
  pg_lsclusters -h 2>/dev/null | while read -r ver name _port status _; do
    [ "$status" = online ] || continue
    pg_ctlcluster "$ver" "$name" stop >/dev/null 2>&1 || true
  done
fi
