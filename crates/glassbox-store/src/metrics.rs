//! The metrics query engine's store side: rows of a view, aggregated with the model's
//! [`glassbox_model::metrics::Aggregator`].

use async_trait::async_trait;

use glassbox_model::ProjectId;
use glassbox_model::metrics::{MetricsQuery, ResultRow};

use crate::StoreResult;

/// How a backend may answer a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsOptions {
    /// Use rollups kept at ingest when the query fits them (percentiles then come from
    /// sketches, within 1 % of the exact value). `false`: always from rows, exact.
    pub use_rollups: bool,
}

impl Default for MetricsOptions {
    fn default() -> Self {
        MetricsOptions { use_rollups: true }
    }
}

#[async_trait]
pub trait MetricsStore: Send + Sync + 'static {
    /// The rows of `query.view` in the project whose time is in `[query.from, query.to)`
    /// and that pass every filter, grouped by the dimensions (and time bucket) and
    /// aggregated, ordered and cut to the row limit. A filter the backend cannot apply is
    /// a [`crate::StoreError::Conflict`] with a message for the client.
    async fn query_metrics(
        &self,
        project: &ProjectId,
        query: &MetricsQuery,
        options: MetricsOptions,
    ) -> StoreResult<Vec<ResultRow>>;
}
