//! The legacy single-object write endpoints. Each becomes one ingestion event and takes
//! the same validation, merge and durability path as the batch API.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{Map, Value, json};

use glassbox_ingest::validate_batch;
use glassbox_model::time::{format_iso, now_micros};

use crate::AppState;
use crate::auth::ProjectAuth;
use crate::body::read_json;
use crate::error::{ApiError, ApiResult};

/// Validates and stores one event; returns the entity id.
pub(crate) async fn ingest_single(
    state: &AppState,
    auth: &crate::auth::ApiAuth,
    event_type: &str,
    body: Map<String, Value>,
) -> ApiResult<String> {
    let entity_id = body
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let envelope = json!({"batch": [{
        "id": uuid::Uuid::new_v4().to_string(),
        "type": event_type,
        "timestamp": format_iso(now_micros()),
        "body": body,
    }]});
    let mut validated = validate_batch(&envelope, auth.access)
        .map_err(|error| ApiError::InvalidRequest(error.0))?;
    if let Some(error) = validated.errors.pop() {
        return Err(match error.status {
            401 => ApiError::Forbidden(error.error),
            _ => ApiError::InvalidRequest(format!("{}: {}", error.message, error.error)),
        });
    }
    let outcomes = state
        .stores
        .ingest
        .ingest(&auth.project_id, validated.events)
        .await?;
    if let Some(Err(reason)) = outcomes.into_iter().next() {
        return Err(ApiError::InvalidRequest(format!(
            "Invalid request data: {reason}"
        )));
    }
    Ok(entity_id)
}

async fn object_body(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> ApiResult<Map<String, Value>> {
    match read_json(headers, body, state.config.max_body_bytes).await? {
        Value::Object(object) => Ok(object),
        _ => Err(ApiError::InvalidRequest(
            "Invalid request data: the body must be a JSON object".into(),
        )),
    }
}

fn ensure_id(body: &mut Map<String, Value>, id_key: &str) -> ApiResult<()> {
    if let Some(id) = body.remove(id_key) {
        body.insert("id".into(), id);
    }
    let missing = !body
        .get("id")
        .is_some_and(|id| id.as_str().is_some_and(|id| !id.is_empty()));
    if missing {
        if id_key == "id" {
            body.insert("id".into(), json!(uuid::Uuid::new_v4().to_string()));
        } else {
            return Err(ApiError::InvalidRequest(format!(
                "Invalid request data: {id_key} is required"
            )));
        }
    }
    Ok(())
}

fn rename(body: &mut Map<String, Value>, from: &str, to: &str) {
    if let Some(value) = body.remove(from) {
        body.entry(to.to_owned()).or_insert(value);
    }
}

async fn write(
    auth: ProjectAuth,
    state: AppState,
    headers: HeaderMap,
    body: Body,
    event_type: &str,
    id_key: &str,
    observation_type: Option<&str>,
) -> ApiResult<Json<Value>> {
    let mut object = object_body(&state, &headers, body).await?;
    ensure_id(&mut object, id_key)?;
    if let Some(observation_type) = observation_type {
        object.insert("type".into(), json!(observation_type));
    }
    if observation_type == Some("GENERATION") {
        rename(&mut object, "prompt", "input");
        rename(&mut object, "completion", "output");
    }
    let id = ingest_single(&state, &auth.0, event_type, object).await?;
    Ok(Json(json!({ "id": id })))
}

pub async fn trace_create(
    auth: ProjectAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    write(auth, state, headers, body, "trace-create", "id", None).await
}

pub async fn span_create(
    auth: ProjectAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    write(
        auth,
        state,
        headers,
        body,
        "observation-create",
        "id",
        Some("SPAN"),
    )
    .await
}

pub async fn span_update(
    auth: ProjectAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    write(
        auth,
        state,
        headers,
        body,
        "observation-update",
        "spanId",
        Some("SPAN"),
    )
    .await
}

pub async fn generation_create(
    auth: ProjectAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    write(
        auth,
        state,
        headers,
        body,
        "observation-create",
        "id",
        Some("GENERATION"),
    )
    .await
}

pub async fn generation_update(
    auth: ProjectAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    write(
        auth,
        state,
        headers,
        body,
        "observation-update",
        "generationId",
        Some("GENERATION"),
    )
    .await
}

pub async fn event_create(
    auth: ProjectAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    write(
        auth,
        state,
        headers,
        body,
        "observation-create",
        "id",
        Some("EVENT"),
    )
    .await
}
