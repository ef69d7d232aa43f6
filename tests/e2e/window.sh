#!/usr/bin/env bash
# tests/e2e/window.sh: the native `ashley` window under Xvfb against the real ashley-proxy and a
# fake OpenAI upstream on loopback, read and driven through its accessibility tree (AT-SPI 2);
# then its sign-in through the loopback redirect, with a real OpenID Connect provider and headless
# Chromium as the system browser ($BROWSER, lib/desktop-browser.mjs).
# Prebuilt paths may be passed in ASHLEY_APP_BIN, ASHLEY_PROXY_BIN and ASHLEY_FAKE_UPSTREAM_BIN;
# otherwise this builds them. Screenshots and logs go to tests/artifacts/window/. Ends with
# "N passed, M failed"; non-zero on failure. Installs nothing: `make setup` does.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

e2e_init window
e2e_need_command Xvfb xvfb
e2e_need_command import imagemagick
e2e_need_command xdotool xdotool
e2e_need_command dbus-run-session dbus-daemon
e2e_need_command dbus-send dbus-bin
[ -x /usr/libexec/at-spi-bus-launcher ] || e2e_abort "AT-SPI is missing (Debian package at-spi2-core). Fix: make setup"
/usr/bin/python3 -c 'import gi; gi.require_version("Atspi", "2.0")' 2>/dev/null ||
    e2e_abort "the system python3 cannot load AT-SPI (Debian packages python3-gi gir1.2-atspi-2.0). Fix: make setup"
[ -x "${ASHLEY_CHROMIUM:-/usr/bin/chromium}" ] ||
    e2e_abort "chromium (the sign-in test's system browser) is missing. Fix: make setup (scripts/setup.sh test)"
e2e_need_node_modules
e2e_need_servers
if [ -z "${ASHLEY_APP_BIN:-}" ]; then
    started=$(date +%s)
    e2e_say "building the native app (cargo build -p ashley)"
    e2e_run cargo build --manifest-path "$REPO/Cargo.toml" -p ashley --bin ashley >&2 ||
        e2e_abort "cargo build -p ashley failed"
    e2e_say "app built in $(($(date +%s) - started)) s"
    ASHLEY_APP_BIN=$TARGET_DIR/debug/ashley
fi
[ -x "$ASHLEY_APP_BIN" ] || e2e_abort "ASHLEY_APP_BIN=$ASHLEY_APP_BIN is not an executable"
export ASHLEY_APP_BIN
e2e_say "app: $ASHLEY_APP_BIN"
e2e_say "proxy: $ASHLEY_PROXY_BIN"
e2e_say "fake upstream: $ASHLEY_FAKE_UPSTREAM_BIN"

# A private session bus (dbus-run-session ends it with the tests) with its own AT-SPI bus, and
# private runtime and config dirs, so nothing of the desktop this runs in (its bus, its screen
# reader settings) takes part. The tests switch accessibility on before starting the app.
mkdir -p "$RUN_DIR/xdg-runtime" "$RUN_DIR/xdg-config"
chmod 700 "$RUN_DIR/xdg-runtime"
unset NO_AT_BRIDGE AT_SPI_BUS_ADDRESS DBUS_SESSION_BUS_ADDRESS DISPLAY WAYLAND_DISPLAY
export XDG_RUNTIME_DIR=$RUN_DIR/xdg-runtime XDG_CONFIG_HOME=$RUN_DIR/xdg-config
E2E_WRAPPER=(dbus-run-session --)
e2e_run_node_tests "${ASHLEY_E2E_TIMEOUT:-240}" window.test.mjs window_sign_in.test.mjs
