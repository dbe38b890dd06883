#!/usr/bin/env bash
# Crash consistency of publish / update / remove (registry/plugin_manager.hpp):
#  1. for each crash point (WASIMANCER_TEST_CRASH_POINT = wasm-written, wasm-renamed, yaml-written,
#     yaml-renamed, swapped) and each operation: the server SIGKILLs itself at that point; a
#     restart WITHOUT the variable on the same folders must load the old state (points before
#     yaml-renamed) or the new one (yaml-renamed and later), with plugins.yml parsing, every
#     entry's file present, the tools answering, and leftover temporary files removed;
#  2. SIGKILL at random moments during a stream of publish/update/remove, then the same
#     invariants after a restart (10 rounds).
set -uo pipefail
source "$(dirname "$0")/admin-fixtures/admin_lib.bash"
check_tools
# bash reports every server that SIGKILLs itself ("line N: PID Killed ..."): expected here, so hidden.
exec 2> >(grep --line-buffered -v '^.*: line [0-9]*: *[0-9]* Killed ' >&2)

w="$(mktemp -d /tmp/wasimancer-admin-crash.XXXXXX)"
loop_pids=()
cleanup() {
  local p
  for p in "${loop_pids[@]}"; do kill "$p" 2>/dev/null; done
  stop_server
  rm -rf "$w"
}
trap cleanup EXIT
# The servers here are SIGKILLed, possibly while the native tier is building: a cache of our own,
# so that a half-done build directory is not left in the shared one.
export WASIMANCER_NATIVE_CACHE="$w/native-cache"
A="$test_plugins/version_a.wasm"
B="$test_plugins/version_b.wasm"
ANS_A='{"version":"a"}'
ANS_B='{"version":"b"}'

# setup DIR WITH_DICE: PLUGINS_PATH=DIR/plugins (uploads in DIR/plugins/bucket) holding plugin
# "base" (tool whoami -> version a) and, if WITH_DICE, plugin "dice" 1.0.0 (tool rollDice -> "A").
setup() {
  local d="$1"
  mkdir -p "$d/plugins/bucket"
  cp "$A" "$d/plugins/bucket/base.wasm"
  {
    echo "about: crash-consistency fixture"
    echo "plugins:"
    echo "  - name: base"
    echo "    path: ./bucket/base.wasm"
    echo "    version: 1.0.0"
    echo "    functions:"
    echo "      - displayName: whoami"
    echo "        function: whoami"
    if (($2)); then
      cp "$A" "$d/plugins/bucket/dice.wasm"
      echo "  - name: dice"
      echo "    path: ./bucket/dice.wasm"
      echo "    version: 1.0.0"
      echo "    functions:"
      echo "      - displayName: rollDice"
      echo "        function: rollDice"
    fi
  } >"$d/plugins/plugins.yml"
}

start_in() {  # start_in DIR LOG [env...]
  local d="$1" log="$2"; shift 2
  start_server "$log" WASIMANCER_ADMIN_TOKEN="$ADMIN_TOKEN" WASIMANCER_AUTHENTICATION_TOKEN="$MCP_TOKEN" \
    PLUGINS_PATH="$d/plugins" UPLOAD_PATH="$d/plugins/bucket" "$@" --
}

# do_op OP [QUERY]: the operation on "dice": publish (version_b, 2.0.0), update (to version_b,
# 2.0.0) or remove. Sets $code.
do_op() {
  case "$1" in
    publish) upload POST "$B" "$(plugin_data dice rollDice rollDice 2.0.0)" dice.wasm "${2:-}" ;;
    update) upload PUT "$B" "$(plugin_data dice rollDice rollDice 2.0.0)" dice.wasm "${2:-}" ;;
    remove) admin DELETE /remove-plugin/dice ;;
  esac
}

# invariants PREFIX DIR: the checks that hold for any state. Sets $yaml (the document as JSON).
invariants() {
  local p="$1" d="$2" yml="$2/plugins/plugins.yml"
  yaml="$(yaml_json "$yml")"
  if [[ -n "$yaml" ]] && jq -e '.plugins | type == "array"' <<<"$yaml" >/dev/null; then pass "$p/plugins.yml-parses"
  else fail "$p/plugins.yml-parses" "$(head -c 300 "$yml" 2>&1 | tr '\n' '|')"; yaml='{"plugins":[]}'; fi
  local missing="" path
  while IFS= read -r path; do
    [[ -f "$d/plugins/$path" ]] || missing+="$path "
  done < <(jq -r '.plugins[].path' <<<"$yaml")
  if [[ -z "$missing" ]]; then pass "$p/entry-files-exist"; else fail "$p/entry-files-exist" "missing: $missing"; fi
  local names loaded
  names="$(jq -c '[.plugins[].name] | sort' <<<"$yaml")"
  loaded="$(curl -s -m 10 -H "Authorization: Bearer $ADMIN_TOKEN" "$(base_url)/plugins" | jq -c '[.plugins[].name] | sort' 2>/dev/null)"
  expect_eq "$p/loaded-plugins-are-the-yaml" "$loaded" "$names"
  expect_eq "$p/tools-are-the-yaml" "$(tools_list | tr '\n' ' ')" "$(jq -r '.plugins[].functions[].displayName' <<<"$yaml" | sort | tr '\n' ' ')"
  expect_eq "$p/about-key-kept" "$(jq -r '.about // "missing"' <<<"$yaml")" "crash-consistency fixture"
  local temps; temps="$(temp_files "$d")"
  if [[ -z "$temps" ]]; then pass "$p/temporaries-cleaned"; else fail "$p/temporaries-cleaned" "left: $(tr '\n' ' ' <<<"$temps")"; fi
}

# --- 1. every crash point, every operation ---------------------------------------------------------
points=(wasm-written wasm-renamed yaml-written yaml-renamed swapped)
scenarios=0
for op in publish update remove; do
  for i in "${!points[@]}"; do
    point="${points[$i]}"
    p="crash/$op/$point"
    d="$w/$op-$point"
    setup "$d" "$([[ $op == publish ]] && echo 0 || echo 1)"
    if ! start_in "$d" "$d/crash.log" WASIMANCER_TEST_CRASH_POINT="$point"; then
      fail "$p/server-start" "the server did not start"; continue
    fi
    pid="$server_pid"
    do_op "$op"
    # remove writes no wasm: it never reaches the wasm-* points and must simply succeed.
    reaches=1; [[ $op == remove && $point == wasm-* ]] && reaches=0
    if ((reaches)); then
      if wait_dead "$pid" 10; then
        if ((dead_status == 137)); then pass "$p/died-at-the-point"; else fail "$p/died-at-the-point" "HTTP $code, the server exited with status $dead_status"; fi
      else
        fail "$p/died-at-the-point" "HTTP $code, the server is still running 10 s later"; kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
      fi
      expect_eq "$p/no-answer-sent" "$code" 000
    else
      expect_eq "$p/not-reached-op-succeeds" "$code" 200
      if kill -0 "$pid" 2>/dev/null; then pass "$p/still-running"; else fail "$p/still-running" "the server died"; fi
    fi
    server_pid="$pid"; stop_server

    # Restart without the variable, on the same folders.
    if ! start_in "$d" "$d/restart.log"; then
      fail "$p/restart" "the server does not start again: $(tail -3 "$d/restart.log" | tr '\n' '|')"; continue
    fi
    pass "$p/restart"
    invariants "$p" "$d"
    # Old state before the commit point (yaml-renamed), new state from it on.
    new=$(( i >= 3 || ! reaches ))
    case "$op" in
      publish) want_ver=$( ((new)) && echo 2.0.0 || echo absent ); want_ans=$( ((new)) && echo B || echo absent ) ;;
      update) want_ver=$( ((new)) && echo 2.0.0 || echo 1.0.0 ); want_ans=$( ((new)) && echo B || echo A ) ;;
      remove) want_ver=$( ((new)) && echo absent || echo 1.0.0 ); want_ans=$( ((new)) && echo absent || echo A ) ;;
    esac
    expect_eq "$p/$( ((new)) && echo new || echo old )-state-in-yaml" \
      "$(jq -r '[.plugins[] | select(.name == "dice") | .version] | first // "absent"' <<<"$yaml")" "$want_ver"
    got="$(call_tool rollDice)"; [[ "$got" == ERROR* ]] && got=absent
    expect_eq "$p/$( ((new)) && echo new || echo old )-state-answers" "$got" "$want_ans"
    expect_eq "$p/base-answers" "$(call_tool whoami)" "$ANS_A"
    # From the old state the operation can be done again, and then holds.
    if ((!new)); then
      do_op "$op"
      expect_eq "$p/retry-succeeds" "$code" 200
      got="$(call_tool rollDice)"; [[ "$got" == ERROR* ]] && got=absent
      expect_eq "$p/retry-new-state" "$got" "$([[ $op == remove ]] && echo absent || echo B)"
    fi
    stop_server
    scenarios=$((scenarios + 1))
  done
done
expect_eq "crash/points/all-scenarios-ran" "$scenarios" 15

# A temporary file written under ?dir= (a folder inside PLUGINS_PATH) is cleaned at start too.
p="crash/publish-dir/wasm-written"
d="$w/publish-dir"
setup "$d" 0
mkdir -p "$d/plugins/extra"
if start_in "$d" "$d/crash.log" WASIMANCER_TEST_CRASH_POINT=wasm-written; then
  pid="$server_pid"
  do_op publish "?dir=$d/plugins/extra"
  if wait_dead "$pid" 10 && ((dead_status == 137)); then pass "$p/died-at-the-point"
  else fail "$p/died-at-the-point" "HTTP $code"; kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi
  server_pid=""
  if start_in "$d" "$d/restart.log"; then
    pass "$p/restart"
    invariants "$p" "$d"
    stop_server
  else
    fail "$p/restart" "the server does not start again"
  fi
else
  fail "$p/server-start" "the server did not start"
fi

# --- 2. SIGKILL at random moments during a stream of operations ---------------------------------------
# Plugins p1..p3 (tool t1..t3, export whoami); each entry's "version" says which module it has
# ("a" or "b"), so after a restart each tool must answer that version.
ops_loop() {  # ops_loop SEED LOG: random publish/update/remove until killed; logs one status per op
  RANDOM=$1
  local n v f
  while :; do
    n=$((RANDOM % 3 + 1)); v=$((RANDOM % 2))
    f=$([[ $v == 0 ]] && echo "$A" || echo "$B"); v=$([[ $v == 0 ]] && echo a || echo b)
    case $((RANDOM % 3)) in
      0) upload POST "$f" "$(plugin_data "p$n" whoami "t$n" "$v")" "p$n.wasm" ;;
      1) upload PUT "$f" "$(plugin_data "p$n" whoami "t$n" "$v")" "p$n.wasm" ;;
      2) admin DELETE "/remove-plugin/p$n" ;;
    esac
    echo "$code" >>"$2"
  done
}
ok_count() { local n; n="$(grep -c '^200$' "$1" 2>/dev/null)"; echo "${n:-0}"; }
rounds=0
for round in $(seq 1 10); do
  p="crash/random/$round"
  d="$w/random-$round"
  setup "$d" 0
  start_in "$d" "$d/run.log" || { fail "$p/server-start" "the server did not start"; continue; }
  pid="$server_pid"
  loop_pids=()
  for s in 1 2; do ops_loop $((round * 10 + s)) "$d/ops.log" & loop_pids+=($!); done
  # The kill comes after a random number (1 to 8) of operations have succeeded in this round, then
  # a random moment (0 to 0.2 s) later, while the next ones run: counted, not timed, so a busy
  # machine changes when the kill lands, not whether operations were running.
  target=$((RANDOM % 8 + 1))
  for _ in $(seq 1 1200); do
    (( $(ok_count "$d/ops.log") >= target )) && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  sleep "$(awk -v r=$((RANDOM % 200)) 'BEGIN { printf "%.3f", r / 1000 }')"
  kill -9 "$pid"; wait "$pid" 2>/dev/null
  for lp in "${loop_pids[@]}"; do kill "$lp" 2>/dev/null; wait "$lp" 2>/dev/null; done
  loop_pids=()
  server_pid=""
  n="$(ok_count "$d/ops.log")"
  if ((n >= target)); then pass "$p/operations-were-running"
  else fail "$p/operations-were-running" "only $n of $target operations succeeded before the kill (within 60 s)"; fi
  if ! start_in "$d" "$d/restart.log"; then
    fail "$p/restart" "the server does not start again: $(tail -3 "$d/restart.log" | tr '\n' '|')"; continue
  fi
  pass "$p/restart"
  invariants "$p" "$d"
  bad=""
  while IFS=$'\t' read -r tool ver; do
    got="$(call_tool "$tool")"
    [[ "$got" == "{\"version\":\"$ver\"}" ]] || bad+="$tool answered [$got] for version $ver; "
  done < <(jq -r '.plugins[] | select(.name != "base") | [.functions[0].displayName, .version] | @tsv' <<<"$yaml")
  if [[ -z "$bad" ]]; then pass "$p/each-tool-answers-its-entry-version"; else fail "$p/each-tool-answers-its-entry-version" "$bad"; fi
  expect_eq "$p/base-answers" "$(call_tool whoami)" "$ANS_A"
  stop_server
  rounds=$((rounds + 1))
done
expect_eq "crash/random/all-rounds-ran" "$rounds" 10
finish
