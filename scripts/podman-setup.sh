#!/usr/bin/env bash
# Prepare podman and the container images that Molecule scenarios run on.
#
# Run as root. Idempotent: every step is skipped when already done, so a
# second run takes well under a second.
#
#   usage: scripts/podman-setup.sh [PLATFORM...]     (default: debian12)
#     PLATFORM: debian12 (bookworm), debian13 (trixie), or all (both)
#
#   1. apt-get install podman runc debootstrap      (apt-get update only if one is missing)
#   2. /etc/containers/containers.conf             (rewritten only if it differs)
#   for each platform:
#   3. localhost/debian:<suite>                     (debootstrap --variant=minbase, then podman import)
#   4. localhost/socle-<platform>-systemd:latest    (systemd as PID 1, python3, nodejs, sudo, acl, locales)
#
# Why this recipe (see shared/ENVIRONMENT.md): there is no container registry
# here, so the base image is made with debootstrap; crun fails on this
# hybrid-cgroup host ("cgroups in hybrid mode") so runc + cgroupfs is used; and
# without explicit default ulimits containers die with "setrlimit ... Operation
# not permitted".
#
# Both Debian releases are built the same way from the same mirror, whatever
# the host runs (a Debian 12 host debootstraps trixie fine, and the reverse).
# Other platforms of molecule.yml (Ubuntu, Rocky) cannot be built here: their
# mirrors are out of reach; they are skipped with a note.
#
# Concurrent runs (CI runs two platforms in parallel) wait for each other on a
# lock, so that an image is never built twice at once.
#
# Environment:
#   SOCLE_DEBIAN_MIRROR   mirror for debootstrap (default http://deb.debian.org/debian)
#   SOCLE_REBUILD=1       rebuild the images even if they exist
#
# Progress goes to stderr; stdout stays empty.
set -euo pipefail

MIRROR="${SOCLE_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
REBUILD="${SOCLE_REBUILD:-0}"

log() { printf '[podman-setup %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (apt-get, debootstrap, rootful podman)"

# Measure each step; $SECONDS is bash's integer clock, good enough here.
step_start=0
step() { step_start=$SECONDS; log "$*"; }
step_done() { log "  done in $((SECONDS - step_start)) s"; }

# --- 1. packages -------------------------------------------------------------
step "packages: podman runc debootstrap"
missing=()
for pkg in podman runc debootstrap; do
    # dpkg-query exits non-zero for unknown packages; the status must be "install ok installed".
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    log "  installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    aptlog=$(mktemp /tmp/socle-apt.XXXXXX)
    # apt/dpkg are chatty: keep their output in a file, show its tail on failure.
    { apt-get update -q && apt-get install -y -q "${missing[@]}"; } > "$aptlog" 2>&1 \
        || { tail -n 30 "$aptlog" >&2; die "apt-get failed (log: $aptlog)"; }
    rm -f "$aptlog"
else
    log "  already installed"
fi
step_done

# --- 2. containers.conf ------------------------------------------------------
step "config: /etc/containers/containers.conf"
conf_wanted='[containers]
# Without these the OCI runtime fails with "setrlimit ... Operation not permitted".
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
# crun fails on this hybrid cgroup v1/v2 host; runc + cgroupfs works (no systemd as PID 1).
runtime = "runc"
cgroup_manager = "cgroupfs"
'
mkdir -p /etc/containers
if [ -f /etc/containers/containers.conf ] \
    && [ "$(cat /etc/containers/containers.conf)" = "$(printf '%s' "$conf_wanted")" ]; then
    log "  unchanged"
else
    printf '%s' "$conf_wanted" > /etc/containers/containers.conf
    log "  written"
fi
step_done

image_exists() { podman image exists "$1"; }

# --- platforms ---------------------------------------------------------------
# platform -> Debian suite. The image names follow molecule.yml's defaults.
suite_of() {
    case "$1" in
        debian12) echo bookworm ;;
        debian13) echo trixie ;;
        *) return 1 ;;
    esac
}
platforms=()
for arg in "${@:-debian12}"; do
    if [ "$arg" = all ]; then platforms+=(debian12 debian13); continue; fi
    if suite_of "$arg" >/dev/null; then
        platforms+=("$arg")
    else
        log "note: no image recipe for platform '$arg' here (only debian12, debian13): skipped"
    fi
done

# Builds run one at a time, whoever started them: two debootstraps or builds of
# one tag at once would waste minutes and race on the tag. The lock is released
# when this script exits.
mkdir -p /run/lock
exec 9>/run/lock/socle-podman-setup.lock
if ! flock -n 9; then
    log "another podman-setup is running: waiting for it"
    flock 9
fi
# What podman starts may outlive this script (conmon, a container): it must not hold the lock.
podman() { command podman "$@" 9>&-; }

# --- 3. base image -----------------------------------------------------------
base_image() {
    local suite=$1 image=$2
    step "image: ${image}"
    if [ "$REBUILD" != 1 ] && image_exists "$image"; then
        log "  exists"
        step_done
        return
    fi
    workdir=$(mktemp -d /var/tmp/socle-debootstrap.XXXXXX)
    # debootstrap leaves mounts (proc, sys) behind only on failure; rm -rf is
    # enough otherwise. --one-file-system guards against a leftover mount.
    trap 'rm -rf --one-file-system "$workdir"' EXIT
    log "  debootstrap --variant=minbase ${suite} from ${MIRROR}"
    debootstrap --variant=minbase "$suite" "$workdir/rootfs" "$MIRROR" > "$workdir/debootstrap.log" 2>&1 \
        || { tail -n 30 "$workdir/debootstrap.log" >&2; die "debootstrap failed"; }
    # apt caches and lists are re-downloaded by the image build anyway.
    rm -rf "$workdir"/rootfs/var/cache/apt/archives/*.deb "$workdir"/rootfs/var/lib/apt/lists/*
    log "  podman import"
    tar -C "$workdir/rootfs" -c . | podman import --quiet \
        --change 'CMD ["/bin/bash"]' - "$image" >/dev/null
    rm -rf --one-file-system "$workdir"
    trap - EXIT
    podman run --rm "$image" cat /etc/debian_version | sed 's/^/  debian_version: /' >&2
    step_done
}

# --- 4. systemd image --------------------------------------------------------
# One recipe for both releases: the package names agree (nodejs is 18 in
# bookworm, 20 in trixie). The recipe is hashed into a label: editing the
# Containerfile below triggers a rebuild on the next run, an unchanged one is
# skipped after one `podman inspect`.
systemd_image() {
    local base=$1 image=$2 containerfile recipe_hash current_hash="" old_id="" new_id
    containerfile=$(cat <<EOF
FROM ${base}
ENV DEBIAN_FRONTEND=noninteractive container=podman
RUN apt-get update \\
 && apt-get install -y --no-install-recommends \\
      systemd systemd-sysv dbus dbus-user-session libpam-systemd \\
      python3 python3-apt nodejs sudo acl locales ca-certificates \\
 && sed -i 's/^# *\\(en_US.UTF-8 UTF-8\\)/\\1/' /etc/locale.gen \\
 && locale-gen \\
 && apt-get clean && rm -rf /var/lib/apt/lists/*
# Units that cannot work in a container and only slow the boot down or make
# "systemctl is-system-running" report "degraded".
RUN systemctl mask \\
      systemd-remount-fs.service dev-hugepages.mount sys-fs-fuse-connections.mount \\
      getty.target console-getty.service \\
      systemd-firstboot.service systemd-udevd.service systemd-udev-trigger.service \\
      systemd-modules-load.service apt-daily.timer apt-daily-upgrade.timer 2>/dev/null || true
STOPSIGNAL SIGRTMIN+3
CMD ["/sbin/init"]
EOF
)
    recipe_hash=$(printf '%s' "$containerfile" | sha256sum | cut -c1-16)

    step "image: ${image} (recipe ${recipe_hash})"
    if image_exists "$image"; then
        current_hash=$(podman image inspect --format '{{index .Labels "socle.recipe"}}' "$image" 2>/dev/null || true)
        old_id=$(podman image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
    fi
    if [ "$REBUILD" != 1 ] && [ "$current_hash" = "$recipe_hash" ]; then
        log "  exists"
        step_done
        return
    fi
    ctx=$(mktemp -d /var/tmp/socle-build.XXXXXX)
    trap 'rm -rf "$ctx"' EXIT
    printf '%s\nLABEL socle.recipe=%s\n' "$containerfile" "$recipe_hash" > "$ctx/Containerfile"
    log "  podman build"
    podman build --quiet -t "$image" -f "$ctx/Containerfile" "$ctx" >/dev/null 2>"$ctx/build.log" \
        || { tail -n 30 "$ctx/build.log" >&2; die "podman build failed"; }
    rm -rf "$ctx"
    trap - EXIT
    # The image of the previous recipe is now untagged: drop it (fails harmlessly
    # if a container still uses it). Not `podman image prune`: other images on
    # this machine are not ours to touch.
    new_id=$(podman image inspect --format '{{.Id}}' "$image")
    if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then
        podman rmi "$old_id" >/dev/null 2>&1 || true
    fi
    step_done
}

ready=()
for platform in "${platforms[@]}"; do
    suite=$(suite_of "$platform")
    base_image "$suite" "localhost/debian:${suite}"
    systemd_image "localhost/debian:${suite}" "localhost/socle-${platform}-systemd:latest"
    ready+=("localhost/socle-${platform}-systemd:latest")
done
log "ready: ${ready[*]:-nothing}"
