//! The ingestion write path (PostgreSQL implementation of IngestStore). One `ingest()`
//! call is one transaction: lock every touched entity (advisory locks, sorted), number
//! the events from the database-wide sequence, read the entities' logged events, fold
//! them with the batch in memory (scores checked against their config, in batch order),
//! then write the new events and the merged rows with one multi-row statement per table.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use sqlx::{PgConnection, Row};

use glassbox_model::ingest::{EntityKind, IngestEvent, LoggedEvent};
use glassbox_model::merge::{fold_observation, fold_score, fold_trace};
use glassbox_model::scores::finalize_score;
use glassbox_model::time::now_micros;
use glassbox_model::trace_events::redundant_trace_events;
use glassbox_model::{JsonObject, ProjectId, Score, ScoreConfig};
use glassbox_store::{EventOutcome, IngestStore, StoreError, StoreResult};

use crate::PgStore;
use crate::error::storable;
use crate::event_log::{
    CONFLICT_ATTEMPTS, EntityKey, db_error, is_conflict, load_events, lock_entities, log_events,
    next_sequences, prefer_lz4, with_event,
};
use crate::fold_rows::{get_score_config, upsert_observations, upsert_scores, upsert_traces};

/// The batch's new events, once per (entity, event id), in first-delivery order: a later
/// delivery in the same batch replaces the body of an earlier one (keeping its arrival, as
/// a replay does). Only the keys are kept: the events themselves are the entities' folded
/// event lists, so the bodies are not copied again.
#[derive(Default)]
struct NewEvents {
    keys: Vec<(EntityKey, String)>,
    seen: HashSet<(EntityKey, String)>,
}

impl NewEvents {
    fn push(&mut self, entity: &EntityKey, event_id: &str) {
        let key = (entity.clone(), event_id.to_owned());
        if self.seen.insert(key.clone()) {
            self.keys.push(key);
        }
    }

    /// The events to log, as they stand in the entities' event lists after the fold.
    fn resolve<'a>(
        &self,
        logged_by_entity: &'a HashMap<EntityKey, Vec<LoggedEvent>>,
    ) -> Vec<&'a LoggedEvent> {
        self.keys
            .iter()
            .filter_map(|(entity, event_id)| {
                logged_by_entity
                    .get(entity)?
                    .iter()
                    .rev()
                    .find(|logged| logged.event.event_id == *event_id)
            })
            .collect()
    }
}

/// The merged score of `events`, checked against its score config (configs are read once
/// per batch). `Ok(None)`: nothing to store.
async fn check_score(
    connection: &mut PgConnection,
    project: &ProjectId,
    configs: &mut HashMap<String, Option<ScoreConfig>>,
    entity_id: &str,
    events: &[LoggedEvent],
) -> StoreResult<Result<Option<Score>, String>> {
    let Some(merged) = fold_score(entity_id, events) else {
        return Ok(Ok(None));
    };
    let config = match &merged.config_id {
        Some(config_id) => {
            if !configs.contains_key(config_id) {
                let found = get_score_config(connection, project, config_id).await?;
                configs.insert(config_id.clone(), found);
            }
            configs.get(config_id).cloned().flatten()
        }
        None => None,
    };
    Ok(finalize_score(merged, config.as_ref()).map(Some))
}

async fn apply_events(
    connection: &mut PgConnection,
    project: &ProjectId,
    events: &[IngestEvent],
) -> StoreResult<Vec<EventOutcome>> {
    // Touched entities in first-touch order.
    let mut touched: Vec<EntityKey> = Vec::new();
    let mut seen: HashSet<EntityKey> = HashSet::new();
    for event in events {
        let key = (event.kind, event.entity_id.clone());
        if seen.insert(key.clone()) {
            touched.push(key);
        }
    }
    lock_entities(
        connection,
        project,
        touched.iter().map(|(kind, id)| (*kind, id.as_str())),
    )
    .await?;
    prefer_lz4(connection).await?;
    let sequences = next_sequences(connection, events.len()).await?;
    let mut logged_by_entity = load_events(connection, project, &touched).await?;

    let received_at = now_micros();
    let mut outcomes = Vec::with_capacity(events.len());
    let mut new_events = NewEvents::default();
    let mut configs: HashMap<String, Option<ScoreConfig>> = HashMap::new();
    let mut scores: Vec<Score> = Vec::new();
    let mut score_positions: HashMap<String, usize> = HashMap::new();
    let logged: Vec<LoggedEvent> = events
        .iter()
        .zip(sequences)
        .map(|(event, sequence)| LoggedEvent {
            event: event.clone(),
            received_at,
            sequence,
        })
        .collect();
    let redundant = redundant_trace_events(&logged);
    for (logged, redundant) in logged.into_iter().zip(redundant) {
        if redundant {
            // A middle one of equal OTLP trace events: it cannot change the fold.
            outcomes.push(Ok(()));
            continue;
        }
        let key = (logged.event.kind, logged.event.entity_id.clone());
        let is_score = logged.event.kind == EntityKind::Score;
        // A score's events stay as they were if the new one is rejected.
        let current = if is_score {
            logged_by_entity.get(&key).cloned()
        } else {
            logged_by_entity.remove(&key)
        };
        let event_id = logged.event.event_id.clone();
        let candidate = with_event(current.unwrap_or_default(), logged);
        if is_score {
            let checked =
                check_score(connection, project, &mut configs, &key.1, &candidate).await?;
            match checked {
                Ok(Some(score)) => match score_positions.get(&score.id) {
                    Some(&position) => scores[position] = score,
                    None => {
                        score_positions.insert(score.id.clone(), scores.len());
                        scores.push(score);
                    }
                },
                // Nothing merged: accepted without effect, and not logged.
                Ok(None) => {
                    outcomes.push(Ok(()));
                    continue;
                }
                Err(reason) => {
                    outcomes.push(Err(reason));
                    continue;
                }
            }
        }
        // `with_event` carried over a replay's first arrival: what the fold saw is logged.
        new_events.push(&key, &event_id);
        logged_by_entity.insert(key, candidate);
        outcomes.push(Ok(()));
    }

    let mut traces = Vec::new();
    let mut observations = Vec::new();
    for key in &touched {
        let Some(events) = logged_by_entity.get(key) else {
            continue;
        };
        match key.0 {
            EntityKind::Trace => traces.extend(fold_trace(&key.1, events)),
            EntityKind::Observation => observations.extend(fold_observation(&key.1, events)),
            EntityKind::Score => {}
        }
    }
    crate::prompt_link::link_prompts(connection, project, &mut observations).await?;
    if observations.iter().any(|o| o.model.is_some()) {
        // A model change waits for this commit, or this fold sees the changed models: its
        // recompute never runs between our read of the prices and our write of the costs.
        crate::cost::lock_models_shared(connection, project).await?;
    }
    let mut observations =
        crate::cost::price_observations(connection, project, observations).await?;
    // Row locks in the order of the cost recompute's (start time, id), not a cycle with it.
    observations.sort_by(|a, b| (a.start_time, &a.id).cmp(&(b.start_time, &b.id)));

    log_events(connection, project, &new_events.resolve(&logged_by_entity)).await?;
    upsert_traces(connection, project, &traces).await?;
    upsert_observations(connection, project, &observations).await?;
    upsert_scores(connection, project, &scores).await?;
    Ok(outcomes)
}

async fn delete_traces_now(
    connection: &mut PgConnection,
    project: &ProjectId,
    trace_ids: &[String],
) -> StoreResult<()> {
    // Lock the traces and what hangs off them, as ingestion does before it folds them,
    // so that no concurrent fold writes a row back after this delete.
    let rows = sqlx::query(
        "SELECT 'observation', id FROM observations WHERE project_id = $1 AND trace_id = ANY($2) \
         UNION ALL SELECT 'score', id FROM scores WHERE project_id = $1 AND trace_id = ANY($2)",
    )
    .bind(project.as_str())
    .bind(trace_ids)
    .fetch_all(&mut *connection)
    .await
    .map_err(db_error)?;
    let mut entities: Vec<(EntityKind, String)> = trace_ids
        .iter()
        .map(|id| (EntityKind::Trace, id.clone()))
        .collect();
    for row in rows {
        let kind: String = row.try_get(0).map_err(db_error)?;
        let id: String = row.try_get(1).map_err(db_error)?;
        let kind = EntityKind::parse(&kind)
            .ok_or_else(|| StoreError::Internal(format!("unknown entity kind `{kind}`")))?;
        entities.push((kind, id));
    }
    lock_entities(
        connection,
        project,
        entities.iter().map(|(kind, id)| (*kind, id.as_str())),
    )
    .await?;
    let statements = [
        "DELETE FROM ingest_events WHERE project_id = $1 AND entity_kind = 'observation' AND entity_id IN \
         (SELECT id FROM observations WHERE project_id = $1 AND trace_id = ANY($2))",
        "DELETE FROM ingest_events WHERE project_id = $1 AND entity_kind = 'score' AND entity_id IN \
         (SELECT id FROM scores WHERE project_id = $1 AND trace_id = ANY($2))",
        "DELETE FROM ingest_events WHERE project_id = $1 AND entity_kind = 'trace' AND entity_id = ANY($2)",
        "DELETE FROM observations WHERE project_id = $1 AND trace_id = ANY($2)",
        "DELETE FROM scores WHERE project_id = $1 AND trace_id = ANY($2)",
        "DELETE FROM traces WHERE project_id = $1 AND id = ANY($2)",
    ];
    for sql in statements {
        sqlx::query(sql)
            .bind(project.as_str())
            .bind(trace_ids)
            .execute(&mut *connection)
            .await
            .map_err(db_error)?;
    }
    Ok(())
}

#[async_trait]
impl IngestStore for PgStore {
    async fn ingest(
        &self,
        project: &ProjectId,
        mut events: Vec<IngestEvent>,
    ) -> StoreResult<Vec<EventOutcome>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        events.iter_mut().for_each(replace_nul);
        let mut attempt = 1;
        loop {
            let result = async {
                let mut transaction = self.pool.begin().await.map_err(db_error)?;
                let outcomes = apply_events(&mut transaction, project, &events).await?;
                transaction.commit().await.map_err(db_error)?;
                Ok(outcomes)
            }
            .await;
            match result {
                Err(error) if is_conflict(&error) && attempt < CONFLICT_ATTEMPTS => attempt += 1,
                other => return other,
            }
        }
    }

    async fn delete_traces(&self, project: &ProjectId, trace_ids: &[String]) -> StoreResult<()> {
        if trace_ids.is_empty() {
            return Ok(());
        }
        let mut attempt = 1;
        loop {
            let result = async {
                let mut transaction = self.pool.begin().await.map_err(db_error)?;
                delete_traces_now(&mut transaction, project, trace_ids).await?;
                transaction.commit().await.map_err(db_error)
            }
            .await;
            match result {
                Err(error) if is_conflict(&error) && attempt < CONFLICT_ATTEMPTS => attempt += 1,
                other => return other,
            }
        }
    }

    async fn delete_score(&self, project: &ProjectId, score_id: &str) -> StoreResult<bool> {
        let mut transaction = self.pool.begin().await.map_err(db_error)?;
        lock_entities(&mut transaction, project, [(EntityKind::Score, score_id)]).await?;
        sqlx::query(
            "DELETE FROM ingest_events WHERE project_id = $1 AND entity_kind = 'score' AND entity_id = $2",
        )
        .bind(project.as_str())
        .bind(score_id)
        .execute(&mut *transaction)
        .await
        .map_err(db_error)?;
        let deleted = sqlx::query("DELETE FROM scores WHERE project_id = $1 AND id = $2")
            .bind(project.as_str())
            .bind(score_id)
            .execute(&mut *transaction)
            .await
            .map_err(db_error)?
            .rows_affected();
        transaction.commit().await.map_err(db_error)?;
        Ok(deleted > 0)
    }
}

/// PostgreSQL text cannot hold NUL: an ingested event's ids, strings and keys carry
/// U+FFFD instead (as lookups do, see `error::storable`), so a hostile string is stored
/// like on the embedded backend instead of failing its whole batch.
fn replace_nul(event: &mut IngestEvent) {
    for text in [
        &mut event.event_id,
        &mut event.entity_id,
        &mut event.event_type,
    ] {
        replace_nul_in_text(text);
    }
    replace_nul_in_object(&mut event.body);
}

fn replace_nul_in_text(text: &mut String) {
    if let std::borrow::Cow::Owned(replaced) = storable(text) {
        *text = replaced;
    }
}

fn replace_nul_in_object(object: &mut JsonObject) {
    if object.keys().any(|key| key.contains('\0')) {
        *object = std::mem::take(object)
            .into_iter()
            .map(|(key, value)| (storable(&key).into_owned(), value))
            .collect();
    }
    object.values_mut().for_each(replace_nul_in_value);
}

fn replace_nul_in_value(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(text) => replace_nul_in_text(text),
        serde_json::Value::Array(items) => items.iter_mut().for_each(replace_nul_in_value),
        serde_json::Value::Object(object) => replace_nul_in_object(object),
        _ => {}
    }
}
