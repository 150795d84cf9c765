#!/usr/bin/env bash
# Runs a command of this repository as an unprivileged user, when invoked as root.
# PostgreSQL refuses to run as root, and our modules too: everything that runs instances runs
# as $SOCLE_USER (default socletest, created if missing). The repository is copied to a folder
# that user owns (the clone may live where it cannot read), the venv is shared read-only.
#   usage: scripts/as-user.sh <command> [args...]   (run from the repository root)
set -euo pipefail
user=${SOCLE_USER:-socletest}
id "$user" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$user"
# Another local user, that $user may run commands as (sudo, no password): the end-to-end tests
# check that other users of the host reach the instances' sockets and connect as themselves.
other="${user}_peer"
id "$other" >/dev/null 2>&1 || useradd --no-create-home --shell /usr/sbin/nologin "$other"
if command -v sudo >/dev/null; then
  sudoers="/etc/sudoers.d/socle-test-$user"
  printf '# Written by socle.postgresql scripts/as-user.sh for its tests.\n%s ALL=(%s) NOPASSWD: ALL\n' "$user" "$other" >"$sudoers.tmp"
  chmod 0440 "$sudoers.tmp"
  if visudo -cqf "$sudoers.tmp"; then mv -f "$sudoers.tmp" "$sudoers"; else rm -f "$sudoers.tmp"; fi
fi
[ -f "/etc/sudoers.d/socle-test-$user" ] || other=
stage=$(mktemp -d /tmp/socle-stage.XXXXXX)
cleanup() {
  # Anything the user left running (a server of a failed test) must not outlive the run.
  pkill -KILL -u "$user" 2>/dev/null || true
  # Nor the crontab entries of scheduled dumps and backups whose sandbox is gone.
  if command -v crontab >/dev/null; then crontab -r -u "$user" 2>/dev/null || true; fi
  rm -rf "$stage"
}
trap cleanup EXIT
tar --exclude=./.git --exclude=./.venv --exclude=./dist --exclude=./build/.out -cf - . | tar -C "$stage" -xf -
chown -R "$user": "$stage"
home=$(getent passwd "$user" | cut -d: -f6)
runuser -u "$user" -- env HOME="$home" USER="$user" LOGNAME="$user" SOCLE_VENV="$SOCLE_VENV" SOCLE_PYTHON="${SOCLE_PYTHON:-}" \
  SOCLE_OTHER_USER="$other" \
  PATH="$PATH" CI="${CI:-}" bash -c 'cd "$1" && shift && "$@"' _ "$stage" "$@"
