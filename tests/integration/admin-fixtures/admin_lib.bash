# tests/integration/admin-fixtures/admin_lib.bash: helpers shared by the admin API suites
# (tests/integration/admin_*.sh). Sourced, never run. Builds on ../lib.bash (start_server,
# stop_server, wait_dead, pass, fail, finish). Talks to 127.0.0.1 only.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.bash"

fixtures="$root/tests/integration/admin-fixtures"
test_plugins="$build/plugins"

ADMIN_TOKEN="${ADMIN_TOKEN:-admin-token-3c1f}"
MCP_TOKEN="${MCP_TOKEN:-mcp-token-9d2e}"

# The runner's environment must not change how our servers behave.
unset PLUGINS_PATH PLUGINS_DEFINITION_FILE UPLOAD_PATH RESOURCES_PATH RESOURCES_DEFINITION_FILE \
  PROMPTS_PATH PROMPTS_DEFINITION_FILE HTTP_PORT PORT DEBUG WASIMANCER_TEST_CRASH_POINT \
  WASIMANCER_ADMIN_TOKEN WASIMANCER_AUTHENTICATION_TOKEN WASIMANCER_MAX_UPLOAD_BYTES WASIMANCER_URL WASIMANCER_TOKEN
# The native tier as scripts/run-tests.sh sets it (quick -O0 builds, cached in the build folder),
# unless the runner chose otherwise.
export WASIMANCER_NATIVE="${WASIMANCER_NATIVE:-quick}" WASIMANCER_NATIVE_OPT="${WASIMANCER_NATIVE_OPT:--O0}"
export WASIMANCER_NATIVE_CACHE="${WASIMANCER_NATIVE_CACHE:-$build/native-cache}"
export NO_PROXY='*' no_proxy='*'
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy

check_tools() {
  local t
  for t in curl jq python3; do
    command -v "$t" >/dev/null || { fail "setup" "$t is not installed"; exit 1; }
  done
  [[ -x "$bin" ]] || { fail "setup" "$bin is not built"; exit 1; }
}

# expect_eq NAME GOT WANT
expect_eq() {
  if [[ "$2" == "$3" ]]; then pass "$1"; else fail "$1" "got [$2], want [$3]"; fi
}

base_url() { echo "http://127.0.0.1:$server_port"; }

# admin METHOD PATH [curl args...]: an admin request with the admin token. Sets $code, $body.
admin() {
  local method="$1" path="$2"; shift 2
  admin_as "Bearer $ADMIN_TOKEN" "$method" "$path" "$@"
}

# admin_as AUTH-HEADER-VALUE METHOD PATH [curl args...] ("" = no Authorization header).
admin_as() {
  local auth="$1" method="$2" path="$3"; shift 3
  local out; out="$(mktemp)"
  local hdr=()
  [[ -n "$auth" ]] && hdr=(-H "Authorization: $auth")
  code=$(curl -s -m 30 -o "$out" -w '%{http_code}' -X "$method" "${hdr[@]}" "$@" "$(base_url)$path")
  body="$(cat "$out")"
  rm -f "$out"
}

# upload METHOD FILE PLUGIN-DATA [FILENAME] [QUERY]: a multipart upload with the admin token.
upload() {
  local method="$1" file="$2" data="$3" fname="${4:-}" query="${5:-}"
  local part="wasmFile=@$file"
  [[ -n "$fname" ]] && part="$part;filename=$fname"
  admin "$method" "$([[ $method == PUT ]] && echo /update-plugin || echo /upload-plugin)$query" \
    -F "$part" -F "pluginData=$data"
}

# plugin_data NAME FUNCTION [DISPLAY] [VERSION]: pluginData JSON text for one function.
plugin_data() {
  jq -cn --arg n "$1" --arg f "$2" --arg d "${3:-$2}" --arg v "${4:-1.0.0}" \
    '{name:$n, version:$v, description:"test plugin", functions:[{displayName:$d, function:$f, arguments:[], description:("calls " + $f)}]}'
}

# mcp JSON-BODY: one JSON-RPC request to /mcp answered as plain JSON; prints the response.
mcp() {
  curl -s -m 30 "$(base_url)/mcp" -H "Authorization: Bearer $MCP_TOKEN" -H 'Content-Type: application/json' \
    -H 'Accept: application/json' -d "$1"
}

# call_tool NAME ARGS-JSON: prints the text of the first content item, or "ERROR: ..." for a
# tool error / JSON-RPC error / no answer.
call_tool() {
  local res args="${2:-}"
  [[ -n "$args" ]] || args='{}'
  res="$(mcp "$(jq -cn --arg n "$1" --argjson a "$args" '{jsonrpc:"2.0",id:"1",method:"tools/call",params:{name:$n,arguments:$a}}')")"
  jq -r 'if .error then "ERROR: rpc " + (.error.message // "") elif .result.isError then "ERROR: tool " + (.result.content[0].text // "")
         else .result.content[0].text end' <<<"$res" 2>/dev/null || echo "ERROR: no JSON answer: $res"
}

# tools_list: the tool names, sorted, one per line ("ERROR" if tools/list failed).
tools_list() {
  mcp '{"jsonrpc":"2.0","id":"1","method":"tools/list"}' | jq -r '.result.tools[].name' 2>/dev/null | sort
  [[ "${PIPESTATUS[1]}" == 0 ]] || echo ERROR
}

# tools_list_full: the whole tools/list result, canonical JSON.
tools_list_full() { mcp '{"jsonrpc":"2.0","id":"1","method":"tools/list"}' | jq -cS '.result'; }

# yaml_json FILE: the YAML document as compact JSON; fails if it does not parse.
yaml_json() {
  python3 -c 'import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1])), sort_keys=True))' "$1" 2>/dev/null
}

# is_error_body TEXT: the body is exactly {"error": "<a useful message>"}.
is_error_body() {
  jq -e 'type == "object" and (keys == ["error"]) and (.error | type == "string" and length >= 10)' <<<"$1" >/dev/null 2>&1
}

# tree_state DIR...: a listing of every file (path, type, size, content hash) under DIRs.
tree_state() {
  local d
  for d in "$@"; do
    [[ -e "$d" ]] || { echo "absent $d"; continue; }
    find "$d" -printf '%p %y %s %l\n' | sort
    find "$d" -type f -exec sha256sum {} + 2>/dev/null | sort
  done
}

# temp_files DIR: leftover temporary files (".<name>.tmp-<random>") under DIR.
temp_files() { find "$1" -name '.*.tmp-*' 2>/dev/null | sort; }
