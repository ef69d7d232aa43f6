#!/usr/bin/env bash
# tests/e2e/browser.sh: the served web app in headless Chromium against the real ashley-proxy and
# a fake OpenAI upstream on loopback. Prebuilt paths may be passed in ASHLEY_PROXY_BIN,
# ASHLEY_FAKE_UPSTREAM_BIN and ASHLEY_WEB_DIR (a bundle with the test handle: dist-e2e/);
# otherwise this builds them. Screenshots and logs go to tests/artifacts/browser/. Ends with
# "N passed, M failed"; non-zero on failure. Installs nothing: `make setup` does.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

e2e_init browser
[ -x "${ASHLEY_CHROMIUM:-/usr/bin/chromium}" ] ||
    e2e_abort "chromium is missing. Fix: make setup (scripts/setup.sh test)"
e2e_need_command tesseract tesseract-ocr
e2e_need_command convert imagemagick
e2e_need_node_modules
e2e_need_servers
e2e_need_web_bundle e2e
e2e_say "proxy: $ASHLEY_PROXY_BIN"
e2e_say "fake upstream: $ASHLEY_FAKE_UPSTREAM_BIN"
e2e_run_node_tests "${ASHLEY_E2E_TIMEOUT:-360}" browser.test.mjs sign_in.test.mjs conversations.test.mjs \
    live_replies.test.mjs
