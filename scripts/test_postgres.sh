#!/usr/bin/env bash
# Make sure the tests' PostgreSQL database exists: start the machine's cluster (Debian's
# postgresql package) and create the role and database slipway_test, once.
# Skipped when SLIPWAY_TEST_POSTGRES_URL points at a database of the caller's.
set -euo pipefail

[ -n "${SLIPWAY_TEST_POSTGRES_URL:-}" ] && exit 0
say() { echo "test_postgres: $*"; }

version="$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort -V | tail -n 1)"
[ -n "$version" ] || { echo "test_postgres: PostgreSQL is not installed (scripts/install.sh --test installs it)" >&2; exit 1; }
if ! pg_lsclusters -h 2>/dev/null | awk '{print $1" "$2}' | grep -qx "$version main"; then
  say "creating cluster $version/main"
  pg_createcluster "$version" main >/dev/null
fi
pg_ctlcluster "$version" main start 2>/dev/null || true   # "already running" is fine
for _ in $(seq 1 60); do
  pg_isready -q -h 127.0.0.1 -p 5432 && break
  sleep 0.5
done
pg_isready -q -h 127.0.0.1 -p 5432 || { echo "test_postgres: PostgreSQL did not start on 127.0.0.1:5432" >&2; exit 1; }

psql_admin() { su postgres -c "psql -v ON_ERROR_STOP=1 -qtAc \"$1\""; }
if [ "$(psql_admin "SELECT 1 FROM pg_roles WHERE rolname='slipway_test'")" != 1 ]; then
  psql_admin "CREATE ROLE slipway_test LOGIN PASSWORD 'slipway_test'"
fi
if [ "$(psql_admin "SELECT 1 FROM pg_database WHERE datname='slipway_test'")" != 1 ]; then
  su postgres -c "createdb -O slipway_test slipway_test"
fi
