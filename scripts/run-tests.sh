#!/usr/bin/env bash
# Runs every test suite and ends with one line: "N passed, N failed, N skipped".
#   unit + plugin suites: the GoogleTest binaries in BUILD/tests (run in parallel)
#   integration suites:   tests/integration/*.test.mjs (node --test) and tests/integration/*.sh
# Exit status is non-zero if anything failed (or a suite crashed before reporting).
#
# The third-party plugin corpus (../shared/plugins: CATALOG.md and the plugins it lists) is not
# part of the repository. WASIMANCER_FIXTURES points at it when it lives elsewhere
# (WASIMANCER_SHARED_PLUGINS, its older name, works too). Without it:
#   - GoogleTest: the tests that need it (FIXTURE_TEST, tests/support/paths.hpp) are skipped;
#   - node and shell suites that say `requires: third-party plugins` in a comment among their
#     first 30 lines are not run; each is reported as SKIPPED on its own line (one skip each);
#   - shell suites may print `SKIP <name>: <why>` lines for single checks.
set -uo pipefail
build="${1:-build}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
repo_files_before="$(find plugins resources prompts -type f -printf '%p %s %T@\n' 2>/dev/null | sort)"
results="$build/test-results"
rm -rf "$results"
mkdir -p "$results"
jobs="${JOBS:-$(nproc 2>/dev/null || echo 2)}"

passed=0
failed=0
skipped=0
crashed=()

# --- the third-party plugin corpus -------------------------------------------------------------
if [[ -z "${WASIMANCER_FIXTURES:-}" ]]; then
  WASIMANCER_FIXTURES="${WASIMANCER_SHARED_PLUGINS:-}"
  if [[ -z "$WASIMANCER_FIXTURES" ]]; then  # what CMake was configured with, else ../shared/plugins
    shared_dir="$(sed -n 's/^WASIMANCER_SHARED_DIR:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null)"
    WASIMANCER_FIXTURES="${shared_dir:-$root/../shared}/plugins"
  fi
fi
export WASIMANCER_FIXTURES WASIMANCER_SHARED_PLUGINS="$WASIMANCER_FIXTURES"
fixtures_present=0
[[ -f "$WASIMANCER_FIXTURES/CATALOG.md" ]] && fixtures_present=1
no_fixtures="the third-party plugins are not at $WASIMANCER_FIXTURES (set WASIMANCER_FIXTURES to the folder holding CATALOG.md)"
if ((!fixtures_present)); then echo "note: $no_fixtures; the suites that need them are skipped"; fi

# needs_fixtures FILE: the suite says it needs the corpus.
needs_fixtures() { head -30 "$1" | grep -qE '^\s*(//|#) requires: third-party plugins'; }
# skip_suite NAME: reports a suite that cannot run without the corpus.
skip_suite() {
  skipped=$((skipped + 1))
  printf '%-40s SKIPPED (whole suite): %s\n' "$1" "$no_fixtures"
}

# Native builds are cached across the run (and across runs in this build folder); the suites use
# quick (-O0) builds. Servers started by the integration suites tier up with quick builds only.
export WASIMANCER_NATIVE_CACHE="${WASIMANCER_NATIVE_CACHE:-$root/$build/native-cache}"
export WASIMANCER_NATIVE_OPT="${WASIMANCER_NATIVE_OPT:--O0}"
export WASIMANCER_NATIVE="${WASIMANCER_NATIVE:-quick}"
# The spec suite runs every file on the interpreter and a subset on the native tier (a cold native
# run of every file builds ~850 modules); `make spec` runs every file on both (tests/spec/README.md).
export WASIMANCER_SPEC_SUBSET="${WASIMANCER_SPEC_SUBSET-$root/tests/spec/native_subset.txt}"

# --- GoogleTest binaries ---------------------------------------------------------------------
# Each binary runs on the interpreter; the engine, host ABI and catalog suites run again on the
# native tier (WASIMANCER_TIER=native), as "<name>@native".
run_gtest() {
  local bin="$1" tier="$2" name
  name="$(basename "$bin")"
  [[ "$tier" == native ]] && name="$name@native"
  WASIMANCER_TIER="$tier" "$bin" --gtest_output="json:$results/$name.json" >"$results/$name.log" 2>&1
  echo $? >"$results/$name.rc"
}
export -f run_gtest
export results
mapfile -t bins < <(find "$build/tests" -maxdepth 1 -type f -name '*_test' -perm -u+x | sort)
runs=()
for bin in "${bins[@]}"; do
  runs+=("$bin interpreter")
  case "$(basename "$bin")" in
    unit_engine_test|unit_engine_hostile_test|unit_host_*|catalog_*) runs+=("$bin native") ;;
    # The spec suite on the native tier builds hundreds of modules (cached): it starts first.
    spec_*) runs=("$bin native" "${runs[@]}") ;;
  esac
done
printf '%s\n' "${runs[@]}" | xargs -P "$jobs" -L1 bash -c 'run_gtest "$@"' _
names=()
for r in "${runs[@]}"; do
  set -- $r
  if [[ "$2" == native ]]; then names+=("$(basename "$1")@native"); else names+=("$(basename "$1")"); fi
done
for name in "${names[@]}"; do
  if [[ -f "$results/$name.json" ]]; then
    p=$(jq '[.testsuites[].testsuite[] | select(.result != "SKIPPED") | select(has("failures") | not)] | length' "$results/$name.json")
    f=$(jq '[.testsuites[].testsuite[] | select(has("failures"))] | length' "$results/$name.json")
    s=$(jq '[.testsuites[].testsuite[] | select(.result == "SKIPPED") | select(has("failures") | not)] | length' "$results/$name.json")
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
    if ((s > 0 && p == 0 && f == 0)); then
      printf '%-40s SKIPPED: %d skipped%s\n' "$name" "$s" "$( ((fixtures_present)) || echo ": $no_fixtures")"
    else
      printf '%-40s %4d passed, %d failed%s\n' "$name" "$p" "$f" "$( ((s)) && echo ", $s skipped")"
    fi
    if ((f > 0)); then
      jq -r '.testsuites[].testsuite[] | select(has("failures")) | "  FAILED \(.classname).\(.name): \(.failures[0].failure | split("\n")[0:6] | join(" | "))"' "$results/$name.json"
    fi
  else
    crashed+=("$name")
    failed=$((failed + 1))
    printf '%-40s CRASHED (exit %s); log: %s\n' "$name" "$(cat "$results/$name.rc" 2>/dev/null)" "$results/$name.log"
    tail -20 "$results/$name.log" | sed 's/^/  | /'
  fi
done

# --- integration suites -----------------------------------------------------------------------
export WASIMANCER_BUILD="$root/$build"
if compgen -G "tests/integration/*.test.mjs" >/dev/null; then
  for t in tests/integration/*.test.mjs; do
    name="$(basename "$t")"
    if ((!fixtures_present)) && needs_fixtures "$t"; then skip_suite "$name"; continue; fi
    node --test --test-reporter=tap "$t" >"$results/$name.tap" 2>&1
    p=$(grep -E '^# pass ' "$results/$name.tap" | awk '{print $3}')
    f=$(grep -E '^# fail ' "$results/$name.tap" | awk '{print $3}')
    s=$(grep -E '^# skipped ' "$results/$name.tap" | awk '{print $3}')
    if [[ -z "$p" || -z "$f" ]]; then
      crashed+=("$name"); failed=$((failed + 1))
      printf '%-40s CRASHED; log: %s\n' "$name" "$results/$name.tap"
      tail -20 "$results/$name.tap" | sed 's/^/  | /'
      continue
    fi
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + ${s:-0}))
    printf '%-40s %4d passed, %d failed%s\n' "$name" "$p" "$f" "$( ((${s:-0})) && echo ", $s skipped")"
    if ((f > 0)); then grep -E '^\s*not ok' "$results/$name.tap" | sed 's/^/  /'; fi
  done
fi
# (and the smoke runs of tests/fuzz and tests/soak: `make fuzz` and `make soak` run them long)
if compgen -G "tests/integration/*.sh" >/dev/null; then
  for t in tests/integration/*.sh tests/fuzz/smoke.sh tests/soak/smoke.sh; do
    [[ -f "$t" ]] || continue
    name="$(basename "$t")"; [[ "$t" == tests/integration/* ]] || name="$(basename "$(dirname "$t")")-$name"
    if ((!fixtures_present)) && needs_fixtures "$t"; then skip_suite "$name"; continue; fi
    bash "$t" >"$results/$name.log" 2>&1
    rc=$?
    p=$(grep -c '^PASS ' "$results/$name.log")
    f=$(grep -c '^FAIL ' "$results/$name.log")
    s=$(grep -c '^SKIP ' "$results/$name.log")
    if ((rc != 0 && f == 0)); then f=1; crashed+=("$name"); fi
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
    printf '%-40s %4d passed, %d failed%s\n' "$name" "$p" "$f" "$( ((s)) && echo ", $s skipped")"
    if ((s > 0)); then grep -E '^SKIP ' "$results/$name.log" | sed 's/^/  /'; fi
    if ((f > 0)); then grep -E '^FAIL ' "$results/$name.log" | sed 's/^/  /'; tail -5 "$results/$name.log" | sed 's/^/  | /'; fi
  done
fi

# No test may write into the repository: the server's default folders (./plugins, ./resources,
# ./prompts, relative to the working directory, which is the repository's root here) must hold
# after the suites what they held before.
repo_files_after="$(find plugins resources prompts -type f -printf '%p %s %T@\n' 2>/dev/null | sort)"
if [[ "$repo_files_after" != "$repo_files_before" ]]; then
  failed=$((failed + 1))
  echo "FAIL repository-untouched: the suites changed the repository's default folders (path, size, mtime; < before, > after):"
  diff <(echo "$repo_files_before") <(echo "$repo_files_after") | grep '^[<>]' | sed 's/^/  /'
else
  passed=$((passed + 1))
fi

echo "$passed passed, $failed failed, $skipped skipped"
((failed == 0))
