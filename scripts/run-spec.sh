#!/usr/bin/env bash
# scripts/run-spec.sh BUILD: the WebAssembly spec test suite (tests/spec/README.md) on both tiers,
# every file, with the figures of each run (`make spec`). Native builds are cached in
# BUILD/native-cache, as under scripts/run-tests.sh.
set -uo pipefail
build="${1:-build}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export WASIMANCER_NATIVE_CACHE="${WASIMANCER_NATIVE_CACHE:-$root/$build/native-cache}"
results="$build/test-results"
mkdir -p "$results"
failed=0
for tier in interpreter native; do
  log="$results/spec_wast_test-$tier.log"
  start=$(date +%s)
  WASIMANCER_TIER="$tier" "$build/tests/spec_wast_test" >"$log" 2>&1
  rc=$?
  grep -E '^\[spec [a-z]+\] TOTAL' -A20 "$log" | grep -E '^\[spec|^  '
  echo "  ($tier: $(($(date +%s) - start)) s; log: $log)"
  if ((rc != 0)); then
    failed=1
    grep -E '^\[  FAILED  \]' "$log" | sort -u | head -20
  fi
done
exit $failed
