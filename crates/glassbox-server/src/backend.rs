//! Which backend serves the stores: the embedded SQLite database in the data directory,
//! or PostgreSQL when a database URL is given. Opening, the start-up lock and shutdown.

use std::sync::Arc;

use anyhow::Context;

use glassbox_store::Stores;
use glassbox_store_postgres::{PgConfig, PgStore, PromptListener, StartupLock};
use glassbox_store_sqlite::SqliteStore;

use crate::StorageArgs;

pub enum Backend {
    Sqlite(Arc<SqliteStore>),
    Postgres {
        store: Arc<PgStore>,
        /// Drops cached prompts when another process changes them (`serve` only).
        _listener: Option<PromptListener>,
    },
}

/// The PostgreSQL connection settings of the command line, when a URL was given.
pub fn postgres_config(url: &str, schema: Option<&str>) -> PgConfig {
    let mut config = PgConfig::new(url);
    config.schema = schema
        .map(str::trim)
        .filter(|schema| !schema.is_empty())
        .map(str::to_owned);
    config
}

/// Opens the configured backend. `listen`: also follow other processes' prompt changes
/// (a long-running server; one-shot commands do not cache).
pub async fn open_stores(storage: &StorageArgs, listen: bool) -> anyhow::Result<(Backend, Stores)> {
    match storage.database_url.as_deref().map(str::trim) {
        Some(url) if !url.is_empty() => {
            let config = postgres_config(url, storage.database_schema.as_deref());
            let store = PgStore::connect(config)
                .await
                .map_err(anyhow::Error::msg)
                .context("opening the PostgreSQL database (DATABASE_URL)")?;
            let stores = Stores::from_backend(Arc::clone(&store));
            let listener =
                listen.then(|| store.listen_for_prompt_changes(stores.prompt_cache.clone()));
            Ok((
                Backend::Postgres {
                    store,
                    _listener: listener,
                },
                stores,
            ))
        }
        _ => {
            let options = glassbox_store_sqlite::OpenOptions {
                profile_writer: std::env::var("GLASSBOX_PROFILE_WRITER").is_ok_and(|v| v == "1"),
            };
            let backend = SqliteStore::open_with(&storage.data_dir, options)
                .map_err(anyhow::Error::msg)
                .with_context(|| {
                    format!("opening the data directory {}", storage.data_dir.display())
                })?;
            let stores = Stores::from_backend(Arc::clone(&backend));
            Ok((Backend::Sqlite(backend), stores))
        }
    }
}

impl Backend {
    /// For the log: never the URL (it may hold a password).
    pub fn describe(&self) -> &'static str {
        match self {
            Backend::Sqlite(_) => "embedded SQLite (data directory)",
            Backend::Postgres { .. } => "PostgreSQL (DATABASE_URL)",
        }
    }

    /// Serialises start-up work across processes that share a PostgreSQL database. The
    /// embedded backend's data directory has one process (its writer), so `None`.
    pub async fn lock_startup(&self) -> anyhow::Result<Option<StartupLock>> {
        match self {
            Backend::Sqlite(_) => Ok(None),
            Backend::Postgres { store, .. } => Ok(Some(
                store.lock_startup().await.map_err(anyhow::Error::msg)?,
            )),
        }
    }

    /// Embedded: commits what is queued and stops the writer. PostgreSQL: closes the
    /// pool (waits for checked-out connections), which also stops the listener.
    pub async fn shutdown(&self) {
        match self {
            Backend::Sqlite(store) => store.shutdown(),
            Backend::Postgres { store, .. } => store.shutdown().await,
        }
    }
}
