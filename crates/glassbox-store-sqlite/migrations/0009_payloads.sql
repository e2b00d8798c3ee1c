-- glassbox embedded schema, version 9: content-addressed payloads (issue 8).
-- Large JSON values of traces and observations (input, output, metadata) and of the
-- event log's bodies are stored once per project and content: `hash` is the first 16
-- bytes of the SHA-256 of the value's JSON text; `data` is a one-byte codec tag
-- (0 raw, 1 deflate) followed by the bytes. The columns that hold such a value keep a
-- BLOB manifest instead of the JSON text (see src/payloads.rs); a message array is split
-- into one payload per message, so a chat history re-sent on every call is stored once.
CREATE TABLE payloads (
    project_id TEXT NOT NULL,
    hash BLOB NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (project_id, hash)
);
