//! PostgreSQL implementation of ScoreConfigStore.

use async_trait::async_trait;

use glassbox_model::score_configs::ScoreConfigPatch;
use glassbox_model::{Micros, ProjectId, ScoreConfig};
use glassbox_store::*;
use glassbox_store::{Page, PageRequest, StoreResult};

use crate::PgStore;

#[async_trait]
impl ScoreConfigStore for PgStore {
    async fn insert_score_config(
        &self,
        _project: &ProjectId,
        _config: ScoreConfig,
    ) -> StoreResult<()> {
        Err(crate::pending().into())
    }
    async fn get_score_config(
        &self,
        _project: &ProjectId,
        _config_id: &str,
    ) -> StoreResult<Option<ScoreConfig>> {
        Err(crate::pending().into())
    }
    async fn list_score_configs(
        &self,
        _project: &ProjectId,
        _page: PageRequest,
    ) -> StoreResult<Page<ScoreConfig>> {
        Err(crate::pending().into())
    }
    async fn update_score_config(
        &self,
        _project: &ProjectId,
        _config_id: &str,
        _patch: ScoreConfigPatch,
        _now: Micros,
    ) -> StoreResult<ScoreConfigUpdate> {
        Err(crate::pending().into())
    }
}
