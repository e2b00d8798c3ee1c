#!/usr/bin/env python3
"""Dedup and compression of glassbox's content-addressed payloads (issue 8).

    bench/payload_dedup.py <data-dir>/glassbox.sqlite

Reassembles every trace/observation input, output and metadata from its manifest
(crates/glassbox-store-sqlite/src/payloads.rs) and prints their logical bytes, the distinct
payload bytes they reference (dedup ratio) and the stored bytes after deflate. Read-only.
"""
import sqlite3, struct, sys
c = sqlite3.connect(sys.argv[1])
plen = {bytes(h): None for (h,) in c.execute("select hash from payloads")}
# logical lengths of parts: decompress lazily
import zlib
lengths = {}
for h, d in c.execute("select hash, data from payloads"):
    d = bytes(d)
    lengths[bytes(h)] = len(zlib.decompress(d[1:], -15)) if d[0] == 1 else len(d) - 1
stored = c.execute("select sum(length(data)) from payloads").fetchone()[0]
def logical(v):
    if v is None: return 0, set()
    if isinstance(v, str): return len(v.encode()), set()
    v = bytes(v); tag = v[0]; i = 1; n = 0; parts = 0; used = set()
    while i < len(v):
        k = v[i]; i += 1
        if k == ord('i'):
            l = struct.unpack('<I', v[i:i+4])[0]; n += l; i += 4 + l
        else:
            h = v[i:i+16]; n += lengths[h]; used.add(h); i += 16
        parts += 1
    if tag == ord('A'): n += 2 + max(parts - 1, 0)
    return n, used
total = 0; inline = 0; used = set()
for table in ("observations", "traces"):
    for row in c.execute(f"select metadata, input, output from {table}"):
        for v in row:
            n, u = logical(v); total += n; used |= u
            if isinstance(v, str): inline += n
unique = sum(lengths[h] for h in used)
print(f"rows: logical JSON bytes of input/output/metadata = {total:,} (of which inline text {inline:,})")
print(f"payload parts they reference: logical {total-inline:,} -> unique {unique:,}: dedup {(total-inline)/unique:.2f}x")
print(f"payloads table: unique {sum(lengths.values()):,} bytes stored as {stored:,} (deflate {sum(lengths.values())/stored:.2f}x)")
print(f"rows' logical bytes / stored payload bytes + inline = {total/(stored+inline):.2f}x")
