//! View-shaped reads of the web UI that the public API has no shape for.

use std::collections::HashMap;

use async_trait::async_trait;

use glassbox_model::ProjectId;

use crate::StoreResult;

/// What the traces table shows beside a trace's own fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceRowStats {
    pub input_tokens: f64,
    pub output_tokens: f64,
    pub total_tokens: f64,
    /// The highest observation level (`ERROR` > `WARNING` > `DEFAULT` > `DEBUG`); `None`
    /// without observations.
    pub level: Option<String>,
    pub observation_count: u64,
    /// Numeric and boolean scores: name → average value.
    pub scores: Vec<(String, f64)>,
}

#[async_trait]
pub trait UiViewStore: Send + Sync + 'static {
    /// Row statistics of the given traces of the project; traces without observations or
    /// scores map to the default, unknown ids are absent.
    async fn trace_row_stats(
        &self,
        project: &ProjectId,
        trace_ids: &[String],
    ) -> StoreResult<HashMap<String, TraceRowStats>>;
}
