#!/usr/bin/env bash
# `make run`: serves a persistent state folder on http://localhost:3001 (HTTP_PORT overrides).
#
#   scripts/run-examples.sh [--reset] [--no-build] [BUILD [STATE]]
#
# 1. Checks that the port is free, before anything else: a second `make run` while one is
#    serving stops here, having installed, built and written nothing.
# 2. Installs the Debian packages the build needs (scripts/install-deps.sh --serve: no npm).
# 3. Builds only what serving needs: the wasimancer binary and the example plugins.
# 4. STATE (default ./state) is created from examples/ the first time and never overwritten:
#    what you publish through the admin API stays there across runs. --reset (make run-reset)
#    deletes it first and starts over from the examples.
# 5. Serves it: `wasimancer serve --home STATE` on 127.0.0.1 (WASIMANCER_BIND overrides), uploads
#    in STATE/plugins/bucket, tokens wasimancer-rocks (WASIMANCER_AUTHENTICATION_TOKEN and
#    WASIMANCER_ADMIN_TOKEN override), as in the Plugin Management API guide.
#
# --no-build skips steps 2 and 3 (the test suite runs the script this way, on the build it tests).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
reset=0 build_step=1
args=()
for a in "$@"; do
  case "$a" in
    --reset) reset=1 ;;
    --no-build) build_step=0 ;;
    -*) echo "run-examples.sh: unknown option $a" >&2; exit 2 ;;
    *) args+=("$a") ;;
  esac
done
build="${args[0]:-build}"
state="${args[1]:-state}"
[[ "$build" == /* ]] || build="$root/$build"
[[ "$state" == /* ]] || state="$root/$state"
port="${HTTP_PORT:-${PORT:-3001}}"
bind="${WASIMANCER_BIND:-127.0.0.1}"
token="${WASIMANCER_AUTHENTICATION_TOKEN:-wasimancer-rocks}"
admin="${WASIMANCER_ADMIN_TOKEN:-wasimancer-rocks}"
steps=4; ((build_step)) || steps=2
n=0
step() { n=$((n + 1)); printf 'make run [%d/%d] %s\n' "$n" "$steps" "$*"; }

# --- 1. the port --------------------------------------------------------------------------------
# listening_on PORT: prints the listeners on PORT (any address), empty if none.
listening_on() {
  if command -v ss >/dev/null 2>&1; then
    ss -Hltnp "sport = :$1" 2>/dev/null
  elif (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
    echo "something accepts connections on 127.0.0.1:$1"
  fi
}
check_port() {
  local who
  who="$(listening_on "$port")"
  [[ -z "$who" ]] && return 0
  # users:(("wasimancer",pid=12,fd=6),...): the server, if one of them is (children may share the socket).
  local procs proc
  procs="$(grep -o '("[^"]*",pid=[0-9]*' <<<"$who" | sed 's/("\([^"]*\)",pid=\([0-9]*\)/\1, pid \2/')"
  proc="$(grep -m1 '^wasimancer,' <<<"$procs" || head -1 <<<"$procs")"
  {
    echo "make run: port $port is already in use${proc:+ (by $proc)}; nothing was built or changed."
    [[ "$proc" == *wasimancer* ]] && echo "  Another \`make run\` (or wasimancer) is serving it: use that one, or stop it first."
    echo "  To run a second server, choose another port: make run HTTP_PORT=$((port + 1))"
  } >&2
  exit 1
}
check_port
step "port $port is free"

# --- 2, 3. dependencies and the build -------------------------------------------------------------
if ((build_step)); then
  step "dependencies: Debian packages (scripts/install-deps.sh --serve)"
  "$root/scripts/install-deps.sh" --serve
  step "building the server and the example plugins into ${build#"$root"/} (first build: 5 to 10 minutes on 2 cores)"
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" >/dev/null
  # The compiler's progress, without the lines that say nothing (cmake's dependency scans).
  if ! MAKEFLAGS="${MAKEFLAGS:-} --no-print-directory" cmake --build "$build" -j "${JOBS:-$(nproc 2>/dev/null || echo 2)}" \
      --target wasimancer example_plugins |
      { grep --line-buffered -v -e '^Consolidate compiler generated dependencies' -e '^\[ *[0-9]*%\] Built target' || true; }; then
    echo "make run: the build failed (see above)" >&2
    exit 1
  fi
  check_port  # the build took a while: is the port still free?
fi
bin="$build/wasimancer"

# --- 4. the state folder --------------------------------------------------------------------------
# A state folder has the marker .created (or, made by hand, plugins/plugins.yml). Anything else
# that exists at STATE is not ours to delete or fill.
is_state() { [[ -e "$1/.created" || -e "$1/plugins/plugins.yml" ]]; }
if [[ -e "$state" ]] && ! is_state "$state" && [[ -n "$(ls -A "$state" 2>/dev/null)" ]]; then
  echo "make run: $state exists and is not a wasimancer state folder; choose another: make run STATE=DIR" >&2
  exit 1
fi
if ((reset)) && is_state "$state"; then
  rm -rf "$state"
  reset_note=" (deleted and created again: make run-reset)"
fi
if ! is_state "$state"; then
  # Made aside and renamed into place: an interrupted first run leaves no half-made state.
  tmp="$(mktemp -d "$(dirname "$state")/.state-new.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/plugins/bucket" "$tmp/resources" "$tmp/prompts"
  cp "$build"/examples/plugins/*.wasm "$tmp/plugins/"
  cp "$root/examples/plugins/plugins.yml" "$tmp/plugins/plugins.yml"
  cp "$root/examples/resources/resources.yml" "$tmp/resources/resources.yml"
  cp "$root/examples/prompts/prompts.yml" "$tmp/prompts/prompts.yml"
  date -u +%FT%TZ >"$tmp/.created"
  [[ -d "$state" ]] && rmdir "$state"  # empty (checked above)
  mv "$tmp" "$state"
  trap - EXIT
  step "state folder ${state#"$root"/}: created from examples/${reset_note:-}"
else
  step "state folder ${state#"$root"/}: kept from the last run (make run-reset starts over)"
fi

# --- 5. serve ---------------------------------------------------------------------------------------
rel="${state#"$root"/}"
host="localhost"; [[ "$bind" != 127.* && "$bind" != localhost ]] && host="$bind"
cat <<MSG

wasimancer serves $rel/ on http://$host:$port/mcp (Ctrl-C stops it; the log follows)
  plugins:   $rel/plugins/plugins.yml (uploads are stored in $rel/plugins/bucket)
  resources: $rel/resources/resources.yml   prompts: $rel/prompts/prompts.yml
  tokens:    MCP "Bearer $token", admin API "Bearer $admin"
  What you publish stays in $rel/ across runs; \`make run-reset\` starts over from examples/.

Try it (README: "Connect a client" for Claude Desktop, Cursor, VS Code, Inspector, mcp-remote):
  curl http://localhost:$port/mcp -H "Authorization: Bearer $token" \\
    -H "Content-Type: application/json" -H "Accept: application/json" \\
    -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"throwDice","arguments":{"numFaces":6,"numDice":3}}}'
  ${bin#"$root"/} plugin list --url http://localhost:$port --token $admin

MSG
exec "$bin" serve --home "$state" --plugins-path plugins --plugins-file plugins.yml --upload-path plugins/bucket \
  --resources-path resources --resources-file resources.yml --prompts-path prompts --prompts-file prompts.yml \
  --bind "$bind" --port "$port" \
  --auth-token "$token" --admin-token "$admin"
