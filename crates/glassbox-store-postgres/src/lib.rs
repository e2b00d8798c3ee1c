//! The PostgreSQL backend: every store of `glassbox-store` on one PostgreSQL database,
//! shared by any number of glassbox processes.
//!
//! Times are UTC microseconds (`BIGINT`); JSON is stored as the text the embedded
//! backend stores, so both backends answer byte-identical JSON. Every table that grows
//! with traffic has `project_id` first in its primary key and unique constraints, so the
//! schema can be distributed by project (docs/postgres.md).
//!
//! Invariant: only this crate knows the PostgreSQL schema and its SQL.

mod accounts;
mod admin;
mod annotation_queues;
mod comments;
mod cost;
mod dataset_runs;
mod datasets;
mod error;
mod event_log;
mod fold_rows;
mod import;
mod ingest;
mod media;
mod metrics;
mod metrics_sql;
mod models;
mod notify;
mod prompt_link;
mod prompt_usage;
mod prompt_writes;
mod prompts;
mod reads;
mod recompute;
mod rows;
mod score_configs;
mod sql;
mod startup;
mod ui_views;
mod usage_sql;
mod user_views;

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

pub(crate) use error::internal;
pub use import::{CopyProgress, Importer};
pub use notify::{PROMPT_CHANNEL, PromptListener};
pub use startup::StartupLock;

/// Connections per process. Small on purpose: several processes share one server.
const DEFAULT_POOL_SIZE: u32 = 16;

pub struct PgStore {
    pool: PgPool,
}

/// How to reach the database.
#[derive(Debug, Clone)]
pub struct PgConfig {
    /// `postgres://user:password@host:port/database?...`
    pub url: String,
    /// Tables live in this schema instead of the user's default (`search_path`); the
    /// tests give each test its own schema. Created when missing.
    pub schema: Option<String>,
    pub pool_size: u32,
}

impl PgConfig {
    pub fn new(url: impl Into<String>) -> PgConfig {
        PgConfig {
            url: url.into(),
            schema: None,
            pool_size: DEFAULT_POOL_SIZE,
        }
    }
}

impl PgStore {
    /// Connects, creates the schema if asked, and applies the migrations that are missing
    /// (under PostgreSQL's advisory lock, so concurrent starts are safe).
    pub async fn connect(config: PgConfig) -> Result<Arc<PgStore>, String> {
        let mut options: PgConnectOptions = config
            .url
            .parse()
            .map_err(|error| format!("invalid DATABASE_URL: {error}"))?;
        if let Some(schema) = &config.schema {
            let admin = PgPoolOptions::new()
                .max_connections(1)
                .connect_with(options.clone())
                .await
                .map_err(|error| format!("connecting to PostgreSQL: {error}"))?;
            // Two concurrent `CREATE SCHEMA IF NOT EXISTS` of one name can both miss it
            // and one then fails on the catalog's unique index: processes starting
            // together on a new schema take turns.
            let creating = |error: sqlx::Error| format!("creating schema {schema}: {error}");
            let mut transaction = admin.begin().await.map_err(creating)?;
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext('glassbox:create-schema'))")
                .execute(&mut *transaction)
                .await
                .map_err(creating)?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "CREATE SCHEMA IF NOT EXISTS \"{}\"",
                schema.replace('"', "\"\"")
            )))
            .execute(&mut *transaction)
            .await
            .map_err(creating)?;
            transaction.commit().await.map_err(creating)?;
            admin.close().await;
            options = options.options([("search_path", schema.as_str())]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(config.pool_size.max(2))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(|error| format!("connecting to PostgreSQL: {error}"))?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|error| format!("migrating the PostgreSQL schema: {error}"))?;
        recompute::start(pool.clone());
        Ok(Arc::new(PgStore { pool }))
    }

    /// The connection pool (for the operator commands that copy data in).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Closes the pool: waits for checked-out connections to come back.
    pub async fn shutdown(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod ingest_tests;
#[cfg(test)]
mod prompts_tests;
#[cfg(test)]
mod recompute_tests;
#[cfg(test)]
mod tests;
