#!/usr/bin/env bash
# scripts/run.sh (`make run`): builds the web bundle and the proxy (release), then serves both.
# PORT (default 7860) picks the port; ASHLEY_HOST the address (default 127.0.0.1 here, the
# Docker image uses 0.0.0.0). Without OPENAI_API_KEY the proxy answers with its offline demo.
# With nothing changed since the last run both builds are no-ops and it serves within seconds.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
port=${PORT:-7860}

"$ROOT/scripts/build-web.sh"
step "building the proxy (cargo build --release -p ashley-proxy)"
cargo build --release --locked -p ashley-proxy
find_cargo_target

if probe_healthz 127.0.0.1 "$port"; then
    die "something already answers on port $port (another 'make run'?). Stop it, or pick another port: make run PORT=8080"
fi
if [ -z "${OPENAI_API_KEY:-}" ]; then
    warn "OPENAI_API_KEY is not set: the proxy runs its offline demo backend. Set it for real replies."
fi
printf '\n%sAshley AI: http://127.0.0.1:%s%s   (Ctrl-C stops)\n\n' "$_bold" "$port" "$_off"
export PORT=$port ASHLEY_HOST=${ASHLEY_HOST:-127.0.0.1} ASHLEY_WEB_DIR=${ASHLEY_WEB_DIR:-$ROOT/dist}
exec "$ASHLEY_TARGET_DIR/release/ashley-proxy"
