# scripts/lib.sh: settings and small functions shared by Ashley's scripts (sourced, never run).
# shellcheck shell=bash disable=SC2034 # its variables are read by the scripts that source it

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Tools the project installs itself (wasm-bindgen, wasm-opt, playwright-core, hadolint, and trunk
# when it is not already installed) live outside the clone, so every clone and every CI run on
# this machine shares one copy instead of reinstalling.
TOOLS_DIR=${ASHLEY_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ashley-tools}
TRUNK_VERSION=0.21.14
# Debian's binaryen (108) writes modules the browser rejects (`WebAssembly.Table.set(): Argument 1
# is invalid`); npm's build of 132 works.
BINARYEN_VERSION=132
WASM_TARGET=wasm32-unknown-unknown
WASM_ROUTE_FILE=$TOOLS_DIR/wasm-route

export PATH="$TOOLS_DIR/bin:$HOME/.cargo/bin:$PATH"
export NODE_PATH="$TOOLS_DIR/node_modules${NODE_PATH:+:$NODE_PATH}"
export ASHLEY_TOOLS_DIR=$TOOLS_DIR

# A one-off build (CI, a fresh clone) gains nothing from incremental compilation, which keeps a
# second copy of every crate's intermediate state (3 GB of a 10 GB target/ here): off under CI.
if [ "${CI:-}" = true ]; then
    export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
fi

if [ -t 2 ]; then
    _bold=$'\033[1m' _blue=$'\033[1;34m' _red=$'\033[1;31m' _yellow=$'\033[1;33m' _off=$'\033[0m'
else
    _bold='' _blue='' _red='' _yellow='' _off=''
fi

# A step heading: what is happening now.
step() { printf '%s==> %s%s\n' "$_blue" "$*" "$_off" >&2; }
# Something the user should notice but that does not stop the run.
warn() { printf '%swarning:%s %s\n' "$_yellow" "$_off" "$*" >&2; }
# Stop with what is missing and the command that fixes it.
die() { printf '%serror:%s %s\n' "$_red" "$_off" "$*" >&2; exit 1; }

have() { command -v "$1" >/dev/null 2>&1; }

# The wasm-bindgen version pinned in Cargo.lock: the CLI must match it exactly.
wasm_bindgen_lock_version() {
    awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock"
}

# How wasm32 is built on this machine: `rustup` (the rustup target is installed) or `debian`
# (Debian's rustc-web with std built from source, for machines that cannot download rustup's
# target; scripts/offline/debian-wasm.sh). Written by `setup.sh build`.
wasm_route() {
    cat "$WASM_ROUTE_FILE" 2>/dev/null || echo unknown
}

# Where cargo builds: target/ in the clone unless CARGO_TARGET_DIR or a cargo config says
# otherwise, so cargo itself is asked. Sets (and exports, for the scripts this one starts)
# ASHLEY_TARGET_DIR; call it before using $ASHLEY_TARGET_DIR. Plain sed: the Docker build stage
# has no python.
find_cargo_target() {
    [ -z "${ASHLEY_TARGET_DIR:-}" ] || return 0
    local metadata
    metadata=$(cargo metadata --format-version 1 --no-deps --manifest-path "$ROOT/Cargo.toml") ||
        die "cargo metadata failed, so the scripts cannot tell where cargo builds. Fix: run 'cargo metadata --no-deps' in $ROOT and see why"
    ASHLEY_TARGET_DIR=$(sed -n 's/.*"target_directory":"\([^"\\]*\)".*/\1/p' <<<"$metadata")
    [ -n "$ASHLEY_TARGET_DIR" ] ||
        die "cannot read target_directory from cargo metadata (a path with quotes or backslashes?)"
    export ASHLEY_TARGET_DIR
}

# Runs a command (cargo, trunk) in the environment the wasm32 build needs. The wasm build may use
# another rustc (Debian's rustc-web) than the native one; its own target directory keeps the two
# from invalidating each other's artifacts.
wasm_env() {
    find_cargo_target
    local dir=${ASHLEY_WASM_TARGET_DIR:-$ASHLEY_TARGET_DIR/wasm}
    case "$(wasm_route)" in
        rustup) CARGO_TARGET_DIR=$dir "$@" ;;
        debian)
            source "$ROOT/scripts/offline/debian-wasm.sh"
            CARGO_TARGET_DIR=$dir debian_wasm_env "$@"
            ;;
        *) die "the wasm32 toolchain is not set up. Fix: make setup (or scripts/setup.sh build)" ;;
    esac
}

# Runs a command with `sudo` unless we already are root.
as_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif have sudo; then
        sudo "$@"
    else
        die "installing system packages needs root. Fix: run 'apt-get install $*' as root, or install sudo"
    fi
}

# Seconds since the epoch, for the timings each script prints.
now() { date +%s; }

# True when an Ashley proxy answers `GET /healthz` with 200 on HOST PORT. Plain bash (/dev/tcp),
# so it needs no curl: the Docker image's HEALTHCHECK uses the same probe (scripts/healthcheck.sh).
probe_healthz() {
    timeout 3 bash -c '
        exec 3<>"/dev/tcp/$0/$1" || exit 1
        printf "GET /healthz HTTP/1.0\r\nHost: %s\r\n\r\n" "$0" >&3
        IFS= read -r status_line <&3
        case "$status_line" in "HTTP/"*" 200"*) exit 0 ;; *) exit 1 ;; esac
    ' "$1" "$2" 2>/dev/null
}
