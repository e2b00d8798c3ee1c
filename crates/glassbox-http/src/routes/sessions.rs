//! `GET /api/public/sessions` and `/sessions/{id}`.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use serde_json::{Value, json};

use glassbox_store::SessionQuery;

use crate::AppState;
use crate::auth::ProjectAuth;
use crate::error::{ApiError, ApiResult};
use crate::params::{QueryParams, page_response};
use crate::wire::{session, trace_core};

pub async fn sessions_list(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let params = QueryParams::parse(query.as_deref());
    let page = params.page(50, 100)?;
    let query = SessionQuery {
        from_timestamp: params.datetime("fromTimestamp")?,
        to_timestamp: params.datetime("toTimestamp")?,
        environments: params.repeated("environment"),
    };
    let result = state
        .stores
        .sessions
        .list_sessions(&auth.project_id, &query, page)
        .await?;
    Ok(page_response(page, &result, |item| {
        Value::Object(session(&auth.project_id, item))
    }))
}

pub async fn sessions_get(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    Path(session_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let project = &auth.project_id;
    let found = state
        .stores
        .sessions
        .get_session(project, &session_id)
        .await?
        .ok_or_else(|| ApiError::not_found_in_project("Session"))?;
    let traces = state
        .stores
        .sessions
        .traces_of_session(project, &session_id)
        .await?;
    let mut object = session(project, &found);
    let traces: Vec<Value> = traces
        .iter()
        .map(|trace| Value::Object(trace_core(project, trace, true)))
        .collect();
    object.insert("traces".into(), json!(traces));
    Ok(Json(Value::Object(object)))
}
