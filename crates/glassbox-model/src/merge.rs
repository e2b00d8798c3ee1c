//! The merge of every event received for one entity id into one row, following
//! Langfuse's rules (ingestion spec §1.7). The fold is pure and order-independent: the
//! events are sorted by envelope timestamp first, so an update that arrives before its
//! create gives the same row as the other way round.
//!
//! Rules: immutable fields take the first value; other scalars take the latest value,
//! where an absent key or `{}` leaves the field alone and an explicit `null` clears it;
//! maps (usage, cost, model parameters) are replaced as a whole by the latest non-empty
//! one; `metadata` is deep-merged key by key; `tags` are a sorted set union; `input` and
//! `output` take the latest truthy value.

use serde_json::{Map, Value};

use crate::environment::DEFAULT_ENVIRONMENT;
use crate::ingest::LoggedEvent;
use crate::usage::{derive_cost, derive_usage};
use crate::{JsonObject, Micros, Observation, ScoreDataType, Trace};

fn sorted(events: &[LoggedEvent]) -> Vec<&LoggedEvent> {
    let mut ordered: Vec<&LoggedEvent> = events.iter().collect();
    ordered.sort_by_key(|event| event.merge_order_key());
    ordered
}

struct Fold<'a> {
    events: Vec<&'a LoggedEvent>,
}

impl<'a> Fold<'a> {
    fn new(events: &'a [LoggedEvent]) -> Self {
        Fold {
            events: sorted(events),
        }
    }

    fn bodies(&self) -> impl Iterator<Item = &'a JsonObject> + '_ {
        self.events.iter().map(|event| &event.event.body)
    }

    /// Latest value wins; absent or `{}` keeps, `null` clears.
    fn latest(&self, key: &str) -> Option<&'a Value> {
        let mut current = None;
        for body in self.bodies() {
            match body.get(key) {
                None => {}
                Some(Value::Object(object)) if object.is_empty() => {}
                Some(Value::Null) => current = None,
                Some(value) => current = Some(value),
            }
        }
        current
    }

    fn latest_string(&self, key: &str) -> Option<String> {
        self.latest(key).map(value_to_string)
    }

    fn latest_micros(&self, key: &str) -> Option<Micros> {
        self.latest(key).and_then(Value::as_i64)
    }

    /// First non-null value wins (immutable fields).
    fn first(&self, key: &str) -> Option<&'a Value> {
        self.bodies()
            .find_map(|body| body.get(key).filter(|value| !value.is_null()))
    }

    /// Latest truthy value wins (`input`, `output`).
    fn latest_truthy(&self, key: &str) -> Option<Value> {
        self.bodies()
            .filter_map(|body| body.get(key))
            .filter(|value| is_truthy(value))
            .last()
            .cloned()
    }

    /// Latest non-empty object, replaced as a whole.
    fn latest_map(&self, key: &str) -> Map<String, Value> {
        self.bodies()
            .filter_map(|body| body.get(key))
            .filter_map(Value::as_object)
            .filter(|object| !object.is_empty())
            .last()
            .cloned()
            .unwrap_or_default()
    }

    fn merged_metadata(&self) -> JsonObject {
        let mut merged = Map::new();
        for body in self.bodies() {
            if let Some(Value::Object(metadata)) = body.get("metadata") {
                deep_merge(&mut merged, metadata);
            }
        }
        merged
    }

    fn environment(&self) -> String {
        self.first("environment")
            .and_then(Value::as_str)
            .unwrap_or(DEFAULT_ENVIRONMENT)
            .to_owned()
    }

    fn first_envelope_timestamp(&self) -> Micros {
        self.events
            .first()
            .map(|event| event.event.timestamp)
            .unwrap_or_default()
    }

    fn created_at(&self) -> Micros {
        self.events
            .iter()
            .map(|event| event.received_at)
            .min()
            .unwrap_or_default()
    }

    fn updated_at(&self) -> Micros {
        self.events
            .iter()
            .map(|event| event.received_at)
            .max()
            .unwrap_or_default()
    }
}

fn value_to_string(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

pub(crate) fn is_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(flag) => *flag,
        Value::Number(number) => number.as_f64().is_some_and(|n| n != 0.0),
        Value::String(text) => !text.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

fn deep_merge(target: &mut JsonObject, source: &JsonObject) {
    for (key, value) in source {
        match (target.get_mut(key), value) {
            (Some(Value::Object(existing)), Value::Object(incoming)) => {
                deep_merge(existing, incoming)
            }
            _ => {
                target.insert(key.clone(), value.clone());
            }
        }
    }
}

/// The body keys [`fold_trace`] reads, by rule (besides `metadata`, deep-merged in order,
/// and `tags`, a set union): the first non-null value wins ...
pub(crate) const TRACE_FIRST_KEYS: [&str; 2] = ["timestamp", "environment"];
/// ... the latest value wins (absent or `{}` keeps, `null` clears) ...
pub(crate) const TRACE_LATEST_KEYS: [&str; 7] = [
    "name",
    "userId",
    "sessionId",
    "release",
    "version",
    "public",
    "bookmarked",
];
/// ... the latest truthy value wins.
pub(crate) const TRACE_TRUTHY_KEYS: [&str; 2] = ["input", "output"];

/// Folds every `trace-create` event of one trace id. `None` when there are no events.
/// Reads the keys of [`TRACE_FIRST_KEYS`], [`TRACE_LATEST_KEYS`], [`TRACE_TRUTHY_KEYS`],
/// `metadata` and `tags` (keep `trace_events::prune_otlp_trace_events` in step).
pub fn fold_trace(id: &str, events: &[LoggedEvent]) -> Option<Trace> {
    if events.is_empty() {
        return None;
    }
    let fold = Fold::new(events);
    let mut tags: Vec<String> = fold
        .bodies()
        .filter_map(|body| body.get("tags"))
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    tags.sort();
    tags.dedup();
    Some(Trace {
        id: id.to_owned(),
        timestamp: fold
            .first("timestamp")
            .and_then(Value::as_i64)
            .unwrap_or_else(|| fold.first_envelope_timestamp()),
        name: fold.latest_string("name"),
        user_id: fold.latest_string("userId"),
        session_id: fold.latest_string("sessionId"),
        release: fold.latest_string("release"),
        version: fold.latest_string("version"),
        environment: fold.environment(),
        metadata: fold.merged_metadata(),
        tags,
        // Glassbox keeps `public` once set unless a later event sets it explicitly;
        // Langfuse resets it on every trace-create without the field (a known quirk).
        public: fold
            .latest("public")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        bookmarked: fold
            .latest("bookmarked")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        input: fold.latest_truthy("input"),
        output: fold.latest_truthy("output"),
        created_at: fold.created_at(),
        updated_at: fold.updated_at(),
    })
}

/// Folds every event of one observation id.
pub fn fold_observation(id: &str, events: &[LoggedEvent]) -> Option<Observation> {
    if events.is_empty() {
        return None;
    }
    let fold = Fold::new(events);
    let start_time = fold
        .first("startTime")
        .and_then(Value::as_i64)
        .unwrap_or_else(|| fold.first_envelope_timestamp());
    let end_time = fold.latest_micros("endTime").map(|end| end.max(start_time));
    let provided_usage_details = fold.latest_map("providedUsageDetails");
    let provided_cost_details = fold.latest_map("providedCostDetails");
    let usage_details = derive_usage(&provided_usage_details);
    let (cost_details, total_cost) = derive_cost(&provided_cost_details);
    let (prompt_name, prompt_version) = latest_prompt_link(&fold);
    Some(Observation {
        id: id.to_owned(),
        // Langfuse gives an observation without a trace a fresh trace id; glassbox uses
        // the observation id so that the merge stays deterministic.
        trace_id: fold
            .first("traceId")
            .map(value_to_string)
            .unwrap_or_else(|| id.to_owned()),
        parent_observation_id: fold.latest_string("parentObservationId"),
        is_app_root: fold
            .latest("isAppRoot")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        r#type: fold
            .latest_string("type")
            .unwrap_or_else(|| "SPAN".to_owned()),
        name: fold.latest_string("name"),
        start_time,
        end_time,
        completion_start_time: fold.latest_micros("completionStartTime"),
        environment: fold.environment(),
        metadata: fold.merged_metadata(),
        level: fold
            .latest_string("level")
            .unwrap_or_else(|| "DEFAULT".to_owned()),
        status_message: fold.latest_string("statusMessage"),
        version: fold.latest_string("version"),
        input: fold.latest_truthy("input"),
        output: fold.latest_truthy("output"),
        model: fold.latest_string("model"),
        internal_model_id: None,
        model_parameters: Some(Value::Object(fold.latest_map("modelParameters")))
            .filter(|value| value.as_object().is_some_and(|object| !object.is_empty())),
        provided_usage_details,
        usage_details,
        provided_cost_details,
        cost_details,
        total_cost,
        prompt_id: None,
        prompt_name,
        prompt_version,
        created_at: fold.created_at(),
        updated_at: fold.updated_at(),
    })
}

/// The latest event that names both a prompt and a version sets the link.
fn latest_prompt_link(fold: &Fold<'_>) -> (Option<String>, Option<i64>) {
    fold.bodies()
        .filter_map(|body| {
            let name = body.get("promptName")?.as_str()?;
            let version = body.get("promptVersion")?.as_i64()?;
            Some((Some(name.to_owned()), Some(version)))
        })
        .last()
        .unwrap_or((None, None))
}

/// Folds every `score-create` event of one score id into the raw (not yet validated
/// against a config) score. `value` keeps its wire form in `raw_value`.
pub fn fold_score(id: &str, events: &[LoggedEvent]) -> Option<MergedScore> {
    if events.is_empty() {
        return None;
    }
    let fold = Fold::new(events);
    Some(MergedScore {
        id: id.to_owned(),
        timestamp: fold
            .first("timestamp")
            .and_then(Value::as_i64)
            .unwrap_or_else(|| fold.first_envelope_timestamp()),
        name: fold.latest_string("name").unwrap_or_default(),
        raw_value: fold.latest("value").cloned().unwrap_or(Value::Null),
        data_type: fold
            .latest("dataType")
            .and_then(Value::as_str)
            .and_then(ScoreDataType::parse),
        source: fold
            .latest_string("source")
            .unwrap_or_else(|| "API".to_owned()),
        comment: fold.latest_string("comment"),
        metadata: fold.merged_metadata(),
        config_id: fold.latest_string("configId"),
        queue_id: fold.latest_string("queueId"),
        author_user_id: fold.latest_string("authorUserId"),
        execution_trace_id: fold.latest_string("executionTraceId"),
        trace_id: fold.first("traceId").map(value_to_string),
        observation_id: fold.latest_string("observationId"),
        session_id: fold.latest_string("sessionId"),
        dataset_run_id: fold.latest_string("datasetRunId"),
        environment: fold.environment(),
        created_at: fold.created_at(),
        updated_at: fold.updated_at(),
    })
}

/// A score after the merge, before the config check turns it into a [`Score`].
#[derive(Debug, Clone, PartialEq)]
pub struct MergedScore {
    pub id: String,
    pub timestamp: Micros,
    pub name: String,
    pub raw_value: Value,
    pub data_type: Option<ScoreDataType>,
    pub source: String,
    pub comment: Option<String>,
    pub metadata: JsonObject,
    pub config_id: Option<String>,
    pub queue_id: Option<String>,
    pub author_user_id: Option<String>,
    pub execution_trace_id: Option<String>,
    pub trace_id: Option<String>,
    pub observation_id: Option<String>,
    pub session_id: Option<String>,
    pub dataset_run_id: Option<String>,
    pub environment: String,
    pub created_at: Micros,
    pub updated_at: Micros,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{EntityKind, IngestEvent};
    use serde_json::json;

    fn logged(event_type: &str, timestamp: Micros, sequence: i64, body: Value) -> LoggedEvent {
        LoggedEvent {
            event: IngestEvent {
                event_id: format!("e{sequence}"),
                event_type: event_type.to_owned(),
                timestamp,
                kind: EntityKind::Observation,
                entity_id: "o1".to_owned(),
                body: body.as_object().unwrap().clone(),
                snapshot: false,
            },
            received_at: 1_000 + sequence,
            sequence,
        }
    }

    #[test]
    fn update_before_create_gives_the_same_observation() {
        let create = |seq| {
            logged(
                "span-create",
                10,
                seq,
                json!({"traceId": "t1", "name": "a", "startTime": 10, "input": {"q": 1}, "type": "SPAN"}),
            )
        };
        let update = |seq| {
            logged(
                "span-update",
                20,
                seq,
                json!({"traceId": "t1", "name": "b", "endTime": 30, "output": "done", "type": "SPAN"}),
            )
        };
        let in_order = fold_observation("o1", &[create(1), update(2)]).unwrap();
        let reversed = fold_observation("o1", &[update(1), create(2)]).unwrap();
        assert_eq!(in_order.name.as_deref(), Some("b"));
        assert_eq!(in_order.end_time, Some(30));
        assert_eq!(in_order.output, Some(json!("done")));
        assert_eq!(in_order.input, Some(json!({"q": 1})));
        let strip = |mut o: Observation| {
            o.created_at = 0;
            o.updated_at = 0;
            o
        };
        assert_eq!(strip(in_order), strip(reversed));
    }

    #[test]
    fn null_clears_empty_object_keeps_falsy_io_ignored() {
        let events = [
            logged(
                "span-create",
                1,
                1,
                json!({"name": "a", "statusMessage": "x", "input": "in", "version": "1"}),
            ),
            logged(
                "span-update",
                2,
                2,
                json!({"statusMessage": null, "version": {}, "input": ""}),
            ),
        ];
        let observation = fold_observation("o1", &events).unwrap();
        assert_eq!(observation.status_message, None);
        assert_eq!(observation.version.as_deref(), Some("1"));
        assert_eq!(observation.input, Some(json!("in")));
        assert_eq!(observation.trace_id, "o1");
        assert_eq!(observation.level, "DEFAULT");
    }

    #[test]
    fn end_before_start_is_clamped() {
        let events = [logged(
            "span-create",
            1,
            1,
            json!({"startTime": 50, "endTime": 40}),
        )];
        assert_eq!(fold_observation("o1", &events).unwrap().end_time, Some(50));
    }

    #[test]
    fn trace_tags_union_metadata_deep_merge_immutable_timestamp() {
        let events = [
            logged(
                "trace-create",
                5,
                1,
                json!({"timestamp": 5, "tags": ["b", "a"], "metadata": {"x": {"p": 1}, "k": 1}, "environment": "prod"}),
            ),
            logged(
                "trace-create",
                6,
                2,
                json!({"timestamp": 99, "tags": ["c", "a"], "metadata": {"x": {"q": 2}}, "environment": "dev"}),
            ),
        ];
        let trace = fold_trace("t", &events).unwrap();
        assert_eq!(trace.tags, vec!["a", "b", "c"]);
        assert_eq!(trace.timestamp, 5);
        assert_eq!(trace.environment, "prod");
        assert_eq!(
            Value::Object(trace.metadata),
            json!({"x": {"p": 1, "q": 2}, "k": 1})
        );
    }

    #[test]
    fn usage_maps_replace_as_a_whole() {
        let events = [
            logged(
                "generation-create",
                1,
                1,
                json!({"providedUsageDetails": {"input": 1, "output": 2}}),
            ),
            logged(
                "generation-update",
                2,
                2,
                json!({"providedUsageDetails": {"input": 5}}),
            ),
        ];
        let observation = fold_observation("o1", &events).unwrap();
        assert_eq!(
            Value::Object(observation.usage_details),
            json!({"input": 5, "total": 5})
        );
    }
}
