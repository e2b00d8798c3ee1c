//! Query, page and result types shared by the store traits.

use glassbox_model::filter::FilterCondition;
use glassbox_model::{Micros, Score, ScoreDataType, Trace};

/// Page-based pagination: `page` starts at 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub page: u32,
    pub limit: u32,
}

impl PageRequest {
    pub fn offset(&self) -> u64 {
        u64::from(self.page.saturating_sub(1)) * u64::from(self.limit)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total_items: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortDirection {
    Asc,
    #[default]
    Desc,
}

/// Sortable trace columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TraceOrderColumn {
    Id,
    #[default]
    Timestamp,
    Name,
    UserId,
    Release,
    Version,
    Public,
    Bookmarked,
    SessionId,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceQuery {
    pub user_id: Option<String>,
    pub name: Option<String>,
    pub session_id: Option<String>,
    pub version: Option<String>,
    pub release: Option<String>,
    /// The trace must have every tag.
    pub tags: Vec<String>,
    /// Any of these environments (empty: all).
    pub environments: Vec<String>,
    /// Inclusive: `timestamp >= from`.
    pub from_timestamp: Option<Micros>,
    /// Exclusive: `timestamp < to`.
    pub to_timestamp: Option<Micros>,
    pub order: (TraceOrderColumn, SortDirection),
    pub filters: Vec<FilterCondition>,
}

/// Position after a trace, in the order timestamp desc, id desc.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceCursor {
    pub timestamp: Micros,
    pub id: String,
}

/// A trace with what the read API derives from its observations and scores.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceWithStats {
    pub trace: Trace,
    pub observation_ids: Vec<String>,
    pub score_ids: Vec<String>,
    /// Sum of the observations' total cost.
    pub total_cost: f64,
    /// Seconds from the earliest observation time to the latest one (0 without any).
    pub latency_seconds: f64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObservationQuery {
    pub r#type: Option<String>,
    pub name: Option<String>,
    /// The user of the observation's trace.
    pub user_id: Option<String>,
    /// The session of the observation's trace.
    pub session_id: Option<String>,
    pub level: Option<String>,
    pub trace_id: Option<String>,
    pub version: Option<String>,
    pub parent_observation_id: Option<String>,
    pub environments: Vec<String>,
    /// Inclusive: `start_time >= from`.
    pub from_start_time: Option<Micros>,
    /// Exclusive: `start_time < to`.
    pub to_start_time: Option<Micros>,
    /// `Some(true)`: only roots (no parent, or the app root); `Some(false)`: only the rest.
    pub is_root: Option<bool>,
    pub filters: Vec<FilterCondition>,
}

/// Position after the last row of a page, in the order start time desc, trace id desc,
/// id desc.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservationCursor {
    pub start_time: Micros,
    pub trace_id: String,
    pub id: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionQuery {
    /// Inclusive, on the creation time.
    pub from_timestamp: Option<Micros>,
    /// Exclusive, on the creation time.
    pub to_timestamp: Option<Micros>,
    pub environments: Vec<String>,
}

/// Comparison of a numeric score value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueComparison {
    Lt(f64),
    Gt(f64),
    Lte(f64),
    Gte(f64),
    Eq(f64),
    NotEq(f64),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScoreQuery {
    pub ids: Vec<String>,
    pub names: Vec<String>,
    pub user_id: Option<String>,
    /// Inclusive: `timestamp >= from`.
    pub from_timestamp: Option<Micros>,
    /// Exclusive: `timestamp < to`.
    pub to_timestamp: Option<Micros>,
    pub environments: Vec<String>,
    pub sources: Vec<String>,
    pub data_types: Vec<ScoreDataType>,
    pub value: Vec<ValueComparison>,
    /// Matches the string value (categorical label, text) exactly, any of.
    pub string_values: Vec<String>,
    pub config_ids: Vec<String>,
    pub queue_ids: Vec<String>,
    pub author_user_ids: Vec<String>,
    /// The score's trace must have every tag.
    pub trace_tags: Vec<String>,
    pub trace_ids: Vec<String>,
    pub observation_ids: Vec<String>,
    pub session_ids: Vec<String>,
    pub dataset_run_ids: Vec<String>,
    /// v1: only scores that target a trace (or one of its observations).
    pub only_trace_targets: bool,
    pub filters: Vec<FilterCondition>,
}

/// A score with the fields of its trace that the score APIs return.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreWithTrace {
    pub score: Score,
    pub trace: Option<ScoreTraceInfo>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScoreTraceInfo {
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub tags: Vec<String>,
    pub environment: String,
    pub name: Option<String>,
}

/// Position after the last row, in the order timestamp desc, id desc.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreCursor {
    pub timestamp: Micros,
    pub id: String,
}
