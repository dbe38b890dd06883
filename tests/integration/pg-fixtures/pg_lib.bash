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
  (cd "$w/r$i" && exec env WASIMANCER_DATABASE_URL="$pg_url" WASIMANCER_ADMIN_TOKEN="$ADMIN_TOKEN" WASIMANCER_REPLICA_NAME="r$i" \
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

# --- nginx in front of the replicas ---------------------------------------------------------------
nginx_bin="${WASIMANCER_NGINX_BIN:-/usr/sbin/nginx}"
nginx_available() { [[ -x "$nginx_bin" ]]; }

# nginx_conf PORT REPLICA-PORT...: the configuration README "Running several replicas" shows.
# Replica I runs with WASIMANCER_REPLICA_NAME=rI, so its session ids start with "rI.": a request
# carrying one (Mcp-Session-Id, or the legacy ?sessionId=) goes to that replica (the others are
# its backups: after a failover the session is unknown there, a 404, and the client starts a new
# one). Everything else (initialize, stateless and 2026-07-28 requests) is spread over all of
# them; a replica that refuses connections is skipped and the request retried on another
# (tools/call is a POST: non_idempotent allows that).
nginx_conf() {
  local port="$1"; shift
  local all="" routes="" per="" p i=0 j
  for p in "$@"; do all+="    server 127.0.0.1:$p max_fails=1 fail_timeout=2s;"$'\n'; done
  for p in "$@"; do
    per+="  upstream replica_r$i {"$'\n'"    server 127.0.0.1:$p max_fails=1 fail_timeout=2s;"$'\n'
    j=0
    for q in "$@"; do ((j != i)) && per+="    server 127.0.0.1:$q backup;"$'\n'; j=$((j + 1)); done
    per+="  }"$'\n'
    routes+="    r$i replica_r$i;"$'\n'
    i=$((i + 1))
  done
  cat <<CONF
worker_processes 1;
pid nginx.pid;
error_log error.log warn;
events { worker_connections 512; }
http {
  access_log off;
  client_body_temp_path tmp/body; proxy_temp_path tmp/proxy; fastcgi_temp_path tmp/fastcgi;
  uwsgi_temp_path tmp/uwsgi; scgi_temp_path tmp/scgi;
  client_max_body_size 20m;
  # The replica a session belongs to: the name before the first '.' of its id.
  map \$http_mcp_session_id \$route_header { "~^(?<r1>[A-Za-z0-9_-]+)\." \$r1; default ""; }
  map \$arg_sessionId \$route_query { "~^(?<r2>[A-Za-z0-9_-]+)\." \$r2; default ""; }
  map "\$route_header\$route_query" \$backend {
$routes    default all_replicas;
  }
  upstream all_replicas {
$all    keepalive 32;
  }
$per
  server {
    listen 127.0.0.1:$port;
    location / {
      proxy_pass http://\$backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$http_host;
      proxy_buffering off;
      proxy_read_timeout 1h;
      proxy_next_upstream error timeout http_502 http_503 non_idempotent;
      proxy_next_upstream_tries 3;
    }
  }
}
CONF
}

# nginx_start DIR PORT REPLICA-PORT...: nginx (in the foreground of a background job, so the
# trap can stop it) with its files in DIR. Sets nginx_pid, nginx_port.
nginx_start() {
  local dir="$1" port="$2"; shift 2
  mkdir -p "$dir/tmp"
  chmod 755 "$dir" "$dir/tmp"
  nginx_conf "$port" "$@" >"$dir/nginx.conf"
  "$nginx_bin" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" -g 'daemon off;' >>"$dir/stdout.log" 2>&1 &
  nginx_pid=$!
  nginx_port="$port"
  local n
  for n in $(seq 1 100); do
    curl -s -o /dev/null "http://127.0.0.1:$port/" && return 0
    kill -0 "$nginx_pid" 2>/dev/null || break
    sleep 0.1
  done
  cat "$dir/error.log" >&2
  return 1
}

nginx_stop() {
  [[ -n "${nginx_pid:-}" ]] || return 0
  kill -QUIT "$nginx_pid" 2>/dev/null
  wait_dead "$nginx_pid" 10 || kill -KILL "$nginx_pid" 2>/dev/null
  nginx_pid=""
}

# free_port: a loopback port nothing listens on now.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
