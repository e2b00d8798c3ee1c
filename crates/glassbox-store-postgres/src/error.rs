//! Mapping of database errors onto [`StoreError`].

use glassbox_store::StoreError;

/// Why a value with a NUL character is refused on PostgreSQL.
const NUL_REFUSED: &str =
    "PostgreSQL cannot store the NUL character (U+0000) in text; remove it from the value";

/// The text PostgreSQL stores for `text`: NUL (which PostgreSQL text cannot hold)
/// becomes U+FFFD, on writes of ingested events and in lookups alike, so a hostile
/// string neither fails its batch nor a read.
pub(crate) fn storable(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('\0') {
        std::borrow::Cow::Owned(text.replace('\0', "\u{FFFD}"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// Any database failure. Pool exhaustion and lost connections are retryable
/// ([`StoreError::Unavailable`]); everything else is internal.
pub(crate) fn internal(error: sqlx::Error) -> StoreError {
    let code = error
        .as_database_error()
        .and_then(|database| database.code())
        .map(|code| code.into_owned());
    // 22021: a NUL byte in text; 22P05: `\u0000` where JSON becomes jsonb. The value is
    // the client's, so this is a refusal of the input, not a failure of the store.
    if matches!(code.as_deref(), Some("22021" | "22P05")) {
        return StoreError::Conflict(NUL_REFUSED.to_owned());
    }
    match error {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Unavailable(error.to_string())
        }
        other => StoreError::Internal(other.to_string()),
    }
}
