//! Per-type validation and normalisation of event bodies. Unknown keys are dropped;
//! known keys are type-checked; timestamps become microseconds; environment, metadata,
//! usage and cost take their canonical form.

use serde_json::{Map, Value};

use glassbox_model::environment::normalize_environment;
use glassbox_model::ingest::EntityKind;
use glassbox_model::scores::MAX_TEXT_SCORE_CHARS;
use glassbox_model::time::parse_iso_with_offset;
use glassbox_model::usage::{
    normalize_cost_details, normalize_usage_details, provided_cost, provided_usage,
};
use glassbox_model::{JsonObject, LEVELS, SCORE_SOURCES, ScoreDataType};

use crate::{MAX_ID_CHARS, valid_id};

/// Longest accepted name, as in Langfuse.
pub const MAX_NAME_CHARS: usize = 1_000;
/// Longest accepted short string field (user id, session id, release, version, model...).
pub const MAX_SHORT_STRING_CHARS: usize = 4_096;

#[derive(Debug, Clone, PartialEq)]
pub enum BodyError {
    Invalid(String),
}

type Normalized = Option<(EntityKind, String, JsonObject)>;

fn invalid<T>(text: impl Into<String>) -> Result<T, BodyError> {
    Err(BodyError::Invalid(text.into()))
}

/// Validates and normalises the body of one event. `Ok(None)`: valid but without a body
/// id, so accepted and not stored (Langfuse's behaviour).
pub fn normalize_body(event_type: &str, body: &JsonObject) -> Result<Normalized, BodyError> {
    match event_type {
        "trace-create" => trace(body),
        "span-create" | "span-update" => observation(body, Some("SPAN"), true),
        "generation-create" | "generation-update" => observation(body, Some("GENERATION"), true),
        "event-create" => observation(body, Some("EVENT"), true),
        "agent-create" => observation(body, Some("AGENT"), true),
        "tool-create" => observation(body, Some("TOOL"), true),
        "chain-create" => observation(body, Some("CHAIN"), true),
        "retriever-create" => observation(body, Some("RETRIEVER"), true),
        "evaluator-create" => observation(body, Some("EVALUATOR"), true),
        "embedding-create" => observation(body, Some("EMBEDDING"), true),
        "guardrail-create" => observation(body, Some("GUARDRAIL"), true),
        "observation-create" | "observation-update" => observation(body, None, false),
        "score-create" => score(body),
        "dataset-run-item-create" => {
            invalid("dataset-run-item-create is only allowed for internal usage")
        }
        other => invalid(format!(
            "type: unknown event type `{}`",
            truncate(other, 100)
        )),
    }
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// Copies checked fields from `body` into `out`.
struct Fields<'a> {
    body: &'a JsonObject,
    out: JsonObject,
}

impl<'a> Fields<'a> {
    fn new(body: &'a JsonObject) -> Self {
        Fields {
            body,
            out: Map::new(),
        }
    }

    fn string(&mut self, key: &str, max_chars: usize) -> Result<(), BodyError> {
        match self.body.get(key) {
            None => Ok(()),
            Some(Value::Null) => {
                self.out.insert(key.to_owned(), Value::Null);
                Ok(())
            }
            Some(Value::String(text)) => {
                if text.chars().count() > max_chars {
                    return invalid(format!("{key}: must be at most {max_chars} characters"));
                }
                self.out.insert(key.to_owned(), Value::String(text.clone()));
                Ok(())
            }
            Some(_) => invalid(format!("{key}: expected a string")),
        }
    }

    fn id_reference(&mut self, key: &str) -> Result<(), BodyError> {
        self.string(key, MAX_ID_CHARS)?;
        if let Some(Value::String(id)) = self.out.get(key) {
            if id.is_empty() {
                self.out.insert(key.to_owned(), Value::Null);
            }
        }
        Ok(())
    }

    fn datetime(&mut self, key: &str) -> Result<(), BodyError> {
        match self.body.get(key) {
            None => Ok(()),
            Some(Value::Null) => {
                self.out.insert(key.to_owned(), Value::Null);
                Ok(())
            }
            Some(Value::String(text)) => match parse_iso_with_offset(text) {
                Some(micros) => {
                    self.out.insert(key.to_owned(), Value::from(micros));
                    Ok(())
                }
                None => invalid(format!(
                    "{key}: expected an ISO-8601 datetime with an offset"
                )),
            },
            Some(_) => invalid(format!("{key}: expected an ISO-8601 datetime string")),
        }
    }

    fn any(&mut self, key: &str) {
        if let Some(value) = self.body.get(key) {
            self.out.insert(key.to_owned(), value.clone());
        }
    }

    fn boolean(&mut self, key: &str) -> Result<(), BodyError> {
        match self.body.get(key) {
            None | Some(Value::Null) => Ok(()),
            Some(Value::Bool(flag)) => {
                self.out.insert(key.to_owned(), Value::Bool(*flag));
                Ok(())
            }
            Some(_) => invalid(format!("{key}: expected a boolean")),
        }
    }

    fn metadata(&mut self) {
        match self.body.get("metadata") {
            None | Some(Value::Null) => {}
            Some(Value::Object(object)) => {
                self.out
                    .insert("metadata".to_owned(), Value::Object(object.clone()));
            }
            Some(other) => {
                let mut wrapped = Map::new();
                wrapped.insert("metadata".to_owned(), other.clone());
                self.out
                    .insert("metadata".to_owned(), Value::Object(wrapped));
            }
        }
    }

    fn environment(&mut self) -> Result<(), BodyError> {
        let raw = match self.body.get("environment") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(text.as_str()),
            Some(_) => return invalid("environment: expected a string"),
        };
        self.out.insert(
            "environment".to_owned(),
            Value::String(normalize_environment(raw)),
        );
        Ok(())
    }

    fn body_id(&self) -> Result<Option<String>, BodyError> {
        match self.body.get("id") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(id)) if valid_id(id) => Ok(Some(id.clone())),
            Some(Value::String(_)) => invalid(format!(
                "body.id: must be 1 to {MAX_ID_CHARS} characters without carriage returns"
            )),
            Some(_) => invalid("body.id: expected a string"),
        }
    }
}

fn trace(body: &JsonObject) -> Result<Normalized, BodyError> {
    let mut fields = Fields::new(body);
    let id = fields.body_id()?;
    fields.datetime("timestamp")?;
    fields.string("name", MAX_NAME_CHARS)?;
    for key in ["userId", "sessionId", "release", "version"] {
        fields.string(key, MAX_SHORT_STRING_CHARS)?;
    }
    fields.any("input");
    fields.any("output");
    fields.metadata();
    fields.environment()?;
    fields.boolean("public")?;
    match body.get("tags") {
        None | Some(Value::Null) => {}
        Some(Value::Array(tags)) => {
            if tags.len() > 1_000
                || !tags.iter().all(|tag| {
                    tag.as_str()
                        .is_some_and(|t| t.chars().count() <= MAX_NAME_CHARS)
                })
            {
                return invalid("tags: expected an array of at most 1000 strings");
            }
            fields
                .out
                .insert("tags".to_owned(), Value::Array(tags.clone()));
        }
        Some(_) => return invalid("tags: expected an array of strings"),
    }
    if let Some(Value::String(session)) = fields.out.get("sessionId") {
        if session.is_empty() {
            fields.out.insert("sessionId".to_owned(), Value::Null);
        }
    }
    Ok(id.map(|id| (EntityKind::Trace, id, fields.out)))
}

fn observation(
    body: &JsonObject,
    implied_type: Option<&str>,
    id_required: bool,
) -> Result<Normalized, BodyError> {
    let mut fields = Fields::new(body);
    let id = fields.body_id()?;
    if id.is_none() && id_required {
        return invalid("body.id: a string is required");
    }
    let observation_type = match implied_type {
        Some(implied) => implied.to_owned(),
        None => match body.get("type").and_then(Value::as_str) {
            Some(given @ ("GENERATION" | "SPAN" | "EVENT")) => given.to_owned(),
            _ => return invalid("type: expected GENERATION, SPAN or EVENT"),
        },
    };
    fields
        .out
        .insert("type".to_owned(), Value::String(observation_type));
    fields.id_reference("traceId")?;
    fields.id_reference("parentObservationId")?;
    fields.string("name", MAX_NAME_CHARS)?;
    for key in ["statusMessage"] {
        fields.string(key, 100_000)?;
    }
    for key in ["version", "model"] {
        fields.string(key, MAX_SHORT_STRING_CHARS)?;
    }
    for key in ["startTime", "endTime", "completionStartTime"] {
        fields.datetime(key)?;
    }
    fields.any("input");
    fields.any("output");
    fields.metadata();
    fields.environment()?;
    match body.get("level") {
        None => {}
        Some(Value::Null) => {
            fields.out.insert("level".to_owned(), Value::Null);
        }
        Some(Value::String(level)) if LEVELS.contains(&level.as_str()) => {
            fields
                .out
                .insert("level".to_owned(), Value::String(level.clone()));
        }
        Some(_) => return invalid("level: expected DEBUG, DEFAULT, WARNING or ERROR"),
    }
    match body.get("modelParameters") {
        None | Some(Value::Null) => {}
        Some(Value::Object(parameters)) => {
            fields.out.insert(
                "modelParameters".to_owned(),
                Value::Object(parameters.clone()),
            );
        }
        Some(_) => return invalid("modelParameters: expected an object"),
    }
    usage_and_cost(body, &mut fields.out)?;
    let prompt_name = body.get("promptName").filter(|value| !value.is_null());
    let prompt_version = body.get("promptVersion").filter(|value| !value.is_null());
    match (prompt_name, prompt_version) {
        (None, None) => {}
        (Some(Value::String(name)), Some(version))
            if version.as_i64().is_some() && name.chars().count() <= MAX_NAME_CHARS =>
        {
            fields
                .out
                .insert("promptName".to_owned(), Value::String(name.clone()));
            fields
                .out
                .insert("promptVersion".to_owned(), version.clone());
        }
        _ => {
            return invalid(
                "promptName and promptVersion: give both (a string and an integer) or neither",
            );
        }
    }
    Ok(id.map(|id| (EntityKind::Observation, id, fields.out)))
}

fn usage_and_cost(body: &JsonObject, out: &mut JsonObject) -> Result<(), BodyError> {
    let usage = match body.get("usage") {
        None | Some(Value::Null) => None,
        Some(value @ Value::Object(object)) => {
            if let Some(unit) = object.get("unit").filter(|unit| !unit.is_null()) {
                let units = [
                    "CHARACTERS",
                    "TOKENS",
                    "MILLISECONDS",
                    "SECONDS",
                    "IMAGES",
                    "REQUESTS",
                ];
                if !unit.as_str().is_some_and(|unit| units.contains(&unit)) {
                    return invalid(
                        "usage.unit: expected one of CHARACTERS, TOKENS, MILLISECONDS, SECONDS, IMAGES, REQUESTS",
                    );
                }
            }
            for (key, value) in object {
                if key != "unit" && !(value.is_null() || value.is_number()) {
                    return invalid(format!("usage.{key}: expected a number"));
                }
            }
            Some(value)
        }
        Some(_) => return invalid("usage: expected an object"),
    };
    let usage_details = match body.get("usageDetails") {
        None | Some(Value::Null) => None,
        Some(value @ Value::Object(_)) => normalize_usage_details(value),
        Some(_) => return invalid("usageDetails: expected an object"),
    };
    let cost_details = match body.get("costDetails") {
        None | Some(Value::Null) => None,
        Some(value @ Value::Object(_)) => normalize_cost_details(value),
        Some(_) => return invalid("costDetails: expected an object"),
    };
    let usage_map = provided_usage(usage, usage_details.as_ref());
    if !usage_map.is_empty() {
        out.insert("providedUsageDetails".to_owned(), Value::Object(usage_map));
    }
    let cost_map = provided_cost(usage, cost_details.as_ref());
    if !cost_map.is_empty() {
        out.insert("providedCostDetails".to_owned(), Value::Object(cost_map));
    }
    Ok(())
}

fn score(body: &JsonObject) -> Result<Normalized, BodyError> {
    let mut fields = Fields::new(body);
    let id = fields.body_id()?;
    match body.get("name") {
        Some(Value::String(name)) if !name.is_empty() && name.chars().count() <= MAX_NAME_CHARS => {
            fields
                .out
                .insert("name".to_owned(), Value::String(name.clone()));
        }
        _ => return invalid("name: a non-empty string is required"),
    }
    for key in [
        "traceId",
        "observationId",
        "sessionId",
        "datasetRunId",
        "configId",
        "queueId",
        "executionTraceId",
        "authorUserId",
    ] {
        fields.id_reference(key)?;
    }
    fields.string("comment", 5_000)?;
    fields.datetime("timestamp")?;
    fields.metadata();
    fields.environment()?;
    let present = |out: &JsonObject, key: &str| out.get(key).is_some_and(|value| !value.is_null());
    let has_trace = present(&fields.out, "traceId");
    let has_observation = present(&fields.out, "observationId");
    let has_config = present(&fields.out, "configId");
    let targets = ["traceId", "sessionId", "datasetRunId"]
        .iter()
        .filter(|key| present(&fields.out, key))
        .count();
    if targets != 1 {
        return invalid("exactly one of traceId, sessionId or datasetRunId is required");
    }
    if has_observation && !has_trace {
        return invalid("observationId requires traceId");
    }
    let source = match body.get("source") {
        None | Some(Value::Null) => "API",
        Some(Value::String(source)) if SCORE_SOURCES.contains(&source.as_str()) => source.as_str(),
        Some(_) => return invalid("source: expected API, EVAL or ANNOTATION"),
    };
    fields
        .out
        .insert("source".to_owned(), Value::String(source.to_owned()));
    let data_type = match body.get("dataType") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => match ScoreDataType::parse(text) {
            Some(data_type) => Some(data_type),
            None => {
                return invalid(
                    "dataType: expected NUMERIC, CATEGORICAL, BOOLEAN, TEXT or CORRECTION",
                );
            }
        },
        Some(_) => return invalid("dataType: expected a string"),
    };
    let value = body.get("value").cloned().unwrap_or(Value::Null);
    let value_ok = match data_type {
        None => value.is_number() || value.is_string(),
        Some(ScoreDataType::Numeric) => value.is_number(),
        Some(ScoreDataType::Boolean) => value.as_f64().is_some_and(|n| n == 0.0 || n == 1.0),
        Some(ScoreDataType::Categorical | ScoreDataType::Correction) => value.is_string(),
        Some(ScoreDataType::Text) => value
            .as_str()
            .is_some_and(|text| !text.is_empty() && text.chars().count() <= MAX_TEXT_SCORE_CHARS),
    };
    if !value_ok {
        let expected = match data_type {
            None => "a number or a string".to_owned(),
            Some(ScoreDataType::Numeric) => "a number for NUMERIC scores".to_owned(),
            Some(ScoreDataType::Boolean) => "0 or 1 for BOOLEAN scores".to_owned(),
            Some(ScoreDataType::Text) => {
                format!("a string of 1 to {MAX_TEXT_SCORE_CHARS} characters for TEXT scores")
            }
            Some(other) => format!("a string for {} scores", other.as_str()),
        };
        return invalid(format!("value: expected {expected}"));
    }
    if let Value::String(text) = &value {
        if text.chars().count() > 100_000 {
            return invalid("value: string values must be at most 100000 characters");
        }
    }
    fields.out.insert("value".to_owned(), value);
    if let Some(data_type) = data_type {
        fields.out.insert(
            "dataType".to_owned(),
            Value::String(data_type.as_str().to_owned()),
        );
    }
    if source == "ANNOTATION" && !has_config && data_type != Some(ScoreDataType::Correction) {
        return invalid("configId: required for scores with source ANNOTATION");
    }
    Ok(id.map(|id| (EntityKind::Score, id, fields.out)))
}
