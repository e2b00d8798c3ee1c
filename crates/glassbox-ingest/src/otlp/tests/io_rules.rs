//! The input/output rule chain.

use serde_json::json;

use super::*;
use crate::otlp::attributes::Attributes;
use crate::otlp::io::rebuild_flattened;

fn io(builder: SpanBuilder) -> (Value, Value) {
    let body = builder.observation();
    (
        body.get("input").cloned().unwrap_or(Value::Null),
        body.get("output").cloned().unwrap_or(Value::Null),
    )
}

#[test]
fn langfuse_attributes_are_parsed_when_json() {
    let span = SpanBuilder::new("s")
        .attr(
            "langfuse.observation.input",
            json!("{\"args\": [\"q\"], \"kwargs\": {}}"),
        )
        .attr("langfuse.observation.output", json!("Paris"));
    assert_eq!(
        io(span),
        (json!({"args": ["q"], "kwargs": {}}), json!("Paris"))
    );
    let input_only = SpanBuilder::new("s")
        .attr("langfuse.observation.input", json!("[1, 2]"))
        .attr("output.value", json!("ignored: rule 1 already yielded"));
    assert_eq!(io(input_only), (json!([1, 2]), Value::Null));
    assert_eq!(io(SpanBuilder::new("s")), (Value::Null, Value::Null));
}

#[test]
fn langfuse_beats_every_other_convention() {
    let span = SpanBuilder::third_party("s", "custom").attrs(json!({
        "input.value": "oi",
        "gen_ai.input.messages": "[{\"role\": \"user\"}]",
        "langfuse.observation.output": "lf",
    }));
    assert_eq!(io(span), (Value::Null, json!("lf")));
}

#[test]
fn gen_ai_new_semconv_messages_with_system_instructions() {
    let span = SpanBuilder::third_party("chat", "custom").attrs(json!({
        "gen_ai.system_instructions": "[{\"type\": \"text\", \"content\": \"Be brief.\"}]",
        "gen_ai.input.messages": "[{\"role\": \"user\", \"parts\": [{\"type\": \"text\", \"content\": \"hi\"}]}]",
        "gen_ai.output.messages": "[{\"role\": \"assistant\", \"parts\": [{\"type\": \"text\", \"content\": \"hello\"}]}]",
    }));
    let (input, output) = io(span.clone());
    assert_eq!(
        input[0],
        json!({"role": "system", "content": [{"type": "text", "content": "Be brief."}]})
    );
    assert_eq!(input[1]["role"], json!("user"));
    assert_eq!(output[0]["parts"][0]["content"], json!("hello"));
    // An existing system message is not duplicated.
    let with_system = span.attr(
        "gen_ai.input.messages",
        json!("[{\"role\": \"system\", \"content\": \"x\"}]"),
    );
    assert_eq!(
        io(with_system).0,
        json!([{"role": "system", "content": "x"}])
    );
    // Input/output keys never reach the metadata attributes.
    let metadata = SpanBuilder::third_party("chat", "custom")
        .attr("gen_ai.input.messages", json!("[]"))
        .attr("gen_ai.request.model", json!("gpt-4o"))
        .observation()["metadata"]["attributes"]
        .clone();
    assert_eq!(metadata, json!({"gen_ai.request.model": "gpt-4o"}));
}

#[test]
fn gen_ai_tool_call_arguments_and_result() {
    let span = SpanBuilder::third_party("execute_tool search", "custom").attrs(json!({
        "gen_ai.tool.call.arguments": "{\"q\": \"rome\"}",
        "gen_ai.tool.call.result": "sunny",
    }));
    assert_eq!(io(span), (json!({"q": "rome"}), json!("sunny")));
}

#[test]
fn inference_details_event_semconv_1_37() {
    let span = SpanBuilder::third_party("chat", "custom").event(
        "gen_ai.client.inference.operation.details",
        json!({
            "gen_ai.input.messages": "[{\"role\": \"user\", \"content\": \"q\"}]",
            "gen_ai.output.messages": "[{\"role\": \"assistant\", \"content\": \"a\"}]",
            "gen_ai.system_instructions": "sys",
        }),
    );
    assert_eq!(
        io(span),
        (
            json!([{"role": "system", "content": "sys"}, {"role": "user", "content": "q"}]),
            json!([{"role": "assistant", "content": "a"}])
        )
    );
}

#[test]
fn gen_ai_message_events_old_semconv() {
    let span = SpanBuilder::third_party("chat", "custom")
        .event(
            "gen_ai.system.message",
            json!({"content": "be nice", "gen_ai.system": "openai"}),
        )
        .event("gen_ai.user.message", json!({"content": "hi"}))
        .event(
            "gen_ai.choice",
            json!({"index": 0, "finish_reason": "stop", "message": "{\"content\": \"hello\"}"}),
        );
    let (input, output) = io(span.clone());
    assert_eq!(
        input,
        json!([{"role": "system", "content": "be nice", "gen_ai.system": "openai"}, {"role": "user", "content": "hi"}])
    );
    assert_eq!(
        output,
        json!({"index": 0, "finish_reason": "stop", "message": {"content": "hello"}})
    );
    let two_choices = span.event("gen_ai.choice", json!({"index": 1}));
    assert_eq!(io(two_choices).1.as_array().unwrap().len(), 2);
}

#[test]
fn semantic_kernel_content_events() {
    let span = SpanBuilder::third_party("chat.completions gpt-4o", "Microsoft.SemanticKernel")
        .event(
            "gen_ai.content.prompt",
            json!({"gen_ai.prompt": "[{\"role\": \"user\", \"content\": \"q\"}]"}),
        )
        .event(
            "gen_ai.content.completion",
            json!({"gen_ai.completion": "[{\"role\": \"assistant\", \"content\": \"a\"}]"}),
        );
    assert_eq!(
        io(span),
        (
            json!([{"role": "user", "content": "q"}]),
            json!([{"role": "assistant", "content": "a"}])
        )
    );
}

#[test]
fn openllmetry_flattened_prompt_and_completion() {
    let span = SpanBuilder::third_party("openai.chat", "opentelemetry.instrumentation.openai")
        .attrs(json!({
            "gen_ai.prompt.0.role": "system",
            "gen_ai.prompt.0.content": "be nice",
            "gen_ai.prompt.1.role": "user",
            "gen_ai.prompt.1.content": "hi",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": "hello",
            "gen_ai.completion.0.finish_reason": "stop",
            "gen_ai.request.model": "gpt-4o",
        }));
    let body = span.observation();
    assert_eq!(
        body["input"],
        json!([{"role": "system", "content": "be nice"}, {"role": "user", "content": "hi"}])
    );
    assert_eq!(
        body["output"],
        json!([{"role": "assistant", "content": "hello", "finish_reason": "stop"}])
    );
    assert_eq!(body["type"], json!("GENERATION"));
    assert_eq!(
        body["metadata"]["attributes"],
        json!({"gen_ai.request.model": "gpt-4o"})
    );
}

#[test]
fn openinference_flattened_messages_and_values() {
    let span = SpanBuilder::third_party("ChatCompletion", "openinference.instrumentation.openai").attrs(json!({
        "openinference.span.kind": "LLM",
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.content": "What is 2+2?",
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "calc",
        "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": "{\"expr\": \"2+2\"}",
        "input.value": "{\"messages\": []}",
        "output.value": "4",
    }));
    // input.value / output.value (rule 13) come before the flattened messages (rule 14).
    assert_eq!(io(span.clone()), (json!({"messages": []}), json!(4)));
    let flattened_only = SpanBuilder::third_party("ChatCompletion", "openinference").attrs(json!({
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.content": "What is 2+2?",
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "calc",
        "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": "{\"expr\": \"2+2\"}",
    }));
    assert_eq!(
        io(flattened_only),
        (
            json!([{"message": {"role": "user", "content": "What is 2+2?"}}]),
            json!([{"message": {"role": "assistant", "tool_calls": [{"tool_call": {"function": {"name": "calc", "arguments": {"expr": "2+2"}}}}]}}])
        )
    );
}

#[test]
fn flattened_rebuild_edge_cases() {
    let attributes = |value: Value| Attributes::from_json(value.as_object().unwrap().clone());
    let holes = attributes(
        json!({"p.2.a": 1, "p.0.a": 0, "p.x": "not indexed", "p.1.__proto__.b": 1, "p.1.constructor": 2}),
    );
    assert_eq!(
        rebuild_flattened(&holes, "p"),
        Some(json!([{"a": 0}, null, {"a": 1}]))
    );
    let huge = attributes(json!({"p.99999.a": 1}));
    assert_eq!(
        rebuild_flattened(&huge, "p")
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        10_001
    );
    let over_budget = attributes(json!({"p.0.x.20000": 1}));
    let rebuilt = rebuild_flattened(&over_budget, "p").unwrap();
    assert_eq!(rebuilt[0]["x"].as_array().unwrap().len(), 10_000);
    assert_eq!(
        rebuild_flattened(&attributes(json!({"p": "whole"})), "p"),
        None
    );
    let conflict = attributes(json!({"p.0": "leaf", "p.0.a": 1}));
    assert_eq!(rebuild_flattened(&conflict, "p"), Some(json!(["leaf"])));
}

#[test]
fn vercel_ai_sdk_io() {
    let vercel = || SpanBuilder::third_party("ai.generateText.doGenerate", "ai");
    let text_and_tools = vercel().attrs(json!({
        "ai.prompt.messages": "[{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"hi\"}]}]",
        "ai.response.text": "calling a tool",
        "ai.response.toolCalls": "[{\"toolCallId\": \"c1\", \"toolName\": \"weather\"}]",
    }));
    assert_eq!(
        io(text_and_tools),
        (
            json!([{"role": "user", "content": [{"type": "text", "text": "hi"}]}]),
            json!({"role": "assistant", "content": "calling a tool", "tool_calls": [{"toolCallId": "c1", "toolName": "weather"}]})
        )
    );
    let object = vercel().attrs(json!({"ai.prompt": "{\"prompt\": \"p\"}", "ai.response.text": "", "ai.response.object": "{\"a\": 1}"}));
    assert_eq!(io(object), (json!({"prompt": "p"}), json!({"a": 1})));
    let tool = SpanBuilder::third_party("ai.toolCall", "ai").attrs(json!({
        "ai.toolCall.name": "weather", "ai.toolCall.args": "{\"city\": \"Rome\"}", "ai.toolCall.result": "{\"t\": 21}",
    }));
    let body = tool.observation();
    assert_eq!(
        (body["input"].clone(), body["output"].clone()),
        (json!({"city": "Rome"}), json!({"t": 21}))
    );
    assert_eq!(body["name"], json!("weather"));
    // Outside scope `ai` the ai.* attributes are not input/output.
    let other_scope = SpanBuilder::third_party("x", "custom").attr("ai.response.text", json!("t"));
    assert_eq!(io(other_scope), (Value::Null, Value::Null));
    // Scope `ai` without ai.* I/O falls back to the GenAI message attributes.
    let fallback = vercel().attr("gen_ai.prompt.0.content", json!("q"));
    assert_eq!(io(fallback).0, json!([{"content": "q"}]));
}

#[test]
fn other_instrumentations() {
    let pair =
        |scope: &str, attributes: Value| io(SpanBuilder::third_party("s", scope).attrs(attributes));
    assert_eq!(
        pair(
            "genkit-tracer",
            json!({"genkit:input": "{\"messages\": [1], \"config\": {}}", "genkit:output": "{\"message\": {\"role\": \"model\"}}"})
        ),
        (json!([1]), json!({"role": "model"}))
    );
    assert_eq!(
        pair(
            "@flue/opentelemetry",
            json!({"flue.tool.arguments": "{\"a\": 1}", "flue.tool.result": "done"})
        ),
        (json!({"a": 1}), json!("done"))
    );
    assert_eq!(
        pair(
            "gcp.vertex.agent",
            json!({"gcp.vertex.agent.llm_request": "{}", "gcp.vertex.agent.tool_call_args": "{\"x\": 1}", "gcp.vertex.agent.llm_response": "{\"ok\": true}"})
        ),
        (json!({"x": 1}), json!({"ok": true}))
    );
    assert_eq!(
        pair(
            "logfire",
            json!({"prompt": "hello", "all_messages_events": "[]"})
        )
        .0,
        json!("hello")
    );
    assert_eq!(
        pair(
            "logfire",
            json!({"events": "[{\"event.name\": \"gen_ai.user.message\", \"content\": \"q\"}, {\"event.name\": \"gen_ai.choice\", \"message\": \"a\"}]"})
        ),
        (
            json!([{"event.name": "gen_ai.user.message", "content": "q"}]),
            json!({"event.name": "gen_ai.choice", "message": "a"})
        )
    );
    assert_eq!(
        pair(
            "livekit-agents",
            json!({"lk.user_transcript": "hi", "lk.response.text": "yo"})
        ),
        (json!("hi"), json!("yo"))
    );
    assert_eq!(
        pair(
            "mlflow",
            json!({"mlflow.spanInputs": "{\"q\": 1}", "mlflow.spanOutputs": "2"})
        ),
        (json!({"q": 1}), json!(2))
    );
    assert_eq!(
        pair(
            "traceloop",
            json!({"traceloop.entity.input": "in", "traceloop.entity.output": "out"})
        ),
        (json!("in"), json!("out"))
    );
    assert_eq!(
        pair("pipecat", json!({"input": "i", "output": "o"})),
        (json!("i"), json!("o"))
    );
    assert_eq!(
        pair(
            "pydantic-ai",
            json!({"pydantic_ai.all_messages": "[{\"role\": \"user\"}]", "final_result": "r", "gen_ai.system_instructions": "sys"})
        ),
        (
            json!([{"role": "system", "content": "sys"}, {"role": "user"}]),
            json!("r")
        )
    );
    assert_eq!(
        pair(
            "custom",
            json!({"tool_arguments": "{}", "tool_response": "ok"})
        ),
        (json!({}), json!("ok"))
    );
}

#[test]
fn root_trace_io_prefers_trace_attributes() {
    let root = SpanBuilder::new("root")
        .attr("langfuse.observation.input", json!("{\"q\": 1}"))
        .attr("langfuse.observation.output", json!("{\"a\": 2}"))
        .attr("langfuse.trace.input", json!("{\"trace_in\": 1}"));
    let trace = root.trace();
    assert_eq!(trace["input"], json!({"trace_in": 1}));
    assert_eq!(trace["output"], json!({"a": 2}));
    let observation = root.observation();
    assert_eq!(observation["input"], json!({"q": 1}));
    // A child only sends the explicit trace I/O.
    let child = root.parent(PARENT_ID).trace();
    assert_eq!(child["input"], json!({"trace_in": 1}));
    assert!(!child.contains_key("output"));
}
