//! The HTTP face of glassbox: Langfuse's public API (`/api/public/*`) on axum, and the
//! OTLP/gRPC trace receiver (`grpc.rs`, tonic) that shares its auth and ingest path.
//!
//! Handlers stay thin: extract and check the request, call a store (or the pure ingest
//! crate), and map the result to Langfuse's wire JSON. Only this crate knows axum,
//! status codes and wire shapes.

mod admission;
mod auth;
mod body;
mod error;
mod grpc;
mod json_fields;
mod metrics_wire;
mod models_wire;
mod otlp_ingest;
mod params;
mod routes;
mod wire;
mod wire_annotations;
mod wire_datasets;

use std::sync::Arc;

use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowHeaders, AllowMethods, AllowOrigin, CorsLayer};

use glassbox_store::Stores;

pub use auth::hash_secret_key;
pub use error::ApiError;
pub use grpc::{OtlpTraceService, otlp_trace_service, serve_otlp_grpc};

/// Settings the HTTP layer needs.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Salt of the API key hash (`SALT`, as in Langfuse).
    pub salt: String,
    /// Version reported by `/api/public/health`.
    pub version: String,
    /// Largest accepted JSON body of the ingestion routes, after decompression.
    pub max_ingestion_body_bytes: usize,
    /// Largest accepted OTLP body, after decompression.
    pub max_otlp_body_bytes: usize,
    /// Largest accepted JSON body of the other routes.
    pub max_body_bytes: usize,
    /// Largest media upload (`contentLength` of `POST /api/public/media`).
    pub max_media_bytes: u64,
    /// Request bytes the ingestion routes may hold in flight (decoding, waiting for the
    /// writer) before new requests get 503 + `Retry-After` (see `admission.rs`).
    pub ingest_budget_bytes: usize,
    /// Base URL clients reach glassbox at (`https://glassbox.example.com`), used in media
    /// upload and download URLs. `None`: `http://` plus the request's `Host` header.
    pub public_url: Option<String>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            salt: String::new(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            max_ingestion_body_bytes: 4_500_000,
            max_otlp_body_bytes: 64 * 1024 * 1024,
            max_body_bytes: 1_000_000,
            // Langfuse allows 1 GB, but its bytes go straight to S3. Glassbox receives and
            // hashes them itself and keeps them on the local disk beside the database, so
            // the default is smaller: one client cannot fill the disk or hold a connection
            // for minutes by accident. Raise it for large audio/video.
            max_media_bytes: 100 * 1024 * 1024,
            // Decoded, a request takes about ten times its wire size (an OTLP export of
            // 0.7 MB held ~10 MB of events in an overload run), so 8 MiB on the wire keeps
            // requests in flight near 100 MB: inside the 300 MB memory target. A request
            // larger than the budget is charged the whole budget and admitted alone.
            ingest_budget_bytes: 8 * 1024 * 1024,
            public_url: None,
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub stores: Stores,
    pub config: Arc<HttpConfig>,
}

/// The whole application router. A plain function so that tests can drive it with
/// `tower::ServiceExt::oneshot`.
pub fn router(state: AppState) -> Router {
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::mirror_request())
        .allow_methods(AllowMethods::mirror_request())
        .allow_headers(AllowHeaders::mirror_request());
    let admission = Arc::new(admission::IngestAdmission::new(
        state.config.ingest_budget_bytes,
    ));
    Router::new()
        .nest("/api/public", routes::public_api(admission))
        .nest("/api/ui/v1", routes::ui_api())
        .fallback(routes::ui::assets::serve)
        .layer(cors)
        .layer(CatchPanicLayer::custom(error::panic_response))
        .with_state(state)
}
