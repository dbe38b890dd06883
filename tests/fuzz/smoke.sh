#!/usr/bin/env bash
# The fuzz smoke run inside `make test` (scripts/run-tests.sh): every seed of tests/fuzz/corpus
# replays without a crash, then each target fuzzes for a few seconds (FUZZ_SMOKE_SECONDS, default
# 3). `make fuzz` runs the long version on an instrumented build.
root="$(cd "$(dirname "$0")/../.." && pwd)"
FUZZ_SMOKE=1 exec bash "$root/tests/fuzz/run.sh" "${WASIMANCER_BUILD:-$root/build}" "${FUZZ_SMOKE_SECONDS:-3}"
