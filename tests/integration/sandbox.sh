#!/usr/bin/env bash
# The sandbox holds, through the running server: every attack that once ran code in the server,
# read its memory or killed it is published and called on both tiers; the server keeps answering,
# no secret appears in any output, no code of the module's choosing runs. Plugin workers hold no
# secret and no descriptor; a worker killed mid-call fails that call only, and a plugin that keeps
# crashing its workers is quarantined until it is updated.
set -uo pipefail
source "$(dirname "$0")/admin-fixtures/admin_lib.bash"
check_tools

ADMIN_TOKEN="admin-secret-7f3a9c"
MCP_TOKEN="mcp-secret-b81d44"
work="$(mktemp -d)"
marker=/tmp/wasimancer-pwned-by-export-name
cleanup() {
  stop_server
  rm -rf "$work"
}
trap cleanup EXIT
rm -f "$marker"
mkdir -p "$work/plugins"
outputs="$work/all-outputs.txt"
: >"$outputs"

# Every answer goes into $outputs too, to look for secrets at the end.
record() { printf '%s\n' "$*" >>"$outputs"; }

start_server "$work/server.log" WASIMANCER_ADMIN_TOKEN="$ADMIN_TOKEN" WASIMANCER_AUTHENTICATION_TOKEN="$MCP_TOKEN" \
  PLUGINS_PATH="$work/plugins" UPLOAD_PATH="$work/plugins" RESOURCES_PATH="$work" PROMPTS_PATH="$work" -- || exit 1

alive() {
  local got
  got="$(call_tool echo_tool '{}')"
  record "$got"
  [[ "$got" != ERROR* ]] && curl -s -m 10 "$(base_url)/health" | grep -q ok
}

# A well-behaved plugin that must keep answering through everything below.
upload POST "$test_plugins/echo.wasm" "$(plugin_data echo echo echo_tool)"
expect_eq "bystander/published" "$code" 200

# publish NAME FILE FUNCTION... : publishes with one tool per function (NAME_FUNCTION).
publish() {
  local name="$1" file="$2"; shift 2
  local fns="[]" f
  for f in "$@"; do
    fns="$(jq -c --arg f "$f" --arg d "${name}_$f" '. + [{displayName:$d, function:$f, arguments:[]}]' <<<"$fns")"
  done
  upload POST "$file" "$(jq -cn --arg n "$name" --argjson fns "$fns" '{name:$n, version:"1.0.0", maxPages:16, timeoutMs:20000, functions:$fns}')"
  record "$body"
}

# --- refused at upload, naming why ----------------------------------------------------------------
"$build/tests/wasm_gen" nested 100000 loop "$work/nested_loops.wasm"
"$build/tests/wasm_gen" nested 1000000 block "$work/nested_blocks.wasm"
"$build/tests/wasm_gen" nested 100000 if "$work/nested_ifs.wasm"
"$build/tests/wasm_gen" locals 200000 "$work/many_locals.wasm"
refused() {  # NAME FILE FUNCTION WANT-IN-MESSAGE
  publish "$1" "$2" "$3"
  if [[ "$code" == 400 ]] && grep -q -- "$4" <<<"$body"; then pass "refused/$1"; else fail "refused/$1" "got $code $body"; fi
  if alive; then pass "refused/$1/server-answers"; else fail "refused/$1/server-answers" "the server stopped answering"; fi
}
refused nested_loops "$work/nested_loops.wasm" f "nests blocks more than"
refused nested_blocks "$work/nested_blocks.wasm" f "nests blocks more than"
refused nested_ifs "$work/nested_ifs.wasm" f "nests blocks more than"
refused many_locals "$work/many_locals.wasm" f "declares more than 50000 locals"
refused tables "$test_plugins/attack_tables.wasm" run "oom"
refused simd "$test_plugins/attack_simd.wasm" run 'WebAssembly feature ..simd'
refused memory "$test_plugins/attack_memory.wasm" run "oom"

# --- published, and every call ends in a clear error (or the right answer) ------------------------
publish names "$test_plugins/attack_names.wasm" run
expect_eq "published/names" "$code" 200
publish signature "$test_plugins/attack_signature.wasm" run_i64 run_ref
expect_eq "published/signature" "$code" 200
publish recursion "$test_plugins/attack_recursion.wasm" indirect big_frames
expect_eq "published/recursion" "$code" 200
publish grow "$test_plugins/attack_grow.wasm" run
expect_eq "published/grow" "$code" 200

attack_calls() {  # TIER
  local tier="$1" got
  expect_call() {  # TOOL WANT-IN-ANSWER
    got="$(call_tool "$1" '{}')"
    record "$got"
    if grep -q -- "$2" <<<"$got"; then pass "$tier/$1"; else fail "$tier/$1" "got: $got"; fi
    if alive; then pass "$tier/$1/server-answers"; else fail "$tier/$1/server-answers" "the server stopped answering"; fi
  }
  expect_call names_run '^$'
  expect_call signature_run_i64 "signature"
  expect_call signature_run_ref "signature"
  expect_call recursion_indirect "call stack exhausted"
  expect_call recursion_big_frames "call stack exhausted"
  expect_call grow_run '^$'
}
attack_calls interpreter

# The native tier: wait for every plugin's quick build (the names attack is about the C it yields).
native_ready() {
  admin GET /plugins
  [[ "$code" == 200 ]] && jq -e '[.plugins[] | .native | startswith("native")] | all' <<<"$body" >/dev/null
}
for _ in $(seq 1 600); do native_ready && break; sleep 0.2; done
if native_ready; then pass "native/built"; else fail "native/built" "$(jq -c '[.plugins[] | {name, native}]' <<<"$body")"; fi
attack_calls native
if [[ -e "$marker" ]]; then fail "names/no-code-ran" "$marker exists: code of the module's choosing ran"; else pass "names/no-code-ran"; fi
if grep -rq "pwn\|wasimancer-pwned" "$WASIMANCER_NATIVE_CACHE" --include='*.c' --include='*.h' 2>/dev/null; then
  fail "names/not-in-generated-c" "a module-chosen name is in generated C"
else
  pass "names/not-in-generated-c"
fi

# --- the workers hold nothing -------------------------------------------------------------------
workers=$(pgrep -P "$server_pid" -f "__worker" || true)
if [[ -n "$workers" ]]; then pass "workers/exist"; else fail "workers/exist" "no worker process under the server"; fi
for w in $workers; do
  env_bytes=$(wc -c <"/proc/$w/environ" 2>/dev/null || echo gone)
  [[ "$env_bytes" == gone ]] && continue
  expect_eq "worker/$w/no-environment" "$env_bytes" 0
  fds=$(ls "/proc/$w/fd" 2>/dev/null | sort -n | tr '\n' ' ')
  expect_eq "worker/$w/only-its-channel" "$fds" "0 1 2 3 "
  seccomp=$(awk '/^Seccomp:/ {print $2}' "/proc/$w/status" 2>/dev/null)
  expect_eq "worker/$w/seccomp-filter" "$seccomp" 2
  if grep -q "Max address space .* [0-9]" "/proc/$w/limits"; then pass "worker/$w/address-space-limit"; else fail "worker/$w/address-space-limit" "none"; fi
done

# --- a crashing worker costs its call only --------------------------------------------------------
upload POST "$test_plugins/hostile.wasm" \
  "$(jq -cn '{name:"spinner", version:"1.0.0", timeoutMs:30000, functions:[{displayName:"spin", function:"infinite_loop", arguments:[]}]}')"
expect_eq "crash/spinner-published" "$code" 200
spinner_worker() {  # the worker busy running the spinner: the one using CPU
  local w
  for w in $(pgrep -P "$server_pid" -f "__worker spinner"); do
    [[ "$(awk '{print $3}' "/proc/$w/stat" 2>/dev/null)" == R ]] && { echo "$w"; return; }
  done
}
crash_once() {  # SIGNAL: calls spin, kills its worker mid-call, prints the call's answer
  local sig="$1" out="$work/spin.out" w=""
  call_tool spin '{}' >"$out" &
  local caller=$!
  for _ in $(seq 1 300); do w="$(spinner_worker)"; [[ -n "$w" ]] && break; sleep 0.05; done
  [[ -n "$w" ]] && kill "-$sig" "$w"
  wait "$caller"
  cat "$out"
}
# Others keep calling while the worker is killed: not one of their calls may fail.
( for i in $(seq 1 200); do got="$(call_tool echo_tool '{}')"; [[ "$got" == ERROR* ]] && echo "bad: $got"; done ) >"$work/bystander.out" &
bystanders=$!
got="$(crash_once SEGV)"
record "$got"
if grep -q "crash" <<<"$got" && grep -q "SIGSEGV\|signal 11\|Segmentation" <<<"$got"; then pass "crash/segv-is-a-crash-error"; else fail "crash/segv-is-a-crash-error" "$got"; fi
wait "$bystanders"
if [[ -s "$work/bystander.out" ]]; then fail "crash/others-unaffected" "$(head -3 "$work/bystander.out")"; else pass "crash/others-unaffected"; fi
# The next call gets a new worker (and is stopped by its own time limit, not by a crash).
got="$(call_tool spin '{}')"
if ! grep -q "quarantined" <<<"$got"; then pass "crash/next-call-gets-a-new-worker"; else fail "crash/next-call-gets-a-new-worker" "$got"; fi

# --- quarantine ---------------------------------------------------------------------------------
for i in 1 2 3; do got="$(crash_once KILL)"; record "$got"; done
admin GET /plugins/spinner
expect_eq "quarantine/reported" "$(jq -r .quarantined <<<"$body")" true
got="$(call_tool spin '{}')"
if grep -q "quarantined" <<<"$got"; then pass "quarantine/calls-fail-fast"; else fail "quarantine/calls-fail-fast" "$got"; fi
if grep -q "quarantined" "$work/server.log"; then pass "quarantine/logged"; else fail "quarantine/logged" "no log line"; fi
upload PUT "$test_plugins/hostile.wasm" \
  "$(jq -cn '{name:"spinner", version:"1.0.1", timeoutMs:300, functions:[{displayName:"spin", function:"infinite_loop", arguments:[]}]}')"
expect_eq "quarantine/update-accepted" "$code" 200
got="$(call_tool spin '{}')"
if grep -q "timeout" <<<"$got"; then pass "quarantine/cleared-by-update"; else fail "quarantine/cleared-by-update" "$got"; fi

# --- no secret anywhere ---------------------------------------------------------------------------
cat "$work/server.log" >>"$outputs"
if grep -q "$ADMIN_TOKEN\|$MCP_TOKEN" "$outputs"; then fail "no-secret-in-outputs" "a token appears in an answer or the log"; else pass "no-secret-in-outputs"; fi
if alive; then pass "server-still-answers"; else fail "server-still-answers" "it does not"; fi
finish
