#!/usr/bin/env bash
# scripts/desktop.sh (`make desktop`): builds and opens the native window, pointed at a proxy.
# ASHLEY_SERVER picks the proxy (default http://127.0.0.1:$PORT). When none answers there and
# the URL is local, this starts one in the background (offline demo unless OPENAI_API_KEY is
# set) and stops it when the window closes.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
port=${PORT:-7860}
server=${ASHLEY_SERVER:-http://127.0.0.1:$port}

"$ROOT/scripts/setup.sh" desktop
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
    die "no display (DISPLAY and WAYLAND_DISPLAY are unset). Run it in a desktop session, or under a virtual one: xvfb-run -s '-screen 0 1280x800x24' make desktop"
fi
step "building the proxy and the native app (cargo build --release)"
cargo build --release --locked -p ashley-proxy
cargo build --release --locked -p ashley
find_cargo_target

proxy_pid=
stop_proxy() {
    if [ -n "$proxy_pid" ] && kill -0 "$proxy_pid" 2>/dev/null; then
        step "stopping the proxy this started (pid $proxy_pid)"
        kill "$proxy_pid" 2>/dev/null || true
        wait "$proxy_pid" 2>/dev/null || true
    fi
}
trap stop_proxy EXIT

if [[ "$server" =~ ^http://(127\.0\.0\.1|localhost):([0-9]+)/?$ ]]; then
    local_port=${BASH_REMATCH[2]}
    if probe_healthz 127.0.0.1 "$local_port"; then
        step "using the proxy already running on $server"
    else
        log=$ASHLEY_TARGET_DIR/desktop-proxy.log
        step "no proxy answers on $server: starting one (log: $log)"
        [ -n "${OPENAI_API_KEY:-}" ] || warn "OPENAI_API_KEY is not set: the proxy answers with its offline demo."
        PORT=$local_port ASHLEY_HOST=127.0.0.1 ASHLEY_WEB_DIR=${ASHLEY_WEB_DIR:-$ROOT/dist} \
            "$ASHLEY_TARGET_DIR/release/ashley-proxy" >"$log" 2>&1 &
        proxy_pid=$!
        deadline=$(($(now) + 20))
        until probe_healthz 127.0.0.1 "$local_port"; do
            kill -0 "$proxy_pid" 2>/dev/null || { tail -n 20 "$log" >&2; die "the proxy exited; see $log"; }
            [ "$(now)" -lt "$deadline" ] || die "the proxy did not answer on $server within 20 s; see $log"
            sleep 0.2
        done
    fi
else
    step "using the proxy at $server (not local, so none is started here)"
fi

step "opening the Ashley window (talking to $server)"
"$ASHLEY_TARGET_DIR/release/ashley" --server "$server"
