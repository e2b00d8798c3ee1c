//! Datasets and their versioned items.
//!
//! Items are bitemporal: every write (create, update, archive, delete) adds a version
//! valid from its instant until the next version's, and a delete adds a tombstone
//! version. Reads see the current version unless pinned to an instant. An item id is
//! unique within its project, across datasets.

use async_trait::async_trait;
use serde_json::Value;

use glassbox_model::datasets::{Dataset, DatasetItem, DatasetItemChange};
use glassbox_model::{Micros, ProjectId};

use crate::{Page, PageRequest, StoreResult};

/// `POST /v2/datasets`: a dataset to create, or the changes to the one with this name.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetUpsert {
    /// The id of a new dataset (unused when the name exists).
    pub id: String,
    pub name: String,
    /// `None` (omitted or null) keeps the stored value; a new dataset gets null.
    pub description: Option<String>,
    pub metadata: Option<Value>,
    pub input_schema: Option<Value>,
    pub expected_output_schema: Option<Value>,
    pub now: Micros,
}

/// Which items to list. Only `ACTIVE`, not deleted items are listed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DatasetItemQuery {
    pub dataset_id: Option<String>,
    pub source_trace_id: Option<String>,
    pub source_observation_id: Option<String>,
    /// Any of these ids (empty: all).
    pub ids: Vec<String>,
    /// The versions valid at this instant instead of the current ones.
    pub version: Option<Micros>,
    /// Also list `ARCHIVED` items.
    pub include_archived: bool,
}

#[async_trait]
pub trait DatasetStore: Send + Sync + 'static {
    /// Creates the dataset, or updates the project's dataset with `upsert.name`: values
    /// given replace the stored ones, `None` keeps them. Returns the stored dataset.
    async fn upsert_dataset(
        &self,
        project: &ProjectId,
        upsert: DatasetUpsert,
    ) -> StoreResult<Dataset>;
    async fn get_dataset(
        &self,
        project: &ProjectId,
        dataset_id: &str,
    ) -> StoreResult<Option<Dataset>>;
    /// By exact name (names may contain `/`).
    async fn get_dataset_by_name(
        &self,
        project: &ProjectId,
        name: &str,
    ) -> StoreResult<Option<Dataset>>;
    /// Newest first, ties by id.
    async fn list_datasets(
        &self,
        project: &ProjectId,
        page: PageRequest,
    ) -> StoreResult<Page<Dataset>>;
    /// Writes the next version of item `item_id` in dataset `dataset_id`
    /// ([`glassbox_model::datasets::next_item_version`]: omitted fields keep the previous
    /// version's values; a deleted item starts afresh). Errors: the dataset does not
    /// exist → `NotFound`; the id belongs to an item of another dataset → `Conflict`.
    async fn upsert_dataset_item(
        &self,
        project: &ProjectId,
        dataset_id: &str,
        item_id: &str,
        change: DatasetItemChange,
        now: Micros,
    ) -> StoreResult<DatasetItem>;
    /// Ends the current version with a tombstone (reads pinned to earlier instants still
    /// see the item) and deletes the item's run items. Returns whether a live item existed.
    async fn delete_dataset_item(
        &self,
        project: &ProjectId,
        item_id: &str,
        now: Micros,
    ) -> StoreResult<bool>;
    /// The current version, whatever its status; `None` if unknown or deleted.
    async fn get_dataset_item(
        &self,
        project: &ProjectId,
        item_id: &str,
    ) -> StoreResult<Option<DatasetItem>>;
    /// One page ordered by creation time (of the first version) descending, ties by id.
    async fn list_dataset_items(
        &self,
        project: &ProjectId,
        query: &DatasetItemQuery,
        page: PageRequest,
    ) -> StoreResult<Page<DatasetItem>>;
}
