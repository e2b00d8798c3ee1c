//! Model definitions (prices) of a project, the built-ins shipped in the binary, and the
//! background recompute of inferred costs after a price change.

use std::sync::Arc;

use async_trait::async_trait;

use glassbox_model::models::ModelDefinition;
use glassbox_model::{Micros, ProjectId};

use crate::{Page, PageRequest, StoreResult};

/// Most definitions one project may create.
pub const MAX_PROJECT_MODELS: usize = 1_000;

/// Progress of one recompute of inferred costs.
#[derive(Debug, Clone, PartialEq)]
pub struct RecomputeJob {
    pub id: String,
    /// The model whose change queued the job (it may since have been deleted).
    pub model_id: String,
    /// `queued`, `running`, `done` or `failed`.
    pub status: String,
    /// Observations to look at (known once the job has started).
    pub total: u64,
    /// Observations looked at so far.
    pub processed: u64,
    /// Observations whose model, usage or cost changed.
    pub updated: u64,
    pub created_at: Micros,
    pub finished_at: Option<Micros>,
    pub error: Option<String>,
}

#[async_trait]
pub trait ModelStore: Send + Sync + 'static {
    /// The project's definitions and the built-ins, ordered by model name, unit, start date
    /// (newest first, none last), then id.
    async fn list_models(
        &self,
        project: &ProjectId,
        page: PageRequest,
    ) -> StoreResult<Page<Arc<ModelDefinition>>>;
    /// A definition of the project, or a built-in, by id.
    async fn get_model(
        &self,
        project: &ProjectId,
        model_id: &str,
    ) -> StoreResult<Option<Arc<ModelDefinition>>>;
    /// Stores a project definition (its `project_id` must be `project`) and, in the same
    /// commit, queues the recompute of the inferred costs of the project's observations
    /// whose model string it matches. The same (name, start date, unit) twice, or more than
    /// [`MAX_PROJECT_MODELS`] definitions, is a [`crate::StoreError::Conflict`].
    async fn create_model(
        &self,
        project: &ProjectId,
        model: ModelDefinition,
    ) -> StoreResult<RecomputeJob>;
    /// Creates or replaces the project's definition with this id (a replacement keeps the
    /// original creation time) and queues the recompute of the observations matched by the
    /// old or the new pattern. Conflicts as [`ModelStore::create_model`].
    async fn upsert_model(
        &self,
        project: &ProjectId,
        model: ModelDefinition,
    ) -> StoreResult<(ModelDefinition, RecomputeJob)>;
    /// Deletes a project definition and queues the recompute of the observations it
    /// matched. `None` when the project has no such definition (built-ins included).
    async fn delete_model(
        &self,
        project: &ProjectId,
        model_id: &str,
    ) -> StoreResult<Option<RecomputeJob>>;
    /// The latest recompute queued by a change of this model.
    async fn recompute_status(
        &self,
        project: &ProjectId,
        model_id: &str,
    ) -> StoreResult<Option<RecomputeJob>>;
}
