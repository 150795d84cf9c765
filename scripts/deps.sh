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
# High availability (issue 9): Patroni and etcd (server and etcdctl) for the patroni test and bench.
[ -x /usr/bin/patroni ] && [ -x /usr/bin/etcd ] && [ -x /usr/bin/etcdctl ] || missing+=(patroni etcd-server etcd-client)
# Patroni's etcd client over https (tests/integration/patroni-etcd-tls.test.ts): Debian 12's urllib3 needs idna.
/usr/bin/python3 -c 'import idna' 2>/dev/null || missing+=(python3-idna)
# Scheduled dumps and backups without systemd are entries of the owner's crontab.
command -v crontab >/dev/null || missing+=(cron)
# The temBoard test makes its TLS certificate and signing keys with openssl.
command -v openssl >/dev/null || missing+=(openssl)
# Performance analysis (docs/analysis.md): PoWA's collector, pgBadger, pgCluu (+ sar for its host section).
for p in powa-collector pgbadger pgcluu sysstat; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
# The docs test reads a Patroni cluster's synchronous standby with jq, as docs/operations.md shows.
command -v jq >/dev/null || missing+=(jq)
# The docs site: docs/*.md converted to reStructuredText for antsibull-docs (build/docs-rst.ts).
command -v pandoc >/dev/null || missing+=(pandoc)
# The pgBackRest host-ssh test runs its own sshd (as the test user, on a loopback port).
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
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
# PoWA's extensions for each installed major (the server packages may have come just above).
analysis=()
for v in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | cut -d/ -f5); do
  for p in powa pg-qualstats pg-stat-kcache hypopg; do dpkg -s "postgresql-$v-$p" >/dev/null 2>&1 || analysis+=("postgresql-$v-$p"); done
done
if [ ${#analysis[@]} -gt 0 ]; then
  # Which majors have them is asked of apt's lists: on a fresh machine those are empty until an update.
  [ -n "$(ls /var/lib/apt/lists/ 2>/dev/null | grep -v -e lock -e partial -e auxfiles)" ] || apt-get update -qq
  available=()
  for p in "${analysis[@]}"; do apt-cache show "$p" >/dev/null 2>&1 && available+=("$p"); done
  if [ ${#available[@]} -gt 0 ]; then
    echo "deps.sh: installing ${available[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${available[@]}" >/dev/null
  fi
fi
# Debian's package creates and starts a "main" cluster we do not use: keep it out of the way.
if command -v pg_lsclusters >/dev/null; then
  # Only the running ones: pg_ctlcluster says "Cluster is not running." (on stdout) otherwise.
  pg_lsclusters -h 2>/dev/null | while read -r ver name _port status _; do
    [ "$status" = online ] || continue
    pg_ctlcluster "$ver" "$name" stop >/dev/null 2>&1 || true
  done
fi
