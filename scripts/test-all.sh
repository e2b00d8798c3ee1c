#!/usr/bin/env bash
# Runs the whole test suite: Rust unit, conformance, API and binary tests, then the
# black-box tests with the official Langfuse SDKs against the built binary.
set -euo pipefail
cd "$(dirname "$0")/.."

# The first cargo build also builds the web UI once (crates/glassbox-ui/build.rs: npm ci
# when web/node_modules is stale, then vite build); every later step reuses it, and the
# browser journeys below run against that same binary. GLASSBOX_SKIP_UI=1 skips both.
echo "==> cargo test (workspace)"
cargo build --workspace --bins
cargo test --workspace

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
