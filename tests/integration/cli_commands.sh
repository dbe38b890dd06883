#!/usr/bin/env bash
# The command line's own behaviour (src/cli): --version; `call` on a missing export names the
# module's exports; `call --native` shows the progress of a slow build on a terminal and nothing
# in a pipe; `serve` warns when NO_AUTHENTICATION meets a bind beyond loopback; SIGINT and SIGTERM
# reach the thread that waits for them however many threads run (an orderly exit 0).
# In a private network namespace when available (unshare -rn), so that binding all interfaces
# exposes nothing.
set -uo pipefail
if [[ -z "${WM_NETNS:-}" ]] && unshare -rn true 2>/dev/null; then
  exec unshare -rn env WM_NETNS=1 bash "$0" "$@"
fi
source "$(dirname "$0")/admin-fixtures/admin_lib.bash"
check_tools
[[ -n "${WM_NETNS:-}" ]] && PATH="$PATH:/usr/sbin:/sbin" ip link set lo up 2>/dev/null

w="$(mktemp -d /tmp/wasimancer-cli.XXXXXX)"
trap 'stop_server; rm -rf "$w"' EXIT
calc="$build/examples/plugins/calc.wasm"

# --- --version ------------------------------------------------------------------------------------
version="$(sed -n 's/^project(wasimancer VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")"
out="$("$bin" --version 2>&1)"; rc=$?
expect_eq "cli/version/exit-0" "$rc" 0
expect_eq "cli/version/text" "$out" "wasimancer $version"
if "$bin" --help | grep -q -- '--version'; then pass "cli/version/in-help"; else fail "cli/version/in-help" "$("$bin" --help)"; fi

# --- call: a missing export ---------------------------------------------------------------------------
"$bin" call "$calc" subtractNumbers --input '{"a":1,"b":2}' >"$w/out" 2>"$w/err"; rc=$?
expect_eq "cli/call-missing-export/exit-1" "$rc" 1
if grep -q '^error (not found): .*"subtractNumbers".*the module exports: addNumbers, multiplyNumbers$' "$w/err"; then
  pass "cli/call-missing-export/lists-the-exports"
else fail "cli/call-missing-export/lists-the-exports" "stderr [$(cat "$w/err")]"; fi
expect_eq "cli/call-existing-export/still-works" "$("$bin" call "$calc" addNumbers --input '{"a":40,"b":2}')" 42

# --- call --native: progress on a terminal ------------------------------------------------------------
# A compiler that takes at least 2 s (CC: a script that sleeps, then runs the real one), so the
# build is slow whatever the machine; an empty cache so that it really builds.
real_cc="$(command -v clang || command -v cc)"
printf '#!/bin/sh\nsleep 2\nexec "%s" "$@"\n' "$real_cc" >"$w/slow-cc"; chmod +x "$w/slow-cc"
native_call() {  # native_call CACHE TTY(0|1): stdout in $w/nout, stderr in $w/nerr, exit in $rc
  CC="$w/slow-cc" WASIMANCER_NATIVE_CACHE="$1" python3 - "$2" "$bin" "$calc" "$w/nout" "$w/nerr" <<'EOF'
import os, pty, subprocess, sys
use_tty, binary, wasm, out_path, err_path = sys.argv[1] == "1", *sys.argv[2:]
argv = [binary, "call", "--native", wasm, "addNumbers", "--input", '{"a":2,"b":3}']
if use_tty:
    master, slave = pty.openpty()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    err = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        err += chunk
    out = p.stdout.read()
    rc = p.wait()
else:
    p = subprocess.run(argv, capture_output=True)
    out, err, rc = p.stdout, p.stderr, p.returncode
open(out_path, "wb").write(out)
open(err_path, "wb").write(err)
sys.exit(rc)
EOF
  rc=$?
}
native_call "$w/cache-tty" 1
expect_eq "cli/native-progress/tty/exit-0" "$rc" 0
expect_eq "cli/native-progress/tty/output" "$(cat "$w/nout")" 5
if grep -q "building native code for calc.wasm (once: cached in $w/cache-tty)" "$w/nerr" && grep -q "done in" "$w/nerr"; then pass "cli/native-progress/tty/shown"
else fail "cli/native-progress/tty/shown" "stderr [$(tr '\r' '|' <"$w/nerr")]"; fi
native_call "$w/cache-pipe" 0
expect_eq "cli/native-progress/pipe/exit-0" "$rc" 0
expect_eq "cli/native-progress/pipe/silent" "$(cat "$w/nerr")" ""
native_call "$w/cache-tty" 1  # cached now: no build, nothing to show
expect_eq "cli/native-progress/cached/silent" "$(tr -d '\r' <"$w/nerr")" ""

# --- serve: NO_AUTHENTICATION beyond loopback --------------------------------------------------------
mkdir -p "$w/srv"; cd "$w/srv" || exit 1
unset WASIMANCER_AUTHENTICATION_TOKEN
"$bin" serve --bind 0.0.0.0 --port 0 --auth-token NO_AUTHENTICATION --admin-token x >"$w/open.log" 2>&1 &
server_pid=$!
wait_listening "$w/open.log" "$server_pid" || fail "cli/no-auth-all-interfaces/start" "did not start"
if grep -E ' warn(ing)? +NO_AUTHENTICATION with --bind 0\.0\.0\.0' "$w/open.log" | grep -q "127.0.0.1"; then
  pass "cli/no-auth-all-interfaces/warns"
else fail "cli/no-auth-all-interfaces/warns" "$(cat "$w/open.log")"; fi
stop_server
start_server "$w/local.log" -- --auth-token NO_AUTHENTICATION --admin-token x || fail "cli/no-auth-loopback/start" "did not start"
if grep -q "NO_AUTHENTICATION with" "$w/local.log"; then fail "cli/no-auth-loopback/no-warning" "$(cat "$w/local.log")"
else pass "cli/no-auth-loopback/no-warning"; fi

# --- signals: SIGINT and SIGTERM reach the waiting thread, with workers and network threads running -----
for sig in TERM INT; do
  stop_server
  start_server "$w/sig-$sig.log" -- --workers 8 --network-threads 4 --auth-token t --admin-token x || { fail "cli/sig$sig/start" "did not start"; continue; }
  pid="$server_pid"; server_pid=""
  kill -"$sig" "$pid"
  if wait_dead "$pid" 60; then
    expect_eq "cli/sig$sig/exit-0" "$dead_status" 0
    if grep -q "signal $( [[ $sig == TERM ]] && echo 15 || echo 2 ) received: shutting down" "$w/sig-$sig.log"; then pass "cli/sig$sig/orderly-shutdown"
    else fail "cli/sig$sig/orderly-shutdown" "$(tail -3 "$w/sig-$sig.log")"; fi
  else
    fail "cli/sig$sig/exit" "still running 60 s after SIG$sig"; kill -9 "$pid"; wait "$pid" 2>/dev/null
  fi
done
finish
