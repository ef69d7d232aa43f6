#!/usr/bin/env bash
# scripts/healthcheck.sh: the Docker HEALTHCHECK. Exits 0 when the proxy in this container answers
# GET /healthz with 200. Plain bash (/dev/tcp) so the image needs no curl.
port=${PORT:-7860}
{ exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || { echo "nothing listens on port $port"; exit 1; }
printf 'GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
IFS= read -r -t 4 status_line <&3 || { echo "no answer from /healthz"; exit 1; }
case "$status_line" in
    "HTTP/"*" 200"*) exit 0 ;;
    *) echo "/healthz answered: $status_line"; exit 1 ;;
esac
