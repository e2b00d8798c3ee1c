//! Tests of the OTLP mapping: one module per group of rules, plus the SDK wire fixtures.

mod fixtures;
mod fixtures_sdks;
mod io_rules;
mod metadata_trace;
mod type_level;
mod usage_model;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use serde_json::{Map, Value, json};

use glassbox_model::ingest::{EntityKind, IngestEvent};

use super::{ConvertedExport, convert_export, decode_json};

pub(super) const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
pub(super) const SPAN_ID: &str = "b7ad6b7169203331";
pub(super) const PARENT_ID: &str = "00f067aa0ba902b7";
pub(super) const START_NANOS: u64 = 1_700_000_000_123_456_789;
pub(super) const RECEIVED_AT: i64 = 1_800_000_000_000_000;

/// A plain JSON value as an OTLP/JSON `AnyValue`.
pub(super) fn any_value(value: &Value) -> Value {
    match value {
        Value::String(text) => json!({"stringValue": text}),
        Value::Bool(flag) => json!({"boolValue": flag}),
        Value::Number(number) if number.is_i64() || number.is_u64() => {
            json!({"intValue": number.to_string()})
        }
        Value::Number(number) => json!({"doubleValue": number.as_f64()}),
        Value::Array(items) => {
            json!({"arrayValue": {"values": items.iter().map(any_value).collect::<Vec<_>>()}})
        }
        Value::Object(object) => json!({"kvlistValue": {"values": key_values(object)}}),
        Value::Null => json!({}),
    }
}

pub(super) fn key_values(object: &Map<String, Value>) -> Vec<Value> {
    object
        .iter()
        .map(|(key, value)| json!({"key": key, "value": any_value(value)}))
        .collect()
}

/// Builds one-span exports in OTLP/JSON and converts them.
#[derive(Clone)]
pub(super) struct SpanBuilder {
    span: Map<String, Value>,
    attributes: Map<String, Value>,
    events: Vec<Value>,
    scope_name: String,
    scope_version: String,
    resource: Map<String, Value>,
}

impl SpanBuilder {
    /// A Langfuse Python SDK 5 span without a parent.
    pub(super) fn new(name: &str) -> Self {
        let span = json!({
            "traceId": TRACE_ID,
            "spanId": SPAN_ID,
            "name": name,
            "kind": 1,
            "startTimeUnixNano": START_NANOS.to_string(),
            "endTimeUnixNano": (START_NANOS + 1_000_000_000).to_string(),
        });
        SpanBuilder {
            span: span.as_object().unwrap().clone(),
            attributes: Map::new(),
            events: Vec::new(),
            scope_name: "langfuse-sdk".to_owned(),
            scope_version: "5.0.4".to_owned(),
            resource: json!({"telemetry.sdk.language": "python", "service.name": "svc"})
                .as_object()
                .unwrap()
                .clone(),
        }
    }

    /// A span of a third-party instrumentation (`scope`), no resource attributes.
    pub(super) fn third_party(name: &str, scope: &str) -> Self {
        let mut builder = SpanBuilder::new(name).scope(scope, "1.0.0");
        builder.resource = Map::new();
        builder
    }

    pub(super) fn attr(mut self, key: &str, value: Value) -> Self {
        self.attributes.insert(key.to_owned(), value);
        self
    }

    pub(super) fn attrs(mut self, values: Value) -> Self {
        self.attributes.extend(values.as_object().unwrap().clone());
        self
    }

    pub(super) fn set(mut self, key: &str, value: Value) -> Self {
        self.span.insert(key.to_owned(), value);
        self
    }

    pub(super) fn parent(self, parent: &str) -> Self {
        self.set("parentSpanId", json!(parent))
    }

    pub(super) fn scope(mut self, name: &str, version: &str) -> Self {
        self.scope_name = name.to_owned();
        self.scope_version = version.to_owned();
        self
    }

    pub(super) fn resource(mut self, values: Value) -> Self {
        self.resource.extend(values.as_object().unwrap().clone());
        self
    }

    pub(super) fn event(mut self, name: &str, attributes: Value) -> Self {
        self.events.push(json!({
            "name": name,
            "timeUnixNano": START_NANOS.to_string(),
            "attributes": key_values(attributes.as_object().unwrap()),
        }));
        self
    }

    pub(super) fn status(self, code: i64, message: &str) -> Self {
        self.set("status", json!({"code": code, "message": message}))
    }

    pub(super) fn span_json(&self) -> Value {
        let mut span = self.span.clone();
        span.insert(
            "attributes".into(),
            Value::Array(key_values(&self.attributes)),
        );
        span.insert("events".into(), Value::Array(self.events.clone()));
        Value::Object(span)
    }

    pub(super) fn request_with(spans: &[&SpanBuilder]) -> ExportTraceServiceRequest {
        let first = spans[0];
        let body = json!({"resourceSpans": [{
            "resource": {"attributes": key_values(&first.resource)},
            "scopeSpans": [{
                "scope": {"name": first.scope_name, "version": first.scope_version},
                "spans": spans.iter().map(|span| span.span_json()).collect::<Vec<_>>(),
            }],
        }]});
        decode_json(body.to_string().as_bytes()).expect("test export decodes")
    }

    pub(super) fn convert(&self) -> ConvertedExport {
        convert_export(&SpanBuilder::request_with(&[self]), RECEIVED_AT)
    }

    /// The observation body of the single span.
    pub(super) fn observation(&self) -> Map<String, Value> {
        let converted = self.convert();
        assert!(converted.rejected.is_empty(), "{:?}", converted.rejected);
        observation_event(&converted.events).body.clone()
    }

    /// The trace body of the single span.
    pub(super) fn trace(&self) -> Map<String, Value> {
        trace_event(&self.convert().events).body.clone()
    }
}

pub(super) fn observation_event(events: &[IngestEvent]) -> &IngestEvent {
    events
        .iter()
        .find(|event| event.kind == EntityKind::Observation)
        .expect("an observation event")
}

pub(super) fn trace_event(events: &[IngestEvent]) -> &IngestEvent {
    events
        .iter()
        .find(|event| event.kind == EntityKind::Trace)
        .expect("a trace event")
}

/// The observation type of a span with these attributes (a third-party span).
pub(super) fn type_of(builder: SpanBuilder) -> String {
    builder.observation()["type"].as_str().unwrap().to_owned()
}
