#!/usr/bin/env bash
# Runs a command (the test suite) with what the docker and local sandbox tests need: bubblewrap, a dockerd and the
# sandbox image turngym-sandbox:latest.
#
#   bash scripts/test_services.sh python -m pytest
#
# As root: installs docker.io, mmdebstrap, bubblewrap, python3 and chromium (the GUI envs' browser) when missing (apt-get); uses a dockerd that already
# answers (DOCKER_HOST or the default socket) or starts one of its own in a temp dir (no bridge, no iptables:
# containers run with no network); builds the image (mmdebstrap rootfs + docker import; no registry) unless it exists.
# Without root, or where a piece cannot be installed or started, it prints one line saying what it could not provide
# and runs the command anyway: the tests that need a missing piece skip and say what to install. A dockerd that is
# installed but does not start, or an image build that fails, is reported with the end of its log, and DOCKER_HOST
# stays pointed at it so that the docker tests fail with the reason instead of skipping.
#
# What it started is stopped on exit (also on INT/TERM), its temp dirs unmounted and removed; the exit status is the
# command's.
set -euo pipefail

if [ $# -eq 0 ]; then
    echo "usage: bash scripts/test_services.sh COMMAND [ARG...]   (e.g. python -m pytest)" >&2
    exit 2
fi

IMAGE=turngym-sandbox:latest
DOCKERD_WAIT_S=60
dockerd_dir=""
image_dir=""
dockerd_pid=""
build_pid=""
apt_log=""
unavailable=()  # what could not be provided, one phrase each

log() { echo "[test-services] $*" >&2; }

remove_dir() {
    # mounts left under it (dockerd's overlays, a killed mmdebstrap's /proc), deepest first; then the files
    awk -v dir="$1" 'index($2, dir) == 1 {print $2}' /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$1" || true
}

stop_process() {  # $1: pid, $2: "group" to signal its whole process group
    local target=$1
    [ "${2:-}" = group ] && target="-$1"
    kill -0 "$1" 2>/dev/null || return 0
    kill -TERM -- "$target" 2>/dev/null || true
    for _ in $(seq 1 30); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.5
    done
    kill -KILL -- "$target" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

stop_dockerd() {
    [ -n "$dockerd_pid" ] || return 0
    ! kill -0 "$dockerd_pid" 2>/dev/null || log "stopping dockerd (pid $dockerd_pid)"
    stop_process "$dockerd_pid"
    dockerd_pid=""
}

cleanup() {
    local status=$?
    [ -z "$build_pid" ] || stop_process "$build_pid" group
    stop_dockerd
    [ -z "$dockerd_dir" ] || remove_dir "$dockerd_dir"
    [ -z "$image_dir" ] || remove_dir "$image_dir"
    [ -z "$apt_log" ] || rm -f "$apt_log"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

is_root() { [ "$(id -u)" -eq 0 ]; }

missing_packages() {  # the Debian packages of the pieces that are not here, space-separated
    local missing=()
    command -v dockerd >/dev/null && command -v docker >/dev/null || missing+=(docker.io)
    command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
    command -v bwrap >/dev/null || missing+=(bubblewrap)
    [ -x /usr/bin/python3 ] || missing+=(python3)
    command -v chromium >/dev/null || missing+=(chromium)
    echo "${missing[*]}"
}

install_system_packages() {
    local missing
    missing=$(missing_packages)
    [ -n "$missing" ] || return 0
    if ! is_root; then
        unavailable+=("$missing (not root: apt-get install needs root)")
        return 0
    fi
    log "installing $missing"
    export DEBIAN_FRONTEND=noninteractive
    apt_log=$(mktemp "${TMPDIR:-/tmp}/turngym-apt.XXXXXX")
    # shellcheck disable=SC2086 # one word per package
    if ! { apt-get update -qq && apt-get install -y -qq $missing; } >"$apt_log" 2>&1; then
        log "apt-get failed; the end of its output:"
        tail -n 15 "$apt_log" >&2 || true
    fi
    rm -f "$apt_log"
    apt_log=""
    missing=$(missing_packages)
    [ -z "$missing" ] || unavailable+=("$missing (apt-get install failed)")
}

docker_answers() { timeout 10 docker info >/dev/null 2>&1; }

ensure_dockerd() {
    if ! command -v docker >/dev/null || ! command -v dockerd >/dev/null; then
        return 0  # reported by install_system_packages
    fi
    if [ -n "${DOCKER_HOST:-}" ] && docker_answers; then
        log "using the running dockerd at DOCKER_HOST=$DOCKER_HOST"
        return 0
    fi
    if [ -z "${DOCKER_HOST:-}" ] && docker_answers; then
        export DOCKER_HOST=unix:///var/run/docker.sock
        log "using the running dockerd at $DOCKER_HOST"
        return 0
    fi
    if ! is_root; then
        unavailable+=("a running dockerd (not root: cannot start one, so start one or set DOCKER_HOST)")
        return 0
    fi
    dockerd_dir=$(mktemp -d "${TMPDIR:-/tmp}/turngym-docker.XXXXXX")
    export DOCKER_HOST="unix://$dockerd_dir/docker.sock"
    log "starting dockerd at DOCKER_HOST=$DOCKER_HOST (log: $dockerd_dir/dockerd.log)"
    dockerd --bridge=none --iptables=false --ip6tables=false \
        --data-root "$dockerd_dir/data" --exec-root "$dockerd_dir/exec" --pidfile "$dockerd_dir/dockerd.pid" \
        -H "$DOCKER_HOST" >"$dockerd_dir/dockerd.log" 2>&1 &
    dockerd_pid=$!
    local waited=0
    until docker_answers; do
        if ! kill -0 "$dockerd_pid" 2>/dev/null || [ "$waited" -ge "$DOCKERD_WAIT_S" ]; then
            log "dockerd did not answer within ${waited} s (or exited); the end of its log:"
            tail -n 30 "$dockerd_dir/dockerd.log" >&2 || true
            stop_dockerd
            unavailable+=("a running dockerd (it did not start; the docker tests fail at DOCKER_HOST=$DOCKER_HOST)")
            return 0
        fi
        sleep 1
        waited=$((waited + 1))
    done
    log "dockerd is up after ${waited} s"
}

ensure_image() {
    [ -n "${DOCKER_HOST:-}" ] && docker_answers || return 0
    if docker image inspect "$IMAGE" >/dev/null 2>&1; then
        log "$IMAGE exists"
        return 0
    fi
    if ! command -v mmdebstrap >/dev/null; then
        unavailable+=("the image $IMAGE (no mmdebstrap to build it)")
        return 0
    fi
    # The host's own Debian suite, so that its apt sources serve it; bookworm elsewhere.
    local suite
    suite=$( (. /etc/os-release && [ "${ID:-}" = debian ] && echo "${VERSION_CODENAME:-}") 2>/dev/null || true)
    suite=${TURNGYM_SANDBOX_SUITE:-${suite:-bookworm}}
    image_dir=$(mktemp -d "${TMPDIR:-/tmp}/turngym-image.XXXXXX")
    log "building $IMAGE: mmdebstrap $suite with python3, then docker import"
    # In the background in a process group of its own, so that INT/TERM reach the cleanup at once and it can stop
    # the whole build; its temp files go under image_dir.
    TMPDIR="$image_dir" setsid mmdebstrap --quiet --variant=essential --include=python3 "$suite" "$image_dir/rootfs.tar" \
        >"$image_dir/mmdebstrap.log" 2>&1 &
    build_pid=$!
    if ! wait "$build_pid"; then
        build_pid=""
        log "mmdebstrap failed; the end of its output:"
        tail -n 30 "$image_dir/mmdebstrap.log" >&2 || true
        unavailable+=("the image $IMAGE (mmdebstrap failed; the docker tests fail naming it)")
    else
        build_pid=""
        if docker import "$image_dir/rootfs.tar" "$IMAGE" >/dev/null; then
            log "built $IMAGE"
        else
            unavailable+=("the image $IMAGE (docker import failed; the docker tests fail naming it)")
        fi
    fi
    remove_dir "$image_dir"
    image_dir=""
}

install_system_packages
ensure_dockerd
ensure_image
if [ ${#unavailable[@]} -gt 0 ]; then
    joined=""
    for item in "${unavailable[@]}"; do joined+="${joined:+; }$item"; done
    log "could not provide: $joined. The tests that need them skip, or fail saying why"
fi

log "running: $*"
status=0
"$@" || status=$?
exit "$status"
