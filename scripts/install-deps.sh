#!/usr/bin/env bash
# Installs what wasimancer needs to build, test and benchmark, from Debian 12 packages and the npm
# registry only. Idempotent: a second run installs nothing. Works as root or through sudo.
#   scripts/install-deps.sh            build + test dependencies
#   scripts/install-deps.sh --serve    only what building and serving need (Debian packages; none of
#                                      the tests' components, no npm: `make run`, `make server`,
#                                      `make install`)
#   scripts/install-deps.sh --bench    also the benchmark tools (wrk)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

# What building and serving need (`--serve`, used by `make run`, `make server`, `make install`).
packages=(
  build-essential cmake pkg-config git ca-certificates curl jq
  clang lld wasi-libc libclang-rt-14-dev-wasm32
  wabt
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev libboost-system1.81-dev
  libyaml-cpp-dev libssl-dev libcurl4-openssl-dev libspdlog-dev libfmt-dev libcli11-dev
  libgtest-dev libgmock-dev
  libseccomp-dev libjemalloc-dev libpq-dev libsodium-dev
)
# What only the tests start or use: the fuzzer's module generator, Prometheus, Chromium,
# PostgreSQL's server, nginx, minisign, a registry and its htpasswd tool.
test_packages=(
  binaryen libbenchmark-dev
  prometheus chromium
  postgresql nginx
  minisign docker-registry apache2-utils
)
serve_only=0
case "${1:-}" in
  --bench) packages+=("${test_packages[@]}" wrk) ;;
  --serve) serve_only=1 ;;
  *) packages+=("${test_packages[@]}") ;;
esac

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
if ((!serve_only)); then
  if ! command -v node >/dev/null 2>&1; then missing+=(nodejs); fi
  if ! command -v npm >/dev/null 2>&1; then missing+=(npm); fi
fi

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # The tests start their own Prometheus on loopback (tests/integration/observe_*); the
  # package's system service is not wanted.
  if [[ " ${missing[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
    "${sudo_cmd[@]}" systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
fi

((serve_only)) && exit 0

# npm packages for the client-side tests, pinned by the committed lockfiles:
#   tests/node         the MCP TypeScript SDK client (integration tests, on the system Node)
#   tests/conformance  the official conformance suite and the Node 22 it needs
#   tests/ui           playwright-core, which drives Debian's chromium (no browser download)
#   tests/clients      the clients README's "Connect a client" shows (MCP Inspector, mcp-remote)
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
for dir in tests/node tests/conformance tests/ui tests/clients; do
  [[ -f "$root/$dir/package-lock.json" ]] || continue
  stamp="$root/$dir/node_modules/.lock-stamp"
  if [[ ! -f "$stamp" ]] || ! cmp -s "$root/$dir/package-lock.json" "$stamp"; then
    echo "install-deps: npm ci in $dir"
    (cd "$root/$dir" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$root/$dir/package-lock.json" "$stamp"
  fi
done
