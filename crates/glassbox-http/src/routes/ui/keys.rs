//! API keys of a project: list, create (the secret is answered once), revoke.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use glassbox_model::time::{format_iso, now_micros};
use glassbox_model::{ApiKey, ProjectId, Role};

use super::session::{UiUser, require_project_role};
use crate::AppState;
use crate::auth::hash_secret_key;
use crate::body::read_json;
use crate::error::{ApiError, ApiResult};

fn key_view(key: &ApiKey) -> Value {
    json!({
        "id": key.id,
        "publicKey": key.public_key,
        "displaySecretKey": key.display_secret_key,
        "note": key.note,
        "createdAt": format_iso(key.created_at),
        "lastUsedAt": key.last_used_at.map(format_iso),
    })
}

/// `GET /projects/{project_id}/api-keys`: never shows secrets.
pub async fn api_keys_list(
    State(state): State<AppState>,
    user: UiUser,
    Path(project_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let project = ProjectId(project_id);
    require_project_role(&state, &user, &project, Role::Admin).await?;
    let keys = state.stores.admin.list_api_keys(&project).await?;
    Ok(Json(
        json!({"data": keys.iter().map(key_view).collect::<Vec<_>>()}),
    ))
}

/// `POST /projects/{project_id}/api-keys {note?}`: the only answer with the secret.
pub async fn api_keys_create(
    State(state): State<AppState>,
    user: UiUser,
    Path(project_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let project = ProjectId(project_id);
    require_project_role(&state, &user, &project, Role::Admin).await?;
    let body = read_json(&headers, body, state.config.max_body_bytes).await?;
    let note = body
        .get("note")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|note| !note.is_empty())
        .map(|note| note.chars().take(200).collect::<String>());
    let public_key = format!("pk-lf-{}", uuid::Uuid::new_v4());
    let secret_key = format!("sk-lf-{}", uuid::Uuid::new_v4());
    let key = ApiKey {
        id: uuid::Uuid::new_v4().to_string(),
        project_id: project,
        public_key,
        hashed_secret_key: hash_secret_key(&secret_key, &state.config.salt),
        display_secret_key: format!(
            "{}...{}",
            &secret_key[..6],
            &secret_key[secret_key.len() - 4..]
        ),
        note,
        created_at: now_micros(),
        last_used_at: None,
    };
    state.stores.admin.insert_api_key(key.clone()).await?;
    let mut view = key_view(&key);
    view["secretKey"] = json!(secret_key);
    Ok((StatusCode::CREATED, Json(view)))
}

/// `DELETE /projects/{project_id}/api-keys/{key_id}`: revokes a key of this project.
pub async fn api_keys_delete(
    State(state): State<AppState>,
    user: UiUser,
    Path((project_id, key_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let project = ProjectId(project_id);
    require_project_role(&state, &user, &project, Role::Admin).await?;
    let keys = state.stores.admin.list_api_keys(&project).await?;
    let key = keys
        .iter()
        .find(|key| key.id == key_id)
        .ok_or_else(|| ApiError::NotFound("API key not found".into()))?;
    state.stores.admin.delete_api_key(&key.id).await?;
    Ok(Json(json!({"revoked": key.id})))
}
