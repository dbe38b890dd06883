# tests/integration/lib.sh: helpers for the shell integration suites (sourced).
# A suite prints one line per check, "PASS <name>" or "FAIL <name>: <why>", which
# scripts/run-tests.sh counts.

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${WASIMANCER_BUILD:-$root/build}"
bin="$build/wasimancer"

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; failures=$((${failures:-0} + 1)); }

# start_server LOG [env...] -- [args...]: starts wasimancer on 127.0.0.1 with a free port; sets
# server_pid and server_port. Fails if it is not listening within 20 s.
start_server() {
  local log="$1"; shift
  local envs=() args=()
  while (($#)) && [[ "$1" != "--" ]]; do envs+=("$1"); shift; done
  [[ "${1:-}" == "--" ]] && shift
  args=("$@")
  env "${envs[@]}" "$bin" serve --bind 127.0.0.1 --port 0 "${args[@]}" >"$log" 2>&1 &
  server_pid=$!
  server_port=""
  for _ in $(seq 1 200); do
    server_port=$(sed -n 's/.*listening on http:\/\/[^:]*:\([0-9]*\).*/\1/p' "$log" | head -1)
    [[ -n "$server_port" ]] && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "server did not start; its log:" >&2
  cat "$log" >&2
  return 1
}

stop_server() {
  if [[ -n "${server_pid:-}" ]]; then
    kill "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
    server_pid=""
  fi
}
