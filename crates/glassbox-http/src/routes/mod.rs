//! One module per resource of the public API.

mod annotation_queues;
mod comments;
mod dataset_compare;
mod dataset_items;
mod dataset_run_items;
mod datasets;
mod experiments;
mod health;
mod ingestion;
mod legacy_writes;
mod media;
mod metrics;
mod models;
mod observations;
mod otel;
mod projects;
mod prompts;
mod score_configs;
mod scores;
mod sessions;
mod traces;
pub mod ui;

use std::sync::Arc;

use axum::Router;
use axum::middleware;
use axum::routing::{get, post, put};

use crate::AppState;
use crate::admission::{self, IngestAdmission};
use crate::error::ApiError;

/// The routes that write tracing data, behind the in-flight byte budget of
/// `admission.rs` (it charges only their POST/PATCH requests).
fn ingestion_routes(admission: Arc<IngestAdmission>) -> Router<AppState> {
    Router::new()
        .route("/ingestion", post(ingestion::ingestion_batch))
        .route(
            "/traces",
            get(traces::trace_list)
                .post(legacy_writes::trace_create)
                .delete(traces::trace_delete_multiple),
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
        .route_layer(middleware::from_fn_with_state(admission, admission::admit))
}

pub fn public_api(admission: Arc<IngestAdmission>) -> Router<AppState> {
    Router::new()
        .route("/health", get(health::health))
        .route(
            "/models",
            get(models::models_list).post(models::models_create),
        )
        .route(
            "/models/{model_id}",
            get(models::models_get)
                .put(models::models_upsert)
                .delete(models::models_delete),
        )
        .route(
            "/models/{model_id}/recompute",
            get(models::models_recompute_get),
        )
        .route("/metrics", get(metrics::legacy_metrics_v1_metrics))
        .route("/metrics/daily", get(metrics::metrics_daily))
        .route("/v2/metrics", get(metrics::metrics_metrics))
        .route("/ready", get(health::ready))
        .route("/projects", get(projects::projects_get))
        .merge(ingestion_routes(admission))
        .route(
            "/traces/{trace_id}",
            get(traces::trace_get).delete(traces::trace_delete),
        )
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
        .route(
            "/score-configs",
            get(score_configs::score_configs_get).post(score_configs::score_configs_create),
        )
        .route(
            "/score-configs/{config_id}",
            get(score_configs::score_configs_get_by_id).patch(score_configs::score_configs_update),
        )
        .route(
            "/comments",
            get(comments::comments_get).post(comments::comments_create),
        )
        .route("/comments/{comment_id}", get(comments::comments_get_by_id))
        .route(
            "/annotation-queues",
            get(annotation_queues::annotation_queues_list_queues)
                .post(annotation_queues::annotation_queues_create_queue),
        )
        .route(
            "/annotation-queues/{queue_id}",
            get(annotation_queues::annotation_queues_get_queue),
        )
        .route(
            "/annotation-queues/{queue_id}/items",
            get(annotation_queues::annotation_queues_list_queue_items)
                .post(annotation_queues::annotation_queues_create_queue_item),
        )
        // glassbox: queue many objects, or every trace of a filter, in bounded memory.
        .route(
            "/annotation-queues/{queue_id}/items/bulk",
            post(annotation_queues::annotation_queues_bulk_create_queue_items),
        )
        // glassbox: lock the next free pending item for a user.
        .route(
            "/annotation-queues/{queue_id}/items/next",
            post(annotation_queues::annotation_queues_lock_next_queue_item),
        )
        .route(
            "/annotation-queues/{queue_id}/items/{item_id}",
            get(annotation_queues::annotation_queues_get_queue_item)
                .patch(annotation_queues::annotation_queues_update_queue_item)
                .delete(annotation_queues::annotation_queues_delete_queue_item),
        )
        // glassbox: the soft lock an annotator holds while an item is open.
        .route(
            "/annotation-queues/{queue_id}/items/{item_id}/lock",
            post(annotation_queues::annotation_queues_lock_queue_item)
                .delete(annotation_queues::annotation_queues_unlock_queue_item),
        )
        .route(
            "/annotation-queues/{queue_id}/assignments",
            post(annotation_queues::annotation_queues_create_queue_assignment)
                .delete(annotation_queues::annotation_queues_delete_queue_assignment),
        )
        .route(
            "/v2/datasets",
            get(datasets::datasets_list).post(datasets::datasets_create),
        )
        // Names may contain `/`: clients encode it (`%2F`), a raw one is matched too.
        .route("/v2/datasets/{*dataset_name}", get(datasets::datasets_get))
        .route(
            "/datasets",
            get(datasets::datasets_list_v1).post(datasets::datasets_create_v1),
        )
        .route("/datasets/{dataset_name}", get(datasets::datasets_get_v1))
        .route(
            "/datasets/{dataset_name}/runs",
            get(datasets::datasets_get_runs),
        )
        .route(
            "/datasets/{dataset_name}/runs/{run_name}",
            get(datasets::datasets_get_run).delete(datasets::datasets_delete_run),
        )
        .route(
            "/dataset-items",
            get(dataset_items::dataset_items_list).post(dataset_items::dataset_items_create),
        )
        .route(
            "/dataset-items/{id}",
            get(dataset_items::dataset_items_get).delete(dataset_items::dataset_items_delete),
        )
        .route(
            "/dataset-run-items",
            get(dataset_run_items::dataset_run_items_list)
                .post(dataset_run_items::dataset_run_items_create),
        )
        .route("/experiments", get(experiments::experiments_list))
        .route(
            "/experiment-items",
            get(experiments::experiments_list_items),
        )
        .route("/media", post(media::media_create))
        .route(
            "/media/{media_id}",
            get(media::media_get).patch(media::media_patch),
        )
        // Authorised by the token in the URL, not by an API key.
        .route("/media/{media_id}/upload", put(media::media_upload))
        .route("/media/{media_id}/content", get(media::media_content))
        .merge(prompts::public_routes())
        .method_not_allowed_fallback(method_not_allowed)
}

/// glassbox's own view-shaped reads for the web UI (`docs/api.md`), same API keys.
pub fn ui_api() -> Router<AppState> {
    Router::new()
        .route(
            "/datasets/{dataset_id}/compare",
            get(dataset_compare::datasets_compare_runs),
        )
        .merge(ui::router())
        .merge(prompts::ui_routes())
        .method_not_allowed_fallback(method_not_allowed)
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

pub async fn not_found() -> ApiError {
    ApiError::NotFound("Route not found".into())
}
