//! Decoding OTLP trace export requests. Both decoders are bounded by the caller's body
//! limit and never panic on hostile input.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct OtlpDecodeError(pub String);

/// Decodes a binary protobuf `ExportTraceServiceRequest`.
pub fn decode_protobuf(bytes: &[u8]) -> Result<ExportTraceServiceRequest, OtlpDecodeError> {
    ExportTraceServiceRequest::decode(bytes)
        .map_err(|error| OtlpDecodeError(format!("invalid OTLP protobuf: {error}")))
}

/// Decodes OTLP/JSON: hex ids, int64 as strings or numbers. Span kinds given by name
/// (`"SPAN_KIND_SERVER"`) and status codes by name are accepted too.
pub fn decode_json(bytes: &[u8]) -> Result<ExportTraceServiceRequest, OtlpDecodeError> {
    let mut value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|error| OtlpDecodeError(format!("invalid OTLP JSON: {error}")))?;
    if !value.is_object() {
        return Err(OtlpDecodeError(
            "invalid OTLP JSON: expected an ExportTraceServiceRequest object".into(),
        ));
    }
    normalize_enum_names(&mut value);
    serde_json::from_value(value)
        .map_err(|error| OtlpDecodeError(format!("invalid OTLP JSON: {error}")))
}

/// Replaces enum names that some exporters send (`"kind": "SPAN_KIND_CLIENT"`,
/// `"code": "STATUS_CODE_ERROR"`) by their numbers, which the generated serde expects.
fn normalize_enum_names(value: &mut serde_json::Value) {
    let Some(resource_spans) = value
        .get_mut("resourceSpans")
        .and_then(|v| v.as_array_mut())
    else {
        return;
    };
    for resource_span in resource_spans {
        let Some(scope_spans) = resource_span
            .get_mut("scopeSpans")
            .and_then(|v| v.as_array_mut())
        else {
            continue;
        };
        for scope_span in scope_spans {
            let Some(spans) = scope_span.get_mut("spans").and_then(|v| v.as_array_mut()) else {
                continue;
            };
            for span in spans {
                if let Some(kind) = span.get("kind").and_then(|k| k.as_str()) {
                    let number = match kind {
                        "SPAN_KIND_INTERNAL" => 1,
                        "SPAN_KIND_SERVER" => 2,
                        "SPAN_KIND_CLIENT" => 3,
                        "SPAN_KIND_PRODUCER" => 4,
                        "SPAN_KIND_CONSUMER" => 5,
                        _ => 0,
                    };
                    span["kind"] = serde_json::json!(number);
                }
                if let Some(code) = span
                    .get("status")
                    .and_then(|s| s.get("code"))
                    .and_then(|c| c.as_str())
                {
                    let number = match code {
                        "STATUS_CODE_OK" => 1,
                        "STATUS_CODE_ERROR" => 2,
                        _ => 0,
                    };
                    span["status"]["code"] = serde_json::json!(number);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_bytes_are_errors_not_panics() {
        for bytes in [
            &b"\xff\xff\xff\xff"[..],
            b"\x0a\xff\xff\xff\xff\x0f",
            b"random garbage bytes",
            b"",
        ] {
            let _ = decode_protobuf(bytes);
        }
        assert!(decode_protobuf(b"\x0a\xff\xff\xff\xff\x0f").is_err());
        assert!(decode_json(b"{").is_err());
        assert!(decode_json(b"[]").is_err());
    }

    #[test]
    fn json_accepts_string_and_number_int64_and_enum_names() {
        let body = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331","name":"x","kind":"SPAN_KIND_CLIENT","startTimeUnixNano":"1700000000000000000","endTimeUnixNano":1700000001000000000,"status":{"code":"STATUS_CODE_ERROR"}}]}]}]}"#;
        let request = decode_json(body).unwrap();
        let span = &request.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(span.kind, 3);
        assert_eq!(span.end_time_unix_nano, 1_700_000_001_000_000_000);
        assert_eq!(
            hex::encode(&span.trace_id),
            "0af7651916cd43dd8448eb211c80319c"
        );
    }
}
