#!/usr/bin/env bash
# Runs the whole test suite: Rust unit, conformance, API and binary tests, then the
# black-box tests with the official Langfuse SDKs against the built binary.
set -euo pipefail
cd "$(dirname "$0")/.."

# PostgreSQL backend: a throwaway cluster (trust auth on 127.0.0.1, fsync off) for the
# conformance suite, the API tests' second run and the multi-process binary tests. An
# already exported GLASSBOX_TEST_DATABASE_URL (a server of your own) is used as is.
if [ -z "${GLASSBOX_TEST_DATABASE_URL:-}" ]; then
    echo "==> starting the PostgreSQL test cluster"
    pg_dir="${TMPDIR:-/tmp}/glassbox-pg-test-all"
    GLASSBOX_TEST_DATABASE_URL="$(./scripts/postgres-test-cluster.sh start "$pg_dir" 5439)"
    trap './scripts/postgres-test-cluster.sh stop "$pg_dir"' EXIT
fi
export GLASSBOX_TEST_DATABASE_URL

# The first cargo build also builds the web UI once (crates/glassbox-ui/build.rs: npm ci
# when web/node_modules is stale, then vite build); every later step reuses it, and the
# browser journeys below run against that same binary. GLASSBOX_SKIP_UI=1 skips both.
echo "==> cargo test (workspace; the API tests on the embedded backend)"
cargo build --workspace --bins
cargo test --workspace

echo "==> API tests again, on PostgreSQL"
GLASSBOX_TEST_BACKEND=postgres cargo test -p glassbox-http --test api

echo "==> black-box tests: npm langfuse@3.39.2 (legacy) and @langfuse/*@5.11.1"
TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
export GLASSBOX_BIN="$TARGET_DIR/debug/glassbox"
(cd tests/sdk-js && npm ci --no-audit --no-fund && npm test)

echo "==> black-box tests: Python langfuse==5.0.4 (+ LangChain, LangGraph, OpenAI, plain OTel)"
./tests/sdk-python/run.sh -q

echo "==> web UI: vitest unit tests, then browser journeys (playwright-core + Debian chromium)"
if [ "${GLASSBOX_SKIP_UI:-}" = "1" ]; then
    echo "GLASSBOX_SKIP_UI=1: the binary has no UI; skipping the web UI tests"
else
    (cd web && npm test && npm run e2e)
fi

echo "==> all tests passed"
