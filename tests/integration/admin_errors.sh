#!/usr/bin/env bash
# Every error path of the plugin admin API (POST /upload-plugin, PUT /update-plugin,
# DELETE /remove-plugin/:name): 403 (checked before the body is read), 413, 400 (bad data,
# bad modules, ?dir= traversal, odd file names), 404 and 409. For each refused request:
# the status, an {"error": "<useful message>"} body, and nothing changed on disk or in memory
# (plugins.yml bytes, every file under PLUGINS_PATH and the temp folder, tools/list, GET /plugins).
set -uo pipefail
source "$(dirname "$0")/admin-fixtures/admin_lib.bash"
check_tools

w="$(mktemp -d /tmp/wasimancer-admin-errors.XXXXXX)"
nowhere="/tmp/wasimancer-admin-nowhere-$$-$RANDOM"   # must never be created
trav="trav-$$-$RANDOM.wasm"                          # the file name used by the traversal attempts
trap 'stop_server; rm -rf "$w" "$nowhere"' EXIT
mkdir -p "$w/plugins" "$w/outside" "$w/inputs" "$w/logs"
ln -s "$w/outside" "$w/plugins/link"
cd "$w" || exit 1

A="$test_plugins/version_a.wasm"
B="$test_plugins/version_b.wasm"
in="$w/inputs"
printf 'this is not a wasm module\n' >"$in/text.wasm"
: >"$in/empty.wasm"
cp "$A" "$in/$trav"

start_server "$w/logs/a.log" WASIMANCER_ADMIN_TOKEN="$ADMIN_TOKEN" WASIMANCER_AUTHENTICATION_TOKEN="$MCP_TOKEN" \
  PLUGINS_PATH="$w/plugins" UPLOAD_PATH="$w/plugins" -- || { fail "errors/server-start" "the server did not start"; finish; }

# Two plugins to clash with: "dice" (tool rollDice -> "A") and "who" (tool whoami -> version b).
dice_data="$(plugin_data dice rollDice)"
who_data="$(plugin_data who whoami)"
upload POST "$A" "$dice_data" dice.wasm
expect_eq "errors/setup/publish-dice" "$code" 200
upload POST "$B" "$who_data" who.wasm
expect_eq "errors/setup/publish-who" "$code" 200

# snapshot: everything a refused request must leave alone.
snapshot() {
  sha256sum "$w/plugins/plugins.yml" 2>&1
  tools_list_full
  # (tier and native change by themselves as the native tier builds in the background)
  curl -s -m 10 -H "Authorization: Bearer $ADMIN_TOKEN" "$(base_url)/plugins" | jq -cS '[.plugins[] | del(.instances, .tier, .native)]'
  tree_state "$w/plugins" "$w/outside"
  ls -A "$w"
  [[ -e "$nowhere" ]] && echo "CREATED $nowhere"
  local d
  for d in / /tmp "$w" "$(dirname "$w")" "$w/outside" "$w/plugins"; do
    compgen -G "$d/$trav" >/dev/null && echo "WRITTEN $d/$trav"
    compgen -G "$d/.$trav.tmp-*" >/dev/null && echo "WRITTEN $d/.$trav.tmp-*"
  done
  return 0
}

# refused NAME STATUS NEEDLE COMMAND...: runs COMMAND (which sets $code and $body) and checks the
# status, the error body (containing NEEDLE, case-insensitively) and that nothing changed.
refused() {
  local name="$1" want="$2" needle="$3"; shift 3
  local before after
  before="$(snapshot)"
  "$@"
  expect_eq "errors/$name/status" "$code" "$want"
  if is_error_body "$body" && [[ "${body,,}" == *"${needle,,}"* ]]; then pass "errors/$name/error-body"
  else fail "errors/$name/error-body" "want {\"error\": \"...$needle...\"}, got [$body]"; fi
  after="$(snapshot)"
  if [[ "$before" == "$after" ]]; then pass "errors/$name/nothing-changed"
  else fail "errors/$name/nothing-changed" "$(diff <(echo "$before") <(echo "$after") | head -8 | tr '\n' '|')"; fi
}

new_data="$(plugin_data fresh whoami fresh_tool)"

# --- 403: missing or wrong token ----------------------------------------------------------------
refused 403-upload-no-token 403 "Authorization" admin_as "" POST /upload-plugin -F "wasmFile=@$A" -F "pluginData=$new_data"
refused 403-upload-wrong-token 403 "not valid" admin_as "Bearer wrong-$ADMIN_TOKEN" POST /upload-plugin -F "wasmFile=@$A" -F "pluginData=$new_data"
refused 403-upload-basic-scheme 403 "" admin_as "Basic $ADMIN_TOKEN" POST /upload-plugin -F "wasmFile=@$A" -F "pluginData=$new_data"
refused 403-upload-mcp-token 403 "not valid" admin_as "Bearer $MCP_TOKEN" POST /upload-plugin -F "wasmFile=@$A" -F "pluginData=$new_data"
refused 403-upload-token-prefix 403 "not valid" admin_as "Bearer ${ADMIN_TOKEN:0:5}" POST /upload-plugin -F "wasmFile=@$A" -F "pluginData=$new_data"
refused 403-update-no-token 403 "Authorization" admin_as "" PUT /update-plugin -F "wasmFile=@$B" -F "pluginData=$dice_data"
refused 403-update-wrong-token 403 "not valid" admin_as "Bearer nope" PUT /update-plugin -F "wasmFile=@$B" -F "pluginData=$dice_data"
refused 403-remove-no-token 403 "Authorization" admin_as "" DELETE /remove-plugin/dice
refused 403-remove-wrong-token 403 "not valid" admin_as "Bearer nope" DELETE /remove-plugin/dice
refused 403-list-no-token 403 "Authorization" admin_as "" GET /plugins
refused 403-bad-json-no-token 403 "Authorization" admin_as "" POST /upload-plugin -H 'Content-Type: application/json' -d '{not json'

# --- 403 before the body is read -------------------------------------------------------------------
truncate -s 50M "$in/big50.wasm"
truncate -s 3500000 "$in/big3.wasm"
# big_upload NAME AUTH FILE [curl args]: sets $code, $t (seconds), $up (bytes curl sent), $body.
big_upload() {
  local auth="$1" file="$2"; shift 2
  local hdr=(); [[ -n "$auth" ]] && hdr=(-H "Authorization: $auth")
  local res
  res=$(curl -s -m 60 --expect100-timeout 10 -o "$w/logs/big.out" -w '%{http_code} %{time_total} %{size_upload}' -X POST "${hdr[@]}" "$@" \
    "$(base_url)/upload-plugin" -F "wasmFile=@$file" -F "pluginData=$new_data")
  read -r code t up <<<"$res"
  body="$(cat "$w/logs/big.out" 2>/dev/null)"
}
fast() { awk -v t="$1" -v max="$2" 'BEGIN { exit !(t < max) }'; }

# curl sends "Expect: 100-continue" by itself for bodies over 1 MB: the 403 must come instead of the 100.
for size in 3 50; do
  before="$(snapshot)"
  big_upload "" "$in/big$size.wasm"
  expect_eq "errors/403-${size}MB-expect-100/status" "$code" 403
  if [[ "$up" == 0 ]] && fast "$t" 3; then pass "errors/403-${size}MB-expect-100/body-not-sent"
  else fail "errors/403-${size}MB-expect-100/body-not-sent" "curl sent $up bytes in ${t}s (the 403 must come instead of a 100 Continue)"; fi
  if is_error_body "$body"; then pass "errors/403-${size}MB-expect-100/error-body"; else fail "errors/403-${size}MB-expect-100/error-body" "body [$body]"; fi
  [[ "$before" == "$(snapshot)" ]] && pass "errors/403-${size}MB-expect-100/nothing-changed" || fail "errors/403-${size}MB-expect-100/nothing-changed" "state changed"
done
# Without Expect, at 4 MB/s: the 50 MB upload would need 12.5 s; the 403 must come well before.
for size in 3 50; do
  before="$(snapshot)"
  big_upload "Bearer wrong" "$in/big$size.wasm" -H 'Expect:' --limit-rate 4M
  expect_eq "errors/403-${size}MB-no-expect/status" "$code" 403
  if fast "${t:-99}" 1.5 && ((${up:-99999999} < 8000000)); then pass "errors/403-${size}MB-no-expect/answered-before-upload-ends"
  else fail "errors/403-${size}MB-no-expect/answered-before-upload-ends" "answered after ${t}s, $up bytes sent"; fi
  [[ "$before" == "$(snapshot)" ]] && pass "errors/403-${size}MB-no-expect/nothing-changed" || fail "errors/403-${size}MB-no-expect/nothing-changed" "state changed"
done

# --- 413: over the upload limit (default 10 MiB) -----------------------------------------------------
python3 "$fixtures/pad_wasm.py" "$A" "$in/limit.wasm" $((10 * 1024 * 1024))
python3 "$fixtures/pad_wasm.py" "$A" "$in/limit1.wasm" $((10 * 1024 * 1024 + 1))
truncate -s 12M "$in/big12.wasm"
refused 413-10MiB-plus-1 413 "limit" upload POST "$in/limit1.wasm" "$new_data" limit1.wasm
before="$(snapshot)"
big_upload "Bearer $ADMIN_TOKEN" "$in/big12.wasm"
expect_eq "errors/413-12MB/status" "$code" 413
if [[ "$up" == 0 ]]; then pass "errors/413-12MB/body-not-sent"; else fail "errors/413-12MB/body-not-sent" "curl sent $up bytes (Content-Length alone shows it is too large)"; fi
if is_error_body "$body"; then pass "errors/413-12MB/error-body"; else fail "errors/413-12MB/error-body" "body [$body]"; fi
[[ "$before" == "$(snapshot)" ]] && pass "errors/413-12MB/nothing-changed" || fail "errors/413-12MB/nothing-changed" "state changed"

# --- 400: bad requests -----------------------------------------------------------------------------
refused 400-not-multipart 400 "multipart" admin POST /upload-plugin -H 'Content-Type: application/json' --data-binary "$new_data"
refused 400-urlencoded 400 "multipart" admin POST /upload-plugin --data-urlencode "pluginData=$new_data"
refused 400-no-body 400 "multipart" admin POST /upload-plugin
refused 400-multipart-without-boundary 400 "boundary" admin POST /upload-plugin -H 'Content-Type: multipart/form-data' --data-binary 'abc'
printf -- '--XX\r\nContent-Disposition: form-data; name="pluginData"\r\n\r\n%s\r\n--XX\r\nContent-Disposition: form-data; name="wasmFile"; filename="fresh.wasm"\r\n\r\nabc' "$new_data" >"$in/truncated.bin"
refused 400-multipart-truncated 400 "multipart" admin POST /upload-plugin -H 'Content-Type: multipart/form-data; boundary=XX' --data-binary "@$in/truncated.bin"
refused 400-missing-wasmFile 400 "wasmFile" admin POST /upload-plugin -F "pluginData=$new_data"
refused 400-missing-pluginData 400 "pluginData" admin POST /upload-plugin -F "wasmFile=@$A"
refused 400-wasmFile-not-a-file 400 "wasmFile" admin POST /upload-plugin -F "wasmFile=abc" -F "pluginData=$new_data"
refused 400-pluginData-not-json 400 "JSON" upload POST "$A" '{"name": "fresh", functions: ' fresh.wasm
refused 400-pluginData-array 400 "object" upload POST "$A" '[1,2]' fresh.wasm
refused 400-missing-name 400 "name" upload POST "$A" "$(jq -c 'del(.name)' <<<"$new_data")" fresh.wasm
refused 400-empty-name 400 "name" upload POST "$A" "$(jq -c '.name = ""' <<<"$new_data")" fresh.wasm
refused 400-missing-functions 400 "functions" upload POST "$A" "$(jq -c 'del(.functions)' <<<"$new_data")" fresh.wasm
refused 400-empty-functions 400 "functions" upload POST "$A" "$(jq -c '.functions = []' <<<"$new_data")" fresh.wasm
refused 400-function-without-export-name 400 "function" upload POST "$A" "$(jq -c 'del(.functions[0].function)' <<<"$new_data")" fresh.wasm
refused 400-duplicate-tool-names 400 "fresh_tool" upload POST "$A" "$(jq -c '.functions += [.functions[0]]' <<<"$new_data")" fresh.wasm
refused 400-not-wasm 400 "wasm" upload POST "$in/text.wasm" "$new_data" fresh.wasm
refused 400-empty-file 400 "empty" upload POST "$in/empty.wasm" "$new_data" fresh.wasm
refused 400-export-missing 400 "nope" upload POST "$A" "$(plugin_data fresh nope fresh_tool)" fresh.wasm
refused 400-unknown-import 400 "hello_world" upload POST "$test_plugins/user_import.wasm" "$(plugin_data fresh run fresh_tool)" fresh.wasm
refused 400-unknown-host-function 400 "not_a_function" upload POST "$test_plugins/bad_import.wasm" "$(plugin_data fresh run fresh_tool)" fresh.wasm
refused 400-start-traps 400 "unreachable" upload POST "$test_plugins/start_trap.wasm" "$(plugin_data fresh run fresh_tool)" fresh.wasm
refused 400-update-not-wasm 400 "wasm" upload PUT "$in/text.wasm" "$dice_data" dice.wasm
refused 400-update-export-missing 400 "nope" upload PUT "$B" "$(plugin_data dice nope rollDice)" dice.wasm
refused 400-update-start-traps 400 "unreachable" upload PUT "$test_plugins/start_trap.wasm" "$(plugin_data dice run rollDice)" dice.wasm
expect_eq "errors/400-update/old-version-still-answers" "$(call_tool rollDice)" A
refused 400-remove-without-name 400 "name" admin DELETE /remove-plugin/

# ?dir= traversal: refused, nothing written anywhere outside the roots.
refused 400-dir-dotdot 400 "dir" upload POST "$in/$trav" "$new_data" "" "?dir=../.."
refused 400-dir-dotdot-encoded 400 "dir" upload POST "$in/$trav" "$new_data" "" "?dir=%2e%2e%2f%2e%2e"
refused 400-dir-plugins-dotdot 400 "dir" upload POST "$in/$trav" "$new_data" "" "?dir=$w/plugins/../outside"
refused 400-dir-absolute-existing 400 "dir" upload POST "$in/$trav" "$new_data" "" "?dir=$w/outside"
refused 400-dir-absolute-nowhere 400 "dir" upload POST "$in/$trav" "$new_data" "" "?dir=$nowhere"
refused 400-dir-tmp 400 "dir" upload POST "$in/$trav" "$new_data" "" "?dir=/tmp"
refused 400-dir-symlink-outside 400 "dir" upload POST "$in/$trav" "$new_data" "" "?dir=$w/plugins/link"
refused 400-dir-symlink-outside-sub 400 "dir" upload POST "$in/$trav" "$new_data" "" "?dir=$w/plugins/link/sub"
refused 400-dir-relative-symlink 400 "dir" upload POST "$in/$trav" "$new_data" "" "?dir=plugins/link"
refused 400-dir-is-a-file 400 "dir" upload POST "$in/$trav" "$new_data" "" "?dir=$w/plugins/plugins.yml"
refused 400-update-dir-outside 400 "dir" upload PUT "$in/$trav" "$dice_data" "" "?dir=$w/outside"
# Odd upload file names.
for fname in "../evil.wasm" "x.txt" ".hidden.wasm" "my plugin.wasm" "a/b.wasm" "/etc/evil.wasm" "evil.wasm.txt" "x.WASM"; do
  refused "400-file-name[$fname]" 400 "$fname" upload POST "$A" "$new_data" "$fname"
done
# (The multipart parser reads a backslash in filename="..." as an escape, so the message quotes
# "..evil.wasm"; browsers and curl send the backslash as is.)
refused '400-file-name[..\evil.wasm]' 400 "evil.wasm" upload POST "$A" "$new_data" '..\evil.wasm'
refused "400-file-name[129 characters]" 400 "not a plain" upload POST "$A" "$new_data" "$(printf 'a%.0s' {1..124}).wasm"
refused "400-update-file-name[../dice.wasm]" 400 "../dice.wasm" upload PUT "$B" "$dice_data" "../dice.wasm"

# --- 404 and 409 --------------------------------------------------------------------------------------
refused 404-update-unknown 404 "ghost" upload PUT "$A" "$(plugin_data ghost whoami ghost_tool)" ghost.wasm
refused 404-remove-unknown 404 "ghost" admin DELETE /remove-plugin/ghost
refused 404-remove-unknown-encoded 404 "no such" admin DELETE /remove-plugin/no%20such
refused 409-publish-existing-name 409 "dice" upload POST "$B" "$(plugin_data dice whoami other_tool)" other.wasm
refused 409-publish-existing-tool 409 "rollDice" upload POST "$B" "$(plugin_data fresh rollDice rollDice)" fresh.wasm
refused 409-update-takes-other-tool 409 "whoami" upload PUT "$B" "$(plugin_data dice whoami whoami)" dice.wasm

# Both plugins still answer, with their first versions.
expect_eq "errors/after/dice-answers" "$(call_tool rollDice)" A
expect_eq "errors/after/who-answers" "$(call_tool whoami)" '{"version":"b"}'

# A file the committed plugins.yml references is never overwritten: an upload that carries the
# file name of another plugin's file (publish, and update of a third plugin) is stored elsewhere.
upload POST "$B" "$(plugin_data samefile whoami same_tool)" dice.wasm
expect_eq "errors/no-overwrite/publish-status" "$code" 200
upload PUT "$B" "$who_data" dice.wasm
expect_eq "errors/no-overwrite/update-status" "$code" 200
if cmp -s "$w/plugins/dice.wasm" "$A"; then pass "errors/no-overwrite/dice-file-intact"; else fail "errors/no-overwrite/dice-file-intact" "dice.wasm was overwritten"; fi
expect_eq "errors/no-overwrite/dice-still-answers" "$(call_tool rollDice)" A
expect_eq "errors/no-overwrite/new-plugin-answers" "$(call_tool same_tool)" '{"version":"b"}'
expect_eq "errors/no-overwrite/paths-distinct" "$(yaml_json "$w/plugins/plugins.yml" | jq -c '[.plugins[].path] | (length == (unique | length))')" true
admin DELETE /remove-plugin/samefile
expect_eq "errors/no-overwrite/remove-status" "$code" 200
if cmp -s "$w/plugins/dice.wasm" "$A"; then pass "errors/no-overwrite/remove-keeps-dice-file"; else fail "errors/no-overwrite/remove-keeps-dice-file" "dice.wasm is gone"; fi
expect_eq "errors/no-overwrite/dice-answers-after-remove" "$(call_tool rollDice)" A

# The pluginData "path" a client sends does not choose where the file goes: replaced, and said so.
upload POST "$in/$trav" "$(jq -c '.path = "../../outside/evil.wasm"' <<<"$(plugin_data pathy whoami pathy_tool)")" pathy.wasm
expect_eq "errors/client-path-replaced/status" "$code" 200
expect_eq "errors/client-path-replaced/stored-path" "$(jq -r '.metadata.path' <<<"$body")" "./pathy.wasm"
if [[ "$(jq -r '.note // ""' <<<"$body")" == *"../../outside/evil.wasm"* ]]; then pass "errors/client-path-replaced/note"; else fail "errors/client-path-replaced/note" "[$body]"; fi
expect_eq "errors/client-path-replaced/nothing-outside" "$(ls -A "$w/outside")" ""
expect_eq "errors/client-path-replaced/yaml" "$(yaml_json "$w/plugins/plugins.yml" | jq -r '.plugins[] | select(.name == "pathy") | .path')" "./pathy.wasm"

# At the limit is not over it: exactly 10 MiB is accepted.
upload POST "$in/limit.wasm" "$(plugin_data limit whoami limit_tool)" limit.wasm
expect_eq "errors/10MiB-exactly-accepted/status" "$code" 200
expect_eq "errors/10MiB-exactly-accepted/answers" "$(call_tool limit_tool)" '{"version":"a"}'
# Between WASIMANCER_MAX_BODY_BYTES (4 MiB, the MCP limit) and the upload limit: accepted, with a
# Content-Length and chunked.
python3 "$fixtures/pad_wasm.py" "$A" "$in/six.wasm" 6000000
upload POST "$in/six.wasm" "$(plugin_data six whoami six_tool)" six.wasm
expect_eq "errors/6MB-upload-accepted/status" "$code" 200
code=$(curl -s -m 30 -o "$w/logs/c.out" -w '%{http_code}' -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Transfer-Encoding: chunked' \
  -X POST "$(base_url)/upload-plugin" -F "wasmFile=@$in/six.wasm;filename=six_chunked.wasm" -F "pluginData=$(plugin_data six_chunked whoami six_chunked_tool)")
expect_eq "errors/6MB-chunked-upload-accepted/status" "$code" 200
expect_eq "errors/6MB-chunked-upload-accepted/answers" "$(call_tool six_chunked_tool)" '{"version":"a"}'
before="$(snapshot)"
code=$(curl -s -m 30 -o "$w/logs/c.out" -w '%{http_code}' -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Transfer-Encoding: chunked' \
  -X POST "$(base_url)/upload-plugin" -F "wasmFile=@$in/big12.wasm" -F "pluginData=$new_data")
expect_eq "errors/413-12MB-chunked/status" "$code" 413
if is_error_body "$(cat "$w/logs/c.out")"; then pass "errors/413-12MB-chunked/error-body"; else fail "errors/413-12MB-chunked/error-body" "[$(cat "$w/logs/c.out")]"; fi
[[ "$before" == "$(snapshot)" ]] && pass "errors/413-12MB-chunked/nothing-changed" || fail "errors/413-12MB-chunked/nothing-changed" "state changed"
stop_server

# --- a smaller WASIMANCER_MAX_UPLOAD_BYTES --------------------------------------------------------------
mkdir -p "$w/small"
start_server "$w/logs/b.log" WASIMANCER_ADMIN_TOKEN="$ADMIN_TOKEN" WASIMANCER_AUTHENTICATION_TOKEN="$MCP_TOKEN" \
  PLUGINS_PATH="$w/small" UPLOAD_PATH="$w/small" WASIMANCER_MAX_UPLOAD_BYTES=2000 -- ||
  { fail "errors/small-limit/server-start" "the server did not start"; finish; }
python3 "$fixtures/pad_wasm.py" "$A" "$in/two.wasm" 2000
python3 "$fixtures/pad_wasm.py" "$A" "$in/two1.wasm" 2001
python3 "$fixtures/pad_wasm.py" "$A" "$in/big.wasm" 300000
upload POST "$in/two1.wasm" "$(plugin_data small whoami small_tool)" small.wasm
expect_eq "errors/small-limit/2001-status" "$code" 413
if is_error_body "$body" && [[ "$body" == *2000* ]]; then pass "errors/small-limit/2001-error-body"; else fail "errors/small-limit/2001-error-body" "[$body]"; fi
code=$(curl -s -m 30 --expect100-timeout 10 -o "$w/logs/rd.out" -w '%{http_code} %{size_upload}' -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Expect: 100-continue' \
  -X POST "$(base_url)/upload-plugin" -F "wasmFile=@$in/big.wasm" -F "pluginData=$(plugin_data small whoami)")
expect_eq "errors/small-limit/large-413-body-not-sent" "$code" "413 0"
expect_eq "errors/small-limit/nothing-stored" "$(find "$w/small" -type f | wc -l)" 0
upload POST "$in/two.wasm" "$(plugin_data small whoami small_tool)" small.wasm
expect_eq "errors/small-limit/2000-accepted" "$code" 200
expect_eq "errors/small-limit/2000-answers" "$(call_tool small_tool)" '{"version":"a"}'
stop_server
finish
