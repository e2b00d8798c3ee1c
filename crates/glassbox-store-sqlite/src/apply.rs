//! The ingestion write path: log every event, then re-fold each touched entity from all
//! of its logged events, in the writer's shared transaction.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use rusqlite::{Connection, params};

use glassbox_model::ingest::{EntityKind, IngestEvent, LoggedEvent};
use glassbox_model::merge::{fold_observation, fold_score, fold_trace};
use glassbox_model::scores::finalize_score;
use glassbox_model::time::now_micros;
use glassbox_model::trace_events::{Pruned, is_otlp_trace_create, prune_otlp_trace_events};
use glassbox_model::{Micros, Observation, ProjectId};
use glassbox_store::{EventOutcome, IngestStore, StoreResult};

use crate::SqliteStore;
use crate::connection::internal;
use crate::payload_dictionaries::{Dictionaries, Dictionary};
use crate::payloads::{self, Prepared};
use crate::profile::{self, Phase};
use crate::rows::{
    PlannedColumns, get_score_config, upsert_observation, upsert_score, upsert_trace,
};
use crate::sql::execute_changes_any;

fn load_events(
    connection: &Connection,
    project: &ProjectId,
    kind: EntityKind,
    entity_id: &str,
) -> StoreResult<Vec<LoggedEvent>> {
    load_events_with(connection, project, kind, entity_id, &[])
}

/// The logged events of an entity. Those whose id is in `known` (this request's events,
/// already logged) are taken from memory with their logged arrival time and sequence, so
/// that their bodies are not decoded again.
fn load_events_with(
    connection: &Connection,
    project: &ProjectId,
    kind: EntityKind,
    entity_id: &str,
    known: &[&LoggedEvent],
) -> StoreResult<Vec<LoggedEvent>> {
    let mut statement = connection
        .prepare_cached(
            "SELECT event_id, event_type, timestamp, received_at, sequence, body FROM ingest_events \
             WHERE project_id = ?1 AND entity_kind = ?2 AND entity_id = ?3",
        )
        .map_err(internal)?;
    let mut rows = statement
        .query(params![project.as_str(), kind.as_str(), entity_id])
        .map_err(internal)?;
    let mut events = Vec::new();
    while let Some(row) = rows.next().map_err(internal)? {
        let event_id: String = row.get(0).map_err(internal)?;
        let received_at: i64 = row.get(3).map_err(internal)?;
        let sequence: i64 = row.get(4).map_err(internal)?;
        if let Some(found) = known
            .iter()
            .rev()
            .find(|logged| logged.event.event_id == event_id)
        {
            events.push(LoggedEvent {
                event: found.event.clone(),
                received_at,
                sequence,
            });
            continue;
        }
        let body = payloads::read_body(
            connection,
            project.as_str(),
            row.get_ref(5).map_err(internal)?,
        )
        .map_err(internal)?;
        events.push(LoggedEvent {
            event: IngestEvent {
                event_id,
                event_type: row.get(1).map_err(internal)?,
                timestamp: row.get(2).map_err(internal)?,
                kind,
                entity_id: entity_id.to_owned(),
                body,
                snapshot: false,
            },
            received_at,
            sequence,
        });
    }
    Ok(events)
}

/// Logs one event. A replayed event id replaces the stored body but keeps the arrival
/// time and sequence of its first delivery, so that a replay does not move it in the
/// merge order (which breaks ties of equal timestamps by arrival) nor touch `updated_at`.
fn log_event(
    connection: &Connection,
    project: &ProjectId,
    logged: &LoggedEvent,
) -> StoreResult<()> {
    write_event(connection, project, logged, OnStored::KeepArrival)
}

/// What [`write_event`] does to a stored event with the same id.
enum OnStored {
    /// Replace its type, timestamp and body; keep its arrival and sequence.
    KeepArrival,
    /// Replace all of it (the caller worked out the arrival and sequence).
    Overwrite,
}

fn write_event(
    connection: &Connection,
    project: &ProjectId,
    logged: &LoggedEvent,
    on_stored: OnStored,
) -> StoreResult<()> {
    let event = &logged.event;
    let body = payloads::store_body(connection, project, &event.body)?;
    let sql = match on_stored {
        OnStored::KeepArrival => {
            "INSERT INTO ingest_events (project_id, entity_kind, entity_id, event_id, event_type, \
             timestamp, received_at, sequence, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
             ON CONFLICT (project_id, entity_kind, entity_id, event_id) DO UPDATE SET \
             event_type = excluded.event_type, timestamp = excluded.timestamp, body = excluded.body"
        }
        OnStored::Overwrite => {
            "INSERT INTO ingest_events (project_id, entity_kind, entity_id, event_id, event_type, \
             timestamp, received_at, sequence, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
             ON CONFLICT (project_id, entity_kind, entity_id, event_id) DO UPDATE SET \
             event_type = excluded.event_type, timestamp = excluded.timestamp, \
             received_at = excluded.received_at, sequence = excluded.sequence, body = excluded.body"
        }
    };
    connection
        .prepare_cached(sql)
        .and_then(|mut statement| {
            statement.execute(params![
                project.as_str(),
                event.kind.as_str(),
                event.entity_id,
                event.event_id,
                event.event_type,
                event.timestamp,
                logged.received_at,
                logged.sequence,
                body,
            ])
        })
        .map(drop)
        .map_err(internal)
}

/// Adds `logged` to `events`, replacing a logged event with the same id (a replay). A
/// replay keeps the arrival time and place of the first delivery, as [`log_event`] does.
fn with_event(mut events: Vec<LoggedEvent>, logged: &LoggedEvent) -> Vec<LoggedEvent> {
    let mut logged = logged.clone();
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

/// Logs a trace's new OTLP trace events (`new`) into its logged events (`stored`, all of
/// the trace's), keeping of the OTLP ones only what can still change the fold
/// ([`prune_otlp_trace_events`]): dropped events are deleted, reduced ones rewritten.
/// Returns the trace's events as logged now.
fn log_otlp_trace_events(
    connection: &Connection,
    project: &ProjectId,
    trace_id: &str,
    stored: Vec<LoggedEvent>,
    new: &[&LoggedEvent],
) -> StoreResult<Vec<LoggedEvent>> {
    let mut events = stored;
    // Which events must be written: new ones and replays of stored ones.
    let mut written: HashSet<String> = HashSet::new();
    for logged in new {
        events = with_event(events, logged);
        written.insert(logged.event.event_id.clone());
    }
    let pruned = prune_otlp_trace_events(&events);
    let mut kept = Vec::with_capacity(events.len());
    for (logged, pruned) in events.into_iter().zip(pruned) {
        let is_new = written.contains(&logged.event.event_id);
        match pruned {
            Pruned::Unchanged => {
                if is_new {
                    write_event(connection, project, &logged, OnStored::Overwrite)?;
                }
                kept.push(logged);
            }
            Pruned::Changed(changed) => {
                write_event(connection, project, &changed, OnStored::Overwrite)?;
                kept.push(changed);
            }
            Pruned::Dropped => {
                // A new event may have replayed a stored one: delete whatever is stored.
                connection
                    .prepare_cached(
                        "DELETE FROM ingest_events WHERE project_id = ?1 AND entity_kind = 'trace' \
                         AND entity_id = ?2 AND event_id = ?3",
                    )
                    .and_then(|mut statement| {
                        statement.execute(params![
                            project.as_str(),
                            trace_id,
                            logged.event.event_id
                        ])
                    })
                    .map_err(internal)?;
            }
        }
    }
    Ok(kept)
}

fn apply_score(
    connection: &Connection,
    project: &ProjectId,
    logged: &LoggedEvent,
) -> StoreResult<EventOutcome> {
    let entity_id = &logged.event.entity_id;
    let events = with_event(
        profile::time(Phase::Load, || {
            load_events(connection, project, EntityKind::Score, entity_id)
        })?,
        logged,
    );
    let Some(merged) = fold_score(entity_id, &events) else {
        return Ok(Ok(()));
    };
    let config = match &merged.config_id {
        Some(config_id) => get_score_config(connection, project, config_id)?,
        None => None,
    };
    match finalize_score(merged, config.as_ref()) {
        Ok(score) => {
            profile::time(Phase::Log, || log_event(connection, project, logged))?;
            profile::time(Phase::Upsert, || upsert_score(connection, project, &score))?;
            Ok(Ok(()))
        }
        Err(reason) => Ok(Err(reason)),
    }
}

/// Re-folds an entity from its log; `known` are the request's events of it (already
/// logged, but for a trace's OTLP events, which [`log_otlp_trace_events`] logs here).
fn refold(
    connection: &Connection,
    project: &ProjectId,
    kind: EntityKind,
    entity_id: &str,
    known: &[&LoggedEvent],
) -> StoreResult<()> {
    let (new_otlp, logged): (Vec<&LoggedEvent>, Vec<&LoggedEvent>) = known
        .iter()
        .partition(|logged| kind == EntityKind::Trace && is_otlp_trace_create(logged));
    let mut events = profile::time(Phase::Load, || {
        load_events_with(connection, project, kind, entity_id, &logged)
    })?;
    if !new_otlp.is_empty() || events.iter().filter(|e| is_otlp_trace_create(e)).count() > 1 {
        events = profile::time(Phase::Log, || {
            log_otlp_trace_events(connection, project, entity_id, events, &new_otlp)
        })?;
    }
    match kind {
        EntityKind::Trace => {
            if let Some(trace) = profile::time(Phase::Fold, || fold_trace(entity_id, &events)) {
                profile::time(Phase::Derived, || {
                    crate::derived::trace_folded(connection, project, &trace)
                })?;
                profile::time(Phase::Upsert, || upsert_trace(connection, project, &trace))?;
            }
        }
        EntityKind::Observation => {
            if let Some(mut observation) =
                profile::time(Phase::Fold, || fold_observation(entity_id, &events))
            {
                profile::time(Phase::Prompt, || {
                    crate::prompts::link_prompt(connection, project, &mut observation)
                })?;
                profile::time(Phase::Derived, || {
                    crate::derived::observation_folded(connection, project, &mut observation)
                })?;
                profile::time(Phase::Upsert, || {
                    upsert_observation(connection, project, &observation, None, None)
                })?;
            }
        }
        EntityKind::Score => {}
    }
    Ok(())
}

/// How one touched entity of a request is written.
enum Plan {
    /// An OTLP span alone: its row, with the snapshot's sequence, and no log entry
    /// (and whether a row is stored for it already), with its payload columns if they
    /// were planned beside the writer.
    Snapshot(Box<Observation>, i64, bool, Option<PlannedColumns>),
    /// Log the events and re-fold the entity from its whole log.
    General,
}

/// Decides how an entity's events of this request are written; a snapshot kept as its
/// row alone goes into the log first when it is about to be merged with other events.
fn plan(
    connection: &Connection,
    project: &ProjectId,
    kind: EntityKind,
    entity_id: &str,
    events: &mut [LoggedEvent],
    prefolded: Option<Prefolded>,
) -> StoreResult<Plan> {
    if kind != EntityKind::Observation {
        return Ok(Plan::General);
    }
    let mark = profile::time(Phase::Load, || {
        crate::snapshots::stored_mark(connection, project, entity_id)
    })?;
    if let [only] = events
        && only.event.snapshot
    {
        let Some(stored) = &mark else {
            // First arrival: folded beside the writer (`Arrived`) if representable.
            return Ok(match prefolded {
                Some(prefolded) => Plan::Snapshot(
                    prefolded.observation,
                    only.sequence,
                    false,
                    Some(prefolded.columns),
                ),
                None => Plan::General,
            });
        };
        // A replay of the stored snapshot keeps its first arrival, as a logged replay does.
        if let Some(sequence) = stored.sequence
            && crate::snapshots::stored_event_id(stored, entity_id) == only.event.event_id
        {
            // Folded in place (not logged on this path; restored if it takes the other).
            let arrived = (only.received_at, only.sequence);
            (only.received_at, only.sequence) = (stored.created_at, sequence);
            if let Some(observation) = profile::time(Phase::Fold, || {
                fold_observation(entity_id, std::slice::from_ref(&*only))
            }) && crate::snapshots::representable(&only.event, &observation)
            {
                return Ok(Plan::Snapshot(Box::new(observation), sequence, true, None));
            }
            (only.received_at, only.sequence) = arrived;
        }
    }
    if let Some(sequence) = mark.and_then(|stored| stored.sequence) {
        profile::time(Phase::Log, || {
            match crate::snapshots::logged_event(connection, project, entity_id, sequence)? {
                Some(snapshot) => log_event(connection, project, &snapshot),
                None => Ok(()),
            }
        })?;
    }
    Ok(Plan::General)
}

/// Writes a snapshot's row; returns the observation, for [`drop_later`].
fn write_snapshot(
    connection: &Connection,
    project: &ProjectId,
    mut observation: Box<Observation>,
    (sequence, has_row): (i64, bool),
    planned: Option<PlannedColumns>,
) -> StoreResult<Box<Observation>> {
    profile::time(Phase::Prompt, || {
        crate::prompts::link_prompt(connection, project, &mut observation)
    })?;
    profile::time(Phase::Derived, || {
        crate::derived::observation_folded_after(connection, project, &mut observation, has_row)
    })?;
    profile::time(Phase::Upsert, || {
        upsert_observation(connection, project, &observation, Some(sequence), planned)
    })?;
    Ok(observation)
}

/// A request's events stamped with their arrival, and the pure work on them that runs
/// beside the writer (on tokio's blocking pool) instead of in it.
pub(crate) struct Arrived {
    /// The events in request order with their `received_at`; the writer numbers their
    /// `sequence` (until then it is their place in the request, which orders them alike).
    events: Vec<LoggedEvent>,
    /// Per event: an OTLP trace event that need not be logged
    /// ([`glassbox_model::trace_events`]).
    redundant: Vec<bool>,
    /// By observation id: the row of an OTLP span that is its observation's only event in
    /// the request, folded and representable as a snapshot; used if no row is stored yet.
    prefolded: HashMap<String, Prefolded>,
}

/// A span's row folded beside the writer, with its payload columns planned (the writer
/// changes its model, usage, cost and prompt link, not its metadata, input or output).
pub(crate) struct Prefolded {
    observation: Box<Observation>,
    columns: PlannedColumns,
}

impl Arrived {
    pub(crate) fn new(events: Vec<IngestEvent>, received_at: Micros) -> Arrived {
        let events: Vec<LoggedEvent> = events
            .into_iter()
            .zip(0..)
            .map(|(event, place)| LoggedEvent {
                event,
                received_at,
                sequence: place,
            })
            .collect();
        let redundant = glassbox_model::trace_events::redundant_trace_events(&events);
        let mut per_observation: HashMap<&str, Vec<&LoggedEvent>> = HashMap::new();
        for logged in &events {
            if logged.event.kind == EntityKind::Observation {
                per_observation
                    .entry(logged.event.entity_id.as_str())
                    .or_default()
                    .push(logged);
            }
        }
        let prefolded = per_observation
            .into_iter()
            .filter_map(|(id, events)| match events[..] {
                [only] if only.event.snapshot => fold_observation(id, std::slice::from_ref(only))
                    .filter(|row| crate::snapshots::representable(&only.event, row))
                    .map(|row| {
                        let columns = PlannedColumns::of(&row);
                        let observation = Box::new(row);
                        (
                            id.to_owned(),
                            Prefolded {
                                observation,
                                columns,
                            },
                        )
                    }),
                _ => None,
            })
            .collect();
        Arrived {
            events,
            redundant,
            prefolded,
        }
    }

    /// The request's values compressed for the writer ([`payloads::prepare`]): the
    /// planned columns of the prefolded spans (short ones too), and the large body fields
    /// of the other events (which the writer folds, so it may store other values too).
    pub(crate) fn prepare(&self, dictionary: Option<&Dictionary>, sample: bool) -> Prepared {
        let others: Vec<payloads::PlannedValue> = self
            .events
            .iter()
            .filter(|logged| {
                logged.event.kind != EntityKind::Observation
                    || !self.prefolded.contains_key(&logged.event.entity_id)
            })
            .flat_map(|logged| payloads::plan_body_fields(&logged.event.body))
            .collect();
        let prefolded = self
            .prefolded
            .values()
            .flat_map(|prefolded| prefolded.columns.values());
        payloads::prepare(&others, prefolded, dictionary, sample)
    }
}

pub(crate) fn apply_events(
    connection: &Connection,
    project: &ProjectId,
    arrived: Arrived,
    sequence: &AtomicI64,
) -> StoreResult<Vec<EventOutcome>> {
    let Arrived {
        events,
        redundant,
        mut prefolded,
    } = arrived;
    profile::events(events.len());
    let mut outcomes = Vec::with_capacity(events.len());
    let mut touched: Vec<(EntityKind, String)> = Vec::new();
    let mut logged_events: HashMap<(EntityKind, String), Vec<LoggedEvent>> = HashMap::new();
    let mut unlogged: Vec<LoggedEvent> = Vec::new();
    for (mut logged, redundant) in events.into_iter().zip(redundant) {
        logged.sequence = sequence.fetch_add(1, Ordering::Relaxed) + 1;
        if logged.event.kind == EntityKind::Score {
            outcomes.push(apply_score(connection, project, &logged)?);
            continue;
        }
        outcomes.push(Ok(()));
        if redundant {
            unlogged.push(logged);
            continue;
        }
        let key = (logged.event.kind, logged.event.entity_id.clone());
        let entry = logged_events.entry(key.clone()).or_default();
        if entry.is_empty() {
            touched.push(key);
        }
        entry.push(logged);
    }
    let mut plans = Vec::with_capacity(touched.len());
    for key in &touched {
        let events: &mut [LoggedEvent] = match logged_events.get_mut(key) {
            Some(events) => events,
            None => &mut [],
        };
        let prefolded = match key.0 {
            EntityKind::Observation => prefolded.remove(&key.1),
            _ => None,
        };
        let plan = plan(connection, project, key.0, &key.1, events, prefolded)?;
        if let Plan::General = plan {
            // A trace's OTLP events are logged when it is re-folded (pruned).
            for logged in events.iter().filter(|logged| !is_otlp_trace_create(logged)) {
                profile::time(Phase::Log, || log_event(connection, project, logged))?;
            }
        }
        plans.push(plan);
    }
    let last_snapshot = plans
        .iter()
        .filter_map(|plan| match plan {
            Plan::Snapshot(_, sequence, _, _) => Some(*sequence),
            Plan::General => None,
        })
        .max();
    if let Some(last) = last_snapshot {
        crate::snapshots::remember_sequence(connection, last)?;
    }
    let mut written = Vec::new();
    crate::derived::batched(|| {
        for (key, plan) in touched.iter().zip(plans) {
            match plan {
                Plan::Snapshot(observation, sequence, has_row, planned) => {
                    written.push(write_snapshot(
                        connection,
                        project,
                        observation,
                        (sequence, has_row),
                        planned,
                    )?);
                }
                Plan::General => {
                    let known: Vec<&LoggedEvent> = logged_events
                        .get(key)
                        .map(|events| events.iter().collect())
                        .unwrap_or_default();
                    refold(connection, project, key.0, &key.1, &known)?;
                }
            }
        }
        Ok(())
    })?;
    drop_later((logged_events, unlogged, prefolded, written));
    Ok(outcomes)
}

/// Frees a request's events on another thread: deallocating their JSON trees is a
/// measurable share of the one writer thread's time. At most [`DROP_BACKLOG`] requests'
/// garbage waits; beyond that the writer frees it itself, so memory stays bounded when
/// the dropper falls behind.
fn drop_later<T: Send + 'static>(value: T) {
    type Garbage = Box<dyn Send>;
    static DROPPER: OnceLock<Option<SyncSender<Garbage>>> = OnceLock::new();
    let dropper = DROPPER.get_or_init(|| {
        let (sender, receiver) = std::sync::mpsc::sync_channel::<Garbage>(DROP_BACKLOG);
        std::thread::Builder::new()
            .name("glassbox-sqlite-drop".into())
            .spawn(move || receiver.into_iter().for_each(drop))
            .ok()
            .map(|_| sender)
    });
    if let Some(sender) = dropper {
        // A full or closed channel hands the value back in the error, dropped here.
        let _ = sender.try_send(Box::new(value));
    }
}

/// Requests' garbage that may wait for the dropper thread.
const DROP_BACKLOG: usize = 64;

fn delete_traces_now(
    connection: &Connection,
    dictionaries: &Dictionaries,
    project: &ProjectId,
    trace_ids: &[String],
) -> StoreResult<()> {
    let project = project.as_str();
    let mut referenced_payloads = false;
    for trace_id in trace_ids {
        crate::derived::trace_deleted(connection, &ProjectId(project.to_owned()), trace_id)?;
        referenced_payloads = referenced_payloads
            || connection
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM traces WHERE project_id = ?1 AND id = ?2 AND \
                     (typeof(metadata) = 'blob' OR typeof(input) = 'blob' OR typeof(output) = 'blob')) \
                     OR EXISTS (SELECT 1 FROM observations WHERE project_id = ?1 AND trace_id = ?2 AND \
                     (typeof(metadata) = 'blob' OR typeof(input) = 'blob' OR typeof(output) = 'blob')) \
                     OR EXISTS (SELECT 1 FROM scores s JOIN ingest_events e ON e.project_id = s.project_id \
                     AND e.entity_kind = 'score' AND e.entity_id = s.id \
                     WHERE s.project_id = ?1 AND s.trace_id = ?2 AND typeof(e.body) = 'blob')",
                )
                .and_then(|mut statement| {
                    statement.query_row(params![project, trace_id], |row| row.get::<_, bool>(0))
                })
                .map_err(internal)?;
        let statements = [
            "DELETE FROM ingest_events WHERE project_id = ?1 AND entity_kind = 'observation' AND entity_id IN \
             (SELECT id FROM observations WHERE project_id = ?1 AND trace_id = ?2)",
            "DELETE FROM ingest_events WHERE project_id = ?1 AND entity_kind = 'score' AND entity_id IN \
             (SELECT id FROM scores WHERE project_id = ?1 AND trace_id = ?2)",
            "DELETE FROM ingest_events WHERE project_id = ?1 AND entity_kind = 'trace' AND entity_id = ?2",
            "DELETE FROM observations WHERE project_id = ?1 AND trace_id = ?2",
            "DELETE FROM scores WHERE project_id = ?1 AND trace_id = ?2",
            "DELETE FROM traces WHERE project_id = ?1 AND id = ?2",
        ];
        for sql in statements {
            connection
                .prepare_cached(sql)
                .and_then(|mut statement| statement.execute(params![project, trace_id]))
                .map_err(internal)?;
        }
    }
    // Content the deleted rows alone referred to goes with them (the event log's manifests
    // repeat those of the rows, so the rows tell whether there is anything to sweep).
    if referenced_payloads {
        payloads::sweep(connection, dictionaries, &ProjectId(project.to_owned()))?;
    }
    Ok(())
}

#[async_trait]
impl IngestStore for SqliteStore {
    async fn ingest(
        &self,
        project: &ProjectId,
        events: Vec<IngestEvent>,
    ) -> StoreResult<Vec<EventOutcome>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let project = project.clone();
        let sequence: Arc<AtomicI64> = Arc::clone(&self.sequence);
        // Compression of the large values happens here, beside the writer, not in it; so
        // do sampling them to train the project's dictionary, and the pure part of
        // applying the events (`Arrived`).
        let dictionaries = Arc::clone(&self.dictionaries);
        let writer = Arc::downgrade(&self.writer);
        let owner = project.clone();
        let received_at = now_micros();
        let (arrived, prepared) = tokio::task::spawn_blocking(move || {
            let arrived = Arrived::new(events, received_at);
            let dictionary = dictionaries.current(&owner);
            let sample = dictionaries.wants_samples(&owner);
            let mut prepared = arrived.prepare(dictionary.as_deref(), sample);
            let samples = std::mem::take(&mut prepared.samples);
            crate::payload_dictionaries::sample(&dictionaries, writer, &owner, samples);
            (arrived, prepared)
        })
        .await
        .map_err(internal)?;
        let dictionaries = Arc::clone(&self.dictionaries);
        // Ingestion fails only on storage errors: no savepoint (see `write_unisolated`).
        self.writer
            .write_unisolated(move |connection| {
                payloads::with_prepared(
                    prepared,
                    dictionaries.current(&project),
                    |hash| dictionaries.is_live(&project, hash),
                    || apply_events(connection, &project, arrived, &sequence),
                )
            })
            .await
    }

    async fn delete_traces(&self, project: &ProjectId, trace_ids: &[String]) -> StoreResult<()> {
        let project = project.clone();
        let trace_ids = trace_ids.to_vec();
        let dictionaries = Arc::clone(&self.dictionaries);
        self.writer
            .write(move |connection| {
                delete_traces_now(connection, &dictionaries, &project, &trace_ids)
            })
            .await
    }

    async fn delete_score(&self, project: &ProjectId, score_id: &str) -> StoreResult<bool> {
        let project = project.clone();
        let score_id = score_id.to_owned();
        let dictionaries = Arc::clone(&self.dictionaries);
        self.writer
            .write(move |connection| {
                let referenced_payloads: bool = connection
                    .query_row(
                        "SELECT EXISTS (SELECT 1 FROM ingest_events WHERE project_id = ?1 AND entity_kind = 'score' \
                         AND entity_id = ?2 AND typeof(body) = 'blob')",
                        params![project.as_str(), score_id],
                        |row| row.get(0),
                    )
                    .map_err(internal)?;
                connection
                    .execute(
                        "DELETE FROM ingest_events WHERE project_id = ?1 AND entity_kind = 'score' AND entity_id = ?2",
                        params![project.as_str(), score_id],
                    )
                    .map_err(internal)?;
                let deleted = execute_changes_any(connection, "DELETE FROM scores WHERE project_id = ?1 AND id = ?2", params![project.as_str(), score_id])?;
                if referenced_payloads {
                    payloads::sweep(connection, &dictionaries, &project)?;
                }
                Ok(deleted)
            })
            .await
    }
}
