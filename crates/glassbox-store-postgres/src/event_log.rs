//! The ingestion event log (`ingest_events`): per-entity advisory locks, the global
//! arrival sequence, and batched reads and writes of logged events.
//!
//! Several processes ingest into one database, so an entity is re-folded only while its
//! transaction holds the entity's advisory lock: the fold then sees every event committed
//! before it, and the last committer's fold includes everyone's events.

use std::collections::HashMap;

use sqlx::{PgConnection, Row};

use glassbox_model::ingest::{EntityKind, IngestEvent, LoggedEvent};
use glassbox_model::{JsonObject, ProjectId};
use glassbox_store::{StoreError, StoreResult};

use crate::internal;

/// Start of the message of a write that PostgreSQL aborted because of a deadlock or a
/// serialization failure: the whole transaction may simply run again.
pub(crate) const CONFLICT: &str = "transaction conflict";
/// How often a write transaction that PostgreSQL aborted as a deadlock victim or a
/// serialization failure runs at most.
pub(crate) const CONFLICT_ATTEMPTS: u32 = 3;

/// Maps a database error of the write path: deadlocks and serialization failures become
/// retryable ([`StoreError::Unavailable`] starting with [`CONFLICT`]), the rest as usual.
pub(crate) fn db_error(error: sqlx::Error) -> StoreError {
    let conflict = error
        .as_database_error()
        .and_then(|database| database.code())
        .is_some_and(|code| code == "40P01" || code == "40001");
    if conflict {
        StoreError::Unavailable(format!("{CONFLICT}: {error}"))
    } else {
        internal(error)
    }
}

/// True for an error of [`db_error`] after which the transaction may run again.
pub(crate) fn is_conflict(error: &StoreError) -> bool {
    matches!(error, StoreError::Unavailable(message) if message.starts_with(CONFLICT))
}

/// One merged entity: its kind and id (within a project).
pub(crate) type EntityKey = (EntityKind, String);

/// The advisory lock key of an entity: FNV-1a (64 bit) of a namespace, the project, the
/// kind and the id. Stable across processes and builds (unlike std's hasher).
pub(crate) fn lock_key(project: &ProjectId, kind: EntityKind, entity_id: &str) -> i64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET;
    for part in [
        "glassbox.ingest",
        project.as_str(),
        kind.as_str(),
        entity_id,
    ] {
        for byte in part.bytes().chain(std::iter::once(0)) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(PRIME);
        }
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}

/// Takes the transaction-scoped advisory lock of every entity, in ascending key order
/// (every writer uses this order, so two writers never wait on each other in a cycle).
/// Call before reading or writing any row of these entities.
pub(crate) async fn lock_entities(
    connection: &mut PgConnection,
    project: &ProjectId,
    entities: impl IntoIterator<Item = (EntityKind, &str)>,
) -> StoreResult<()> {
    let mut keys: Vec<i64> = entities
        .into_iter()
        .map(|(kind, id)| lock_key(project, kind, id))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    if keys.is_empty() {
        return Ok(());
    }
    // A function scan returns the array's elements in order, so the locks are taken in it.
    sqlx::query("SELECT pg_advisory_xact_lock(k) FROM UNNEST($1::bigint[]) AS k")
        .bind(&keys)
        .execute(connection)
        .await
        .map(drop)
        .map_err(db_error)
}

/// Compresses the large values this transaction writes (event bodies, inputs, outputs)
/// with lz4 instead of PostgreSQL's default pglz, where the server is built with lz4:
/// pglz was ~40% of the server's CPU time during ingestion, lz4 compresses several
/// times faster. Transaction-scoped; values are read back whatever their method.
pub(crate) async fn prefer_lz4(connection: &mut PgConnection) -> StoreResult<()> {
    sqlx::query(
        "SELECT set_config('default_toast_compression', 'lz4', true) FROM pg_settings \
         WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)",
    )
    .execute(connection)
    .await
    .map(drop)
    .map_err(db_error)
}

/// `count` arrival numbers from the database-wide sequence, ascending.
pub(crate) async fn next_sequences(
    connection: &mut PgConnection,
    count: usize,
) -> StoreResult<Vec<i64>> {
    let count = i64::try_from(count).map_err(|error| StoreError::Internal(error.to_string()))?;
    let mut numbers: Vec<i64> =
        sqlx::query_scalar("SELECT nextval('ingest_event_sequence') FROM generate_series(1, $1)")
            .bind(count)
            .fetch_all(connection)
            .await
            .map_err(db_error)?;
    numbers.sort_unstable();
    Ok(numbers)
}

/// Every logged event of the given (distinct) entities, by entity (entities without
/// events are absent).
pub(crate) async fn load_events(
    connection: &mut PgConnection,
    project: &ProjectId,
    entities: &[EntityKey],
) -> StoreResult<HashMap<EntityKey, Vec<LoggedEvent>>> {
    let mut loaded: HashMap<EntityKey, Vec<LoggedEvent>> = HashMap::new();
    if entities.is_empty() {
        return Ok(loaded);
    }
    let kinds: Vec<&str> = entities.iter().map(|(kind, _)| kind.as_str()).collect();
    let ids: Vec<&str> = entities.iter().map(|(_, id)| id.as_str()).collect();
    // One primary-key range scan per entity, driven by the array: the LATERAL subquery
    // (kept apart by OFFSET 0) makes that plan independent of the table's statistics. As
    // a semi-join, a freshly filled table whose statistics still say "small" got a hash
    // join over every event of the project, once per batch.
    let rows = sqlx::query(
        "SELECT e.entity_kind, e.entity_id, e.event_id, e.event_type, e.timestamp, e.received_at, \
         e.sequence, e.body FROM UNNEST($2::text[], $3::text[]) AS k(kind, id) \
         CROSS JOIN LATERAL (SELECT * FROM ingest_events WHERE project_id = $1 \
         AND entity_kind = k.kind AND entity_id = k.id OFFSET 0) AS e",
    )
    .bind(project.as_str())
    .bind(&kinds)
    .bind(&ids)
    .fetch_all(connection)
    .await
    .map_err(db_error)?;
    for row in rows {
        let kind_text: String = row.try_get(0).map_err(db_error)?;
        let kind = EntityKind::parse(&kind_text).ok_or_else(|| {
            StoreError::Internal(format!(
                "unknown entity kind `{kind_text}` in ingest_events"
            ))
        })?;
        let entity_id: String = row.try_get(1).map_err(db_error)?;
        let body: String = row.try_get(7).map_err(db_error)?;
        let logged = LoggedEvent {
            event: IngestEvent {
                event_id: row.try_get(2).map_err(db_error)?,
                event_type: row.try_get(3).map_err(db_error)?,
                timestamp: row.try_get(4).map_err(db_error)?,
                kind,
                entity_id: entity_id.clone(),
                body: serde_json::from_str::<JsonObject>(&body).unwrap_or_default(),
                snapshot: false,
            },
            received_at: row.try_get(5).map_err(db_error)?,
            sequence: row.try_get(6).map_err(db_error)?,
        };
        loaded.entry((kind, entity_id)).or_default().push(logged);
    }
    Ok(loaded)
}

/// Adds `logged` to `events`, replacing a logged event with the same id (a replay). A
/// replay keeps the arrival time and sequence of the first delivery, so it neither moves
/// in the merge order (ties of equal timestamps go by arrival) nor touches `updated_at`.
pub(crate) fn with_event(
    mut events: Vec<LoggedEvent>,
    mut logged: LoggedEvent,
) -> Vec<LoggedEvent> {
    if let Some(position) = events
        .iter()
        .position(|existing| existing.event.event_id == logged.event.event_id)
    {
        let first = events.remove(position);
        logged.received_at = first.received_at;
        logged.sequence = first.sequence;
    }
    events.push(logged);
    events
}

/// Writes events in one statement. Each (entity, event id) must appear once. A stored
/// event with the same id gets the new type, timestamp and body and keeps its arrival.
pub(crate) async fn log_events(
    connection: &mut PgConnection,
    project: &ProjectId,
    events: &[&LoggedEvent],
) -> StoreResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let mut kinds = Vec::with_capacity(events.len());
    let mut entity_ids = Vec::with_capacity(events.len());
    let mut event_ids = Vec::with_capacity(events.len());
    let mut types = Vec::with_capacity(events.len());
    let mut timestamps = Vec::with_capacity(events.len());
    let mut received = Vec::with_capacity(events.len());
    let mut sequences = Vec::with_capacity(events.len());
    let mut bodies = Vec::with_capacity(events.len());
    for logged in events {
        let event = &logged.event;
        kinds.push(event.kind.as_str());
        entity_ids.push(event.entity_id.as_str());
        event_ids.push(event.event_id.as_str());
        types.push(event.event_type.as_str());
        timestamps.push(event.timestamp);
        received.push(logged.received_at);
        sequences.push(logged.sequence);
        bodies.push(
            serde_json::to_string(&event.body)
                .map_err(|error| StoreError::Internal(error.to_string()))?,
        );
    }
    sqlx::query(
        "INSERT INTO ingest_events (project_id, entity_kind, entity_id, event_id, event_type, timestamp, \
         received_at, sequence, body) \
         SELECT $1, e.* FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], \
         $7::bigint[], $8::bigint[], $9::text[]) AS e \
         ON CONFLICT (project_id, entity_kind, entity_id, event_id) DO UPDATE SET \
         event_type = EXCLUDED.event_type, timestamp = EXCLUDED.timestamp, body = EXCLUDED.body",
    )
    .bind(project.as_str())
    .bind(&kinds)
    .bind(&entity_ids)
    .bind(&event_ids)
    .bind(&types)
    .bind(&timestamps)
    .bind(&received)
    .bind(&sequences)
    .bind(&bodies)
    .execute(connection)
    .await
    .map(drop)
    .map_err(db_error)
}
