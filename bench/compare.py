#!/usr/bin/env python3
"""glassbox / Phoenix ratios from two result JSONs of the shared harness
(../shared/bench/run.sh).  Called by bench/run.sh; usable on its own:

  bench/compare.py --glassbox G.json --phoenix P.json --out bench/results/STAMP-1k

Writes OUT.json (both raw harness results + the extracted metrics + ratios) and
OUT.md (the ratio table, then the harness's own side-by-side table from its
report.py).  Ratio = glassbox / Phoenix; the "better" column says which
direction wins, and the last column turns each ratio into a factor >= 1:
"+F×" when glassbox is better by F, "−F×" when it is worse by F.

With --glassbox-postgres (the same workload on glassbox with DATABASE_URL), a second
table gives postgres / embedded ratios; the PostgreSQL run's bytes on disk are the
database's size (--postgres-db-bytes, pg_database_size) instead of the data dir's.
"""
import argparse
import json
import os
import subprocess
import sys

QUERIES = ["traces_list", "traces_list_page10", "trace_get", "observations_by_trace",
           "traces_by_user", "traces_by_session", "metrics_cost_by_model"]


def metrics(r):
    """Flat dict of the numbers issue 8 asks about, from one harness result."""
    i = r["ingest"]
    v = i["visibility"]
    spans = i["sent_spans_planned"]
    disk = r.get("disk_after_stop") or i.get("disk") or {}
    m = {
        "spans": spans,
        "send_spans_per_s": i["send"]["spans_per_s"],
        "e2e_spans_per_s": v["e2e_spans_per_s"],
        # the harness probes every 0.5 s after the last acknowledged request:
        # this is the ack->visible time of the last batch (an upper bound of
        # every batch's, to within one probe interval)
        "ack_to_visible_s": v["lag_after_send_s"],
        "missing_spans": v["missing_spans"],
        "failed_spans": i["send"]["failed_spans"],
        "request_p99_ms": i["send"]["latency_ms"]["p99"],
        "peak_rss_mb": max(i["resources"]["peak_rss_mb"] or 0, r["query"].get("peak_rss_mb") or 0),
        "peak_pss_mb": i["resources"].get("peak_pss_mb"),
        "idle_rss_mb": r.get("idle_rss_mb"),
        "startup_s": r.get("startup_s"),
        "disk_bytes": disk.get("allocated_bytes"),
        "disk_bytes_per_span": round(disk["allocated_bytes"] / spans, 1) if disk and spans else None,
        "dataset_bytes_per_span": i["dataset"]["avg_span_bytes"],
        "format": i["dataset"]["format"],
    }
    srv = sum(p["server_cpu_s"] for p in i["resources"]["phases"])
    wall = sum(p["wall_s"] for p in i["resources"]["phases"])
    m["ingest_server_cores"] = round(srv / wall, 2) if wall else None
    m["ingest_other_cores"] = round(sum(p["other_cores"] * p["wall_s"] for p in i["resources"]["phases"]) / wall, 2) if wall else None
    for q in QUERIES:
        x = r["query"]["queries"].get(q)
        ok = bool(x) and x.get("ok")
        m["%s_p50_ms" % q] = x["p50_ms"] if ok else None
        m["%s_p99_ms" % q] = x["p99_ms"] if ok else None
    return m


ROWS = [  # key, label, better
    ("e2e_spans_per_s", "ingest, end to end (sent until queryable), spans/s", "higher"),
    ("send_spans_per_s", "ingest, acknowledged, spans/s", "higher"),
    ("ack_to_visible_s", "last ack -> all visible, s", "lower"),
    ("peak_rss_mb", "peak RSS (ingest + queries), MB", "lower"),
    ("idle_rss_mb", "idle RSS after start, MB", "lower"),
    ("disk_bytes_per_span", "bytes on disk per span", "lower"),
    ("startup_s", "start-up until healthy, s", "lower"),
    ("ingest_server_cores", "server CPU during ingest, cores", "-"),
] + [(f"{q}_{p}_ms", f"{q} {p}, ms", "lower") for q in QUERIES for p in ("p50", "p99")]


PG_ROWS = [  # postgres / embedded: the numbers issue 9 asks about, then the rest
    ("e2e_spans_per_s", "ingest, end to end (sent until queryable), spans/s", "higher"),
    ("send_spans_per_s", "ingest, acknowledged, spans/s", "higher"),
    ("ack_to_visible_s", "last ack -> all visible, s", "lower"),
    ("request_p99_ms", "ingest request p99, ms", "lower"),
    ("peak_rss_mb", "peak RSS of the glassbox process (ingest + queries), MB", "lower"),
    ("idle_rss_mb", "idle RSS after start, MB", "lower"),
    ("disk_bytes_per_span", "bytes on disk per span (PostgreSQL: pg_database_size)", "lower"),
    ("startup_s", "start-up until healthy, s", "lower"),
    ("ingest_server_cores", "glassbox CPU during ingest, cores", "-"),
    ("ingest_other_cores", "other CPU during ingest (PostgreSQL's included), cores", "-"),
] + [(f"{q}_{p}_ms", f"{q} {p}, ms", "lower") for q in QUERIES for p in ("p50", "p99")]


def ratio(g, p):
    if g is None or p is None or p == 0:
        return None
    return g / p


def fmt(x):
    if x is None:
        return "-"
    if isinstance(x, float):
        if abs(x) >= 100:
            return "%.0f" % x
        if abs(x) >= 1:
            return "%.2f" % x
        return "%.3g" % x
    return str(x)


def ahead_cell(x):
    if not x:
        return "-"
    return ("+%s×" % fmt(x)) if x >= 1 else ("−%s×" % fmt(1 / x))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--glassbox")
    ap.add_argument("--phoenix")
    ap.add_argument("--glassbox-postgres", help="harness result of glassbox on PostgreSQL")
    ap.add_argument("--postgres-db-bytes", type=int, help="pg_database_size after the PostgreSQL run")
    ap.add_argument("--postgres-version", help="PostgreSQL server version and settings")
    ap.add_argument("--harness", help="shared harness dir (its report.py is appended)")
    ap.add_argument("--command", help="command line to record")
    ap.add_argument("--glassbox-version", help="e.g. binary --version + git revision")
    ap.add_argument("--out", required=True, help="output prefix")
    a = ap.parse_args()
    res = {}
    if a.glassbox:
        res["glassbox"] = json.load(open(a.glassbox))
    if a.phoenix:
        res["phoenix"] = json.load(open(a.phoenix))
    if a.glassbox_postgres:
        res["glassbox-postgres"] = json.load(open(a.glassbox_postgres))
        res["glassbox-postgres"]["versions"] = {"glassbox": a.glassbox_version,
                                                "postgresql": a.postgres_version}
    if not res:
        sys.exit("nothing to compare")
    if a.glassbox_version and "glassbox" in res:
        res["glassbox"]["versions"] = {"glassbox": a.glassbox_version}
    m = {k: metrics(v) for k, v in res.items()}
    if "glassbox-postgres" in m:
        pm = m["glassbox-postgres"]
        pm["data_dir_bytes"] = pm["disk_bytes"]
        pm["disk_source"] = "pg_database_size"
        pm["disk_bytes"] = a.postgres_db_bytes
        pm["disk_bytes_per_span"] = (round(a.postgres_db_bytes / pm["spans"], 1)
                                     if a.postgres_db_bytes and pm["spans"] else None)
    pg, emb = m.get("glassbox-postgres", {}), m.get("glassbox", {})
    pg_rows = []
    if pg and emb:
        for key, label, better in PG_ROWS:
            r = ratio(pg.get(key), emb.get(key))
            pg_rows.append({"metric": key, "label": label, "better": better,
                            "postgres": pg.get(key), "embedded": emb.get(key),
                            "ratio_postgres_over_embedded": r})
    g, p = m.get("glassbox", {}), m.get("phoenix", {})
    rows = []
    for key, label, better in ROWS:
        r = ratio(g.get(key), p.get(key))
        ahead = None
        if r and better == "higher":
            ahead = r
        elif r and better == "lower":
            ahead = 1 / r
        rows.append({"metric": key, "label": label, "better": better, "glassbox": g.get(key),
                     "phoenix": p.get(key), "ratio_glassbox_over_phoenix": r,
                     "glassbox_ahead_by": ahead})
    any_r = next(iter(res.values()))
    out = {
        "command": a.command,
        "traces": any_r["traces"],
        "spans": (g or p or pg)["spans"],
        "machine": any_r.get("machine"),
        "versions": {k: v.get("versions") for k, v in res.items()},
        "settings": {k: v.get("settings") for k, v in res.items()},
        "metrics": m, "ratios": rows,
        "postgres_over_embedded": pg_rows,
        "harness_results": {k: os.path.abspath(x) for k, x in (("glassbox", a.glassbox), ("phoenix", a.phoenix),
                                                               ("glassbox-postgres", a.glassbox_postgres)) if x},
        "raw": res,
    }
    with open(a.out + ".json", "w") as f:
        json.dump(out, f, indent=1)

    L = []
    L.append("## glassbox vs Arize Phoenix, %d traces (%d spans)\n" % (out["traces"], out["spans"]))
    if a.command:
        L.append("Command: `%s`  " % a.command)
    mach = out["machine"] or {}
    L.append("Machine: %s cores, %s, %s GiB; load before: %s  " % (
        mach.get("cpus"), mach.get("cpu_model"), mach.get("mem_gib"),
        "; ".join("%s %s" % (k, v.get("machine", {}).get("loadavg_before")) for k, v in res.items())))
    L.append("Versions: %s\n" % json.dumps(out["versions"]))
    L.append("| metric | better | glassbox | Phoenix | glassbox / Phoenix | glassbox ahead (+) / behind (−) by |")
    L.append("|---|---|---:|---:|---:|---:|")
    for r in (rows if g or p else []):
        L.append("| %s | %s | %s | %s | %s | %s |" % (
            r["label"], r["better"], fmt(r["glassbox"]), fmt(r["phoenix"]),
            fmt(r["ratio_glassbox_over_phoenix"]),
            ahead_cell(r["glassbox_ahead_by"])))
    L.append("")
    L.append("Formats: %s. Missing spans: %s. \"last ack -> all visible\" is the time from "
             "the last acknowledged request until the probe counts every span (first probe right after "
             "the last ack, then every 0.5 s)." % (
                 ", ".join("%s %s" % (k, v["format"]) for k, v in m.items()),
                 ", ".join("%s %s" % (k, v["missing_spans"]) for k, v in m.items())))
    L.append("")
    if pg_rows:
        L.append("## glassbox on PostgreSQL vs embedded (SQLite), same workload\n")
        L.append("PostgreSQL: %s. Bytes on disk for PostgreSQL: `pg_database_size` of the run's "
                 "fresh database (WAL not included); RSS and CPU columns are glassbox's process "
                 "tree only: PostgreSQL's backends count under \"other CPU\".\n" % (a.postgres_version or "?"))
        L.append("| metric | better | PostgreSQL | embedded | PostgreSQL / embedded |")
        L.append("|---|---|---:|---:|---:|")
        for r in pg_rows:
            L.append("| %s | %s | %s | %s | %s |" % (
                r["label"], r["better"], fmt(r["postgres"]), fmt(r["embedded"]),
                fmt(r["ratio_postgres_over_embedded"])))
        L.append("")
    if a.harness and os.path.exists(os.path.join(a.harness, "report.py")):
        paths = [x for x in (a.glassbox, a.glassbox_postgres, a.phoenix) if x]
        rep = subprocess.run([sys.executable, os.path.join(a.harness, "report.py")] + paths,
                             capture_output=True, text=True)
        L.append("### Harness report (report.py)\n")
        L.append(rep.stdout if rep.returncode == 0 else "report.py failed: " + rep.stderr[-500:])
    with open(a.out + ".md", "w") as f:
        f.write("\n".join(L) + "\n")


if __name__ == "__main__":
    main()
