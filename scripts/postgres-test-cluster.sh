#!/usr/bin/env bash
# Starts (or stops) a throwaway PostgreSQL 15 cluster for the test suite and prints the
# admin URL the tests read from GLASSBOX_TEST_DATABASE_URL.
#
#   scripts/postgres-test-cluster.sh start [dir] [port]   # default /tmp/glassbox-pg, 5433
#   scripts/postgres-test-cluster.sh stop  [dir]
#
# Trust authentication on 127.0.0.1 only; the cluster is for tests, never for data.
set -euo pipefail
action="${1:-start}"
dir="${2:-/tmp/glassbox-pg}"
port="${3:-5433}"
bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
[ -x "$bin/pg_ctl" ] || { echo "PostgreSQL server binaries not found under /usr/lib/postgresql" >&2; exit 1; }

# initdb refuses to run as root: run the server as the postgres user when we are root.
as_owner() {
    if [ "$(id -u)" = "0" ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$action" in
start)
    if [ ! -f "$dir/PG_VERSION" ]; then
        mkdir -p "$dir"
        [ "$(id -u)" = "0" ] && chown postgres:postgres "$dir"
        as_owner "$bin/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 >/dev/null
    fi
    if ! as_owner "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
        as_owner "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -o \
            "-p $port -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
            start >/dev/null
    fi
    echo "postgres://postgres@127.0.0.1:$port/postgres"
    ;;
stop)
    as_owner "$bin/pg_ctl" -D "$dir" -m fast stop >/dev/null 2>&1 || true
    ;;
*)
    echo "usage: $0 start|stop [dir] [port]" >&2
    exit 2
    ;;
esac
