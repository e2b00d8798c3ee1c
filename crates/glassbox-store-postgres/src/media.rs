//! Media records in `media` and their blobs in `media_chunks` (0002_media.sql), so
//! every process sharing the database can serve every blob.
//!
//! An upload streams the source into 1 MiB chunks inside one transaction that first
//! drops the record's earlier chunks and finally marks the record uploaded: until it
//! commits, readers see the earlier blob (or none); a rejected or failed upload rolls
//! back and leaves it. The transaction begins once the first chunk is full (or the
//! source ends), so a small upload holds no connection while its bytes arrive.
//! Concurrent uploads of one record wait for each other on an advisory lock. Chunk
//! boundaries depend only on the bytes, so a blob replaced by the same content (records
//! are content-addressed) reads the same at every chunk.
//! A reader fetches one chunk per query and holds no connection in between.

use async_trait::async_trait;
use sqlx::postgres::{PgPool, PgRow, Postgres};
use sqlx::{Row, Transaction};

use glassbox_model::ProjectId;
use glassbox_model::time::now_micros;
use glassbox_store::{
    MediaBlobReader, MediaRecord, MediaSource, MediaStore, MediaUploadOutcome, MediaUploadReport,
    NewMedia, StoreError, StoreResult,
};

use crate::{PgStore, internal};

/// Bytes per stored chunk (the last chunk of a blob may be shorter).
const CHUNK_BYTES: usize = 1024 * 1024;

/// The columns [`record_from_row`] reads, as a literal for `concat!`.
macro_rules! media_columns {
    () => {
        "id, sha256_hash, content_type, content_length, upload_token, created_at, uploaded_at, \
         reported_uploaded_at, upload_http_status, upload_http_error, upload_time_ms"
    };
}

fn record_from_row(row: &PgRow) -> StoreResult<MediaRecord> {
    let length: i64 = row.try_get("content_length").map_err(internal)?;
    let reported_at: Option<i64> = row.try_get("reported_uploaded_at").map_err(internal)?;
    let status: Option<i64> = row.try_get("upload_http_status").map_err(internal)?;
    let report = match (reported_at, status) {
        (Some(uploaded_at), Some(http_status)) => Some(MediaUploadReport {
            uploaded_at,
            http_status,
            http_error: row.try_get("upload_http_error").map_err(internal)?,
            time_ms: row.try_get("upload_time_ms").map_err(internal)?,
        }),
        _ => None,
    };
    Ok(MediaRecord {
        id: row.try_get("id").map_err(internal)?,
        sha256_hash: row.try_get("sha256_hash").map_err(internal)?,
        content_type: row.try_get("content_type").map_err(internal)?,
        content_length: u64::try_from(length).map_err(|_| {
            StoreError::Internal(format!("stored media length {length} is negative"))
        })?,
        upload_token: row.try_get("upload_token").map_err(internal)?,
        created_at: row.try_get("created_at").map_err(internal)?,
        uploaded_at: row.try_get("uploaded_at").map_err(internal)?,
        report,
    })
}

fn length_to_sql(length: u64) -> StoreResult<i64> {
    i64::try_from(length).map_err(|_| StoreError::Conflict("content length is too large".into()))
}

async fn select_by_id<'e, E>(
    executor: E,
    project: &ProjectId,
    media_id: &str,
) -> StoreResult<Option<MediaRecord>>
where
    E: sqlx::PgExecutor<'e>,
{
    let row = sqlx::query(concat!(
        "SELECT ",
        media_columns!(),
        " FROM media WHERE project_id = $1 AND id = $2"
    ))
    .bind(project.as_str())
    .bind(media_id)
    .fetch_optional(executor)
    .await
    .map_err(internal)?;
    row.as_ref().map(record_from_row).transpose()
}

/// Writes the chunks of one upload, each exactly [`CHUNK_BYTES`] but the last. The
/// transaction starts with the first full chunk (or at the end), so an upload that fits
/// in one chunk holds no connection while its bytes arrive.
struct ChunkWriter<'a> {
    pool: &'a PgPool,
    project: &'a ProjectId,
    media_id: &'a str,
    tx: Option<Transaction<'static, Postgres>>,
    buffer: Vec<u8>,
    next_chunk: i64,
}

impl<'a> ChunkWriter<'a> {
    fn new(pool: &'a PgPool, project: &'a ProjectId, media_id: &'a str) -> ChunkWriter<'a> {
        ChunkWriter {
            pool,
            project,
            media_id,
            tx: None,
            buffer: Vec::with_capacity(CHUNK_BYTES),
            next_chunk: 0,
        }
    }

    async fn push(&mut self, mut bytes: &[u8]) -> StoreResult<()> {
        while !bytes.is_empty() {
            let room = CHUNK_BYTES - self.buffer.len();
            let (now, later) = bytes.split_at(room.min(bytes.len()));
            self.buffer.extend_from_slice(now);
            bytes = later;
            if self.buffer.len() == CHUNK_BYTES {
                self.flush().await?;
            }
        }
        Ok(())
    }

    /// The upload's transaction: begun on first use, when it takes the record's upload
    /// lock and drops the earlier chunks (invisible to readers until commit).
    async fn tx(&mut self) -> StoreResult<&mut Transaction<'static, Postgres>> {
        let tx = match self.tx.take() {
            Some(tx) => tx,
            None => {
                let mut tx = self.pool.begin().await.map_err(internal)?;
                // One upload of a record at a time (any process), until commit or rollback.
                sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2, 2))")
                    .bind(self.project.as_str())
                    .bind(self.media_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(internal)?;
                sqlx::query("DELETE FROM media_chunks WHERE project_id = $1 AND media_id = $2")
                    .bind(self.project.as_str())
                    .bind(self.media_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(internal)?;
                tx
            }
        };
        Ok(self.tx.insert(tx))
    }

    async fn flush(&mut self) -> StoreResult<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let (project, media_id, chunk_no) = (self.project, self.media_id, self.next_chunk);
        let bytes = std::mem::take(&mut self.buffer);
        sqlx::query(
            "INSERT INTO media_chunks (project_id, media_id, chunk_no, bytes) VALUES ($1, $2, $3, $4)",
        )
        .bind(project.as_str())
        .bind(media_id)
        .bind(chunk_no)
        .bind(bytes.as_slice())
        .execute(&mut **self.tx().await?)
        .await
        .map_err(internal)?;
        self.buffer = bytes;
        self.buffer.clear();
        self.next_chunk += 1;
        Ok(())
    }

    /// Writes the last chunk, marks the record uploaded (keeping the first time) and
    /// commits. `None` when the record is gone (nothing is stored then).
    async fn finish(mut self) -> StoreResult<Option<MediaRecord>> {
        self.flush().await?;
        let (project, media_id) = (self.project, self.media_id);
        let tx = self.tx().await?;
        let stored = sqlx::query(concat!(
            "UPDATE media SET uploaded_at = COALESCE(uploaded_at, $3) \
             WHERE project_id = $1 AND id = $2 RETURNING ",
            media_columns!()
        ))
        .bind(project.as_str())
        .bind(media_id)
        .bind(now_micros())
        .fetch_optional(&mut **tx)
        .await
        .map_err(internal)?;
        let Some(row) = stored else {
            return Ok(None);
        };
        let record = record_from_row(&row)?;
        if let Some(tx) = self.tx.take() {
            tx.commit().await.map_err(internal)?;
        }
        Ok(Some(record))
    }
}

/// Reads a blob one chunk (one query) at a time.
struct ChunkReader {
    pool: PgPool,
    project: ProjectId,
    media_id: String,
    next_chunk: i64,
    /// Chunks the blob had when it was opened.
    chunks: i64,
}

#[async_trait]
impl MediaBlobReader for ChunkReader {
    async fn next_chunk(&mut self) -> StoreResult<Option<Vec<u8>>> {
        if self.next_chunk >= self.chunks {
            return Ok(None);
        }
        let bytes: Option<Vec<u8>> = sqlx::query_scalar(
            "SELECT bytes FROM media_chunks WHERE project_id = $1 AND media_id = $2 AND chunk_no = $3",
        )
        .bind(self.project.as_str())
        .bind(&self.media_id)
        .bind(self.next_chunk)
        .fetch_optional(&self.pool)
        .await
        .map_err(internal)?;
        let Some(bytes) = bytes else {
            return Err(StoreError::Internal(format!(
                "chunk {} of media `{}` is missing",
                self.next_chunk, self.media_id
            )));
        };
        self.next_chunk += 1;
        Ok(Some(bytes))
    }
}

#[async_trait]
impl MediaStore for PgStore {
    async fn create_or_get_media(
        &self,
        project: &ProjectId,
        media: NewMedia,
    ) -> StoreResult<MediaRecord> {
        let length = length_to_sql(media.content_length)?;
        // A new record, unless its id or its hash is taken (a concurrent insert of either
        // is waited for, so the statements below see it).
        let inserted = sqlx::query(concat!(
            "INSERT INTO media (project_id, id, sha256_hash, content_type, content_length, \
             upload_token, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT DO NOTHING RETURNING ",
            media_columns!()
        ))
        .bind(project.as_str())
        .bind(&media.id)
        .bind(&media.sha256_hash)
        .bind(&media.content_type)
        .bind(length)
        .bind(&media.upload_token)
        .bind(media.created_at)
        .fetch_optional(&self.pool)
        .await
        .map_err(internal)?;
        if let Some(row) = inserted {
            return record_from_row(&row);
        }
        // The record of this hash while it awaits its bytes: the latest declaration wins.
        let redeclared = sqlx::query(concat!(
            "UPDATE media SET content_type = $3, content_length = $4 \
             WHERE project_id = $1 AND sha256_hash = $2 AND uploaded_at IS NULL \
             AND (content_type <> $3 OR content_length <> $4) RETURNING ",
            media_columns!()
        ))
        .bind(project.as_str())
        .bind(&media.sha256_hash)
        .bind(&media.content_type)
        .bind(length)
        .fetch_optional(&self.pool)
        .await
        .map_err(internal)?;
        if let Some(row) = redeclared {
            return record_from_row(&row);
        }
        let existing = sqlx::query(concat!(
            "SELECT ",
            media_columns!(),
            " FROM media WHERE project_id = $1 AND sha256_hash = $2"
        ))
        .bind(project.as_str())
        .bind(&media.sha256_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(internal)?;
        match existing {
            Some(row) => record_from_row(&row),
            None => Err(StoreError::Conflict(format!(
                "media `{}` exists with a different hash",
                media.id
            ))),
        }
    }

    async fn get_media(
        &self,
        project: &ProjectId,
        media_id: &str,
    ) -> StoreResult<Option<MediaRecord>> {
        select_by_id(&self.pool, project, media_id).await
    }

    async fn record_media_upload(
        &self,
        project: &ProjectId,
        media_id: &str,
        report: MediaUploadReport,
    ) -> StoreResult<bool> {
        let updated = sqlx::query(
            "UPDATE media SET reported_uploaded_at = $3, upload_http_status = $4, \
             upload_http_error = $5, upload_time_ms = $6 WHERE project_id = $1 AND id = $2",
        )
        .bind(project.as_str())
        .bind(media_id)
        .bind(report.uploaded_at)
        .bind(report.http_status)
        .bind(&report.http_error)
        .bind(report.time_ms)
        .execute(&self.pool)
        .await
        .map_err(internal)?;
        Ok(updated.rows_affected() > 0)
    }

    async fn store_media_blob(
        &self,
        project: &ProjectId,
        media_id: &str,
        source: &mut dyn MediaSource,
    ) -> StoreResult<MediaUploadOutcome> {
        if select_by_id(&self.pool, project, media_id).await?.is_none() {
            return Ok(MediaUploadOutcome::UnknownMedia);
        }
        let mut writer = ChunkWriter::new(&self.pool, project, media_id);
        loop {
            match source.next_chunk().await {
                Ok(Some(bytes)) => writer.push(&bytes).await?,
                Ok(None) => break,
                // Dropping the writer rolls its transaction back: the earlier blob stays.
                Err(reason) => return Ok(MediaUploadOutcome::Rejected(reason)),
            }
        }
        Ok(match writer.finish().await? {
            Some(record) => MediaUploadOutcome::Stored(record),
            None => MediaUploadOutcome::UnknownMedia,
        })
    }

    async fn open_media_blob(
        &self,
        project: &ProjectId,
        media_id: &str,
    ) -> StoreResult<Option<Box<dyn MediaBlobReader>>> {
        let Some(record) = self.get_media(project, media_id).await? else {
            return Ok(None);
        };
        if !record.is_uploaded() {
            return Ok(None);
        }
        let chunks: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM media_chunks WHERE project_id = $1 AND media_id = $2",
        )
        .bind(project.as_str())
        .bind(media_id)
        .fetch_one(&self.pool)
        .await
        .map_err(internal)?;
        if chunks == 0 && record.content_length > 0 {
            return Err(StoreError::Internal(format!(
                "the blob of uploaded media `{}` is missing",
                record.id
            )));
        }
        Ok(Some(Box::new(ChunkReader {
            pool: self.pool.clone(),
            project: project.clone(),
            media_id: record.id,
            next_chunk: 0,
            chunks,
        })))
    }
}

#[cfg(test)]
#[path = "media_tests.rs"]
mod tests;
