//! `POST /api/public/otel/v1/traces`: OTLP/HTTP with protobuf or JSON bodies (gzip
//! optional), as Langfuse's SDKs and any OpenTelemetry exporter send them. The answer
//! follows the OTLP/HTTP spec: an `ExportTraceServiceResponse` in the request's encoding,
//! with `partial_success` when spans were rejected. Mapping and storing are
//! `otlp_ingest::ingest_export`, shared with the OTLP/gRPC receiver.

use axum::body::Body;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use prost::Message;
use serde_json::json;

use glassbox_ingest::otlp::{decode_json, decode_protobuf};

use crate::AppState;
use crate::auth::ProjectAuth;
use crate::body::read_bytes;
use crate::error::{ApiError, ApiResult};
use crate::otlp_ingest::ingest_export;

#[derive(Clone, Copy, PartialEq)]
enum Encoding {
    Protobuf,
    Json,
}

fn request_encoding(headers: &HeaderMap) -> ApiResult<Encoding> {
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if content_type.contains("application/x-protobuf")
        || content_type.contains("application/protobuf")
    {
        Ok(Encoding::Protobuf)
    } else if content_type.contains("application/json") {
        Ok(Encoding::Json)
    } else {
        Err(ApiError::InvalidRequest(
            "Invalid content type: use application/x-protobuf or application/json".into(),
        ))
    }
}

fn check_ingestion_version(headers: &HeaderMap) -> ApiResult<()> {
    if let Some(value) = headers.get("x-langfuse-ingestion-version") {
        let version = value
            .to_str()
            .ok()
            .and_then(|text| text.trim().parse::<u32>().ok());
        if !version.is_some_and(|version| version <= 4) {
            return Err(ApiError::InvalidRequest(
                "x-langfuse-ingestion-version must be a number up to 4".into(),
            ));
        }
    }
    Ok(())
}

pub async fn otel_traces(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let encoding = request_encoding(&headers)?;
    check_ingestion_version(&headers)?;
    let bytes = read_bytes(&headers, body, state.config.max_otlp_body_bytes).await?;
    // Decoding is CPU work: keep it off the reactor.
    let request = tokio::task::spawn_blocking(move || match encoding {
        Encoding::Protobuf => decode_protobuf(&bytes),
        Encoding::Json => decode_json(&bytes),
    })
    .await
    .map_err(|error| ApiError::Internal(error.to_string()))?
    .map_err(|error| ApiError::InvalidRequest(error.0))?;
    let partial = ingest_export(&state.stores, &auth.project_id, request).await?;
    Ok(export_response(encoding, partial))
}

fn export_response(encoding: Encoding, partial: Option<ExportTracePartialSuccess>) -> Response {
    match encoding {
        Encoding::Protobuf => {
            let body = ExportTraceServiceResponse {
                partial_success: partial,
            }
            .encode_to_vec();
            let mut response = (StatusCode::OK, body).into_response();
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-protobuf"),
            );
            response
        }
        Encoding::Json => {
            let body = match partial {
                Some(partial) => {
                    json!({"partialSuccess": {"rejectedSpans": partial.rejected_spans, "errorMessage": partial.error_message}})
                }
                None => json!({}),
            };
            (StatusCode::OK, axum::Json(body)).into_response()
        }
    }
}

/// `POST /api/public/otel/v1/metrics`: accepted and discarded, as Langfuse does.
pub async fn otel_metrics(ProjectAuth(_auth): ProjectAuth) -> axum::Json<serde_json::Value> {
    axum::Json(json!({"message": "OK"}))
}
