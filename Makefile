# Ashley's entry points. Every target installs what it needs first (scripts/setup.sh), so a fresh
# clone needs only `make run` or `make test`. The scripts in scripts/ do the work; CI runs
# `.ci/run`, which is `make test`.

SHELL := /usr/bin/env bash
PORT ?= 7860
export PORT

.DEFAULT_GOAL := help
.PHONY: help setup run desktop test bench web proxy build fmt fmt-check clippy clippy-wasm \
	test-rust lint-docker docker-check e2e size fonts clean-web

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

setup: ## Install everything building and testing need (idempotent; quick when done)
	@scripts/setup.sh test

run: ## Build the web bundle and the proxy (release), serve both on http://127.0.0.1:$PORT
	@scripts/run.sh

desktop: ## Build and open the native window (starts a local proxy if none answers)
	@scripts/desktop.sh

test: ## Everything CI checks: fmt, clippy (native + wasm32), the wasm build, all tests, hadolint, e2e
	@scripts/test.sh

bench: ## Benchmarks: proxy gateway, app frames, web first load, wasm size
	@scripts/bench.sh

web: ## Only the web bundle (dist/; skipped in seconds when nothing it is built from changed)
	@scripts/build-web.sh

proxy: ## Only the proxy, release (target/release/ashley-proxy)
	cargo build --release --locked -p ashley-proxy

build: web proxy ## The web bundle and the proxy: what `make run` and the Docker image serve

fmt: ## Format the code
	cargo fmt --all

fmt-check: ## Check formatting (as make test does)
	@scripts/test.sh fmt

clippy: ## Clippy for the native target, warnings are errors
	@scripts/test.sh clippy

clippy-wasm: ## Clippy for wasm32, warnings are errors
	@scripts/test.sh clippy-wasm

test-rust: ## Only the cargo tests (all crates, nextest when installed)
	@scripts/test.sh rust

lint-docker: ## hadolint on the Dockerfile, warnings are errors
	@scripts/test.sh hadolint

docker-check: ## Build the Space image for real (Docker, else podman), run it as the Space does and probe it (slow: ~35 min the first time)
	@scripts/docker-check.sh

e2e: ## Only the end-to-end tests (browser and window)
	@scripts/test.sh e2e

fonts: ## Rebuild the subset emoji/symbol fonts in assets/ (needs npm and PyPI; not part of test)
	@scripts/emoji-font.sh

size: ## Size of the built web bundle: raw, gzip, brotli
	@scripts/size.sh

clean-web: ## Remove the web bundles (dist/, and dist-e2e/ of the browser tests)
	rm -rf dist dist-e2e
