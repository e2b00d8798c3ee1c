//! Ids, times, roots, observation type, name, environment, version, level.

use serde_json::json;

use glassbox_model::ingest::EntityKind;

use super::*;
use crate::otlp::observation_type::map_level;

#[test]
fn one_observation_and_one_trace_event_per_span() {
    let converted = SpanBuilder::new("root").convert();
    assert_eq!(converted.span_count, 1);
    assert_eq!(converted.events.len(), 2);
    let observation = observation_event(&converted.events);
    assert_eq!(observation.event_id, format!("otel:{TRACE_ID}:{SPAN_ID}"));
    assert_eq!(observation.event_type, "observation-create");
    assert_eq!(observation.entity_id, SPAN_ID);
    assert_eq!(observation.timestamp, 1_700_000_000_123_456);
    let body = &observation.body;
    assert_eq!(body["id"], json!(SPAN_ID));
    assert_eq!(body["traceId"], json!(TRACE_ID));
    assert_eq!(body["startTime"], json!(1_700_000_000_123_456_i64));
    assert_eq!(body["endTime"], json!(1_700_000_001_123_456_i64));
    assert_eq!(body["environment"], json!("default"));
    assert_eq!(body["level"], json!("DEFAULT"));
    assert!(!body.contains_key("parentObservationId"));
    let trace = trace_event(&converted.events);
    assert_eq!(trace.kind, EntityKind::Trace);
    assert_eq!(trace.entity_id, TRACE_ID);
    assert_eq!(trace.event_id, format!("otel:{TRACE_ID}:{SPAN_ID}:trace"));
    assert_eq!(trace.event_type, "trace-create");
    assert_eq!(trace.timestamp, observation.timestamp);
}

#[test]
fn re_sent_spans_produce_identical_events() {
    let span = SpanBuilder::new("x").attr("langfuse.observation.input", json!("in"));
    assert_eq!(span.convert().events, span.convert().events);
}

#[test]
fn invalid_spans_are_rejected_and_the_others_converted() {
    let good = SpanBuilder::new("good");
    let short_trace = SpanBuilder::new("bad").set("traceId", json!("0af76519"));
    let zero_span = SpanBuilder::new("zero").set("spanId", json!("0000000000000000"));
    let no_trace = SpanBuilder::new("none").set("traceId", json!(""));
    let request = SpanBuilder::request_with(&[&good, &short_trace, &zero_span, &no_trace]);
    let converted = convert_export(&request, RECEIVED_AT);
    assert_eq!(converted.span_count, 4);
    assert_eq!(converted.events.len(), 2);
    assert_eq!(converted.rejected.len(), 3);
    assert_eq!(converted.rejected[0].span_id, SPAN_ID);
    assert!(converted.rejected[0].reason.contains("trace id"));
    assert!(converted.rejected[1].reason.contains("span id"));
    assert_eq!(converted.rejected[2].reason, "missing trace id");
}

#[test]
fn missing_times_fall_back() {
    let only_end = SpanBuilder::new("x").set("startTimeUnixNano", json!("0"));
    let body = only_end.observation();
    assert_eq!(body["startTime"], body["endTime"]);
    assert_eq!(body["startTime"], json!(1_700_000_001_123_456_i64));
    let only_start = SpanBuilder::new("x").set("endTimeUnixNano", json!(0));
    assert_eq!(
        only_start.observation()["endTime"],
        json!(1_700_000_000_123_456_i64)
    );
    let none = SpanBuilder::new("x")
        .set("startTimeUnixNano", json!(0))
        .set("endTimeUnixNano", json!(0));
    assert_eq!(none.observation()["startTime"], json!(RECEIVED_AT));
}

#[test]
fn parents_and_roots() {
    let child = SpanBuilder::new("child").parent(PARENT_ID);
    assert_eq!(child.observation()["parentObservationId"], json!(PARENT_ID));
    // A child without trace attributes only makes sure that the trace exists.
    assert_eq!(
        Value::Object(child.trace()),
        json!({"timestamp": 1_700_000_000_123_456_i64, "environment": "default"})
    );
    let as_root = child.clone().attr("langfuse.internal.as_root", json!(true));
    assert_eq!(
        as_root.observation()["parentObservationId"],
        json!(PARENT_ID)
    );
    assert_eq!(as_root.trace()["name"], json!("child"));
    let zero_parent = SpanBuilder::new("z").parent("0000000000000000");
    assert!(
        !zero_parent
            .observation()
            .contains_key("parentObservationId")
    );
}

#[test]
fn type_chain_in_priority_order() {
    let base = || SpanBuilder::third_party("s", "custom");
    assert_eq!(type_of(base()), "SPAN");
    // Rule 10: a model name alone makes a generation.
    assert_eq!(
        type_of(base().attr("gen_ai.request.model", json!("gpt-4o"))),
        "GENERATION"
    );
    assert_eq!(
        type_of(base().attr("llm.model_name", json!("m"))),
        "GENERATION"
    );
    assert_eq!(type_of(base().attr("model", json!(""))), "SPAN");
    // Rule 7 beats rule 10.
    let tool = base()
        .attr("gen_ai.tool.name", json!("search"))
        .attr("gen_ai.request.model", json!("gpt-4o"));
    assert_eq!(type_of(tool.clone()), "TOOL");
    // Rule 3 beats rule 7.
    let agent = tool.attr("gen_ai.operation.name", json!("invoke_agent"));
    assert_eq!(type_of(agent.clone()), "AGENT");
    // Rule 2 beats rule 3.
    let retriever = agent.attr("openinference.span.kind", json!("RETRIEVER"));
    assert_eq!(type_of(retriever.clone()), "RETRIEVER");
    // Rule 1 beats rule 2.
    let explicit = retriever.attr("langfuse.observation.type", json!("guardrail"));
    assert_eq!(type_of(explicit), "GUARDRAIL");
    // An unknown explicit type falls through to the next rule.
    let unknown = base()
        .attr("langfuse.observation.type", json!("banana"))
        .attr("openinference.span.kind", json!("LLM"));
    assert_eq!(type_of(unknown), "GENERATION");
}

#[test]
fn type_rules_per_convention() {
    let base = || SpanBuilder::third_party("s", "custom");
    for (operation, expected) in [
        ("chat", "GENERATION"),
        ("text_completion", "GENERATION"),
        ("generate_content", "GENERATION"),
        ("embeddings", "EMBEDDING"),
        ("create_agent", "AGENT"),
        ("execute_tool", "TOOL"),
        ("something_else", "SPAN"),
    ] {
        let span = base().attr("gen_ai.operation.name", json!(operation));
        assert_eq!(type_of(span), expected, "{operation}");
    }
    for (kind, expected) in [
        ("LLM", "GENERATION"),
        ("CHAIN", "CHAIN"),
        ("EMBEDDING", "EMBEDDING"),
        ("EVALUATOR", "EVALUATOR"),
        ("RERANKER", "SPAN"),
    ] {
        assert_eq!(
            type_of(base().attr("openinference.span.kind", json!(kind))),
            expected
        );
    }
    for (subtype, expected) in [
        ("model", "GENERATION"),
        ("embedder", "EMBEDDING"),
        ("tool.v2", "TOOL"),
        ("retriever", "RETRIEVER"),
    ] {
        assert_eq!(
            type_of(base().attr("genkit:metadata:subtype", json!(subtype))),
            expected
        );
    }
    let vercel = || SpanBuilder::third_party("ai.streamText.doStream", "ai");
    let stream = vercel()
        .attr(
            "operation.name",
            json!("ai.streamText.doStream my-function"),
        )
        .attr("ai.model.id", json!("gpt-4o"));
    assert_eq!(type_of(stream), "GENERATION");
    let embed = vercel()
        .attr("ai.operationId", json!("ai.embedMany.doEmbed"))
        .attr("ai.model.id", json!("text-embedding-3-small"));
    assert_eq!(type_of(embed), "EMBEDDING");
    // Without a model the Vercel rule does not apply (and nothing else does).
    let no_model = vercel().attr("ai.operationId", json!("ai.generateText.doGenerate"));
    assert_eq!(type_of(no_model), "SPAN");
    let tool_call = vercel().attr("ai.operationId", json!("ai.toolCall"));
    assert_eq!(type_of(tool_call), "TOOL");
    assert_eq!(type_of(base().attr("flue.task.agent", json!("a"))), "AGENT");
    assert_eq!(
        type_of(base().attr("flue.tool.call_id", json!("c"))),
        "TOOL"
    );
    let livekit = SpanBuilder::third_party("agent_turn", "livekit-agents");
    assert_eq!(type_of(livekit), "AGENT");
    assert_eq!(
        type_of(SpanBuilder::third_party("agent_turn", "other")),
        "SPAN"
    );
}

#[test]
fn old_python_sdk_generations_sent_as_spans() {
    let old = SpanBuilder::new("gen")
        .scope("langfuse-sdk", "3.2.1")
        .attr("langfuse.observation.type", json!("span"))
        .attr(
            "langfuse.observation.usage_details",
            json!("{\"input\": 1}"),
        );
    assert_eq!(type_of(old.clone()), "GENERATION");
    assert_eq!(type_of(old.clone().scope("langfuse-sdk", "3.15.0")), "SPAN");
    assert_eq!(
        type_of(old.resource(json!({"telemetry.sdk.language": "nodejs"}))),
        "SPAN"
    );
    let plain = SpanBuilder::new("s")
        .scope("langfuse-sdk", "3.1.0")
        .attr("langfuse.observation.type", json!("span"));
    assert_eq!(type_of(plain), "SPAN");
}

#[test]
fn names() {
    let name = |builder: SpanBuilder| builder.observation()["name"].as_str().unwrap().to_owned();
    let base = || SpanBuilder::third_party("span-name", "custom");
    assert_eq!(name(base()), "span-name");
    assert_eq!(
        name(
            base()
                .attr("gen_ai.tool.name", json!("search"))
                .attr("logfire.msg", json!("m"))
        ),
        "search"
    );
    assert_eq!(
        name(base().attr("logfire.msg", json!("running agent"))),
        "running agent"
    );
    assert_eq!(
        name(base().attr("ai.operationId", json!("ai.generateText"))),
        "ai.generateText"
    );
    let with_function = base()
        .attr("ai.operationId", json!("ai.generateText"))
        .attr("ai.telemetry.functionId", json!("summarise"));
    assert_eq!(name(with_function), "summarise:ai.generateText");
}

#[test]
fn environment_version_and_release() {
    let span = SpanBuilder::new("s")
        .resource(json!({"langfuse.environment": "staging", "langfuse.release": "rel-1", "service.version": "9.9"}))
        .attr("langfuse.environment", json!("Prod-EU"));
    let body = span.observation();
    assert_eq!(body["environment"], json!("prod-eu"));
    assert_eq!(body["version"], json!("9.9"));
    let trace = span.trace();
    assert_eq!(trace["environment"], json!("prod-eu"));
    assert_eq!(trace["release"], json!("rel-1"));
    assert_eq!(trace["version"], json!("9.9"));
    let resource_only =
        SpanBuilder::new("s").resource(json!({"deployment.environment.name": "langfuse-qa"}));
    assert_eq!(resource_only.observation()["environment"], json!("qa"));
    let invalid = SpanBuilder::new("s").attr("deployment.environment", json!("has space"));
    assert_eq!(invalid.observation()["environment"], json!("default"));
    let explicit = SpanBuilder::new("s")
        .attr("langfuse.version", json!("v2"))
        .attr("langfuse.release", json!("r2"))
        .resource(json!({"service.version": "9.9", "langfuse.release": "rel-1"}));
    assert_eq!(explicit.observation()["version"], json!("v2"));
    assert_eq!(explicit.trace()["release"], json!("r2"));
}

#[test]
fn level_spellings() {
    for (given, expected) in [
        ("trace", "DEBUG"),
        ("Verbose", "DEBUG"),
        ("info", "DEFAULT"),
        ("OK", "DEFAULT"),
        ("success", "DEFAULT"),
        ("warn", "WARNING"),
        ("WARNING", "WARNING"),
        ("fatal", "ERROR"),
        ("critical", "ERROR"),
    ] {
        assert_eq!(map_level(given), Some(expected), "{given}");
    }
    assert_eq!(map_level("loud"), None);
}

#[test]
fn level_and_status_message() {
    let level = |builder: &SpanBuilder| {
        let body = builder.observation();
        (body["level"].clone(), body.get("statusMessage").cloned())
    };
    let explicit = SpanBuilder::new("s")
        .attr("langfuse.observation.level", json!("warn"))
        .attr("langfuse.observation.status_message", json!("cache miss"))
        .status(2, "otel error");
    assert_eq!(
        level(&explicit),
        (json!("WARNING"), Some(json!("cache miss")))
    );
    let otel_error = SpanBuilder::third_party("s", "custom").status(2, "connection reset");
    assert_eq!(
        level(&otel_error),
        (json!("ERROR"), Some(json!("connection reset")))
    );
    let unknown_level = SpanBuilder::third_party("s", "custom")
        .attr("langfuse.observation.level", json!("loud"))
        .status(2, "");
    assert_eq!(level(&unknown_level), (json!("ERROR"), None));
    let ok = SpanBuilder::third_party("s", "custom").status(1, "fine");
    assert_eq!(level(&ok), (json!("DEFAULT"), Some(json!("fine"))));
    let exception = SpanBuilder::third_party("s", "custom").event(
        "exception",
        json!({"exception.type": "ValueError", "exception.message": "bad input", "exception.stacktrace": "..."}),
    );
    assert_eq!(
        level(&exception),
        (json!("ERROR"), Some(json!("bad input")))
    );
    let exception_with_status = exception.clone().status(2, "explicit");
    assert_eq!(
        level(&exception_with_status),
        (json!("ERROR"), Some(json!("explicit")))
    );
    let exception_but_debug = exception.attr("langfuse.observation.level", json!("DEBUG"));
    assert_eq!(
        level(&exception_but_debug),
        (json!("DEBUG"), Some(json!("bad input")))
    );
}
