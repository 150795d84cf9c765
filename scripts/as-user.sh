#!/usr/bin/env bash
# Runs a command of this repository as an unprivileged user, when invoked as root.
# PostgreSQL refuses to run as root, and our modules too: everything that runs instances runs
# as $SOCLE_USER (default socletest, created if missing). The repository is copied to a folder
# that user owns (the clone may live where it cannot read), the venv is shared read-only.
#   usage: scripts/as-user.sh <command> [args...]   (run from the repository root)
set -euo pipefail
user=${SOCLE_USER:-socletest}
id "$user" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$user"
stage=$(mktemp -d /tmp/socle-stage.XXXXXX)
cleanup() {
  # Anything the user left running (a server of a failed test) must not outlive the run.
  pkill -KILL -u "$user" 2>/dev/null || true
  rm -rf "$stage"
}
trap cleanup EXIT
tar --exclude=./.git --exclude=./.venv --exclude=./dist --exclude=./build/.out -cf - . | tar -C "$stage" -xf -
chown -R "$user": "$stage"
home=$(getent passwd "$user" | cut -d: -f6)
runuser -u "$user" -- env HOME="$home" USER="$user" LOGNAME="$user" SOCLE_VENV="$SOCLE_VENV" SOCLE_PYTHON="${SOCLE_PYTHON:-}" \
  PATH="$PATH" CI="${CI:-}" bash -c 'cd "$1" && shift && "$@"' _ "$stage" "$@"
