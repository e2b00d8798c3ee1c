//! Store traits: the contract every backend (embedded SQLite, PostgreSQL) implements,
//! the query and page types they take, and the conformance suite that proves a backend
//! keeps the contract.
//!
//! Invariant: every read and write is scoped by a [`ProjectId`]; there is no unscoped
//! access to telemetry. No SQL lives here.

pub mod accounts;
pub mod annotation_queues;
pub mod comments;
pub mod copy;
pub mod dataset_runs;
pub mod datasets;
pub mod media;
pub mod metrics;
pub mod models;
pub mod prompt_cache;
pub mod prompts;
pub mod query;
pub mod score_configs;
pub mod testsuite;
pub mod testsuite_accounts;
pub mod testsuite_prompts;
pub mod testsuite_users;
pub mod ui_views;
pub mod user_views;

use std::sync::Arc;

use async_trait::async_trait;

use glassbox_model::ingest::IngestEvent;
use glassbox_model::{
    ApiKey, Observation, Organization, Project, ProjectId, Role, Score, Session, Trace, User,
};

pub use accounts::*;
pub use annotation_queues::*;
pub use comments::*;
pub use dataset_runs::*;
pub use datasets::*;
pub use media::*;
pub use metrics::*;
pub use models::*;
pub use prompt_cache::{CachedPromptStore, PromptCacheInvalidation};
pub use prompts::*;
pub use query::*;
pub use score_configs::*;
pub use ui_views::*;
pub use user_views::*;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{entity} `{id}` not found")]
    NotFound { entity: &'static str, id: String },
    #[error("{0}")]
    Conflict(String),
    /// The write queue is full: the caller should retry later (HTTP 503 + Retry-After).
    #[error("storage is overloaded, retry later")]
    Overloaded,
    /// Retryable failure (shutting down, disk busy).
    #[error("storage temporarily unavailable: {0}")]
    Unavailable(String),
    #[error("storage failure: {0}")]
    Internal(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The outcome of applying one ingestion event: `Err` carries the reason it was rejected
/// (for example a score that breaks its score config). Rejected events are not stored.
pub type EventOutcome = Result<(), String>;

/// Organizations, projects, API keys and users.
#[async_trait]
pub trait AdminStore: Send + Sync + 'static {
    /// True when no organization exists yet (a fresh data directory).
    async fn is_empty(&self) -> StoreResult<bool>;
    /// Creates the organization unless one with this id exists (an existing one is left as is).
    async fn ensure_organization(&self, organization: Organization) -> StoreResult<()>;
    /// Creates the project unless one with this id exists.
    async fn ensure_project(&self, project: Project) -> StoreResult<()>;
    async fn get_project(
        &self,
        project: &ProjectId,
    ) -> StoreResult<Option<(Project, Organization)>>;
    /// Stores a key. A public key that already exists is a [`StoreError::Conflict`].
    async fn insert_api_key(&self, key: ApiKey) -> StoreResult<()>;
    /// Deletes a key by its id or its public key. Returns whether one was deleted.
    async fn delete_api_key(&self, id_or_public_key: &str) -> StoreResult<bool>;
    /// Keys of one project, oldest first.
    async fn list_api_keys(&self, project: &ProjectId) -> StoreResult<Vec<ApiKey>>;
    async fn find_api_key_by_public_key(&self, public_key: &str) -> StoreResult<Option<ApiKey>>;
    /// Looks a key up by the hash of its secret.
    async fn find_api_key_by_secret_hash(&self, hashed_secret: &str)
    -> StoreResult<Option<ApiKey>>;
    /// Creates the user unless the (lowercased) email exists; returns the stored user.
    async fn ensure_user(&self, user: User) -> StoreResult<User>;
    /// Sets the user's role in the organization (insert or update).
    async fn set_organization_role(
        &self,
        org_id: &str,
        user_id: &str,
        role: Role,
    ) -> StoreResult<()>;
    /// True when the user is a member of the organization that owns the project.
    async fn is_project_member(&self, project: &ProjectId, user_id: &str) -> StoreResult<bool>;
}

/// The write path of tracing data.
#[async_trait]
pub trait IngestStore: Send + Sync + 'static {
    /// Appends the events to the event log and merges every entity they touch, in one
    /// durable commit shared with concurrent callers (group commit). When this returns,
    /// the data survives a crash and is visible to reads. Replaying an event id is a
    /// no-op for the merged state. Returns one outcome per event, in order.
    async fn ingest(
        &self,
        project: &ProjectId,
        events: Vec<IngestEvent>,
    ) -> StoreResult<Vec<EventOutcome>>;
    /// Deletes traces with their observations, scores and logged events. Unknown ids are
    /// ignored.
    async fn delete_traces(&self, project: &ProjectId, trace_ids: &[String]) -> StoreResult<()>;
    /// Deletes a score and its logged events. Returns whether it existed.
    async fn delete_score(&self, project: &ProjectId, score_id: &str) -> StoreResult<bool>;
}

/// Reads of traces.
#[async_trait]
pub trait TraceStore: Send + Sync + 'static {
    /// One page, ordered by `query.order` (default timestamp desc, ties by id).
    async fn list_traces(
        &self,
        project: &ProjectId,
        query: &TraceQuery,
        page: PageRequest,
    ) -> StoreResult<Page<TraceWithStats>>;
    async fn get_trace(
        &self,
        project: &ProjectId,
        trace_id: &str,
    ) -> StoreResult<Option<TraceWithStats>>;
    /// Keyset pagination over the ids of matching traces (`query.order` is ignored): rows
    /// strictly after `cursor` in the order timestamp desc, id desc; at most `limit`.
    /// For walking many traces in bounded memory.
    async fn list_trace_ids_after(
        &self,
        project: &ProjectId,
        query: &TraceQuery,
        cursor: Option<&TraceCursor>,
        limit: u32,
    ) -> StoreResult<Vec<TraceCursor>>;
}

/// Reads of observations.
#[async_trait]
pub trait ObservationStore: Send + Sync + 'static {
    /// One page ordered by start time desc, ties by id.
    async fn list_observations(
        &self,
        project: &ProjectId,
        query: &ObservationQuery,
        page: PageRequest,
    ) -> StoreResult<Page<Observation>>;
    /// Keyset pagination: rows strictly after `cursor` in the order start time desc,
    /// trace id desc, id desc; at most `limit` rows.
    async fn list_observations_after(
        &self,
        project: &ProjectId,
        query: &ObservationQuery,
        cursor: Option<&ObservationCursor>,
        limit: u32,
    ) -> StoreResult<Vec<Observation>>;
    async fn get_observation(
        &self,
        project: &ProjectId,
        observation_id: &str,
    ) -> StoreResult<Option<Observation>>;
    /// Every observation of a trace, by start time ascending.
    async fn observations_of_trace(
        &self,
        project: &ProjectId,
        trace_id: &str,
    ) -> StoreResult<Vec<Observation>>;
}

/// Reads of sessions.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// One page ordered by creation time desc.
    async fn list_sessions(
        &self,
        project: &ProjectId,
        query: &SessionQuery,
        page: PageRequest,
    ) -> StoreResult<Page<Session>>;
    async fn get_session(
        &self,
        project: &ProjectId,
        session_id: &str,
    ) -> StoreResult<Option<Session>>;
    /// The traces of a session, by timestamp ascending.
    async fn traces_of_session(
        &self,
        project: &ProjectId,
        session_id: &str,
    ) -> StoreResult<Vec<Trace>>;
}

/// Reads of scores (score configs: [`ScoreConfigStore`]).
#[async_trait]
pub trait ScoreStore: Send + Sync + 'static {
    /// One page ordered by timestamp desc, ties by id desc.
    async fn list_scores(
        &self,
        project: &ProjectId,
        query: &ScoreQuery,
        page: PageRequest,
    ) -> StoreResult<Page<ScoreWithTrace>>;
    /// Keyset pagination by (timestamp desc, id desc), strictly after `cursor`.
    async fn list_scores_after(
        &self,
        project: &ProjectId,
        query: &ScoreQuery,
        cursor: Option<&ScoreCursor>,
        limit: u32,
    ) -> StoreResult<Vec<ScoreWithTrace>>;
    async fn get_score(
        &self,
        project: &ProjectId,
        score_id: &str,
    ) -> StoreResult<Option<ScoreWithTrace>>;
    /// Scores whose target is the trace (including its observations), newest first.
    async fn scores_of_trace(&self, project: &ProjectId, trace_id: &str)
    -> StoreResult<Vec<Score>>;
}

/// Every store of one backend. Backends may later be mixed per store.
#[derive(Clone)]
pub struct Stores {
    pub admin: Arc<dyn AdminStore>,
    pub ingest: Arc<dyn IngestStore>,
    pub traces: Arc<dyn TraceStore>,
    pub observations: Arc<dyn ObservationStore>,
    pub sessions: Arc<dyn SessionStore>,
    pub scores: Arc<dyn ScoreStore>,
    pub media: Arc<dyn MediaStore>,
    pub models: Arc<dyn ModelStore>,
    pub metrics: Arc<dyn MetricsStore>,
    pub datasets: Arc<dyn DatasetStore>,
    pub dataset_runs: Arc<dyn DatasetRunStore>,
    pub score_configs: Arc<dyn ScoreConfigStore>,
    pub comments: Arc<dyn CommentStore>,
    pub annotation_queues: Arc<dyn AnnotationQueueStore>,
    pub accounts: Arc<dyn AccountStore>,
    pub ui_views: Arc<dyn UiViewStore>,
    pub user_views: Arc<dyn UserViewStore>,
    /// Prompt management, behind the in-memory cache of resolved prompts.
    pub prompts: Arc<dyn PromptStore>,
    /// The same cache as `prompts`, for a backend's change listener: writes of other
    /// processes (PostgreSQL `NOTIFY`) drop its entries.
    pub prompt_cache: Arc<CachedPromptStore>,
}

impl Stores {
    /// All stores from one backend object that implements every trait.
    pub fn from_backend<B>(backend: Arc<B>) -> Self
    where
        B: AdminStore
            + IngestStore
            + TraceStore
            + ObservationStore
            + SessionStore
            + ScoreStore
            + MediaStore
            + ModelStore
            + MetricsStore
            + DatasetStore
            + DatasetRunStore
            + ScoreConfigStore
            + CommentStore
            + AnnotationQueueStore
            + AccountStore
            + UiViewStore
            + UserViewStore
            + PromptStore,
    {
        let prompt_cache = Arc::new(CachedPromptStore::new(backend.clone()));
        Stores {
            admin: backend.clone(),
            ingest: backend.clone(),
            traces: backend.clone(),
            observations: backend.clone(),
            sessions: backend.clone(),
            scores: backend.clone(),
            media: backend.clone(),
            models: backend.clone(),
            metrics: backend.clone(),
            datasets: backend.clone(),
            dataset_runs: backend.clone(),
            score_configs: backend.clone(),
            comments: backend.clone(),
            accounts: backend.clone(),
            ui_views: backend.clone(),
            user_views: backend.clone(),
            prompts: prompt_cache.clone(),
            prompt_cache,
            annotation_queues: backend,
        }
    }
}
