#!/usr/bin/env bash
# Installs whatever a fresh machine lacks to build, run and test Portcullis. Idempotent and pinned;
# everything comes from the package registries (rustup's target, crates.io, npm, Debian).
#   scripts/bootstrap.sh                 toolchain and npm dependencies
#   scripts/bootstrap.sh --with-browser  also Debian's Chromium, for the browser tests
#   scripts/bootstrap.sh --with-bench    also Debian's wrk, the load generator of `npm run bench`
#   scripts/bootstrap.sh --with-scim     also the SCIM compliance checker scim2-tester (pip), in
#                                        .venv-scim, for tests/scim.test.mjs
#   scripts/bootstrap.sh --with-saml     also Debian's xmlsec1, the reference XML-DSig
#                                        implementation the SAML tests compare against
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

WORKER_BUILD_VERSION=0.8.7
SCIM_TESTER_VERSION=0.5.2
with_browser=0
with_bench=0
with_scim=0
with_saml=0
for arg in "$@"; do
  case "$arg" in
    --with-browser) with_browser=1 ;;
    --with-bench) with_bench=1 ;;
    --with-scim) with_scim=1 ;;
    --with-saml) with_saml=1 ;;
    *) printf 'bootstrap: unknown option %s\n' "$arg" >&2; exit 2 ;;
  esac
done
say() { printf 'bootstrap: %s\n' "$*" >&2; }
as_root() { if [[ $(id -u) == 0 ]]; then "$@"; else sudo "$@"; fi; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

for component in clippy rustfmt; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
    say "adding the $component component"
    rustup component add "$component"
  fi
done

if [[ "$(worker-build --version 2>/dev/null)" != "$WORKER_BUILD_VERSION" ]]; then
  say "installing worker-build $WORKER_BUILD_VERSION"
  cargo install worker-build --version "$WORKER_BUILD_VERSION"
fi

# wasm-bindgen-cli must be exactly the wasm-bindgen version in Cargo.lock.
bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if [[ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $bindgen_version" ]]; then
  say "installing wasm-bindgen-cli $bindgen_version"
  cargo install wasm-bindgen-cli --version "$bindgen_version"
fi

if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  say "installing npm dependencies"
  npm ci --no-audit --no-fund
fi
npx --no-install workerd --version >/dev/null

if [[ $with_browser == 1 && ! -x /usr/bin/chromium ]]; then
  say "installing Debian's chromium"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium >/dev/null
fi

if [[ $with_bench == 1 ]] && ! command -v wrk >/dev/null; then
  say "installing Debian's wrk"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq wrk >/dev/null
fi

if [[ $with_saml == 1 ]] && ! command -v xmlsec1 >/dev/null; then
  say "installing Debian's xmlsec1"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq xmlsec1 >/dev/null
fi

if [[ $with_scim == 1 ]] && ! .venv-scim/bin/python -c "import scim2_tester" 2>/dev/null; then
  say "installing scim2-tester $SCIM_TESTER_VERSION into .venv-scim"
  if ! python3 -m venv .venv-scim 2>/dev/null; then
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv .venv-scim
  fi
  # scim2-client's HTTP engine (httpx2) is an extra that scim2-tester does not pull in.
  .venv-scim/bin/pip install --quiet --disable-pip-version-check "scim2-tester==$SCIM_TESTER_VERSION" \
    "scim2-client[httpx2]==0.13.2" "httpx2==2.16.2"
fi
