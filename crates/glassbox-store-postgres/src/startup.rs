//! A database-wide lock for start-up work that several processes must not do at once
//! (the first-start bootstrap: two fresh processes would each create a default project).

use sqlx::Postgres;
use sqlx::pool::PoolConnection;

use crate::PgStore;

/// Held while the bootstrap runs; other processes wait in [`PgStore::lock_startup`].
/// Released by [`StartupLock::release`], or by closing its connection when dropped.
pub struct StartupLock {
    connection: Option<PoolConnection<Postgres>>,
}

/// The lock's key: one per schema, so test schemas on one database do not wait on each
/// other.
const LOCK_KEY: &str = "hashtext('glassbox-startup:' || current_schema())";

impl PgStore {
    /// Waits for and takes the start-up lock (a session-level advisory lock, so a process
    /// that dies while holding it releases it with its connection).
    pub async fn lock_startup(&self) -> Result<StartupLock, String> {
        let mut connection = self
            .pool
            .acquire()
            .await
            .map_err(|error| format!("connecting to PostgreSQL: {error}"))?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT pg_advisory_lock({LOCK_KEY})"
        )))
        .execute(&mut *connection)
        .await
        .map_err(|error| format!("taking the start-up lock: {error}"))?;
        Ok(StartupLock {
            connection: Some(connection),
        })
    }
}

impl StartupLock {
    pub async fn release(mut self) {
        if let Some(mut connection) = self.connection.take() {
            let unlocked = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT pg_advisory_unlock({LOCK_KEY})"
            )))
            .execute(&mut *connection)
            .await;
            if unlocked.is_err() {
                // The session ends with the connection, and the lock with it.
                connection.close_on_drop();
            }
        }
    }
}

impl Drop for StartupLock {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.as_mut() {
            connection.close_on_drop();
        }
    }
}
