#!/usr/bin/env bash
# `make bench`, issue 10: several replicas on one PostgreSQL registry, measured on loopback.
#   - publish (update-plugin through replica A) to callable with the new version on every
#     replica: p50 and p99 of N updates (goal: p99 < 200 ms);
#   - tools/call per second through nginx in front of 3 replicas, beside 1 replica called
#     directly, with wrk (same run, same machine: compare the two figures, not absolutes).
# Appends a table to bench/RESULTS.md. usage: bench/cluster.sh ROOT BUILD [UPDATES]
set -uo pipefail
root="$1"; export WASIMANCER_BUILD="$2"; updates="${3:-40}"
source "$root/tests/integration/pg-fixtures/pg_lib.bash"
if ! pg_available || ! nginx_available || ! command -v wrk >/dev/null; then
  echo "bench/cluster.sh: skipped (needs postgresql, nginx and wrk: scripts/install-deps.sh --bench)"; exit 0
fi
w="$(mktemp -d /tmp/wasimancer-bench-cluster.XXXXXX)"
trap 'nginx_stop; stop_all; rm -rf "$w"' EXIT
pg_init "$w/pg" && pg_start || { echo "PostgreSQL did not start" >&2; exit 1; }
for i in 0 1 2; do start_replica "$i" || exit 1; done
nginx_start "$w/nginx" "$(free_port)" "${rport[0]}" "${rport[1]}" "${rport[2]}" || exit 1
va="$test_plugins/version_a.wasm"; vb="$test_plugins/version_b.wasm"
on 0; upload POST "$va" "$(plugin_data who whoami)" who.wasm
[[ "$code" == 200 ]] || { echo "publish failed: $body" >&2; exit 1; }

# Publish to callable everywhere: a python loop (one process, keep-alive) polls every replica.
python3 - "$updates" "$ADMIN_TOKEN" "$MCP_TOKEN" "$va" "$vb" "${rport[@]}" >"$w/publish.txt" <<'PY'
import http.client, json, sys, time, uuid
n, admin, mcp, va, vb = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
ports = [int(p) for p in sys.argv[6:]]
files = {"a": open(va, "rb").read(), "b": open(vb, "rb").read()}
data = json.dumps({"name": "who", "version": "1", "functions": [{"function": "whoami", "arguments": []}]})
conns = [http.client.HTTPConnection("127.0.0.1", p, timeout=30) for p in ports]
call = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "whoami", "arguments": {}}})
hdr = {"Authorization": "Bearer " + mcp, "Content-Type": "application/json", "Accept": "application/json"}
def who(c):
    c.request("POST", "/mcp", call, hdr); r = c.getresponse(); m = json.loads(r.read())
    return m["result"]["content"][0]["text"]
times = []
for i in range(n):
    v = "b" if i % 2 == 0 else "a"
    b = uuid.uuid4().hex
    body = (f"--{b}\r\nContent-Disposition: form-data; name=\"pluginData\"\r\n\r\n{data}\r\n"
            f"--{b}\r\nContent-Disposition: form-data; name=\"wasmFile\"; filename=\"who.wasm\"\r\n"
            "Content-Type: application/wasm\r\n\r\n").encode() + files[v] + f"\r\n--{b}--\r\n".encode()
    t0 = time.perf_counter()
    u = http.client.HTTPConnection("127.0.0.1", ports[0], timeout=60)
    u.request("PUT", "/update-plugin", body, {"Authorization": "Bearer " + admin, "Content-Type": "multipart/form-data; boundary=" + b})
    r = u.getresponse(); r.read(); u.close()
    if r.status != 200: print("update failed", r.status, file=sys.stderr); sys.exit(1)
    want = '{"version":"%s"}' % v
    pending = set(range(len(conns)))
    while pending:
        for k in list(pending):
            if who(conns[k]) == want: pending.discard(k)
        if pending: time.sleep(0.002)
    times.append((time.perf_counter() - t0) * 1000)
times.sort()
p = lambda q: times[min(len(times) - 1, int(q * len(times)))]
print("%.1f %.1f %d" % (p(0.5), p(0.99), len(times)))
PY
read -r p50 p99 count <"$w/publish.txt" || { echo "publish measurement failed" >&2; exit 1; }

cat >"$w/call.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{}}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"
wrk.headers["Authorization"] = "Bearer $MCP_TOKEN"
LUA
rate() { wrk -t2 -c16 -d10s -s "$w/call.lua" "$1" 2>/dev/null | awk '/Requests\/sec/ {print int($2)}'; }
direct=$(rate "http://127.0.0.1:${rport[0]}/mcp")
via=$(rate "http://127.0.0.1:$nginx_port/mcp")
met=$(awk -v p="$p99" 'BEGIN { print (p < 200) ? "met" : "NOT met" }')
{
  echo
  echo "## $(date -u '+%Y-%m-%d %H:%M UTC'), $(hostname) ($(nproc) cores): 3 replicas on PostgreSQL (issue 10)"
  echo
  echo "| measurement | figure | target | |"
  echo "|---|---|---|---|"
  echo "| update through one replica to the new version callable on all 3 ($count updates) | p50 $p50 ms, p99 $p99 ms | p99 < 200 ms | $met |"
  echo "| tools/call, 16 connections, 1 replica directly | $direct calls/s | (reference) | |"
  echo "| tools/call, 16 connections, nginx in front of 3 replicas (same machine) | $via calls/s | (reported) | |"
} | tee -a "$root/bench/RESULTS.md"
