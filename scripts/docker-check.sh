#!/usr/bin/env bash
# scripts/docker-check.sh: builds the Space image from the Dockerfile for real, runs it and probes it.
#
#   scripts/docker-check.sh            build (cached layers reused), run, probe, print size and layers
#   scripts/docker-check.sh --no-build probe the image built last time
#
# Uses a running Docker engine when there is one, else podman (daemonless; installed with apt-get
# when missing). When the base images cannot be pulled (no Docker Hub, as on the project's
# machines) it builds local stand-ins under the same names (scripts/offline/base-images.sh).
# RUN steps use the host's network. The first build compiles trunk, wasm-bindgen and the workspace: 30 to 60 minutes
# on two cores. Then it checks, as the Space would run it (uid 1000, port 7860, no key): /healthz,
# the app page, /api/status in demo mode, a chat reply, the HEALTHCHECK command, snapshots in a
# writable /data (restored by a new container) and no /data, and that the image holds no toolchain
# and no key. Exits non-zero on the first failed check.
#
# Settings: ASHLEY_IMAGE (default ashley-space:check), ASHLEY_ENGINE=docker|podman,
# ASHLEY_IMAGE_WORK (default /var/tmp/ashley-docker: the base rootfs, logs, exported rootfs).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

IMAGE=${ASHLEY_IMAGE:-ashley-space:check}
WORK=${ASHLEY_IMAGE_WORK:-/var/tmp/ashley-docker}
DEBIAN_IMAGE=docker.io/library/debian:bookworm-slim
RUST_IMAGE=docker.io/library/rust:1.95-slim-bookworm
RUST_VERSION=1.95.0
BUILD=1
[ "${1:-}" = --no-build ] && BUILD=0
mkdir -p "$WORK"
containers=()
cleanup() {
    local name
    for name in "${containers[@]}"; do "$ENGINE" rm -f "$name" >/dev/null 2>>"$WORK/engine.log" || true; done
}
trap cleanup EXIT
fail() { die "docker-check: $*"; }
pass() { printf '  ok  %s\n' "$*" >&2; }

# --- The engine ---------------------------------------------------------------------------------
pick_engine() {
    ENGINE=${ASHLEY_ENGINE:-}
    if [ -z "$ENGINE" ]; then
        if have docker && timeout 10 docker info >/dev/null 2>&1; then
            ENGINE=docker
        else
            ENGINE=podman
        fi
    fi
    if [ "$ENGINE" = podman ] && ! have podman; then
        step "no Docker engine answers: installing podman (daemonless) with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        if ! as_root apt-get update -q >"$WORK/apt.log" 2>&1 ||
            ! as_root apt-get install -y -q --no-install-recommends podman crun conmon netavark \
                aardvark-dns iptables uidmap catatonit >>"$WORK/apt.log" 2>&1; then
            fail "installing podman failed (log: $WORK/apt.log). Fix: apt-get install podman"
        fi
    fi
    [ "$ENGINE" = docker ] || [ "$(id -u)" = 0 ] ||
        fail "podman here runs as root (debootstrap and the vfs-free overlay store need it): run with sudo"
    [ "$ENGINE" = podman ] && configure_podman
    "$ENGINE" version >/dev/null 2>&1 || fail "$ENGINE does not work: $("$ENGINE" version 2>&1 | tail -n1)"
    step "engine: $("$ENGINE" --version)"
}

# Sandboxes and VMs often differ from a plain host in two ways that stop podman's defaults: crun
# refuses hybrid cgroups (v1 controllers beside a v2 mount: "cgroups in hybrid mode not
# supported"), and without CAP_SYS_RESOURCE a container cannot get podman's default
# nofile=1048576 ("setrlimit RLIMIT_NOFILE: Operation not permitted"). A config of our own (only
# for this script's podman runs) then picks runc and the host's own limits.
configure_podman() {
    local runtime='' ulimits=()
    if [ "$(stat -f -c %T /sys/fs/cgroup 2>/dev/null)" = tmpfs ] && [ -d /sys/fs/cgroup/unified ]; then
        runtime=runc
        have runc || as_root apt-get install -y -q --no-install-recommends runc >>"$WORK/apt.log" 2>&1 ||
            fail "hybrid cgroups need runc, and installing it failed (log: $WORK/apt.log)"
    fi
    local cap_eff nofile nproc
    cap_eff=$(awk '/^CapEff:/ { print $2 }' /proc/self/status)
    if [ $((0x$cap_eff >> 24 & 1)) = 0 ]; then # bit 24: CAP_SYS_RESOURCE
        nofile=$(ulimit -Hn)
        nproc=$(ulimit -Hu)
        # Above about 32k processes the runtime's setrlimit was refused here too.
        if [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ]; then nproc=32768; fi
        [ "$nofile" != unlimited ] || nofile=1048576
        ulimits=("nofile=$nofile:$nofile" "nproc=$nproc:$nproc")
    fi
    [ -n "$runtime" ] || [ ${#ulimits[@]} -gt 0 ] || return 0
    {
        echo '[containers]'
        [ ${#ulimits[@]} -eq 0 ] || printf 'default_ulimits = ["%s", "%s"]\n' "${ulimits[@]}"
        echo '[engine]'
        [ -z "$runtime" ] || printf 'runtime = "%s"\n' "$runtime"
    } >"$WORK/containers.conf"
    export CONTAINERS_CONF=$WORK/containers.conf
    step "podman settings for this machine ($CONTAINERS_CONF): runtime ${runtime:-default}, ulimits ${ulimits[*]:-default}"
}

have_image() { "$ENGINE" image inspect "$1" >/dev/null 2>&1; }

# Pulls an image when a registry answers; false quickly when none does.
try_pull() {
    timeout 120 "$ENGINE" pull -q "$1" >/dev/null 2>&1
}

# The base images from the registry; where none can be pulled, local stand-ins (scripts/offline/).
ensure_base_images() {
    if ! have_image "$DEBIAN_IMAGE" && ! try_pull "$DEBIAN_IMAGE"; then
        source "$ROOT/scripts/offline/base-images.sh"
        build_debian_standin
    fi
    if ! have_image "$RUST_IMAGE" && ! try_pull "$RUST_IMAGE"; then
        source "$ROOT/scripts/offline/base-images.sh"
        build_rust_standin
    fi
    pass "base images: $DEBIAN_IMAGE, $RUST_IMAGE"
}

# --- Build ------------------------------------------------------------------------------------------
build_image() {
    local log=$WORK/build.log started
    step "building $IMAGE from the Dockerfile (log: $log; the first build takes 30 to 60 minutes)"
    started=$(now)
    if ! nice -n 10 "$ENGINE" build "${build_flags[@]}" -t "$IMAGE" . >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        fail "the image build failed (full log: $log)"
    fi
    pass "built $IMAGE in $(($(now) - started))s"
}

# --- Probes ---------------------------------------------------------------------------------------
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts the image as the Space does (uid 1000, no key, PORT 7860); extra arguments go to `run`.
start_container() {
    local name=$1
    shift
    port=$(free_port)
    "$ENGINE" rm -f "$name" >/dev/null 2>&1 || true
    containers+=("$name")
    "$ENGINE" run -d --name "$name" --user 1000 -p "127.0.0.1:$port:7860" \
        -e OPENAI_API_KEY= "$@" "$IMAGE" >/dev/null 2>>"$WORK/engine.log" ||
        fail "$ENGINE run failed: $(tail -n 3 "$WORK/engine.log")"
    local deadline=$(($(now) + 30))
    until probe_healthz 127.0.0.1 "$port"; do
        if [ "$(now)" -ge "$deadline" ] || [ "$("$ENGINE" inspect -f '{{.State.Running}}' "$name")" != true ]; then
            "$ENGINE" logs "$name" 2>&1 | tail -n 20 >&2
            fail "$name: /healthz did not answer 200 within 30s"
        fi
        sleep 0.2
    done
}

get() { curl -fsS --max-time 10 "http://127.0.0.1:$port$1"; }

probe_basics() {
    local name=$1 page status
    [ "$(get /healthz)" = ok ] || fail "/healthz did not say ok"
    pass "GET /healthz: ok"
    page=$(get /) || fail "GET / failed"
    grep -q '<canvas' <<<"$page" || fail "GET / is not the app page (no <canvas>)"
    local wasm
    wasm=$(grep -o '[A-Za-z0-9_./-]*\.wasm' <<<"$page" | head -n1)
    [ -n "$wasm" ] && [ "$(curl -fsS --max-time 10 "http://127.0.0.1:$port/${wasm#/}" 2>/dev/null | head -c 4 | od -An -c | tr -d ' ')" = '\0asm' ] ||
        fail "the page's wasm module ($wasm) is not served"
    pass "GET /: the app page, and its $wasm"
    status=$(get /api/status) || fail "GET /api/status failed"
    python3 - "$status" <<'EOF' || fail "/api/status: $status"
import json, sys
status = json.loads(sys.argv[1])
assert status["mode"] == "demo" and status["upstream_configured"] is False, status
EOF
    pass "GET /api/status: demo mode, no key configured"
    local health
    health=$("$ENGINE" exec "$name" /app/healthcheck.sh 2>&1) || fail "the HEALTHCHECK command failed: $health"
    pass "the HEALTHCHECK command (/app/healthcheck.sh) exits 0 inside the container"
}

# Sends one message in demo mode and prints the store's message count afterwards.
chat_once() {
    local session persona
    # A cookie jar, as a browser keeps: the session belongs to the guest its cookie names.
    session=$(curl -fsS --max-time 10 -c "$WORK/cookies" -b "$WORK/cookies" -X POST "http://127.0.0.1:$port/api/sessions" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["session_id"])') || fail "POST /api/sessions failed"
    persona=$(get /api/personas | python3 -c 'import json, sys; print(json.load(sys.stdin)["default"])')
    curl -fsS --max-time 30 -N -b "$WORK/cookies" -H 'content-type: application/json' \
        -d "{\"persona\":\"$persona\",\"message\":\"Hello from the image check\"}" \
        "http://127.0.0.1:$port/api/sessions/$session/messages" >"$WORK/chat-reply.txt" ||
        fail "POST /api/sessions/$session/messages failed"
    grep -q '"type":"done"' "$WORK/chat-reply.txt" || fail "the streamed reply did not finish: $(head -c 400 "$WORK/chat-reply.txt")"
    get /api/status | python3 -c 'import json, sys; print(json.load(sys.stdin)["store"]["messages"])'
}

probe_storage() {
    # Without /data: the database goes to /home/user/data inside the container.
    start_container ashley-check-nodata
    probe_basics ashley-check-nodata
    [ "$(chat_once)" -ge 2 ] || fail "the reply was not stored"
    "$ENGINE" exec ashley-check-nodata test -s /home/user/data/ashley.sqlite3 ||
        fail "without /data the database is not in /home/user/data"
    pass "without /data: a streamed demo reply, stored in /home/user/data"
    "$ENGINE" rm -f ashley-check-nodata >/dev/null 2>>"$WORK/engine.log"

    # With a writable /data (a Storage Bucket mounted as a volume): the live database stays in
    # the container; SIGTERM (docker stop) writes a snapshot to /data; a new container restores it.
    local data=$WORK/data
    rm -rf "$data"
    mkdir -p "$data"
    chown 1000:1000 "$data"
    start_container ashley-check-data -v "$data:/data"
    [ "$(chat_once)" -ge 2 ] || fail "the reply was not stored"
    "$ENGINE" stop ashley-check-data >/dev/null 2>>"$WORK/engine.log"
    "$ENGINE" rm -f ashley-check-data >/dev/null 2>>"$WORK/engine.log"
    [ ! -e "$data/ashley.sqlite3" ] || fail "the live database must not sit in /data"
    ls "$data"/ashley-*.sqlite3 >/dev/null 2>&1 || fail "SIGTERM wrote no snapshot to /data"
    start_container ashley-check-data -v "$data:/data"
    local kept
    kept=$(get /api/status | python3 -c 'import json, sys; print(json.load(sys.stdin)["store"]["messages"])')
    [ "$kept" -ge 2 ] || fail "the snapshot in /data was not restored ($kept messages)"
    pass "with a writable /data: a snapshot there at SIGTERM, restored by a new container ($kept messages)"
    if [ "$ENGINE" = podman ]; then
        "$ENGINE" healthcheck run ashley-check-data >/dev/null || fail "podman healthcheck run: unhealthy"
        pass "podman healthcheck run: healthy"
    else
        # Docker runs the first check one interval (30 s) after the start.
        local deadline=$(($(now) + 75)) health=starting
        while [ "$health" != healthy ] && [ "$(now)" -lt "$deadline" ]; do
            sleep 1
            health=$("$ENGINE" inspect -f '{{.State.Health.Status}}' ashley-check-data)
        done
        [ "$health" = healthy ] || fail "the container's health is '$health' after 75 s"
        pass "docker's HEALTHCHECK: healthy"
    fi
    "$ENGINE" rm -f ashley-check-data >/dev/null 2>>"$WORK/engine.log"

    # A /data that uid 1000 cannot write (a fresh `docker volume` is root's, mode 0755) should
    # leave the database in /home/user/data, as without /data. Reported, not fatal.
    local foreign=$WORK/data-root
    rm -rf "$foreign"
    mkdir -p "$foreign"
    chmod 755 "$foreign"
    if (start_container ashley-check-rootdata -v "$foreign:/data") 2>/dev/null; then
        pass "with a /data uid 1000 cannot write: starts, the database stays in /home/user/data"
    else
        warn "with a /data uid 1000 cannot write (root's, 0755) the proxy does not start:" \
            "$("$ENGINE" logs ashley-check-rootdata 2>&1 | grep -m1 'cannot' || echo 'see its log')"
    fi
    "$ENGINE" rm -f ashley-check-rootdata >/dev/null 2>&1 || true
}

# --- The image itself -------------------------------------------------------------------------------
inspect_image() {
    local config bytes
    config=$("$ENGINE" image inspect "$IMAGE")
    python3 - "$config" <<'EOF' || fail "image config: $config"
import json, sys
image = json.loads(sys.argv[1])[0]
config = image["Config"]
assert config.get("User") == "1000", config.get("User")
assert "7860/tcp" in (config.get("ExposedPorts") or {}), config.get("ExposedPorts")
# Docker keeps the HEALTHCHECK in Config, podman beside it.
health = config.get("Healthcheck") or image.get("Healthcheck") or {}
assert health.get("Test") == ["CMD", "/app/healthcheck.sh"], health
env = dict(item.split("=", 1) for item in config.get("Env") or [])
assert env.get("PORT") == "7860", env
assert not any("KEY" in name or "TOKEN" in name for name in env), env
EOF
    pass "config: user 1000, port 7860, HEALTHCHECK /app/healthcheck.sh, no key or token in ENV"

    local rootfs=$WORK/rootfs-image
    rm -rf "$rootfs"
    mkdir -p "$rootfs"
    "$ENGINE" rm -f ashley-check-export >/dev/null 2>&1 || true
    containers+=(ashley-check-export)
    "$ENGINE" create --name ashley-check-export "$IMAGE" >/dev/null
    "$ENGINE" export ashley-check-export | tar -C "$rootfs" -x 2>/dev/null ||
        fail "exporting the image's filesystem failed"
    local tools
    tools=$(find "$rootfs" -path '*bin/*' \( -name cargo -o -name rustc -o -name rustup \
        -o -name trunk -o -name 'gcc*' -o -name 'cc' -o -name 'wasm-bindgen*' -o -name 'wasm-opt' -o -name node \
        -o -name npm -o -name make \) -print | sed "s|^$rootfs||")
    tools+=$(cd "$rootfs" && ls -d usr/local/cargo usr/local/rustup root/.cargo root/.rustup root/.cache src 2>/dev/null || true)
    [ -z "$tools" ] || fail "toolchain files in the image: $tools"
    pass "no toolchain in the image (cargo, rustc, rustup, trunk, gcc, wasm-bindgen, wasm-opt, node, npm)"
    local keys
    keys=$(grep -rIlE 'sk-(proj-)?[A-Za-z0-9_-]{20,}|hf_[A-Za-z0-9]{30,}' "$rootfs" 2>/dev/null | sed "s|^$rootfs||" || true)
    [ -z "$keys" ] || fail "files that look like they hold an OpenAI or Hugging Face key: $keys"
    [ ! -e "$rootfs/.env" ] && [ ! -e "$rootfs/app/.env" ] || fail "an .env file is in the image"
    pass "no OpenAI (sk-...) or Hugging Face (hf_...) key in any file of the image, no .env"
    # A stripped ELF file has no .symtab section, so not even its name in the section names.
    ! grep -qa '\.symtab' "$rootfs/usr/local/bin/ashley-proxy" || fail "/usr/local/bin/ashley-proxy is not stripped"
    pass "the proxy binary is stripped ($(du -k "$rootfs/usr/local/bin/ashley-proxy" | cut -f1) KiB); bundle $(du -sk "$rootfs/app/dist" | cut -f1) KiB"

    bytes=$("$ENGINE" image inspect "$IMAGE" --format '{{.Size}}')
    step "image $IMAGE: $((bytes / 1000000)) MB ($bytes bytes); layers, newest first:"
    "$ENGINE" history --format '{{.Size}}\t{{.CreatedBy}}' "$IMAGE" |
        cut -c 1-150 | sed 's/^/      /' >&2
}

pick_engine
build_flags=(--network host)
if [ "$ENGINE" = podman ]; then
    # --format docker keeps the HEALTHCHECK (OCI images have none). Without systemd podman cannot
    # start its health timer (it logs that to $WORK/engine.log); `podman healthcheck run` below
    # runs the check by hand instead.
    build_flags+=(--format docker --pull=never)
fi
started=$(now)
ensure_base_images
if [ "$BUILD" = 1 ]; then
    build_image
else
    have_image "$IMAGE" || fail "no image $IMAGE yet: run without --no-build"
fi
inspect_image
probe_storage
printf 'docker-check: all checks passed for %s (%ss)\n' "$IMAGE" "$(($(now) - started))" >&2
