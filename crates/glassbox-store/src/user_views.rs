//! The users of a project (the `userId` of its traces) as the web UI lists them: traces,
//! sessions, tokens, cost and first/last seen per user.

use async_trait::async_trait;

use glassbox_model::{Micros, ProjectId};

use crate::{Page, PageRequest, StoreResult};

/// One user's totals over all their traces (tokens and cost over the observations of
/// those traces).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserSummary {
    pub user_id: String,
    pub trace_count: u64,
    pub session_count: u64,
    pub input_tokens: f64,
    pub output_tokens: f64,
    pub total_tokens: f64,
    pub total_cost: f64,
    /// Timestamp of the user's oldest and newest trace.
    pub first_seen: Micros,
    pub last_seen: Micros,
}

/// The order of the users list; ties by user id ascending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UserOrder {
    #[default]
    LastSeenDesc,
    LastSeenAsc,
    TotalCostDesc,
    TotalCostAsc,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserQuery {
    /// Only traces with `timestamp >= from` count (inclusive).
    pub from_timestamp: Option<Micros>,
    /// Only traces with `timestamp < to` count (exclusive).
    pub to_timestamp: Option<Micros>,
    /// User ids that contain this text.
    pub search: Option<String>,
    pub order: UserOrder,
}

/// A session a user took part in: its traces of this user.
#[derive(Debug, Clone, PartialEq)]
pub struct UserSession {
    pub session_id: String,
    pub trace_count: u64,
    pub first_seen: Micros,
    pub last_seen: Micros,
}

#[async_trait]
pub trait UserViewStore: Send + Sync + 'static {
    /// One page of the project's users (traces with a `userId`), in `query.order`.
    async fn list_users(
        &self,
        project: &ProjectId,
        query: &UserQuery,
        page: PageRequest,
    ) -> StoreResult<Page<UserSummary>>;
    /// One user's totals over all their traces; `None` when the project has no trace of
    /// that user.
    async fn get_user(
        &self,
        project: &ProjectId,
        user_id: &str,
    ) -> StoreResult<Option<UserSummary>>;
    /// The sessions of the user's traces, most recent first, at most `limit`.
    async fn sessions_of_user(
        &self,
        project: &ProjectId,
        user_id: &str,
        limit: u32,
    ) -> StoreResult<Vec<UserSession>>;
}
