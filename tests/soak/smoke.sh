#!/usr/bin/env bash
# The 1-minute soak run inside `make test` (scripts/run-tests.sh); `make soak` runs 10 minutes.
exec bash "$(dirname "$0")/soak.sh" "${SOAK_SMOKE_SECONDS:-60}"
