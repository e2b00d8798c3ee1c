#!/usr/bin/env python3
"""Overload run: glassbox sent several times the rate it can write, for a minute.

  python3 bench/overload/run.py [--bin target/release/glassbox] [--factor 3]
                                [--seconds 60] [--calibrate-seconds 20]

1. Starts the glassbox binary on a fresh data dir (headless keys, no gRPC).
2. Calibrates: 4 keep-alive connections send the generated workload's OTLP
   requests back to back; the acknowledged span rate is the sustainable rate.
3. Overload: an open-loop sender schedules requests at `factor` x that rate for
   `seconds` (a request is sent on time whatever happened to the earlier ones,
   from a pool of connections), and records per second: requests sent, 200s,
   429/503 answers (and whether each had Retry-After), transport errors, and
   the server's RSS (/proc/<pid>/status, sampled every 0.25 s).
4. Checks nothing was dropped silently: once the sender stops, every span of
   every request that got a 200 is readable (the observation count equals the
   spans of the distinct acknowledged requests).

Writes bench/results/overload-<stamp>.{json,md}. The workload is the shared
harness's generator (../shared/bench/gen.py), langfuse attribute format.
"""
import argparse
import base64
import http.client
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HARNESS = os.environ.get("GLASSBENCH", os.path.join(ROOT, "..", "shared", "bench"))
PK, SK = "pk-lf-overload", "sk-lf-overload"
AUTH = "Basic " + base64.b64encode(f"{PK}:{SK}".encode()).decode()
OTLP_PATH = "/api/public/otel/v1/traces"


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def load_workload(traces, data_dir):
    sys.path.insert(0, HARNESS)
    import gen  # the shared harness's generator

    prefix = os.path.join(data_dir, f"langfuse-s42-{traces}")
    if not os.path.exists(prefix + ".otlp"):
        subprocess.run(
            [sys.executable, os.path.join(HARNESS, "gen.py"), "--traces", str(traces),
             "--format", "langfuse", "--seed", "42", "--out", prefix],
            check=True,
        )
    return gen.read_batches(prefix + ".otlp")


def post(connection, body):
    connection.request("POST", OTLP_PATH, body=body, headers={
        "Authorization": AUTH,
        "Content-Type": "application/x-protobuf",
    })
    response = connection.getresponse()
    response.read()
    return response.status, response.getheader("Retry-After")


def observation_count(port):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/public/observations?limit=1",
        headers={"Authorization": AUTH},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)["meta"]["totalItems"]


def calibrate(port, batches, seconds, connections=4):
    """Closed loop: spans acknowledged per second with `connections` senders."""
    deadline = time.monotonic() + seconds
    acked = [0] * connections
    lock = threading.Lock()
    cursor = [0]

    def worker(index):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while time.monotonic() < deadline:
            with lock:
                body, spans = batches[cursor[0] % len(batches)]
                cursor[0] += 1
            status, _ = post(connection, body)
            if status == 200:
                acked[index] += spans

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(acked) / (time.monotonic() - started), cursor[0]


def overload(port, pid, batches, first_batch, rate_spans, seconds, pool):
    spans_per_request = sum(n for _, n in batches) / len(batches)
    interval = spans_per_request / rate_spans
    jobs = queue.Queue()
    records = []  # (second, status or 'error', retry_after, batch index)
    lock = threading.Lock()
    started = time.monotonic()

    def worker():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while True:
            job = jobs.get()
            if job is None:
                return
            index = job
            body, _ = batches[index % len(batches)]
            try:
                status, retry_after = post(connection, body)
            except (OSError, http.client.HTTPException):
                status, retry_after = "error", None
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            with lock:
                records.append((int(time.monotonic() - started), status, retry_after, index))

    rss = []
    stop_sampling = threading.Event()

    def sampler():
        while not stop_sampling.is_set():
            rss.append((round(time.monotonic() - started, 2), rss_kib(pid)))
            time.sleep(0.25)

    threads = [threading.Thread(target=worker) for _ in range(pool)]
    for thread in threads:
        thread.start()
    sampling = threading.Thread(target=sampler)
    sampling.start()
    scheduled, late = 0, 0
    index = first_batch
    while True:
        due = started + scheduled * interval
        now = time.monotonic()
        if due - started >= seconds:
            break
        if due > now:
            time.sleep(due - now)
        if jobs.qsize() > pool:
            late += 1  # every connection busy: the client itself is saturated
        jobs.put(index)
        index += 1
        scheduled += 1
    for _ in threads:
        jobs.put(None)
    for thread in threads:
        thread.join()
    send_seconds = time.monotonic() - started
    # Keep sampling until the server has written what it acknowledged.
    return records, rss, stop_sampling, sampling, scheduled, late, send_seconds, started


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "glassbox"))
    parser.add_argument("--traces", type=int, default=10000)
    parser.add_argument("--factor", type=float, default=3.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--calibrate-seconds", type=float, default=20.0)
    parser.add_argument("--pool", type=int, default=64, help="sender connections in the overload phase")
    parser.add_argument("--workload-dir", default="/tmp/glassbox-bench/overload-data")
    args = parser.parse_args()

    os.makedirs(args.workload_dir, exist_ok=True)
    batches = load_workload(args.traces, args.workload_dir)
    data_dir = tempfile.mkdtemp(prefix="glassbox-overload-")
    port = free_port()
    env = dict(os.environ,
               LANGFUSE_INIT_ORG_ID="overload-org", LANGFUSE_INIT_PROJECT_ID="overload",
               LANGFUSE_INIT_PROJECT_PUBLIC_KEY=PK, LANGFUSE_INIT_PROJECT_SECRET_KEY=SK)
    server = subprocess.Popen(
        [args.bin, "serve", "--port", str(port), "--data-dir", data_dir, "--no-otlp-grpc"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/public/health", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("glassbox did not start")
                time.sleep(0.05)
        idle_rss = rss_kib(server.pid)

        print(f"calibrating for {args.calibrate_seconds:.0f} s ...", file=sys.stderr)
        sustainable, used = calibrate(port, batches, args.calibrate_seconds)
        calibration_count = observation_count(port)
        target = sustainable * args.factor
        print(f"sustainable {sustainable:,.0f} spans/s; sending {target:,.0f} spans/s "
              f"for {args.seconds:.0f} s", file=sys.stderr)
        # The overload phase starts after the calibration's batches, so its spans are new
        # until the workload wraps around.
        (records, rss, stop_sampling, sampling, scheduled, late, send_seconds,
         started) = overload(port, server.pid, batches, used, target, args.seconds, args.pool)

        acked_batches = {index % len(batches) for _, status, _, index in records if status == 200}
        calibration_batches = {i % len(batches) for i in range(used)}
        expected_spans = sum(batches[i][1] for i in acked_batches | calibration_batches)
        visible_deadline = time.monotonic() + 120
        while True:
            count = observation_count(port)
            if count >= expected_spans or time.monotonic() > visible_deadline:
                break
            time.sleep(0.2)
        drain_seconds = time.monotonic() - started - send_seconds
        stop_sampling.set()
        sampling.join()
        final_rss = rss_kib(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        shutil.rmtree(data_dir, ignore_errors=True)

    per_second = {}
    for second, status, retry_after, _ in records:
        row = per_second.setdefault(second, {"sent": 0, "ok": 0, "refused": 0, "refused_without_retry_after": 0, "errors": 0})
        row["sent"] += 1
        if status == 200:
            row["ok"] += 1
        elif status in (429, 503):
            row["refused"] += 1
            if not retry_after:
                row["refused_without_retry_after"] += 1
        else:
            row["errors"] += 1
    rss_by_second = {}
    for at, kib in rss:
        if kib is not None:
            second = int(at)
            rss_by_second[second] = max(rss_by_second.get(second, 0), kib)
    statuses = {}
    for _, status, _, _ in records:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    spans_per_request = sum(n for _, n in batches) / len(batches)
    acked_spans = sum(1 for r in records if r[1] == 200) * spans_per_request
    result = {
        "binary": args.bin,
        "workload": {"traces": args.traces, "requests": len(batches), "spans_per_request": spans_per_request},
        "sustainable_spans_per_s": sustainable,
        "factor": args.factor,
        "offered_spans_per_s": scheduled * spans_per_request / send_seconds,
        "acknowledged_spans_per_s": acked_spans / send_seconds,
        "send_seconds": send_seconds,
        "requests_scheduled": scheduled,
        "requests_late": late,
        "statuses": statuses,
        "refused_without_retry_after": sum(r["refused_without_retry_after"] for r in per_second.values()),
        "idle_rss_mib": (idle_rss or 0) / 1024,
        "peak_rss_mib": max((kib for _, kib in rss if kib), default=0) / 1024,
        "final_rss_mib": (final_rss or 0) / 1024,
        "expected_visible_spans": expected_spans,
        "visible_spans": count,
        "calibration_visible_spans": calibration_count,
        "nothing_dropped": count == expected_spans,
        "drain_seconds": drain_seconds,
        "per_second": {str(k): v for k, v in sorted(per_second.items())},
        "rss_mib_by_second": {str(k): round(v / 1024, 1) for k, v in sorted(rss_by_second.items())},
    }
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out_dir = os.path.join(ROOT, "bench", "results")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, f"overload-{stamp}.json"), "w") as out:
        json.dump(result, out, indent=2)
    lines = [
        f"# Overload run {stamp}",
        "",
        f"- sustainable (closed loop, 4 connections): {sustainable:,.0f} spans/s",
        f"- offered: {result['offered_spans_per_s']:,.0f} spans/s ({args.factor:g}x) for {send_seconds:.0f} s"
        f" ({late} of {scheduled} requests found every connection busy)",
        f"- acknowledged: {result['acknowledged_spans_per_s']:,.0f} spans/s; answers {statuses}"
        f" ({result['refused_without_retry_after']} refusals without Retry-After)",
        f"- RSS idle {result['idle_rss_mib']:.1f} MiB, peak {result['peak_rss_mib']:.1f} MiB, "
        f"after drain {result['final_rss_mib']:.1f} MiB",
        f"- every acknowledged span readable: {result['nothing_dropped']} "
        f"({count:,} visible, {expected_spans:,} expected; drained {drain_seconds:.1f} s after the last send)",
        "",
        "| second | sent | 200 | 429/503 | errors | peak RSS MiB |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for second in sorted(set(per_second) | set(rss_by_second)):
        row = per_second.get(second, {"sent": 0, "ok": 0, "refused": 0, "errors": 0})
        rss_text = f"{rss_by_second[second] / 1024:.1f}" if second in rss_by_second else ""
        lines.append(f"| {second} | {row['sent']} | {row['ok']} | {row['refused']} | {row['errors']} | {rss_text} |")
    with open(os.path.join(out_dir, f"overload-{stamp}.md"), "w") as out:
        out.write("\n".join(lines) + "\n")
    print("\n".join(lines[:7]))
    print(f"wrote bench/results/overload-{stamp}.{{json,md}}")
    return 0 if result["nothing_dropped"] and result["refused_without_retry_after"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
