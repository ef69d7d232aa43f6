# scripts/offline/debian-wasm.sh: the wasm32 route for build machines that cannot download
# rustup's wasm32 target (no internet to static.rust-lang.org): Debian's Rust 1.96 (rustc-web)
# builds std from its shipped sources. Sourced by scripts/setup.sh and scripts/lib.sh only when
# that route is chosen (`wasm_route` says `debian`); a machine with internet never reads it.
# shellcheck shell=bash

# The packages of the route, for setup.sh's apt-get list.
want_debian_wasm_packages() {
    want_apt "Rust 1.96 + std sources to build std for wasm32 offline" rustc-web cargo-web rust-web-src
    want_apt "clippy for the wasm32 build (Debian's Rust)" rust-web-clippy
    want_apt "rust-lld, the wasm32 linker of Debian's Rust" lld-22
}

# After apt-get: the route is complete, and Debian's rustc finds its linker.
check_debian_wasm_route() {
    [ -x /usr/bin/rustc ] && [ -d /usr/lib/rustlib/src/rust/library ] ||
        die "Debian's rustc-web is incomplete. Fix: apt-get install -y rustc-web cargo-web rust-web-src rust-web-clippy lld-22"
    # Debian's rustc links wasm32 with `rust-lld`, which lld-22 does not always put on PATH
    # (`linker rust-lld not found`); lld's multi-flavour binary is that linker.
    if ! PATH="$TOOLS_DIR/bin:/usr/bin:$PATH" command -v rust-lld >/dev/null 2>&1; then
        [ -x /usr/bin/lld-22 ] || die "no lld for wasm32 linking. Fix: apt-get install -y lld-22"
        ln -sfn /usr/bin/lld-22 "$TOOLS_DIR/bin/rust-lld"
        installed+=("rust-lld -> lld-22")
    fi
}

# Runs "$@" with Debian's cargo and rustc, building std from source. /usr/bin comes first so
# cargo and rustc are Debian's 1.96 (which ships the std sources); the tools dir stays in front
# of it for trunk, wasm-bindgen and wasm-opt.
debian_wasm_env() {
    PATH="$TOOLS_DIR/bin:/usr/bin:$PATH" RUSTC_BOOTSTRAP=1 CARGO_UNSTABLE_BUILD_STD=std,panic_abort "$@"
}

# cargo finds subcommands in ~/.cargo/bin before PATH, so `cargo clippy` would be rustup's clippy
# even with Debian's cargo first on PATH: Debian's clippy is called directly.
DEBIAN_WASM_CLIPPY=(/usr/bin/cargo-clippy clippy)
