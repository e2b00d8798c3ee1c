#!/usr/bin/env bash
# Black-box tests: the official Python SDK langfuse==5.0.4 (+ LangChain, LangGraph,
# OpenAI and plain OpenTelemetry exporters) against the glassbox binary.
#
#   tests/sdk-python/run.sh [pytest args...]
#
# Creates tests/sdk-python/.venv on first use (Python 3.11), installs the pinned
# requirements when they changed, then runs pytest. GLASSBOX_BIN selects the binary
# (default: target/debug/glassbox of this repo; build it with `cargo build -p glassbox-server`).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
cd "$HERE"

PYTHON="${PYTHON:-}"
if [[ -z "$PYTHON" ]]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then PYTHON="$candidate"; break; fi
  done
fi
[[ -n "$PYTHON" ]] || { echo "python3.11 (or python3 >= 3.10) is required" >&2; exit 1; }

VENV="$HERE/.venv"
if [[ ! -x "$VENV/bin/python" ]]; then
  echo "==> creating $VENV with $("$PYTHON" --version 2>&1)"
  "$PYTHON" -m venv "$VENV"
fi
STAMP="$VENV/.requirements.sha256"
WANT="$(cat requirements.txt constraints.txt | sha256sum | cut -d' ' -f1)"
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$WANT" ]]; then
  echo "==> pip install -r requirements.txt -c constraints.txt"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r requirements.txt -c constraints.txt
  echo "$WANT" > "$STAMP"
fi

export GLASSBOX_BIN="${GLASSBOX_BIN:-$REPO/target/debug/glassbox}"
if [[ ! -x "$GLASSBOX_BIN" ]]; then
  echo "glassbox binary not found at $GLASSBOX_BIN: run 'cargo build -p glassbox-server' or set GLASSBOX_BIN" >&2
  exit 1
fi

exec "$VENV/bin/python" -m pytest "$@"
