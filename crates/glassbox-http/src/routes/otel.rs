//! `POST /api/public/otel/v1/traces`: OTLP/HTTP with protobuf or JSON bodies (gzip
//! optional), as Langfuse's SDKs and any OpenTelemetry exporter send them. The answer
//! follows the OTLP/HTTP spec: an `ExportTraceServiceResponse` in the request's encoding,
//! with `partial_success` when spans were rejected.

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

use glassbox_ingest::otlp::{convert_export, decode_json, decode_protobuf};
use glassbox_model::time::now_micros;

use crate::AppState;
use crate::auth::ProjectAuth;
use crate::body::read_bytes;
use crate::error::{ApiError, ApiResult};

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
    // Decoding and mapping are CPU work: keep them off the reactor.
    let converted = tokio::task::spawn_blocking(move || {
        let request = match encoding {
            Encoding::Protobuf => decode_protobuf(&bytes),
            Encoding::Json => decode_json(&bytes),
        }
        .map_err(|error| ApiError::InvalidRequest(error.0))?;
        Ok::<_, ApiError>(convert_export(&request, now_micros()))
    })
    .await
    .map_err(|error| ApiError::Internal(error.to_string()))??;
    if converted.span_count > 0 && converted.rejected.len() == converted.span_count {
        let first = &converted.rejected[0];
        return Err(ApiError::InvalidRequest(format!(
            "Invalid OTLP trace export: {} of {} span(s) cannot be processed (span {}: {})",
            converted.rejected.len(),
            converted.span_count,
            first.span_id,
            first.reason
        )));
    }
    let outcomes = state
        .stores
        .ingest
        .ingest(&auth.project_id, converted.events)
        .await?;
    let failed = outcomes.iter().filter(|outcome| outcome.is_err()).count();
    let rejected = converted.rejected.len();
    let message = converted
        .rejected
        .first()
        .map(|span| format!("span {}: {}", span.span_id, span.reason))
        .or_else(|| outcomes.iter().find_map(|outcome| outcome.clone().err()))
        .unwrap_or_default();
    let partial = (rejected + failed > 0).then(|| ExportTracePartialSuccess {
        rejected_spans: (rejected + failed) as i64,
        error_message: message,
    });
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
