//! Media: records of uploaded blobs (images, audio, documents referenced from traces by
//! `@@@langfuseMedia:...|id=<mediaId>|...@@@` strings) and the blobs themselves.
//!
//! A record is content-addressed within its project: one record per (project, SHA-256),
//! so the same bytes sent twice share one record and one blob. The bytes are written
//! through [`MediaStore::store_media_blob`], which pulls them from a [`MediaSource`] and
//! makes them durable before marking the record uploaded: `uploaded_at` is set only when
//! the blob survives a crash.

use async_trait::async_trait;

use glassbox_model::{Micros, ProjectId};

use crate::StoreResult;

/// A new media record, as registered by `POST /api/public/media`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMedia {
    /// Derived from the hash by the caller (Langfuse: the first 22 characters of the
    /// URL-safe base64 SHA-256).
    pub id: String,
    /// Standard base64 of the SHA-256 of the bytes (44 characters).
    pub sha256_hash: String,
    pub content_type: String,
    pub content_length: u64,
    /// Secret that authorises the upload (and keys download signatures). Random.
    pub upload_token: String,
    pub created_at: Micros,
}

/// The client's report of its upload (`PATCH /api/public/media/{id}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaUploadReport {
    pub uploaded_at: Micros,
    pub http_status: i64,
    pub http_error: Option<String>,
    pub time_ms: Option<i64>,
}

/// A stored media record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRecord {
    pub id: String,
    pub sha256_hash: String,
    pub content_type: String,
    pub content_length: u64,
    pub upload_token: String,
    pub created_at: Micros,
    /// When the blob became durable in the store; `None` until then.
    pub uploaded_at: Option<Micros>,
    /// The last report of the client, if any.
    pub report: Option<MediaUploadReport>,
}

impl MediaRecord {
    pub fn is_uploaded(&self) -> bool {
        self.uploaded_at.is_some()
    }
}

/// Where the bytes of an upload come from (an HTTP request body). The source checks
/// what it hands out (length, hash): it returns `Ok(None)` only at the end of bytes it
/// has verified, and `Err(reason)` to abort, after which nothing is stored.
#[async_trait]
pub trait MediaSource: Send {
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, String>;
}

/// The blob of an uploaded record, read in chunks.
#[async_trait]
pub trait MediaBlobReader: Send {
    /// The next chunk, `None` at the end.
    async fn next_chunk(&mut self) -> StoreResult<Option<Vec<u8>>>;
}

/// What [`MediaStore::store_media_blob`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaUploadOutcome {
    /// The blob is durable and the record is marked uploaded (the record after the write).
    Stored(MediaRecord),
    /// No record with this id in the project: nothing was read or stored.
    UnknownMedia,
    /// The source aborted with this reason: nothing was stored and the record is as before.
    Rejected(String),
}

/// Media records and their blobs.
#[async_trait]
pub trait MediaStore: Send + Sync + 'static {
    /// Returns the project's record with `media.sha256_hash`, creating it from `media`
    /// when there is none. While an existing record is not uploaded yet, its content type
    /// and length are replaced by the new declaration (the latest registration wins
    /// until bytes arrive); its id and token are kept. An uploaded record is returned as
    /// is. A different hash under the same id is a [`crate::StoreError::Conflict`].
    async fn create_or_get_media(
        &self,
        project: &ProjectId,
        media: NewMedia,
    ) -> StoreResult<MediaRecord>;
    async fn get_media(
        &self,
        project: &ProjectId,
        media_id: &str,
    ) -> StoreResult<Option<MediaRecord>>;
    /// Records the client's upload report. Returns whether the record exists.
    async fn record_media_upload(
        &self,
        project: &ProjectId,
        media_id: &str,
        report: MediaUploadReport,
    ) -> StoreResult<bool>;
    /// Reads the source to its end and stores the bytes as the record's blob (replacing
    /// an earlier blob only once the new one is complete and durable), then marks the
    /// record uploaded (keeping the first `uploaded_at`).
    async fn store_media_blob(
        &self,
        project: &ProjectId,
        media_id: &str,
        source: &mut dyn MediaSource,
    ) -> StoreResult<MediaUploadOutcome>;
    /// The blob of an uploaded record; `None` when the record is unknown or not uploaded.
    async fn open_media_blob(
        &self,
        project: &ProjectId,
        media_id: &str,
    ) -> StoreResult<Option<Box<dyn MediaBlobReader>>>;
}
