#!/usr/bin/env bash
# Builds the release worker into build/ with worker-build, using only local tool binaries. Skips
# the build when build/ is newer than every input (the Rust sources, Cargo.toml, Cargo.lock and
# these scripts), so that `npm start`, `npm test` and `wrangler deploy` (whose [build] command
# this is) build once between edits. PORTCULLIS_FORCE_BUILD=1, or any argument, always builds.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
stamp=build/.portcullis-build-stamp
inputs=(src Cargo.toml Cargo.lock scripts/build.sh scripts/strip-wasm-names.mjs)
if [[ $# == 0 && "${PORTCULLIS_FORCE_BUILD:-}" != 1 && -z "${PORTCULLIS_KEEP_NAMES:-}" && -f $stamp \
      && -f build/index.js && -f build/index_bg.wasm && -z "$(find "${inputs[@]}" -newer "$stamp" -print -quit)" ]]; then
  echo "build: up to date (build/ is newer than src/, Cargo.toml and Cargo.lock)"
  exit 0
fi
rm -f "$stamp"
WASM_BINDGEN_BIN="$(command -v wasm-bindgen)"
ESBUILD_BIN="$PWD/node_modules/.bin/esbuild"
WASM_OPT_BIN="$PWD/node_modules/.bin/wasm-opt"
export WASM_BINDGEN_BIN ESBUILD_BIN WASM_OPT_BIN
# The stamp's time is the build's start: an edit made while it runs is seen by the next build.
started=$(date +%s)
worker-build --release "$@"
# Function names are for profiles only (PORTCULLIS_KEEP_NAMES=1 keeps them): see the script.
node scripts/strip-wasm-names.mjs build/index_bg.wasm
if [[ $# == 0 && -z "${PORTCULLIS_KEEP_NAMES:-}" ]]; then touch -d "@$started" "$stamp"; fi
