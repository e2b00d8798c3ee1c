"""Shared plumbing: one glassbox server per pytest session, the real Langfuse Python SDK
(5.0.4) pointed at it, a read-API client, and failure reports that carry the read-API
exchanges, the SDK's warnings/errors and the server log.

One server per session (not per file) because the Langfuse client is a process-wide
singleton bound to one host and key pair (`@observe`, `langfuse.openai` and the
LangChain handler all resolve it through `get_client()`); tests isolate themselves by
trace id instead.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))

from glassbox_server import GlassboxServer, start_glassbox  # noqa: E402
from read_api import ReadApi  # noqa: E402
from sdk_config import SDK_RELEASE  # noqa: E402
from sdk_logs import SDK_LOGS  # noqa: E402

# Keep the SDK deterministic: it reads these from the environment when options are absent.
for _name in list(os.environ):
    if _name.startswith("LANGFUSE_") or _name.startswith("OTEL_"):
        del os.environ[_name]
# No LangSmith tracing from langchain-core, whatever the developer's shell says.
for _name in ("LANGCHAIN_TRACING_V2", "LANGSMITH_TRACING", "LANGCHAIN_API_KEY", "LANGSMITH_API_KEY"):
    os.environ.pop(_name, None)


_STATE: dict = {"server": None, "read_api": None, "failed": False, "exchange_mark": 0}


@pytest.fixture(scope="session")
def server() -> GlassboxServer:
    srv = start_glassbox()
    _STATE["server"] = srv
    # The SDK (and get_client(), used by @observe / langfuse.openai / LangChain) read these.
    os.environ["LANGFUSE_PUBLIC_KEY"] = srv.public_key
    os.environ["LANGFUSE_SECRET_KEY"] = srv.secret_key
    os.environ["LANGFUSE_BASE_URL"] = srv.base_url
    os.environ["LANGFUSE_HOST"] = srv.base_url
    yield srv
    crashed = not srv.alive
    if crashed:
        sys.stderr.write(f"\nglassbox died during the tests.\n{srv.describe()}\n")
    keep = _STATE["failed"] or crashed or os.environ.get("GLASSBOX_KEEP_DATA") == "1"
    srv.stop(keep_data=keep)
    if keep:
        sys.stderr.write(f"\nglassbox data dir kept for inspection: {srv.data_dir}\n")
    if crashed:
        raise RuntimeError("glassbox exited while the tests were running (see server output above)")


@pytest.fixture(scope="session")
def langfuse(server):
    """The official client, constructed exactly as an application would."""
    from langfuse import Langfuse

    client = Langfuse(
        public_key=server.public_key,
        secret_key=server.secret_key,
        base_url=server.base_url,
        release=SDK_RELEASE,
        timeout=10,
    )
    yield client
    try:
        client.shutdown()
    except Exception as err:  # pragma: no cover
        sys.stderr.write(f"langfuse.shutdown() failed: {err!r}\n")


@pytest.fixture(scope="session")
def _read_api(server) -> ReadApi:
    api = ReadApi(server.base_url, server.public_key, server.secret_key)
    _STATE["read_api"] = api
    return api


@pytest.fixture
def api(_read_api) -> ReadApi:
    """Read-API client; its exchanges are shown when the test fails."""
    return _read_api


@pytest.fixture(autouse=True)
def _mark_test_start():
    api = _STATE["read_api"]
    _STATE["exchange_mark"] = len(api.exchanges) if api else 0
    _STATE["log_mark"] = SDK_LOGS.mark()
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    _STATE["failed"] = True
    api: ReadApi | None = _STATE["read_api"]
    srv: GlassboxServer | None = _STATE["server"]
    if SDK_LOGS.records:
        # Scenario fixtures run before the test's own mark: show the recent history.
        report.sections.append(("SDK warnings/errors (last 60)", "\n".join(SDK_LOGS.records[-60:])))
    if api is not None and api.exchanges:
        # The last few exchanges are the informative ones (polling repeats the same call).
        mine = api.exchanges[_STATE["exchange_mark"]:] or api.exchanges[-3:]
        shown = mine[-8:]
        report.sections.append(
            (
                f"read API exchanges (last {len(shown)})",
                "\n".join(x.describe() for x in shown),
            )
        )
    if srv is not None:
        report.sections.append(("glassbox server", srv.describe(80)))
