# tests/integration/pg-fixtures/pg_lib.bash: a throw-away PostgreSQL cluster and wasimancer replicas
# for the pg_*.sh suites (sourced, never run). The cluster lives in a temporary folder, listens
# on a unix socket there only (no TCP), and runs as an unprivileged user when the suite runs as
# root (initdb refuses root). Builds on admin-fixtures/admin_lib.bash.
source "$(dirname "${BASH_SOURCE[0]}")/../admin-fixtures/admin_lib.bash"
unset WASIMANCER_DATABASE_URL PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD

pg_bin="${WASIMANCER_PG_BIN:-/usr/lib/postgresql/15/bin}"

# pg_available: initdb and pg_ctl are installed (Debian's postgresql).
pg_available() { [[ -x "$pg_bin/initdb" && -x "$pg_bin/pg_ctl" && -x "$pg_bin/psql" ]]; }

# as_pg CMD...: runs CMD as the cluster's owner (postgres when we are root, else ourselves).
as_pg() {
  if [[ "$(id -u)" == 0 ]]; then runuser -u "${WASIMANCER_PG_USER:-postgres}" -- "$@"; else "$@"; fi
}

# pg_init DIR: a new cluster in DIR/data, its socket in DIR/sock; sets pg_dir, pg_sock, pg_url.
pg_init() {
  pg_dir="$1"
  mkdir -p "$pg_dir/sock"
  if [[ "$(id -u)" == 0 ]]; then
    chmod 711 "$(dirname "$pg_dir")"
    chown -R "${WASIMANCER_PG_USER:-postgres}" "$pg_dir"
  fi
  pg_sock="$pg_dir/sock"
  pg_url="postgresql://wasimancer@/postgres?host=$pg_sock"
  as_pg "$pg_bin/initdb" -D "$pg_dir/data" -A trust -U wasimancer --no-sync >"$pg_dir/initdb.log" 2>&1
}

# pg_start / pg_stop: the server on the socket only; fsync off (a test cluster).
pg_start() {
  as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -t 60 \
    -o "-k $pg_sock -c listen_addresses='' -c fsync=off -c max_connections=60" start >/dev/null
}
pg_stop() {
  [[ -n "${pg_dir:-}" && -f "$pg_dir/data/postmaster.pid" ]] || return 0
  as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -m fast -w -t 60 stop >/dev/null 2>&1
}

# psql_q SQL: one query, unaligned, tuples only.
psql_q() { "$pg_bin/psql" -X -q -A -t -h "$pg_sock" -U wasimancer -d postgres -c "$1" 2>&1; }

# start_replica I [env...]: replica I (0-based) on its own port, in its own folder, on the cluster.
# Sets rport[I], rpid[I]. Fails if it does not listen within 20 s.
declare -a rport rpid
start_replica() {
  local i="$1"; shift
  mkdir -p "$w/r$i"
  [[ -f "$w/r$i.log" ]] && mv "$w/r$i.log" "$w/r$i.log.$(date +%s%N)"  # a restart: keep the old log aside
  (cd "$w/r$i" && exec env WASIMANCER_DATABASE_URL="$pg_url" WASIMANCER_ADMIN_TOKEN="$ADMIN_TOKEN" \
    WASIMANCER_AUTHENTICATION_TOKEN="$MCP_TOKEN" "$@" "$bin" serve --bind 127.0.0.1 --port "${rport_want[$i]:-0}" >>"$w/r$i.log" 2>&1) &
  rpid[$i]=$!
  echo "${rpid[$i]}" >"$w/r$i.pid"
  local n
  for n in $(seq 1 200); do
    rport[$i]=$(sed -n 's/.*listening on http:\/\/[^:]*:\([0-9]*\).*/\1/p' "$w/r$i.log" 2>/dev/null | tail -n 1)
    [[ -n "${rport[$i]}" ]] && kill -0 "${rpid[$i]}" 2>/dev/null && return 0
    kill -0 "${rpid[$i]}" 2>/dev/null || break
    sleep 0.1
  done
  echo "replica $i did not start; its log:" >&2
  tail -30 "$w/r$i.log" >&2
  return 1
}

stop_replica() {
  local i="$1" pid="${rpid[$1]:-}"
  [[ -n "$pid" ]] || return 0
  rpid[$i]=""
  kill -TERM "$pid" 2>/dev/null
  wait_dead "$pid" 15 || { kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }
}

stop_all() {
  local i
  for i in "${!rpid[@]}"; do stop_replica "$i"; done
  pg_stop
}

# on I: point admin/mcp/call_tool (admin_lib.bash) at replica I.
on() { server_port="${rport[$1]}"; }

# wait_for SECONDS CMD...: runs CMD every 0.1 s until it succeeds; fails after SECONDS.
wait_for() {
  local limit="$1"; shift
  local end=$((SECONDS + limit))
  while ((SECONDS < end)); do
    "$@" && return 0
    sleep 0.1
  done
  "$@"
}

# served_revision I: the revision replica I reports in GET /plugins.
served_revision() { on "$1"; admin GET /plugins; jq -r '.revision // empty' <<<"$body"; }
