//! The embedded backend: one SQLite database file in the data directory, and media
//! blobs as files under `<data-dir>/media/`.
//!
//! Writes go through one writer thread that folds concurrent requests into a shared
//! transaction (group commit); a syncer thread answers them once an fsync of the WAL
//! covers their commit, so a write that returned is on disk and visible. Reads run on a bounded pool of read-only connections (WAL mode lets
//! them run beside the writer) inside tokio's blocking pool.
//!
//! Invariant: only this crate knows the embedded schema and its SQL.

mod accounts;
mod admin;
mod annotation_queues;
mod apply;
mod comments;
mod connection;
mod dataset_runs;
mod datasets;
mod deferred_rollups;
mod derived;
mod details;
pub mod export;
mod media;
mod metrics;
mod migrations;
mod models;
mod payload_dictionaries;
mod payloads;
mod profile;
mod prompt_usage;
mod prompts;
mod reads;
mod recent_addresses;
mod recompute;
mod rows;
mod score_configs;
mod snapshots;
mod sql;
mod ui_views;
mod user_views;
mod wal_sync;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicI64;

use connection::{Readers, Writer, open_writer};

pub use media::MEDIA_DIR;
pub use migrations::LATEST_VERSION as SCHEMA_VERSION;

/// File name of the database inside the data directory.
pub const DATABASE_FILE: &str = "glassbox.sqlite";

pub struct SqliteStore {
    writer: Arc<Writer>,
    /// Background recompute of inferred costs after model price changes.
    recompute: recompute::Recompute,
    readers: Arc<Readers>,
    /// Arrival order of logged events; continues from the stored maximum.
    sequence: Arc<AtomicI64>,
    /// `<data-dir>/media`: one directory per project, one file per uploaded media record.
    media_dir: PathBuf,
    /// Per-project zstd dictionaries of payload parts.
    dictionaries: Arc<payload_dictionaries::Dictionaries>,
}

/// Options of [`SqliteStore::open_with`].
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenOptions {
    /// Sum the writer's time per write-path phase and log it (target `glassbox::profile`).
    pub profile_writer: bool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database in `data_dir` and applies migrations.
    pub fn open(data_dir: &Path) -> Result<Arc<SqliteStore>, String> {
        Self::open_with(data_dir, OpenOptions::default())
    }

    /// [`SqliteStore::open`] with options.
    pub fn open_with(data_dir: &Path, options: OpenOptions) -> Result<Arc<SqliteStore>, String> {
        if options.profile_writer {
            profile::enable();
        }
        std::fs::create_dir_all(data_dir)
            .map_err(|error| format!("creating data directory {}: {error}", data_dir.display()))?;
        let path: PathBuf = data_dir.join(DATABASE_FILE);
        let connection = open_writer(&path)?;
        recent_addresses::load(&connection)?;
        let media_dir = media::prepare_media_dir(data_dir)?;
        let last_sequence: i64 = snapshots::last_sequence(&connection)
            .map_err(|error| format!("reading the event log: {error}"))?;
        derived::rebuild_if_needed(&connection)?;
        let (dictionaries, pending) = payload_dictionaries::Dictionaries::load(&connection, &path)?;
        let dictionaries = Arc::new(dictionaries);
        let writer = Arc::new(Writer::start(connection));
        // Parts stored before a project's dictionary was trained, whose re-encoding with
        // it did not finish before this start.
        payload_dictionaries::resume_reencoding(Arc::downgrade(&writer), &dictionaries, pending);
        Ok(Arc::new(SqliteStore {
            recompute: recompute::Recompute::start(Arc::downgrade(&writer)),
            writer,
            readers: Readers::new(path),
            sequence: Arc::new(AtomicI64::new(last_sequence)),
            media_dir,
            dictionaries,
        }))
    }

    /// Commits what is queued and stops the writer. Later writes fail as unavailable.
    pub fn shutdown(&self) {
        self.readers.close();
        self.writer.shutdown();
    }
}

#[cfg(test)]
mod payload_tests;
#[cfg(test)]
mod snapshot_tests;
#[cfg(test)]
mod tests;
