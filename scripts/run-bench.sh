#!/usr/bin/env bash
# `make bench`: runs the benchmark driver against the release build and appends the table to
# bench/RESULTS.md. Needs wrk (scripts/install-deps.sh --bench installs it).
set -euo pipefail
build="${1:-build-release}"
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/$build/wasimancer-bench" "$root" "$root/$build"
# Several replicas on PostgreSQL behind nginx (issue 10).
"$root/bench/cluster.sh" "$root" "$root/$build"
