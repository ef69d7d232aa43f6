#!/usr/bin/env bash
# scripts/bench.sh (`make bench`): every benchmark of the project and its figures: the proxy's
# gateway, the app's frame times, the web page's first load in headless Chromium, and the size
# of the web bundle. A benchmark whose file is not in the repository yet is listed as MISSING
# (never skipped silently); the run fails when a benchmark that exists fails.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-$([ -t 1 ] && echo always || echo never)}

"$ROOT/scripts/setup.sh" test
results=()
failed=0

# bench NAME FILE COMMAND...: runs COMMAND when FILE exists, records the outcome either way.
bench() {
    local name=$1 file=$2 started
    shift 2
    if [ ! -e "$file" ]; then
        results+=("$(printf '%-22s MISSING  (%s is not in the repository yet)' "$name" "$file")")
        warn "benchmark $name: $file is not in the repository yet, so it did not run"
        return 0
    fi
    step "bench: $name ($*)"
    started=$(now)
    if "$@"; then
        results+=("$(printf '%-22s ok       %5ss' "$name" "$(($(now) - started))")")
    else
        results+=("$(printf '%-22s FAILED   %5ss' "$name" "$(($(now) - started))")")
        failed=1
    fi
}

bench gateway proxy/benches/gateway.rs cargo bench --locked -p ashley-proxy --bench gateway
# Any further proxy benchmark (e.g. streams) runs too.
for file in proxy/benches/*.rs; do
    name=$(basename "$file" .rs)
    [ "$name" = gateway ] || [ ! -e "$file" ] || bench "$name" "$file" cargo bench --locked -p ashley-proxy --bench "$name"
done
bench frames tests/benches/frames.rs cargo bench --locked -p ashley --bench frames

# The page benchmark measures what `make run` serves: the release bundle and the release proxy.
"$ROOT/scripts/build-web.sh"
if [ -e tests/e2e/bench-web.sh ]; then
    step "building the release proxy and fake upstream for the page benchmark"
    cargo build --release --locked -p ashley-proxy -p ashley-fake-upstream
fi
find_cargo_target
ASHLEY_WEB_DIR=$ROOT/dist ASHLEY_PROXY_BIN=$ASHLEY_TARGET_DIR/release/ashley-proxy \
    ASHLEY_FAKE_UPSTREAM_BIN=$ASHLEY_TARGET_DIR/release/ashley-fake-upstream \
    bench web-first-load tests/e2e/bench-web.sh bash tests/e2e/bench-web.sh
bench wasm-size scripts/size.sh "$ROOT/scripts/size.sh"

printf '\n%smake bench summary%s\n' "$_bold" "$_off"
printf '  %s\n' "${results[@]}"
exit "$failed"
