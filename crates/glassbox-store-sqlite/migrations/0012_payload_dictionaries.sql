-- glassbox embedded schema, version 12: per-project zstd dictionaries of payload parts
-- (issue 8; see src/payload_dictionaries.rs). `hash` is the first 8 bytes of the
-- SHA-256 of `dict` and names it in the payloads compressed with it (codec 3);
-- `samples` holds the 16-byte addresses of the payload parts it was trained on, so a
-- delete that removes one of them retires the dictionary.
CREATE TABLE payload_dictionaries (
    project_id TEXT NOT NULL,
    hash BLOB NOT NULL,
    dict BLOB NOT NULL,
    samples BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (project_id, hash)
);
