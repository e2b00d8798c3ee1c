"""Starts and stops one real `glassbox serve` process.

Mirrors tests/sdk-js/lib/server.mjs: every start gets a fresh temporary data directory,
a free port and freshly generated project keys (headless init through LANGFUSE_INIT_*
variables). The server's stdout/stderr are kept in memory so failures can show them.
"""

from __future__ import annotations

import collections
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = PACKAGE_DIR.parent.parent

READY_TIMEOUT_S = float(os.environ.get("GLASSBOX_READY_TIMEOUT_MS", "60000")) / 1000.0
MAX_LOG_LINES = 2000


def glassbox_binary() -> Path:
    from_env = os.environ.get("GLASSBOX_BIN")
    if from_env:
        return Path(from_env).expanduser().resolve()
    return REPO_ROOT / "target" / "debug" / "glassbox"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class GlassboxServer:
    def __init__(self, *, bin_path: Path, port: int, data_dir: Path, suffix: str):
        self.bin = bin_path
        self.port = port
        self.data_dir = data_dir
        self.base_url = f"http://127.0.0.1:{port}"
        self.public_key = f"pk-lf-sdkpy-{suffix}"
        self.secret_key = f"sk-lf-sdkpy-{suffix}"
        self.org_id = f"org-sdkpy-{suffix}"
        self.org_name = "SDK Python test org"
        self.project_id = f"proj-sdkpy-{suffix}"
        self.project_name = "SDK Python test project"
        self.log: collections.deque[str] = collections.deque(maxlen=MAX_LOG_LINES)
        self.proc: subprocess.Popen | None = None
        self.command = ""
        self._readers: list[threading.Thread] = []

    # -- lifecycle -------------------------------------------------------------------
    def spawn(self) -> None:
        env = dict(os.environ)
        env.update(
            {
                "LANGFUSE_INIT_ORG_ID": self.org_id,
                "LANGFUSE_INIT_ORG_NAME": self.org_name,
                "LANGFUSE_INIT_PROJECT_ID": self.project_id,
                "LANGFUSE_INIT_PROJECT_NAME": self.project_name,
                "LANGFUSE_INIT_PROJECT_PUBLIC_KEY": self.public_key,
                "LANGFUSE_INIT_PROJECT_SECRET_KEY": self.secret_key,
                "NO_COLOR": "1",
                # These tests use OTLP/HTTP only; don't compete for the gRPC port 4317.
                "GLASSBOX_OTLP_GRPC_DISABLED": "true",
            }
        )
        args = [
            str(self.bin),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
        ]
        self.command = " ".join(args)
        self.proc = subprocess.Popen(
            args,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        verbose = os.environ.get("GLASSBOX_TEST_VERBOSE") == "1"
        for stream, tag in ((self.proc.stdout, "stdout"), (self.proc.stderr, "stderr")):
            t = threading.Thread(target=self._pump, args=(stream, tag, verbose), daemon=True)
            t.start()
            self._readers.append(t)

    def _pump(self, stream, tag: str, verbose: bool) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.log.append(f"[{tag}] {line}")
            if verbose:
                print(f"[glassbox {tag}] {line}", flush=True)
        stream.close()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def describe_exit(self) -> str:
        if self.proc is None:
            return "not started"
        rc = self.proc.poll()
        if rc is None:
            return "running"
        if rc < 0:
            return f"signal {signal.Signals(-rc).name}"
        return f"exit code {rc}"

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        last = "no response yet"
        while time.monotonic() < deadline:
            if not self.alive:
                raise RuntimeError(
                    f"glassbox exited during start-up ({self.describe_exit()})\n{self.describe()}"
                )
            try:
                with urllib.request.urlopen(f"{self.base_url}/api/public/health", timeout=2) as res:
                    if res.status == 200:
                        return
                    last = f"HTTP {res.status}"
            except urllib.error.HTTPError as err:
                last = f"HTTP {err.code} {err.read()[:500]!r}"
            except Exception as err:  # connection refused while starting
                last = repr(err)
            time.sleep(0.1)
        raise RuntimeError(
            f"glassbox not ready after {READY_TIMEOUT_S:.0f} s (last health check: {last})\n{self.describe()}"
        )

    def log_tail(self, lines: int = 200) -> str:
        return "\n".join(list(self.log)[-lines:])

    def describe(self, lines: int = 200) -> str:
        state = "running" if self.alive else f"EXITED ({self.describe_exit()})"
        return "\n".join(
            [
                f"--- glassbox server: {state}; {self.command}",
                f"--- data dir: {self.data_dir}",
                f"--- last {lines} lines of server output:",
                self.log_tail(lines) or "(no output)",
                "--- end of server output",
            ]
        )

    def stop(self, *, keep_data: bool = False) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for t in self._readers:
            t.join(timeout=2)
        if not keep_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)


def start_glassbox() -> GlassboxServer:
    """Starts glassbox and returns once `/api/public/health` answers 200."""
    bin_path = glassbox_binary()
    if not bin_path.exists():
        raise RuntimeError(
            f"glassbox binary not found at {bin_path}. Build it (cargo build -p glassbox-server) "
            "or set GLASSBOX_BIN."
        )
    last_error: Exception | None = None
    # A free port can be taken between probing and binding; retry start-up a few times.
    for _ in range(3):
        server = GlassboxServer(
            bin_path=bin_path,
            port=free_port(),
            data_dir=Path(tempfile.mkdtemp(prefix="glassbox-sdk-python-")),
            suffix=secrets.token_hex(8),
        )
        server.spawn()
        try:
            server.wait_ready()
            return server
        except Exception as err:
            last_error = err
            tail = server.log_tail()
            addr_in_use = any(s in tail for s in ("in use", "AddrInUse", "EADDRINUSE"))
            server.stop(keep_data=not addr_in_use)
            if not addr_in_use:
                break
    assert last_error is not None
    raise last_error
