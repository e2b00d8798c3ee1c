-- glassbox PostgreSQL schema (mirrors the embedded one), version 2: media records.
-- One record per (project, SHA-256 of the bytes): the same content uploaded twice shares
-- one record and one blob. The bytes live in <data-dir>/media/<project>/<id>, not here.
-- uploaded_at is set by glassbox once the blob is durable; the reported_* and upload_*
-- columns hold what the client last reported (PATCH /api/public/media/{id}).

CREATE TABLE media (
    project_id TEXT NOT NULL,
    id TEXT NOT NULL,
    sha256_hash TEXT NOT NULL,
    content_type TEXT NOT NULL,
    content_length BIGINT NOT NULL,
    -- Random secret that authorises the upload and keys download URL signatures.
    upload_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    uploaded_at BIGINT,
    reported_uploaded_at BIGINT,
    upload_http_status BIGINT,
    upload_http_error TEXT,
    upload_time_ms BIGINT,
    PRIMARY KEY (project_id, id),
    UNIQUE (project_id, sha256_hash)
);
