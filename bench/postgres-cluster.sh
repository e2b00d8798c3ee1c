#!/usr/bin/env bash
# A durable PostgreSQL cluster for benchmarks (bench/run.sh --postgres local), separate
# from the test cluster of scripts/postgres-test-cluster.sh (which runs with fsync=off).
# Prints the admin URL, over the unix socket in /tmp: the harness starts glassbox in a
# network namespace that has only loopback, where the host's TCP ports are unreachable
# but filesystem sockets are not.
#
#   bench/postgres-cluster.sh start [dir] [port]   # default /tmp/glassbox-bench-pg, 5434
#   bench/postgres-cluster.sh stop  [dir]
#
# Settings: PostgreSQL's defaults (fsync, synchronous_commit and full_page_writes on)
# plus shared_buffers=1GB, max_wal_size=4GB (as in STACK.md section 3.1). Trust
# authentication for the local socket and 127.0.0.1 only: benchmark data, never real data.
set -euo pipefail
action="${1:-start}"
dir="${2:-/tmp/glassbox-bench-pg}"
port="${3:-5434}"
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
            "-p $port -k /tmp -c listen_addresses=127.0.0.1 -c shared_buffers=1GB -c max_wal_size=4GB -c max_connections=100" \
            start >/dev/null
    fi
    echo "postgres://postgres@%2Ftmp:$port/postgres"
    ;;
stop)
    as_owner "$bin/pg_ctl" -D "$dir" -m fast stop >/dev/null 2>&1 || true
    ;;
*)
    echo "usage: $0 start|stop [dir] [port]" >&2
    exit 2
    ;;
esac
