-- glassbox embedded schema, version 18: addresses of recently stored payload parts
-- (issue 8: ingest throughput). Inserting a content hash into `payload_addresses` writes
-- to a random leaf page, which every commit then copies to the WAL; a new part's address
-- is appended here instead (keyed by part id, so pages fill in order) and moved into
-- `payload_addresses` in key order once there are enough of them
-- (`recent_addresses.rs`). An address is in exactly one of the two tables.
CREATE TABLE payload_recent_addresses (
    part_id INTEGER PRIMARY KEY,
    project_id TEXT NOT NULL,
    hash BLOB NOT NULL
);
DROP VIEW payloads;
CREATE VIEW payloads (project_id, hash, data) AS
    SELECT a.project_id, a.hash, p.data
    FROM payload_addresses a JOIN payload_parts p ON p.id = a.part_id
    UNION ALL
    SELECT r.project_id, r.hash, p.data
    FROM payload_recent_addresses r JOIN payload_parts p ON p.id = r.part_id;
