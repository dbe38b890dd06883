#!/usr/bin/env bash
# Several replicas on one PostgreSQL registry (issue 10), with real components: a cluster made by
# initdb + pg_ctl in a temporary folder (unix socket only), three wasimancer replicas on loopback.
# Checks: concurrent start-up migrates once; publish through A is callable through B and C; the
# revision is reported; two concurrent updates with one If-Match: one 200, one 409; a database
# outage keeps calls working, admin writes get 503, and replicas reconnect and catch up; a replica
# killed with -9 catches up on restart; resources and removals travel too. Everything started is
# stopped by the trap, even on failure. One PASS/FAIL line per check.
set -uo pipefail
source "$(dirname "$0")/pg-fixtures/pg_lib.bash"
check_tools
if ! pg_available; then
  echo "SKIP pg_replicas: PostgreSQL is not installed ($pg_bin/initdb; scripts/install-deps.sh installs it)"
  exit 0
fi
if ! "$bin" serve --help 2>/dev/null | grep -q -- --database-url; then
  fail "setup" "$bin has no --database-url"; finish
fi

w="$(mktemp -d /tmp/wasimancer-pg.XXXXXX)"
trap 'stop_all; rm -rf "$w"' EXIT
version_a="$test_plugins/version_a.wasm"
version_b="$test_plugins/version_b.wasm"

pg_init "$w/pg" || { fail "pg/initdb" "$(tail -5 "$w/pg/initdb.log")"; finish; }
pg_start || { fail "pg/start" "$(tail -5 "$w/pg/server.log")"; finish; }
pass "pg/cluster-started"

# --- three replicas start at once on an empty database: the schema is migrated exactly once ----
for i in 0 1 2; do start_replica "$i" & done
wait
ok=1
for i in 0 1 2; do
  rport[$i]=$(sed -n 's/.*listening on http:\/\/[^:]*:\([0-9]*\).*/\1/p' "$w/r$i.log" | tail -1)
  rpid[$i]=$(cat "$w/r$i.pid" 2>/dev/null)
  [[ -n "${rport[$i]}" ]] || ok=0
done
if ((ok)); then pass "start/three-replicas-listening"; else fail "start/three-replicas-listening" "$(tail -n 3 "$w"/r*.log)"; finish; fi
expect_eq "start/schema-migrated-once" "$(psql_q 'select count(*), max(version) from wasimancer_schema')" "3|3"
expect_eq "start/revision-zero" "$(served_revision 1)" "0"

# --- publish through A, callable through B and C --------------------------------------------------
on 0
upload POST "$version_a" "$(plugin_data who whoami)" who.wasm
expect_eq "publish/through-a" "$code" "200"
rev_pub=$(jq -r '.revision // empty' <<<"$body")
[[ "$rev_pub" =~ ^[0-9]+$ ]] && pass "publish/revision-reported" || fail "publish/revision-reported" "$body"
t0=$(date +%s.%N)
for i in 1 2; do
  on "$i"
  if wait_for 20 bash -c "[[ \"\$(source '$(dirname "$0")/pg-fixtures/pg_lib.bash'; server_port=${rport[$i]}; call_tool whoami)\" == '{\"version\":\"a\"}' ]]"; then
    pass "publish/callable-through-replica-$i"
  else
    fail "publish/callable-through-replica-$i" "$(call_tool whoami)"
  fi
done
echo "note: publish to callable on B and C took $(echo "$(date +%s.%N) - $t0" | bc 2>/dev/null || echo '?') s"
expect_eq "publish/b-reports-the-revision" "$(served_revision 1)" "$rev_pub"
# The same figures on /metrics (issue 13): the revision served, the newest heard of, the lag.
metric() {  # REPLICA NAME: the value of an unlabelled metric on that replica's /metrics
  curl -s -H "Authorization: Bearer $ADMIN_TOKEN" "http://127.0.0.1:${rport[$1]}/metrics" | awk -v n="$2" '$1 == n { print $2 }'
}
metric_is() { [[ "$(metric "$1" "$2")" == "$3" ]]; }
wait_for 20 metric_is 1 wasimancer_database_revision_served "$rev_pub" && pass "metrics/revision-served" \
  || fail "metrics/revision-served" "$(metric 1 wasimancer_database_revision_served), want $rev_pub"
expect_eq "metrics/latest-revision" "$(metric 1 wasimancer_database_revision_latest)" "$rev_pub"
expect_eq "metrics/caught-up-lag-zero" "$(metric 1 wasimancer_database_reconcile_lag_seconds)" "0"
n_reconciles="$(metric 1 wasimancer_database_reconcile_seconds_count)"
[[ "$n_reconciles" =~ ^[0-9]+$ ]] && ((n_reconciles >= 1)) && pass "metrics/reconcile-timed" || fail "metrics/reconcile-timed" "count: $n_reconciles"
expect_eq "metrics/database-up" "$(metric 1 wasimancer_database_up)" "1"
if command -v promtool >/dev/null; then
  curl -s -H "Authorization: Bearer $ADMIN_TOKEN" "http://127.0.0.1:${rport[1]}/metrics" >"$w/metrics.txt"
  promtool check metrics <"$w/metrics.txt" >"$w/promtool.out" 2>&1 && pass "metrics/promtool-accepts" || fail "metrics/promtool-accepts" "$(head -5 "$w/promtool.out")"
fi
expect_eq "readyz/ready-with-database" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${rport[1]}/readyz")" "200"
expect_eq "readyz/reports-the-revision" "$(curl -s "http://127.0.0.1:${rport[1]}/readyz" | jq -r .revision)" "$rev_pub"
expect_eq "publish/stored-in-table" "$(psql_q "select name, length(sha256) from wasimancer_plugins")" "who|64"
expect_eq "publish/wasm-bytes-stored" "$(psql_q "select octet_length(bytes) from wasimancer_wasm")" "$(stat -c %s "$version_a")"
on 1
upload POST "$version_a" "$(plugin_data who whoami)" who.wasm
expect_eq "publish/same-name-through-b-is-409" "$code" "409"
# No file is written in database mode.
expect_eq "publish/no-files-written" "$(find "$w/r0" "$w/r1" -name '*.wasm' -o -name '*.yml' | wc -l)" "0"

# --- two concurrent updates of one plugin through two replicas: one 200, one 409 ----------------
rev=$(served_revision 1)
upd() {  # upd I FILE OUT: update-plugin through replica I with If-Match: $rev
  curl -s -m 60 -o "$3.body" -w '%{http_code}' -X PUT -H "Authorization: Bearer $ADMIN_TOKEN" -H "If-Match: $rev" \
    -F "wasmFile=@$2;filename=who.wasm" -F "pluginData=$(plugin_data who whoami)" "http://127.0.0.1:${rport[$1]}/update-plugin" >"$3"
}
upd 1 "$version_b" "$w/u1" & upd 2 "$version_b" "$w/u2" &
wait
codes="$(cat "$w/u1") $(cat "$w/u2")"
if [[ "$codes" == "200 409" || "$codes" == "409 200" ]]; then pass "concurrent/one-200-one-409"; else fail "concurrent/one-200-one-409" "got $codes: $(cat "$w/u1.body" "$w/u2.body")"; fi
grep -h -q 'If-Match' "$w/u1.body" "$w/u2.body" && pass "concurrent/409-says-why" || fail "concurrent/409-says-why" "$(cat "$w/u1.body" "$w/u2.body")"
expect_eq "concurrent/one-revision-added" "$(psql_q 'select revision from wasimancer_state')" "$((rev + 1))"
for i in 0 1 2; do
  on "$i"
  wait_for 20 bash -c "[[ \"\$(source '$(dirname "$0")/pg-fixtures/pg_lib.bash'; server_port=${rport[$i]}; call_tool whoami)\" == '{\"version\":\"b\"}' ]]" \
    && pass "concurrent/replica-$i-serves-b" || fail "concurrent/replica-$i-serves-b" "$(call_tool whoami)"
done
# A rollback through A (the version its last update replaced) reaches every replica; twice returns.
on 0
upload PUT "$version_a" "$(plugin_data who whoami)" who.wasm
expect_eq "rollback/update-to-a-through-a" "$code" "200"
serves() {  # serves REPLICA WANT
  local out; out="$(server_port=${rport[$1]}; call_tool whoami)"; [[ "$out" == "{\"version\":\"$2\"}" ]]
}
for step in b a; do
  on 0; admin POST /rollback-plugin/who
  expect_eq "rollback/to-$step-200" "$code" "200"
  wait_for 20 serves 2 "$step" && pass "rollback/replica-2-serves-$step" || fail "rollback/replica-2-serves-$step" "$(on 2; call_tool whoami)"
done
# A stale If-Match is refused, nothing changes.
on 0
upload PUT "$version_a" "$(plugin_data who whoami)" who.wasm
expect_eq "concurrent/update-without-if-match" "$code" "200"
code=$(curl -s -m 30 -o /dev/null -w '%{http_code}' -X DELETE -H "Authorization: Bearer $ADMIN_TOKEN" -H "If-Match: $rev" "http://127.0.0.1:${rport[0]}/remove-plugin/who")
expect_eq "concurrent/stale-if-match-remove-409" "$code" "409"

# --- modules no plugin uses are collected an hour after they stopped being used -------------------
sha_a="$(sha256sum "$version_a" | cut -d' ' -f1)"
sha_b="$(sha256sum "$version_b" | cut -d' ' -f1)"
# who serves a: b is no longer used, marked but kept (a replica behind, a rollback, may want it).
expect_eq "gc/unused-module-kept-and-marked" "$(psql_q "select sha256, unreferenced_since is not null from wasimancer_wasm order by sha256 = '$sha_a' desc")" \
  "$sha_a|f
$sha_b|t"
# An hour later (the mark moved back), the next plugin commit deletes it; the one in use stays.
psql_q "update wasimancer_wasm set unreferenced_since = now() - interval '2 hours' where sha256 = '$sha_b'" >/dev/null
echo_wasm="$test_plugins/echo.wasm"
upload POST "$echo_wasm" "$(jq -cn '{name:"gcprobe",version:"1.0.0",functions:[{displayName:"gcprobe_echo",function:"echo",arguments:[]}]}')" gcprobe.wasm
expect_eq "gc/probe-published" "$code" "200"
expect_eq "gc/old-unused-module-deleted" "$(psql_q "select count(*) from wasimancer_wasm where sha256 = '$sha_b'")" "0"
expect_eq "gc/used-module-kept" "$(psql_q "select count(*) from wasimancer_wasm where sha256 = '$sha_a' and unreferenced_since is null")" "1"
admin DELETE /remove-plugin/gcprobe
expect_eq "gc/probe-removed" "$code" "200"
expect_eq "gc/just-unused-module-kept" "$(psql_q "select count(*) from wasimancer_wasm where sha256 = '$(sha256sum "$echo_wasm" | cut -d' ' -f1)' and unreferenced_since is not null")" "1"

# --- resources and prompts travel too ------------------------------------------------------------
on 0
admin POST /add-resource -H 'Content-Type: application/json' -d '{"name":"motd","uri":"info://motd","contents":[{"text":"hello from A"}]}'
expect_eq "resource/add-through-a" "$code" "200"
read_motd() { on "$1"; mcp '{"jsonrpc":"2.0","id":"1","method":"resources/read","params":{"uri":"info://motd"}}' | jq -r '.result.contents[0].text // empty'; }
wait_for 20 bash -c "[[ \"\$(source '$(dirname "$0")/pg-fixtures/pg_lib.bash'; server_port=${rport[2]}; mcp '{\"jsonrpc\":\"2.0\",\"id\":\"1\",\"method\":\"resources/read\",\"params\":{\"uri\":\"info://motd\"}}' | jq -r '.result.contents[0].text // empty')\" == 'hello from A' ]]" \
  && pass "resource/readable-through-c" || fail "resource/readable-through-c" "$(read_motd 2)"
on 2
admin POST /add-prompt -H 'Content-Type: application/json' -d '{"name":"greet","messages":[{"role":"user","text":"hi"}]}'
expect_eq "prompt/add-through-c" "$code" "200"
expect_eq "prompt/stored-in-table" "$(psql_q 'select name from wasimancer_prompts')" "greet"

# --- a task started through A is read through B (tasks are kept in the database) ----------------
mcp26() {  # mcp26 REPLICA METHOD NAME PARAMS-JSON: one 2026-07-28 request with the tasks extension
  curl -s -m 30 "http://127.0.0.1:${rport[$1]}/mcp" -H "Authorization: Bearer $MCP_TOKEN" -H 'Content-Type: application/json' \
    -H 'Accept: application/json' -H 'MCP-Protocol-Version: 2026-07-28' -H "Mcp-Method: $2" -H "Mcp-Name: $3" \
    -d "$(jq -cn --arg m "$2" --argjson p "$4" '{jsonrpc:"2.0",id:1,method:$m,params:($p + {_meta:{"io.modelcontextprotocol/protocolVersion":"2026-07-28",
        "io.modelcontextprotocol/clientCapabilities":{extensions:{"io.modelcontextprotocol/tasks":{}}}}})}')"
}
on 0
upload POST "$version_a" "$(jq -cn '{name:"tasky",version:"1.0.0",description:"t",functions:[{displayName:"whoami_task",function:"whoami",arguments:[],description:"a task",taskSupport:"optional"}]}')" tasky.wasm
expect_eq "task/publish-task-tool" "$code" "200"
wait_for 20 bash -c "curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer $ADMIN_TOKEN' http://127.0.0.1:${rport[1]}/plugins/tasky | grep -q 200"
started="$(mcp26 0 tools/call whoami_task '{"name":"whoami_task","arguments":{}}')"
task_id="$(jq -r '.result.taskId // empty' <<<"$started")"
if [[ -n "$task_id" ]]; then pass "task/started-through-a"; else fail "task/started-through-a" "$started"; fi
expect_eq "task/stored-in-table" "$(psql_q "select count(*) from wasimancer_tasks where id = '$task_id'")" "1"
task_done() { [[ "$(mcp26 1 tasks/get "$task_id" "$(jq -cn --arg t "$task_id" '{taskId:$t}')" | jq -r '.result.status')" == completed ]]; }
wait_for 30 task_done && pass "task/completed-read-through-b" || fail "task/completed-read-through-b" "$(mcp26 1 tasks/get "$task_id" "$(jq -cn --arg t "$task_id" '{taskId:$t}')")"
got="$(mcp26 2 tasks/get "$task_id" "$(jq -cn --arg t "$task_id" '{taskId:$t}')" | jq -c '.result.result.content[0].text // .result.result')"
[[ "$got" == *version* ]] && pass "task/result-read-through-c" || fail "task/result-read-through-c" "$got"
unknown="$(mcp26 1 tasks/get nosuchtask '{"taskId":"nosuchtask"}')"
jq -e '.error' <<<"$unknown" >/dev/null && pass "task/unknown-id-is-an-error" || fail "task/unknown-id-is-an-error" "$unknown"

# --- database outage: calls keep working, admin writes 503, reconnect and catch up -------------
pg_stop
on 1
expect_eq "outage/calls-keep-working" "$(call_tool whoami)" '{"version":"a"}'
on 0
who2_data="$(jq -cn '{name:"who2",version:"1.0.0",description:"b",functions:[{displayName:"whoami2",function:"whoami",arguments:[],description:"who"}]}')"
upload POST "$version_b" "$who2_data" who2.wasm
expect_eq "outage/admin-write-503" "$code" "503"
jq -r .error <<<"$body" | grep -qi 'database' && pass "outage/503-says-database" || fail "outage/503-says-database" "$body"
admin POST /add-resource -H 'Content-Type: application/json' -d '{"name":"down","uri":"info://down","contents":[{"text":"x"}]}'
expect_eq "outage/resource-write-503" "$code" "503"
on 2
admin GET /plugins
expect_eq "outage/list-still-200" "$code" "200"
not_ready() { [[ "$(curl -s -o "$w/readyz" -w '%{http_code}' "http://127.0.0.1:${rport[2]}/readyz")" == 503 ]] && grep -q database "$w/readyz"; }
wait_for 30 not_ready && pass "outage/readyz-503-names-database" || fail "outage/readyz-503-names-database" "$(cat "$w/readyz")"
expect_eq "outage/metrics-database-down" "$(metric 2 wasimancer_database_up)" "0"
pg_start || fail "outage/pg-restart" "$(tail -5 "$w/pg/server.log")"
on 0
publish_b() { upload POST "$version_b" "$who2_data" who2.wasm; [[ "$code" == 200 ]]; }
wait_for 30 publish_b && pass "outage/write-after-restart" || fail "outage/write-after-restart" "$code $body"
for i in 1 2; do
  wait_for 30 bash -c "[[ \"\$(source '$(dirname "$0")/pg-fixtures/pg_lib.bash'; server_port=${rport[$i]}; call_tool whoami2)\" == '{\"version\":\"b\"}' ]]" \
    && pass "outage/replica-$i-catches-up" || { on "$i"; fail "outage/replica-$i-catches-up" "$(call_tool whoami2)"; }
done
ready() { [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${rport[2]}/readyz")" == 200 ]]; }
wait_for 30 ready && pass "outage/readyz-200-after-reconnect" || fail "outage/readyz-200-after-reconnect" "$(curl -s "http://127.0.0.1:${rport[2]}/readyz")"
expect_eq "outage/nothing-lost" "$(psql_q 'select string_agg(name, $$,$$ order by name) from wasimancer_plugins')" "tasky,who,who2"

# --- kill -9 of a replica: the others serve, the killed one restarts and catches up --------------
kill -KILL "${rpid[2]}"; wait "${rpid[2]}" 2>/dev/null; rpid[2]=""
on 0
admin DELETE /remove-plugin/who
expect_eq "restart/remove-while-c-is-down" "$code" "200"
on 1
wait_for 20 bash -c "[[ \"\$(source '$(dirname "$0")/pg-fixtures/pg_lib.bash'; server_port=${rport[1]}; tools_list | tr '\n' ' ')\" == 'whoami2 whoami_task ' ]]" \
  && pass "restart/b-follows" || fail "restart/b-follows" "$(tools_list | tr '\n' ' ')"
start_replica 2 || fail "restart/c-restarts" "did not start"
on 2
expect_eq "restart/c-caught-up-tools" "$(tools_list | tr '\n' ' ')" "whoami2 whoami_task "
expect_eq "restart/c-caught-up-revision" "$(served_revision 2)" "$(psql_q 'select revision from wasimancer_state')"
expect_eq "restart/c-has-resource" "$(read_motd 2)" "hello from A"

# --- the database URL's password never reaches a log ------------------------------------------
if grep -q secret-pw "$w"/r*.log*; then fail "security/no-password-in-logs" "found"; else pass "security/no-password-in-logs"; fi
(cd "$w" && env WASIMANCER_DATABASE_URL="postgresql://u:secret-pw@127.0.0.1:1/x" timeout 20 "$bin" serve --bind 127.0.0.1 --port 0 >"$w/bad.log" 2>&1)
rc=$?
[[ $rc != 0 ]] && grep -q 'cannot start' "$w/bad.log" && ! grep -q 'secret-pw' "$w/bad.log" \
  && pass "security/unreachable-database-refuses-start-without-leaking" || fail "security/unreachable-database-refuses-start-without-leaking" "rc $rc: $(cat "$w/bad.log")"

finish
