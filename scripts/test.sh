#!/usr/bin/env bash
# scripts/test.sh: everything `make test` (and so CI) checks, in an order that reuses builds.
#
#   scripts/test.sh            all steps
#   scripts/test.sh STEP...    some of: fmt hadolint clippy rust clippy-wasm web e2e
#
# Runs every step even after a failure, so one run shows every problem; prints a table of
# steps, results and times at the end and exits non-zero when any step failed.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ALL_STEPS=(fmt hadolint clippy rust clippy-wasm web e2e)
STEPS=("$@")
[ ${#STEPS[@]} -gt 0 ] || STEPS=("${ALL_STEPS[@]}")

export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-$([ -t 1 ] && echo always || echo never)}
# Backtraces from tools (trunk) bury the one line that matters.
export RUST_BACKTRACE=${RUST_BACKTRACE:-0}

needs_group=desktop
for s in "${STEPS[@]}"; do
    case "$s" in
        fmt | clippy | rust) ;;
        clippy-wasm | web) [ "$needs_group" = test ] || needs_group=build ;;
        hadolint | e2e) needs_group="test" ;;
        *) die "unknown step '$s'. Steps: ${ALL_STEPS[*]}" ;;
    esac
done
# The Rust-only steps need nothing beyond Rust; the rest get what they need installed.
if [ "$needs_group" = desktop ]; then
    "$ROOT/scripts/setup.sh" desktop
else
    "$ROOT/scripts/setup.sh" "$needs_group"
fi

step_fmt() {
    # File names only: the diff of a whole unformatted file buries the rest of the log.
    cargo fmt --all --check -- --files-with-diff ||
        { echo "the files above need formatting. Fix: make fmt (cargo fmt --all)"; return 1; }
}

step_hadolint() {
    # Fails on warnings (info-level notes are shown, not fatal).
    hadolint --failure-threshold warning Dockerfile && echo "hadolint: Dockerfile clean"
}

step_clippy() {
    cargo clippy --locked --keep-going --workspace --all-targets -- -D warnings
}

step_rust() {
    # Inside `if`, bash ignores `set -e` in functions: every command reports its own failure.
    local rc=0
    # One build for every test binary; the e2e tests below reuse the binaries it leaves.
    if cargo nextest --version >/dev/null 2>&1; then
        cargo nextest run --locked --workspace --no-fail-fast --final-status-level fail || rc=1
    else
        warn "cargo-nextest is not installed; using cargo test (install: cargo install --locked cargo-nextest)"
        cargo test --locked --workspace --no-fail-fast || rc=1
    fi
    # nextest does not run doctests.
    cargo test --locked --workspace --doc || rc=1
    # The plain binaries for the e2e tests, with the same features as the test build (no rebuild).
    cargo build --locked --keep-going --workspace --bins --tests || rc=1
    return "$rc"
}

step_clippy_wasm() {
    local clippy=(cargo clippy)
    if [ "$(wasm_route)" = debian ]; then
        source "$ROOT/scripts/offline/debian-wasm.sh"
        clippy=("${DEBIAN_WASM_CLIPPY[@]}")
    fi
    # Only the app runs in the browser (its tests need native-only crates such as tokio's
    # multi-threaded runtime); the proxy's server side is native-only. The `testing` feature
    # (the browser tests' handle) is linted too.
    wasm_env "${clippy[@]}" --locked --keep-going --target "$WASM_TARGET" -p ashley --lib --bins \
        --features testing -- -D warnings
}

step_web() {
    local rc=0
    # The release bundle (what make run and the image serve) and the browser tests' bundle.
    "$ROOT/scripts/build-web.sh" release || rc=1
    "$ROOT/scripts/build-web.sh" e2e || rc=1
    [ "$rc" = 0 ] || return "$rc"
    # The test handle is only in the test bundle: the names the test bundle's wasm exports
    # beyond the release bundle's must appear nowhere in the release bundle.
    node "$ROOT/scripts/web-bundle.mjs" no-test-handle dist dist-e2e
}

step_e2e() {
    local script name rc=0 missing=()
    find_cargo_target
    # The debug builds from the `rust` step and the bundle from the `web` step: nothing is built
    # twice (browser.sh asks build-web.sh for dist-e2e/, which only checks that it is current).
    export ASHLEY_PROXY_BIN=${ASHLEY_PROXY_BIN:-$ASHLEY_TARGET_DIR/debug/ashley-proxy}
    export ASHLEY_FAKE_UPSTREAM_BIN=${ASHLEY_FAKE_UPSTREAM_BIN:-$ASHLEY_TARGET_DIR/debug/ashley-fake-upstream}
    export ASHLEY_APP_BIN=${ASHLEY_APP_BIN:-$ASHLEY_TARGET_DIR/debug/ashley}
    for name in browser window; do
        script=tests/e2e/$name.sh
        if [ ! -f "$script" ]; then
            missing+=("$script")
            continue
        fi
        step "end-to-end: $script"
        bash "$script" </dev/null || rc=1
    done
    if [ ${#missing[@]} -gt 0 ]; then
        warn "end-to-end scripts not in the repository yet, so not run: ${missing[*]}"
    fi
    return "$rc"
}

results=()
failed=0
total_started=$(now)
for s in "${STEPS[@]}"; do
    step "make test: $s"
    started=$(now)
    if "step_${s//-/_}"; then
        result=ok
    else
        result=FAILED
        failed=1
    fi
    results+=("$(printf '%-12s %-7s %5ss' "$s" "$result" "$(($(now) - started))")")
done

printf '\n%smake test summary%s\n' "$_bold" "$_off"
printf '  %s\n' "${results[@]}"
printf '  %-12s %-7s %5ss\n' total "$([ $failed = 0 ] && echo ok || echo FAILED)" "$(($(now) - total_started))"
exit "$failed"
