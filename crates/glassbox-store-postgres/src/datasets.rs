//! PostgreSQL implementation of DatasetStore.

use async_trait::async_trait;

use glassbox_model::datasets::{Dataset, DatasetItem, DatasetItemChange};
use glassbox_model::{Micros, ProjectId};
use glassbox_store::*;
use glassbox_store::{Page, PageRequest, StoreResult};
use serde_json::Value;

use crate::PgStore;

#[async_trait]
impl DatasetStore for PgStore {
    async fn upsert_dataset(
        &self,
        _project: &ProjectId,
        _upsert: DatasetUpsert,
    ) -> StoreResult<Dataset> {
        Err(crate::pending().into())
    }
    async fn get_dataset(
        &self,
        _project: &ProjectId,
        _dataset_id: &str,
    ) -> StoreResult<Option<Dataset>> {
        Err(crate::pending().into())
    }
    async fn get_dataset_by_name(
        &self,
        _project: &ProjectId,
        _name: &str,
    ) -> StoreResult<Option<Dataset>> {
        Err(crate::pending().into())
    }
    async fn list_datasets(
        &self,
        _project: &ProjectId,
        _page: PageRequest,
    ) -> StoreResult<Page<Dataset>> {
        Err(crate::pending().into())
    }
    async fn upsert_dataset_item(
        &self,
        _project: &ProjectId,
        _dataset_id: &str,
        _item_id: &str,
        _change: DatasetItemChange,
        _now: Micros,
    ) -> StoreResult<DatasetItem> {
        Err(crate::pending().into())
    }
    async fn delete_dataset_item(
        &self,
        _project: &ProjectId,
        _item_id: &str,
        _now: Micros,
    ) -> StoreResult<bool> {
        Err(crate::pending().into())
    }
    async fn get_dataset_item(
        &self,
        _project: &ProjectId,
        _item_id: &str,
    ) -> StoreResult<Option<DatasetItem>> {
        Err(crate::pending().into())
    }
    async fn list_dataset_items(
        &self,
        _project: &ProjectId,
        _query: &DatasetItemQuery,
        _page: PageRequest,
    ) -> StoreResult<Page<DatasetItem>> {
        Err(crate::pending().into())
    }
}
