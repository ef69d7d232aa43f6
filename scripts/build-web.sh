#!/usr/bin/env bash
# scripts/build-web.sh (`make web`): builds the web bundle with trunk, then precompresses it.
#
#   scripts/build-web.sh           the release bundle in dist/: what `make run`, `make build` and
#                                  the Docker image serve (profile wasm-release, wasm-opt -O2)
#   scripts/build-web.sh e2e       the browser tests' bundle in dist-e2e/: the `testing` feature
#                                  (the app's wasm test handle) on, dev profile, no wasm-opt
#
# When nothing changed it only checks and returns in a few seconds: cargo builds the wasm first
# (rebuilding only what changed), and when that wasm, index.html, Trunk.toml, assets/, these
# scripts and the tool versions are what the bundle in the output dir was made from, trunk's
# wasm-bindgen and wasm-opt (about 50 s) are skipped. ASHLEY_DIST_DIR overrides the output dir;
# ASHLEY_WEB_REBUILD=1 runs trunk anyway.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

variant=${1:-release}
case "$variant" in
    release)
        dist=${ASHLEY_DIST_DIR:-dist}
        # index.html picks the profile for --release (data-cargo-profile-release="wasm-release").
        trunk_args=(--release)
        cargo_args=(--profile wasm-release)
        ;;
    e2e)
        dist=${ASHLEY_DIST_DIR:-dist-e2e}
        # The dev profile (dependencies optimised, see Cargo.toml) and no wasm-opt: the bundle
        # is bigger and slower to load, which the browser tests do not measure, and it builds in
        # a fraction of the release bundle's time.
        trunk_args=(--features testing)
        cargo_args=(--features testing)
        ;;
    *) die "unknown bundle '$variant'. Use: scripts/build-web.sh [release|e2e]" ;;
esac
"$ROOT/scripts/setup.sh" build
find_cargo_target

# Two trunk builds at once (say `make run` while `make test` builds) share trunk's staging
# directory and leave a broken bundle: one waits for the other.
mkdir -p "$ASHLEY_TARGET_DIR/web-stamps"
exec 8>"$ASHLEY_TARGET_DIR/.web-build.lock"
if ! flock -n 8; then
    step "waiting for another web build in this clone to finish"
    flock 8
fi
started=$(now)

# The same cargo command trunk runs (so trunk's own run is then a no-op for cargo); its JSON
# messages name the wasm it produced.
step "building the app for wasm32 ($variant bundle; wasm32 route: $(wasm_route))"
messages=$(wasm_env cargo build --target=wasm32-unknown-unknown --manifest-path "$ROOT/Cargo.toml" \
    "${cargo_args[@]}" --offline --bin ashley --message-format=json-render-diagnostics) ||
    die "cargo build for wasm32 failed (the errors are above)"
wasm_in=$(grep -o '"[^"]*/ashley\.wasm"' <<<"$messages" | tail -n1 | tr -d '"')
[ -f "$wasm_in" ] || die "cargo did not report the ashley.wasm it built"

# Everything besides the cargo output that goes into the bundle, and the tools that make it.
inputs_hash() {
    {
        printf 'variant %s trunk %s\n' "$variant" "${trunk_args[*]}"
        printf 'trunk %s wasm-bindgen %s binaryen %s route %s\n' "$TRUNK_VERSION" \
            "$(wasm_bindgen_lock_version)" "$BINARYEN_VERSION" "$(wasm_route)"
        sha256sum "$wasm_in" index.html Trunk.toml scripts/build-web.sh scripts/web-bundle.mjs
        find assets -type f -print0 | sort -z | xargs -0 sha256sum
    } | sha256sum | cut -d' ' -f1
}
# The output dir as it was left: a bundle changed or removed since is rebuilt.
dist_listing() {
    [ -d "$dist" ] && find "$dist" -type f -printf '%P %s %T@\n' | sort
}
stamp=$ASHLEY_TARGET_DIR/web-stamps/$(realpath -m "$dist" | sha256sum | cut -c1-16)
inputs=$(inputs_hash)
if [ -z "${ASHLEY_WEB_REBUILD:-}" ] && [ -f "$dist/index.html" ] && [ -f "$stamp" ] &&
    [ "$(cat "$stamp")" = "$(printf '%s\n%s' "$inputs" "$(dist_listing)")" ]; then
    printf 'web bundle: %s/ is up to date (nothing it is built from changed; %ss)\n' "$dist" "$(($(now) - started))" >&2
    exit 0
fi

step "building the web bundle into $dist/ (trunk build ${trunk_args[*]})"
rm -f "$stamp"
# Offline: every tool trunk needs is on PATH, so it must never try to download one.
wasm_env env TRUNK_OFFLINE=true RUST_BACKTRACE=0 trunk --color never build "${trunk_args[@]}" --dist "$dist"
wasm=$(find "$dist" -maxdepth 1 -name '*.wasm' -newer "$ASHLEY_TARGET_DIR/.web-build.lock" | head -n1)
[ -n "$wasm" ] || die "trunk finished without a new .wasm in $dist/"
[ "$(head -c 4 "$wasm" | od -An -c | tr -d ' ')" = '\0asm' ] ||
    die "$wasm is not a WebAssembly module (was another build writing to $dist/ at the same time?)"
# The proxy serves these .br/.gz files as they are to browsers that accept them. The test bundle
# is served uncompressed (brotli 11 on its unoptimised wasm would take longer than its build).
[ "$variant" = e2e ] || node "$ROOT/scripts/web-bundle.mjs" precompress "$dist"
printf '%s\n%s' "$inputs" "$(dist_listing)" >"$stamp"
printf 'web bundle: %s/ (%s: %s bytes) in %ss\n' "$dist" "$(basename "$wasm")" "$(stat -c %s "$wasm")" "$(($(now) - started))" >&2
