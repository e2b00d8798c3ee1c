//! PostgreSQL implementation of UiViewStore.

use std::collections::HashMap;

use async_trait::async_trait;

use glassbox_model::ProjectId;
use glassbox_store::StoreResult;
use glassbox_store::*;

use crate::PgStore;

#[async_trait]
impl UiViewStore for PgStore {
    async fn trace_row_stats(
        &self,
        _project: &ProjectId,
        _trace_ids: &[String],
    ) -> StoreResult<HashMap<String, TraceRowStats>> {
        Err(crate::pending().into())
    }
}
