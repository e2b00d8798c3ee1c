//! glassbox's own prompt routes under `/api/ui/v1` (not part of Langfuse's API): usage
//! statistics of each version, and the project's protected labels.
//!
//! Two ways in: the web UI's cookie session with the project in the path
//! (`/projects/{project_id}/prompts/...`), and the project's Basic key for reads
//! (`/prompts/...`). Protected labels are changed only through a session of a project
//! owner or admin: an API key cannot lift the protection that holds it back.

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};

use glassbox_model::{ProjectId, Role};
use glassbox_store::PromptUsageQuery;

use super::wire::version_usage;
use super::{invalid, optional_strings, path_name};
use crate::AppState;
use crate::auth::ProjectAuth;
use crate::body::read_json;
use crate::error::ApiResult;
use crate::params::QueryParams;
use crate::routes::ui::session::{UiUser, require_project_role};

async fn usage(
    state: &AppState,
    project: &ProjectId,
    name: String,
    query: Option<String>,
) -> ApiResult<Json<Value>> {
    let params = QueryParams::parse(query.as_deref());
    let query = PromptUsageQuery {
        from_start_time: params.datetime("fromTimestamp")?,
        to_start_time: params.datetime("toTimestamp")?,
    };
    let versions = state
        .stores
        .prompts
        .prompt_usage(project, &name, &query)
        .await?;
    let data: Vec<Value> = versions.iter().map(version_usage).collect();
    Ok(Json(json!({"name": name, "data": data})))
}

/// `GET /api/ui/v1/projects/{project_id}/prompts/{name}/usage?fromTimestamp=&toTimestamp=`
/// (signed-in member): for every version, highest first, what its linked generations add
/// up to.
pub async fn usage_get(
    State(state): State<AppState>,
    user: UiUser,
    path: Result<Path<(String, String)>, PathRejection>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let (project_id, name) = path_name(path)?;
    let project = ProjectId(project_id);
    require_project_role(&state, &user, &project, Role::Viewer).await?;
    usage(&state, &project, name, query).await
}

/// `GET /api/ui/v1/prompts/{name}/usage` with the project's Basic key.
pub async fn usage_get_with_key(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let name = path_name(path)?;
    usage(&state, &auth.project_id, name, query).await
}

async fn protected_labels(state: &AppState, project: &ProjectId) -> ApiResult<Json<Value>> {
    let labels = state
        .stores
        .prompts
        .protected_prompt_labels(project)
        .await?;
    Ok(Json(json!({ "labels": labels })))
}

/// `GET /api/ui/v1/projects/{project_id}/prompts/protected-labels` (signed-in member).
pub async fn protected_labels_get(
    State(state): State<AppState>,
    user: UiUser,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Value>> {
    let project = ProjectId(path_name(path)?);
    require_project_role(&state, &user, &project, Role::Viewer).await?;
    protected_labels(&state, &project).await
}

/// `GET /api/ui/v1/prompts/protected-labels` with the project's Basic key (read only).
pub async fn protected_labels_get_with_key(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
) -> ApiResult<Json<Value>> {
    protected_labels(&state, &auth.project_id).await
}

/// `PUT /api/ui/v1/projects/{project_id}/prompts/protected-labels` with
/// `{"labels": [...]}` (signed-in owner or admin, CSRF-checked): replaces the set.
pub async fn protected_labels_put(
    State(state): State<AppState>,
    user: UiUser,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let project = ProjectId(path_name(path)?);
    require_project_role(&state, &user, &project, Role::Admin).await?;
    let body = read_json(&headers, body, state.config.max_body_bytes).await?;
    let Value::Object(body) = body else {
        return Err(invalid("the body must be a JSON object"));
    };
    let labels = optional_strings(&body, "labels")?
        .ok_or_else(|| invalid("labels: required (an array of labels)"))?;
    let labels = state
        .stores
        .prompts
        .set_protected_prompt_labels(&project, labels)
        .await?;
    Ok(Json(json!({ "labels": labels })))
}
