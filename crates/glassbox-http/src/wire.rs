//! Entities to Langfuse's wire JSON (OpenAPI shapes), including the v1 vs v2 differences.

use serde_json::{Map, Value, json};

use glassbox_model::time::format_iso;
use glassbox_model::usage::sum_keys_containing;
use glassbox_model::{Observation, ProjectId, Score, ScoreDataType, Session, Trace};
use glassbox_store::{ScoreWithTrace, TraceWithStats};

fn iso(micros: i64) -> Value {
    Value::String(format_iso(micros))
}

fn opt_iso(micros: Option<i64>) -> Value {
    micros.map(iso).unwrap_or(Value::Null)
}

fn opt_str(text: &Option<String>) -> Value {
    text.clone().map(Value::String).unwrap_or(Value::Null)
}

fn opt_json(value: &Option<Value>) -> Value {
    value.clone().unwrap_or(Value::Null)
}

/// Which optional groups of a trace to include (`fields` of the traces API).
#[derive(Debug, Clone, Copy)]
pub struct TraceFields {
    pub io: bool,
    pub scores: bool,
    pub observations: bool,
    pub metrics: bool,
}

impl TraceFields {
    pub fn parse(fields: Option<&str>) -> TraceFields {
        match fields {
            None => TraceFields {
                io: true,
                scores: true,
                observations: true,
                metrics: true,
            },
            Some(list) => {
                let has = |name: &str| list.split(',').any(|item| item.trim() == name);
                TraceFields {
                    io: has("io"),
                    scores: has("scores"),
                    observations: has("observations"),
                    metrics: has("metrics"),
                }
            }
        }
    }
}

/// The trace fields shared by every trace shape.
pub fn trace_core(project: &ProjectId, trace: &Trace, io: bool) -> Map<String, Value> {
    let mut object = Map::new();
    object.insert("id".into(), json!(trace.id));
    object.insert("externalId".into(), Value::Null);
    object.insert("timestamp".into(), iso(trace.timestamp));
    object.insert("name".into(), opt_str(&trace.name));
    object.insert("userId".into(), opt_str(&trace.user_id));
    object.insert(
        "metadata".into(),
        if io {
            Value::Object(trace.metadata.clone())
        } else {
            Value::Null
        },
    );
    object.insert("release".into(), opt_str(&trace.release));
    object.insert("version".into(), opt_str(&trace.version));
    object.insert("projectId".into(), json!(project.as_str()));
    object.insert("environment".into(), json!(trace.environment));
    object.insert("public".into(), json!(trace.public));
    object.insert("bookmarked".into(), json!(trace.bookmarked));
    object.insert("tags".into(), json!(trace.tags));
    object.insert(
        "input".into(),
        if io {
            opt_json(&trace.input)
        } else {
            Value::Null
        },
    );
    object.insert(
        "output".into(),
        if io {
            opt_json(&trace.output)
        } else {
            Value::Null
        },
    );
    object.insert("sessionId".into(), opt_str(&trace.session_id));
    object.insert("createdAt".into(), iso(trace.created_at));
    object.insert("updatedAt".into(), iso(trace.updated_at));
    object.insert(
        "htmlPath".into(),
        json!(format!("/project/{}/traces/{}", project, trace.id)),
    );
    object
}

/// A trace of the list endpoint: ids of observations and scores plus derived metrics.
pub fn trace_list_item(project: &ProjectId, stats: &TraceWithStats, fields: TraceFields) -> Value {
    let mut object = trace_core(project, &stats.trace, fields.io);
    object.insert(
        "observations".into(),
        if fields.observations {
            json!(stats.observation_ids)
        } else {
            json!([])
        },
    );
    object.insert(
        "scores".into(),
        if fields.scores {
            json!(stats.score_ids)
        } else {
            json!([])
        },
    );
    let (total_cost, latency) = if fields.metrics {
        (stats.total_cost, stats.latency_seconds)
    } else {
        (-1.0, -1.0)
    };
    object.insert("totalCost".into(), json!(total_cost));
    object.insert("latency".into(), json!(latency));
    Value::Object(object)
}

/// `usage`, token counts and calculated costs reduced from the usage and cost maps.
fn usage_fields(observation: &Observation, object: &mut Map<String, Value>) {
    let input = sum_keys_containing(&observation.usage_details, "input").unwrap_or(0.0);
    let output = sum_keys_containing(&observation.usage_details, "output").unwrap_or(0.0);
    let total = observation
        .usage_details
        .get("total")
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    object.insert("usage".into(), json!({"unit": "TOKENS", "input": input as i64, "output": output as i64, "total": total as i64}));
    object.insert("unit".into(), json!("TOKENS"));
    object.insert("promptTokens".into(), json!(input as i64));
    object.insert("completionTokens".into(), json!(output as i64));
    object.insert("totalTokens".into(), json!(total as i64));
    let input_cost = sum_keys_containing(&observation.cost_details, "input");
    let output_cost = sum_keys_containing(&observation.cost_details, "output");
    object.insert("calculatedInputCost".into(), json!(input_cost));
    object.insert("calculatedOutputCost".into(), json!(output_cost));
    object.insert(
        "calculatedTotalCost".into(),
        json!(observation.total_cost.unwrap_or(0.0)),
    );
}

fn seconds_between(start: i64, end: Option<i64>) -> Value {
    end.map(|end| json!((end - start) as f64 / 1e6))
        .unwrap_or(Value::Null)
}

/// The v1 observation shape (`GET /observations`, trace detail).
pub fn observation_v1(project: &ProjectId, observation: &Observation) -> Value {
    let mut object = Map::new();
    object.insert("id".into(), json!(observation.id));
    object.insert("projectId".into(), json!(project.as_str()));
    object.insert("traceId".into(), json!(observation.trace_id));
    object.insert(
        "parentObservationId".into(),
        opt_str(&observation.parent_observation_id),
    );
    object.insert("name".into(), opt_str(&observation.name));
    object.insert("type".into(), json!(observation.r#type));
    object.insert("environment".into(), json!(observation.environment));
    object.insert("startTime".into(), iso(observation.start_time));
    object.insert("endTime".into(), opt_iso(observation.end_time));
    object.insert("version".into(), opt_str(&observation.version));
    object.insert("createdAt".into(), iso(observation.created_at));
    object.insert("updatedAt".into(), iso(observation.updated_at));
    object.insert("input".into(), opt_json(&observation.input));
    object.insert("output".into(), opt_json(&observation.output));
    object.insert(
        "metadata".into(),
        Value::Object(observation.metadata.clone()),
    );
    object.insert("level".into(), json!(observation.level));
    object.insert("statusMessage".into(), opt_str(&observation.status_message));
    object.insert("model".into(), opt_str(&observation.model));
    object.insert(
        "modelParameters".into(),
        observation
            .model_parameters
            .clone()
            .unwrap_or_else(|| json!({})),
    );
    object.insert(
        "completionStartTime".into(),
        opt_iso(observation.completion_start_time),
    );
    object.insert("promptId".into(), opt_str(&observation.prompt_id));
    object.insert("promptName".into(), opt_str(&observation.prompt_name));
    object.insert("promptVersion".into(), json!(observation.prompt_version));
    object.insert(
        "usageDetails".into(),
        Value::Object(observation.usage_details.clone()),
    );
    object.insert(
        "costDetails".into(),
        Value::Object(observation.cost_details.clone()),
    );
    usage_fields(observation, &mut object);
    object.insert("usagePricingTierName".into(), Value::Null);
    object.insert("usagePricingTierId".into(), Value::Null);
    object.insert("modelId".into(), opt_str(&observation.internal_model_id));
    object.insert("inputPrice".into(), Value::Null);
    object.insert("outputPrice".into(), Value::Null);
    object.insert("totalPrice".into(), Value::Null);
    object.insert(
        "latency".into(),
        seconds_between(observation.start_time, observation.end_time),
    );
    object.insert(
        "timeToFirstToken".into(),
        seconds_between(observation.start_time, observation.completion_start_time),
    );
    Value::Object(object)
}

/// Field groups of `GET /v2/observations`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ObservationFields {
    pub basic: bool,
    pub time: bool,
    pub io: bool,
    pub metadata: bool,
    pub model: bool,
    pub usage: bool,
    pub prompt: bool,
    pub metrics: bool,
    pub trace_context: bool,
}

impl ObservationFields {
    pub fn parse(fields: Option<&str>) -> ObservationFields {
        let list = fields.unwrap_or("core,basic");
        let has = |name: &str| list.split(',').any(|item| item.trim() == name);
        ObservationFields {
            basic: has("basic"),
            time: has("time"),
            io: has("io"),
            metadata: has("metadata"),
            model: has("model"),
            usage: has("usage"),
            prompt: has("prompt"),
            metrics: has("metrics"),
            trace_context: has("trace_context"),
        }
    }
}

/// The v2 representation of input/output: the raw string as stored.
fn raw_io(value: &Option<Value>) -> Value {
    match value {
        None => Value::Null,
        Some(Value::String(text)) => Value::String(text.clone()),
        Some(other) => Value::String(other.to_string()),
    }
}

/// Metadata flattened to dotted keys; values over 200 characters are cut unless expanded.
fn flat_metadata(metadata: &Map<String, Value>, expand: &[String]) -> Value {
    fn walk(prefix: &str, value: &Value, out: &mut Map<String, Value>) {
        match value {
            Value::Object(object) if !object.is_empty() => {
                for (key, child) in object {
                    let path = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    walk(&path, child, out);
                }
            }
            other => {
                out.insert(prefix.to_owned(), other.clone());
            }
        }
    }
    let mut flat = Map::new();
    for (key, value) in metadata {
        walk(key, value, &mut flat);
    }
    for (key, value) in flat.iter_mut() {
        if expand
            .iter()
            .any(|expanded| key == expanded || key.starts_with(&format!("{expanded}.")))
        {
            continue;
        }
        if let Value::String(text) = value {
            if text.chars().count() > 200 {
                *text = text.chars().take(200).collect();
            }
        }
    }
    Value::Object(flat)
}

/// Trace fields an observation of v2 may carry (`basic`, `trace_context`).
pub struct TraceContext<'a> {
    pub trace: Option<&'a Trace>,
}

pub fn observation_v2(
    project: &ProjectId,
    observation: &Observation,
    fields: ObservationFields,
    expand_metadata: &[String],
    context: TraceContext<'_>,
) -> Value {
    let mut object = Map::new();
    object.insert("id".into(), json!(observation.id));
    object.insert("traceId".into(), json!(observation.trace_id));
    object.insert("startTime".into(), iso(observation.start_time));
    object.insert("endTime".into(), opt_iso(observation.end_time));
    object.insert("projectId".into(), json!(project.as_str()));
    object.insert(
        "parentObservationId".into(),
        opt_str(&observation.parent_observation_id),
    );
    object.insert("type".into(), json!(observation.r#type));
    let trace = context.trace;
    if fields.basic {
        object.insert("name".into(), opt_str(&observation.name));
        object.insert("level".into(), json!(observation.level));
        object.insert("statusMessage".into(), opt_str(&observation.status_message));
        object.insert("version".into(), opt_str(&observation.version));
        object.insert("environment".into(), json!(observation.environment));
        object.insert(
            "bookmarked".into(),
            json!(trace.is_some_and(|trace| trace.bookmarked)),
        );
        object.insert(
            "public".into(),
            json!(trace.is_some_and(|trace| trace.public)),
        );
        object.insert(
            "userId".into(),
            trace
                .map(|trace| opt_str(&trace.user_id))
                .unwrap_or(Value::Null),
        );
        object.insert(
            "sessionId".into(),
            trace
                .map(|trace| opt_str(&trace.session_id))
                .unwrap_or(Value::Null),
        );
        object.insert(
            "isRootObservation".into(),
            json!(observation.parent_observation_id.is_none() || observation.is_app_root),
        );
    }
    if fields.time {
        object.insert(
            "completionStartTime".into(),
            opt_iso(observation.completion_start_time),
        );
        object.insert("createdAt".into(), iso(observation.created_at));
        object.insert("updatedAt".into(), iso(observation.updated_at));
    }
    if fields.io {
        object.insert("input".into(), raw_io(&observation.input));
        object.insert("output".into(), raw_io(&observation.output));
    }
    if fields.metadata {
        object.insert(
            "metadata".into(),
            flat_metadata(&observation.metadata, expand_metadata),
        );
    }
    if fields.model {
        object.insert("providedModelName".into(), opt_str(&observation.model));
        object.insert(
            "internalModelId".into(),
            opt_str(&observation.internal_model_id),
        );
        object.insert(
            "modelParameters".into(),
            observation
                .model_parameters
                .clone()
                .unwrap_or_else(|| json!({})),
        );
    }
    if fields.usage {
        object.insert(
            "usageDetails".into(),
            Value::Object(observation.usage_details.clone()),
        );
        object.insert(
            "costDetails".into(),
            Value::Object(observation.cost_details.clone()),
        );
        object.insert("totalCost".into(), json!(observation.total_cost));
        object.insert("usagePricingTierName".into(), Value::Null);
    }
    if fields.prompt {
        object.insert("promptId".into(), opt_str(&observation.prompt_id));
        object.insert("promptName".into(), opt_str(&observation.prompt_name));
        object.insert("promptVersion".into(), json!(observation.prompt_version));
    }
    if fields.metrics {
        object.insert(
            "latency".into(),
            seconds_between(observation.start_time, observation.end_time),
        );
        object.insert(
            "timeToFirstToken".into(),
            seconds_between(observation.start_time, observation.completion_start_time),
        );
    }
    if fields.trace_context {
        object.insert(
            "traceName".into(),
            trace
                .map(|trace| opt_str(&trace.name))
                .unwrap_or(Value::Null),
        );
        object.insert(
            "tags".into(),
            trace
                .map(|trace| json!(trace.tags))
                .unwrap_or_else(|| json!([])),
        );
        object.insert(
            "release".into(),
            trace
                .map(|trace| opt_str(&trace.release))
                .unwrap_or(Value::Null),
        );
    }
    object.insert(
        "modelId".into(),
        if fields.model {
            opt_str(&observation.internal_model_id)
        } else {
            Value::Null
        },
    );
    object.insert("inputPrice".into(), Value::Null);
    object.insert("outputPrice".into(), Value::Null);
    object.insert("totalPrice".into(), Value::Null);
    Value::Object(object)
}

/// The v1/v2 score object. v2 adds `sessionId`, `datasetRunId` (always present here).
pub fn score_object(project: &ProjectId, score: &Score) -> Map<String, Value> {
    let mut object = Map::new();
    object.insert("id".into(), json!(score.id));
    object.insert("projectId".into(), json!(project.as_str()));
    object.insert("environment".into(), json!(score.environment));
    object.insert("name".into(), json!(score.name));
    if score.data_type != ScoreDataType::Text {
        object.insert("value".into(), json!(score.value));
    }
    object.insert("source".into(), json!(score.source));
    object.insert("authorUserId".into(), opt_str(&score.author_user_id));
    object.insert("comment".into(), opt_str(&score.comment));
    object.insert("metadata".into(), Value::Object(score.metadata.clone()));
    object.insert("configId".into(), opt_str(&score.config_id));
    object.insert("queueId".into(), opt_str(&score.queue_id));
    object.insert(
        "executionTraceId".into(),
        opt_str(&score.execution_trace_id),
    );
    object.insert("createdAt".into(), iso(score.created_at));
    object.insert("updatedAt".into(), iso(score.updated_at));
    object.insert("timestamp".into(), iso(score.timestamp));
    object.insert("traceId".into(), opt_str(&score.trace_id));
    object.insert("observationId".into(), opt_str(&score.observation_id));
    object.insert("sessionId".into(), opt_str(&score.session_id));
    object.insert("datasetRunId".into(), opt_str(&score.dataset_run_id));
    object.insert("dataType".into(), json!(score.data_type.as_str()));
    if score.data_type != ScoreDataType::Numeric {
        object.insert("stringValue".into(), opt_str(&score.string_value));
    }
    object
}

/// A score of the v1/v2 list endpoints, with its trace's user, tags and environment.
pub fn score_with_trace(
    project: &ProjectId,
    item: &ScoreWithTrace,
    include_trace: bool,
    include_session: bool,
) -> Value {
    let mut object = score_object(project, &item.score);
    if include_trace {
        let trace = item.trace.as_ref().map(|trace| {
            let mut info = json!({"userId": trace.user_id, "tags": trace.tags, "environment": trace.environment});
            if include_session {
                info["sessionId"] = json!(trace.session_id);
            }
            info
        });
        object.insert("trace".into(), trace.unwrap_or(Value::Null));
    }
    Value::Object(object)
}

/// Field groups of `GET /v3/scores`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScoreV3Fields {
    pub details: bool,
    pub subject: bool,
    pub annotation: bool,
}

pub fn score_v3(project: &ProjectId, score: &Score, fields: ScoreV3Fields) -> Value {
    let value = match score.data_type {
        ScoreDataType::Numeric => json!(score.value),
        ScoreDataType::Boolean => json!(score.value == 1.0),
        _ => opt_str(&score.string_value),
    };
    let mut object = json!({
        "id": score.id, "projectId": project.as_str(), "name": score.name,
        "dataType": score.data_type.as_str(), "value": value, "source": score.source,
        "timestamp": iso(score.timestamp), "environment": score.environment,
        "createdAt": iso(score.created_at), "updatedAt": iso(score.updated_at),
    });
    if fields.details {
        object["comment"] = opt_str(&score.comment);
        object["configId"] = opt_str(&score.config_id);
        object["metadata"] = Value::Object(score.metadata.clone());
    }
    if fields.annotation {
        object["authorUserId"] = opt_str(&score.author_user_id);
        object["queueId"] = opt_str(&score.queue_id);
    }
    if fields.subject {
        object["subject"] = if let Some(observation_id) = &score.observation_id {
            json!({"kind": "observation", "id": observation_id, "traceId": score.trace_id})
        } else if let Some(trace_id) = &score.trace_id {
            json!({"kind": "trace", "id": trace_id})
        } else if let Some(session_id) = &score.session_id {
            json!({"kind": "session", "id": session_id})
        } else {
            json!({"kind": "experiment", "id": score.dataset_run_id})
        };
    }
    object
}

pub fn session(project: &ProjectId, session: &Session) -> Map<String, Value> {
    let mut object = Map::new();
    object.insert("id".into(), json!(session.id));
    object.insert("createdAt".into(), iso(session.created_at));
    object.insert("projectId".into(), json!(project.as_str()));
    object.insert("environment".into(), json!(session.environment));
    object
}

/// `GetMediaResponse`.
pub fn media_object(
    record: &glassbox_store::MediaRecord,
    uploaded_at: glassbox_model::Micros,
    url: &str,
    url_expiry: glassbox_model::Micros,
) -> Value {
    json!({
        "mediaId": record.id,
        "contentType": record.content_type,
        "contentLength": record.content_length,
        "uploadedAt": format_iso(uploaded_at),
        "url": url,
        "urlExpiry": format_iso(url_expiry),
    })
}
