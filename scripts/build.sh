#!/usr/bin/env bash
# Builds the release worker into build/ with worker-build, using only local tool binaries. Skips
# the build when build/ is newer than every input (the Rust sources, Cargo.toml, Cargo.lock, the
# npm lock file that pins esbuild and wasm-opt, and these scripts) and was made by the same tool
# versions, so that `npm start`, `npm test` and `wrangler deploy` (whose [build] command this is)
# build once between edits. PORTCULLIS_FORCE_BUILD=1, or any argument, always builds.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
stamp=build/.portcullis-build-stamp
inputs=(src Cargo.toml Cargo.lock package-lock.json scripts/build.sh scripts/strip-wasm-names.mjs)
[[ -d .cargo ]] && inputs+=(.cargo)
tools="$(worker-build --version 2>/dev/null); $(wasm-bindgen --version 2>/dev/null); RUSTFLAGS=${RUSTFLAGS:-}"
if [[ $# == 0 && "${PORTCULLIS_FORCE_BUILD:-}" != 1 && -z "${PORTCULLIS_KEEP_NAMES:-}" && -f $stamp \
      && -f build/index.js && -f build/index_bg.wasm && -f build/worker/shim.mjs \
      && "$(cat "$stamp")" == "$tools" && -z "$(find "${inputs[@]}" -newer "$stamp" -print -quit)" ]]; then
  echo "build: up to date (build/ is newer than src/, Cargo.toml, Cargo.lock and package-lock.json)"
  exit 0
fi
rm -f "$stamp"
# The stamp takes the build's start time: an edit made while it runs is seen by the next build.
started=$(mktemp)
trap 'rm -f "$started"' EXIT
WASM_BINDGEN_BIN="$(command -v wasm-bindgen)"
ESBUILD_BIN="$PWD/node_modules/.bin/esbuild"
WASM_OPT_BIN="$PWD/node_modules/.bin/wasm-opt"
export WASM_BINDGEN_BIN ESBUILD_BIN WASM_OPT_BIN
worker-build --release "$@"
# Function names are for profiles only (PORTCULLIS_KEEP_NAMES=1 keeps them): see the script.
node scripts/strip-wasm-names.mjs build/index_bg.wasm
if [[ $# == 0 && -z "${PORTCULLIS_KEEP_NAMES:-}" ]]; then
  printf '%s' "$tools" > "$stamp"
  touch -r "$started" "$stamp"
fi
