#!/usr/bin/env bash
# Run the test suite against its own, isolated services:   scripts/test.sh [pytest args]
#
# Never touches a running Slipway (scripts/up.sh): the tests get their own data dir
# (${SLIPWAY_TEST_DATA_DIR:-/tmp/slipway-test}), Redis on a Unix socket in it (password, no persistence), a
# registry on 127.0.0.1:5090, a Docker Engine on a socket in that data dir, SLIPWAY_BIND
# 127.0.0.1:8090 for tests that start a server, and SQLite in that data dir unless
# SLIPWAY_TEST_DATABASE_URL is given. Tests marked both_databases also run on PostgreSQL: the
# machine's cluster (scripts/test_postgres.sh), or SLIPWAY_TEST_POSTGRES_URL if given. Every other SLIPWAY_* variable of the calling shell is dropped.
# A second test instance beside the first needs its own SLIPWAY_TEST_DATA_DIR and ports:
# SLIPWAY_TEST_REGISTRY_PORT, SLIPWAY_TEST_WEB_PORT (and SLIPWAY_TEST_PROXY_PORT, default web port + 100).
# The services are left running for fast re-runs; SLIPWAY_TEST_STOP=1 stops them afterwards.
# Tests run in SLIPWAY_TEST_WORKERS processes at once (default 2, pytest-xdist, a module per
# process; tests/conftest.py says what that asks of a test); 1 runs them all in this process.
# Exits with pytest's exit code (5, "no tests collected", counts as a failure).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

stop_after="${SLIPWAY_TEST_STOP:-}"
data_dir="${SLIPWAY_TEST_DATA_DIR:-/tmp/slipway-test}"
database_url="${SLIPWAY_TEST_DATABASE_URL:-}"
registry_port="${SLIPWAY_TEST_REGISTRY_PORT:-5090}"
web_port="${SLIPWAY_TEST_WEB_PORT:-8090}"
proxy_port="${SLIPWAY_TEST_PROXY_PORT:-$((web_port + 100))}"
workers="${SLIPWAY_TEST_WORKERS:-2}"
heavy_builds="${SLIPWAY_TEST_HEAVY_BUILDS:-}"

# Forget the caller's Slipway configuration, then describe the test instance.
while IFS= read -r name; do unset "$name"; done < <(compgen -e | grep -E '^SLIPWAY_|^(DATABASE_URL|REDIS_URL|DOCKER_HOST|DOCKER_CONFIG)$' || true)
export SLIPWAY_DATA_DIR="$data_dir"
export SLIPWAY_REGISTRY="127.0.0.1:$registry_port"
export SLIPWAY_DOCKER_HOST="unix://$data_dir/run/docker.sock"
export DOCKER_HOST="$SLIPWAY_DOCKER_HOST"
export SLIPWAY_BIND="127.0.0.1:$web_port"
export SLIPWAY_PUBLIC_URL="http://127.0.0.1:$web_port"
# The registry login made by scripts/base_image.sh, kept out of ~/.docker.
export DOCKER_CONFIG="$data_dir/docker-config"
export SLIPWAY_REDIS_APPENDONLY=no
# The test instance's own Caddy: apps on proxy_port, HTTPS on the next port, its router on
# proxy_port - 6100 + 1 (8190 -> 2091), its admin API on the default socket in the data dir (never a
# port: tests/test_proxy_admin.py). Tests that go through it ask for it (tests/support/proxy.py);
# every other test reaches apps at their own ports, as with SLIPWAY_PROXY=none.
export SLIPWAY_PROXY=caddy
export SLIPWAY_PROXY_HTTP="127.0.0.1:$proxy_port"
export SLIPWAY_PROXY_HTTPS="127.0.0.1:$((proxy_port + 1))"
export SLIPWAY_PROXY_ROUTER="127.0.0.1:$((proxy_port - 6100 + 1))"
if [ -n "$database_url" ]; then export DATABASE_URL="$database_url"; fi

scripts/install.sh --test
.venv/bin/slipway init >/dev/null
scripts/services.sh start
scripts/base_image.sh
scripts/test_postgres.sh
export SLIPWAY_PROXY=none
# SLIPWAY_TEST_HEAVY_BUILDS=1: also the build-plan fixture builds that download from a package
# registry (tests/builder/test_plan_builds.py; the offline ones run every time).
if [ -n "$heavy_builds" ]; then export SLIPWAY_TEST_HEAVY_BUILDS="$heavy_builds"; fi
export SLIPWAY_TEST_POSTGRES_URL="${SLIPWAY_TEST_POSTGRES_URL:-postgresql+psycopg://slipway_test:slipway_test@127.0.0.1:5432/slipway_test}"

parallel=()
if [ "$workers" -gt 1 ]; then parallel=(-n "$workers" --dist loadfile); fi
rc=0
.venv/bin/pytest "${parallel[@]}" "$@" || rc=$?
if [ "$rc" = 5 ]; then echo "test: pytest collected no tests; that is a failure" >&2; fi

if [ "$stop_after" = 1 ]; then scripts/services.sh stop; fi
exit "$rc"
