//! Experiment items from span attributes (ingestion spec §3.3 "Experiment attributes").
//!
//! SDK experiment runners mark every span of an experiment item with
//! `langfuse.experiment.{id, name, description, metadata, dataset.id}` and
//! `langfuse.experiment.item.{id, version, root_observation_id, expected_output,
//! metadata}`. Python SDK 5 sends nothing else (no dataset-run REST calls), so the runs
//! and run items are derived from these attributes. Spans of one item (same experiment,
//! item and trace) fold into one record; a field missing on one span (evaluator spans do
//! not carry the description) is taken from another.

use std::collections::HashMap;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::Span;
use serde_json::{Map, Value};

use glassbox_model::Micros;
use glassbox_model::datasets::{ExperimentItemRecord, MAX_DATASET_NAME_CHARS};
use glassbox_model::time::parse_iso_with_offset;

use super::attributes::Attributes;
use crate::MAX_ID_CHARS;

const PREFIX: &str = "langfuse.experiment.";
const EXPERIMENT_ID: &str = "langfuse.experiment.id";
const ITEM_ID: &str = "langfuse.experiment.item.id";
/// Longest run description kept (names follow the dataset name limit).
const MAX_DESCRIPTION_CHARS: usize = 100_000;

fn id_hex(bytes: &[u8], length: usize) -> Option<String> {
    (bytes.len() == length && bytes.iter().any(|byte| *byte != 0)).then(|| hex::encode(bytes))
}

/// A non-empty, trimmed id of at most [`MAX_ID_CHARS`] characters.
fn id_text(attributes: &Attributes, key: &str) -> Option<String> {
    attributes
        .text(key)
        .map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty() && text.chars().count() <= MAX_ID_CHARS)
}

fn bounded_text(attributes: &Attributes, key: &str, max_chars: usize) -> Option<String> {
    attributes
        .text(key)
        .filter(|text| text.chars().count() <= max_chars)
}

/// `key` as JSON (a JSON string is parsed), merged with the flattened `key.<k>`
/// attributes into one object.
fn json_with_keys(attributes: &Attributes, key: &str) -> Option<Value> {
    let whole = attributes.json(key);
    let prefix = format!("{key}.");
    let mut keyed = Map::new();
    for (name, value) in attributes.iter() {
        if let Some(sub_key) = name.strip_prefix(&prefix)
            && !sub_key.is_empty()
            && !value.is_null()
        {
            let value = match value {
                Value::String(text) => serde_json::from_str(text).unwrap_or_else(|_| value.clone()),
                other => other.clone(),
            };
            keyed.insert(sub_key.to_owned(), value);
        }
    }
    match whole {
        Some(Value::Object(mut object)) => {
            object.extend(keyed);
            Some(Value::Object(object))
        }
        Some(other) if keyed.is_empty() => Some(other),
        _ if !keyed.is_empty() => Some(Value::Object(keyed)),
        other => other,
    }
}

fn record_of(span: &Span) -> Option<ExperimentItemRecord> {
    let has_experiment = span
        .attributes
        .iter()
        .any(|key_value| key_value.key.starts_with(PREFIX));
    if !has_experiment {
        return None;
    }
    let trace_id = id_hex(&span.trace_id, 16)?;
    id_hex(&span.span_id, 8)?;
    let attributes = Attributes::from_key_values(&span.attributes);
    let experiment_id = id_text(&attributes, EXPERIMENT_ID)?;
    let item_id = id_text(&attributes, ITEM_ID)?;
    let start = match (span.start_time_unix_nano, span.end_time_unix_nano) {
        (0, end) => end,
        (start, _) => start,
    };
    Some(ExperimentItemRecord {
        experiment_id,
        experiment_name: bounded_text(
            &attributes,
            "langfuse.experiment.name",
            MAX_DATASET_NAME_CHARS,
        ),
        experiment_description: bounded_text(
            &attributes,
            "langfuse.experiment.description",
            MAX_DESCRIPTION_CHARS,
        ),
        experiment_metadata: json_with_keys(&attributes, "langfuse.experiment.metadata"),
        dataset_id: id_text(&attributes, "langfuse.experiment.dataset.id"),
        item_id,
        // Only an ISO timestamp is a version; anything else is dropped.
        item_version: attributes
            .text("langfuse.experiment.item.version")
            .and_then(|text| parse_iso_with_offset(text.trim())),
        item_expected_output: attributes.json("langfuse.experiment.item.expected_output"),
        item_metadata: json_with_keys(&attributes, "langfuse.experiment.item.metadata"),
        trace_id,
        root_observation_id: id_text(&attributes, "langfuse.experiment.item.root_observation_id"),
        start_time: Micros::try_from(start / 1_000).unwrap_or(Micros::MAX),
    })
}

fn fill<T>(target: &mut Option<T>, source: Option<T>) {
    if target.is_none() {
        *target = source;
    }
}

/// One record per (experiment, item, trace) over every span of the export that carries
/// experiment attributes, in the order the items first appear. Spans without both an
/// experiment id and an item id, or with invalid trace/span ids, are skipped.
pub fn experiment_items(request: &ExportTraceServiceRequest) -> Vec<ExperimentItemRecord> {
    let mut records: Vec<ExperimentItemRecord> = Vec::new();
    let mut index: HashMap<(String, String, String), usize> = HashMap::new();
    let spans = request
        .resource_spans
        .iter()
        .flat_map(|resource| &resource.scope_spans)
        .flat_map(|scope| &scope.spans);
    for span in spans {
        let Some(record) = record_of(span) else {
            continue;
        };
        let key = (
            record.experiment_id.clone(),
            record.item_id.clone(),
            record.trace_id.clone(),
        );
        match index.get(&key) {
            None => {
                index.insert(key, records.len());
                records.push(record);
            }
            Some(&position) => {
                let existing = &mut records[position];
                fill(&mut existing.experiment_name, record.experiment_name);
                fill(
                    &mut existing.experiment_description,
                    record.experiment_description,
                );
                fill(
                    &mut existing.experiment_metadata,
                    record.experiment_metadata,
                );
                fill(&mut existing.dataset_id, record.dataset_id);
                fill(&mut existing.item_version, record.item_version);
                fill(
                    &mut existing.item_expected_output,
                    record.item_expected_output,
                );
                fill(&mut existing.item_metadata, record.item_metadata);
                fill(
                    &mut existing.root_observation_id,
                    record.root_observation_id,
                );
                existing.start_time = existing.start_time.min(record.start_time);
            }
        }
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
    use serde_json::json;

    fn attribute(key: &str, value: &str) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue {
                value: Some(Any::StringValue(value.into())),
            }),
            ..Default::default()
        }
    }

    fn span(trace: u8, span: u8, start_ms: u64, attributes: &[(&str, &str)]) -> Span {
        Span {
            trace_id: vec![trace; 16],
            span_id: vec![span; 8],
            start_time_unix_nano: start_ms * 1_000_000,
            end_time_unix_nano: (start_ms + 5) * 1_000_000,
            attributes: attributes
                .iter()
                .map(|(key, value)| attribute(key, value))
                .collect(),
            ..Default::default()
        }
    }

    fn export(spans: Vec<Span>) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    const RUN: &[(&str, &str)] = &[
        ("langfuse.experiment.id", "5cb234bf946b9e75"),
        ("langfuse.experiment.name", "capitals-eval-run-1"),
        (
            "langfuse.experiment.metadata",
            "{\"model\": \"lookup-table\"}",
        ),
        ("langfuse.experiment.dataset.id", "ds-1"),
        ("langfuse.experiment.item.id", "item-1"),
        (
            "langfuse.experiment.item.metadata",
            "{\"difficulty\": \"easy\"}",
        ),
        (
            "langfuse.experiment.item.root_observation_id",
            "0202020202020202",
        ),
    ];

    #[test]
    fn folds_the_spans_of_one_item() {
        let mut task = RUN.to_vec();
        task.extend([
            ("langfuse.experiment.description", "Baseline"),
            ("langfuse.experiment.item.expected_output", "Paris"),
            (
                "langfuse.experiment.item.version",
                "2026-11-27T04:22:36.909Z",
            ),
        ]);
        let records = experiment_items(&export(vec![
            span(1, 3, 1_010, RUN),
            span(1, 2, 1_000, &task),
            span(9, 9, 1_000, &[("other", "x")]),
        ]));
        assert_eq!(records.len(), 1, "{records:?}");
        let record = &records[0];
        assert_eq!(record.experiment_id, "5cb234bf946b9e75");
        assert_eq!(
            record.experiment_name.as_deref(),
            Some("capitals-eval-run-1")
        );
        assert_eq!(record.experiment_description.as_deref(), Some("Baseline"));
        assert_eq!(
            record.experiment_metadata,
            Some(json!({"model": "lookup-table"}))
        );
        assert_eq!(record.dataset_id.as_deref(), Some("ds-1"));
        assert_eq!(record.item_id, "item-1");
        assert_eq!(record.item_expected_output, Some(json!("Paris")));
        assert_eq!(record.item_metadata, Some(json!({"difficulty": "easy"})));
        assert_eq!(
            record.root_observation_id.as_deref(),
            Some("0202020202020202")
        );
        assert_eq!(record.trace_id, "01".repeat(16));
        assert_eq!(record.start_time, 1_000_000, "earliest span start");
        assert_eq!(
            record.item_version,
            parse_iso_with_offset("2026-11-27T04:22:36.909Z")
        );
    }

    #[test]
    fn items_of_other_traces_or_runs_stay_apart_and_bad_spans_are_skipped() {
        let mut other_item = RUN.to_vec();
        other_item[4] = ("langfuse.experiment.item.id", "item-2");
        let no_item: Vec<(&str, &str)> = RUN
            .iter()
            .copied()
            .filter(|(key, _)| *key != "langfuse.experiment.item.id")
            .collect();
        let mut bad_version = RUN.to_vec();
        bad_version.push(("langfuse.experiment.item.version", "yesterday"));
        let mut bad_trace = span(3, 1, 0, RUN);
        bad_trace.trace_id = vec![0; 16];
        let records = experiment_items(&export(vec![
            span(1, 1, 0, RUN),
            span(2, 1, 0, &bad_version),
            span(1, 2, 0, &other_item),
            span(1, 3, 0, &no_item),
            bad_trace,
        ]));
        let keys: Vec<(&str, &str)> = records
            .iter()
            .map(|record| (record.item_id.as_str(), &record.trace_id[..2]))
            .collect();
        assert_eq!(keys, [("item-1", "01"), ("item-1", "02"), ("item-2", "01")]);
        assert_eq!(records[1].item_version, None, "non-timestamps are dropped");
    }

    /// Every OTLP export of an SDK capture (`testdata/sdk-wire`), decoded.
    fn capture(file: &str) -> Vec<ExportTraceServiceRequest> {
        let path = format!(
            "{}/../../testdata/sdk-wire/{file}.jsonl",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"));
        text.lines()
            .map(|line| serde_json::from_str::<Value>(line).unwrap())
            .filter(|record| record["path"] == "/api/public/otel/v1/traces")
            .map(|record| {
                let bytes = serde_json::to_vec(&record["body"]["json"]).unwrap();
                crate::otlp::decode_json(&bytes).unwrap()
            })
            .collect()
    }

    #[test]
    fn python_sdk_5_capture() {
        let records: Vec<ExperimentItemRecord> = capture("python-e-datasets-experiments")
            .iter()
            .flat_map(experiment_items)
            .collect();
        // Three dataset items in one run, one local item in another.
        let dataset: Vec<&ExperimentItemRecord> = records
            .iter()
            .filter(|record| record.experiment_id == "5cb234bf946b9e75")
            .collect();
        let mut items: Vec<&str> = dataset.iter().map(|r| r.item_id.as_str()).collect();
        items.sort();
        assert_eq!(
            items,
            [
                "3f1a8e8e-7d59-4a18-83de-2a9402735e84",
                "4ea9d88c-cc27-4e36-a4e2-0c8907a561d7",
                "item-germany"
            ]
        );
        let france = dataset
            .iter()
            .find(|record| record.item_id.starts_with("4ea9"))
            .unwrap();
        assert_eq!(france.trace_id, "d882d4e42b1f8c43269f0cba489daa9a");
        assert_eq!(
            france.root_observation_id.as_deref(),
            Some("54922c603f01f3cb")
        );
        assert_eq!(france.dataset_id.as_deref(), Some("ds-2591344b5b0f"));
        assert_eq!(
            france.experiment_name.as_deref(),
            Some("capitals-eval-run-1")
        );
        assert_eq!(france.experiment_description.as_deref(), Some("Baseline"));
        assert_eq!(france.item_expected_output, Some(json!("Paris")));
        assert_eq!(france.item_metadata, Some(json!({"difficulty": "easy"})));
        assert_eq!(
            france.start_time, 1_795_753_357_277_118,
            "the run span's start"
        );
        let local: Vec<&ExperimentItemRecord> = records
            .iter()
            .filter(|record| record.experiment_id == "f92f4b3285d8693a")
            .collect();
        assert_eq!(local.len(), 1);
        assert_eq!(local[0].dataset_id, None);
        assert_eq!(local[0].item_id, "053ab16422b11788");
    }

    #[test]
    fn js_sdk_5_capture() {
        let records: Vec<ExperimentItemRecord> = capture("js-v5-datasets-experiment")
            .iter()
            .flat_map(experiment_items)
            .collect();
        assert_eq!(records.len(), 2);
        assert!(
            records
                .iter()
                .all(|r| r.experiment_id == "run-07baa3bf9804")
        );
        let spain = records
            .iter()
            .find(|r| r.item_id == "js-item-spain")
            .unwrap();
        assert_eq!(
            spain.root_observation_id.as_deref(),
            Some("c68bf68a0ba94ad0")
        );
        assert_eq!(spain.experiment_metadata, Some(json!({"model": "lookup"})));
        assert_eq!(spain.item_expected_output, Some(json!("Madrid")));
    }

    #[test]
    fn metadata_from_flattened_keys() {
        let records = experiment_items(&export(vec![span(
            1,
            1,
            0,
            &[
                ("langfuse.experiment.id", "e"),
                ("langfuse.experiment.item.id", "i"),
                ("langfuse.experiment.metadata.model", "gpt"),
                ("langfuse.experiment.metadata.temperature", "0.5"),
                ("langfuse.experiment.item.metadata", "plain text"),
            ],
        )]));
        assert_eq!(
            records[0].experiment_metadata,
            Some(json!({"model": "gpt", "temperature": 0.5}))
        );
        assert_eq!(records[0].item_metadata, Some(json!("plain text")));
        assert_eq!(records[0].experiment_name, None);
    }
}
