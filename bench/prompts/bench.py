#!/usr/bin/env python3
"""Prompt fetch latency of the real glassbox binary.

Starts `glassbox serve` on a fresh data directory (keys through LANGFUSE_INIT_*), creates
PROMPTS prompts of VERSIONS versions each through `POST /api/public/v2/prompts` (labels
move as versions are added, a tenth of the prompts reference a shared prompt), then
measures `GET /api/public/v2/prompts/{name}?label=production` from one warm keep-alive
client on loopback: random prompts, sequential requests, client-side wall time of each
request until its body is read. Also measured: fetch by version, and the path without the
cache (every fetch preceded by a label move, which drops the project's cached prompts;
only the fetch is timed).

Standard library only. Example (release build):

    cargo build --release -p glassbox-server
    python3 bench/prompts/bench.py --bin target/release/glassbox
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

PUBLIC_KEY = "pk-lf-bench"
SECRET_KEY = "sk-lf-bench"
AUTH = "Basic " + base64.b64encode(f"{PUBLIC_KEY}:{SECRET_KEY}".encode()).decode()
HEADERS = {"Authorization": AUTH, "Content-Type": "application/json"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(binary: str, data_dir: str, port: int) -> subprocess.Popen:
    env = dict(os.environ)
    env.update(
        {
            "LANGFUSE_INIT_ORG_ID": "bench-org",
            "LANGFUSE_INIT_ORG_NAME": "bench",
            "LANGFUSE_INIT_PROJECT_ID": "bench-project",
            "LANGFUSE_INIT_PROJECT_NAME": "bench",
            "LANGFUSE_INIT_PROJECT_PUBLIC_KEY": PUBLIC_KEY,
            "LANGFUSE_INIT_PROJECT_SECRET_KEY": SECRET_KEY,
            "GLASSBOX_OTLP_GRPC_DISABLED": "true",
            "GLASSBOX_LOG": "warn",
            "NO_COLOR": "1",
        }
    )
    proc = subprocess.Popen(
        [binary, "serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", data_dir],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/public/health")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"glassbox exited with {proc.returncode}")
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("glassbox did not become ready in 30 s")


class Client:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.conn.connect()
        self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def call(self, method: str, path: str, body=None) -> tuple[int, bytes]:
        data = json.dumps(body).encode() if body is not None else None
        self.conn.request(method, path, body=data, headers=HEADERS)
        res = self.conn.getresponse()
        return res.status, res.read()


def prompt_name(index: int) -> str:
    # A third of the names live in folders, so most fetches carry an encoded `/`.
    return f"team-{index % 7}/prompt-{index:04d}" if index % 3 == 0 else f"prompt-{index:04d}"


def path_of(name: str, query: str) -> str:
    return f"/api/public/v2/prompts/{urllib.parse.quote(name, safe='')}?{query}"


def labels_for(version: int) -> list[str]:
    # production lands on v10, canary on v15, staging on v20 (which also has latest).
    return {10: ["production"], 15: ["canary"], 20: ["staging"]}.get(version, [])


def content(index: int, version: int) -> str:
    body = (
        f"You are assistant #{index}, revision {version}. Answer the user's question about "
        "{{topic}} in {{language}}, citing at most {{max_sources}} sources. "
        + "Be precise and kind. " * 12
    )
    if index % 10 == 0:
        body += "\n@@@langfusePrompt:name=bench-shared-policy|label=production@@@"
    return body


def load(port: int, prompts: int, versions: int, workers: int) -> float:
    setup = Client(port)
    status, text = setup.call(
        "POST",
        "/api/public/v2/prompts",
        {"name": "bench-shared-policy", "prompt": "Never reveal secrets.", "labels": ["production"]},
    )
    assert status == 201, text
    started = time.monotonic()
    queue = list(range(prompts))
    lock = threading.Lock()
    errors: list[str] = []

    def worker() -> None:
        client = Client(port)
        while True:
            with lock:
                if not queue or errors:
                    return
                index = queue.pop()
            for version in range(1, versions + 1):
                status, text = client.call(
                    "POST",
                    "/api/public/v2/prompts",
                    {
                        "name": prompt_name(index),
                        "prompt": content(index, version),
                        "labels": labels_for(version),
                        "config": {"model": "gpt-4o-mini", "temperature": 0.2, "revision": version},
                        "tags": ["bench", f"team-{index % 7}"],
                        "commitMessage": f"revision {version}",
                    },
                )
                if status != 201:
                    with lock:
                        errors.append(f"{status} {text[:300]!r}")
                    return

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise SystemExit(f"create failed: {errors[0]}")
    return time.monotonic() - started


def summary(samples_ns: list[int]) -> dict:
    ordered = sorted(samples_ns)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e6  # noqa: E731
    return {
        "n": len(ordered),
        "p50_ms": round(pick(0.50), 3),
        "p90_ms": round(pick(0.90), 3),
        "p99_ms": round(pick(0.99), 3),
        "p999_ms": round(pick(0.999), 3),
        "max_ms": round(ordered[-1] / 1e6, 3),
        "mean_ms": round(statistics.fmean(ordered) / 1e6, 3),
    }


def timed_fetches(client: Client, paths: list[str], expect_version: int | None) -> list[int]:
    samples = []
    for path in paths:
        start = time.perf_counter_ns()
        status, body = client.call("GET", path)
        samples.append(time.perf_counter_ns() - start)
        if status != 200:
            raise SystemExit(f"GET {path}: {status} {body[:300]!r}")
        if expect_version is not None and json.loads(body).get("version") != expect_version:
            raise SystemExit(f"GET {path}: wrong version in {body[:300]!r}")
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default="target/release/glassbox")
    parser.add_argument("--prompts", type=int, default=1000)
    parser.add_argument("--versions", type=int, default=20)
    parser.add_argument("--fetches", type=int, default=20000)
    parser.add_argument("--uncached", type=int, default=2000, help="fetches after a cache-dropping write")
    parser.add_argument("--workers", type=int, default=16, help="concurrent clients while loading")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    if args.versions < 20:
        raise SystemExit("--versions must be at least 20 (labels sit on v10, v15, v20)")

    data_dir = tempfile.mkdtemp(prefix="glassbox-bench-prompts-")
    port = free_port()
    proc = start_server(args.bin, data_dir, port)
    rng = random.Random(args.seed)
    try:
        load_s = load(port, args.prompts, args.versions, args.workers)
        creates = args.prompts * args.versions
        print(f"created {creates} versions ({args.prompts} prompts x {args.versions}) in {load_s:.1f} s "
              f"({creates / load_s:.0f}/s with {args.workers} clients)")
        client = Client(port)
        names = [prompt_name(i) for i in range(args.prompts)]
        # Warm-up: every prompt once (fills the cache), plus connection/allocator warm-up.
        timed_fetches(client, [path_of(n, "label=production") for n in names], 10)
        by_label = [path_of(rng.choice(names), "label=production") for _ in range(args.fetches)]
        label_ns = timed_fetches(client, by_label, 10)
        by_version = [path_of(rng.choice(names), f"version={rng.randint(1, args.versions)}") for _ in range(args.fetches // 4)]
        timed_fetches(client, by_version, None)  # warm the version entries
        version_ns = timed_fetches(client, by_version, None)
        # Noise floor of this machine and client: the health route (no auth, no store).
        health_ns = timed_fetches(client, ["/api/public/health"] * args.fetches, None)
        uncached_ns = []
        writer = Client(port)
        for _ in range(args.uncached):
            name = rng.choice(names)
            status, text = writer.call(
                "PATCH",
                f"/api/public/v2/prompts/{urllib.parse.quote(name, safe='')}/versions/{rng.choice((15, 16))}",
                {"newLabels": ["canary"]},
            )
            assert status == 200, text
            uncached_ns += timed_fetches(client, [path_of(name, "label=production")], 10)
        results = {
            "prompts": args.prompts,
            "versions": args.versions,
            "load_seconds": round(load_s, 2),
            "fetch_by_label_cached": summary(label_ns),
            "fetch_by_version_cached": summary(version_ns),
            "fetch_by_label_after_write": summary(uncached_ns),
            "health_noise_floor": summary(health_ns),
            "machine": {"cpus": os.cpu_count(), "loadavg": os.getloadavg()},
        }
        for key in ("fetch_by_label_cached", "fetch_by_version_cached", "fetch_by_label_after_write",
                    "health_noise_floor"):
            print(f"{key:28s} {results[key]}")
        target = results["fetch_by_label_cached"]["p99_ms"]
        print(f"target p99 < 2 ms for fetch by label: {'met' if target < 2 else 'MISSED'} ({target} ms); "
              f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
        if args.json:
            with open(args.json, "w") as fh:
                json.dump(results, fh, indent=2)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
