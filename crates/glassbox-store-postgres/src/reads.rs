//! PostgreSQL implementation of TraceStore, ObservationStore, SessionStore, ScoreStore.

use async_trait::async_trait;

use glassbox_model::ingest::IngestEvent;
use glassbox_model::{
    ApiKey, Observation, Organization, Project, ProjectId, Role, Score, Session, Trace, User,
};
use glassbox_store::*;

use crate::PgStore;

#[async_trait]
impl TraceStore for PgStore {
    async fn list_traces(
        &self,
        _project: &ProjectId,
        _query: &TraceQuery,
        _page: PageRequest,
    ) -> StoreResult<Page<TraceWithStats>> {
        Err(crate::pending().into())
    }
    async fn get_trace(
        &self,
        _project: &ProjectId,
        _trace_id: &str,
    ) -> StoreResult<Option<TraceWithStats>> {
        Err(crate::pending().into())
    }
    async fn list_trace_ids_after(
        &self,
        _project: &ProjectId,
        _query: &TraceQuery,
        _cursor: Option<&TraceCursor>,
        _limit: u32,
    ) -> StoreResult<Vec<TraceCursor>> {
        Err(crate::pending().into())
    }
}

#[async_trait]
impl ObservationStore for PgStore {
    async fn list_observations(
        &self,
        _project: &ProjectId,
        _query: &ObservationQuery,
        _page: PageRequest,
    ) -> StoreResult<Page<Observation>> {
        Err(crate::pending().into())
    }
    async fn list_observations_after(
        &self,
        _project: &ProjectId,
        _query: &ObservationQuery,
        _cursor: Option<&ObservationCursor>,
        _limit: u32,
    ) -> StoreResult<Vec<Observation>> {
        Err(crate::pending().into())
    }
    async fn get_observation(
        &self,
        _project: &ProjectId,
        _observation_id: &str,
    ) -> StoreResult<Option<Observation>> {
        Err(crate::pending().into())
    }
    async fn observations_of_trace(
        &self,
        _project: &ProjectId,
        _trace_id: &str,
    ) -> StoreResult<Vec<Observation>> {
        Err(crate::pending().into())
    }
}

#[async_trait]
impl SessionStore for PgStore {
    async fn list_sessions(
        &self,
        _project: &ProjectId,
        _query: &SessionQuery,
        _page: PageRequest,
    ) -> StoreResult<Page<Session>> {
        Err(crate::pending().into())
    }
    async fn get_session(
        &self,
        _project: &ProjectId,
        _session_id: &str,
    ) -> StoreResult<Option<Session>> {
        Err(crate::pending().into())
    }
    async fn traces_of_session(
        &self,
        _project: &ProjectId,
        _session_id: &str,
    ) -> StoreResult<Vec<Trace>> {
        Err(crate::pending().into())
    }
}

#[async_trait]
impl ScoreStore for PgStore {
    async fn list_scores(
        &self,
        _project: &ProjectId,
        _query: &ScoreQuery,
        _page: PageRequest,
    ) -> StoreResult<Page<ScoreWithTrace>> {
        Err(crate::pending().into())
    }
    async fn list_scores_after(
        &self,
        _project: &ProjectId,
        _query: &ScoreQuery,
        _cursor: Option<&ScoreCursor>,
        _limit: u32,
    ) -> StoreResult<Vec<ScoreWithTrace>> {
        Err(crate::pending().into())
    }
    async fn get_score(
        &self,
        _project: &ProjectId,
        _score_id: &str,
    ) -> StoreResult<Option<ScoreWithTrace>> {
        Err(crate::pending().into())
    }
    async fn scores_of_trace(
        &self,
        _project: &ProjectId,
        _trace_id: &str,
    ) -> StoreResult<Vec<Score>> {
        Err(crate::pending().into())
    }
}
