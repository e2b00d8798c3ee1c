//! One module per resource of the public API.

mod health;
mod ingestion;
mod legacy_writes;
mod media;
mod observations;
mod otel;
mod projects;
mod scores;
mod sessions;
mod traces;

use axum::Router;
use axum::routing::{get, post, put};

use crate::AppState;
use crate::error::ApiError;

pub fn public_api() -> Router<AppState> {
    Router::new()
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/projects", get(projects::projects_get))
        .route("/ingestion", post(ingestion::ingestion_batch))
        .route(
            "/traces",
            get(traces::trace_list)
                .post(legacy_writes::trace_create)
                .delete(traces::trace_delete_multiple),
        )
        .route(
            "/traces/{trace_id}",
            get(traces::trace_get).delete(traces::trace_delete),
        )
        .route(
            "/spans",
            post(legacy_writes::span_create).patch(legacy_writes::span_update),
        )
        .route(
            "/generations",
            post(legacy_writes::generation_create).patch(legacy_writes::generation_update),
        )
        .route("/events", post(legacy_writes::event_create))
        .route("/otel/v1/traces", post(otel::otel_traces))
        .route("/otel/v1/metrics", post(otel::otel_metrics))
        .route("/observations", get(observations::observations_get_many))
        .route(
            "/observations/{observation_id}",
            get(observations::observations_get),
        )
        .route(
            "/v2/observations",
            get(observations::observations_v2_get_many),
        )
        .route("/sessions", get(sessions::sessions_list))
        .route("/sessions/{session_id}", get(sessions::sessions_get))
        .route(
            "/scores",
            get(scores::score_get_v1).post(scores::score_create),
        )
        .route(
            "/scores/{score_id}",
            get(scores::score_get_by_id_v1).delete(scores::score_delete),
        )
        .route("/v2/scores", get(scores::score_v2_get))
        .route("/v2/scores/{score_id}", get(scores::score_v2_get_by_id))
        .route("/v3/scores", get(scores::score_v3_get))
        .route("/media", post(media::media_create))
        .route(
            "/media/{media_id}",
            get(media::media_get).patch(media::media_patch),
        )
        // Authorised by the token in the URL, not by an API key.
        .route("/media/{media_id}/upload", put(media::media_upload))
        .route("/media/{media_id}/content", get(media::media_content))
        .method_not_allowed_fallback(method_not_allowed)
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

pub async fn not_found() -> ApiError {
    ApiError::NotFound("Route not found".into())
}
