//! `POST /api/public/ingestion`: the batch write API (207 multi-status).

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use glassbox_ingest::{EventError, validate_batch};

use crate::AppState;
use crate::auth::ApiAuth;
use crate::body::{parse_json, read_bytes};
use crate::error::{ApiError, ApiResult};

pub async fn ingestion_batch(
    auth: ApiAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let bytes = read_bytes(&headers, body, state.config.max_ingestion_body_bytes).await?;
    let access = auth.access;
    // Parsing and validating up to 4.5 MB of JSON is CPU work: keep it off the reactor.
    let validated = tokio::task::spawn_blocking(move || {
        let body = parse_json(&bytes)?;
        validate_batch(&body, access)
            .map_err(|error| ApiError::InvalidRequest(format!("Invalid request data: {}", error.0)))
    })
    .await
    .map_err(|error| ApiError::Internal(error.to_string()))??;
    let event_ids: Vec<String> = validated
        .events
        .iter()
        .map(|event| event.event_id.clone())
        .collect();
    let outcomes = state
        .stores
        .ingest
        .ingest(&auth.project_id, validated.events)
        .await?;
    let mut successes: Vec<Value> = Vec::new();
    let mut errors: Vec<EventError> = validated.errors;
    for (event_id, outcome) in event_ids.into_iter().zip(outcomes) {
        match outcome {
            Ok(()) => successes.push(json!({"id": event_id, "status": 201})),
            Err(reason) => errors.push(EventError {
                id: event_id,
                status: 400,
                message: "Invalid request data".into(),
                error: reason,
            }),
        }
    }
    successes.extend(
        validated
            .accepted_without_effect
            .into_iter()
            .map(|id| json!({"id": id, "status": 201})),
    );
    let errors: Vec<Value> = errors
        .into_iter()
        .map(|error| json!({"id": error.id, "status": error.status, "message": error.message, "error": error.error}))
        .collect();
    Ok((
        StatusCode::MULTI_STATUS,
        Json(json!({"successes": successes, "errors": errors})),
    ))
}
