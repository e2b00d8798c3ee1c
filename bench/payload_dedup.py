#!/usr/bin/env python3
"""Dedup and compression of glassbox's content-addressed payloads (issue 8).

    bench/payload_dedup.py <data-dir>/glassbox.sqlite

Reassembles every trace/observation input, output and metadata from its manifest
(crates/glassbox-store-sqlite/src/payloads.rs) and prints their logical bytes, the distinct
payload bytes they reference (dedup ratio) and the stored bytes after compression. Read-only.
"""
import sqlite3, struct, sys
c = sqlite3.connect(sys.argv[1])
plen = {bytes(h): None for (h,) in c.execute("select hash from payloads")}
# logical lengths of parts. Codecs (payloads.rs): 0 raw, 1 raw deflate, 2 zstd frame,
# 3 8-byte dictionary hash + zstd frame; a zstd frame header carries its content size.
import zlib
def zstd_content_size(f):
    fhd = f[4]; fcs_flag = fhd >> 6; single = (fhd >> 5) & 1; did = fhd & 3
    i = 5 + (0 if single else 1) + (0, 1, 2, 4)[did]
    size = (1 if single else 0, 2, 4, 8)[fcs_flag]
    if size == 0: raise ValueError("zstd frame without content size")
    n = int.from_bytes(f[i:i+size], "little")
    return n + 256 if size == 2 else n
lengths = {}
codecs = {}
for h, d in c.execute("select hash, data from payloads"):
    d = bytes(d)
    codecs[d[0]] = codecs.get(d[0], 0) + 1
    if d[0] == 1: n = len(zlib.decompress(d[1:], -15))
    elif d[0] == 2: n = zstd_content_size(d[1:])
    elif d[0] == 3: n = zstd_content_size(d[9:])
    else: n = len(d) - 1
    lengths[bytes(h)] = n
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
names = {0: "raw", 1: "deflate", 2: "zstd", 3: "zstd+dictionary"}
print("payload parts by codec: " + ", ".join(f"{names.get(k, k)} {v:,}" for k, v in sorted(codecs.items())))
dicts = c.execute("select count(*), coalesce(sum(length(dict)), 0) from payload_dictionaries").fetchone() \
    if c.execute("select 1 from sqlite_master where name = 'payload_dictionaries'").fetchone() else (0, 0)
print(f"dictionaries: {dicts[0]} ({dicts[1]:,} bytes)")
print(f"payloads table: unique {sum(lengths.values()):,} bytes stored as {stored:,} (compression {sum(lengths.values())/stored:.2f}x)")
print(f"rows' logical bytes / stored payload bytes + inline = {total/(stored+inline):.2f}x")
