-- glassbox embedded schema, version 20: payload addresses keyed by a project number
-- (issue 8: bytes on disk per span). Every part has an address row, and its project id
-- (TEXT, 13 bytes for the bench's, 25 for a Langfuse-style cuid) was the larger half of
-- the key. `payload_projects` numbers the projects that have payloads; a number is never
-- deleted, so never reused.
CREATE TABLE payload_projects (
    number INTEGER PRIMARY KEY,
    project_id TEXT NOT NULL UNIQUE
);
INSERT INTO payload_projects (project_id)
    SELECT project_id FROM payload_addresses
    UNION SELECT project_id FROM payload_recent_addresses
    UNION SELECT project_id FROM payload_dictionaries
    ORDER BY 1;

DROP VIEW payloads;

CREATE TABLE payload_addresses_numbered (
    project INTEGER NOT NULL,
    hash BLOB NOT NULL,
    part_id INTEGER NOT NULL,
    PRIMARY KEY (project, hash)
) WITHOUT ROWID;
INSERT INTO payload_addresses_numbered (project, hash, part_id)
    SELECT n.number, a.hash, a.part_id
    FROM payload_addresses a JOIN payload_projects n ON n.project_id = a.project_id
    ORDER BY n.number, a.hash;
DROP TABLE payload_addresses;
ALTER TABLE payload_addresses_numbered RENAME TO payload_addresses;

CREATE TABLE payload_recent_addresses_numbered (
    part_id INTEGER PRIMARY KEY,
    project INTEGER NOT NULL,
    hash BLOB NOT NULL
);
INSERT INTO payload_recent_addresses_numbered (part_id, project, hash)
    SELECT r.part_id, n.number, r.hash
    FROM payload_recent_addresses r JOIN payload_projects n ON n.project_id = r.project_id
    ORDER BY r.part_id;
DROP TABLE payload_recent_addresses;
ALTER TABLE payload_recent_addresses_numbered RENAME TO payload_recent_addresses;

CREATE VIEW payloads (project_id, hash, data) AS
    SELECT n.project_id, a.hash, p.data
    FROM payload_addresses a JOIN payload_projects n ON n.number = a.project
    JOIN payload_parts p ON p.id = a.part_id
    UNION ALL
    SELECT n.project_id, r.hash, p.data
    FROM payload_recent_addresses r JOIN payload_projects n ON n.number = r.project
    JOIN payload_parts p ON p.id = r.part_id;
