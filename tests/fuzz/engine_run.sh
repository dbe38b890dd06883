#!/usr/bin/env bash
# tests/fuzz/engine_run.sh BUILD [SECONDS]: the engine's fuzzing (`make fuzz`), SECONDS each
# (FUZZ_SECONDS, default 60):
#   fuzz_engine_loader, fuzz_engine_instrument   libFuzzer, seeded with the spec suite's modules, the
#                                                test plugins and binaryen modules (made here: no
#                                                generated .wasm is committed); what they find stays
#                                                in BUILD/fuzz-corpus/engine_<t> between runs
#   engine_diff                                  the differential fuzzer (both tiers), from the seed
#                                                after the last run's (BUILD/engine-diff/next-seed)
# Prints "PASS ..." / "FAIL ...: why" lines. A crash leaves its input in BUILD/fuzz-crashes/; a
# disagreement keeps its module in BUILD/engine-diff/ (replay: BUILD/fuzz/engine_diff --replay F).
# Each finding becomes a regression test (tests/spec/regressions/*.wast or a unit test).
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-build}"
[[ "$build" == /* ]] || build="$root/$build"
seconds="${2:-${FUZZ_SECONDS:-60}}"
failures=0

if [[ ! -x "$build/fuzz/engine_diff" ]]; then
  echo "FAIL fuzz/engine: $build/fuzz/engine_diff is not built"
  exit 1
fi

# --- seeds for the libFuzzer targets ---------------------------------------------------------------
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

mkdir -p "$build/fuzz-crashes" "$build/fuzz-logs"
for t in loader instrument; do
  bin="$build/fuzz/fuzz_engine_$t"
  if [[ ! -x "$bin" ]]; then
    echo "SKIP fuzz/engine_$t: not built (libFuzzer missing?)"
    continue
  fi
  corpus="$build/fuzz-corpus/engine_$t"
  crashes="$build/fuzz-crashes/engine_$t"
  log="$build/fuzz-logs/engine_$t.log"
  mkdir -p "$corpus" "$crashes"
  if "$bin" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 -max_len=262144 -print_final_stats=1 \
      -artifact_prefix="$crashes/" "$corpus" "$seeds" >"$log" 2>&1; then
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    echo "PASS fuzz/engine_$t ($seconds s, ${execs:-?} runs)"
  else
    echo "FAIL fuzz/engine_$t: crash found, input in $crashes/; log: $log"
    grep -E 'ERROR|SUMMARY|==[0-9]+==|deadly signal' "$log" | head -5 | sed 's/^/  | /'
    failures=$((failures + 1))
  fi
done

# --- the differential fuzzer ----------------------------------------------------------------------
work="$build/engine-diff"
mkdir -p "$work"
first=$(cat "$work/next-seed" 2>/dev/null || echo 1000000)
log="$build/fuzz-logs/engine_diff.log"
# Its own native cache, emptied afterwards: thousands of one-off builds would bloat the shared one.
cache="$work/native-cache"
"$build/fuzz/engine_diff" --seconds "$seconds" --first-seed "$first" --input-bytes 2048 --work-dir "$work" \
  --cache "$cache" >"$log" 2>&1
rc=$?
rm -rf "$cache"
summary=$(grep -E 'modules compared' "$log" | tail -1)
echo $((first + 1000000)) >"$work/next-seed"  # the next run explores new seeds
if ((rc == 0)); then
  echo "PASS fuzz/engine_diff (seeds from $first: $summary)"
else
  echo "FAIL fuzz/engine_diff: the tiers disagree (seeds from $first; log: $log)"
  grep -E '^seed ' "$log" | head -5 | sed 's/^/  | /'
  failures=$((failures + 1))
fi
exit $((failures > 0 ? 1 : 0))
