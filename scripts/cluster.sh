#!/usr/bin/env bash
# A local cluster to try several replicas on one PostgreSQL registry: a PostgreSQL cluster in a
# temporary folder (initdb + pg_ctl, unix socket only), N wasimancer replicas on loopback ports,
# and nginx in front of them, configured as README "Running several replicas" describes.
# Everything runs until Ctrl-C, then everything is stopped and the folder deleted.
#   scripts/cluster.sh [REPLICAS] [NGINX_PORT]     (defaults: 3, 8080)
# Needs a build (make build; WASIMANCER_BUILD names another build folder) and the Debian packages
# postgresql and nginx (scripts/install-deps.sh). Loopback only.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../tests/integration/pg-fixtures/pg_lib.bash"
replicas="${1:-3}"
port="${2:-8080}"
pg_available || { echo "cluster: PostgreSQL is not installed ($pg_bin); run scripts/install-deps.sh" >&2; exit 1; }
nginx_available || { echo "cluster: nginx is not installed ($nginx_bin); run scripts/install-deps.sh" >&2; exit 1; }
[[ -x "$bin" ]] || { echo "cluster: $bin is not built (make build)" >&2; exit 1; }
ADMIN_TOKEN="${WASIMANCER_ADMIN_TOKEN:-cluster-admin-token}"
MCP_TOKEN="${WASIMANCER_AUTHENTICATION_TOKEN:-cluster-mcp-token}"

w="$(mktemp -d /tmp/wasimancer-cluster.XXXXXX)"
trap 'echo; echo "cluster: stopping"; nginx_stop; stop_all; rm -rf "$w"' EXIT
trap 'exit 0' INT TERM
pg_init "$w/pg" && pg_start || { echo "cluster: PostgreSQL did not start: $(tail -5 "$w/pg/"*.log)" >&2; exit 1; }
ports=()
for ((i = 0; i < replicas; i++)); do
  start_replica "$i" WASIMANCER_STATE_KEY="cluster-state-key" || exit 1
  ports+=("${rport[$i]}")
done
nginx_start "$w/nginx" "$port" "${ports[@]}" || { echo "cluster: nginx did not start on 127.0.0.1:$port" >&2; exit 1; }
cat <<INFO
cluster: PostgreSQL   $pg_url
cluster: replicas     $(for ((i = 0; i < replicas; i++)); do printf 'r%d http://127.0.0.1:%s  ' "$i" "${rport[$i]}"; done)
cluster: nginx        http://127.0.0.1:$port/mcp   (MCP token: $MCP_TOKEN)
cluster: admin token  $ADMIN_TOKEN   (publish through any replica, or through nginx)
cluster: logs         $w/r*.log  $w/pg/server.log  $w/nginx/error.log
cluster: Ctrl-C stops everything.
INFO
while true; do sleep 3600; done
