#!/usr/bin/env bash
# tests/soak/soak.sh [SECONDS]: the soak run (tests/soak/soak.mjs) against $WASIMANCER_BUILD
# (default build/). SOAK_SECONDS (default 600) or the argument sets its length.
root="$(cd "$(dirname "$0")/../.." && pwd)"
export WASIMANCER_BUILD="${WASIMANCER_BUILD:-$root/build}"
[[ -n "${1:-}" ]] && export SOAK_SECONDS="$1"
exec node "$root/tests/soak/soak.mjs"
