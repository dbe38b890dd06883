#!/usr/bin/env bash
# requires: third-party plugins (WASImancer's samples; see scripts/run-tests.sh)
# WASImancer's testing guide (docs/test-with-curl.md in sea-monkeys/WASImancer), run unchanged
# against wasimancer started on WASImancer-style folders and environment: every call is
#
#   curl ${MCP_SERVER}/mcp -H "Authorization: Bearer ${AUTHENTICATION_TOKEN}" \
#     -H "Content-Type: application/json" -H "Accept: application/json, text/event-stream" \
#     -d "${DATA}" | grep "^data:" | sed 's/^data: //' | jq '.'
#
# for tools/list, tools/call, resources/list, resources/templates/list, resources/read,
# prompts/list and prompts/get, and its jq output is checked. One PASS/FAIL line per check.
set -uo pipefail
source "$(dirname "$0")/lib.bash"

shared="${WASIMANCER_SHARED_PLUGINS:-$root/../shared/plugins}/sea-monkeys-WASImancer"
for f in wasimancer-plugin-roll-dice.wasm wasimancer-plugin-hello.wasm wasimancer_plugin_addition.wasm; do
  if [[ ! -f "$shared/$f" ]]; then fail "guide-setup" "missing $shared/$f"; exit 1; fi
done
for tool in curl jq node; do
  command -v "$tool" >/dev/null || { fail "guide-setup" "$tool is not installed"; exit 1; }
done

work="$(mktemp -d)"
trap 'stop_server; rm -rf "$work"' EXIT

# ---- WASImancer-style folders (the examples of its README and of its own repository) ----------
mkdir -p "$work/plugins/roll-dice" "$work/plugins/hello" "$work/plugins/addition" "$work/resources" "$work/prompts"
cp "$shared/wasimancer-plugin-roll-dice.wasm" "$work/plugins/roll-dice/"
cp "$shared/wasimancer-plugin-hello.wasm" "$work/plugins/hello/"
cp "$shared/wasimancer_plugin_addition.wasm" "$work/plugins/addition/"

cat >"$work/plugins/plugins.yml" <<'EOF'
about: WASImancer plugins (paths are relative to PLUGINS_PATH, with WASImancer's leading slash)
plugins:
  - name: 'hello'
    path: '/hello/wasimancer-plugin-hello.wasm'
    version: '1.0.0'
    description: 'hello greetings'
    functions:
      - displayName: 'say hello'
        function: 'say_hello'
        arguments:
          - name: 'name'
            type: 'string'
            description: 'name of the person'
        description: 'a function to say hello'

  - name: roll dice
    path: /roll-dice/wasimancer-plugin-roll-dice.wasm
    version: 1.0.0
    description: roll dice
    functions:
      - displayName: rollDice
        function: rollDice
        arguments:
          - name: numFaces
            type: number
            description: number of faces on the dice
          - name: numDice
            type: number
            description: number of dice to roll
        description: a function to roll dice

  - name: addition
    path: /addition/wasimancer_plugin_addition.wasm
    version: 1.0.0
    description: addition with a Rust plugin
    functions:
      - displayName: add with rust
        function: add
        arguments:
          - name: left
            type: number
            description: first number
          - name: right
            type: number
            description: second number
        description: add two numbers
EOF

cat >"$work/resources/resources.yml" <<'EOF'
about: |
  Resources in WASImancer are predefined information elements that can be accessed by MCP clients.

resources:
  static:
    - name: server-info
      uri: config://server
      contents:
        - text: This is WASImancer, running on MCP!

    - name: k33g-org-info
      uri: info://k33g-org
      contents:
        - text: First name and Last name
          firstName: Philippe
          lastName: Charrière
        - text: 🎉 tada!

  dynamic:
    - name: echo
      uri: echo://{message}
      arguments:
        - name: 'message'
          type: 'string' # for informational purposes only
      contents:
        - text: 'Resource echo: ${message}'

    - name: greet-user
      uri: greet-user://{firstName}/{lastName}          # RFC 6570 level 1 template
      arguments:
        - name: firstName
          type: string
        - name: lastName
          type: string
      contents:
        - text: Say hello to ${firstName} ${lastName}!  # ${arg} substituted on read
EOF

cat >"$work/prompts/prompts.yml" <<'EOF'
prompts:
  predefined:
    - name: 'greet-user'
      arguments:
        - name: 'nickName'
          type: 'string'
      messages:
        - text: 'Say hello to ${nickName}!'
          role: 'user'

    - name: code-analyst
      arguments:
        - name: code
          type: string
      messages:
        - role: user
          text: 'Analyze my source code: ${code}'
EOF

AUTHENTICATION_TOKEN=mcp-is-the-way

start_server "$work/server.log" \
  PLUGINS_PATH="$work/plugins" RESOURCES_PATH="$work/resources" PROMPTS_PATH="$work/prompts" \
  WASIMANCER_AUTHENTICATION_TOKEN="$AUTHENTICATION_TOKEN" WASIMANCER_ADMIN_TOKEN=guide-admin-token -- || {
  fail "guide-server" "the server did not start"; exit 1; }
MCP_SERVER="http://localhost:${server_port}"

# ---- the guide's call, verbatim (DATA holds the JSON-RPC request) -----------------------------
guide_call() {
  curl ${MCP_SERVER}/mcp \
    -H "Authorization: Bearer ${AUTHENTICATION_TOKEN}" \
    -H "Content-Type: application/json" \
    -H "Accept: application/json, text/event-stream" \
    -d "${DATA}" \
    | grep "^data:" | sed 's/^data: //' | jq '.'
}

# run_guide NAME: runs guide_call with $DATA; leaves jq's output in $out. FAILs NAME if the
# pipeline fails or yields anything but exactly one JSON document.
run_guide() {
  local name="$1"
  out="$(guide_call 2>>"$work/curl.stderr")"
  local rc=$?
  if ((rc != 0)); then fail "$name" "the guide's pipeline exited $rc; output: ${out:0:300}"; return 1; fi
  if [[ -z "$out" ]] || ! jq -e -s 'length == 1' >/dev/null 2>&1 <<<"$out"; then
    fail "$name" "expected one JSON document from jq, got: ${out:0:300}"
    return 1
  fi
  return 0
}

# check NAME JQ_FILTER [ARGS...]: FAILs unless `jq -e FILTER` is true on $out.
check() {
  local name="$1" filter="$2"; shift 2
  if jq -e "$@" "$filter" >/dev/null 2>&1 <<<"$out"; then
    pass "$name"
  else
    fail "$name" "jq '$filter' is not true on: $(jq -c . <<<"$out" 2>/dev/null | cut -c1-400)"
  fi
}

# guide_check NAME JQ_FILTER [ARGS...]: run_guide, then check NAME on its output.
guide_check() { run_guide "$1" && check "$@"; }

# ---- Listing ---------------------------------------------------------------------------------
# (WASImancer 0.0.7 echoed the MCP token in serverInfo.auth: it must not be sent back.)
read -r -d '' DATA <<- EOM
{
  "jsonrpc": "2.0",
  "id": "1",
  "method": "initialize",
  "params": {
    "protocolVersion": "2025-03-26",
    "capabilities": {},
    "clientInfo": { "name": "curl", "version": "1.0.0" }
  }
}
EOM
if run_guide "guide/initialize"; then
  check "guide/initialize" '.result.protocolVersion == "2025-03-26" and (.result.serverInfo.name | type == "string") and .result.capabilities.tools != null'
  check "guide/initialize-no-token" '(tostring | contains($t) | not) and .result.serverInfo.auth == null' --arg t "$AUTHENTICATION_TOKEN"
fi

read -r -d '' DATA <<- EOM
{
  "jsonrpc": "2.0",
  "id": "1",
  "method": "tools/list",
  "params": {}
}
EOM
if run_guide "guide/tools-list"; then
  check "guide/tools-list" '.jsonrpc == "2.0" and .id == "1" and (.result.tools | map(.name) == ["say hello", "rollDice", "add with rust"])'
  check "guide/tools-list-descriptions" '.result.tools | map(.description) == ["a function to say hello", "a function to roll dice", "add two numbers"]'
  check "guide/tools-list-schema" '.result.tools[1].inputSchema == {"type":"object","properties":{"numFaces":{"type":"number","description":"number of faces on the dice"},"numDice":{"type":"number","description":"number of dice to roll"}},"required":["numFaces","numDice"]}'
  check "guide/tools-list-no-token" 'tostring | contains($t) | not' --arg t "$AUTHENTICATION_TOKEN"
fi

read -r -d '' DATA <<- EOM
{
  "jsonrpc": "2.0",
  "id": "1",
  "method": "resources/templates/list",
  "params": {}
}
EOM
guide_check "guide/resources-templates-list" '.result.resourceTemplates | map({name, uriTemplate}) == [{"name":"echo","uriTemplate":"echo://{message}"},{"name":"greet-user","uriTemplate":"greet-user://{firstName}/{lastName}"}]'

read -r -d '' DATA <<- EOM
{
  "jsonrpc": "2.0",
  "id": "1",
  "method": "resources/list",
  "params": {}
}
EOM
guide_check "guide/resources-list" '.result.resources | map({name, uri}) == [{"name":"server-info","uri":"config://server"},{"name":"k33g-org-info","uri":"info://k33g-org"}]'

read -r -d '' DATA <<- EOM
{
  "jsonrpc": "2.0",
  "id": "1",
  "method": "prompts/list",
  "params": {}
}
EOM
if run_guide "guide/prompts-list"; then
  check "guide/prompts-list" '.result.prompts | map(.name) == ["greet-user", "code-analyst"]'
  check "guide/prompts-list-arguments" '.result.prompts[1].arguments | map(.name) == ["code"]'
fi

# ---- Using tools -------------------------------------------------------------------------------
read -r -d '' DATA <<- EOM
{
  "jsonrpc": "2.0",
  "id": "1",
  "method": "tools/call",
  "params": {
    "name": "rollDice",
    "arguments": {
      "numDice": 3,
      "numFaces": 6
    }
  }
}
EOM
guide_check "guide/tools-call-rollDice" '(.result.isError // false) == false and (.result.content[0].type == "text") and (.result.content[0].text | tonumber | . >= 3 and . <= 18)'

read -r -d '' DATA <<- EOM
{
  "jsonrpc": "2.0",
  "id": "1",
  "method": "tools/call",
  "params": {
    "name": "add with rust",
    "arguments": {
      "left": 23,
      "right": 19
    }
  }
}
EOM
guide_check "guide/tools-call-add-with-rust" '.result.content == [{"type":"text","text":"{\"value\":42}"}]'

read -r -d '' DATA <<- EOM
{
  "jsonrpc": "2.0",
  "id": "1",
  "method": "tools/call",
  "params": {
    "name": "say hello",
    "arguments": {
      "name": "Bob Morane"
    }
  }
}
EOM
guide_check "guide/tools-call-say-hello" '(.result.isError // false) == false and (.result.content[0].text | startswith("🎉 Extism is 💜, 🌍, by ") and contains("Bob Morane"))'

# ---- Accessing resources -----------------------------------------------------------------------
read -r -d '' DATA <<- EOM
{
  "jsonrpc": "2.0",
  "id": "1",
  "method": "resources/read",
  "params": {
    "uri": "greet-user://Bob/Morane"
  }
}
EOM
guide_check "guide/resources-read-template" '.result.contents == [{"uri":"greet-user://Bob/Morane","text":"Say hello to Bob Morane!"}]'

read -r -d '' DATA <<- EOM
{
  "jsonrpc": "2.0",
  "id": "1",
  "method": "resources/read",
  "params": {
    "uri": "config://server"
  }
}
EOM
guide_check "guide/resources-read" '.result.contents == [{"uri":"config://server","text":"This is WASImancer, running on MCP!"}]'

read -r -d '' DATA <<- EOM
{
  "jsonrpc": "2.0",
  "id": "1",
  "method": "resources/read",
  "params": {
    "uri": "info://k33g-org"
  }
}
EOM
guide_check "guide/resources-read-extra-keys" '.result.contents | length == 2 and .[0].uri == "info://k33g-org" and .[1].uri == "info://k33g-org" and .[0].firstName == "Philippe" and .[0].lastName == "Charrière" and .[1].text == "🎉 tada!"'

read -r -d '' DATA <<- EOM
{
  "jsonrpc": "2.0",
  "id": "1",
  "method": "resources/read",
  "params": {
    "uri": "echo://hello%20world"
  }
}
EOM
guide_check "guide/resources-read-echo" '.result.contents[0].uri == "echo://hello%20world" and (.result.contents[0].text | startswith("Resource echo: hello"))'

# ---- Using prompts -----------------------------------------------------------------------------
read -r -d '' DATA <<- EOM
{
  "jsonrpc": "2.0",
  "id": "1",
  "method": "prompts/get",
  "params": {
    "name": "greet-user",
    "arguments": {
      "nickName": "Bob Morane"
    }  
  }
}
EOM
guide_check "guide/prompts-get-greet-user" '.result.messages == [{"role":"user","content":{"type":"text","text":"Say hello to Bob Morane!"}}]'

read -r -d '' DATA <<- EOM
{
  "jsonrpc": "2.0",
  "id": "1",
  "method": "prompts/get",
  "params": {
    "name": "code-analyst",
    "arguments": {
      "code": "console.log(42)"
    }
  }
}
EOM
guide_check "guide/prompts-get-code-analyst" '.result.messages == [{"role":"user","content":{"type":"text","text":"Analyze my source code: console.log(42)"}}]'

# ---- The same form when something is wrong ----------------------------------------------------
read -r -d '' DATA <<- EOM
{
  "jsonrpc": "2.0",
  "id": "1",
  "method": "tools/call",
  "params": {
    "name": "no such tool",
    "arguments": {}
  }
}
EOM
guide_check "guide/unknown-tool" '.id == "1" and .error.code == -32602 and (.error.message | contains("no such tool"))'

# A missing token: 401 with a JSON body (so the guide's pipeline prints nothing).
status=$(curl -s -o "$work/noauth.json" -w '%{http_code}' "${MCP_SERVER}/mcp" -H "Content-Type: application/json" \
  -H "Accept: application/json, text/event-stream" -d '{"jsonrpc":"2.0","id":"1","method":"tools/list","params":{}}')
if [[ "$status" == 401 ]] && jq -e '.error == "invalid_token"' "$work/noauth.json" >/dev/null 2>&1; then
  pass "guide/missing-token-401"
else
  fail "guide/missing-token-401" "got HTTP $status: $(head -c 300 "$work/noauth.json")"
fi

stop_server

# ---- HTTP_PORT and PORT choose the port (no --port flag) ---------------------------------------
free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# start_on_env_port NAME VAR: starts the server with VAR=<free port> and checks it listens there.
start_on_env_port() {
  local name="$1" var="$2" port log="$work/$2.log"
  port="$(free_port)"
  : >"$log"
  env PLUGINS_PATH="$work/plugins" RESOURCES_PATH="$work/resources" PROMPTS_PATH="$work/prompts" \
    WASIMANCER_AUTHENTICATION_TOKEN="$AUTHENTICATION_TOKEN" WASIMANCER_ADMIN_TOKEN=guide-admin-token \
    "$var=$port" "$bin" serve --bind 127.0.0.1 >"$log" 2>&1 &
  server_pid=$!
  if ! wait_listening "$log" "$server_pid" 2>/dev/null || [[ "$server_port" != "$port" ]]; then
    fail "$name" "expected to listen on $var=$port, log: $(tail -3 "$log")"
  else
    MCP_SERVER="http://localhost:${port}"
    DATA='{"jsonrpc":"2.0","id":"1","method":"tools/list","params":{}}'
    guide_check "$name" '.result.tools | length == 3'
  fi
  stop_server
}
start_on_env_port "guide/HTTP_PORT" HTTP_PORT
start_on_env_port "guide/PORT" PORT

if ((${failures:-0} > 0)); then
  echo "--- server log ---"; tail -30 "$work/server.log"
fi
finish
