//! OTLP trace ingestion, the pure part: decode an `ExportTraceServiceRequest` (protobuf or
//! OTLP/JSON) and map every span to Langfuse observations and trace updates, following the
//! attribute mapping of Langfuse's OTLP endpoint (`langfuse.*`, `gen_ai.*`, OpenInference,
//! Vercel AI SDK `ai.*`, ...). The result is ordinary [`IngestEvent`]s, so OTLP data takes
//! the same merge and storage path as the batch API.
//!
//! [`IngestEvent`]: glassbox_model::ingest::IngestEvent

mod attributes;
mod decode;
mod experiment;
mod io;
mod map;
mod observation_type;
mod trace_attributes;
mod usage;

pub use decode::{OtlpDecodeError, decode_json, decode_protobuf};
pub use experiment::experiment_items;
pub use map::{ConvertedExport, RejectedSpan, convert_export};

#[cfg(test)]
mod tests;
