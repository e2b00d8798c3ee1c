#!/usr/bin/env bash
# glassbox vs Arize Phoenix, same generated workload, same run, same machine.
#
#   bench/run.sh [--traces 1000] [-c 4] [--queries 100] [--nice 0]
#                [--query-max-seconds S] [--only glassbox|phoenix] [--no-build]
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
TRACES=1000; CONC=4; NQ=100; NICE=0; QMAX=""; ONLY=""; BUILD=1; SEED=42
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
    -h|--help) sed -n '2,22p' "$0"; exit 0;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2;;
  esac
done
case "$TRACES" in *k) TRACES=$(( ${TRACES%k} * 1000 ));; esac
case "$ONLY" in ""|glassbox|phoenix) ;; *) echo "--only glassbox|phoenix" >&2; exit 2;; esac
[ -f "$GLASSBENCH/run.sh" ] || { echo "harness not found at $GLASSBENCH (set GLASSBENCH)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || echo "warning: the harness needs root for 'ip netns' (Phoenix's gRPC port is confined to a loopback-only namespace)" >&2

# ------------------------------------------------------------------ 1. build
BIN="$ROOT/target/release/glassbox"
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
if [ "$ONLY" != glassbox ]; then
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

GB_JSON=""; PHX_JSON=""
if [ "$ONLY" != phoenix ]; then
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
if [ "$ONLY" != glassbox ]; then
  # The harness starts Phoenix with PHOENIX_HOST=127.0.0.1 (HTTP on loopback)
  # and PHOENIX_GRPC_PORT=4317 inside a network namespace that has only `lo`,
  # so the gRPC collector (which binds [::]) is reachable from nowhere else.
  PHX_JSON="$(harness phoenix phoenix --format openinference --netns "${COMMON[@]}")"
fi

# ------------------------------------------------------------------ 4. report
[ -n "$GB_JSON$PHX_JSON" ] || { echo "no harness result; see $STAGE/*.log" >&2; exit 1; }
mkdir -p "$ROOT/bench/results"
SCALE="$(( TRACES / 1000 ))k"; [ "$TRACES" -lt 1000 ] && SCALE="${TRACES}t"
OUT="$ROOT/bench/results/$STAMP-$SCALE"
"$BENCH_PY" "$ROOT/bench/compare.py" --harness "$GLASSBENCH" \
   ${GB_JSON:+--glassbox "$GB_JSON"} ${PHX_JSON:+--phoenix "$PHX_JSON"} \
   --glassbox-version "$GBVER" \
   --command "bench/run.sh${ARGS[*]:+ ${ARGS[*]}}" \
   --out "$OUT"
cat "$OUT.md"
echo "wrote $OUT.json $OUT.md" >&2
