#!/usr/bin/env bash
# Installs what wasimancer needs to build, test and benchmark, from Debian 12 packages and the npm
# registry only. Idempotent: a second run installs nothing. Works as root or through sudo.
#   scripts/install-deps.sh            build + test dependencies
#   scripts/install-deps.sh --bench    also the benchmark tools (wrk)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

packages=(
  build-essential cmake pkg-config git ca-certificates curl jq
  clang lld wasi-libc libclang-rt-14-dev-wasm32
  wabt binaryen
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev libboost-system1.81-dev
  libyaml-cpp-dev libssl-dev libcurl4-openssl-dev libspdlog-dev libfmt-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libseccomp-dev
  libsodium-dev minisign docker-registry apache2-utils
)
if [[ "${1:-}" == "--bench" ]]; then
  packages+=(wrk)
fi

sudo_cmd=()
if [[ "$(id -u)" != 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then sudo_cmd=(sudo); else
    echo "install-deps: not root and no sudo; install these Debian packages: ${packages[*]}" >&2
  fi
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# Node.js and npm: use the ones present (the machines here ship Node 20 + npm 11, which conflict
# with Debian's npm package); install Debian's only where there is none.
if ! command -v node >/dev/null 2>&1; then missing+=(nodejs); fi
if ! command -v npm >/dev/null 2>&1; then missing+=(npm); fi

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm packages for the client-side tests, pinned by the committed lockfiles:
#   tests/node         the MCP TypeScript SDK client (integration tests, on the system Node)
#   tests/conformance  the official conformance suite and the Node 22 it needs
for dir in tests/node tests/conformance; do
  [[ -f "$root/$dir/package-lock.json" ]] || continue
  stamp="$root/$dir/node_modules/.lock-stamp"
  if [[ ! -f "$stamp" ]] || ! cmp -s "$root/$dir/package-lock.json" "$stamp"; then
    echo "install-deps: npm ci in $dir"
    (cd "$root/$dir" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$root/$dir/package-lock.json" "$stamp"
  fi
done
