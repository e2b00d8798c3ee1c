//! Wire shapes of prompts: the Langfuse `Prompt` object (v2 and legacy v1), the prompt
//! list item, and glassbox's usage statistics of a version.

use serde_json::{Map, Value, json};

use glassbox_model::ProjectId;
use glassbox_model::prompts::{
    Distribution, PRODUCTION_LABEL, PromptNode, PromptVersion, PromptVersionUsage, ResolutionGraph,
    ScoreAverage,
};
use glassbox_model::time::format_iso;
use glassbox_store::PromptMeta;

fn iso_or_null(micros: Option<i64>) -> Value {
    micros
        .map(|micros| json!(format_iso(micros)))
        .unwrap_or(Value::Null)
}

fn node(node: &PromptNode) -> Value {
    json!({"id": node.id, "name": node.name, "version": node.version})
}

fn resolution_graph(graph: &ResolutionGraph) -> Value {
    let dependencies: Map<String, Value> = graph
        .dependencies
        .iter()
        .map(|(parent, children)| {
            (
                parent.clone(),
                Value::Array(children.iter().map(node).collect()),
            )
        })
        .collect();
    json!({"root": node(&graph.root), "dependencies": dependencies})
}

/// How `isActive` is filled: v2 creates leave Langfuse's deprecated column null; the
/// legacy v1 API reports whether the version has `production`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsActive {
    Null,
    FromProductionLabel,
}

/// The `Prompt` object (`type` is the discriminator the SDKs need).
pub fn prompt_object(
    project: &ProjectId,
    version: &PromptVersion,
    graph: Option<&ResolutionGraph>,
    is_active: IsActive,
) -> Value {
    let mut object = Map::new();
    object.insert("id".into(), json!(version.id));
    object.insert("createdAt".into(), json!(format_iso(version.created_at)));
    object.insert("updatedAt".into(), json!(format_iso(version.updated_at)));
    object.insert("projectId".into(), json!(project.as_str()));
    object.insert("createdBy".into(), json!(version.created_by));
    object.insert("name".into(), json!(version.name));
    object.insert("version".into(), json!(version.version));
    object.insert("type".into(), json!(version.r#type.as_str()));
    object.insert("prompt".into(), version.prompt.clone());
    object.insert("config".into(), version.config.clone());
    object.insert("labels".into(), json!(version.labels));
    object.insert("tags".into(), json!(version.tags));
    object.insert("commitMessage".into(), json!(version.commit_message));
    object.insert(
        "isActive".into(),
        match is_active {
            IsActive::Null => Value::Null,
            IsActive::FromProductionLabel => {
                json!(version.labels.iter().any(|label| label == PRODUCTION_LABEL))
            }
        },
    );
    object.insert(
        "resolutionGraph".into(),
        graph.map(resolution_graph).unwrap_or(Value::Null),
    );
    Value::Object(object)
}

/// An item of `GET /v2/prompts` (`PromptMeta`).
pub fn prompt_meta(meta: &PromptMeta) -> Value {
    json!({
        "name": meta.name,
        "type": meta.r#type.as_str(),
        "versions": meta.versions,
        "labels": meta.labels,
        "tags": meta.tags,
        "lastUpdatedAt": format_iso(meta.last_updated_at),
        "lastConfig": meta.last_config,
    })
}

fn distribution(distribution: &Option<Distribution>) -> Value {
    match distribution {
        None => Value::Null,
        Some(d) => json!({
            "count": d.count, "sum": d.sum, "mean": d.mean, "min": d.min, "max": d.max,
            "p50": d.p50, "p90": d.p90, "p95": d.p95, "p99": d.p99,
        }),
    }
}

fn score_averages(scores: &[ScoreAverage]) -> Value {
    Value::Array(
        scores
            .iter()
            .map(|score| {
                json!({"name": score.name, "dataType": score.data_type, "count": score.count, "average": score.average})
            })
            .collect(),
    )
}

/// One version of `GET /api/ui/v1/prompts/{name}/usage`.
pub fn version_usage(usage: &PromptVersionUsage) -> Value {
    json!({
        "version": usage.version,
        "promptId": usage.prompt_id,
        "labels": usage.labels,
        "generationCount": usage.generation_count,
        "firstUsedAt": iso_or_null(usage.first_used_at),
        "lastUsedAt": iso_or_null(usage.last_used_at),
        "latencySeconds": distribution(&usage.latency_seconds),
        "inputTokens": distribution(&usage.input_tokens),
        "outputTokens": distribution(&usage.output_tokens),
        "totalTokens": distribution(&usage.total_tokens),
        "costUsd": distribution(&usage.cost),
        "generationScores": score_averages(&usage.generation_scores),
        "traceScores": score_averages(&usage.trace_scores),
    })
}
