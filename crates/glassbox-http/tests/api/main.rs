//! In-process tests of the public API: the axum router over a temporary SQLite store,
//! driven with `tower::ServiceExt::oneshot`. One binary, one module per area.

mod auth;
mod bad_input;
mod fixtures_replay;
mod grpc;
mod ingestion;
mod legacy_writes;
mod media;
mod observations;
mod openapi_shapes;
mod otlp;
mod score_configs;
mod scores;
mod sessions;
mod support;
mod traces;
