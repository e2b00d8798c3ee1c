//! Span → observation/trace mapping (ingestion spec §3.3–3.4). Every valid span becomes
//! one `observation-create` event and one `trace-create` event, with bodies in the
//! batch API's normalised form (see `crate::body`), so OTLP data takes the same merge
//! path as batch events:
//!
//! - the observation event id is `otel:{trace}:{span}`, so a re-sent span replaces itself;
//! - a root span (no parent, `langfuse.internal.as_root` or `langfuse.internal.is_app_root`)
//!   writes the full trace (name
//!   and input/output default to the observation's);
//! - a span with trace-level attributes updates the trace with those;
//! - any other span writes `{timestamp, environment}` so that the trace exists.
//!
//! Not mapped (yet): tool definitions and tool calls are not moved out of the metadata
//! into `tool_definitions`/`tool_calls`; media payloads are not uploaded; LiveKit debug
//! span names do not set the DEBUG level. Experiment attributes stay in the metadata too;
//! `experiment.rs` derives dataset runs and run items from them.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::Span;
use serde_json::{Map, Value};

use glassbox_model::Micros;
use glassbox_model::environment::normalize_environment;
use glassbox_model::ingest::{EntityKind, IngestEvent, otlp_observation_event_id};

use super::attributes::{Attributes, SpanView};
use super::io::observation_io;
use super::observation_type::{infer_type, is_generation_like, level_and_status, observation_name};
use super::trace_attributes::{observation_metadata, trace_attributes};
use super::usage::{
    completion_start, cost_details, model, model_parameters, prompt_link,
    skips_model_usage_and_cost, usage_details,
};

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
pub fn convert_export(request: &ExportTraceServiceRequest, received_at: Micros) -> ConvertedExport {
    let mut converted = ConvertedExport::default();
    for resource_spans in &request.resource_spans {
        let resource = resource_spans
            .resource
            .as_ref()
            .map(|resource| Attributes::from_key_values(&resource.attributes))
            .unwrap_or_default();
        for scope_spans in &resource_spans.scope_spans {
            let scope = scope_spans.scope.as_ref();
            let scope_name = scope.map_or("", |scope| scope.name.as_str());
            let scope_version = scope.map_or("", |scope| scope.version.as_str());
            let scope_attributes = scope
                .map(|scope| Attributes::from_key_values(&scope.attributes))
                .unwrap_or_default();
            for span in &scope_spans.spans {
                converted.span_count += 1;
                let view = SpanView::new(
                    span,
                    &resource,
                    scope_name,
                    scope_version,
                    &scope_attributes,
                );
                match convert_span(&view, received_at) {
                    Ok(events) => converted.events.extend(events),
                    Err(rejected) => converted.rejected.push(rejected),
                }
            }
        }
    }
    converted
}

/// A trace or span id as lowercase hex, if it has the right length and is not all zero.
fn valid_id(bytes: &[u8], length: usize) -> Option<String> {
    (bytes.len() == length && bytes.iter().any(|byte| *byte != 0)).then(|| hex::encode(bytes))
}

fn check_ids(span: &Span) -> Result<(String, String), RejectedSpan> {
    let reject = |reason: &str| RejectedSpan {
        span_id: hex::encode(&span.span_id),
        reason: reason.to_owned(),
    };
    let trace_id = valid_id(&span.trace_id, 16).ok_or_else(|| {
        reject(if span.trace_id.is_empty() {
            "missing trace id"
        } else {
            "invalid trace id: expected 16 bytes, not all zero"
        })
    })?;
    let span_id = valid_id(&span.span_id, 8).ok_or_else(|| {
        reject(if span.span_id.is_empty() {
            "missing span id"
        } else {
            "invalid span id: expected 8 bytes, not all zero"
        })
    })?;
    Ok((trace_id, span_id))
}

/// Start and end in microseconds (nanoseconds floored): a missing start takes the end,
/// a missing end the start, and both missing the time the export was received.
fn span_times(span: &Span, received_at: Micros) -> (Micros, Micros) {
    let micros = |nanos: u64| i64::try_from(nanos / 1_000).unwrap_or(i64::MAX);
    match (span.start_time_unix_nano, span.end_time_unix_nano) {
        (0, 0) => (received_at, received_at),
        (0, end) => (micros(end), micros(end)),
        (start, 0) => (micros(start), micros(start)),
        (start, end) => (micros(start), micros(end)),
    }
}

/// The parent observation id, kept even for spans flagged as roots (as Langfuse does).
fn parent_id(view: &SpanView<'_>) -> Option<String> {
    let parent = &view.span.parent_span_id;
    (!parent.is_empty() && parent.iter().any(|byte| *byte != 0)).then(|| hex::encode(parent))
}

/// The first of `keys`, looked up on the span and then on the resource for each key.
fn span_or_resource(view: &SpanView<'_>, keys: &[&str]) -> Option<String> {
    keys.iter()
        .find_map(|key| view.attr().text(key).or_else(|| view.resource.text(key)))
}

fn environment(view: &SpanView<'_>) -> String {
    let raw = span_or_resource(
        view,
        &[
            "langfuse.environment",
            "deployment.environment.name",
            "deployment.environment",
        ],
    );
    normalize_environment(raw.as_deref())
}

fn version(view: &SpanView<'_>) -> Option<String> {
    view.attr()
        .text("langfuse.version")
        .or_else(|| view.resource.text("service.version"))
}

fn release(view: &SpanView<'_>) -> Option<String> {
    view.attr()
        .text("langfuse.release")
        .or_else(|| view.resource.text("langfuse.release"))
}

fn put(body: &mut Map<String, Value>, key: &str, value: impl Into<Value>) {
    body.insert(key.to_owned(), value.into());
}

fn put_some<T: Into<Value>>(body: &mut Map<String, Value>, key: &str, value: Option<T>) {
    if let Some(value) = value {
        put(body, key, value);
    }
}

fn convert_span(
    view: &SpanView<'_>,
    received_at: Micros,
) -> Result<Vec<IngestEvent>, RejectedSpan> {
    let (trace_id, span_id) = check_ids(view.span)?;
    let (start, end) = span_times(view.span, received_at);
    let parent = parent_id(view);
    let observation_type = infer_type(view);
    let name = observation_name(view);
    let environment = environment(view);
    let (level, status_message) = level_and_status(view);
    let (input, output) = observation_io(view);
    let metadata = observation_metadata(view);

    let mut body = Map::new();
    put(&mut body, "id", span_id.clone());
    put(&mut body, "traceId", trace_id.clone());
    put_some(&mut body, "parentObservationId", parent.clone());
    put(&mut body, "type", observation_type);
    if !name.is_empty() {
        put(&mut body, "name", name.clone());
    }
    put(&mut body, "startTime", start);
    put(&mut body, "endTime", end);
    put_some(
        &mut body,
        "completionStartTime",
        completion_start(view, start),
    );
    put(&mut body, "environment", environment.clone());
    put(&mut body, "metadata", Value::Object(metadata.clone()));
    put(&mut body, "level", level);
    put_some(&mut body, "statusMessage", status_message);
    put_some(&mut body, "version", version(view));
    put_some(&mut body, "input", input.clone());
    put_some(&mut body, "output", output.clone());
    if !skips_model_usage_and_cost(view) {
        put_some(&mut body, "model", model(view));
        put_some(
            &mut body,
            "providedUsageDetails",
            usage_details(view).map(Value::Object),
        );
        put_some(
            &mut body,
            "providedCostDetails",
            cost_details(view).map(Value::Object),
        );
    }
    put_some(
        &mut body,
        "modelParameters",
        model_parameters(view).map(Value::Object),
    );
    if is_generation_like(observation_type)
        && let Some((prompt_name, prompt_version)) = prompt_link(view)
    {
        put(&mut body, "promptName", prompt_name);
        put(&mut body, "promptVersion", prompt_version);
    }
    if view.attr().flag("langfuse.internal.is_app_root") {
        put(&mut body, "isAppRoot", true);
    }
    let observation = IngestEvent {
        event_id: otlp_observation_event_id(&trace_id, &span_id),
        event_type: "observation-create".to_owned(),
        timestamp: start,
        kind: EntityKind::Observation,
        entity_id: span_id.clone(),
        body,
        // A span is exported once with its final state; a re-sent span replaces itself.
        snapshot: true,
    };

    let trace = trace_attributes(view);
    let mut trace_body = Map::new();
    put(&mut trace_body, "timestamp", start);
    put(&mut trace_body, "environment", environment);
    // A root writes the whole trace: a span without a parent, a span the SDK exported as
    // the root of a continued trace (`as_root`), or the app's logical root under a
    // framework span that was not exported (`is_app_root`).
    let is_root = parent.is_none()
        || view.attr().flag("langfuse.internal.as_root")
        || view.attr().flag("langfuse.internal.is_app_root");
    if is_root || trace.present {
        put_some(
            &mut trace_body,
            "name",
            trace
                .name
                .or_else(|| (is_root && !name.is_empty()).then_some(name)),
        );
        put_some(&mut trace_body, "userId", trace.user_id);
        put_some(&mut trace_body, "sessionId", trace.session_id);
        put_some(&mut trace_body, "release", release(view));
        put_some(&mut trace_body, "version", version(view));
        let mut trace_metadata = trace.metadata;
        if is_root {
            trace_metadata.extend(metadata);
        }
        if !trace_metadata.is_empty() {
            put(&mut trace_body, "metadata", Value::Object(trace_metadata));
        }
        put_some(&mut trace_body, "tags", trace.tags);
        put_some(&mut trace_body, "public", trace.public);
        let (fallback_input, fallback_output) = if is_root {
            (input, output)
        } else {
            (None, None)
        };
        put_some(&mut trace_body, "input", trace.input.or(fallback_input));
        put_some(&mut trace_body, "output", trace.output.or(fallback_output));
    }
    let trace_event = IngestEvent {
        event_id: format!("otel:{trace_id}:{span_id}:trace"),
        event_type: "trace-create".to_owned(),
        timestamp: start,
        kind: EntityKind::Trace,
        entity_id: trace_id,
        body: trace_body,
        snapshot: false,
    };
    Ok(vec![observation, trace_event])
}
