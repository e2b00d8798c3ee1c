//! The one OTLP trace ingest path, shared by OTLP/HTTP (`routes/otel.rs`) and OTLP/gRPC
//! (`grpc.rs`): map the spans of a decoded export to ingest events, store them in one
//! durable commit, and report the spans that could not be stored as a partial success.

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest,
};

use glassbox_ingest::otlp::{convert_export, experiment_items};
use glassbox_model::ProjectId;
use glassbox_model::time::now_micros;
use glassbox_store::Stores;

use crate::error::{ApiError, ApiResult};

/// Stores the spans of `request` in `project`.
///
/// - `Ok(None)`: every span stored (or the export held none).
/// - `Ok(Some(partial))`: some spans were rejected (invalid) or failed in the store; the
///   others are stored. `rejected_spans` counts both; `error_message` names the first.
/// - `Err(InvalidRequest)`: every span of a non-empty export is invalid; nothing stored.
/// - `Err(Unavailable)`: the store is overloaded or stopping; retryable.
///
/// When this returns `Ok`, the stored spans are durable and readable.
pub(crate) async fn ingest_export(
    stores: &Stores,
    project: &ProjectId,
    request: ExportTraceServiceRequest,
) -> ApiResult<Option<ExportTracePartialSuccess>> {
    // Mapping is CPU work (attribute parsing, JSON building): keep it off the reactor.
    let (converted, experiment_records) = tokio::task::spawn_blocking(move || {
        (
            convert_export(&request, now_micros()),
            experiment_items(&request),
        )
    })
    .await
    .map_err(|error| ApiError::Internal(error.to_string()))?;
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
    let outcomes = stores.ingest.ingest(project, converted.events).await?;
    // Dataset runs and run items from `langfuse.experiment.*` attributes (Python SDK 5
    // makes no dataset-run calls). Idempotent, so an export retried after a failure here
    // changes nothing that is already stored.
    stores
        .dataset_runs
        .record_experiment_items(project, experiment_records)
        .await?;
    let failed = outcomes.iter().filter(|outcome| outcome.is_err()).count();
    let rejected = converted.rejected.len();
    let message = converted
        .rejected
        .first()
        .map(|span| format!("span {}: {}", span.span_id, span.reason))
        .or_else(|| outcomes.iter().find_map(|outcome| outcome.clone().err()))
        .unwrap_or_default();
    Ok((rejected + failed > 0).then(|| ExportTracePartialSuccess {
        rejected_spans: (rejected + failed) as i64,
        error_message: message,
    }))
}
