# Dockerfile: the Hugging Face Docker Space image of Ashley AI (README "Deploying").
# Stage 1 builds the web bundle and the proxy through the same scripts and make targets CI uses
# (scripts/setup.sh, make build); stage 2 is slim Debian with the stripped proxy, the bundle and
# the health probe: no toolchain. No secret is baked in: OPENAI_API_KEY and the rest come from
# the Space's settings when the container starts.

FROM rust:1.95-slim-bookworm AS build
# make runs the build; npm brings wasm-opt (binaryen). Versions come from Debian bookworm.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends make nodejs npm \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The build tools (rustup's wasm32 target, trunk, wasm-bindgen, wasm-opt) depend only on
# setup.sh, the scripts it sources (the offline wasm32 route, used only where rustup cannot
# download) and Cargo.lock (wasm-bindgen's version): this slow layer (15 to 30 minutes) stays
# cached while the code and the other scripts change.
COPY scripts/setup.sh scripts/lib.sh scripts/
COPY scripts/offline/debian-wasm.sh scripts/offline/
COPY Cargo.lock ./
ENV ASHLEY_RUSTUP_TIMEOUT=600
RUN scripts/setup.sh build
COPY . .
RUN make build

FROM debian:bookworm-slim
RUN useradd --create-home --uid 1000 user
COPY --from=build /src/target/release/ashley-proxy /usr/local/bin/ashley-proxy
COPY --from=build /src/dist /app/dist
COPY scripts/healthcheck.sh /app/healthcheck.sh
# The Space routes app_port 7860 to the container and adds one X-Forwarded-For hop (rate limits
# then apply per visitor). The live database stays on local disk in ./data (/home/user/data);
# with a Storage Bucket mounted at /data, consistent snapshots go there and are restored at start.
ENV PORT=7860 \
    ASHLEY_HOST=0.0.0.0 \
    ASHLEY_WEB_DIR=/app/dist \
    ASHLEY_TRUSTED_PROXIES=1
USER 1000
WORKDIR /home/user
EXPOSE 7860
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 CMD ["/app/healthcheck.sh"]
ENTRYPOINT ["/usr/local/bin/ashley-proxy"]
