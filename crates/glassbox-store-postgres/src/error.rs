//! Mapping of database errors onto [`StoreError`].

use glassbox_store::StoreError;

/// Any database failure. Pool exhaustion and lost connections are retryable
/// ([`StoreError::Unavailable`]); everything else is internal.
pub(crate) fn internal(error: sqlx::Error) -> StoreError {
    match error {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Unavailable(error.to_string())
        }
        other => StoreError::Internal(other.to_string()),
    }
}
