//! Metadata layout and encodings, trace-level attributes.

use serde_json::json;

use super::*;
use crate::otlp::trace_attributes::parse_tags;

fn metadata(builder: &SpanBuilder) -> Value {
    builder.observation()["metadata"].clone()
}

#[test]
fn python_5_metadata_is_json_encoded() {
    let span = SpanBuilder::new("s").attrs(json!({
        "langfuse.observation.metadata.provider": "\"openai\"",
        "langfuse.observation.metadata.attempt": "1",
        "langfuse.observation.metadata.nested": "{\"a\":[1,2]}",
        "langfuse.observation.metadata.big": "\"12345678901234567890\"",
        "langfuse.observation.metadata.flag": "true",
    }));
    let metadata = metadata(&span);
    assert_eq!(metadata["provider"], json!("openai"));
    assert_eq!(metadata["attempt"], json!(1));
    assert_eq!(metadata["nested"], json!({"a": [1, 2]}));
    assert_eq!(metadata["big"], json!("12345678901234567890"));
    assert_eq!(metadata["flag"], json!(true));
}

#[test]
fn js_5_metadata_strings_are_raw() {
    let span = SpanBuilder::new("s")
        .scope("langfuse-sdk", "5.11.1")
        .resource(json!({"telemetry.sdk.language": "nodejs"}))
        .attrs(json!({
            "langfuse.observation.metadata.provider": "openai",
            "langfuse.observation.metadata.step": "1",
            "langfuse.observation.metadata.nested": "{\"a\":1}",
            "langfuse.observation.metadata.sentence": "hello, world",
        }));
    let metadata = metadata(&span);
    assert_eq!(metadata["provider"], json!("openai"));
    assert_eq!(metadata["step"], json!(1));
    assert_eq!(metadata["nested"], json!({"a": 1}));
    assert_eq!(metadata["sentence"], json!("hello, world"));
}

#[test]
fn python_3_and_4_metadata_is_typed() {
    let span = SpanBuilder::new("s")
        .scope("langfuse-sdk", "4.18.0")
        .attrs(json!({
            "langfuse.observation.metadata.s": "x",
            "langfuse.observation.metadata.n": 1,
            "langfuse.observation.metadata.f": 0.5,
            "langfuse.observation.metadata.b": false,
            "langfuse.observation.metadata.d": "{\"k\": \"v\"}",
            "langfuse.trace.metadata.n": 2,
        }));
    let metadata = metadata(&span);
    assert_eq!(metadata["s"], json!("x"));
    assert_eq!(metadata["n"], json!(1));
    assert_eq!(metadata["f"], json!(0.5));
    assert_eq!(metadata["b"], json!(false));
    assert_eq!(metadata["d"], json!({"k": "v"}));
    assert_eq!(
        span.trace()["metadata"]["n"],
        json!(1),
        "root trace metadata includes the observation's"
    );
    let child = span.parent(PARENT_ID);
    assert_eq!(child.trace()["metadata"], json!({"n": 2}));
}

#[test]
fn whole_metadata_attributes() {
    let string = SpanBuilder::new("s").attr(
        "langfuse.observation.metadata",
        json!("\"plain string metadata\""),
    );
    assert_eq!(
        metadata(&string)["metadata"],
        json!("plain string metadata")
    );
    let object = SpanBuilder::new("s")
        .attr("langfuse.metadata", json!("{\"a\": 1, \"b\": 2}"))
        .attr("langfuse.observation.metadata.b", json!("3"));
    let metadata = metadata(&object);
    assert_eq!(
        (metadata["a"].clone(), metadata["b"].clone()),
        (json!(1), json!(3))
    );
}

#[test]
fn layout_for_langfuse_sdk_spans() {
    let span = SpanBuilder::new("s")
        .resource(json!({"langfuse.trace.metadata.region": "eu"}))
        .attrs(json!({
            "langfuse.observation.type": "span",
            "langfuse.observation.input": "x",
            "user.id": "u",
            "langfuse.trace.metadata.tenant": "\"acme\"",
            "custom.flag": true,
            "langfuse.experiment.id": "exp-1",
            "langfuse.experiment.item.metadata": "{\"difficulty\": \"easy\"}",
        }));
    let metadata = metadata(&span);
    assert_eq!(
        metadata["region"],
        json!("eu"),
        "resource-level trace metadata"
    );
    assert!(
        metadata.get("tenant").is_none(),
        "span-level trace metadata goes to the trace"
    );
    // Only what the SDK does not map itself is kept: custom and experiment attributes.
    assert_eq!(
        metadata["attributes"],
        json!({"custom.flag": "true", "langfuse.experiment.id": "exp-1",
            "langfuse.experiment.item.metadata": "{\"difficulty\": \"easy\"}"})
    );
    assert_eq!(
        metadata["resourceAttributes"],
        json!({"telemetry.sdk.language": "python", "service.name": "svc", "langfuse.trace.metadata.region": "eu"})
    );
    assert_eq!(
        metadata["scope"],
        json!({"name": "langfuse-sdk", "version": "5.0.4", "attributes": {}})
    );
    let plain = SpanBuilder::new("s").attr("langfuse.observation.type", json!("span"));
    assert!(super::super::attributes::is_non_empty(
        &plain.observation()["metadata"]
    ));
    assert!(plain.observation()["metadata"].get("attributes").is_none());
}

#[test]
fn third_party_attributes_are_kept_as_text() {
    let span = SpanBuilder::third_party("chat", "my.app.tracer").attrs(json!({
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 7,
        "http.status_code": 200,
        "tags": ["a", "b"],
        "ai.telemetry.metadata.team": "search",
        "ai.telemetry.metadata.userId": "u1",
    }));
    let metadata = metadata(&span);
    assert_eq!(
        metadata["attributes"],
        json!({"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": "7", "http.status_code": "200", "tags": "[\"a\",\"b\"]"})
    );
    assert_eq!(metadata["team"], json!("search"));
    assert!(metadata.get("userId").is_none());
    assert!(metadata.get("resourceAttributes").is_none());
    assert_eq!(metadata["scope"]["name"], json!("my.app.tracer"));
}

#[test]
fn trace_attributes_on_the_root() {
    let root = SpanBuilder::new("handle-request").attrs(json!({
        "langfuse.observation.input": "{\"q\": 1}",
        "user.id": "user-123",
        "session.id": "session-42",
        "langfuse.trace.name": "qa-pipeline",
        "langfuse.trace.tags": ["tag-a", "tag-b"],
        "langfuse.trace.public": true,
        "langfuse.trace.metadata.tenant": "\"acme\"",
        "langfuse.observation.metadata.docs": "2",
        "langfuse.version": "app-1.2.3",
    }));
    let trace = root.trace();
    assert_eq!(trace["name"], json!("qa-pipeline"));
    assert_eq!(trace["userId"], json!("user-123"));
    assert_eq!(trace["sessionId"], json!("session-42"));
    assert_eq!(trace["tags"], json!(["tag-a", "tag-b"]));
    assert_eq!(trace["public"], json!(true));
    assert_eq!(trace["version"], json!("app-1.2.3"));
    assert_eq!(trace["input"], json!({"q": 1}));
    assert_eq!(trace["metadata"]["tenant"], json!("acme"));
    assert_eq!(trace["metadata"]["docs"], json!(2));
    assert_eq!(trace["metadata"]["scope"]["name"], json!("langfuse-sdk"));
    let unnamed = SpanBuilder::new("root-span").trace();
    assert_eq!(unnamed["name"], json!("root-span"));
    assert!(!unnamed.contains_key("public"));
    assert!(!unnamed.contains_key("tags"));
}

#[test]
fn trace_attributes_on_children() {
    let child = SpanBuilder::new("step").parent(PARENT_ID).attrs(json!({
        "langfuse.observation.input": "x",
        "langfuse.session.id": "s-1",
        "langfuse.trace.tags": "[\"x\", \"y\"]",
    }));
    let trace = child.trace();
    assert_eq!(
        Value::Object(trace),
        json!({"timestamp": 1_700_000_000_123_456_i64, "environment": "default", "sessionId": "s-1", "tags": ["x", "y"]})
    );
    let metadata_ids = SpanBuilder::new("lc").parent(PARENT_ID).attrs(json!({
        "langfuse.observation.metadata.langfuse_user_id": "\"lc-user\"",
        "langfuse.observation.metadata.langfuse_session_id": "\"lc-session\"",
        "langfuse.observation.metadata.langfuse_tags": "[\"t1\"]",
    }));
    let trace = metadata_ids.trace();
    assert_eq!(trace["userId"], json!("lc-user"));
    assert_eq!(trace["sessionId"], json!("lc-session"));
    assert_eq!(trace["tags"], json!(["t1"]));
    let vercel = SpanBuilder::third_party("ai.generateText", "ai")
        .parent(PARENT_ID)
        .attrs(json!({
            "ai.telemetry.metadata.userId": "vu",
            "ai.telemetry.metadata.sessionId": "vs",
            "ai.telemetry.metadata.tags": ["v1", "v2"],
            "gen_ai.conversation.id": "conversation-before-ai-metadata",
        }));
    let trace = vercel.trace();
    assert_eq!(trace["userId"], json!("vu"));
    assert_eq!(trace["sessionId"], json!("conversation-before-ai-metadata"));
    assert_eq!(trace["tags"], json!(["v1", "v2"]));
    let conversation = SpanBuilder::third_party("chat", "custom")
        .parent(PARENT_ID)
        .attr("gen_ai.conversation.id", json!("conv-1"));
    assert_eq!(conversation.trace()["sessionId"], json!("conv-1"));
    let llama_index = SpanBuilder::third_party("q", "llama_index")
        .parent(PARENT_ID)
        .attr("tag.tags", json!("a, b"));
    assert_eq!(llama_index.trace()["tags"], json!(["a", "b"]));
    let public = SpanBuilder::third_party("p", "custom")
        .parent(PARENT_ID)
        .attr("langfuse.public", json!("true"));
    assert_eq!(public.trace()["public"], json!(true));
}

#[test]
fn tag_shapes() {
    assert_eq!(parse_tags(&json!(["a", "b", "a", ""])), vec!["a", "b"]);
    assert_eq!(parse_tags(&json!("[\"a\", \"b\"]")), vec!["a", "b"]);
    assert_eq!(parse_tags(&json!("a, b ,c")), vec!["a", "b", "c"]);
    assert_eq!(parse_tags(&json!("single")), vec!["single"]);
    assert_eq!(parse_tags(&json!("\"quoted\"")), vec!["quoted"]);
    assert_eq!(parse_tags(&json!("42")), vec!["42"]);
    assert_eq!(parse_tags(&json!([1, true])), vec!["1", "true"]);
}

/// A span's observation event is the complete state of the observation (a snapshot the
/// store may keep as its row alone); its trace event is an ordinary, logged update.
#[test]
fn the_observation_event_is_a_snapshot_and_the_trace_event_is_not() {
    let converted = SpanBuilder::new("work").convert();
    let observation = observation_event(&converted.events);
    assert!(observation.snapshot);
    assert_eq!(observation.event_type, "observation-create");
    assert_eq!(
        observation.event_id,
        glassbox_model::ingest::otlp_observation_event_id(
            observation.body["traceId"].as_str().unwrap(),
            &observation.entity_id
        )
    );
    assert!(!trace_event(&converted.events).snapshot);
}
