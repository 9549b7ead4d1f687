#!/usr/bin/env bash
# Runs every test: host unit tests, then the built worker in workerd against real local servers
# (integration), then Portcullis's pages in headless Chromium (browser).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export WRANGLER_SEND_METRICS=false

echo "== formatting and lints (cargo fmt, cargo clippy)"
cargo fmt --check
cargo clippy --locked --all-targets --all-features -- -D warnings
# The Workers shell (src/shell) only exists on wasm32: lint the crate as the worker builds it too.
cargo clippy --locked --target wasm32-unknown-unknown --all-targets -- -D warnings

echo "== module graph (no cycles between the crate's files, nor between its top-level modules)"
node scripts/module-graph.mjs --check
node scripts/module-graph.mjs --top --check

echo "== host unit tests (cargo test)"
cargo test --locked --all-features

echo "== building the worker"
bash scripts/build.sh

echo "== integration and browser tests (node --test)"
node --test --test-reporter=spec --test-reporter-destination=stdout tests/*.test.mjs
