//! Media records in the `media` table, blobs as files under
//! `<data-dir>/media/<project>/<media-id>`.
//!
//! A blob is written to a temporary file in its final directory, fsynced, renamed over
//! the final name, and the directory fsynced; only then is the record marked uploaded.
//! So an upload that was answered 2xx survives a crash, and a reader never sees a
//! partial file. All file IO runs in tokio's blocking pool.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};
use sha2::{Digest, Sha256};

use glassbox_model::ProjectId;
use glassbox_model::time::now_micros;
use glassbox_store::{
    MediaBlobReader, MediaRecord, MediaSource, MediaStore, MediaUploadOutcome, MediaUploadReport,
    NewMedia, StoreError, StoreResult,
};

use crate::SqliteStore;
use crate::connection::internal;
use crate::sql::execute_changes_any;

/// Name of the blob directory inside the data directory.
pub const MEDIA_DIR: &str = "media";
/// Bytes gathered before one write to the temporary file.
const WRITE_BUFFER: usize = 1024 * 1024;
/// Bytes per chunk when reading a blob.
const READ_CHUNK: usize = 256 * 1024;
/// Temporary files older than this are leftovers of a crash and removed at start-up.
const STALE_TEMP_AGE: Duration = Duration::from_secs(3_600);
/// Longest directory name used as is; longer project ids are hashed.
const MAX_DIR_NAME: usize = 200;

const COLUMNS: &str = "id, sha256_hash, content_type, content_length, upload_token, created_at, \
     uploaded_at, reported_uploaded_at, upload_http_status, upload_http_error, upload_time_ms";

fn record_from_row(row: &Row<'_>) -> rusqlite::Result<MediaRecord> {
    let length: i64 = row.get(3)?;
    let reported_at: Option<i64> = row.get(7)?;
    let status: Option<i64> = row.get(8)?;
    let report = match (reported_at, status) {
        (Some(uploaded_at), Some(http_status)) => Some(MediaUploadReport {
            uploaded_at,
            http_status,
            http_error: row.get(9)?,
            time_ms: row.get(10)?,
        }),
        _ => None,
    };
    Ok(MediaRecord {
        id: row.get(0)?,
        sha256_hash: row.get(1)?,
        content_type: row.get(2)?,
        content_length: u64::try_from(length).unwrap_or(0),
        upload_token: row.get(4)?,
        created_at: row.get(5)?,
        uploaded_at: row.get(6)?,
        report,
    })
}

fn select_by_id(
    connection: &Connection,
    project: &str,
    media_id: &str,
) -> StoreResult<Option<MediaRecord>> {
    connection
        .query_row(
            &format!("SELECT {COLUMNS} FROM media WHERE project_id = ?1 AND id = ?2"),
            params![project, media_id],
            record_from_row,
        )
        .optional()
        .map_err(internal)
}

fn length_to_sql(length: u64) -> StoreResult<i64> {
    i64::try_from(length).map_err(|_| StoreError::Conflict("content length is too large".into()))
}

/// The directory name of a project: the id itself when it only has `[A-Za-z0-9_-]`,
/// otherwise every other byte percent-encoded (so `.`, `/` and `%` never reach the file
/// system and distinct ids stay distinct). Very long ids become `~<sha256 hex>`; `~`
/// never appears in an encoded name.
pub(crate) fn project_dir_name(project: &str) -> String {
    let mut name = String::with_capacity(project.len());
    for byte in project.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' {
            name.push(char::from(byte));
        } else {
            name.push_str(&format!("%{byte:02X}"));
        }
    }
    if name.is_empty() || name.len() > MAX_DIR_NAME {
        let digest = Sha256::digest(project.as_bytes());
        name = std::iter::once("~".to_owned())
            .chain(digest.iter().map(|byte| format!("{byte:02x}")))
            .collect();
    }
    name
}

/// Media ids come from the store, but the file name must never leave its directory.
fn safe_file_name(media_id: &str) -> StoreResult<&str> {
    let safe = !media_id.is_empty()
        && media_id.len() <= MAX_DIR_NAME
        && media_id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
    if safe {
        Ok(media_id)
    } else {
        Err(StoreError::Internal(format!(
            "media id `{media_id}` is not a safe file name"
        )))
    }
}

fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Fsyncs a directory so that entries created or renamed in it are durable.
fn sync_dir(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        File::open(path)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
    }
}

/// Creates the media directory at start-up (durably) and removes temporary files that
/// a crash left behind. Runs before the store serves anything.
pub(crate) fn prepare_media_dir(data_dir: &Path) -> Result<PathBuf, String> {
    let media_dir = data_dir.join(MEDIA_DIR);
    if !media_dir.is_dir() {
        std::fs::create_dir_all(&media_dir)
            .and_then(|()| sync_dir(data_dir))
            .map_err(|error| format!("creating {}: {error}", media_dir.display()))?;
    }
    let projects = std::fs::read_dir(&media_dir)
        .map_err(|error| format!("reading {}: {error}", media_dir.display()))?;
    for project_dir in projects.flatten() {
        let Ok(entries) = std::fs::read_dir(project_dir.path()) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if !(name.starts_with('.') && name.ends_with(".tmp")) {
                continue;
            }
            let stale = entry
                .metadata()
                .and_then(|metadata| metadata.modified())
                .ok()
                .and_then(|modified| modified.elapsed().ok())
                .is_some_and(|age| age > STALE_TEMP_AGE);
            if stale && let Err(error) = std::fs::remove_file(entry.path()) {
                tracing::warn!(%error, path = %entry.path().display(), "could not remove a stale media upload");
            }
        }
    }
    Ok(media_dir)
}

async fn blocking<T, F>(work: F) -> StoreResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> std::io::Result<T> + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(internal)?
        .map_err(|error| StoreError::Internal(format!("media file: {error}")))
}

/// A temporary file being filled. Removed unless [`TempBlob::commit`] succeeds, also
/// when the upload future is dropped half-way (the client went away).
struct TempBlob {
    file: Option<File>,
    /// `None` once committed or removed.
    path: Option<PathBuf>,
    buffer: Vec<u8>,
}

impl TempBlob {
    async fn create(dir: PathBuf, media_dir: PathBuf, media_id: &str) -> StoreResult<TempBlob> {
        let path = dir.join(format!(".{media_id}.{}.tmp", unique_suffix()));
        let temp_path = path.clone();
        let file = blocking(move || {
            if !dir.is_dir() {
                std::fs::create_dir_all(&dir)?;
                sync_dir(&media_dir)?;
            }
            File::create_new(&temp_path)
        })
        .await?;
        Ok(TempBlob {
            file: Some(file),
            path: Some(path),
            buffer: Vec::with_capacity(WRITE_BUFFER),
        })
    }

    async fn flush(&mut self) -> StoreResult<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let mut file = self.file.take().ok_or_else(|| internal("file is gone"))?;
        let buffer = std::mem::take(&mut self.buffer);
        let (file, mut buffer) = blocking(move || {
            file.write_all(&buffer)?;
            Ok((file, buffer))
        })
        .await?;
        buffer.clear();
        self.file = Some(file);
        self.buffer = buffer;
        Ok(())
    }

    async fn push(&mut self, chunk: &[u8]) -> StoreResult<()> {
        self.buffer.extend_from_slice(chunk);
        if self.buffer.len() >= WRITE_BUFFER {
            self.flush().await?;
        }
        Ok(())
    }

    /// Fsyncs the file, renames it to `target` and fsyncs the directory. On failure the
    /// temporary file is removed (by `Drop`).
    async fn commit(mut self, target: PathBuf) -> StoreResult<()> {
        self.flush().await?;
        let file = self.file.take().ok_or_else(|| internal("file is gone"))?;
        let path = self.path.clone().ok_or_else(|| internal("path is gone"))?;
        blocking(move || {
            file.sync_all()?;
            drop(file);
            std::fs::rename(&path, &target)?;
            match target.parent() {
                Some(dir) => sync_dir(dir),
                None => Ok(()),
            }
        })
        .await?;
        self.path = None;
        Ok(())
    }
}

impl Drop for TempBlob {
    fn drop(&mut self) {
        let file = self.file.take();
        let Some(path) = self.path.take() else {
            return;
        };
        let remove = move || {
            drop(file);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => {
                    tracing::warn!(%error, path = %path.display(), "could not remove an unfinished media upload");
                }
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(remove)),
            Err(_) => remove(),
        }
    }
}

struct FileBlobReader {
    file: Option<File>,
}

#[async_trait]
impl MediaBlobReader for FileBlobReader {
    async fn next_chunk(&mut self) -> StoreResult<Option<Vec<u8>>> {
        let Some(mut file) = self.file.take() else {
            return Ok(None);
        };
        let (file, chunk) = blocking(move || {
            let mut chunk = vec![0; READ_CHUNK];
            let mut filled = 0;
            while filled < chunk.len() {
                match file.read(&mut chunk[filled..]) {
                    Ok(0) => break,
                    Ok(read) => filled += read,
                    Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(error) => return Err(error),
                }
            }
            chunk.truncate(filled);
            Ok((file, chunk))
        })
        .await?;
        if chunk.is_empty() {
            return Ok(None);
        }
        self.file = Some(file);
        Ok(Some(chunk))
    }
}

impl SqliteStore {
    fn media_project_dir(&self, project: &ProjectId) -> PathBuf {
        self.media_dir.join(project_dir_name(project.as_str()))
    }
}

#[async_trait]
impl MediaStore for SqliteStore {
    async fn create_or_get_media(
        &self,
        project: &ProjectId,
        media: NewMedia,
    ) -> StoreResult<MediaRecord> {
        let project = project.clone();
        let length = length_to_sql(media.content_length)?;
        self.writer
            .write(move |connection| {
                let existing = connection
                    .query_row(
                        &format!(
                            "SELECT {COLUMNS} FROM media WHERE project_id = ?1 AND sha256_hash = ?2"
                        ),
                        params![project.as_str(), media.sha256_hash],
                        record_from_row,
                    )
                    .optional()
                    .map_err(internal)?;
                if let Some(mut record) = existing {
                    let redeclared = record.content_type != media.content_type
                        || record.content_length != media.content_length;
                    if !record.is_uploaded() && redeclared {
                        connection
                            .execute(
                                "UPDATE media SET content_type = ?3, content_length = ?4 \
                                 WHERE project_id = ?1 AND id = ?2",
                                params![project.as_str(), record.id, media.content_type, length],
                            )
                            .map_err(internal)?;
                        record.content_type = media.content_type;
                        record.content_length = media.content_length;
                    }
                    return Ok(record);
                }
                if select_by_id(connection, project.as_str(), &media.id)?.is_some() {
                    return Err(StoreError::Conflict(format!(
                        "media `{}` exists with a different hash",
                        media.id
                    )));
                }
                connection
                    .execute(
                        "INSERT INTO media (project_id, id, sha256_hash, content_type, content_length, \
                         upload_token, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                        params![
                            project.as_str(),
                            media.id,
                            media.sha256_hash,
                            media.content_type,
                            length,
                            media.upload_token,
                            media.created_at
                        ],
                    )
                    .map_err(internal)?;
                Ok(MediaRecord {
                    id: media.id,
                    sha256_hash: media.sha256_hash,
                    content_type: media.content_type,
                    content_length: media.content_length,
                    upload_token: media.upload_token,
                    created_at: media.created_at,
                    uploaded_at: None,
                    report: None,
                })
            })
            .await
    }

    async fn get_media(
        &self,
        project: &ProjectId,
        media_id: &str,
    ) -> StoreResult<Option<MediaRecord>> {
        let (project, media_id) = (project.clone(), media_id.to_owned());
        self.readers
            .read(move |connection| select_by_id(connection, project.as_str(), &media_id))
            .await
    }

    async fn record_media_upload(
        &self,
        project: &ProjectId,
        media_id: &str,
        report: MediaUploadReport,
    ) -> StoreResult<bool> {
        let (project, media_id) = (project.clone(), media_id.to_owned());
        self.writer
            .write(move |connection| {
                execute_changes_any(
                    connection,
                    "UPDATE media SET reported_uploaded_at = ?3, upload_http_status = ?4, \
                         upload_http_error = ?5, upload_time_ms = ?6 \
                         WHERE project_id = ?1 AND id = ?2",
                    params![
                        project.as_str(),
                        media_id,
                        report.uploaded_at,
                        report.http_status,
                        report.http_error,
                        report.time_ms
                    ],
                )
            })
            .await
    }

    async fn store_media_blob(
        &self,
        project: &ProjectId,
        media_id: &str,
        source: &mut dyn MediaSource,
    ) -> StoreResult<MediaUploadOutcome> {
        if self.get_media(project, media_id).await?.is_none() {
            return Ok(MediaUploadOutcome::UnknownMedia);
        }
        let file_name = safe_file_name(media_id)?;
        let dir = self.media_project_dir(project);
        let target = dir.join(file_name);
        let mut temp = TempBlob::create(dir, self.media_dir.clone(), file_name).await?;
        loop {
            let step = match source.next_chunk().await {
                Ok(Some(chunk)) => temp.push(&chunk).await.map(|()| true),
                Ok(None) => Ok(false),
                Err(reason) => return Ok(MediaUploadOutcome::Rejected(reason)),
            };
            match step {
                Ok(true) => {}
                Ok(false) => break,
                Err(error) => return Err(error),
            }
        }
        temp.commit(target).await?;
        let (project, media_id) = (project.clone(), media_id.to_owned());
        let now = now_micros();
        let stored = self
            .writer
            .write(move |connection| {
                connection
                    .execute(
                        "UPDATE media SET uploaded_at = COALESCE(uploaded_at, ?3) \
                         WHERE project_id = ?1 AND id = ?2",
                        params![project.as_str(), media_id, now],
                    )
                    .map_err(internal)?;
                select_by_id(connection, project.as_str(), &media_id)
            })
            .await?;
        Ok(match stored {
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
        let path = self
            .media_project_dir(project)
            .join(safe_file_name(&record.id)?);
        let file = blocking(move || File::open(path)).await?;
        Ok(Some(Box::new(FileBlobReader { file: Some(file) })))
    }
}

#[cfg(test)]
mod tests {
    use super::project_dir_name;

    #[test]
    fn project_dir_names_are_safe_and_distinct() {
        assert_eq!(project_dir_name("project-a_1"), "project-a_1");
        assert_eq!(project_dir_name(".."), "%2E%2E");
        assert_eq!(project_dir_name("a/b"), "a%2Fb");
        assert_eq!(project_dir_name("a%2Fb"), "a%252Fb");
        assert_ne!(project_dir_name("a/b"), project_dir_name("a%2Fb"));
        let hashed = project_dir_name("");
        assert!(hashed.starts_with('~') && hashed.len() == 65, "{hashed}");
        let long = "x".repeat(500);
        let hashed = project_dir_name(&long);
        assert!(hashed.starts_with('~') && hashed.len() == 65, "{hashed}");
        assert_ne!(hashed, project_dir_name(&"x".repeat(501)));
    }
}
