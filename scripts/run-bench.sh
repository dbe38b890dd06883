#!/usr/bin/env bash
# `make bench`: runs the benchmark driver against the release build and appends the table to
# bench/RESULTS.md. Needs wrk (scripts/install-deps.sh --bench installs it).
set -euo pipefail
build="${1:-build-release}"
root="$(cd "$(dirname "$0")/.." && pwd)"
exec "$root/$build/wasimancer-bench" "$root" "$root/$build"
