//! PostgreSQL implementation of MetricsStore.

use async_trait::async_trait;

use glassbox_model::ProjectId;
use glassbox_model::metrics::{MetricsQuery, ResultRow};
use glassbox_store::StoreResult;
use glassbox_store::*;

use crate::PgStore;

#[async_trait]
impl MetricsStore for PgStore {
    async fn query_metrics(
        &self,
        _project: &ProjectId,
        _query: &MetricsQuery,
        _options: MetricsOptions,
    ) -> StoreResult<Vec<ResultRow>> {
        Err(crate::pending().into())
    }
}
