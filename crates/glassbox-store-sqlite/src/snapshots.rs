//! OTLP spans kept as their observation row alone.
//!
//! An OTLP span's observation event is a snapshot (`IngestEvent::snapshot`): the complete
//! state of the observation. When it is the observation's only event, the writer stores
//! the row it folds to and does not log the event; the row's `snapshot_sequence` keeps the
//! event's arrival sequence (its `created_at` keeps the arrival time). The event can then
//! be rebuilt from the row exactly ([`snapshot_body`]): this is only done when rebuilding
//! gives back the event's body in its canonical form (`canonical_entries`: the keys and
//! values the merge reads, with those it ignores left out), so that any later fold sees
//! the same events as if the snapshot had been logged. The first non-snapshot event for
//! such an observation (or a snapshot with another event id) logs the rebuilt event first
//! ([`logged_event`]) and takes the general path.

use rusqlite::{Connection, params};
use serde_json::Value;

use glassbox_model::ingest::{EntityKind, IngestEvent, LoggedEvent, otlp_observation_event_id};
use glassbox_model::{JsonObject, Observation, ProjectId};
use glassbox_store::StoreResult;

use crate::rows::{STORED_OBSERVATION_COLUMNS, observation_from_stored_row};
use crate::sql::query_optional;

const EVENT_TYPE: &str = "observation-create";

/// `derived_state` entry: the highest sequence of an unlogged snapshot (the event log's
/// own maximum does not see them), so that sequences continue past them after a restart.
const SEQUENCE_STATE: &str = "snapshot_sequence";

/// Records that a snapshot with sequence `last` is stored unlogged.
pub(crate) fn remember_sequence(connection: &Connection, last: i64) -> StoreResult<()> {
    connection
        .prepare_cached(
            "INSERT INTO derived_state (name, value) VALUES (?1, ?2) \
             ON CONFLICT (name) DO UPDATE SET value = max(value, excluded.value)",
        )
        .and_then(|mut statement| statement.execute(params![SEQUENCE_STATE, last]))
        .map(drop)
        .map_err(crate::connection::internal)
}

/// The last sequence in use: of the event log and of the unlogged snapshots.
pub(crate) fn last_sequence(connection: &Connection) -> rusqlite::Result<i64> {
    connection.query_row(
        "SELECT max(COALESCE((SELECT MAX(sequence) FROM ingest_events), 0), \
         COALESCE((SELECT value FROM derived_state WHERE name = ?1), 0))",
        params![SEQUENCE_STATE],
        |row| row.get(0),
    )
}

/// What the writer knows of a stored observation row.
pub(crate) struct StoredMark {
    /// `Some`: the row stands for an unlogged snapshot event with this sequence.
    pub sequence: Option<i64>,
    pub trace_id: String,
    pub created_at: i64,
}

/// The stored row's mark, `None` when there is no row (then nothing is logged either).
pub(crate) fn stored_mark(
    connection: &Connection,
    project: &ProjectId,
    id: &str,
) -> StoreResult<Option<StoredMark>> {
    query_optional(
        connection,
        "SELECT snapshot_sequence, trace_id, created_at FROM observations \
         WHERE project_id = ?1 AND id = ?2",
        params![project.as_str(), id],
        |row| {
            Ok(StoredMark {
                sequence: row.get(0)?,
                trace_id: row.get(1)?,
                created_at: row.get(2)?,
            })
        },
    )
}

/// The event id an unlogged snapshot row stands for.
pub(crate) fn stored_event_id(mark: &StoredMark, id: &str) -> String {
    otlp_observation_event_id(&mark.trace_id, id)
}

/// The snapshot event the stored row of `id` stands for (it must have a sequence).
pub(crate) fn logged_event(
    connection: &Connection,
    project: &ProjectId,
    id: &str,
    sequence: i64,
) -> StoreResult<Option<LoggedEvent>> {
    let observation = query_optional(
        connection,
        &format!(
            "SELECT {STORED_OBSERVATION_COLUMNS} FROM observations o WHERE o.project_id = ?1 AND o.id = ?2"
        ),
        params![project.as_str(), id],
        |row| observation_from_stored_row(connection, project.as_str(), row),
    )?;
    Ok(observation.map(|observation| event_of(&observation, sequence)))
}

/// The logged form of the snapshot `observation` was folded from.
pub(crate) fn event_of(observation: &Observation, sequence: i64) -> LoggedEvent {
    LoggedEvent {
        event: IngestEvent {
            event_id: otlp_observation_event_id(&observation.trace_id, &observation.id),
            event_type: EVENT_TYPE.to_owned(),
            timestamp: observation.start_time,
            kind: EntityKind::Observation,
            entity_id: observation.id.clone(),
            body: snapshot_body(observation),
            snapshot: true,
        },
        received_at: observation.created_at,
        sequence,
    }
}

/// Whether `event`, folded alone into `observation`, can be kept as the row alone: the
/// event rebuilt from the row is the same event for the merge. Compares in place, without
/// copying the (possibly large) values.
pub(crate) fn representable(event: &IngestEvent, observation: &Observation) -> bool {
    if !(event.snapshot
        && event.kind == EntityKind::Observation
        && event.event_type == EVENT_TYPE
        && event.entity_id == observation.id
        && event.timestamp == observation.start_time
        && event.event_id == otlp_observation_event_id(&observation.trace_id, &observation.id))
    {
        return false;
    }
    let expected = expected_entries(observation);
    let kept = canonical_entries(&event.body);
    kept.len() == expected.len()
        && kept.iter().all(|(key, value)| {
            expected
                .iter()
                .find(|(name, _)| name == key)
                .is_some_and(|(_, expected)| expected.matches(value))
        })
}

/// A value of the rebuilt body, borrowed from the row where it may be large.
enum Expected<'a> {
    Owned(Value),
    Value(&'a Value),
    Object(&'a JsonObject),
}

impl Expected<'_> {
    fn matches(&self, value: &Value) -> bool {
        match self {
            Expected::Owned(owned) => owned == value,
            Expected::Value(expected) => *expected == value,
            Expected::Object(expected) => value.as_object() == Some(*expected),
        }
    }

    fn into_value(self) -> Value {
        match self {
            Expected::Owned(owned) => owned,
            Expected::Value(value) => value.clone(),
            Expected::Object(object) => Value::Object(object.clone()),
        }
    }
}

fn is_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(flag) => *flag,
        Value::Number(number) => number.as_f64().is_some_and(|n| n != 0.0),
        Value::String(text) => !text.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

fn non_empty_object(value: &Value) -> bool {
    value.as_object().is_some_and(|object| !object.is_empty())
}

/// Keys the merge takes the first non-null value of.
const FIRST_KEYS: [&str; 3] = ["traceId", "startTime", "environment"];
/// Keys the merge takes the latest value of (`{}` ignored, `null` clears).
const LATEST_KEYS: [&str; 10] = [
    "parentObservationId",
    "isAppRoot",
    "type",
    "name",
    "endTime",
    "completionStartTime",
    "level",
    "statusMessage",
    "version",
    "model",
];
/// Keys the merge takes the latest non-empty object of.
const MAP_KEYS: [&str; 3] = [
    "providedUsageDetails",
    "providedCostDetails",
    "modelParameters",
];

/// The entries of an observation event body that `fold_observation` reads, each kept
/// only where the merge would not ignore it.
fn canonical_entries(body: &JsonObject) -> Vec<(&str, &Value)> {
    let mut kept: Vec<(&str, &Value)> = Vec::with_capacity(body.len());
    let mut keep = |key: &'static str, keep_it: &dyn Fn(&Value) -> bool| {
        if let Some(value) = body.get(key).filter(|value| keep_it(value)) {
            kept.push((key, value));
        }
    };
    for key in FIRST_KEYS {
        keep(key, &|value| !value.is_null());
    }
    for key in LATEST_KEYS {
        keep(
            key,
            &|value| !matches!(value, Value::Object(object) if object.is_empty()),
        );
    }
    for key in MAP_KEYS {
        keep(key, &non_empty_object);
    }
    keep("input", &is_truthy);
    keep("output", &is_truthy);
    keep("metadata", &non_empty_object);
    if let (Some(name @ Value::String(_)), Some(version)) =
        (body.get("promptName"), body.get("promptVersion"))
        && version.as_i64().is_some()
    {
        kept.push(("promptName", name));
        kept.push(("promptVersion", version));
    }
    kept
}

/// The canonical body of the snapshot event an observation row was folded from.
pub(crate) fn snapshot_body(observation: &Observation) -> JsonObject {
    expected_entries(observation)
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value.into_value()))
        .collect()
}

/// The entries of [`snapshot_body`], borrowing the large values.
fn expected_entries(observation: &Observation) -> Vec<(&'static str, Expected<'_>)> {
    let mut body: Vec<(&'static str, Expected<'_>)> = Vec::with_capacity(20);
    let mut put = |key: &'static str, value: Value| body.push((key, Expected::Owned(value)));
    put("traceId", observation.trace_id.clone().into());
    put("startTime", observation.start_time.into());
    put("environment", observation.environment.clone().into());
    if let Some(parent) = &observation.parent_observation_id {
        put("parentObservationId", parent.clone().into());
    }
    if observation.is_app_root {
        put("isAppRoot", true.into());
    }
    put("type", observation.r#type.clone().into());
    let optional_texts = [
        ("name", &observation.name),
        ("statusMessage", &observation.status_message),
        ("version", &observation.version),
        ("model", &observation.model),
    ];
    for (key, value) in optional_texts {
        if let Some(value) = value {
            put(key, value.clone().into());
        }
    }
    if let Some(end) = observation.end_time {
        put("endTime", end.into());
    }
    if let Some(completion) = observation.completion_start_time {
        put("completionStartTime", completion.into());
    }
    put("level", observation.level.clone().into());
    if let (Some(name), Some(version)) = (&observation.prompt_name, observation.prompt_version) {
        put("promptName", name.clone().into());
        put("promptVersion", version.into());
    }
    let maps = [
        ("providedUsageDetails", &observation.provided_usage_details),
        ("providedCostDetails", &observation.provided_cost_details),
    ];
    for (key, map) in maps {
        if !map.is_empty() {
            body.push((key, Expected::Object(map)));
        }
    }
    if let Some(parameters) = observation
        .model_parameters
        .as_ref()
        .filter(|value| non_empty_object(value))
    {
        body.push(("modelParameters", Expected::Value(parameters)));
    }
    for (key, value) in [
        ("input", &observation.input),
        ("output", &observation.output),
    ] {
        if let Some(value) = value.as_ref().filter(|value| is_truthy(value)) {
            body.push((key, Expected::Value(value)));
        }
    }
    if !observation.metadata.is_empty() {
        body.push(("metadata", Expected::Object(&observation.metadata)));
    }
    body
}
