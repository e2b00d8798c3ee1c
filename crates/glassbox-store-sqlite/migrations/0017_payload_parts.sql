-- glassbox embedded schema, version 17: payload parts apart from their addresses (issue
-- 8: bytes on disk per span). `payloads` kept each part's project and address twice, in
-- the row and in its primary-key index; now the bytes are rows of `payload_parts`, keyed
-- by a rowid alone, and `payload_addresses` maps (project, address) to them. Manifests
-- still name parts by address, so a part can move (re-encoding deletes and inserts it)
-- by updating its address's `part_id`. Part ids are internal: they may be reused once
-- no address names them. The view `payloads` shows the old shape, for inspection.
CREATE TABLE payload_parts (
    id INTEGER PRIMARY KEY,
    data BLOB NOT NULL
);
CREATE TABLE payload_addresses (
    project_id TEXT NOT NULL,
    hash BLOB NOT NULL,
    part_id INTEGER NOT NULL,
    PRIMARY KEY (project_id, hash)
) WITHOUT ROWID;
INSERT INTO payload_parts (id, data) SELECT rowid, data FROM payloads ORDER BY rowid;
INSERT INTO payload_addresses (project_id, hash, part_id) SELECT project_id, hash, rowid FROM payloads;
DROP TABLE payloads;
CREATE VIEW payloads (project_id, hash, data) AS
    SELECT a.project_id, a.hash, p.data
    FROM payload_addresses a JOIN payload_parts p ON p.id = a.part_id;
