//! Model, model parameters, completion start, usage, cost, prompt link.

use serde_json::json;

use super::*;

fn usage(builder: SpanBuilder) -> Value {
    builder
        .observation()
        .get("providedUsageDetails")
        .cloned()
        .unwrap_or(Value::Null)
}

#[test]
fn model_chain() {
    let model = |builder: SpanBuilder| builder.observation().get("model").cloned();
    let base = || SpanBuilder::third_party("s", "custom");
    assert_eq!(model(base()), None);
    let both = base()
        .attr("gen_ai.request.model", json!("gpt-4o"))
        .attr("gen_ai.response.model", json!("gpt-4o-2024-08-06"));
    assert_eq!(model(both.clone()), Some(json!("gpt-4o-2024-08-06")));
    let langfuse = both.attr("langfuse.observation.model.name", json!("mine"));
    assert_eq!(model(langfuse), Some(json!("mine")));
    assert_eq!(
        model(base().attr("llm.model_name", json!("claude"))),
        Some(json!("claude"))
    );
    let genkit = base()
        .attr("genkit:metadata:subtype", json!("model"))
        .attr("genkit:name", json!("googleai/gemini-2.0-flash"));
    assert_eq!(model(genkit), Some(json!("googleai/gemini-2.0-flash")));
}

#[test]
fn agent_spans_skip_model_usage_and_cost() {
    let body = SpanBuilder::third_party("agent", "ai")
        .attr("gen_ai.operation.name", json!("invoke_agent"))
        .attr("gen_ai.request.model", json!("gpt-4o"))
        .attr("gen_ai.usage.input_tokens", json!(10))
        .attr("gen_ai.usage.cost", json!(0.5))
        .observation();
    assert_eq!(body["type"], json!("AGENT"));
    assert!(!body.contains_key("model"));
    assert!(!body.contains_key("providedUsageDetails"));
    assert!(!body.contains_key("providedCostDetails"));
}

#[test]
fn model_parameters_sources() {
    let parameters = |builder: SpanBuilder| builder.observation().get("modelParameters").cloned();
    let langfuse = SpanBuilder::new("g").attr(
        "langfuse.observation.model.parameters",
        json!(
            "{\"temperature\": 0.2, \"max_tokens\": 256, \"stop\": [\"\\n\\n\"], \"stream\": true}"
        ),
    );
    assert_eq!(
        parameters(langfuse),
        Some(
            json!({"temperature": 0.2, "max_tokens": 256, "stop": "[\"\\n\\n\"]", "stream": "true"})
        )
    );
    let empty = SpanBuilder::new("g").attr("langfuse.observation.model.parameters", json!("{}"));
    assert_eq!(parameters(empty), None);
    let gen_ai = SpanBuilder::third_party("chat", "custom").attrs(json!({
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.request.temperature": 0.7,
        "gen_ai.request.max_tokens": 100,
        "gen_ai.request.stop_sequences": ["x"],
    }));
    assert_eq!(
        parameters(gen_ai),
        Some(json!({"temperature": 0.7, "max_tokens": 100, "stop_sequences": "[\"x\"]"}))
    );
    let openinference = SpanBuilder::third_party("llm", "openinference")
        .attr(
            "llm.invocation_parameters",
            json!("{\"temperature\": 0, \"model\": \"m\"}"),
        )
        .attr("gen_ai.request.top_p", json!(0.9));
    assert_eq!(
        parameters(openinference),
        Some(json!({"temperature": 0, "model": "m"}))
    );
    let vercel = SpanBuilder::third_party("ai.generateText.doGenerate", "ai").attrs(json!({
        "ai.settings.maxRetries": 2,
        "gen_ai.request.temperature": 0.3,
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.system": "openai.chat",
        "ai.response.providerMetadata": "{\"openai\": {\"serviceTier\": \"default\"}}",
        "langfuse.observation.model.parameters": "{\"temperature\": 0.5}",
    }));
    assert_eq!(
        parameters(vercel),
        Some(
            json!({"finishReason": "[\"stop\"]", "system": "openai.chat", "maxRetries": 2,
            "temperature": 0.5, "service_tier": "default"})
        )
    );
}

#[test]
fn completion_start_time() {
    let start = |builder: SpanBuilder| builder.observation().get("completionStartTime").cloned();
    let python = SpanBuilder::new("g").attr(
        "langfuse.observation.completion_start_time",
        json!("\"2026-01-02T03:04:05.678000Z\""),
    );
    let expected = glassbox_model::time::parse_iso_with_offset("2026-01-02T03:04:05.678Z").unwrap();
    assert_eq!(start(python), Some(json!(expected)));
    let raw = SpanBuilder::new("g").attr(
        "langfuse.observation.completion_start_time",
        json!("2026-01-02T03:04:05.678Z"),
    );
    assert_eq!(start(raw), Some(json!(expected)));
    let vercel = SpanBuilder::third_party("ai.streamText.doStream", "ai")
        .attr("ai.response.msToFirstChunk", json!(12.3));
    assert_eq!(
        start(vercel),
        Some(json!(1_700_000_000_123_456_i64 + 13_000))
    );
    let garbage =
        SpanBuilder::new("g").attr("langfuse.observation.completion_start_time", json!("soon"));
    assert_eq!(start(garbage), None);
}

#[test]
fn langfuse_usage_details() {
    let given = SpanBuilder::new("g").attr(
        "langfuse.observation.usage_details",
        json!("{\"input\": 12, \"output\": 3, \"cache_read_input_tokens\": 2, \"total\": 15, \"bad\": -1, \"text\": \"x\"}"),
    );
    assert_eq!(
        usage(given),
        json!({"input": 12, "output": 3, "cache_read_input_tokens": 2, "total": 15})
    );
    // No total is invented here: the store derives it.
    let no_total = SpanBuilder::new("g").attr(
        "langfuse.observation.usage_details",
        json!("{\"input\": 4}"),
    );
    assert_eq!(usage(no_total), json!({"input": 4}));
    let not_object = SpanBuilder::new("g")
        .attr("langfuse.observation.usage_details", json!("[1]"))
        .attr("gen_ai.usage.input_tokens", json!(9));
    assert_eq!(usage(not_object), Value::Null);
}

#[test]
fn openai_usage_objects_with_cached_and_reasoning_tokens() {
    let chat = SpanBuilder::new("g").attr(
        "langfuse.observation.usage_details",
        json!(
            json!({"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150,
            "prompt_tokens_details": {"cached_tokens": 30, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 20}})
            .to_string()
        ),
    );
    assert_eq!(
        usage(chat),
        json!({"input_cached_tokens": 30, "input_audio_tokens": 0, "output_reasoning_tokens": 20,
            "input": 70, "output": 30, "total": 150})
    );
    let responses = SpanBuilder::new("g").attr(
        "langfuse.observation.usage_details",
        json!(
            json!({"input_tokens": 10, "output_tokens": 5, "total_tokens": 15,
            "input_tokens_details": {"cached_tokens": 4},
            "output_tokens_details": {"reasoning_tokens": 2}})
            .to_string()
        ),
    );
    assert_eq!(
        usage(responses),
        json!({"input_cached_tokens": 4, "output_reasoning_tokens": 2, "input": 6, "output": 3, "total": 15})
    );
}

#[test]
fn gen_ai_usage_old_and_new_semconv() {
    let new = SpanBuilder::third_party("chat", "custom").attrs(json!({
        "gen_ai.usage.input_tokens": 7,
        "gen_ai.usage.output_tokens": 3,
    }));
    assert_eq!(usage(new), json!({"input": 7, "output": 3}));
    let old = SpanBuilder::third_party("chat", "openllmetry").attrs(json!({
        "gen_ai.usage.prompt_tokens": 20,
        "gen_ai.usage.completion_tokens": 10,
        "gen_ai.usage.total_tokens": 30,
        "gen_ai.usage.cache_read_input_tokens": 5,
        "gen_ai.usage.cache_creation_input_tokens": 2,
        "gen_ai.usage.cost": 0.01,
    }));
    assert_eq!(
        usage(old),
        json!({"input": 13, "output": 10, "total": 30, "input_cached_tokens": 5, "input_cache_creation": 2})
    );
    let reasoning = SpanBuilder::third_party("chat", "custom").attrs(json!({
        "gen_ai.usage.input_tokens": 10,
        "gen_ai.usage.output_tokens": 8,
        "gen_ai.usage.reasoning.output_tokens": 5,
        "gen_ai.usage.details.image_tokens": 4,
    }));
    assert_eq!(
        usage(reasoning),
        json!({"image_tokens": 4, "input": 10, "output": 3, "output_reasoning_tokens": 5})
    );
}

#[test]
fn openinference_token_counts() {
    let span =
        SpanBuilder::third_party("llm", "openinference.instrumentation.openai").attrs(json!({
            "llm.token_count.prompt": 40,
            "llm.token_count.completion": 12,
            "llm.token_count.total": 52,
            "llm.token_count.prompt_details.cache_read": 8,
            "llm.token_count.completion_details.reasoning": 2,
            "llm.token_count.completion_details.audio": 1,
            "llm.cost.total": 0.002,
        }));
    let body = span.observation();
    assert_eq!(
        body["providedUsageDetails"],
        json!({"input": 32, "output": 9, "total": 52, "input_cached_tokens": 8,
            "output_reasoning_tokens": 2, "output_audio_tokens": 1})
    );
    assert_eq!(body["providedCostDetails"], json!({"total": 0.002}));
}

#[test]
fn vercel_ai_sdk_usage() {
    let span = SpanBuilder::third_party("ai.generateText.doGenerate", "ai").attrs(json!({
        "ai.operationId": "ai.generateText.doGenerate",
        "ai.model.id": "claude-sonnet-4",
        "gen_ai.usage.input_tokens": 100,
        "gen_ai.usage.output_tokens": 40,
        "ai.usage.tokens": 140,
        "ai.usage.reasoningTokens": 10,
        "ai.response.providerMetadata": json!({"anthropic": {"usage": {
            "cache_read_input_tokens": 20, "cache_creation_input_tokens": 5,
            "cache_creation": {"ephemeral_5m_input_tokens": 5, "ephemeral_1h_input_tokens": 0}}}}).to_string(),
    }));
    assert_eq!(
        usage(span),
        json!({"total": 140, "input": 75, "output": 30, "output_reasoning_tokens": 10,
            "input_cache_creation": 5, "input_cached_tokens": 20,
            "input_cache_creation_5m": 5, "input_cache_creation_1h": 0})
    );
    let openai = SpanBuilder::third_party("ai.streamText.doStream", "ai").attrs(json!({
        "gen_ai.usage.prompt_tokens": 50,
        "gen_ai.usage.completion_tokens": 10,
        "ai.response.providerMetadata": "{\"openai\": {\"cachedPromptTokens\": 30, \"reasoningTokens\": 4, \"acceptedPredictionTokens\": 1}}",
    }));
    assert_eq!(
        usage(openai),
        json!({"input": 20, "output": 6, "input_cached_tokens": 30, "output_accepted_prediction_tokens": 1,
            "output_reasoning_tokens": 4})
    );
}

#[test]
fn genkit_usage() {
    let span = SpanBuilder::third_party("generate", "genkit-tracer").attr(
        "genkit:output",
        json!("{\"usage\": {\"inputTokens\": 9, \"outputTokens\": 7, \"totalTokens\": 16, \"thoughtsTokens\": 3}}"),
    );
    assert_eq!(
        usage(span),
        json!({"input": 9, "output": 4, "total": 16, "output_reasoning": 3})
    );
}

#[test]
fn cost_details_sources() {
    let cost = |builder: SpanBuilder| builder.observation().get("providedCostDetails").cloned();
    let langfuse = SpanBuilder::new("g").attr(
        "langfuse.observation.cost_details",
        json!("{\"input\": 1.8e-06, \"output\": 1.8e-06, \"total\": 3.6e-06, \"neg\": -1}"),
    );
    assert_eq!(
        cost(langfuse),
        Some(json!({"input": 1.8e-06, "output": 1.8e-06, "total": 3.6e-06}))
    );
    let gen_ai = SpanBuilder::third_party("chat", "custom").attr("gen_ai.usage.cost", json!(0.25));
    assert_eq!(cost(gen_ai), Some(json!({"total": 0.25})));
    assert_eq!(cost(SpanBuilder::new("g")), None);
}

#[test]
fn prompt_link_only_on_generation_like_types() {
    let with_prompt = |observation_type: &str| {
        SpanBuilder::new("s")
            .attr("langfuse.observation.type", json!(observation_type))
            .attr("langfuse.observation.prompt.name", json!("qa-text"))
            .attr("langfuse.observation.prompt.version", json!(3))
            .observation()
    };
    for observation_type in [
        "generation",
        "agent",
        "tool",
        "chain",
        "retriever",
        "embedding",
        "evaluator",
        "guardrail",
    ] {
        let body = with_prompt(observation_type);
        assert_eq!(body["promptName"], json!("qa-text"), "{observation_type}");
        assert_eq!(body["promptVersion"], json!(3));
    }
    for observation_type in ["span", "event"] {
        let body = with_prompt(observation_type);
        assert!(!body.contains_key("promptName"), "{observation_type}");
        assert!(!body.contains_key("promptVersion"));
    }
    let name_only = SpanBuilder::new("g")
        .attr("langfuse.observation.type", json!("generation"))
        .attr("langfuse.observation.prompt.name", json!("p"))
        .observation();
    assert!(!name_only.contains_key("promptName"));
    let legacy = SpanBuilder::new("g")
        .attr("langfuse.observation.type", json!("generation"))
        .attr("langfuse.prompt.name", json!("old"))
        .attr("langfuse.prompt.version", json!("2"))
        .observation();
    assert_eq!(
        (
            legacy["promptName"].clone(),
            legacy["promptVersion"].clone()
        ),
        (json!("old"), json!(2))
    );
    let vercel = SpanBuilder::third_party("ai.generateText.doGenerate", "ai")
        .attr("ai.operationId", json!("ai.generateText.doGenerate"))
        .attr("ai.model.id", json!("gpt-4o"))
        .attr(
            "ai.telemetry.metadata.langfusePrompt",
            json!("{\"name\": \"vp\", \"version\": 5, \"isFallback\": false}"),
        )
        .observation();
    assert_eq!(
        (
            vercel["promptName"].clone(),
            vercel["promptVersion"].clone()
        ),
        (json!("vp"), json!(5))
    );
    assert!(vercel["metadata"].get("langfusePrompt").is_none());
}
