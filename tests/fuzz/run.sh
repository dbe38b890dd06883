#!/usr/bin/env bash
# tests/fuzz/run.sh BUILD [SECONDS]: the fuzzing of `make fuzz`, SECONDS each (FUZZ_SECONDS,
# default 60). Prints "PASS fuzz/<t>" or "FAIL fuzz/<t>: ..." per target, like the shell suites.
#   fuzz_<t> (tests/fuzz/corpus/<t>)   libFuzzer, from the committed seeds and what earlier runs
#                                      found (BUILD/fuzz-corpus/<t>, kept between runs)
#   fuzz_engine_loader, _instrument    libFuzzer, seeded with the spec suite's modules, the test
#                                      plugins and binaryen modules (made here: no generated .wasm
#                                      is committed); what they find stays in BUILD/fuzz-corpus too
#   engine_diff                        the differential fuzzer of the two engine tiers, from the
#                                      seed after the last run's (BUILD/engine-diff/next-seed)
# A crash leaves its input in BUILD/fuzz-crashes/<t>/ and the log in BUILD/fuzz-logs/<t>.log; a
# disagreement of the tiers keeps its module in BUILD/engine-diff/ (replay: BUILD/fuzz/engine_diff
# --replay F). Turn each finding into a regression test: a seed in tests/fuzz/corpus/<t>/ (replayed
# in every `make test`), a tests/spec/regressions/*.wast or a unit test.
#
#   FUZZ_SMOKE=1  the short version inside `make test` (tests/fuzz/smoke.sh): replay the committed
#                 seeds, then a few seconds of fuzzing each (FUZZ_SECONDS, default 3), with a
#                 throw-away corpus. The engine's smoke run is fuzz_engine_diff_test.
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-build}"
[[ "$build" == /* ]] || build="$root/$build"
smoke="${FUZZ_SMOKE:-0}"
seconds="${2:-${FUZZ_SECONDS:-$([[ $smoke == 1 ]] && echo 3 || echo 60)}}"
targets=(multipart jsonrpc yaml uri_template http_handler)
failures=0
work="$(mktemp -d /tmp/wasimancer-fuzz.XXXXXX)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$build/fuzz-crashes" "$build/fuzz-logs"

# fuzz T SEEDS [FLAG...]: runs BUILD/fuzz/fuzz_T for $seconds over its corpus and SEEDS (read
# only), appending to its log; one PASS or FAIL line.
fuzz() {
  local t=$1 seeds=$2
  shift 2
  local corpus="$build/fuzz-corpus/$t" crashes="$build/fuzz-crashes/$t" log="$build/fuzz-logs/$t.log"
  [[ $smoke == 1 ]] && corpus="$work/$t"
  mkdir -p "$corpus" "$crashes"
  if "$build/fuzz/fuzz_$t" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$crashes/" "$@" \
      "$corpus" "$seeds" >>"$log" 2>&1; then
    local execs
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    echo "PASS fuzz/$t ($seconds s, ${execs:-?} runs)"
  else
    echo "FAIL fuzz/$t: crash found, input in $crashes/; log: $log"
    grep -E 'ERROR|SUMMARY|==[0-9]+==|deadly signal' "$log" | head -5 | sed 's/^/  | /'
    failures=$((failures + 1))
  fi
}

# --- the server's parsers: committed seeds -------------------------------------------------------
if [[ ! -x "$build/fuzz/fuzz_${targets[0]}" ]]; then
  echo "SKIP fuzz: no libFuzzer targets in $build/fuzz (libFuzzer missing?)"
  [[ $smoke == 1 ]] && exit 0
  targets=()
fi
for t in "${targets[@]}"; do
  seeds="$root/tests/fuzz/corpus/$t"
  log="$build/fuzz-logs/$t.log"
  # Every seed replays cleanly (the regression tests), then fuzzing.
  if ! "$build/fuzz/fuzz_$t" -runs=0 -rss_limit_mb=2048 "$seeds" >"$log" 2>&1; then
    echo "FAIL fuzz/$t/seeds: a seed of tests/fuzz/corpus/$t crashes; log: $log"
    tail -5 "$log" | sed 's/^/  | /'
    failures=$((failures + 1))
    continue
  fi
  echo "PASS fuzz/$t/seeds"
  fuzz "$t" "$seeds" -timeout=10 -rss_limit_mb=2048 -max_len=65536
done
[[ $smoke == 1 ]] && exit $((failures > 0 ? 1 : 0))

# --- the engine: seeds made in the build ---------------------------------------------------------
seeds="$build/engine-fuzz-seeds"
if [[ ! -d "$seeds" ]]; then
  mkdir -p "$seeds.tmp"
  # Valid modules of the spec suite (no SIMD: refused before any other work) and the test plugins.
  find "$build/spec-corpus" "$build/spec-regressions" -name '*.wasm' -size -64k 2>/dev/null | grep -v '/simd_' \
    | while read -r f; do cp "$f" "$seeds.tmp/$(echo "$f" | sha256sum | cut -c1-16).wasm"; done
  cp "$build"/plugins/*.wasm "$seeds.tmp/" 2>/dev/null
  if command -v wasm-opt >/dev/null; then
    for i in $(seq 1 50); do
      head -c $((RANDOM % 4000 + 200)) /dev/urandom >"$seeds.tmp/in.dat"
      wasm-opt --translate-to-fuzz "$seeds.tmp/in.dat" -o "$seeds.tmp/binaryen-$i.wasm" --enable-sign-ext \
        --enable-mutable-globals --enable-nontrapping-float-to-int --enable-bulk-memory --enable-multivalue 2>/dev/null
    done
    rm -f "$seeds.tmp/in.dat"
  fi
  mv "$seeds.tmp" "$seeds"
fi
for t in engine_loader engine_instrument; do
  if [[ ! -x "$build/fuzz/fuzz_$t" ]]; then
    echo "SKIP fuzz/$t: not built (libFuzzer missing?)"
    continue
  fi
  : >"$build/fuzz-logs/$t.log"
  fuzz "$t" "$seeds" -timeout=20 -rss_limit_mb=4096 -max_len=262144
done

# --- the differential fuzzer of the two tiers ----------------------------------------------------
if [[ ! -x "$build/fuzz/engine_diff" ]]; then
  echo "FAIL fuzz/engine_diff: $build/fuzz/engine_diff is not built"
  exit 1
fi
diff_dir="$build/engine-diff"
mkdir -p "$diff_dir"
first=$(cat "$diff_dir/next-seed" 2>/dev/null || echo 1000000)
log="$build/fuzz-logs/engine_diff.log"
# Its own native cache, emptied afterwards: thousands of one-off builds would bloat the shared one.
cache="$diff_dir/native-cache"
"$build/fuzz/engine_diff" --seconds "$seconds" --first-seed "$first" --input-bytes 2048 --work-dir "$diff_dir" \
  --cache "$cache" >"$log" 2>&1
rc=$?
rm -rf "$cache"
summary=$(grep -E 'modules compared' "$log" | tail -1)
echo $((first + 1000000)) >"$diff_dir/next-seed"  # the next run explores new seeds
if ((rc == 0)); then
  echo "PASS fuzz/engine_diff (seeds from $first: $summary)"
else
  echo "FAIL fuzz/engine_diff: the tiers disagree (seeds from $first; log: $log)"
  grep -E '^seed ' "$log" | head -5 | sed 's/^/  | /'
  failures=$((failures + 1))
fi
exit $((failures > 0 ? 1 : 0))
