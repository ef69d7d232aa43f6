# tests/e2e/lib/common.sh: what browser.sh, window.sh and bench-web.sh share (sourced, never run):
# a run directory, cleanup of exactly the processes a run started, the build of what the tests
# need (unless the caller passes prebuilt paths), and the final "N passed, M failed" line.
# shellcheck shell=bash

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO=$(cd "$E2E_DIR/../.." && pwd)

# The project's tool directory (wasm-bindgen, wasm-opt, trunk) first on PATH, and where cargo
# builds (ASHLEY_TARGET_DIR: cargo is asked, so CARGO_TARGET_DIR is honoured).
# shellcheck source=/dev/null
. "$REPO/scripts/lib.sh"
find_cargo_target
TARGET_DIR=$ASHLEY_TARGET_DIR

# The recognizable fake OpenAI key the proxy gets in these tests; the tests assert it never
# reaches the page, a log line or the bundle (the bundle built here is built with it in the env).
export ASHLEY_E2E_FAKE_KEY=${ASHLEY_E2E_FAKE_KEY:-sk-ashley-e2e-NEVER-LEAK-7f3a9c1e5b}

e2e_say() { printf '[%s] %s\n' "$E2E_NAME" "$*" >&2; }
e2e_loud() { printf '\n[%s] !!! %s\n\n' "$E2E_NAME" "$*" >&2; }

# Prints the summary line for a run that could not get as far as its tests, and stops.
e2e_abort() {
    e2e_say "error: $*"
    echo "0 passed, 1 failed ($*)"
    exit 1
}

# e2e_init NAME: the artifacts folder (emptied), a private run directory, the pid file the
# tests append to, and the exit trap that ends those processes.
e2e_init() {
    E2E_NAME=$1
    E2E_STARTED=$(date +%s)
    ARTIFACTS=$REPO/tests/artifacts/$E2E_NAME
    rm -rf "$ARTIFACTS"
    mkdir -p "$ARTIFACTS"
    RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ashley-e2e-$E2E_NAME.XXXXXX")
    export ASHLEY_E2E_PIDFILE=$RUN_DIR/pids
    export ASHLEY_E2E_RUN_DIR=$RUN_DIR
    export ASHLEY_E2E_ARTIFACTS=$ARTIFACTS
    : >"$ASHLEY_E2E_PIDFILE"
    trap e2e_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# Ends every process this run recorded (by pid, TERM first, KILL after a grace period) and
# keeps the logs next to the screenshots.
e2e_cleanup() {
    local pid alive=() deadline
    while read -r pid; do
        [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && alive+=("$pid")
    done <"$ASHLEY_E2E_PIDFILE"
    if [ "${#alive[@]}" -gt 0 ]; then
        kill -TERM "${alive[@]}" 2>/dev/null
        deadline=$(($(date +%s) + 5))
        for pid in "${alive[@]}"; do
            while kill -0 "$pid" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do
                sleep 0.1
            done
            kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
        done
    fi
    if [ -d "$RUN_DIR/logs" ]; then
        mkdir -p "$ARTIFACTS/logs"
        cp -r "$RUN_DIR/logs/." "$ARTIFACTS/logs/" 2>/dev/null
    fi
    rm -rf "$RUN_DIR"
}

# Runs "$@" in the background, records its pid for the cleanup trap and waits for it: bash
# runs a trap only once a foreground command ends, but interrupts `wait` at once, so Ctrl-C or
# a TERM from make stops the run promptly. Returns the command's exit code.
e2e_run() {
    "$@" &
    local pid=$!
    echo "$pid" >>"$ASHLEY_E2E_PIDFILE"
    wait "$pid"
}

# Stops the run when a command the tests need is missing: set-up installs everything, the tests
# install nothing (e2e_need_command COMMAND PACKAGE).
e2e_need_command() {
    have "$1" || e2e_abort "'$1' is missing (Debian package $2). Fix: make setup (scripts/setup.sh test)"
}

# playwright-core, exactly as package-lock.json pins it (set-up runs npm ci).
e2e_need_node_modules() {
    e2e_need_command node nodejs
    local installed=$E2E_DIR/node_modules/.package-lock.json
    if [ ! -f "$installed" ] || [ "$E2E_DIR/package-lock.json" -nt "$installed" ]; then
        e2e_abort "tests/e2e/node_modules is missing or older than package-lock.json. Fix: make setup (scripts/setup.sh test)"
    fi
}

# ASHLEY_PROXY_BIN and ASHLEY_FAKE_UPSTREAM_BIN, built in release mode unless the caller gave them.
e2e_need_servers() {
    if [ -n "${ASHLEY_PROXY_BIN:-}" ] && [ -n "${ASHLEY_FAKE_UPSTREAM_BIN:-}" ]; then
        :
    else
        local started
        started=$(date +%s)
        e2e_say "building ashley-proxy and ashley-fake-upstream (cargo build --release)"
        e2e_run cargo build --manifest-path "$REPO/Cargo.toml" --release -p ashley-proxy -p ashley-fake-upstream >&2 ||
            e2e_abort "cargo build --release -p ashley-proxy -p ashley-fake-upstream failed"
        e2e_say "servers built in $(($(date +%s) - started)) s"
        ASHLEY_PROXY_BIN=${ASHLEY_PROXY_BIN:-$TARGET_DIR/release/ashley-proxy}
        ASHLEY_FAKE_UPSTREAM_BIN=${ASHLEY_FAKE_UPSTREAM_BIN:-$TARGET_DIR/release/ashley-fake-upstream}
    fi
    [ -x "$ASHLEY_PROXY_BIN" ] || e2e_abort "ASHLEY_PROXY_BIN=$ASHLEY_PROXY_BIN is not an executable"
    [ -x "$ASHLEY_FAKE_UPSTREAM_BIN" ] ||
        e2e_abort "ASHLEY_FAKE_UPSTREAM_BIN=$ASHLEY_FAKE_UPSTREAM_BIN is not an executable"
    export ASHLEY_PROXY_BIN ASHLEY_FAKE_UPSTREAM_BIN
}

# e2e_need_web_bundle release|e2e: ASHLEY_WEB_DIR, the web bundle, unless the caller gave one:
# `e2e` is the browser tests' bundle with the app's test handle (dist-e2e/), `release` what
# `make run` serves (dist/). scripts/build-web.sh builds it, with the fake key in
# OPENAI_API_KEY (a build that baked it in would be caught); unchanged, that takes seconds.
e2e_need_web_bundle() {
    local variant=$1
    if [ -z "${ASHLEY_WEB_DIR:-}" ]; then
        local started
        started=$(date +%s)
        e2e_say "the $variant web bundle (scripts/build-web.sh $variant), with the fake key in OPENAI_API_KEY"
        OPENAI_API_KEY=$ASHLEY_E2E_FAKE_KEY e2e_run "$REPO/scripts/build-web.sh" "$variant" >&2 ||
            e2e_abort "scripts/build-web.sh $variant failed"
        e2e_say "web bundle ready in $(($(date +%s) - started)) s"
        ASHLEY_WEB_DIR=$REPO/$([ "$variant" = e2e ] && echo dist-e2e || echo dist)
    fi
    [ -f "$ASHLEY_WEB_DIR/index.html" ] || e2e_abort "ASHLEY_WEB_DIR=$ASHLEY_WEB_DIR has no index.html"
    # Serve a checked private copy: another build may rewrite dist/ while the tests run.
    local attempt snapshot=$RUN_DIR/web
    for attempt in $(seq 20); do
        node "$E2E_DIR/lib/snapshot-bundle.mjs" "$ASHLEY_WEB_DIR" "$snapshot" && break
        [ "$attempt" = 20 ] && e2e_abort "the web bundle in $ASHLEY_WEB_DIR stayed incomplete for 60 s"
        sleep 3
    done
    e2e_say "web bundle: $ASHLEY_WEB_DIR (serving a checked copy)"
    ASHLEY_WEB_DIR=$snapshot
    export ASHLEY_WEB_DIR
}

# ASHLEY_PROXY_BIN alone (the benchmark needs no upstream), built in release mode unless given.
e2e_need_proxy() {
    if [ -z "${ASHLEY_PROXY_BIN:-}" ]; then
        local started
        started=$(date +%s)
        e2e_say "building ashley-proxy (cargo build --release -p ashley-proxy)"
        e2e_run cargo build --manifest-path "$REPO/Cargo.toml" --release -p ashley-proxy >&2 ||
            e2e_abort "cargo build --release -p ashley-proxy failed"
        e2e_say "proxy built in $(($(date +%s) - started)) s"
        ASHLEY_PROXY_BIN=$TARGET_DIR/release/ashley-proxy
    fi
    [ -x "$ASHLEY_PROXY_BIN" ] || e2e_abort "ASHLEY_PROXY_BIN=$ASHLEY_PROXY_BIN is not an executable"
    export ASHLEY_PROXY_BIN
}

E2E_WRAPPER=()

# e2e_run_node_tests SECONDS FILE...: the node:test files, bounded in time, with the spec
# reporter for people; the summary reporter's "N passed, M failed" is printed last.
e2e_run_node_tests() {
    local budget=$1 rc started summary=$RUN_DIR/summary.txt
    shift
    started=$(date +%s)
    mkdir -p "$RUN_DIR/logs"
    # E2E_WRAPPER (window.sh: dbus-run-session --) runs inside the time limit, so a timeout ends
    # it and everything it started (timeout signals its whole process group).
    e2e_run env -C "$E2E_DIR" timeout --kill-after=10 "$budget" "${E2E_WRAPPER[@]}" node --test --test-concurrency=1 \
        --test-reporter=spec --test-reporter-destination=stdout \
        --test-reporter=./lib/summary-reporter.mjs --test-reporter-destination="$summary" \
        "$@"
    rc=$?
    e2e_say "tests ran in $(($(date +%s) - started)) s; whole script $(($(date +%s) - E2E_STARTED)) s"
    e2e_say "screenshots and logs: $ARTIFACTS"
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        e2e_say "the tests did not finish within $budget s and were stopped"
        echo "0 passed, 1 failed (timed out after $budget s)"
    elif [ -s "$summary" ]; then
        sed '/^$/d' "$summary"
    else
        echo "0 passed, 1 failed (the test runner printed no summary; exit code $rc)"
        [ "$rc" = 0 ] && rc=1
    fi
    return "$rc"
}
