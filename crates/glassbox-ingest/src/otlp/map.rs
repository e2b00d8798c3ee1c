//! Span → observation/trace mapping. (Being written.)

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

use glassbox_model::Micros;
use glassbox_model::ingest::IngestEvent;

/// A span that could not be converted (it is reported in `partial_success`).
#[derive(Debug, Clone, PartialEq)]
pub struct RejectedSpan {
    pub span_id: String,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct ConvertedExport {
    pub events: Vec<IngestEvent>,
    pub rejected: Vec<RejectedSpan>,
    pub span_count: usize,
}

/// Maps every span of an export to observation events (one per span, event id derived
/// from the span id so that a re-sent span replaces itself) and trace events.
pub fn convert_export(_request: &ExportTraceServiceRequest, _received_at: Micros) -> ConvertedExport {
    ConvertedExport::default()
}
