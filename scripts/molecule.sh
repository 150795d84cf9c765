#!/usr/bin/env bash
# Runs a Molecule scenario of the collection end to end (`npm run test:molecule`), as root, on a
# fresh machine: it prepares what is missing, then tests the collection the way users get it.
#
#   1. podman and the systemd images of the platforms (scripts/podman-setup.sh; skipped when done)
#   2. node_modules and the Python venv            (npm ci, scripts/venv.sh; skipped when done)
#   3. the collection tarball                      (npm run build)
#   4. the tarball installed with ansible-galaxy into a fresh collections path
#   5. `molecule test` run from the installed collection, on its shipped scenarios
#      (extensions/molecule/<scenario>), with ANSIBLE_COLLECTIONS_PATH = that path + the venv's
#      collections (containers.podman, the driver's connection); several platforms run in
#      parallel, each with its own Molecule state and log, printed when it ends
#
# Usage: scripts/molecule.sh [molecule command, default: test] [extra molecule arguments...]
#   bash scripts/molecule.sh                 # destroy, syntax, create, converge, idempotence, verify, destroy
#   bash scripts/molecule.sh converge        # up to verify, keep the container for a look: then
#   bash scripts/molecule.sh login           #   a shell in it, and
#   bash scripts/molecule.sh destroy         #   clean up
#   SOCLE_MOLECULE_PLATFORM="debian12 debian13" bash scripts/molecule.sh    # both, in parallel
#
# Environment:
#   SOCLE_MOLECULE_SCENARIO   scenario (default: default)
#   SOCLE_MOLECULE_PLATFORM   platform(s) of the scenario, separated by spaces or commas (default:
#                             debian12; debian12 and debian13 are the images built here); "all"
#                             for every platform of molecule.yml in one Molecule run (their images
#                             must exist: SOCLE_IMAGE_<PLATFORM> names them)
#   SOCLE_MOLECULE_PARALLEL   1 (default): several platforms run at once; 0: one after the other
#   SOCLE_MOLECULE_PREFIX     put in front of the platforms' container names (default empty), so
#                             that checkouts sharing this machine's podman do not collide
#   SOCLE_MOLECULE_WORK       where the collection is installed and Molecule keeps its state
#                             (default /var/tmp/socle-molecule)
#   SOCLE_VENV, SOCLE_PYTHON  the venv (default, as root: /opt/socle/venv from /usr/bin/python3,
#                             the one scripts/test.sh makes, so CI builds it once)
#   SOCLE_DIST                build output (default dist/)
#   SOCLE_MOLECULE_WHEELS     folder of the temBoard agent's and console's wheels for the containers (default
#                             $SOCLE_MOLECULE_WORK/wheels, made here; "none": the index, from the containers)
#   SOCLE_MOLECULE_TARBALL    a collection tarball already built: installed as is, no build
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

log() { printf '[molecule %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root: the containers are rootful podman (see ../shared/ENVIRONMENT.md)"

scenario=${SOCLE_MOLECULE_SCENARIO:-default}
read -r -a platforms <<<"$(tr ',' ' ' <<<"${SOCLE_MOLECULE_PLATFORM:-debian12}")"
[ ${#platforms[@]} -gt 0 ] || die "SOCLE_MOLECULE_PLATFORM names no platform"
parallel=${SOCLE_MOLECULE_PARALLEL:-1}
export SOCLE_MOLECULE_PREFIX=${SOCLE_MOLECULE_PREFIX:-}
work=${SOCLE_MOLECULE_WORK:-/var/tmp/socle-molecule}
export SOCLE_VENV=${SOCLE_VENV:-/opt/socle/venv} SOCLE_PYTHON=${SOCLE_PYTHON:-/usr/bin/python3}
command=${1:-test}
[ $# -gt 0 ] && shift
if [ ${#platforms[@]} -gt 1 ] && [ "$command" = login ]; then die "login: name one platform"; fi

start=$SECONDS
# --- 1. podman and images (the systemd images of the platforms) ---------------------------------
bash scripts/podman-setup.sh "${platforms[@]}"

# --- 2. node_modules and venv ------------------------------------------------------------------
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
eval "$(bash scripts/venv.sh)"

# --- 2b. wheels of the temBoard agent for the containers ---------------------------------------
# The default scenario installs temboard-agent from PyPI (setup role, socle_temboard_agent), but
# containers here do not reach the index (its TLS is not trusted inside them): the wheels are
# downloaded on this host for the containers' Pythons (Debian 12: 3.11, 13: 3.13) and the converge
# copies them in (socle_temboard_agent_pip_extra_args: --no-index --find-links). Environment markers
# ("; python_version >= ...") are cut: pip would judge them by this host's Python, not the target's.
# Skipped, and the containers then use the index themselves, with SOCLE_MOLECULE_WHEELS=none.
if [ "${SOCLE_MOLECULE_WHEELS:-}" != none ]; then
    export SOCLE_MOLECULE_WHEELS=${SOCLE_MOLECULE_WHEELS:-$work/wheels}
    # A role's list of pins: pins <defaults file> <variable> (the venv's Python: PyYAML comes with Ansible).
    pins() { python3 -c 'import sys, yaml; print("\n".join(yaml.safe_load(open(sys.argv[1]))[sys.argv[2]]))' "$1" "$2"; }
    # Binary wheels for a container's Python: wheels <python version> <pip download arguments...>
    wheels() {
        local v=$1; shift
        python3 -m pip download -q --disable-pip-version-check --only-binary=:all: --python-version "$v" \
            --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 "$@" 2>/dev/null
    }
    mapfile -t tb_pkgs < <(pins roles/setup/defaults/main.yml socle_temboard_agent_packages)
    for v in 3.11 3.13; do
        wheels "$v" -d "$SOCLE_MOLECULE_WHEELS" "${tb_pkgs[@]%%;*}" \
            || { log "no temboard-agent wheels for Python $v (the containers will try the index)"; }
    done
    # powa-web's, for the reference scenario's supervision host (Debian 12: Python 3.11, this
    # host's own): powa-web requires psycopg2, which PyPI has as source only, so its wheel is
    # built here (the host's build tools and libpq, as scripts/powa-venv.sh needs them).
    if [ "$scenario" = reference ]; then
        mapfile -t powa_pkgs < <(pins roles/powa/defaults/main.yml socle_powa_web_packages)
        psycopg=$(printf '%s\n' "${powa_pkgs[@]}" | sed -n 's/^psycopg2-binary==/psycopg2==/p')
        { python3 -m pip wheel -q --disable-pip-version-check --no-deps -w "$SOCLE_MOLECULE_WHEELS" "${psycopg:-psycopg2}" \
          && wheels 3.11 --platform linux_x86_64 --find-links "$SOCLE_MOLECULE_WHEELS" -d "$SOCLE_MOLECULE_WHEELS" "${powa_pkgs[@]}"; } >/dev/null 2>&1 \
            || log "no powa-web wheels (the supervision host will try the index)"
    fi
    # The temBoard console's pins (roles/temboard_console, socle_temboard_console_packages), the
    # same way. temboard 9 wants SQLAlchemy < 2, and SQLAlchemy 1.4 has no wheel for Python 3.13:
    # there, the wheels of what Python 3.11 resolved are taken one by one, SQLAlchemy as its source
    # with what builds it (setuptools, wheel; pure Python where the container has no compiler).
    mapfile -t tc_pkgs < <(pins roles/temboard_console/defaults/main.yml socle_temboard_console_packages)
    tc_dir=$(mktemp -d)
    if wheels 3.11 -d "$tc_dir" "${tc_pkgs[@]%%;*}"; then
        cp "$tc_dir"/* "$SOCLE_MOLECULE_WHEELS"/
        if ! wheels 3.13 -d "$SOCLE_MOLECULE_WHEELS" "${tc_pkgs[@]%%;*}"; then
            # name==version of each wheel of 3.11's resolution (a wheel's name: name-version-tags.whl)
            mapfile -t tc_resolved < <(for f in "$tc_dir"/*.whl; do b=$(basename "$f"); r=${b#*-}; echo "${b%%-*}==${r%%-*}"; done)
            tc_sqla=$(printf '%s\n' "${tc_resolved[@]}" | grep -i '^sqlalchemy==' || true)
            mapfile -t tc_wheels < <(printf '%s\n' "${tc_resolved[@]}" | grep -vi '^sqlalchemy==')
            { wheels 3.13 --no-deps -d "$SOCLE_MOLECULE_WHEELS" "${tc_wheels[@]}" \
                && wheels 3.13 -d "$SOCLE_MOLECULE_WHEELS" setuptools wheel \
                && { [ -z "$tc_sqla" ] || python3 -m pip download -q --disable-pip-version-check --no-deps --no-binary=:all: \
                        -d "$SOCLE_MOLECULE_WHEELS" "$tc_sqla" 2>/dev/null; }; } \
                || log "no temboard console wheels for Python 3.13 (the containers will try the index)"
        fi
    else
        log "no temboard console wheels for Python 3.11 (the containers will try the index)"
    fi
    rm -rf "$tc_dir"
fi

# --- 3, 4. the tarball, installed as users install it ------------------------------------------
if [ -n "${SOCLE_MOLECULE_TARBALL:-}" ]; then
    # Built by the caller (scripts/quality.sh builds once for scenarios run in parallel).
    tarball=$SOCLE_MOLECULE_TARBALL
elif [ "$command" = test ] || [ "$command" = converge ] || [ "$command" = syntax ] || [ ! -d "$work/collections" ]; then
    log "building the collection"
    npm run --silent build
    dist=${SOCLE_DIST:-$ROOT/dist}
    tarball=$(ls "$dist"/socle-postgresql-*.tar.gz | head -n1)
fi
export ANSIBLE_COLLECTIONS_PATH="$work/collections:$SOCLE_VENV/collections"
if [ -n "${tarball:-}" ]; then
    rm -rf "$work/collections"
    mkdir -p "$work/collections"
    ansible-galaxy collection install "$tarball" -p "$work/collections" --force >/dev/null
    log "installed $(basename "$tarball") into $work/collections"
fi

# --- 5. molecule, from the installed collection ------------------------------------------------
collection="$work/collections/ansible_collections/socle/postgresql"
[ -f "$collection/extensions/molecule/$scenario/molecule.yml" ] \
    || die "no scenario $scenario in $collection/extensions/molecule"
cd "$collection"
# The installed collection has MANIFEST.json, not galaxy.yml: tell Molecule where its scenarios are.
export MOLECULE_GLOB='extensions/molecule/*/molecule.yml'
export ANSIBLE_FORCE_COLOR=${ANSIBLE_FORCE_COLOR:-0} PY_COLORS=${PY_COLORS:-0} ANSIBLE_NOCOLOR=${ANSIBLE_NOCOLOR:-1}

# One Molecule run for one platform ("all": every platform of molecule.yml at once). Its state
# (instance config, inventory) lives under $work, not in Molecule's default folder, which is named
# after the project folder ("postgresql") and so would be shared by every checkout, and by the
# platforms running in parallel here.
#
# Only `molecule test` can pick a platform (--platform-name, Molecule 26); `create` or `converge`
# would create every platform of molecule.yml. So `converge` runs `test --destroy never` on the
# platform (its container stays for `login`, `verify`, `destroy`), and the commands after it act
# on the instances Molecule created, which the platform's state knows.
run_platform() {
    local platform=$1; shift
    local cmd=$command args=(-s "$scenario")
    local one=()
    [ "$platform" = all ] || one=(--platform-name "$SOCLE_MOLECULE_PREFIX$platform")
    case "$command" in
        test) args+=("${one[@]}") ;;
        converge) cmd=test; args+=("${one[@]}" --destroy never) ;;
        create|prepare) [ "$platform" = all ] || die "$command: only for all platforms at once (use converge for one)" ;;
        login) args+=(--host "$SOCLE_MOLECULE_PREFIX$platform") ;;
    esac
    export MOLECULE_EPHEMERAL_DIRECTORY="$work/state/$scenario-$platform"
    mkdir -p "$MOLECULE_EPHEMERAL_DIRECTORY"
    log "molecule $cmd ${args[*]} $*"
    molecule "$cmd" "${args[@]}" "$@"
}

status=0
if [ ${#platforms[@]} -eq 1 ] || [ "$parallel" != 1 ]; then
    for platform in "${platforms[@]}"; do
        t=$SECONDS rc=0
        run_platform "$platform" "$@" || rc=$?
        [ "$rc" = 0 ] || status=$rc
        log "platform $platform: molecule $command exit $rc after $((SECONDS - t)) s"
    done
else
    # In parallel, each platform's output goes to its own log, printed whole once it is done
    # (interleaved lines of two playbooks would be unreadable).
    mkdir -p "$work/logs"
    declare -A pids=()
    for platform in "${platforms[@]}"; do
        rm -f "$work/logs/$platform.status"
        log "platform $platform: started, log in $work/logs/$platform.log"
        ( t=$SECONDS; rc=0
          run_platform "$platform" "$@" > "$work/logs/$platform.log" 2>&1 || rc=$?
          echo "$rc $((SECONDS - t))" > "$work/logs/$platform.status"
          exit "$rc" ) &
        pids[$platform]=$!
    done
    for platform in "${platforms[@]}"; do wait "${pids[$platform]}" || true; done
    for platform in "${platforms[@]}"; do
        read -r rc secs < "$work/logs/$platform.status" || { rc=1; secs=?; }
        printf '%s\n' "----- $platform (exit $rc, $secs s) -----"
        cat "$work/logs/$platform.log"
        [ "$rc" = 0 ] || status=$rc
    done
    for platform in "${platforms[@]}"; do
        read -r rc secs < "$work/logs/$platform.status" || { rc=1; secs=?; }
        log "platform $platform: molecule $command exit $rc after $secs s"
    done
fi
log "molecule $command (${platforms[*]}): exit $status after $((SECONDS - start)) s"
exit "$status"
