#!/usr/bin/env python3
"""Tool calls through one URL (nginx) from several threads with keep-alive connections, until at
least MIN calls were made and the file STOP exists. Prints a JSON summary: calls, failures (with
the first reasons), and how many answers each distinct output had. Loopback only.

usage: load.py URL TOKEN TOOL MIN STOP [THREADS]
"""
import http.client, json, os, sys, threading, time, urllib.parse

url, token, tool, min_calls, stop = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
threads = int(sys.argv[6]) if len(sys.argv) > 6 else 4
u = urllib.parse.urlparse(url)
assert u.hostname in ("127.0.0.1", "localhost"), "loopback only"
lock = threading.Lock()
stats = {"calls": 0, "failures": 0, "reasons": [], "outputs": {}}
body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": {}}})
headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json", "Accept": "application/json"}


def done():
    with lock:
        return stats["calls"] >= min_calls and os.path.exists(stop)


def worker():
    conn = None
    while not done():
        reason = None
        out = None
        try:
            if conn is None:
                conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
            conn.request("POST", u.path or "/mcp", body, headers)
            r = conn.getresponse()
            data = r.read()
            if r.status != 200:
                reason = "HTTP %d %s" % (r.status, data[:200])
            else:
                msg = json.loads(data)
                res = msg.get("result") or {}
                if "error" in msg or res.get("isError"):
                    reason = "error: %s" % json.dumps(msg)[:300]
                else:
                    out = res["content"][0]["text"]
        except Exception as e:  # a dropped connection is a failed call too
            reason = "exception: %r" % (e,)
            try:
                conn.close()
            except Exception:
                pass
            conn = None
        with lock:
            stats["calls"] += 1
            if reason:
                stats["failures"] += 1
                if len(stats["reasons"]) < 5:
                    stats["reasons"].append(reason)
            else:
                stats["outputs"][out] = stats["outputs"].get(out, 0) + 1


ts = [threading.Thread(target=worker) for _ in range(threads)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print(json.dumps(stats, sort_keys=True))
