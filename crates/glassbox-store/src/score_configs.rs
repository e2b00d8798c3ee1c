//! Score configs: the schema a score can point at with `configId`. Configs are never
//! deleted; archiving one makes new scores that name it fail.

use async_trait::async_trait;

use glassbox_model::score_configs::ScoreConfigPatch;
use glassbox_model::{Micros, ProjectId, ScoreConfig};

use crate::{Page, PageRequest, StoreResult};

/// What [`ScoreConfigStore::update_score_config`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum ScoreConfigUpdate {
    /// The config after the update.
    Updated(ScoreConfig),
    NotFound,
    /// The patched config breaks a rule (the reason names it); nothing was changed.
    Rejected(String),
}

#[async_trait]
pub trait ScoreConfigStore: Send + Sync + 'static {
    /// Stores a new config; an existing id is a [`crate::StoreError::Conflict`].
    async fn insert_score_config(
        &self,
        project: &ProjectId,
        config: ScoreConfig,
    ) -> StoreResult<()>;
    async fn get_score_config(
        &self,
        project: &ProjectId,
        config_id: &str,
    ) -> StoreResult<Option<ScoreConfig>>;
    /// One page ordered by creation time descending, ties by id ascending.
    async fn list_score_configs(
        &self,
        project: &ProjectId,
        page: PageRequest,
    ) -> StoreResult<Page<ScoreConfig>>;
    /// Applies `patch` with `glassbox_model::score_configs::update_score_config`
    /// atomically (no lost update between concurrent patches). Scores already stored are
    /// not re-checked; scores written afterwards are checked against the new config.
    async fn update_score_config(
        &self,
        project: &ProjectId,
        config_id: &str,
        patch: ScoreConfigPatch,
        now: Micros,
    ) -> StoreResult<ScoreConfigUpdate>;
}
