//! PostgreSQL implementation of IngestStore.

use async_trait::async_trait;

use glassbox_model::ingest::IngestEvent;
use glassbox_model::{
    ApiKey, Observation, Organization, Project, ProjectId, Role, Score, Session, Trace, User,
};
use glassbox_store::*;

use crate::PgStore;

#[async_trait]
impl IngestStore for PgStore {
    async fn ingest(
        &self,
        _project: &ProjectId,
        _events: Vec<IngestEvent>,
    ) -> StoreResult<Vec<EventOutcome>> {
        Err(crate::pending().into())
    }
    async fn delete_traces(&self, _project: &ProjectId, _trace_ids: &[String]) -> StoreResult<()> {
        Err(crate::pending().into())
    }
    async fn delete_score(&self, _project: &ProjectId, _score_id: &str) -> StoreResult<bool> {
        Err(crate::pending().into())
    }
}
