#!/usr/bin/env bash
# The admin API client: `wasimancer plugin publish|update|remove|list`, `wasimancer resource
# add|update|remove`, `wasimancer prompt add|update|remove` against a real server, with the URL and
# token from WASIMANCER_URL and WASIMANCER_ADMIN_TOKEN (or WASIMANCER_TOKEN). Success: exit 0 and
# the server's answer on stdout. Failure: a non-zero exit and the server's message on stderr.
set -uo pipefail
source "$(dirname "$0")/admin-fixtures/admin_lib.bash"
check_tools

w="$(mktemp -d /tmp/wasimancer-admin-cli.XXXXXX)"
trap 'stop_server; rm -rf "$w"' EXIT
mkdir -p "$w/plugins" "$w/resources" "$w/prompts" "$w/outside" "$w/files"
cd "$w" || exit 1
cli_fx="$fixtures/cli"
# The client names the upload after the file: give it the names the pluginData paths use.
cp "$test_plugins/version_a.wasm" "$test_plugins/version_b.wasm" "$w/files/"
A="$w/files/version_a.wasm"
B="$w/files/version_b.wasm"

start_server "$w/server.log" WASIMANCER_ADMIN_TOKEN="$ADMIN_TOKEN" WASIMANCER_AUTHENTICATION_TOKEN="$MCP_TOKEN" \
  PLUGINS_PATH="$w/plugins" UPLOAD_PATH="$w/plugins" RESOURCES_PATH="$w/resources" PROMPTS_PATH="$w/prompts" -- ||
  { fail "cli/server-start" "the server did not start"; finish; }
url="http://127.0.0.1:$server_port"

# cli [VAR=value...] -- ARGS...: runs the client with WASIMANCER_URL and WASIMANCER_ADMIN_TOKEN set
# (VAR= entries override or, with an empty value, unset them). Sets $rc, $out, $err.
cli() {
  local -A vars=([WASIMANCER_URL]="$url" [WASIMANCER_ADMIN_TOKEN]="$ADMIN_TOKEN")
  while (($#)) && [[ "$1" != "--" ]]; do vars["${1%%=*}"]="${1#*=}"; shift; done
  shift
  local args=() k
  for k in "${!vars[@]}"; do
    if [[ -n "${vars[$k]}" ]]; then args+=("$k=${vars[$k]}"); else args=(-u "$k" "${args[@]}"); fi
  done
  env "${args[@]}" "$bin" "$@" >"$w/out" 2>"$w/err"
  rc=$?
  out="$(cat "$w/out")"; err="$(cat "$w/err")"
}
# succeeded NAME [STDOUT-NEEDLE]
succeeded() {
  if ((rc == 0)) && [[ "$out" == *"${2:-}"* ]]; then pass "$1"
  else fail "$1" "exit $rc; stdout [$(head -c 300 <<<"$out")]; stderr [$(head -c 300 <<<"$err")]"; fi
}
# failed NAME STDERR-NEEDLE: a non-zero exit with the server's message on stderr.
failed() {
  if ((rc != 0)) && [[ "$err" == *"$2"* ]]; then pass "$1"
  else fail "$1" "exit $rc, want non-zero with [$2] on stderr; stdout [$(head -c 300 <<<"$out")]; stderr [$(head -c 300 <<<"$err")]"; fi
}
schema() { mcp '{"jsonrpc":"2.0","id":"1","method":"tools/list"}' | jq -c --arg n "$1" '.result.tools[] | select(.name == $n) | .inputSchema'; }
tool_description() { mcp '{"jsonrpc":"2.0","id":"1","method":"tools/list"}' | jq -r --arg n "$1" '.result.tools[] | select(.name == $n) | .description'; }
read_resource() { mcp "{\"jsonrpc\":\"2.0\",\"id\":\"1\",\"method\":\"resources/read\",\"params\":{\"uri\":\"$1\"}}" | jq -r '.result.contents[0].text // ("ERROR: " + (.error.message // "?"))'; }
get_prompt() {
  mcp "{\"jsonrpc\":\"2.0\",\"id\":\"1\",\"method\":\"prompts/get\",\"params\":{\"name\":\"$1\",\"arguments\":$2}}" |
    jq -r '.result.messages[0].content.text // ("ERROR: " + (.error.message // "?"))'
}

# --- plugin publish ---------------------------------------------------------------------------------
cli -- plugin publish "$A" --data "$cli_fx/dice.json"
succeeded "cli/plugin-publish-data/exit-0" "🎉 File uploaded successfully"
expect_eq "cli/plugin-publish-data/stdout-is-the-answer" "$(jq -c '[.metadata.name, .metadata.version]' <<<"$out" 2>&1)" '["dice","1.0.0"]'
expect_eq "cli/plugin-publish-data/tool-answers" "$(call_tool rollDice '{"numFaces":6,"numDice":2}')" A
expect_eq "cli/plugin-publish-data/schema" "$(schema rollDice | jq -c '.required')" '["numFaces","numDice"]'

cli -- plugin publish "$B" --name flagged --version 0.1.0 --description "from flags" \
  --function 'whoB:whoami:who am I' --function 'rollB:rollDice'
succeeded "cli/plugin-publish-flags/exit-0" "🎉 File uploaded successfully"
expect_eq "cli/plugin-publish-flags/tool-1-answers" "$(call_tool whoB)" '{"version":"b"}'
expect_eq "cli/plugin-publish-flags/tool-2-answers" "$(call_tool rollB)" B
expect_eq "cli/plugin-publish-flags/description" "$(tool_description whoB)" "who am I"
expect_eq "cli/plugin-publish-flags/plugins.yml" \
  "$(yaml_json "$w/plugins/plugins.yml" | jq -c '.plugins[] | select(.name == "flagged") | [.version, .description, [.functions[].displayName], [.functions[].function]]')" \
  '["0.1.0","from flags",["whoB","rollB"],["whoami","rollDice"]]'

cp "$A" "$w/files/argy.wasm"
cli -- plugin publish "$w/files/argy.wasm" --name argy --function 'argTool:whoami' --arg 'argTool.count:number:how many' --arg 'argTool.label:string'
succeeded "cli/plugin-publish-args/exit-0"
expect_eq "cli/plugin-publish-args/schema" "$(schema argTool | jq -c '[.properties.count.type, .properties.count.description, .properties.label.type, .required]')" \
  '["number","how many","string",["count","label"]]'

mkdir -p "$w/plugins/sub"
cp "$A" "$w/files/dirp.wasm"
cli -- plugin publish "$w/files/dirp.wasm" --name dirp --function 'dirTool:whoami' --dir "$w/plugins/sub"
succeeded "cli/plugin-publish-dir/exit-0"
if cmp -s "$w/plugins/sub/dirp.wasm" "$A"; then pass "cli/plugin-publish-dir/stored-in-dir"; else fail "cli/plugin-publish-dir/stored-in-dir" "$(find "$w/plugins" -name 'dirp*')"; fi
cli -- plugin publish "$w/files/dirp.wasm" --name dirp2 --function 'dirTool2:whoami' --dir "$w/outside"
failed "cli/plugin-publish-dir-outside/refused" "outside"
expect_eq "cli/plugin-publish-dir-outside/nothing-written" "$(ls -A "$w/outside")" ""

# --- plugin list -------------------------------------------------------------------------------------
cli -- plugin list
succeeded "cli/plugin-list/exit-0"
expect_eq "cli/plugin-list/names" "$(jq -c '[.plugins[].name] | sort' <<<"$out" 2>&1)" '["argy","dice","dirp","flagged"]'
cli -- plugin list dice
succeeded "cli/plugin-list-one/exit-0"
expect_eq "cli/plugin-list-one/entry" "$(jq -c '[.name, .version, [.functions[].tool]]' <<<"$out" 2>&1)" '["dice","1.0.0",["rollDice"]]'
cli -- plugin list ghost
failed "cli/plugin-list-unknown/fails" 'no plugin named "ghost"'

# --- plugin update -----------------------------------------------------------------------------------
cli -- plugin update "$B" --data "$cli_fx/dice-v2.json"
succeeded "cli/plugin-update-data/exit-0" "🎉 File uploaded successfully"
expect_eq "cli/plugin-update-data/new-answer" "$(call_tool rollDice '{"numFaces":6,"numDice":2}')" B
expect_eq "cli/plugin-update-data/new-description" "$(tool_description rollDice)" "a function to roll dice, improved"
cli -- plugin update "$A" --name flagged --version 0.2.0 --function 'whoB:whoami'
succeeded "cli/plugin-update-flags/exit-0"
expect_eq "cli/plugin-update-flags/new-answer" "$(call_tool whoB)" '{"version":"a"}'
expect_eq "cli/plugin-update-flags/rollB-gone" "$(tools_list | tr '\n' ' ')" "argTool dirTool rollDice whoB "

# --- plugin failures: non-zero exit, the server's message on stderr -----------------------------------
yml_before="$(sha256sum "$w/plugins/plugins.yml")"
cli -- plugin publish "$A" --data "$cli_fx/dice.json"
failed "cli/plugin-publish-existing/fails-409" 'a plugin named "dice" already exists'
[[ "$err" == *409* ]] && pass "cli/plugin-publish-existing/status-shown" || fail "cli/plugin-publish-existing/status-shown" "stderr [$err]"
cli -- plugin update "$A" --name ghost --function 'ghostTool:whoami'
failed "cli/plugin-update-unknown/fails-404" 'no plugin named "ghost"'
cp "$test_plugins/start_trap.wasm" "$w/files/trap.wasm"
cli -- plugin publish "$w/files/trap.wasm" --name trap --function 'trapTool:run'
failed "cli/plugin-publish-bad-module/fails-400" "cannot be loaded"
cli -- plugin publish "$A" --name clash --function 'rollDice:whoami'
failed "cli/plugin-publish-tool-clash/fails-409" 'the tool name "rollDice" is already used'
cli -- plugin publish "$A"
failed "cli/plugin-publish-no-data/fails" "--data"
cli -- plugin publish "$A" --data "$cli_fx/not-json.json"
failed "cli/plugin-publish-data-not-json/fails" "not valid JSON"
cli -- plugin publish "$w/files/nonexistent.wasm" --data "$cli_fx/dice.json"
failed "cli/plugin-publish-missing-file/fails" "nonexistent.wasm"
expect_eq "cli/plugin-failures/plugins.yml-unchanged" "$(sha256sum "$w/plugins/plugins.yml")" "$yml_before"

# --- tokens and URL -------------------------------------------------------------------------------------
cli WASIMANCER_ADMIN_TOKEN= WASIMANCER_TOKEN="$ADMIN_TOKEN" -- plugin list
succeeded "cli/token-from-WASIMANCER_TOKEN"
cli WASIMANCER_TOKEN=wrong -- plugin list
succeeded "cli/WASIMANCER_ADMIN_TOKEN-wins-over-WASIMANCER_TOKEN"
cli WASIMANCER_ADMIN_TOKEN=wrong -- plugin list
failed "cli/wrong-token/fails-403" "the admin token is not valid"
cli WASIMANCER_ADMIN_TOKEN= -- plugin remove dice
failed "cli/no-token/says-no-token-was-given" "error: no admin token given (set WASIMANCER_ADMIN_TOKEN or --token)"
expect_eq "cli/no-token/usage-exit-2" "$rc" 2
if [[ "$err" != *"not valid"* ]]; then pass "cli/no-token/not-called-invalid"; else fail "cli/no-token/not-called-invalid" "stderr [$err]"; fi
cli -- plugin list dice
succeeded "cli/no-token/nothing-removed" '"name":"dice"'
cli WASIMANCER_ADMIN_TOKEN= -- plugin list --token "$ADMIN_TOKEN"
succeeded "cli/token-flag-without-env"
cli WASIMANCER_URL=http://127.0.0.1:1 -- plugin list --url "$url" --token "$ADMIN_TOKEN"
succeeded "cli/url-and-token-flags-override-env"
cli WASIMANCER_URL=http://127.0.0.1:1 -- plugin list
if ((rc != 0)) && [[ -n "$err" ]]; then pass "cli/unreachable-server/fails"; else fail "cli/unreachable-server/fails" "exit $rc, stderr [$err]"; fi

# --- plugin remove ------------------------------------------------------------------------------------
cli -- plugin remove dice
succeeded "cli/plugin-remove/exit-0" "🙂 Plugin removed successfully"
expect_eq "cli/plugin-remove/tool-gone" "$(tools_list | tr '\n' ' ')" "argTool dirTool whoB "
expect_eq "cli/plugin-remove/yaml" "$(yaml_json "$w/plugins/plugins.yml" | jq -c '[.plugins[].name] | sort')" '["argy","dirp","flagged"]'
cli -- plugin remove dice
failed "cli/plugin-remove-again/fails-404" 'no plugin named "dice"'

# --- resources ------------------------------------------------------------------------------------------
cli -- resource add "$cli_fx/resource.json"
succeeded "cli/resource-add/exit-0" "🎉 Resource cli-greeting added successfully"
expect_eq "cli/resource-add/read" "$(read_resource greeting://Ada)" "Hello Ada, from the CLI"
expect_eq "cli/resource-add/resources.yml-created" "$(yaml_json "$w/resources/resources.yml" | jq -r '.resources.dynamic[0].name')" cli-greeting
cli -- resource add "$cli_fx/resource.json"
failed "cli/resource-add-existing/fails-409" 'already exists'
cli -- resource update cli-greeting "$cli_fx/resource-v2.json"
succeeded "cli/resource-update/exit-0" "🎉 Resource cli-greeting updated successfully"
expect_eq "cli/resource-update/read" "$(read_resource greeting://Ada)" "Welcome back Ada"
cli -- resource update cli-greeting "$cli_fx/resource-other.json"
failed "cli/resource-update-name-mismatch/fails-400" "does not match"
cli -- resource update ghost "$cli_fx/resource-v2.json"
failed "cli/resource-update-unknown/fails" "ghost"
cli -- resource add "$cli_fx/not-json.json"
failed "cli/resource-add-not-json/fails" "not valid JSON"
cli -- resource remove cli-greeting
succeeded "cli/resource-remove/exit-0" "🙂 Resource cli-greeting removed successfully"
[[ "$(read_resource greeting://Ada)" == ERROR* ]] && pass "cli/resource-remove/gone" || fail "cli/resource-remove/gone" "still reads"
cli -- resource remove cli-greeting
failed "cli/resource-remove-again/fails-404" 'no resource named "cli-greeting"'

# --- prompts --------------------------------------------------------------------------------------------
cli -- prompt add "$cli_fx/prompt.json"
succeeded "cli/prompt-add/exit-0" "🎉 Prompt cli-review added successfully"
expect_eq "cli/prompt-add/get" "$(get_prompt cli-review '{"code":"x++"}')" "Review this: x++"
expect_eq "cli/prompt-add/prompts.yml-created" "$(yaml_json "$w/prompts/prompts.yml" | jq -r '.prompts.predefined[0].name')" cli-review
cli -- prompt add "$cli_fx/prompt.json"
failed "cli/prompt-add-existing/fails-409" 'a prompt named "cli-review" already exists'
cli -- prompt update cli-review "$cli_fx/prompt-v2.json"
succeeded "cli/prompt-update/exit-0" "🎉 Prompt cli-review updated successfully"
expect_eq "cli/prompt-update/get" "$(get_prompt cli-review '{"code":"x++"}')" "Review this carefully: x++"
cli -- prompt update cli-review "$cli_fx/prompt-invalid.json"
failed "cli/prompt-update-invalid/fails-400" "role"
cli -- prompt update other-name "$cli_fx/prompt-v2.json"
failed "cli/prompt-update-name-mismatch/fails" "other-name"
cli -- prompt remove cli-review
succeeded "cli/prompt-remove/exit-0" "🙂 Prompt cli-review removed successfully"
[[ "$(get_prompt cli-review '{"code":"x"}')" == ERROR* ]] && pass "cli/prompt-remove/gone" || fail "cli/prompt-remove/gone" "still answers"
cli -- prompt remove cli-review
failed "cli/prompt-remove-again/fails-404" 'no prompt named "cli-review"'
cli WASIMANCER_ADMIN_TOKEN=wrong -- prompt add "$cli_fx/prompt.json"
failed "cli/prompt-add-wrong-token/fails-403" "the admin token is not valid"

stop_server
finish
