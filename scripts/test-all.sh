#!/usr/bin/env bash
# Runs the whole test suite: Rust unit, conformance, API and binary tests, then the
# black-box tests with the official Langfuse SDKs against the built binary.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> cargo test (workspace)"
cargo build --workspace --bins
cargo test --workspace

echo "==> black-box tests: legacy npm langfuse@3.39.2"
TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
export GLASSBOX_BIN="$TARGET_DIR/debug/glassbox"
(cd tests/sdk-js && npm ci --no-audit --no-fund && npm test)

echo "==> black-box tests: Python langfuse==5.0.4 (+ LangChain, LangGraph, OpenAI, plain OTel)"
./tests/sdk-python/run.sh -q

echo "==> all tests passed"
