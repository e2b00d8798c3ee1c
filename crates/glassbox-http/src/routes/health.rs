//! `GET /api/public/health` and `/ready`: no auth, for probes.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::AppState;
use crate::params::QueryParams;

pub async fn health(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> (StatusCode, Json<Value>) {
    let params = QueryParams::parse(query.as_deref());
    let version = state.config.version.clone();
    if params.string("failIfDatabaseUnavailable").as_deref() == Some("true")
        && state.stores.admin.is_empty().await.is_err()
    {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "Database not available", "version": version})),
        );
    }
    (
        StatusCode::OK,
        Json(json!({"status": "OK", "version": version})),
    )
}

pub async fn ready(State(state): State<AppState>) -> Json<Value> {
    Json(json!({"status": "OK", "version": state.config.version}))
}
