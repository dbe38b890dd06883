#!/usr/bin/env bash
# tests/tsan/run.sh BUILD: `make tsan`. Runs the concurrent suites on a ThreadSanitizer build
# (BUILD, normally build-tsan): the GoogleTest suites below, then integration suites whose
# servers are the TSan build (their reports go to files, which must stay empty). Prints PASS/FAIL
# lines and "N passed, N failed". Suppressions: tests/tsan/suppressions.txt (each one justified).
#   run.sh --targets   the CMake targets to build
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
gtests=(unit_worker_pool_test unit_core_rate_limit_test unit_host_concurrency_test unit_vars_test unit_mcp_server_test
        unit_mcp_session_test unit_registry_plugins_test)
node_suites=(tests/integration/security_limits.test.mjs tests/integration/admin_hotswap.test.mjs)
if [[ "${1:-}" == --targets ]]; then
  echo "${gtests[*]} wasimancer"
  exit 0
fi
build="${1:-build-tsan}"
[[ "$build" == /* ]] || build="$root/$build"
out="$build/tsan-results"
rm -rf "$out"
mkdir -p "$out"
export TSAN_OPTIONS="suppressions=$root/tests/tsan/suppressions.txt halt_on_error=0 second_deadlock_stack=1 history_size=4 ${TSAN_OPTIONS:-}"
export WASIMANCER_NATIVE_CACHE="$build/native-cache" WASIMANCER_NATIVE_OPT=-O0 WASIMANCER_NATIVE=quick
passed=0
failed=0
report() {  # report NAME OK WHY
  if (($2)); then echo "PASS tsan/$1"; passed=$((passed + 1)); else echo "FAIL tsan/$1: $3"; failed=$((failed + 1)); fi
}
races() { grep -c '^WARNING: ThreadSanitizer' "$@" 2>/dev/null | awk -F: '{ n += $NF } END { print n + 0 }'; }

for t in "${gtests[@]}"; do
  log="$out/$t.log"
  "$build/tests/$t" >"$log" 2>&1
  rc=$?
  n="$(races "$log")"
  if ((rc == 0 && n == 0)); then report "$t" 1
  elif ((n > 0)); then report "$t" 0 "$n ThreadSanitizer report(s); log: $log"; grep -A12 '^WARNING: ThreadSanitizer' "$log" | head -30 | sed 's/^/  | /'
  else report "$t" 0 "exit $rc; log: $log"; tail -5 "$log" | sed 's/^/  | /'; fi
done

# Servers of the integration suites: the TSan build, reports in files of their own.
for s in "${node_suites[@]}"; do
  name="$(basename "$s")"
  logs="$out/$name.server"
  mkdir -p "$logs"
  TSAN_OPTIONS="$TSAN_OPTIONS log_path=$logs/tsan" WASIMANCER_BUILD="$build" node --test --test-reporter=tap "$root/$s" >"$out/$name.tap" 2>&1
  f=$(grep -E '^# fail ' "$out/$name.tap" | awk '{print $3}')
  n="$(races "$logs"/tsan.* )"
  if [[ "$f" == 0 && "$n" == 0 ]]; then report "$name" 1
  elif [[ "$n" != 0 ]]; then report "$name" 0 "$n ThreadSanitizer report(s) from its servers: $logs"; cat "$logs"/tsan.* | grep -A12 '^WARNING: ThreadSanitizer' | head -30 | sed 's/^/  | /'
  else report "$name" 0 "${f:-?} failed; log: $out/$name.tap"; grep -E '^\s*not ok' "$out/$name.tap" | head -5 | sed 's/^/  /'; fi
done
echo "$passed passed, $failed failed"
((failed == 0))
