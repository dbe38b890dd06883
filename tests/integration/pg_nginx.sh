#!/usr/bin/env bash
# nginx (Debian's) in front of 3 replicas on one PostgreSQL registry (issue 10), all on loopback,
# started here and stopped by the trap even on failure:
#   - publish through A: callable through nginx and directly through B and C;
#   - 1,000+ tool calls through nginx during 20 updates through different replicas: no failed
#     call, and every answer is a whole version ("a" or "b");
#   - kill -9 of a replica during load: no failed call (nginx retries on another), and the killed
#     one restarts and catches up to the current revision;
#   - PostgreSQL restarted during load: calls keep succeeding, an admin write during the outage
#     gets 503, the replicas reconnect and serve the next publish;
#   - stateful sessions stick to their replica through nginx (the replica's name starts the
#     session id; nginx routes on it), also for the legacy SSE transport's ?sessionId=; a
#     session id a replica does not know is a 404 (clients re-initialise after a failover).
set -uo pipefail
source "$(dirname "$0")/pg-fixtures/pg_lib.bash"
check_tools
if ! pg_available || ! nginx_available; then
  echo "SKIP pg_nginx: needs PostgreSQL ($pg_bin) and nginx ($nginx_bin): scripts/install-deps.sh installs them"
  exit 0
fi
w="$(mktemp -d /tmp/wasimancer-pgnginx.XXXXXX)"
trap 'nginx_stop; stop_all; rm -rf "$w"' EXIT
version_a="$test_plugins/version_a.wasm"
version_b="$test_plugins/version_b.wasm"
load="$(dirname "$0")/pg-fixtures/load.py"

pg_init "$w/pg" && pg_start || { fail "setup/postgresql" "$(tail -5 "$w/pg/"*.log)"; finish; }
for i in 0 1 2; do start_replica "$i" || { fail "setup/replica-$i" "did not start"; finish; }; done
nginx_start "$w/nginx" "$(free_port)" "${rport[0]}" "${rport[1]}" "${rport[2]}" || { fail "setup/nginx" "did not start"; finish; }
pass "setup/postgresql-3-replicas-nginx"
via_nginx() { server_port="$nginx_port"; }

# --- publish through A: callable through nginx and directly --------------------------------------
on 0
upload POST "$version_a" "$(plugin_data who whoami)" who.wasm
expect_eq "publish/through-a" "$code" "200"
callable() { local out; out="$(server_port=$1; call_tool whoami)"; [[ "$out" == '{"version":"a"}' ]]; }
for i in 1 2; do wait_for 20 callable "${rport[$i]}" && pass "publish/direct-replica-$i" || fail "publish/direct-replica-$i" "$(on "$i"; call_tool whoami)"; done
ok=1
for n in $(seq 1 12); do callable "$nginx_port" || ok=0; done
((ok)) && pass "publish/through-nginx-12-calls" || fail "publish/through-nginx-12-calls" "$(via_nginx; call_tool whoami)"

# --- 1,000+ calls through nginx during 20 updates ---------------------------------------------
python3 "$load" "http://127.0.0.1:$nginx_port/mcp" "$MCP_TOKEN" whoami 1000 "$w/stop1" 4 >"$w/load1.json" &
load_pid=$!
upd_fail=0
for n in $(seq 1 20); do
  i=$((n % 3)); on "$i"
  file="$version_b"; ((n % 2 == 0)) && file="$version_a"
  # A 409 means this replica has not caught up with the change made through another one yet:
  # retry, as a client would (for 30 s at most).
  end=$((SECONDS + 30))
  while :; do
    upload PUT "$file" "$(plugin_data who whoami)" who.wasm
    [[ "$code" == 409 && $SECONDS -lt $end ]] || break
    sleep 0.1
  done
  [[ "$code" == 200 ]] || { upd_fail=$((upd_fail + 1)); echo "update $n through $i: $code $body"; }
done
touch "$w/stop1"
wait "$load_pid"
expect_eq "updates/20-updates-200" "$upd_fail" "0"
res="$(cat "$w/load1.json")"; echo "load: $res"
calls=$(jq .calls <<<"$res"); fails=$(jq .failures <<<"$res")
((calls >= 1000)) && pass "updates/1000-calls-made" || fail "updates/1000-calls-made" "$res"
expect_eq "updates/zero-failed-calls" "$fails" "0"
expect_eq "updates/only-whole-versions" "$(jq -c '.outputs | keys - ["{\"version\":\"a\"}","{\"version\":\"b\"}"]' <<<"$res")" "[]"

# --- kill -9 of a replica during load --------------------------------------------------------------
python3 "$load" "http://127.0.0.1:$nginx_port/mcp" "$MCP_TOKEN" whoami 300 "$w/stop2" 4 >"$w/load2.json" &
load_pid=$!
sleep 0.5
kill -KILL "${rpid[1]}"; wait "${rpid[1]}" 2>/dev/null; rpid[1]=""
on 0
upload PUT "$version_b" "$(plugin_data who whoami)" who.wasm
expect_eq "kill9/update-while-b-is-dead" "$code" "200"
rport_want[1]="${rport[1]}"  # the same port, as nginx knows it
start_replica 1 || fail "kill9/b-restarts" "did not start"
want_rev="$(psql_q 'select revision from wasimancer_state')"
expect_eq "kill9/b-caught-up-revision" "$(served_revision 1)" "$want_rev"
expect_eq "kill9/b-serves-current-version" "$(on 1; call_tool whoami)" '{"version":"b"}'
touch "$w/stop2"
wait "$load_pid"
res="$(cat "$w/load2.json")"; echo "load during kill -9: $res"
expect_eq "kill9/zero-failed-calls" "$(jq .failures <<<"$res")" "0"

# --- PostgreSQL restarted during load -------------------------------------------------------------
python3 "$load" "http://127.0.0.1:$nginx_port/mcp" "$MCP_TOKEN" whoami 300 "$w/stop3" 4 >"$w/load3.json" &
load_pid=$!
pg_stop
on 2
upload PUT "$version_a" "$(plugin_data who whoami)" who.wasm
expect_eq "pg-restart/admin-write-during-outage-503" "$code" "503"
pg_start || fail "pg-restart/start" "$(tail -5 "$w/pg/server.log")"
publish_after() { on 2; upload PUT "$version_a" "$(plugin_data who whoami)" who.wasm; [[ "$code" == 200 ]]; }
wait_for 30 publish_after && pass "pg-restart/write-after-restart" || fail "pg-restart/write-after-restart" "$code $body"
for i in 0 1 2; do
  wait_for 30 callable "${rport[$i]}" && pass "pg-restart/replica-$i-serves-next-publish" || fail "pg-restart/replica-$i-serves-next-publish" "$(on "$i"; call_tool whoami)"
done
touch "$w/stop3"
wait "$load_pid"
res="$(cat "$w/load3.json")"; echo "load during the database restart: $res"
expect_eq "pg-restart/zero-failed-calls" "$(jq .failures <<<"$res")" "0"

# --- sessions behind the balancer -----------------------------------------------------------------
init='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}'
hdrs="$w/init.h"
curl -s -D "$hdrs" -o /dev/null "http://127.0.0.1:$nginx_port/mcp" -H "Authorization: Bearer $MCP_TOKEN" -H 'Content-Type: application/json' \
  -H 'Accept: application/json, text/event-stream' -d "$init"
sid="$(sed -n 's/^[Mm]cp-[Ss]ession-[Ii]d: *\([^[:space:]]*\).*/\1/p' "$hdrs")"
[[ "$sid" =~ ^r[0-2]\. ]] && pass "sessions/initialize-through-nginx-id-names-the-replica" || fail "sessions/initialize-through-nginx-id-names-the-replica" "$(cat "$hdrs")"
ok=1
for n in $(seq 1 10); do
  c=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$nginx_port/mcp" -H "Authorization: Bearer $MCP_TOKEN" -H 'Content-Type: application/json' \
    -H 'Accept: application/json, text/event-stream' -H "Mcp-Session-Id: $sid" -H 'MCP-Protocol-Version: 2025-06-18' \
    -d '{"jsonrpc":"2.0","id":2,"method":"tools/list"}')
  [[ "$c" == 200 ]] || ok=0
done
((ok)) && pass "sessions/sticky-10-requests-200" || fail "sessions/sticky-10-requests-200" "a request of the session was not 200"
# The legacy SSE transport: GET /sse, then POST /messages?sessionId=... through nginx.
curl -s -N -m 8 "http://127.0.0.1:$nginx_port/sse" -H "Authorization: Bearer $MCP_TOKEN" -H 'Accept: text/event-stream' >"$w/sse.out" 2>/dev/null &
sse_pid=$!
wait_for 10 grep -q 'sessionId=' "$w/sse.out"
endpoint="$(sed -n 's/^data: *\(\/messages?sessionId=[^[:space:]]*\).*/\1/p' "$w/sse.out" | head -1)"
ok=1
for n in $(seq 1 6); do
  c=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$nginx_port$endpoint" -H "Authorization: Bearer $MCP_TOKEN" \
    -H 'Content-Type: application/json' -d "$([[ $n == 1 ]] && echo "$init" || echo '{"jsonrpc":"2.0","id":3,"method":"tools/list"}')")
  [[ "$c" == 202 || "$c" == 200 ]] || ok=0
done
((ok)) && [[ -n "$endpoint" ]] && pass "sessions/legacy-sse-posts-reach-the-stream-replica" || fail "sessions/legacy-sse-posts-reach-the-stream-replica" "endpoint [$endpoint] last $c"
wait_for 10 grep -q '"tools"' "$w/sse.out" && pass "sessions/legacy-sse-answers-on-the-stream" || fail "sessions/legacy-sse-answers-on-the-stream" "$(head -c 300 "$w/sse.out")"
kill "$sse_pid" 2>/dev/null; wait "$sse_pid" 2>/dev/null
c=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$nginx_port/mcp" -H "Authorization: Bearer $MCP_TOKEN" -H 'Content-Type: application/json' \
  -H 'Accept: application/json, text/event-stream' -H 'Mcp-Session-Id: r1.not-a-session-anywhere' -H 'MCP-Protocol-Version: 2025-06-18' \
  -d '{"jsonrpc":"2.0","id":2,"method":"tools/list"}')
expect_eq "sessions/unknown-session-404" "$c" "404"

finish
