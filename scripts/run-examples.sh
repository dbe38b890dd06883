#!/usr/bin/env bash
# `make run`: serves the bundled examples on port 3001 (HTTP_PORT overrides it).
# The example plugins are built into BUILD/examples/plugins; the folders the server reads and
# writes (uploads, YAML rewrites) live in BUILD/run, so the sources are never modified.
set -euo pipefail
build="${1:-build}"
root="$(cd "$(dirname "$0")/.." && pwd)"
run="$root/$build/run"
mkdir -p "$run/plugins" "$run/resources" "$run/prompts"
cp "$root/$build"/examples/plugins/*.wasm "$run/plugins/"
# Fresh YAML each start, so the examples always start from their committed state.
cp "$root/examples/plugins/plugins.yml" "$run/plugins/plugins.yml"
cp "$root/examples/resources/resources.yml" "$run/resources/resources.yml"
cp "$root/examples/prompts/prompts.yml" "$run/prompts/prompts.yml"

port="${HTTP_PORT:-${PORT:-3001}}"
token="${WASIMANCER_AUTHENTICATION_TOKEN:-wasimancer-rocks}"
admin="${WASIMANCER_ADMIN_TOKEN:-wasimancer-rocks}"
cat <<MSG

wasimancer is starting on http://localhost:${port} with the bundled examples
(plugins: roll-dice, hello, calc; a static and a template resource; two prompts).

List the tools:
  curl http://localhost:${port}/mcp -H "Authorization: Bearer ${token}" \\
    -H "Content-Type: application/json" -H "Accept: application/json, text/event-stream" \\
    -d '{"jsonrpc":"2.0","id":"1","method":"tools/list","params":{}}'

Roll three dice:
  curl http://localhost:${port}/mcp -H "Authorization: Bearer ${token}" \\
    -H "Content-Type: application/json" -H "Accept: application/json, text/event-stream" \\
    -d '{"jsonrpc":"2.0","id":"2","method":"tools/call","params":{"name":"rollDice","arguments":{"numFaces":6,"numDice":3}}}'

Publish a plugin at runtime (admin token: ${admin}):
  curl -X POST http://localhost:${port}/upload-plugin -H "Authorization: Bearer ${admin}" \\
    -F "wasmFile=@${root}/${build}/examples/plugins/calc.wasm" \\
    -F 'pluginData={"name":"calc2","version":"1.0.0","description":"calc","functions":[{"displayName":"add2","function":"addNumbers","arguments":[{"name":"a","type":"number"},{"name":"b","type":"number"}],"description":"add"}]}'

MCP endpoint for clients: http://localhost:${port}/mcp (Bearer ${token}). Ctrl-C stops the server.

MSG
cd "$run"
export PLUGINS_PATH="$run/plugins" UPLOAD_PATH="$run/plugins" RESOURCES_PATH="$run/resources" PROMPTS_PATH="$run/prompts"
export HTTP_PORT="$port" WASIMANCER_AUTHENTICATION_TOKEN="$token" WASIMANCER_ADMIN_TOKEN="$admin"
exec "$root/$build/wasimancer" serve
