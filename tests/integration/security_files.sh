#!/usr/bin/env bash
# Files and names through the admin API (issue 15):
#  1. an upload over a planted symlink is not written through it; removing the plugin deletes
#     nothing outside PLUGINS_PATH (nor the link);
#  2. orphans: updates cut by kill -9 (at each crash point, and at random moments) leave no
#     .wasm behind once the server restarts, and the user's own files are never deleted;
#  3. names: one rule for plugins, tools, resources and prompts (400 with the rule), a numeric
#     name is refused, names in URLs are checked, a long ?dir= is 400 (it was 500);
#  4. resources/read of huge URIs against a template: a clean JSON-RPC error, the server alive
#     (it died of a stack overflow in std::regex).
set -uo pipefail
source "$(dirname "$0")/admin-fixtures/admin_lib.bash"
check_tools
exec 2> >(grep --line-buffered -v '^.*: line [0-9]*: *[0-9]* Killed ' >&2)

w="$(mktemp -d /tmp/wasimancer-security-files.XXXXXX)"
loop_pids=()
cleanup() {
  local p
  for p in "${loop_pids[@]}"; do kill "$p" 2>/dev/null; done
  stop_server
  rm -rf "$w"
}
trap cleanup EXIT
export WASIMANCER_NATIVE_CACHE="$w/native-cache"
A="$test_plugins/version_a.wasm"
B="$test_plugins/version_b.wasm"

start_in() {  # start_in DIR LOG [env...]
  local d="$1" log="$2"; shift 2
  start_server "$log" WASIMANCER_ADMIN_TOKEN="$ADMIN_TOKEN" WASIMANCER_AUTHENTICATION_TOKEN="$MCP_TOKEN" \
    PLUGINS_PATH="$d/plugins" UPLOAD_PATH="$d/plugins/bucket" RESOURCES_PATH="$d/resources" PROMPTS_PATH="$d/prompts" "$@" --
}

# unreferenced DIR: the .wasm files under DIR/plugins/bucket that plugins.yml does not reference,
# other than the user's own (user-*.wasm).
unreferenced() {
  local d="$1" f rel yaml
  yaml="$(yaml_json "$d/plugins/plugins.yml")"
  [[ -n "$yaml" ]] || yaml='{"plugins":[]}'
  for f in "$d"/plugins/bucket/*.wasm; do
    [[ -e "$f" ]] || continue
    [[ "$(basename "$f")" == user-* ]] && continue
    rel="./bucket/$(basename "$f")"
    jq -e --arg p "$rel" '[.plugins[]?.path] | index($p) != null' <<<"$yaml" >/dev/null || echo "$(basename "$f")"
  done
}

# --- 1. planted symlinks ------------------------------------------------------------------------
d="$w/links"
mkdir -p "$d/plugins/bucket" "$d/outside"
echo precious >"$d/outside/victim.wasm"
ln -s "$d/outside/victim.wasm" "$d/plugins/bucket/dice.wasm"
ln -s "$d/outside" "$d/plugins/bucket/sub"
before_outside="$(tree_state "$d/outside")"
start_in "$d" "$d/server.log" || { fail "links/server-start" "no server"; finish; }
upload POST "$A" "$(plugin_data dice rollDice)" dice.wasm
expect_eq "links/upload-over-link/200" "$code" 200
stored="$(jq -r .filePath <<<"$body")"
[[ "$stored" == /* ]] || stored="$d/plugins/${stored#./}"  # filePath is the plugins.yml path (relative)
if [[ "$(basename "$stored")" != dice.wasm && -f "$stored" && ! -L "$stored" ]]; then pass "links/upload-over-link/own-name"
else fail "links/upload-over-link/own-name" "stored as $stored"; fi
expect_eq "links/upload-over-link/link-kept" "$(readlink "$d/plugins/bucket/dice.wasm")" "$d/outside/victim.wasm"
expect_eq "links/upload-over-link/victim-untouched" "$(cat "$d/outside/victim.wasm")" precious
expect_eq "links/upload-over-link/tool-works" "$(call_tool rollDice)" A
upload POST "$B" "$(plugin_data other whoami)" other.wasm "?dir=$d/plugins/bucket/sub"
expect_eq "links/dir-through-link/400" "$code" 400
admin DELETE /remove-plugin/dice
expect_eq "links/remove/200" "$code" 200
expect_eq "links/remove/victim-untouched" "$(tree_state "$d/outside")" "$before_outside"
if [[ -L "$d/plugins/bucket/dice.wasm" && ! -e "$stored" ]]; then pass "links/remove/only-own-file-deleted"
else fail "links/remove/only-own-file-deleted" "$(ls -la "$d/plugins/bucket")"; fi
stop_server

# --- 2a. orphans: an update killed at each crash point ------------------------------------------------
for point in wasm-written wasm-renamed yaml-written yaml-renamed swapped; do
  p="orphans/update-killed-at/$point"
  d="$w/orphan-$point"
  mkdir -p "$d/plugins/bucket"
  cp "$A" "$d/plugins/bucket/user-own.wasm"   # never referenced, never ours: must survive
  start_in "$d" "$d/first.log" || { fail "$p/server-start" "no server"; continue; }
  upload POST "$A" "$(plugin_data dice rollDice rollDice 1.0.0)" dice.wasm
  expect_eq "$p/publish" "$code" 200
  upload PUT "$B" "$(plugin_data dice rollDice rollDice 2.0.0)" dice.wasm   # a second server-written file
  stop_server
  start_in "$d" "$d/crash.log" WASIMANCER_TEST_CRASH_POINT="$point" || { fail "$p/server-start" "no server"; continue; }
  pid="$server_pid"
  upload PUT "$A" "$(plugin_data dice rollDice rollDice 3.0.0)" dice.wasm
  if wait_dead "$pid" 10 && ((dead_status == 137)); then pass "$p/killed"
  else fail "$p/killed" "HTTP $code"; kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi
  server_pid=""
  start_in "$d" "$d/restart.log" || { fail "$p/restart" "$(tail -3 "$d/restart.log")"; continue; }
  expect_eq "$p/no-orphan" "$(unreferenced "$d" | tr '\n' ' ')" ""
  if [[ -f "$d/plugins/bucket/user-own.wasm" ]]; then pass "$p/user-file-kept"; else fail "$p/user-file-kept" "deleted"; fi
  got="$(call_tool rollDice)"
  if [[ "$got" == A || "$got" == B ]]; then pass "$p/tool-answers"; else fail "$p/tool-answers" "$got"; fi
  stop_server
done

# --- 2b. orphans: updates killed at random moments ---------------------------------------------------
update_loop() {  # update_loop SEED LOG
  RANDOM=$1
  local v
  while :; do
    v=$((RANDOM % 2))
    upload PUT "$([[ $v == 0 ]] && echo "$A" || echo "$B")" "$(plugin_data dice rollDice rollDice "$RANDOM")" dice.wasm
    echo "$code" >>"$2"
  done
}
d="$w/random"
mkdir -p "$d/plugins/bucket"
echo "not a module" >"$d/plugins/bucket/user-notes.wasm"
start_in "$d" "$d/first.log" || { fail "orphans/random/server-start" "no server"; finish; }
upload POST "$A" "$(plugin_data dice rollDice)" dice.wasm
expect_eq "orphans/random/publish" "$code" 200
stop_server
orphan_rounds=0
updates=0
for round in $(seq 1 12); do
  start_in "$d" "$d/run-$round.log" || { fail "orphans/random/$round/start" "$(tail -3 "$d/run-$round.log")"; continue; }
  pid="$server_pid"
  : >"$d/ops.log"
  loop_pids=()
  for s in 1 2; do update_loop $((round * 10 + s)) "$d/ops.log" & loop_pids+=($!); done
  # Kill once some updates went through (whatever the machine's speed), at a random moment after.
  for _ in $(seq 1 200); do [[ "$(grep -c '^200$' "$d/ops.log")" -ge 2 ]] && break; sleep 0.05; done
  sleep "$(awk -v r=$((RANDOM % 300)) 'BEGIN { printf "%.3f", r / 1000 }')"
  kill -9 "$pid"; wait "$pid" 2>/dev/null
  for lp in "${loop_pids[@]}"; do kill "$lp" 2>/dev/null; wait "$lp" 2>/dev/null; done
  loop_pids=(); server_pid=""
  updates=$((updates + $(grep -c '^200$' "$d/ops.log")))
  # Restart: the folder must hold only what plugins.yml references (and the user's file).
  start_in "$d" "$d/restart-$round.log" || { fail "orphans/random/$round/restart" "$(tail -3 "$d/restart-$round.log")"; continue; }
  left="$(unreferenced "$d" | tr '\n' ' ')"
  [[ -n "$left" ]] && orphan_rounds=$((orphan_rounds + 1)) && echo "round $round left: $left"
  stop_server
done
expect_eq "orphans/random/no-round-leaves-an-orphan" "$orphan_rounds" 0
if ((updates >= 12)); then pass "orphans/random/updates-ran"; else fail "orphans/random/updates-ran" "only $updates updates"; fi
if [[ "$(cat "$d/plugins/bucket/user-notes.wasm")" == "not a module" ]]; then pass "orphans/random/user-file-kept"
else fail "orphans/random/user-file-kept" "gone or changed"; fi

# --- 3. names ------------------------------------------------------------------------------------
d="$w/names"
mkdir -p "$d/plugins/bucket" "$d/resources" "$d/prompts"
start_in "$d" "$d/server.log" || { fail "names/server-start" "no server"; finish; }
name_refused() {  # name_refused NAME EXPECT-IN-ERROR: the last request was a 400 naming the rule
  if [[ "$code" == 400 ]] && is_error_body "$body" && [[ "$(jq -r .error <<<"$body")" == *"$2"* ]]; then pass "$1"
  else fail "$1" "HTTP $code ${body:0:300}"; fi
}
upload POST "$A" "$(jq -c '.name = 123' <<<"$(plugin_data x rollDice t1)")" n.wasm
name_refused names/plugin/numeric "must be a string"
long="$(head -c 100000 /dev/zero | tr '\0' n)"
printf '%s' "$(jq -c --arg n "$long" '.name = $n' <<<"$(plugin_data x rollDice t2)")" >"$w/long.json"
admin POST /upload-plugin -F "wasmFile=@$A;filename=n.wasm" -F "pluginData=<$w/long.json"
name_refused names/plugin/100000-characters "1 to 128 characters"
upload POST "$A" "$(plugin_data 'a/b' rollDice t3)" n.wasm
name_refused names/plugin/slash "'/'"
upload POST "$A" "$(jq -c '.name = "a\u0007b"' <<<"$(plugin_data x rollDice t4)")" n.wasm
name_refused names/plugin/control "control character"
upload POST "$A" "$(plugin_data okname5 rollDice 'tool/x')" n.wasm
name_refused names/tool/slash "tool name"
admin POST /add-resource -H 'Content-Type: application/json' \
  -d '{"name":"r/1","uri":"config://x","contents":[{"text":"t"}]}'
name_refused names/resource/slash "resource name"
admin POST /add-prompt -H 'Content-Type: application/json' \
  -d "$(jq -cn --arg n "$(head -c 200 /dev/zero | tr '\0' p)" '{name:$n,messages:[{role:"user",text:"t"}]}')"
name_refused names/prompt/too-long "longer than 128"
admin DELETE "/remove-plugin/$(head -c 300 /dev/zero | tr '\0' x)"
name_refused names/url/remove-plugin-too-long "longer than 128"
admin DELETE "/remove-resource/a%0Ab"
name_refused names/url/remove-resource-control "control character"
admin DELETE "/remove-prompt/a%2Fb"
name_refused names/url/remove-prompt-slash "'/'"
expect_eq "names/nothing-stored" "$(ls -A "$d/plugins/bucket")" ""
# A good name with spaces, accents and 128 characters works end to end.
good="$(printf 'é%.0s' $(seq 1 64))$(head -c 64 /dev/zero | tr '\0' x)"
upload POST "$A" "$(plugin_data "$good" rollDice t6)" good.wasm
expect_eq "names/128-characters/publish" "$code" 200
admin DELETE "/remove-plugin/$(jq -rn --arg n "$good" '$n | @uri')"
expect_eq "names/128-characters/remove" "$code" 200
# ?dir= that is too long: 400 (was 500).
upload POST "$A" "$(plugin_data dirx rollDice t7)" n.wasm "?dir=$d/plugins/$(head -c 5000 /dev/zero | tr '\0' d)"
name_refused names/dir/5000-bytes "dir"
upload POST "$A" "$(plugin_data diry rollDice t8)" n.wasm "?dir=$d/plugins/$(head -c 300 /dev/zero | tr '\0' d)"
name_refused names/dir/long-component "dir"
stop_server

# --- 4. huge URIs against a URI template ----------------------------------------------------------
d="$w/uri"
mkdir -p "$d/plugins" "$d/resources"
cat >"$d/resources/resources.yml" <<'EOF'
resources:
  dynamic:
    - name: greet-user
      uri: greet-user://{firstName}/{lastName}
      arguments:
        - name: firstName
          type: string
      contents:
        - text: Say hello to ${firstName} ${lastName}!
EOF
start_in "$d" "$d/server.log" || { fail "uri/server-start" "no server"; finish; }
for n in 30000 100000 1000000; do
  python3 -c "import json,sys; print(json.dumps({'jsonrpc':'2.0','id':1,'method':'resources/read','params':{'uri':'greet-user://'+'a'*$n+'/b'}}))" >"$w/req.json"
  res="$(curl -s -m 30 "$(base_url)/mcp" -H "Authorization: Bearer $MCP_TOKEN" -H 'Content-Type: application/json' \
    -H 'Accept: application/json' --data-binary @"$w/req.json")"
  if jq -e '.error.code | type == "number"' <<<"$res" >/dev/null 2>&1; then pass "uri/$n-characters/clean-error"
  else fail "uri/$n-characters/clean-error" "${res:0:200}"; fi
  if kill -0 "$server_pid" 2>/dev/null; then pass "uri/$n-characters/server-alive"; else fail "uri/$n-characters/server-alive" "the server died"; fi
done
res="$(mcp '{"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"greet-user://Bob/Morane"}}')"
expect_eq "uri/normal-read-still-works" "$(jq -r '.result.contents[0].text' <<<"$res")" "Say hello to Bob Morane!"
stop_server

finish
