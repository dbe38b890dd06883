# tests/integration/lib.bash: helpers for the shell integration suites (sourced; the runner only
# runs *.sh). A suite prints one line per check, "PASS <name>" or "FAIL <name>: <why>", which
# scripts/run-tests.sh counts. Servers are started on 127.0.0.1 only; one at a time is tracked in
# server_pid / server_port.

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${WASIMANCER_BUILD:-$root/build}"
bin="$build/wasimancer"

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; failures=$((${failures:-0} + 1)); }

# start_server LOG [env...] -- [args...]: starts `wasimancer serve --bind 127.0.0.1 --port 0 ARGS`
# with ENV (VAR=value words) and output in LOG; sets server_pid and server_port. Fails (printing
# the log) if it does not listen within 60 s (a failure bound only: it returns as soon as it listens).
start_server() {
  local log="$1"; shift
  local envs=()
  while (($#)) && [[ "$1" != "--" ]]; do envs+=("$1"); shift; done
  [[ "${1:-}" == "--" ]] && shift
  : >"$log"
  env "${envs[@]}" "$bin" serve --bind 127.0.0.1 --port 0 "$@" >"$log" 2>&1 &
  server_pid=$!
  wait_listening "$log" "$server_pid"
}

# wait_listening LOG PID: waits (60 s at most) for the server PID to log "listening on
# http://HOST:PORT" in LOG; sets server_port. Fails, printing the log, if it exits or never does.
wait_listening() {
  local log="$1" pid="$2"
  server_port=""
  for _ in $(seq 1 600); do
    server_port=$(sed -n 's/.*listening on http:\/\/[^:]*:\([0-9]*\).*/\1/p' "$log" 2>/dev/null | head -1)
    [[ -n "$server_port" ]] && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "server did not start; its log:" >&2
  cat "$log" >&2
  return 1
}

# wait_dead PID SECONDS: waits for PID (a child of this shell) to exit; sets $dead_status (its
# wait status) or returns 1 if it is still running after SECONDS.
wait_dead() {
  local pid="$1" limit="${2:-10}" i
  for ((i = 0; i < limit * 20; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid" 2>/dev/null; dead_status=$?
      return 0
    fi
    sleep 0.05
  done
  return 1
}

# stop_server: SIGTERM the server (server_pid) and wait for it. If it is still there after 10 s,
# freeze it and kill it with what it started (its native-tier compilers run in process groups of
# their own). Clears server_pid; nothing to do when it is empty.
stop_server() {
  local pid="${server_pid:-}" kid
  [[ -n "$pid" ]] || return 0
  server_pid=""
  kill -TERM "$pid" 2>/dev/null
  wait_dead "$pid" 10 && return 0
  echo "note: the server (pid $pid) did not exit within 10 s of SIGTERM; killing it" >&2
  kill -STOP "$pid" 2>/dev/null
  for kid in $(pgrep -P "$pid"); do kill -KILL -- "-$kid" 2>/dev/null; kill -KILL "$kid" 2>/dev/null; done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
}

# finish: the suite's exit status (1 if any check failed).
finish() { exit $(( ${failures:-0} > 0 ? 1 : 0 )); }
