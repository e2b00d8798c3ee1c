//! PostgreSQL implementation of DatasetRunStore.

use async_trait::async_trait;

use glassbox_model::datasets::{DatasetRun, DatasetRunItem, ExperimentItemRecord, RunItemResult};
use glassbox_model::filter::FilterCondition;
use glassbox_model::{Micros, Observation, ProjectId};
use glassbox_store::*;
use glassbox_store::{Page, PageRequest, StoreResult};
use serde_json::Value;

use crate::PgStore;

#[async_trait]
impl DatasetRunStore for PgStore {
    async fn create_run_item(
        &self,
        _project: &ProjectId,
        _item: NewRunItem,
    ) -> StoreResult<DatasetRunItem> {
        Err(crate::pending().into())
    }
    async fn record_experiment_items(
        &self,
        _project: &ProjectId,
        _records: Vec<ExperimentItemRecord>,
    ) -> StoreResult<()> {
        Err(crate::pending().into())
    }
    async fn list_runs(
        &self,
        _project: &ProjectId,
        _dataset_id: &str,
        _page: PageRequest,
    ) -> StoreResult<Page<DatasetRun>> {
        Err(crate::pending().into())
    }
    async fn get_run(
        &self,
        _project: &ProjectId,
        _run_id: &str,
    ) -> StoreResult<Option<DatasetRun>> {
        Err(crate::pending().into())
    }
    async fn get_run_by_name(
        &self,
        _project: &ProjectId,
        _dataset_id: &str,
        _run_name: &str,
    ) -> StoreResult<Option<DatasetRun>> {
        Err(crate::pending().into())
    }
    async fn list_run_items(
        &self,
        _project: &ProjectId,
        _run_id: &str,
        _page: PageRequest,
    ) -> StoreResult<Page<DatasetRunItem>> {
        Err(crate::pending().into())
    }
    async fn delete_run(&self, _project: &ProjectId, _run_id: &str) -> StoreResult<bool> {
        Err(crate::pending().into())
    }
    async fn list_experiments(
        &self,
        _project: &ProjectId,
        _query: &ExperimentQuery,
        _cursor: Option<&ExperimentCursor>,
        _limit: u32,
    ) -> StoreResult<Vec<ExperimentSummary>> {
        Err(crate::pending().into())
    }
    async fn list_experiment_items(
        &self,
        _project: &ProjectId,
        _query: &ExperimentQuery,
        _cursor: Option<&ExperimentItemCursor>,
        _limit: u32,
    ) -> StoreResult<Vec<ExperimentItem>> {
        Err(crate::pending().into())
    }
    async fn run_item_results(
        &self,
        _project: &ProjectId,
        _run_ids: &[String],
    ) -> StoreResult<Vec<RunItemResult>> {
        Err(crate::pending().into())
    }
}
