#!/usr/bin/env bash
# The Plugin Management API guide's own scripts, run as users run them, against the real server:
# publish.sh (with the example plugin's rollDice export: examples/plugins/src/roll_dice.c), update.sh,
# and the remove script.
# The scripts in admin-fixtures/brief are byte-for-byte copies of the guide's; the copies we run
# differ only in the endpoint's port (and, for the second update, WASM_FILE). An HTTP status is
# not printed by the scripts, so a `curl` shim on PATH adds `--write-out` to stderr (the command
# line in the script is untouched). One PASS/FAIL line per check.
set -uo pipefail
source "$(dirname "$0")/admin-fixtures/admin_lib.bash"
check_tools

w="$(mktemp -d /tmp/wasimancer-admin-brief.XXXXXX)"
trap 'stop_server; rm -rf "$w"' EXIT
guide="${WASIMANCER_GUIDE:-$root/../shared/docs/plugin-management-api-guide.md}"
brief="$fixtures/brief"
roll_dice_wasm="$build/examples/plugins/roll_dice.wasm"
version_b="$test_plugins/version_b.wasm"
version_a="$test_plugins/version_a.wasm"

# --- the fixture scripts are the guide's ---------------------------------------------------------
if [[ -f "$guide" ]]; then
  ok=1
  diff -q <(awk '/^cat > publish.sh << .EOF.$/{f=1;next} f&&/^EOF$/{f=0} f' "$guide") "$brief/publish.sh" >/dev/null || ok=0
  diff -q <(awk '/^cat > update.sh << .EOF.$/{f=1;next} f&&/^EOF$/{f=0} f' "$guide") "$brief/update.sh" >/dev/null || ok=0
  diff -q <(awk '/^### Example 3/{e=1} e&&/^```bash$/{f=1;next} f&&/^```$/{f=0;e=0} f' "$guide") "$brief/remove.sh" >/dev/null || ok=0
  if ((ok)); then pass "brief/fixtures-are-the-guide-scripts"; else fail "brief/fixtures-are-the-guide-scripts" "admin-fixtures/brief/*.sh differ from $guide"; fi
else
  echo "SKIP brief/fixtures-are-the-guide-scripts: no guide at $guide (set WASIMANCER_GUIDE)"
fi
upload_cmd='curl -X POST ${UPLOAD_ENDPOINT} \
  -H "Authorization: Bearer ${TOKEN}" \
  -F "wasmFile=@${WASM_FILE}" \
  -F "pluginData=${DATA}"'
if grep -qF -- "$upload_cmd" "$brief/publish.sh"; then pass "brief/publish-curl-command-verbatim"
else fail "brief/publish-curl-command-verbatim" "publish.sh does not hold the guide's curl command"; fi

# --- the server, configured as WASImancer's compose file: plugins in ./plugins, uploads in ./plugins/bucket
mkdir -p "$w/server" "$w/client-v1" "$w/client-v2" "$w/shim"
real_curl="$(command -v curl)"
cat >"$w/shim/curl" <<EOF
#!/bin/bash
exec "$real_curl" --write-out '%{stderr}HTTP_STATUS=%{http_code}\n' "\$@"
EOF
chmod +x "$w/shim/curl"

cd "$w/server" || exit 1
start_server "$w/server.log" WASIMANCER_ADMIN_TOKEN=wasimancer-rocks WASIMANCER_AUTHENTICATION_TOKEN="$MCP_TOKEN" \
  PLUGINS_PATH=./plugins UPLOAD_PATH=./plugins/bucket -- || { fail "brief/server-start" "the server did not start"; finish; }
port="$server_port"

# make_script NAME DIR [WASM_FILE]: the guide's script with our port (and WASM_FILE), in DIR.
make_script() {
  local name="$1" dir="$2" wasm="${3:-}"
  sed -e "s#http://localhost:3001/#http://localhost:$port/#" "$brief/$name" >"$dir/$name"
  [[ -n "$wasm" ]] && sed -i -e "s#^WASM_FILE=.*#WASM_FILE=\"$wasm\"#" "$dir/$name"
  chmod +x "$dir/$name"
  # Only the endpoint line (and WASM_FILE when asked) may differ.
  local changed; changed=$(diff "$brief/$name" "$dir/$name" | grep -c '^>')
  local allowed=1; [[ -n "$wasm" ]] && allowed=2
  if ((changed == allowed)); then pass "brief/$name-port${wasm:+-and-wasm}-only-change"
  else fail "brief/$name-port${wasm:+-and-wasm}-only-change" "$changed lines differ from the guide's script"; fi
}

# run_script DIR NAME: runs it there; sets $out (stdout), $status (HTTP status), $rc.
run_script() {
  (cd "$1" && PATH="$w/shim:$PATH" bash "./$2" >"$w/out" 2>"$w/err")
  rc=$?
  out="$(cat "$w/out")"
  status="$(sed -n 's/^HTTP_STATUS=//p' "$w/err" | tail -1)"
}

# mcp_sse JSON: a Streamable HTTP POST answered as SSE (the default); prints the data: payload.
mcp_sse() {
  curl -s -m 30 "http://127.0.0.1:$port/mcp" -H "Authorization: Bearer $MCP_TOKEN" -H 'Content-Type: application/json' \
    -H 'Accept: application/json, text/event-stream' -d "$1" | grep '^data:' | sed 's/^data: //'
}
roll() {
  mcp_sse "{\"jsonrpc\":\"2.0\",\"id\":\"1\",\"method\":\"tools/call\",\"params\":{\"name\":\"rollDice\",\"arguments\":$1}}" |
    jq -r 'if .result.isError or .error then "ERROR: " + tostring else .result.content[0].text end' 2>/dev/null
}
tool_desc() {
  mcp_sse '{"jsonrpc":"2.0","id":"1","method":"tools/list"}' | jq -c '[.result.tools[] | select(.name == "rollDice")]'
}
yml="$w/server/plugins/plugins.yml"
bucket="$w/server/plugins/bucket"

# --- publish.sh --------------------------------------------------------------------------------
cp "$roll_dice_wasm" "$w/client-v1/wasimancer-plugin-roll-dice.wasm"
make_script publish.sh "$w/client-v1"
run_script "$w/client-v1" publish.sh
expect_eq "brief/publish/status-200" "$status" 200
expect_eq "brief/publish/message" "$(jq -r .message <<<"$out" 2>/dev/null)" "🎉 File uploaded successfully"
expect_eq "brief/publish/metadata" "$(jq -c '[.metadata.name, .metadata.version, .metadata.path, .metadata.functions[0].function]' <<<"$out" 2>/dev/null)" \
  '["roll-dice","1.0.0","./bucket/wasimancer-plugin-roll-dice.wasm","rollDice"]'
expect_eq "brief/publish/no-path-note" "$(jq -r '.note // "none"' <<<"$out" 2>/dev/null)" none
# filePath: as the guide shows it, the path plugins.yml records (relative to PLUGINS_PATH).
expect_eq "brief/publish/filePath" "$(jq -r .filePath <<<"$out" 2>/dev/null)" "./bucket/wasimancer-plugin-roll-dice.wasm"
if cmp -s "$bucket/wasimancer-plugin-roll-dice.wasm" "$roll_dice_wasm"; then
  pass "brief/publish/file-stored-in-bucket"
else fail "brief/publish/file-stored-in-bucket" "bucket: $(ls -A "$bucket" 2>&1)"; fi
expect_eq "brief/publish/plugins.yml" "$(yaml_json "$yml" | jq -c '[.plugins[] | {name, path, version}]')" \
  '[{"name":"roll-dice","path":"./bucket/wasimancer-plugin-roll-dice.wasm","version":"1.0.0"}]'
expect_eq "brief/publish/tools-list" "$(tool_desc | jq -c '[.[] | .description, .inputSchema.required]')" \
  '["a function to roll dice",["numFaces","numDice"]]'
r="$(roll '{"numFaces":6,"numDice":3}')"
if [[ "$r" =~ ^[0-9]+$ ]] && ((r >= 3 && r <= 18)); then pass "brief/publish/rollDice-6x3"; else fail "brief/publish/rollDice-6x3" "answer [$r], want 3..18"; fi
expect_eq "brief/publish/rollDice-1x5" "$(roll '{"numFaces":1,"numDice":5}')" 5

# --- update.sh: the guide recompiles into the same file name; ours is version_b (rollDice -> "B")
cp "$version_b" "$w/client-v2/wasimancer-plugin-roll-dice.wasm"
make_script update.sh "$w/client-v2"
run_script "$w/client-v2" update.sh
expect_eq "brief/update/status-200" "$status" 200
expect_eq "brief/update/message" "$(jq -r .message <<<"$out" 2>/dev/null)" "🎉 File uploaded successfully"
expect_eq "brief/update/metadata" "$(jq -c '[.metadata.name, .metadata.version, .metadata.description]' <<<"$out" 2>/dev/null)" \
  '["roll-dice","1.1.0","enhanced dice rolling with detailed results"]'
expect_eq "brief/update/new-answer" "$(roll '{"numFaces":6,"numDice":3}')" B
expect_eq "brief/update/tools-list-description" "$(tool_desc | jq -r '.[0].description')" "a function to roll dice and get detailed results"
entry="$(yaml_json "$yml" | jq -c '.plugins')"
newpath="$(jq -r '.[0].path' <<<"$entry")"
expect_eq "brief/update/plugins.yml-version" "$(jq -c '[length, .[0].name, .[0].version]' <<<"$entry")" '[1,"roll-dice","1.1.0"]'
if cmp -s "$w/server/plugins/$newpath" "$version_b"; then pass "brief/update/yml-references-new-file"
else fail "brief/update/yml-references-new-file" "plugins.yml path $newpath is not the uploaded file"; fi
expect_eq "brief/update/old-file-deleted" "$(ls -A "$bucket" | tr '\n' ' ')" "$(basename "$newpath") "
expect_eq "brief/update/filePath-is-the-plugins.yml-path" "$(jq -r .filePath <<<"$out" 2>/dev/null)" "$newpath"

# update.sh again with WASM_FILE pointed at another file name (version_a: rollDice -> "A").
make_script update.sh "$w/client-v2" "$version_a"
run_script "$w/client-v2" update.sh
expect_eq "brief/update2/status-200" "$status" 200
expect_eq "brief/update2/new-answer" "$(roll '{"numFaces":6,"numDice":3}')" A
note="$(jq -r '.note // ""' <<<"$out" 2>/dev/null)"
if [[ "$note" == *"./bucket/version_a.wasm"* ]]; then pass "brief/update2/path-replaced-note"
else fail "brief/update2/path-replaced-note" "note [$note] should say the path became ./bucket/version_a.wasm; body: $out"; fi
expect_eq "brief/update2/plugins.yml-path" "$(yaml_json "$yml" | jq -r '.plugins[0].path')" "./bucket/version_a.wasm"
expect_eq "brief/update2/one-file-in-bucket" "$(ls -A "$bucket" | tr '\n' ' ')" "version_a.wasm "

# --- the remove script ---------------------------------------------------------------------------
make_script remove.sh "$w/client-v1"
run_script "$w/client-v1" remove.sh
expect_eq "brief/remove/status-200" "$status" 200
expect_eq "brief/remove/body" "$(jq -c . <<<"$out" 2>/dev/null)" '{"message":"🙂 Plugin removed successfully"}'
expect_eq "brief/remove/tool-gone-from-tools-list" "$(tool_desc)" '[]'
r="$(roll '{"numFaces":6,"numDice":3}')"
if [[ "$r" == ERROR* ]]; then pass "brief/remove/call-fails"; else fail "brief/remove/call-fails" "rollDice still answers [$r]"; fi
expect_eq "brief/remove/file-gone" "$(find "$bucket" -type f | wc -l)" 0
expect_eq "brief/remove/plugins.yml-empty" "$(yaml_json "$yml" | jq -c '[.plugins[]?]')" '[]'

run_script "$w/client-v1" remove.sh
expect_eq "brief/remove-again/status-404" "$status" 404
if is_error_body "$out" && [[ "$(jq -r .error <<<"$out")" == *roll-dice* ]]; then pass "brief/remove-again/error-body"
else fail "brief/remove-again/error-body" "body [$out]"; fi

# A restart sees the removal.
stop_server
start_server "$w/server2.log" WASIMANCER_ADMIN_TOKEN=wasimancer-rocks WASIMANCER_AUTHENTICATION_TOKEN="$MCP_TOKEN" \
  PLUGINS_PATH=./plugins UPLOAD_PATH=./plugins/bucket -- || { fail "brief/restart" "the server did not restart"; finish; }
port="$server_port"
expect_eq "brief/restart/no-tools" "$(tool_desc)" '[]'
stop_server

# --- a bare start (no PLUGINS_PATH / UPLOAD_PATH): publish.sh must work as is ---------------------
mkdir -p "$w/bare"
cd "$w/bare" || exit 1
start_server "$w/bare.log" WASIMANCER_ADMIN_TOKEN=wasimancer-rocks WASIMANCER_AUTHENTICATION_TOKEN="$MCP_TOKEN" -- ||
  { fail "brief/bare/server-start" "the server did not start"; finish; }
port="$server_port"
make_script publish.sh "$w/client-v1"
run_script "$w/client-v1" publish.sh
expect_eq "brief/bare/publish-status-200" "$status" 200
expect_eq "brief/bare/rollDice-1x4" "$(roll '{"numFaces":1,"numDice":4}')" 4
p="$(yaml_json "$w/bare/plugins/plugins.yml" | jq -r '.plugins[0].path' 2>/dev/null)"
if [[ -n "$p" ]] && cmp -s "$w/bare/plugins/$p" "$roll_dice_wasm"; then pass "brief/bare/plugins.yml-created"
else fail "brief/bare/plugins.yml-created" "plugins/plugins.yml path [$p]; files: $(find "$w/bare" -type f | tr '\n' ' ')"; fi
stop_server
finish
