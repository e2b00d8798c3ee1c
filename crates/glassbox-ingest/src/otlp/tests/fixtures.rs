//! The SDK wire captures (`shared/fixtures/sdk-wire`): every OTLP export the official
//! SDKs sent, converted and checked field by field, and folded with the store's merge.

use serde_json::json;

use glassbox_model::Trace;
use glassbox_model::ingest::LoggedEvent;
use glassbox_model::merge::{fold_observation, fold_trace};
use glassbox_model::time::parse_iso_with_offset;

use super::*;
use crate::otlp::decode_protobuf;

const OTLP_PATH: &str = "/api/public/otel/v1/traces";
const FILES: [&str; 15] = [
    "python-a-observe-decorator",
    "python-b-observation-types",
    "python-c-scores",
    "python-d-prompts",
    "python-e-datasets-experiments",
    "python-f-langchain-langgraph",
    "python-g-openai",
    "python-h-auth-flush",
    "python-h-retry-503",
    "python-i-env-media-otel",
    "python-v3.15-otel-update-trace",
    "python-v4.18-otel",
    "js-v5-tracing-client",
    "js-v5-datasets-experiment",
    "js-v5-retry-503",
];

fn records(file: &str) -> Vec<Value> {
    let path = format!(
        "{}/../../testdata/sdk-wire/{file}.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"));
    text.lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|record| record["path"] == json!(OTLP_PATH))
        .collect()
}

/// Converts the `body.json` of every OTLP request of a fixture file.
fn convert_file(file: &str) -> Vec<(Value, ConvertedExport)> {
    records(file)
        .into_iter()
        .map(|record| {
            let bytes = serde_json::to_vec(&record["body"]["json"]).unwrap();
            let request = decode_json(&bytes).unwrap_or_else(|error| panic!("{file}: {error}"));
            let converted = convert_export(&request, RECEIVED_AT);
            (record, converted)
        })
        .collect()
}

/// All events of a file (each request once: retries would only repeat them).
fn events(file: &str) -> Vec<IngestEvent> {
    convert_file(file)
        .into_iter()
        .flat_map(|(_, converted)| converted.events)
        .collect()
}

/// Observation bodies by observation (span) id, and in export order by name.
pub(super) struct Mapped {
    events: Vec<IngestEvent>,
}

impl Mapped {
    pub(super) fn load(file: &str) -> Self {
        Mapped {
            events: events(file),
        }
    }

    pub(super) fn observations(&self) -> impl Iterator<Item = &Map<String, Value>> {
        self.events
            .iter()
            .filter(|event| event.kind == EntityKind::Observation)
            .map(|event| &event.body)
    }

    /// The first observation called `name`.
    pub(super) fn named(&self, name: &str) -> &Map<String, Value> {
        self.observations()
            .find(|body| body["name"] == json!(name))
            .unwrap_or_else(|| panic!("no observation named {name}"))
    }

    pub(super) fn by_id(&self, id: &str) -> &Map<String, Value> {
        self.observations()
            .find(|body| body["id"] == json!(id))
            .unwrap_or_else(|| panic!("no observation {id}"))
    }

    /// The trace as the store's merge folds it from every trace event.
    pub(super) fn trace(&self, id: &str) -> Trace {
        let logged: Vec<LoggedEvent> = self
            .events
            .iter()
            .filter(|event| event.kind == EntityKind::Trace && event.entity_id == id)
            .enumerate()
            .map(|(sequence, event)| LoggedEvent {
                event: event.clone(),
                received_at: RECEIVED_AT,
                sequence: sequence as i64,
            })
            .collect();
        fold_trace(id, &logged).unwrap_or_else(|| panic!("no trace {id}"))
    }

    pub(super) fn trace_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .events
            .iter()
            .filter(|event| event.kind == EntityKind::Trace)
            .map(|event| event.entity_id.clone())
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }
}

pub(super) fn iso(text: &str) -> Value {
    json!(parse_iso_with_offset(text).unwrap())
}

#[test]
fn every_fixture_export_converts_completely() {
    for file in FILES {
        let converted = convert_file(file);
        assert!(!converted.is_empty(), "{file} has OTLP requests");
        for (record, converted) in converted {
            let flat = record["body"]["otlp_spans_flat"].as_array().unwrap();
            assert_eq!(converted.span_count, flat.len(), "{file}");
            assert!(
                converted.rejected.is_empty(),
                "{file}: {:?}",
                converted.rejected
            );
            assert_eq!(converted.events.len(), 2 * flat.len(), "{file}");
            for span in flat {
                let id = span["spanId"].as_str().unwrap();
                let observation = converted
                    .events
                    .iter()
                    .find(|event| event.kind == EntityKind::Observation && event.entity_id == id)
                    .unwrap_or_else(|| panic!("{file}: no observation for {id}"));
                let body = &observation.body;
                assert_eq!(body["traceId"], span["traceId"], "{file} {id}");
                // Roots flagged with `as_root` keep their (remote) parent id.
                let parent = span["parentSpanId"].clone();
                assert_eq!(
                    body.get("parentObservationId")
                        .cloned()
                        .unwrap_or(Value::Null),
                    parent
                );
                let start: i64 = span["startTimeUnixNano"].as_str().unwrap().parse().unwrap();
                assert_eq!(body["startTime"], json!(start / 1_000));
                assert_eq!(body["name"], span["name"], "{file} {id}");
                if let Some(given) = span["attributes"]["langfuse.observation.type"].as_str() {
                    assert_eq!(
                        body["type"],
                        json!(given.to_ascii_uppercase()),
                        "{file} {id}"
                    );
                }
                // The merge accepts every body as it is.
                let logged = LoggedEvent {
                    event: observation.clone(),
                    received_at: RECEIVED_AT,
                    sequence: 0,
                };
                assert!(fold_observation(id, &[logged]).is_some());
            }
        }
    }
}

/// Decodes standard base64 (the fixtures' `raw_b64`).
fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bytes = Vec::new();
    let (mut buffer, mut bits) = (0_u32, 0);
    for symbol in text.bytes().filter(|byte| *byte != b'=') {
        let value = ALPHABET.iter().position(|c| *c == symbol).expect("base64") as u32;
        buffer = (buffer << 6) | value;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            bytes.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    bytes
}

#[test]
fn retried_exports_map_to_the_same_events() {
    for file in ["python-h-retry-503", "js-v5-retry-503"] {
        let converted = convert_file(file);
        let mut retries = 0;
        for (index, (record, export)) in converted.iter().enumerate() {
            for (later, later_export) in &converted[index + 1..] {
                if later["body"]["json"] == record["body"]["json"] {
                    retries += 1;
                    assert!(!export.events.is_empty());
                    assert_eq!(
                        later_export.events, export.events,
                        "{file}: a retry replaces, never adds"
                    );
                }
            }
        }
        assert!(retries > 0, "{file} has retried exports");
    }
}

#[test]
fn wire_bytes_and_json_view_convert_identically() {
    for file in [
        "python-v3.15-otel-update-trace",
        "python-v4.18-otel",
        "js-v5-tracing-client",
        "js-v5-datasets-experiment",
    ] {
        for (record, from_json_view) in convert_file(file) {
            let raw = base64_decode(record["body"]["raw_b64"].as_str().unwrap());
            let request = if file.starts_with("js") {
                decode_json(&raw).unwrap()
            } else {
                decode_protobuf(&raw).unwrap()
            };
            let from_wire = convert_export(&request, RECEIVED_AT);
            assert_eq!(from_wire.events, from_json_view.events, "{file}");
        }
    }
}

#[test]
fn python_a_observe_decorator() {
    let mapped = Mapped::load("python-a-observe-decorator");
    let llm = mapped.named("llm-call");
    assert_eq!(llm["type"], json!("GENERATION"));
    assert_eq!(llm["parentObservationId"], json!("42d0563a4bfec23f"));
    assert_eq!(llm["model"], json!("gpt-4o-mini"));
    assert_eq!(llm["version"], json!("gen-v1"));
    assert_eq!(
        llm["providedUsageDetails"],
        json!({"input": 12, "output": 3, "cache_read_input_tokens": 2, "total": 15})
    );
    assert_eq!(
        llm["providedCostDetails"],
        json!({"input": 1.8e-06, "output": 1.8e-06, "total": 3.6e-06})
    );
    assert_eq!(llm["completionStartTime"], iso("2026-01-02T03:04:05.678Z"));
    assert_eq!(
        llm["modelParameters"],
        json!({"temperature": 0.2, "max_tokens": 256, "stop": "[\"\\n\\n\"]"})
    );
    assert_eq!(
        llm["input"],
        json!([{"role": "user", "content": "What is the capital of France?"}])
    );
    assert_eq!(llm["output"], json!("Paris"));
    assert_eq!(llm["metadata"]["provider"], json!("openai"));
    assert_eq!(llm["metadata"]["attempt"], json!(1));
    assert_eq!(llm["metadata"]["nested"], json!({"a": [1, 2]}));
    assert!(llm["metadata"].get("attributes").is_none());
    assert_eq!(
        llm["metadata"]["scope"]["attributes"],
        json!({"public_key": "pk-lf-test"})
    );
    let event = mapped.named("cache-miss");
    assert_eq!(event["type"], json!("EVENT"));
    assert_eq!(event["level"], json!("WARNING"));
    assert_eq!(event["statusMessage"], json!("cache miss"));
    assert_eq!(event["startTime"], event["endTime"]);
    assert_eq!(event["metadata"]["cache"], json!("redis"));
    assert_eq!(event["parentObservationId"], json!("ea5033d67b830a18"));
    let failing = mapped.named("failing-step");
    assert_eq!(
        (failing["level"].clone(), failing["statusMessage"].clone()),
        (json!("ERROR"), json!("boom"))
    );
    let root = mapped.named("handle-request");
    assert!(!root.contains_key("parentObservationId"));
    assert_eq!(root["output"], json!({"answer": "Paris"}));
    assert_eq!(root["metadata"]["docs"], json!(2));

    let trace = mapped.trace("20e365a5f86fc70dca680a3722b3519a");
    assert_eq!(trace.name.as_deref(), Some("qa-pipeline"));
    assert_eq!(trace.user_id.as_deref(), Some("user-123"));
    assert_eq!(trace.session_id.as_deref(), Some("session-42"));
    assert_eq!(trace.tags, vec!["tag-a", "tag-b"]);
    assert!(trace.public);
    assert_eq!(trace.timestamp, 1_795_753_345_999_071);
    assert_eq!(trace.metadata["tenant"], json!("acme"));
    assert_eq!(trace.metadata["plan"], json!("pro"));
    assert_eq!(trace.metadata["num"], json!(7));
    assert_eq!(trace.version.as_deref(), Some("app-1.2.3"));
    assert_eq!(
        trace.input,
        Some(json!({"args": ["What is the capital of France?"], "kwargs": {"user": "user-123"}}))
    );
    assert_eq!(trace.output, Some(json!({"answer": "Paris"})));
    assert_eq!(trace.environment, "default");
}

#[test]
fn python_b_observation_types() {
    let mapped = Mapped::load("python-b-observation-types");
    for (name, expected) in [
        ("vector-search", "RETRIEVER"),
        ("embed-query", "EMBEDDING"),
        ("plan-llm", "GENERATION"),
        ("plan-chain", "CHAIN"),
        ("book-hotel", "TOOL"),
        ("pii-check", "GUARDRAIL"),
        ("plan-quality", "EVALUATOR"),
        ("manual-generation", "GENERATION"),
        ("manual-span", "SPAN"),
        ("agent-event", "EVENT"),
        ("travel-agent", "AGENT"),
        ("continued-remote", "SPAN"),
        ("standalone-gen", "GENERATION"),
    ] {
        assert_eq!(mapped.named(name)["type"], json!(expected), "{name}");
    }
    let embedding = mapped.named("embed-query");
    assert_eq!(embedding["model"], json!("text-embedding-3-small"));
    assert_eq!(embedding["providedUsageDetails"], json!({"input": 4}));
    assert_eq!(embedding["providedCostDetails"], json!({"input": 8e-08}));
    assert_eq!(embedding["input"], json!("hotels in Rome"));
    let plan = mapped.named("plan-llm");
    assert_eq!(
        plan["modelParameters"],
        json!({"temperature": 0, "max_tokens": 1024})
    );
    assert_eq!(
        plan["output"],
        json!({"role": "assistant", "content": "Day 1: Colosseum"})
    );
    // An OpenAI-shaped usage object without details.
    assert_eq!(
        mapped.named("manual-generation")["providedUsageDetails"],
        json!({"input": 5, "output": 7, "total": 12})
    );
    assert_eq!(
        mapped.named("manual-generation")["parentObservationId"],
        json!("504d4e0906685638")
    );
    assert_eq!(mapped.named("pii-check")["level"], json!("DEBUG"));
    let quality = mapped.named("plan-quality");
    assert_eq!(
        (quality["level"].clone(), quality["statusMessage"].clone()),
        (json!("WARNING"), json!("borderline"))
    );
    assert_eq!(mapped.named("manual-span")["version"], json!("1.0"));
    assert_eq!(
        mapped.named("travel-agent")["metadata"]["agent_version"],
        json!("2")
    );
    // `langfuse.internal.as_root`: the remote parent is never exported, but its id is kept
    // and the span still writes the whole trace.
    let remote = mapped.named("continued-remote");
    assert_eq!(remote["parentObservationId"], json!("abcdefabcdef0123"));
    let seeded = mapped.trace("cebe8380d392dcb99381ac50b56334fb");
    assert_eq!(seeded.name.as_deref(), Some("continued-remote"));
    assert_eq!(seeded.input, Some(json!("from another service")));
    let standalone = mapped.trace("6e19e24114711fb6e05c1c85be5a04bc");
    assert_eq!(standalone.name.as_deref(), Some("standalone-gen"));
    assert_eq!(
        (standalone.input, standalone.output),
        (Some(json!("ping")), Some(json!("pong")))
    );
    assert_eq!(
        mapped
            .trace("c775abdea160e8a4792144a7da0369c1")
            .name
            .as_deref(),
        Some("travel-agent")
    );
    assert_eq!(mapped.trace_ids().len(), 3);
}

#[test]
fn python_d_prompt_links() {
    let mapped = Mapped::load("python-d-prompts");
    let explicit = mapped.named("explicit-prompt-gen");
    assert_eq!(
        (
            explicit["promptName"].clone(),
            explicit["promptVersion"].clone()
        ),
        (json!("qa-text"), json!(1))
    );
    assert_eq!(explicit["input"], json!("Answer the question: q in en."));
    let propagated = mapped.named("propagated-prompt-gen");
    assert_eq!(
        (
            propagated["promptName"].clone(),
            propagated["promptVersion"].clone()
        ),
        (json!("folder/qa-chat"), json!(1))
    );
    assert!(
        !mapped
            .named("fallback-prompt-gen")
            .contains_key("promptName")
    );
    // The enclosing plain span carries the propagated prompt but is not linked.
    let span = mapped.named("prompted-request");
    assert_eq!(span["type"], json!("SPAN"));
    assert!(!span.contains_key("promptName") && !span.contains_key("promptVersion"));
}
