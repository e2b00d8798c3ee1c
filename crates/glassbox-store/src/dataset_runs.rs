//! Dataset runs (Langfuse v4: experiments) and their run items, from both paths that
//! create them: `POST /dataset-run-items` (JS SDK) and the `langfuse.experiment.*`
//! attributes of OTLP spans (Python SDK 5). A run item is identified by its run, dataset
//! item and trace, so both paths (and re-sent spans) meet in one row.

use async_trait::async_trait;
use serde_json::Value;

use glassbox_model::datasets::{DatasetRun, DatasetRunItem, ExperimentItemRecord, RunItemResult};
use glassbox_model::filter::FilterCondition;
use glassbox_model::{Micros, Observation, ProjectId};

use crate::{Page, PageRequest, StoreResult};

/// `POST /dataset-run-items`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRunItem {
    /// The id of a new run item (unused when the run already has this item and trace).
    pub id: String,
    /// The id of a new run (unused when the dataset has a run with `run_name`).
    pub run_id: String,
    pub run_name: String,
    /// Description and metadata of a new run; an existing run is not changed.
    pub run_description: Option<String>,
    pub run_metadata: Option<Value>,
    pub dataset_item_id: String,
    pub trace_id: String,
    pub observation_id: Option<String>,
    /// Run the item as it was at this instant (else its current version).
    pub dataset_version: Option<Micros>,
    pub created_at: Micros,
}

/// Filters of the experiments and experiment-items reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExperimentQuery {
    /// Inclusive, on the item start time.
    pub from_start_time: Micros,
    /// Exclusive.
    pub to_start_time: Option<Micros>,
    /// Any of these experiment (run) ids; empty: all.
    pub experiment_ids: Vec<String>,
    pub experiment_names: Vec<String>,
    pub dataset_ids: Vec<String>,
    /// Experiment items only: any of these item ids.
    pub item_ids: Vec<String>,
    /// The advanced `filter` (columns id/experimentId, name/experimentName, datasetId,
    /// experimentItemId).
    pub filters: Vec<FilterCondition>,
}

/// An experiment over the items that started in the queried range.
#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentSummary {
    pub run: DatasetRun,
    /// Earliest item start in the range.
    pub start_time: Micros,
    /// Latest item end (or start) in the range; the list is ordered by it.
    pub end_time: Micros,
    pub item_count: u64,
}

/// Position after the last experiment of a page (end time desc, id desc).
#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentCursor {
    pub end_time: Micros,
    pub id: String,
}

/// An experiment item: the run item, its run and the observation it links to.
#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentItem {
    pub run_item: DatasetRunItem,
    pub run: DatasetRun,
    /// The linked observation, once its span has arrived.
    pub observation: Option<Observation>,
    /// The observation's start time, else the trace's timestamp, else the run item's
    /// creation time.
    pub start_time: Micros,
}

/// Position after the last experiment item (start time desc, trace id desc, run item id desc).
#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentItemCursor {
    pub start_time: Micros,
    pub trace_id: String,
    pub id: String,
}

#[async_trait]
pub trait DatasetRunStore: Send + Sync + 'static {
    /// Links a trace to a dataset item in the dataset's run called `run_name`, creating
    /// the run on first use. The item must be `ACTIVE` (at `dataset_version` if given),
    /// else `NotFound`. Idempotent on (run, dataset item, trace): a repeat returns the
    /// stored run item.
    async fn create_run_item(
        &self,
        project: &ProjectId,
        item: NewRunItem,
    ) -> StoreResult<DatasetRunItem>;
    /// Materialises runs and run items from experiment span attributes. The run is found
    /// by id, else (with a dataset) by dataset and name, else created with the record's
    /// id. Missing run and run item fields are filled in from later records; nothing is
    /// overwritten, so re-sent spans change nothing.
    async fn record_experiment_items(
        &self,
        project: &ProjectId,
        records: Vec<ExperimentItemRecord>,
    ) -> StoreResult<()>;
    /// The runs of a dataset, newest first, ties by id.
    async fn list_runs(
        &self,
        project: &ProjectId,
        dataset_id: &str,
        page: PageRequest,
    ) -> StoreResult<Page<DatasetRun>>;
    async fn get_run(&self, project: &ProjectId, run_id: &str) -> StoreResult<Option<DatasetRun>>;
    async fn get_run_by_name(
        &self,
        project: &ProjectId,
        dataset_id: &str,
        run_name: &str,
    ) -> StoreResult<Option<DatasetRun>>;
    /// The items of a run, newest first, ties by id.
    async fn list_run_items(
        &self,
        project: &ProjectId,
        run_id: &str,
        page: PageRequest,
    ) -> StoreResult<Page<DatasetRunItem>>;
    /// Deletes the run and its run items (traces and scores stay). Returns whether it existed.
    async fn delete_run(&self, project: &ProjectId, run_id: &str) -> StoreResult<bool>;
    /// Experiments with at least one item in the range, by latest activity descending,
    /// strictly after `cursor`; at most `limit`.
    async fn list_experiments(
        &self,
        project: &ProjectId,
        query: &ExperimentQuery,
        cursor: Option<&ExperimentCursor>,
        limit: u32,
    ) -> StoreResult<Vec<ExperimentSummary>>;
    /// Experiment items in the range, by start time descending, strictly after `cursor`;
    /// at most `limit`.
    async fn list_experiment_items(
        &self,
        project: &ProjectId,
        query: &ExperimentQuery,
        cursor: Option<&ExperimentItemCursor>,
        limit: u32,
    ) -> StoreResult<Vec<ExperimentItem>>;
    /// For a comparison: the latest run item per (run, dataset item) of these runs, with
    /// output, latency, cost and the trace's scores.
    async fn run_item_results(
        &self,
        project: &ProjectId,
        run_ids: &[String],
    ) -> StoreResult<Vec<RunItemResult>>;
}
