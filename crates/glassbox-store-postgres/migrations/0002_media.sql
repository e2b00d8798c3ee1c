-- glassbox PostgreSQL schema (mirrors the embedded one), version 2: media records and blobs.
-- One record per (project, SHA-256 of the bytes): the same content uploaded twice shares
-- one record and one blob. The embedded backend keeps the bytes in files; here they live
-- in media_chunks, so every process sharing the database serves them.
-- uploaded_at is set by glassbox once the blob is committed; the reported_* and upload_*
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

-- The bytes of an uploaded record, in order: chunk_no 0, 1, ... each exactly 1 MiB but
-- the last (never empty), so equal bytes always make equal chunks. A blob is written and
-- replaced in one transaction: readers see the old chunks or the new ones, never a mix
-- of a partial upload.
CREATE TABLE media_chunks (
    project_id TEXT NOT NULL,
    media_id TEXT NOT NULL,
    chunk_no BIGINT NOT NULL,
    bytes BYTEA NOT NULL,
    PRIMARY KEY (project_id, media_id, chunk_no)
);
-- Media is mostly compressed already (images, audio): store out of line, uncompressed.
ALTER TABLE media_chunks ALTER COLUMN bytes SET STORAGE EXTERNAL;
