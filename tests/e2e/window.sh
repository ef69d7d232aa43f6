#!/usr/bin/env bash
# tests/e2e/window.sh: the native `ashley` window under Xvfb against the real ashley-proxy and a
# fake OpenAI upstream on loopback. Prebuilt paths may be passed in ASHLEY_APP_BIN,
# ASHLEY_PROXY_BIN and ASHLEY_FAKE_UPSTREAM_BIN; otherwise this builds them. Screenshots and
# logs go to tests/artifacts/window/. Ends with "N passed, M failed"; non-zero on failure.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

e2e_init window
e2e_need_apt Xvfb xvfb
e2e_need_apt import imagemagick
e2e_need_apt tesseract tesseract-ocr
e2e_need_apt xdotool xdotool
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
e2e_run_node_tests "${ASHLEY_E2E_TIMEOUT:-240}" window.test.mjs
