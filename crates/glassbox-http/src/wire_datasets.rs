//! Datasets, dataset items, runs, run items and experiments as Langfuse's wire JSON, and
//! the run comparison of the UI API.

use serde_json::{Map, Value, json};

use glassbox_model::datasets::{
    Dataset, DatasetItem, DatasetRun, DatasetRunItem, RunAggregate, RunItemResult,
};
use glassbox_model::time::format_iso;
use glassbox_model::{Micros, ProjectId, Score};
use glassbox_store::{ExperimentItem, ExperimentSummary};

use crate::wire::{ScoreV3Fields, score_v3};

fn iso(micros: Micros) -> Value {
    Value::String(format_iso(micros))
}

fn json_or_null(value: &Option<Value>) -> Value {
    value.clone().unwrap_or(Value::Null)
}

/// `Dataset`.
pub fn dataset(project: &ProjectId, dataset: &Dataset) -> Map<String, Value> {
    let mut object = Map::new();
    object.insert("id".into(), json!(dataset.id));
    object.insert("name".into(), json!(dataset.name));
    object.insert("description".into(), json!(dataset.description));
    object.insert("metadata".into(), json_or_null(&dataset.metadata));
    object.insert("inputSchema".into(), json_or_null(&dataset.input_schema));
    object.insert(
        "expectedOutputSchema".into(),
        json_or_null(&dataset.expected_output_schema),
    );
    object.insert("projectId".into(), json!(project.as_str()));
    object.insert("createdAt".into(), iso(dataset.created_at));
    object.insert("updatedAt".into(), iso(dataset.updated_at));
    object
}

/// `DatasetItem`, plus `version` (when this version became current), which current SDKs read.
pub fn dataset_item(item: &DatasetItem) -> Value {
    json!({
        "id": item.id,
        "status": item.status.as_str(),
        "input": json_or_null(&item.input),
        "expectedOutput": json_or_null(&item.expected_output),
        "metadata": json_or_null(&item.metadata),
        "sourceTraceId": item.source_trace_id,
        "sourceObservationId": item.source_observation_id,
        "datasetId": item.dataset_id,
        "datasetName": item.dataset_name,
        "createdAt": iso(item.created_at),
        "updatedAt": iso(item.valid_from),
        "version": iso(item.valid_from),
        "mediaReferences": [],
    })
}

/// `DatasetRun`.
pub fn dataset_run(run: &DatasetRun) -> Map<String, Value> {
    let mut object = Map::new();
    object.insert("id".into(), json!(run.id));
    object.insert("name".into(), json!(run.name));
    object.insert("description".into(), json!(run.description));
    object.insert("metadata".into(), json_or_null(&run.metadata));
    object.insert("datasetId".into(), json!(run.dataset_id));
    object.insert("datasetName".into(), json!(run.dataset_name));
    object.insert("createdAt".into(), iso(run.created_at));
    object.insert("updatedAt".into(), iso(run.updated_at));
    object
}

/// `DatasetRunItem`.
pub fn dataset_run_item(item: &DatasetRunItem) -> Value {
    json!({
        "id": item.id,
        "datasetRunId": item.run_id,
        "datasetRunName": item.run_name,
        "datasetItemId": item.dataset_item_id,
        "traceId": item.trace_id,
        "observationId": item.observation_id,
        "createdAt": iso(item.created_at),
        "updatedAt": iso(item.updated_at),
    })
}

fn embedded_scores(project: &ProjectId, scores: &[Score]) -> Value {
    let fields = ScoreV3Fields {
        details: true,
        subject: true,
        annotation: false,
    };
    Value::Array(
        scores
            .iter()
            .map(|score| score_v3(project, score, fields))
            .collect(),
    )
}

/// `Experiment`; `metadata` and `scores` only when asked for.
pub fn experiment(
    project: &ProjectId,
    summary: &ExperimentSummary,
    metadata: bool,
    scores: Option<&[Score]>,
) -> Value {
    let run = &summary.run;
    let mut object = json!({
        "id": run.id,
        "name": run.name,
        "description": run.description,
        "startTime": iso(summary.start_time),
        "endTime": iso(summary.end_time),
        "itemCount": summary.item_count,
        "datasetId": run.dataset_id,
    });
    if metadata {
        object["metadata"] = match &run.metadata {
            Some(Value::Object(map)) => Value::Object(map.clone()),
            Some(other) => json!({ "value": other }),
            None => Value::Null,
        };
    }
    if let Some(scores) = scores {
        object["scores"] = embedded_scores(project, scores);
    }
    object
}

/// Field groups of `GET /experiment-items`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExperimentItemFields {
    pub dataset: bool,
    pub io: bool,
    pub metadata: bool,
    pub item_metadata: bool,
    pub experiment_metadata: bool,
    pub scores: bool,
}

/// An object field of the experiment items: objects as they are, other values wrapped.
fn as_object(value: &Option<Value>) -> Value {
    match value {
        Some(Value::Object(map)) => Value::Object(map.clone()),
        Some(other) => json!({ "value": other }),
        None => Value::Null,
    }
}

/// `ExperimentItem`. Its id is the linked observation's (the item's root span), else the
/// run item's.
pub fn experiment_item(
    project: &ProjectId,
    item: &ExperimentItem,
    fields: ExperimentItemFields,
    scores: Option<&[Score]>,
) -> Value {
    let run_item = &item.run_item;
    let observation = item.observation.as_ref();
    let mut object = json!({
        "id": run_item.observation_id.clone().unwrap_or_else(|| run_item.id.clone()),
        "traceId": run_item.trace_id,
        "startTime": iso(item.start_time),
        "endTime": observation.and_then(|o| o.end_time).map(iso).unwrap_or(Value::Null),
        "level": observation.map_or("DEFAULT", |o| o.level.as_str()),
        "environment": observation.map_or("default", |o| o.environment.as_str()),
        "experimentId": item.run.id,
        "experimentName": item.run.name,
        "experimentItemId": run_item.dataset_item_id,
    });
    if fields.dataset {
        object["experimentDatasetId"] = json!(item.run.dataset_id);
        object["experimentItemVersion"] = run_item
            .dataset_item_version
            .map(iso)
            .unwrap_or(Value::Null);
    }
    if fields.io {
        object["input"] = observation
            .and_then(|o| o.input.clone())
            .unwrap_or(Value::Null);
        object["output"] = observation
            .and_then(|o| o.output.clone())
            .unwrap_or(Value::Null);
        object["expectedOutput"] = json_or_null(&run_item.expected_output);
    }
    if fields.metadata {
        object["metadata"] = observation
            .map(|o| Value::Object(o.metadata.clone()))
            .unwrap_or(Value::Null);
    }
    if fields.item_metadata {
        object["experimentItemMetadata"] = as_object(&run_item.item_metadata);
    }
    if fields.experiment_metadata {
        object["experimentMetadata"] = as_object(&item.run.metadata);
        object["experimentDescription"] = json!(item.run.description);
    }
    if let Some(scores) = scores.filter(|_| fields.scores) {
        object["scores"] = embedded_scores(project, scores);
    }
    object
}

fn round(value: f64) -> f64 {
    // Sums of binary fractions: keep the numbers a person would write (0.1 + 0.2 = 0.3).
    (value * 1e12).round() / 1e12
}

/// The per-run numbers of a comparison.
pub fn run_aggregate(aggregate: &RunAggregate, run_scores: &[Score], project: &ProjectId) -> Value {
    let scores: Vec<Value> = aggregate
        .scores
        .iter()
        .map(|score| {
            let mut object = json!({
                "name": score.name,
                "dataType": score.data_type.as_str(),
                "count": score.count,
            });
            if let Some(average) = score.average {
                object["average"] = json!(round(average));
            }
            if !score.distribution.is_empty() {
                object["distribution"] = json!(score.distribution);
            }
            object
        })
        .collect();
    json!({
        "itemCount": aggregate.item_count,
        "avgLatency": aggregate.avg_latency_seconds.map(round),
        "totalCost": round(aggregate.total_cost),
        "avgCost": aggregate.avg_cost.map(round),
        "scores": scores,
        "runScores": embedded_scores(project, run_scores),
    })
}

/// One run's result for one dataset item.
pub fn run_item_result(project: &ProjectId, result: &RunItemResult) -> Value {
    json!({
        "runItemId": result.run_item.id,
        "traceId": result.run_item.trace_id,
        "observationId": result.run_item.observation_id,
        "output": json_or_null(&result.output),
        "latency": result.latency_seconds.map(round),
        "totalCost": result.total_cost.map(round),
        "scores": embedded_scores(project, &result.scores),
        "createdAt": iso(result.run_item.created_at),
    })
}
