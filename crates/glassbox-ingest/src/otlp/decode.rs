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

/// Some exporters send ids base64-encoded (protobuf's JSON mapping) instead of hex, which
/// the OTLP/JSON spec asks for. Converts such ids to hex; anything else is left for the
/// decoder (and the span checks) to reject.
fn base64_id_to_hex(span: &mut serde_json::Value, key: &str, byte_length: usize) {
    use base64::Engine;
    let Some(text) = span.get(key).and_then(|v| v.as_str()) else {
        return;
    };
    let is_hex = text.len() == byte_length * 2 && text.bytes().all(|b| b.is_ascii_hexdigit());
    if is_hex || text.is_empty() {
        return;
    }
    if let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(text) {
        if decoded.len() == byte_length {
            span[key] = serde_json::Value::String(hex::encode(decoded));
        }
    }
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
                for (key, bytes) in [("traceId", 16), ("spanId", 8), ("parentSpanId", 8)] {
                    base64_id_to_hex(span, key, bytes);
                }
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

    #[test]
    fn json_accepts_base64_ids() {
        let body = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"CvdlGRbNQ92ESOshHIAxnA==","spanId":"t61rcWkgMzE=","name":"x","startTimeUnixNano":"1"}]}]}]}"#;
        let request = decode_json(body).unwrap();
        let span = &request.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(
            hex::encode(&span.trace_id),
            "0af7651916cd43dd8448eb211c80319c"
        );
        assert_eq!(hex::encode(&span.span_id), "b7ad6b7169203331");
    }
}
