//! PostgreSQL implementation of ModelStore.

use std::sync::Arc;

use async_trait::async_trait;

use glassbox_model::models::ModelDefinition;
use glassbox_model::{Micros, ProjectId};
use glassbox_store::*;
use glassbox_store::{Page, PageRequest, StoreResult};

use crate::PgStore;

#[async_trait]
impl ModelStore for PgStore {
    async fn list_models(
        &self,
        _project: &ProjectId,
        _page: PageRequest,
    ) -> StoreResult<Page<Arc<ModelDefinition>>> {
        Err(crate::pending().into())
    }
    async fn get_model(
        &self,
        _project: &ProjectId,
        _model_id: &str,
    ) -> StoreResult<Option<Arc<ModelDefinition>>> {
        Err(crate::pending().into())
    }
    async fn create_model(
        &self,
        _project: &ProjectId,
        _model: ModelDefinition,
    ) -> StoreResult<RecomputeJob> {
        Err(crate::pending().into())
    }
    async fn upsert_model(
        &self,
        _project: &ProjectId,
        _model: ModelDefinition,
    ) -> StoreResult<(ModelDefinition, RecomputeJob)> {
        Err(crate::pending().into())
    }
    async fn delete_model(
        &self,
        _project: &ProjectId,
        _model_id: &str,
    ) -> StoreResult<Option<RecomputeJob>> {
        Err(crate::pending().into())
    }
    async fn recompute_status(
        &self,
        _project: &ProjectId,
        _model_id: &str,
    ) -> StoreResult<Option<RecomputeJob>> {
        Err(crate::pending().into())
    }
}
