//! Datasets, versioned dataset items, dataset runs (experiments) and their run items, with
//! the pure rules around them: name checks, the upsert merge of an item version, the
//! version clock, the experiment id the SDKs derive, and the per-run aggregates of a run
//! comparison.

use std::collections::BTreeMap;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::filter::{Column, ColumnKind};
use crate::{Micros, Score, ScoreDataType};

/// Longest dataset or run name.
pub const MAX_DATASET_NAME_CHARS: usize = 1_000;
/// Longest dataset item id (Langfuse: "must be at most 255 characters").
pub const MAX_DATASET_ITEM_ID_CHARS: usize = 255;

/// Filterable columns of `GET /api/public/experiments`.
pub const EXPERIMENT_COLUMNS: &[Column] = &[
    Column {
        id: "id",
        display_name: "ID",
        kind: ColumnKind::Options,
    },
    Column {
        id: "name",
        display_name: "Name",
        kind: ColumnKind::Options,
    },
    Column {
        id: "datasetId",
        display_name: "Dataset ID",
        kind: ColumnKind::Options,
    },
];

/// Filterable columns of `GET /api/public/experiment-items`.
pub const EXPERIMENT_ITEM_COLUMNS: &[Column] = &[
    Column {
        id: "experimentId",
        display_name: "Experiment ID",
        kind: ColumnKind::Options,
    },
    Column {
        id: "experimentName",
        display_name: "Experiment Name",
        kind: ColumnKind::Options,
    },
    Column {
        id: "experimentItemId",
        display_name: "Experiment Item ID",
        kind: ColumnKind::Options,
    },
    Column {
        id: "datasetId",
        display_name: "Dataset ID",
        kind: ColumnKind::Options,
    },
];

/// `ACTIVE` items are read by default and run in experiments; `ARCHIVED` ones are only
/// returned by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DatasetItemStatus {
    #[default]
    Active,
    Archived,
}

impl DatasetItemStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DatasetItemStatus::Active => "ACTIVE",
            DatasetItemStatus::Archived => "ARCHIVED",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "ACTIVE" => Some(DatasetItemStatus::Active),
            "ARCHIVED" => Some(DatasetItemStatus::Archived),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub metadata: Option<Value>,
    pub input_schema: Option<Value>,
    pub expected_output_schema: Option<Value>,
    pub created_at: Micros,
    pub updated_at: Micros,
}

/// One version of a dataset item (the current one unless read at a point in time).
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetItem {
    pub id: String,
    pub dataset_id: String,
    pub dataset_name: String,
    pub status: DatasetItemStatus,
    pub input: Option<Value>,
    pub expected_output: Option<Value>,
    pub metadata: Option<Value>,
    pub source_trace_id: Option<String>,
    pub source_observation_id: Option<String>,
    /// When the first version was written.
    pub created_at: Micros,
    /// When this version became valid (the item's version; also its `updatedAt`).
    pub valid_from: Micros,
}

/// What a write does to one field: keep the previous version's value (the field was
/// omitted) or set it (`Set(None)`: an explicit `null`, which clears it).
#[derive(Debug, Clone, PartialEq, Default)]
pub enum FieldChange<T> {
    #[default]
    Keep,
    Set(Option<T>),
}

impl<T: Clone> FieldChange<T> {
    fn resolve(&self, previous: Option<&Option<T>>) -> Option<T> {
        match self {
            FieldChange::Keep => previous.cloned().flatten(),
            FieldChange::Set(value) => value.clone(),
        }
    }
}

/// An upsert of a dataset item (`POST /dataset-items` with an existing or new id).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DatasetItemChange {
    pub input: FieldChange<Value>,
    pub expected_output: FieldChange<Value>,
    pub metadata: FieldChange<Value>,
    pub source_trace_id: FieldChange<String>,
    pub source_observation_id: FieldChange<String>,
    /// `None` keeps the previous status (`ACTIVE` for a new item).
    pub status: Option<DatasetItemStatus>,
}

/// The instant of a new item version: now (truncated to milliseconds, the precision of
/// the wire, so that a version read back can be used as a `version` parameter) but at
/// least one millisecond after the previous version, so versions stay strictly ordered.
pub fn next_version_time(now: Micros, previous: Option<Micros>) -> Micros {
    let now = now - now.rem_euclid(1_000);
    match previous {
        Some(previous) => now.max(previous - previous.rem_euclid(1_000) + 1_000),
        None => now,
    }
}

/// The next version of an item: omitted fields come from `previous`, provided ones
/// replace them (`null` clears). A new item (no previous version) starts `ACTIVE` with
/// absent fields null.
pub fn next_item_version(
    previous: Option<&DatasetItem>,
    id: &str,
    dataset_id: &str,
    dataset_name: &str,
    change: &DatasetItemChange,
    now: Micros,
) -> DatasetItem {
    let valid_from = next_version_time(now, previous.map(|item| item.valid_from));
    DatasetItem {
        id: id.to_owned(),
        dataset_id: dataset_id.to_owned(),
        dataset_name: dataset_name.to_owned(),
        status: change
            .status
            .or(previous.map(|item| item.status))
            .unwrap_or_default(),
        input: change.input.resolve(previous.map(|item| &item.input)),
        expected_output: change
            .expected_output
            .resolve(previous.map(|item| &item.expected_output)),
        metadata: change.metadata.resolve(previous.map(|item| &item.metadata)),
        source_trace_id: change
            .source_trace_id
            .resolve(previous.map(|item| &item.source_trace_id)),
        source_observation_id: change
            .source_observation_id
            .resolve(previous.map(|item| &item.source_observation_id)),
        created_at: previous.map_or(valid_from, |item| item.created_at),
        valid_from,
    }
}

/// Dataset names follow Langfuse's folder rules: not blank, no HTML tags, no leading or
/// trailing `/`, no `//`, at most [`MAX_DATASET_NAME_CHARS`] characters.
pub fn check_dataset_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("name must not be empty".into());
    }
    if name.chars().count() > MAX_DATASET_NAME_CHARS {
        return Err(format!(
            "name must be at most {MAX_DATASET_NAME_CHARS} characters"
        ));
    }
    if name.starts_with('/') || name.ends_with('/') {
        return Err("name must not start or end with `/`".into());
    }
    if name.contains("//") {
        return Err("name must not contain `//`".into());
    }
    if has_html_tag(name) {
        return Err("name must not contain HTML tags".into());
    }
    Ok(())
}

/// `<` followed by a letter, `/` or `!` and later a `>`: what HTML sanitisers strip.
fn has_html_tag(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.iter().enumerate().any(|(index, byte)| {
        *byte == b'<'
            && bytes
                .get(index + 1)
                .is_some_and(|next| next.is_ascii_alphabetic() || *next == b'/' || *next == b'!')
            && bytes[index + 1..].contains(&b'>')
    })
}

/// The id Langfuse and its SDKs give the experiment (dataset run) called `run_name` on a
/// dataset: the first 16 hex digits of the SHA-256 of the compact JSON array
/// `["langfuse-experiment-v1", projectId, datasetId, runName]`. Python SDK 5 computes it
/// client-side and sends only spans, so runs created through the REST API use it too and
/// both paths meet in one run.
pub fn experiment_id(project_id: &str, dataset_id: &str, run_name: &str) -> String {
    let payload = Value::Array(vec![
        Value::from("langfuse-experiment-v1"),
        Value::from(project_id),
        Value::from(dataset_id),
        Value::from(run_name),
    ])
    .to_string();
    let digest = Sha256::digest(payload.as_bytes());
    digest
        .iter()
        .take(8)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// A dataset run: a named execution of an experiment, on a dataset or (OTLP experiments
/// on local data) on none. Langfuse v4 calls it an experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetRun {
    pub id: String,
    pub dataset_id: Option<String>,
    /// The dataset's name, when the dataset exists in the project.
    pub dataset_name: Option<String>,
    pub name: String,
    pub description: Option<String>,
    pub metadata: Option<Value>,
    pub created_at: Micros,
    pub updated_at: Micros,
}

/// One item of a run: the dataset item (or local item) and the trace that ran it.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetRunItem {
    pub id: String,
    pub run_id: String,
    pub run_name: String,
    pub dataset_id: Option<String>,
    pub dataset_item_id: String,
    pub trace_id: String,
    /// The observation the run item links to (the experiment item's root span).
    pub observation_id: Option<String>,
    /// The version of the dataset item that ran (`validFrom`), when known.
    pub dataset_item_version: Option<Micros>,
    pub expected_output: Option<Value>,
    pub item_metadata: Option<Value>,
    pub created_at: Micros,
    pub updated_at: Micros,
}

/// What the spans of one experiment item say (`langfuse.experiment.*` attributes),
/// folded over every span of the item that carries them.
#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentItemRecord {
    pub experiment_id: String,
    pub experiment_name: Option<String>,
    pub experiment_description: Option<String>,
    pub experiment_metadata: Option<Value>,
    pub dataset_id: Option<String>,
    pub item_id: String,
    pub item_version: Option<Micros>,
    pub item_expected_output: Option<Value>,
    pub item_metadata: Option<Value>,
    pub trace_id: String,
    pub root_observation_id: Option<String>,
    /// The earliest start of the item's spans.
    pub start_time: Micros,
}

/// A run item with what a comparison shows of it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunItemResult {
    pub run_item: DatasetRunItem,
    /// The output of the linked observation, else of the trace.
    pub output: Option<Value>,
    /// Seconds: the linked observation's duration, else the trace's span of time. `None`
    /// while nothing of the trace has arrived.
    pub latency_seconds: Option<f64>,
    /// Total cost of the linked observation and its descendants, else of the trace.
    /// `None` while nothing of the trace has arrived.
    pub total_cost: Option<f64>,
    /// The trace's scores (including its observations').
    pub scores: Vec<Score>,
}

/// The aggregate of one score name over a run.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreAggregate {
    pub name: String,
    pub data_type: ScoreDataType,
    /// Scores counted.
    pub count: u64,
    /// Mean value of NUMERIC and BOOLEAN scores (a boolean's mean is the share of true).
    pub average: Option<f64>,
    /// Count per label of CATEGORICAL scores.
    pub distribution: BTreeMap<String, u64>,
}

/// Per-run numbers of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct RunAggregate {
    pub item_count: u64,
    pub avg_latency_seconds: Option<f64>,
    pub total_cost: f64,
    /// Total cost divided by the items whose cost is known.
    pub avg_cost: Option<f64>,
    /// One entry per score name (and data type), sorted by name.
    pub scores: Vec<ScoreAggregate>,
}

/// The scores of one name and data type collected over a run.
struct ScoreValues {
    data_type: ScoreDataType,
    values: Vec<f64>,
    distribution: BTreeMap<String, u64>,
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// Aggregates the item results of one run: latency and cost over the items where they
/// are known, numeric and boolean scores averaged per name, categorical ones counted per
/// label. TEXT and CORRECTION scores are not aggregated.
pub fn aggregate_run<'a>(items: impl IntoIterator<Item = &'a RunItemResult>) -> RunAggregate {
    let mut item_count = 0;
    let mut latencies = Vec::new();
    let mut costs = Vec::new();
    let mut by_name: BTreeMap<(String, &'static str), ScoreValues> = BTreeMap::new();
    for item in items {
        item_count += 1;
        latencies.extend(item.latency_seconds);
        costs.extend(item.total_cost);
        for score in &item.scores {
            if matches!(
                score.data_type,
                ScoreDataType::Text | ScoreDataType::Correction
            ) {
                continue;
            }
            let entry = by_name
                .entry((score.name.clone(), score.data_type.as_str()))
                .or_insert_with(|| ScoreValues {
                    data_type: score.data_type,
                    values: Vec::new(),
                    distribution: BTreeMap::new(),
                });
            if score.data_type == ScoreDataType::Categorical {
                let label = score.string_value.clone().unwrap_or_default();
                *entry.distribution.entry(label).or_insert(0) += 1;
            }
            entry.values.push(score.value);
        }
    }
    let total_cost: f64 = costs.iter().sum();
    RunAggregate {
        item_count,
        avg_latency_seconds: mean(&latencies),
        total_cost,
        avg_cost: (!costs.is_empty()).then(|| total_cost / costs.len() as f64),
        scores: by_name
            .into_iter()
            .map(|((name, _), collected)| ScoreAggregate {
                name,
                data_type: collected.data_type,
                count: collected.values.len() as u64,
                average: (collected.data_type != ScoreDataType::Categorical)
                    .then(|| mean(&collected.values))
                    .flatten(),
                distribution: collected.distribution,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(valid_from: Micros) -> DatasetItem {
        DatasetItem {
            id: "i".into(),
            dataset_id: "d".into(),
            dataset_name: "ds".into(),
            status: DatasetItemStatus::Active,
            input: Some(json!({"q": 1})),
            expected_output: Some(json!("a")),
            metadata: Some(json!({"m": true})),
            source_trace_id: Some("t".into()),
            source_observation_id: None,
            created_at: 5_000,
            valid_from,
        }
    }

    #[test]
    fn version_time_is_millisecond_precise_and_strictly_increasing() {
        assert_eq!(next_version_time(1_234_567, None), 1_234_000);
        assert_eq!(next_version_time(1_234_567, Some(1_000_000)), 1_234_000);
        // Same millisecond as the previous version: one millisecond later.
        assert_eq!(next_version_time(1_234_567, Some(1_234_000)), 1_235_000);
        // A previous version in the future (clock skew) still orders.
        assert_eq!(next_version_time(1_000, Some(9_000)), 10_000);
        assert_eq!(next_version_time(-1_500, None), -2_000);
    }

    #[test]
    fn upsert_merges_omitted_fields_and_null_clears() {
        let previous = item(100_000);
        let change = DatasetItemChange {
            input: FieldChange::Set(Some(json!({"q": 2}))),
            metadata: FieldChange::Set(None),
            ..DatasetItemChange::default()
        };
        let next = next_item_version(Some(&previous), "i", "d", "ds", &change, 50_000);
        assert_eq!(next.input, Some(json!({"q": 2})));
        assert_eq!(next.expected_output, Some(json!("a")), "omitted: kept");
        assert_eq!(next.metadata, None, "null: cleared");
        assert_eq!(next.source_trace_id.as_deref(), Some("t"));
        assert_eq!(next.status, DatasetItemStatus::Active);
        assert_eq!(next.created_at, 5_000, "creation time of the first version");
        assert_eq!(next.valid_from, 101_000);

        let archive = DatasetItemChange {
            status: Some(DatasetItemStatus::Archived),
            ..DatasetItemChange::default()
        };
        let archived = next_item_version(Some(&next), "i", "d", "ds", &archive, 500_000);
        assert_eq!(archived.status, DatasetItemStatus::Archived);
        assert_eq!(archived.input, Some(json!({"q": 2})));
        let untouched = next_item_version(
            Some(&archived),
            "i",
            "d",
            "ds",
            &Default::default(),
            900_000,
        );
        assert_eq!(untouched.status, DatasetItemStatus::Archived, "status kept");
    }

    #[test]
    fn a_new_item_is_active_with_null_fields() {
        let change = DatasetItemChange {
            input: FieldChange::Set(Some(json!("x"))),
            ..DatasetItemChange::default()
        };
        let new = next_item_version(None, "n", "d", "ds", &change, 7_777);
        assert_eq!(new.status, DatasetItemStatus::Active);
        assert_eq!(new.input, Some(json!("x")));
        assert_eq!(new.expected_output, None);
        assert_eq!((new.created_at, new.valid_from), (7_000, 7_000));
    }

    #[test]
    fn dataset_names_follow_folder_rules() {
        assert!(check_dataset_name("evals/qa/v1").is_ok());
        assert!(check_dataset_name("a < b > c").is_ok(), "not a tag");
        for bad in ["", "  ", "/x", "x/", "a//b", "<b>bold</b>", "x<script>"] {
            assert!(check_dataset_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_dataset_name(&"n".repeat(MAX_DATASET_NAME_CHARS + 1)).is_err());
    }

    #[test]
    fn experiment_id_matches_the_sdks() {
        // Python SDK 5 capture: project p1, dataset ds-2591344b5b0f, run capitals-eval-run-1.
        assert_eq!(
            experiment_id("p1", "ds-2591344b5b0f", "capitals-eval-run-1"),
            "5cb234bf946b9e75"
        );
    }

    fn score(name: &str, data_type: ScoreDataType, value: f64, label: Option<&str>) -> Score {
        Score {
            id: format!("{name}-{value}"),
            timestamp: 0,
            name: name.into(),
            value,
            string_value: label.map(str::to_owned),
            data_type,
            source: "API".into(),
            comment: None,
            metadata: Default::default(),
            config_id: None,
            queue_id: None,
            author_user_id: None,
            execution_trace_id: None,
            trace_id: Some("t".into()),
            observation_id: None,
            session_id: None,
            dataset_run_id: None,
            environment: "default".into(),
            created_at: 0,
            updated_at: 0,
        }
    }

    fn result(latency: Option<f64>, cost: Option<f64>, scores: Vec<Score>) -> RunItemResult {
        RunItemResult {
            run_item: DatasetRunItem {
                id: "ri".into(),
                run_id: "r".into(),
                run_name: "run".into(),
                dataset_id: None,
                dataset_item_id: "i".into(),
                trace_id: "t".into(),
                observation_id: None,
                dataset_item_version: None,
                expected_output: None,
                item_metadata: None,
                created_at: 0,
                updated_at: 0,
            },
            output: None,
            latency_seconds: latency,
            total_cost: cost,
            scores,
        }
    }

    #[test]
    fn run_aggregates() {
        let items = [
            result(
                Some(1.0),
                Some(0.25),
                vec![
                    score("acc", ScoreDataType::Numeric, 1.0, None),
                    score("ok", ScoreDataType::Boolean, 1.0, Some("True")),
                    score("grade", ScoreDataType::Categorical, 0.0, Some("good")),
                    score("note", ScoreDataType::Text, 0.0, Some("fine")),
                ],
            ),
            result(
                Some(3.0),
                Some(0.5),
                vec![
                    score("acc", ScoreDataType::Numeric, 0.5, None),
                    score("ok", ScoreDataType::Boolean, 0.0, Some("False")),
                    score("grade", ScoreDataType::Categorical, 0.0, Some("bad")),
                ],
            ),
            result(
                None,
                None,
                vec![score("acc", ScoreDataType::Numeric, 0.0, None)],
            ),
        ];
        let aggregate = aggregate_run(&items);
        assert_eq!(aggregate.item_count, 3);
        assert_eq!(aggregate.avg_latency_seconds, Some(2.0));
        assert_eq!(aggregate.total_cost, 0.75);
        assert_eq!(aggregate.avg_cost, Some(0.375));
        let names: Vec<&str> = aggregate.scores.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["acc", "grade", "ok"], "sorted, TEXT left out");
        assert_eq!(aggregate.scores[0].average, Some(0.5));
        assert_eq!(aggregate.scores[0].count, 3);
        assert_eq!(aggregate.scores[1].average, None);
        assert_eq!(
            aggregate.scores[1].distribution,
            BTreeMap::from([("bad".to_owned(), 1), ("good".to_owned(), 1)])
        );
        assert_eq!(aggregate.scores[2].average, Some(0.5));

        let empty = aggregate_run(&[]);
        assert_eq!(
            (empty.item_count, empty.avg_latency_seconds, empty.avg_cost),
            (0, None, None)
        );
    }
}
