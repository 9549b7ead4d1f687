#!/usr/bin/env bash
# Builds the release worker into build/ with worker-build, using only local tool binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
WASM_BINDGEN_BIN="$(command -v wasm-bindgen)"
ESBUILD_BIN="$PWD/node_modules/.bin/esbuild"
WASM_OPT_BIN="$PWD/node_modules/.bin/wasm-opt"
export WASM_BINDGEN_BIN ESBUILD_BIN WASM_OPT_BIN
worker-build --release "$@"
# Function names are for profiles only (PORTCULLIS_KEEP_NAMES=1 keeps them): see the script.
node scripts/strip-wasm-names.mjs build/index_bg.wasm
