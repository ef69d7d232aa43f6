#!/usr/bin/env bash
# scripts/size.sh (`make size`): raw, gzip and brotli size of the built web bundle (dist/).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
dir=${1:-$ROOT/dist}
[ -f "$dir/index.html" ] || die "no web bundle in $dir. Fix: make web"
node "$ROOT/scripts/web-bundle.mjs" sizes "$dir"
