#!/usr/bin/env bash
# tests/fuzz/run.sh BUILD [SECONDS]: runs every libFuzzer target of BUILD/fuzz for SECONDS each
# (FUZZ_SECONDS, default 60), starting from the committed seeds (tests/fuzz/corpus/<target>) and
# what earlier runs found (BUILD/fuzz-corpus/<target>, kept between runs). Prints "PASS fuzz/<t>"
# or "FAIL fuzz/<t>: ..." per target, like the shell suites. A crash leaves its input in
# BUILD/fuzz-crashes/<target>/ and the log in BUILD/fuzz-logs/<target>.log: turn it into a
# regression test (a seed in tests/fuzz/corpus/<target>/ replays it in every `make test`).
#
#   FUZZ_SMOKE=1  the short version inside `make test`: replay the seeds, then a few seconds of
#                 fuzzing each (FUZZ_SECONDS, default 3), with a throw-away corpus.
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-build}"
[[ "$build" == /* ]] || build="$root/$build"
smoke="${FUZZ_SMOKE:-0}"
seconds="${2:-${FUZZ_SECONDS:-$([[ $smoke == 1 ]] && echo 3 || echo 60)}}"
targets=(multipart jsonrpc yaml uri_template http_handler)
failures=0

if [[ ! -x "$build/fuzz/fuzz_${targets[0]}" ]]; then
  echo "SKIP fuzz: no fuzz targets in $build/fuzz (libFuzzer missing?)"
  exit 0
fi
work="$(mktemp -d /tmp/wasimancer-fuzz.XXXXXX)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$build/fuzz-crashes" "$build/fuzz-logs"
for t in "${targets[@]}"; do
  bin="$build/fuzz/fuzz_$t"
  seeds="$root/tests/fuzz/corpus/$t"
  log="$build/fuzz-logs/$t.log"
  crashes="$build/fuzz-crashes/$t"
  mkdir -p "$crashes"
  if [[ $smoke == 1 ]]; then
    corpus="$work/$t"
  else
    corpus="$build/fuzz-corpus/$t"
  fi
  mkdir -p "$corpus"
  # 1. Every seed replays cleanly (the regression tests).
  if ! "$bin" -runs=0 -rss_limit_mb=2048 "$seeds" >"$log" 2>&1; then
    echo "FAIL fuzz/$t/seeds: a seed of tests/fuzz/corpus/$t crashes; log: $log"
    tail -5 "$log" | sed 's/^/  | /'
    failures=$((failures + 1))
    continue
  fi
  echo "PASS fuzz/$t/seeds"
  # 2. Fuzz for the time given (new inputs go to $corpus; the seeds are read only).
  if "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
      -artifact_prefix="$crashes/" "$corpus" "$seeds" >>"$log" 2>&1; then
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    echo "PASS fuzz/$t ($seconds s, ${execs:-?} runs)"
  else
    echo "FAIL fuzz/$t: crash found, input in $crashes/; log: $log"
    grep -E 'ERROR|SUMMARY|==[0-9]+==' "$log" | head -5 | sed 's/^/  | /'
    failures=$((failures + 1))
  fi
done
exit $((failures > 0 ? 1 : 0))
