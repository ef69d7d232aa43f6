#!/usr/bin/env bash
# scripts/build-web.sh (`make web`): builds the web bundle with trunk (release, wasm-opt on) into
# dist/ (ASHLEY_DIST_DIR overrides), then precompresses it. Extra arguments go to `trunk build`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
dist=${ASHLEY_DIST_DIR:-dist}
"$ROOT/scripts/setup.sh" build
# Two trunk builds at once (say `make run` while `make test` builds) share trunk's staging
# directory and leave a broken bundle: one waits for the other.
mkdir -p "$ROOT/target"
exec 8>"$ROOT/target/.web-build.lock"
if ! flock -n 8; then
    step "waiting for another web build in this clone to finish"
    flock 8
fi
step "building the web bundle into $dist/ (trunk build --release; wasm32 route: $(wasm_route))"
started=$(now)
# Offline: every tool trunk needs is on PATH, so it must never try to download one.
wasm_env env TRUNK_OFFLINE=true RUST_BACKTRACE=0 trunk --color never build --release --dist "$dist" "$@"
wasm=$(find "$dist" -maxdepth 1 -name '*.wasm' -newer "$ROOT/target/.web-build.lock" | head -n1)
[ -n "$wasm" ] || die "trunk finished without a new .wasm in $dist/"
[ "$(head -c 4 "$wasm" | od -An -c | tr -d ' ')" = '\0asm' ] ||
    die "$wasm is not a WebAssembly module (was another build writing to $dist/ at the same time?)"
# The proxy serves these .br/.gz files as they are to browsers that accept them.
node "$ROOT/scripts/web-bundle.mjs" precompress "$dist"
printf 'web bundle: %s/ (%s: %s bytes) in %ss\n' "$dist" "$(basename "$wasm")" "$(stat -c %s "$wasm")" "$(($(now) - started))" >&2
