//! In-process tests of the public API: the axum router over a temporary SQLite store,
//! driven with `tower::ServiceExt::oneshot`. One binary, one module per area.

mod admission;
mod annotation_queues;
mod auth;
mod bad_input;
mod comments;
mod datasets;
mod evaluation_shapes;
mod fixtures_replay;
mod grpc;
mod ingestion;
mod legacy_writes;
mod media;
mod metrics;
mod models;
mod observations;
mod openapi_shapes;
mod otlp;
mod prompts;
mod score_config_api;
mod score_configs;
mod score_sources_filters;
mod scores;
mod sessions;
mod support;
mod traces;
mod ui_auth;
