#!/usr/bin/env bash
# glassbox vs Arize Phoenix, same generated workload, same run, same machine.
#
#   bench/run.sh [--traces 1000] [-c 4] [--queries 100] [--nice 0]
#                [--query-max-seconds S] [--only glassbox|phoenix|glassbox-postgres]
#                [--postgres URL|local] [--no-build]
#
# 1. builds target/release/glassbox (cargo build --release -p glassbox-server;
#    set GLASSBOX_SKIP_UI=1 to skip the web UI build),
# 2. creates the harness venv (BENCH_VENV, default /tmp/glassbox-bench-venv) from
#    the harness's requirements.txt, and the Phoenix venv (PHOENIX_VENV, default
#    /tmp/phx) with arize-phoenix==$PHOENIX_VERSION,
# 3. runs the shared harness (GLASSBENCH, default ../shared/bench relative to the
#    repo root) against glassbox (OTLP/HTTP, langfuse attribute format, headless
#    LANGFUSE_INIT_* keys, --no-otlp-grpc, fresh data dir) and then against
#    Phoenix (openinference attribute format, SQLite), both started by the
#    harness inside a private network namespace whose only interface is
#    loopback,
# 4. writes bench/results/<utc-stamp>-<scale>.{json,md} with glassbox/Phoenix
#    ratios (bench/compare.py).
#
# --postgres URL adds a run of glassbox on PostgreSQL (label glassbox-postgres,
# same workload) in a fresh database gb_bench_<stamp> created on the cluster of
# URL (an admin URL; over the unix socket, e.g. postgres://postgres@%2Ftmp:5434/postgres,
# since the namespace has no route to the host's TCP ports), and postgres/embedded
# ratios. `--postgres local` starts bench/postgres-cluster.sh (durable, port 5434).
#
# See bench/README.md.  Only the harness's own files are used (never copied into
# the repo); its results and run dirs go under /tmp.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GLASSBENCH="${GLASSBENCH:-$ROOT/../shared/bench}"
GLASSBENCH="$(cd "$GLASSBENCH" && pwd)"
BENCH_VENV="${BENCH_VENV:-/tmp/glassbox-bench-venv}"
PHOENIX_VENV="${PHOENIX_VENV:-/tmp/phx}"
PHOENIX_VERSION="${PHOENIX_VERSION:-20.26.1}"
WORK="${GLASSBOX_BENCH_WORK:-/tmp/glassbox-bench}"
PORT="${GLASSBOX_BENCH_PORT:-3000}"
PK="pk-lf-bench"; SK="sk-lf-bench"

ARGS=("$@")
TRACES=1000; CONC=4; NQ=100; NICE=0; QMAX=""; ONLY=""; BUILD=1; SEED=42; PG_ADMIN=""
while [ $# -gt 0 ]; do
  case "$1" in
    --traces) TRACES="$2"; shift 2;;
    -c|--concurrency) CONC="$2"; shift 2;;
    --queries) NQ="$2"; shift 2;;
    --nice) NICE="$2"; shift 2;;
    --query-max-seconds) QMAX="$2"; shift 2;;
    --only) ONLY="$2"; shift 2;;
    --seed) SEED="$2"; shift 2;;
    --no-build) BUILD=0; shift;;
    --postgres) PG_ADMIN="$2"; shift 2;;
    -h|--help) sed -n '2,29p' "$0"; exit 0;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2;;
  esac
done
case "$TRACES" in *k) TRACES=$(( ${TRACES%k} * 1000 ));; esac
case "$ONLY" in ""|glassbox|phoenix|glassbox-postgres) ;; *) echo "--only glassbox|phoenix|glassbox-postgres" >&2; exit 2;; esac
[ "$ONLY" = glassbox-postgres ] && [ -z "$PG_ADMIN" ] && { echo "--only glassbox-postgres needs --postgres URL" >&2; exit 2; }
[ "$PG_ADMIN" = local ] && PG_ADMIN="$("$ROOT/bench/postgres-cluster.sh" start)"
[ -f "$GLASSBENCH/run.sh" ] || { echo "harness not found at $GLASSBENCH (set GLASSBENCH)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || echo "warning: the harness needs root for 'ip netns' (Phoenix's gRPC port is confined to a loopback-only namespace)" >&2

# ------------------------------------------------------------------ 1. build
BIN="${GLASSBOX_BENCH_BIN:-$ROOT/target/release/glassbox}"   # another binary: set it and --no-build
if [ "$ONLY" != phoenix ]; then
  if [ "$BUILD" = 1 ]; then
    echo "== cargo build --release -p glassbox-server (GLASSBOX_SKIP_UI=${GLASSBOX_SKIP_UI:-})" >&2
    (cd "$ROOT" && nice -n 10 cargo build --release -p glassbox-server)
  fi
  [ -x "$BIN" ] || { echo "$BIN missing" >&2; exit 1; }
fi
GBVER="$("$BIN" --version 2>/dev/null | tr -d '\n') (git $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- crates Cargo.lock 2>/dev/null || echo '+dirty'))"

# ------------------------------------------------------------------ 2. venvs
if [ ! -x "$BENCH_VENV/bin/python" ]; then
  echo "== harness venv $BENCH_VENV" >&2
  python3 -m venv "$BENCH_VENV"
  "$BENCH_VENV/bin/pip" install -q -r "$GLASSBENCH/requirements.txt"
fi
export BENCH_PY="$BENCH_VENV/bin/python"
if [ "$ONLY" != glassbox ] && [ "$ONLY" != glassbox-postgres ]; then
  have="$("$PHOENIX_VENV/bin/python" -c 'import phoenix;print(phoenix.__version__)' 2>/dev/null || true)"
  if [ "$have" != "$PHOENIX_VERSION" ]; then
    echo "== arize-phoenix==$PHOENIX_VERSION into $PHOENIX_VENV (found: ${have:-none})" >&2
    [ -x "$PHOENIX_VENV/bin/pip" ] || python3 -m venv "$PHOENIX_VENV"
    nice -n 10 "$PHOENIX_VENV/bin/pip" install -q "arize-phoenix==$PHOENIX_VERSION"
  fi
  export PHOENIX_VENV
fi

# ------------------------------------------------------------------ 3. runs
# The harness writes results/ next to its run.sh; run it from a directory of
# symlinks under $WORK so the shared (read-only) tree is never written to.
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
END="$(date -u +%Y-%m-%dT00:00:00+00:00)"   # same time range for both peers
STAGE="$WORK/harness-$STAMP"
mkdir -p "$STAGE"
for f in "$GLASSBENCH"/*; do ln -s "$f" "$STAGE/$(basename "$f")"; done
export BENCH_DATA="$WORK/data-${END%%T*}"     # generated datasets, cached per end date
export BENCH_RUNS="$WORK/runs"
mkdir -p "$BENCH_DATA" "$BENCH_RUNS"
COMMON=(--traces "$TRACES" -c "$CONC" --queries "$NQ" --nice "$NICE" --seed "$SEED" --end "$END")
[ -n "$QMAX" ] && COMMON+=(--query-max-seconds "$QMAX")

harness() {  # label, run.sh args... -> prints the result JSON path
  local label="$1"; shift
  local log="$STAGE/$label.log"
  echo "=== $label: $GLASSBENCH/run.sh $*" >&2
  "$STAGE/run.sh" "$@" 2>&1 | tee "$log" >&2 || echo "warning: $label run failed (log: $log)" >&2
  { grep -o 'wrote .*\.json' "$log" || true; } | tail -1 | cut -d' ' -f2
}

GB_JSON=""; PHX_JSON=""; PG_JSON=""; PG_DB_BYTES=""; PG_VERSION=""
if [ "$ONLY" != phoenix ] && [ "$ONLY" != glassbox-postgres ]; then
  GBDATA="$WORK/glassbox-data-$STAMP"
  rm -rf "$GBDATA"
  SERVER_CMD="env GLASSBOX_LOG=warn LANGFUSE_INIT_ORG_ID=bench-org LANGFUSE_INIT_ORG_NAME=bench \
LANGFUSE_INIT_PROJECT_ID=bench-project LANGFUSE_INIT_PROJECT_NAME=bench \
LANGFUSE_INIT_PROJECT_PUBLIC_KEY=$PK LANGFUSE_INIT_PROJECT_SECRET_KEY=$SK \
$BIN serve --host 127.0.0.1 --port $PORT --no-otlp-grpc --data-dir $GBDATA"
  GB_JSON="$(harness glassbox langfuse --label glassbox --format langfuse \
      --url "http://127.0.0.1:$PORT" --auth "$PK:$SK" \
      --server-cmd "$SERVER_CMD" --data-dir "$GBDATA" --netns "${COMMON[@]}")"
fi
if [ -n "$PG_ADMIN" ] && [ "$ONLY" != phoenix ]; then
  # Same server command on a fresh database of the given cluster (the data dir is
  # then unused: PostgreSQL holds everything; its size is pg_database_size).
  PGDB="gb_bench_$(echo "$STAMP" | tr 'A-Z' 'a-z')"
  PGURL="$("$BENCH_PY" -c 'import sys,urllib.parse as u;p=u.urlsplit(sys.argv[1]);print(u.urlunsplit(p._replace(path="/"+sys.argv[2])))' "$PG_ADMIN" "$PGDB")"
  psql "$PG_ADMIN" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE $PGDB" >&2
  PG_VERSION="$(psql "$PGURL" -Atc 'SHOW server_version') (fsync=$(psql "$PGURL" -Atc 'SHOW fsync'), synchronous_commit=$(psql "$PGURL" -Atc 'SHOW synchronous_commit'), shared_buffers=$(psql "$PGURL" -Atc 'SHOW shared_buffers'))"
  GBDATA="$WORK/glassbox-pg-data-$STAMP"
  rm -rf "$GBDATA"; mkdir -p "$GBDATA"
  SERVER_CMD="env GLASSBOX_LOG=warn DATABASE_URL=$PGURL LANGFUSE_INIT_ORG_ID=bench-org LANGFUSE_INIT_ORG_NAME=bench \
LANGFUSE_INIT_PROJECT_ID=bench-project LANGFUSE_INIT_PROJECT_NAME=bench \
LANGFUSE_INIT_PROJECT_PUBLIC_KEY=$PK LANGFUSE_INIT_PROJECT_SECRET_KEY=$SK \
$BIN serve --host 127.0.0.1 --port $PORT --no-otlp-grpc --data-dir $GBDATA"
  PG_JSON="$(harness glassbox-postgres langfuse --label glassbox-postgres --format langfuse \
      --url "http://127.0.0.1:$PORT" --auth "$PK:$SK" \
      --server-cmd "$SERVER_CMD" --data-dir "$GBDATA" --netns "${COMMON[@]}")"
  PG_DB_BYTES="$(psql "$PGURL" -Atc 'SELECT pg_database_size(current_database())' || true)"
  echo "== $PGDB: $PG_DB_BYTES bytes (pg_database_size)" >&2
  if [ "${GLASSBOX_BENCH_KEEP_DB:-0}" = 1 ]; then
    echo "== kept database $PGURL (GLASSBOX_BENCH_KEEP_DB=1)" >&2
  else
    psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $PGDB" >&2 || true
  fi
fi
if [ "$ONLY" != glassbox ] && [ "$ONLY" != glassbox-postgres ]; then
  # The harness starts Phoenix with PHOENIX_HOST=127.0.0.1 (HTTP on loopback)
  # and PHOENIX_GRPC_PORT=4317 inside a network namespace that has only `lo`,
  # so the gRPC collector (which binds [::]) is reachable from nowhere else.
  PHX_JSON="$(harness phoenix phoenix --format openinference --netns "${COMMON[@]}")"
fi

# ------------------------------------------------------------------ 4. report
[ -n "$GB_JSON$PHX_JSON$PG_JSON" ] || { echo "no harness result; see $STAGE/*.log" >&2; exit 1; }
mkdir -p "$ROOT/bench/results"
SCALE="$(( TRACES / 1000 ))k"; [ "$TRACES" -lt 1000 ] && SCALE="${TRACES}t"
OUT="$ROOT/bench/results/$STAMP-$SCALE"
"$BENCH_PY" "$ROOT/bench/compare.py" --harness "$GLASSBENCH" \
   ${GB_JSON:+--glassbox "$GB_JSON"} ${PHX_JSON:+--phoenix "$PHX_JSON"} \
   ${PG_JSON:+--glassbox-postgres "$PG_JSON"} ${PG_DB_BYTES:+--postgres-db-bytes "$PG_DB_BYTES"} \
   ${PG_VERSION:+--postgres-version "$PG_VERSION"} \
   --glassbox-version "$GBVER" \
   --command "bench/run.sh${ARGS[*]:+ ${ARGS[*]}}" \
   --out "$OUT"
cat "$OUT.md"
echo "wrote $OUT.json $OUT.md" >&2
