#!/usr/bin/env python3
"""Latency of the trace list filtered by user and by session (100 random ids each) on a
running glassbox that holds a bench/run.sh dataset: python3 bench/tools/trace_lookup_latency.py PORT
(manifest path below: the 125k-trace dataset of bench/run.sh --traces 125000)."""
import json, time, urllib.parse, urllib.request, base64, random, statistics, sys
port = int(sys.argv[1])
m = json.load(open('/tmp/glassbox-bench/data-2026-11-27/langfuse-s42-125000.manifest.json'))
auth = "Basic " + base64.b64encode(b"pk-lf-bench:sk-lf-bench").decode()
def t(path):
    r = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": auth})
    s = time.perf_counter(); body = urllib.request.urlopen(r).read(); return (time.perf_counter()-s)*1000, json.loads(body)
rng = random.Random(1)

users = list(m["users"]); sessions = m.get("sessions") or m.get("session_ids")
for name, pool, param in (("user", users, "userId"), ("session", sessions, "sessionId")):
    lat = []
    for _ in range(100):
        v = rng.choice(pool)
        ms, body = t(f"/api/public/traces?page=1&limit=50&{param}={urllib.parse.quote(str(v))}")
        lat.append(ms)
    lat.sort(); print(name, "p50 %.1f p95 %.1f p99 %.1f max %.1f" % (lat[49], lat[94], lat[98], lat[-1]), "items", len(body["data"]))
