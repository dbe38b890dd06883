#!/usr/bin/env bash
# `make run` as a newcomer uses it (scripts/run-examples.sh, on the build under test):
#   - the state folder is created once from examples/, and what is published survives restarts;
#   - a second `make run` on a busy port stops before building or writing anything;
#   - the Plugin Management API guide's three scripts (admin-fixtures/brief: byte-for-byte copies)
#     work against it as written: the bundled examples do not collide with the guide's names;
#   - `filePath` in upload answers is the path plugins.yml records;
#   - --reset (make run-reset) starts over; a folder that is not a state folder is left alone.
# In a private network namespace (unshare -rn: its own loopback, where port 3001 is free) the
# guide's scripts run byte for byte, http://localhost:3001 included; where user namespaces are not
# available, the suite says so and changes only the port in the scripts' endpoint line.
set -uo pipefail
if [[ -z "${WM_NETNS:-}" ]] && unshare -rn true 2>/dev/null; then
  exec unshare -rn env WM_NETNS=1 bash "$0" "$@"
fi
source "$(dirname "$0")/admin-fixtures/admin_lib.bash"
check_tools

w="$(mktemp -d /tmp/wasimancer-make-run.XXXXXX)"
trap 'stop_server; rm -rf "$w"' EXIT
brief="$fixtures/brief"
examples_wasm="$build/examples/plugins"

if [[ -n "${WM_NETNS:-}" ]] && PATH="$PATH:/usr/sbin:/sbin" ip link set lo up 2>/dev/null; then
  port=3001
  pass "make-run/private-network-namespace"
else
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  echo "note: no private network namespace (unshare -rn); the guide's scripts run with port $port instead of 3001"
fi
unset WASIMANCER_BIND WASIMANCER_HOME
state="$w/state"

# run_make_run LOG [args...]: scripts/run-examples.sh --no-build BUILD STATE in the background
# (what `make run` runs once the build is done); sets server_pid and server_port once it listens.
run_make_run() {
  local log="$1"; shift
  : >"$log"
  HTTP_PORT="$port" "$root/scripts/run-examples.sh" --no-build "$@" "$build" "$state" >"$log" 2>&1 &
  server_pid=$!
  wait_listening "$log" "$server_pid"
}
mcp_sse() {
  curl -s -m 30 "http://127.0.0.1:$port/mcp" -H "Authorization: Bearer wasimancer-rocks" -H 'Content-Type: application/json' \
    -H 'Accept: application/json, text/event-stream' -d "$1" | grep '^data:' | sed 's/^data: //'
}
call() {
  mcp_sse "{\"jsonrpc\":\"2.0\",\"id\":\"1\",\"method\":\"tools/call\",\"params\":{\"name\":\"$1\",\"arguments\":$2}}" |
    jq -r 'if .result.isError or .error then "ERROR: " + tostring else .result.content[0].text end' 2>/dev/null
}
tools() { mcp_sse '{"jsonrpc":"2.0","id":"1","method":"tools/list"}' | jq -r '[.result.tools[].name] | sort | join(",")'; }
yml="$state/plugins/plugins.yml"
example_tools="addNumbers,multiplyNumbers,sayHello,throwDice"

# --- the bundled examples do not use the guide's names ---------------------------------------------
names="$(yaml_json "$root/examples/plugins/plugins.yml" | jq -r '[.plugins[] | .name, .functions[].displayName] | join(",")')"
clash=""
for n in roll-dice rollDice character-name-generator GenerateCharacterName; do [[ ",$names," == *",$n,"* ]] && clash+="$n "; done
expect_eq "make-run/examples-avoid-the-guide-names" "$clash" ""

# --- first run: the state folder is created from examples/ ---------------------------------------------
run_make_run "$w/run1.log" || { fail "make-run/first-start" "it did not start"; finish; }
expect_eq "make-run/first/state-created-from-examples" "$(cmp -s "$root/examples/plugins/plugins.yml" "$yml" && echo same)" same
expect_eq "make-run/first/says-created" "$(grep -c 'state folder .*: created from examples/' "$w/run1.log")" 1
expect_eq "make-run/first/tools" "$(tools)" "$example_tools"
r="$(call throwDice '{"numFaces":1,"numDice":3}')"
expect_eq "make-run/first/throwDice" "$r" 3
banner="$(sed -n '/^wasimancer serves/,/^[0-9]\{4\}-[0-9][0-9]-/p' "$w/run1.log" | head -n -1)"
lines_before_log="$(awk '/^[0-9]{4}-[0-9][0-9]-/{exit} {n++} END{print n}' "$w/run1.log")"
if ((lines_before_log <= 24)) && [[ "$banner" == *"Bearer wasimancer-rocks"* && "$banner" == *"make run-reset"* ]]; then
  pass "make-run/first/one-screen-banner"
else fail "make-run/first/one-screen-banner" "$lines_before_log lines before the log: $(head -30 "$w/run1.log")"; fi

# --- a second `make run` while the first serves: stops at the port check, builds and writes nothing -----
before="$(tree_state "$state")"
mkdir -p "$w/shim"
for tool in cmake apt-get sudo npm; do
  printf '#!/bin/sh\necho "%s $*" >>"%s/ran"\nexit 1\n' "$tool" "$w" >"$w/shim/$tool"; chmod +x "$w/shim/$tool"
done
PATH="$w/shim:$PATH" make -s -C "$root" run BUILD="$build" STATE="$state" HTTP_PORT="$port" >"$w/second.out" 2>&1
rc=$?
expect_eq "make-run/busy-port/exit-1" "$rc" 2  # make reports the recipe's failure as 2
if grep -q "port $port is already in use" "$w/second.out" && grep -q "HTTP_PORT=" "$w/second.out" && grep -q wasimancer "$w/second.out"; then
  pass "make-run/busy-port/says-why-and-what-to-do"
else fail "make-run/busy-port/says-why-and-what-to-do" "$(cat "$w/second.out")"; fi
expect_eq "make-run/busy-port/nothing-built-or-installed" "$(cat "$w/ran" 2>/dev/null)" ""
expect_eq "make-run/busy-port/state-untouched" "$(tree_state "$state")" "$before"
expect_eq "make-run/busy-port/first-still-serves" "$(call throwDice '{"numFaces":1,"numDice":2}')" 2

# --- the guide's scripts, as written ---------------------------------------------------------------
mkdir -p "$w/client-v1" "$w/client-v2" "$w/curl-shim"
real_curl="$(command -v curl)"
printf '#!/bin/bash\nexec "%s" --write-out %s "$@"\n' "$real_curl" "'%{stderr}HTTP_STATUS=%{http_code}\n'" >"$w/curl-shim/curl"
chmod +x "$w/curl-shim/curl"
# guide_script NAME DIR: the guide's script in DIR, with only the port changed if it must be.
guide_script() {
  sed -e "s#http://localhost:3001/#http://localhost:$port/#" "$brief/$1" >"$2/$1"
  chmod +x "$2/$1"
  if ((port == 3001)); then
    if cmp -s "$brief/$1" "$2/$1"; then pass "make-run/guide/$1-byte-for-byte"; else fail "make-run/guide/$1-byte-for-byte" "differs"; fi
  fi
}
run_script() {  # run_script DIR NAME: sets $out, $status
  (cd "$1" && PATH="$w/curl-shim:$PATH" bash "./$2" >"$w/out" 2>"$w/err")
  out="$(cat "$w/out")"
  status="$(sed -n 's/^HTTP_STATUS=//p' "$w/err" | tail -1)"
}
# The guide's plugin is TinyGo's rollDice; the example plugin's rollDice export does the same.
cp "$examples_wasm/roll_dice.wasm" "$w/client-v1/wasimancer-plugin-roll-dice.wasm"
guide_script publish.sh "$w/client-v1"
run_script "$w/client-v1" publish.sh
expect_eq "make-run/guide/publish/status-200" "$status" 200
expect_eq "make-run/guide/publish/message" "$(jq -r .message <<<"$out" 2>/dev/null)" "🎉 File uploaded successfully"
expect_eq "make-run/guide/publish/no-path-note" "$(jq -r '.note // "none"' <<<"$out" 2>/dev/null)" none
expect_eq "make-run/guide/publish/filePath-as-the-guide-shows" "$(jq -r .filePath <<<"$out" 2>/dev/null)" "./bucket/wasimancer-plugin-roll-dice.wasm"
expect_eq "make-run/guide/publish/filePath-is-the-plugins.yml-path" "$(yaml_json "$yml" | jq -r '.plugins[] | select(.name == "roll-dice") | .path')" \
  "$(jq -r .filePath <<<"$out" 2>/dev/null)"
if cmp -s "$state/plugins/bucket/wasimancer-plugin-roll-dice.wasm" "$w/client-v1/wasimancer-plugin-roll-dice.wasm"; then
  pass "make-run/guide/publish/stored-in-the-state-folder"
else fail "make-run/guide/publish/stored-in-the-state-folder" "$(find "$state" -type f)"; fi
expect_eq "make-run/guide/publish/rollDice" "$(call rollDice '{"numFaces":1,"numDice":5}')" 5
expect_eq "make-run/guide/publish/tools" "$(tools)" "addNumbers,multiplyNumbers,rollDice,sayHello,throwDice"

# --- restart: what was published is still served ---------------------------------------------------
stop_server
run_make_run "$w/run2.log" || { fail "make-run/restart" "it did not start again"; finish; }
expect_eq "make-run/restart/says-kept" "$(grep -c 'state folder .*: kept from the last run' "$w/run2.log")" 1
expect_eq "make-run/restart/published-plugin-still-served" "$(call rollDice '{"numFaces":1,"numDice":4}')" 4
expect_eq "make-run/restart/tools" "$(tools)" "addNumbers,multiplyNumbers,rollDice,sayHello,throwDice"

cp "$test_plugins/version_b.wasm" "$w/client-v2/wasimancer-plugin-roll-dice.wasm"
guide_script update.sh "$w/client-v2"
run_script "$w/client-v2" update.sh
expect_eq "make-run/guide/update/status-200" "$status" 200
expect_eq "make-run/guide/update/version" "$(yaml_json "$yml" | jq -r '.plugins[] | select(.name == "roll-dice") | .version')" 1.1.0
expect_eq "make-run/guide/update/new-code" "$(call rollDice '{"numFaces":6,"numDice":3}')" B
expect_eq "make-run/guide/update/filePath-is-the-plugins.yml-path" "$(jq -r .filePath <<<"$out" 2>/dev/null)" \
  "$(yaml_json "$yml" | jq -r '.plugins[] | select(.name == "roll-dice") | .path')"

guide_script remove.sh "$w/client-v1"
run_script "$w/client-v1" remove.sh
expect_eq "make-run/guide/remove/status-200" "$status" 200
expect_eq "make-run/guide/remove/body" "$(jq -c . <<<"$out" 2>/dev/null)" '{"message":"🙂 Plugin removed successfully"}'
expect_eq "make-run/guide/remove/examples-remain" "$(tools)" "$example_tools"
expect_eq "make-run/guide/remove/bucket-empty" "$(find "$state/plugins/bucket" -type f | wc -l)" 0

stop_server
run_make_run "$w/run3.log" || { fail "make-run/restart-after-remove" "it did not start again"; finish; }
expect_eq "make-run/restart-after-remove/still-removed" "$(tools)" "$example_tools"

# --- --reset (make run-reset) starts over -------------------------------------------------------------
cp "$examples_wasm/roll_dice.wasm" "$w/client-v1/wasimancer-plugin-roll-dice.wasm"
run_script "$w/client-v1" publish.sh
expect_eq "make-run/reset/published-before" "$status" 200
stop_server
run_make_run "$w/run4.log" --reset || { fail "make-run/reset" "it did not start"; finish; }
expect_eq "make-run/reset/says-so" "$(grep -c 'created from examples/ (deleted and created again' "$w/run4.log")" 1
expect_eq "make-run/reset/plugins.yml-is-the-example" "$(cmp -s "$root/examples/plugins/plugins.yml" "$yml" && echo same)" same
expect_eq "make-run/reset/tools" "$(tools)" "$example_tools"
expect_eq "make-run/reset/bucket-empty" "$(find "$state/plugins/bucket" -type f | wc -l)" 0
stop_server

# --- a folder that is not a state folder is neither filled nor deleted ----------------------------------
mkdir -p "$w/mine"; echo keep >"$w/mine/notes.txt"
before="$(tree_state "$w/mine")"
HTTP_PORT="$port" "$root/scripts/run-examples.sh" --no-build --reset "$build" "$w/mine" >"$w/mine.out" 2>&1
rc=$?
if ((rc != 0)) && grep -q "is not a wasimancer state folder" "$w/mine.out"; then pass "make-run/foreign-folder/refused"
else fail "make-run/foreign-folder/refused" "exit $rc: $(cat "$w/mine.out")"; fi
expect_eq "make-run/foreign-folder/untouched" "$(tree_state "$w/mine")" "$before"
finish
