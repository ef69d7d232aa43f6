#!/usr/bin/env bash
# tests/e2e/bench-web.sh: the web app's first load in headless Chromium from the real ashley-proxy
# on loopback: bytes over the wire and time to the first painted frame, against the targets
# (<= 1.2 MB, <= 1.0 s). Prebuilt paths may be passed in ASHLEY_PROXY_BIN and ASHLEY_WEB_DIR;
# ASHLEY_BENCH_RUNS sets the number of loads (default 5). Ends with "N passed, M failed".
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

e2e_init bench-web
[ -x "${ASHLEY_CHROMIUM:-/usr/bin/chromium}" ] ||
    e2e_abort "chromium is missing. Fix: make setup (scripts/setup.sh test)"
e2e_need_node_modules
e2e_need_proxy
e2e_need_web_bundle release
e2e_say "proxy: $ASHLEY_PROXY_BIN"
started=$(date +%s)
export ASHLEY_E2E_SUMMARY=$RUN_DIR/summary.txt
e2e_run env -C "$E2E_DIR" timeout --kill-after=10 "${ASHLEY_E2E_TIMEOUT:-240}" node bench-web.mjs
rc=$?
e2e_say "benchmark ran in $(($(date +%s) - started)) s; whole script $(($(date +%s) - E2E_STARTED)) s"
if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    echo "0 passed, 1 failed (timed out after ${ASHLEY_E2E_TIMEOUT:-240} s)"
elif [ -s "$ASHLEY_E2E_SUMMARY" ]; then
    cat "$ASHLEY_E2E_SUMMARY"
else
    echo "0 passed, 1 failed (the benchmark printed no summary; exit code $rc)"
    [ "$rc" = 0 ] && rc=1
fi
exit "$rc"
