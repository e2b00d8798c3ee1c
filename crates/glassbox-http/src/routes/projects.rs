//! `GET /api/public/projects`: the key's own project (SDK `auth_check`).

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::ProjectAuth;
use crate::error::{ApiError, ApiResult};

pub async fn projects_get(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
) -> ApiResult<Json<Value>> {
    let (project, organization) = state
        .stores
        .admin
        .get_project(&auth.project_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("Project not found".into()))?;
    let mut item = json!({
        "id": project.id.as_str(),
        "name": project.name,
        "organization": {"id": organization.id, "name": organization.name},
        "metadata": project.metadata,
    });
    if let Some(days) = project.retention_days.filter(|days| *days > 0) {
        item["retentionDays"] = json!(days);
    }
    Ok(Json(json!({ "data": [item] })))
}
