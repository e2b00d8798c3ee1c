//! Input and output of a span (ingestion spec §3.3, "Input / output"): a chain of rules
//! for the Langfuse SDKs and the common instrumentation libraries; the first rule that
//! yields an input or an output wins.

use serde_json::{Map, Value};

use super::attributes::{Attributes, SpanView, is_non_empty, parse_json_lenient};

/// What a rule found. A rule "yields something" when either side is set.
pub(crate) type InputOutput = (Option<Value>, Option<Value>);

/// Attribute keys that hold input or output; they are not repeated in the metadata.
const IO_KEYS: [&str; 51] = [
    "langfuse.observation.input",
    "langfuse.observation.output",
    "langfuse.trace.input",
    "langfuse.trace.output",
    "genkit:input",
    "genkit:output",
    "ai.prompt.messages",
    "ai.prompt",
    "ai.toolCall.args",
    "ai.response.text",
    "ai.result.text",
    "ai.toolCall.result",
    "ai.response.object",
    "ai.result.object",
    "ai.response.toolCalls",
    "ai.result.toolCalls",
    "flue.turn.input",
    "flue.tool.arguments",
    "flue.task.prompt",
    "flue.workflow.payload",
    "flue.turn.output",
    "flue.tool.result",
    "flue.task.result",
    "flue.operation.result",
    "flue.workflow.result",
    "gcp.vertex.agent.llm_request",
    "gcp.vertex.agent.llm_response",
    "gcp.vertex.agent.tool_call_args",
    "gcp.vertex.agent.tool_response",
    "prompt",
    "all_messages_events",
    "lk.input_text",
    "lk.user_transcript",
    "lk.chat_ctx",
    "lk.function_tool.output",
    "lk.response.text",
    "events",
    "mlflow.spanInputs",
    "mlflow.spanOutputs",
    "traceloop.entity.input",
    "traceloop.entity.output",
    "input.value",
    "output.value",
    "input",
    "output",
    "pydantic_ai.all_messages",
    "final_result",
    "tool_arguments",
    "tool_response",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
];
const IO_EXTRA_KEYS: [&str; 3] = [
    "gen_ai.system_instructions",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
];
const IO_PREFIXES: [&str; 4] = [
    "gen_ai.prompt",
    "gen_ai.completion",
    "llm.input_messages",
    "llm.output_messages",
];

/// Whether an attribute is consumed as input or output.
pub(crate) fn is_io_key(key: &str) -> bool {
    IO_KEYS.contains(&key)
        || IO_EXTRA_KEYS.contains(&key)
        || IO_PREFIXES.iter().any(|prefix| key.starts_with(prefix))
}

fn yielded(input: Option<Value>, output: Option<Value>) -> Option<InputOutput> {
    (input.is_some() || output.is_some()).then_some((input, output))
}

/// The observation's input and output.
pub(crate) fn observation_io(view: &SpanView<'_>) -> InputOutput {
    attribute_rules_before_events(view.attr(), view.scope_name)
        .or_else(|| event_rules(view))
        .or_else(|| attribute_rules_after_events(view.attr(), view.scope_name))
        .unwrap_or((None, None))
}

/// Rules 1–4: Langfuse, Genkit, Vercel AI SDK, Flue.
fn attribute_rules_before_events(attributes: &Attributes, scope: &str) -> Option<InputOutput> {
    yielded(
        attributes.json("langfuse.observation.input"),
        attributes.json("langfuse.observation.output"),
    )
    .or_else(|| {
        (scope == "genkit-tracer")
            .then(|| genkit(attributes))
            .flatten()
    })
    .or_else(|| (scope == "ai").then(|| vercel(attributes)).flatten())
    .or_else(|| {
        (scope == "@flue/opentelemetry")
            .then(|| {
                yielded(
                    attributes.first_json(&[
                        "flue.turn.input",
                        "flue.tool.arguments",
                        "flue.task.prompt",
                        "flue.workflow.payload",
                    ]),
                    attributes.first_json(&[
                        "flue.turn.output",
                        "flue.tool.result",
                        "flue.task.result",
                        "flue.operation.result",
                        "flue.workflow.result",
                    ]),
                )
            })
            .flatten()
    })
}

fn genkit(attributes: &Attributes) -> Option<InputOutput> {
    let unwrap = |value: Value, key: &str| match value.get(key) {
        Some(inner) => inner.clone(),
        None => value,
    };
    yielded(
        attributes
            .json("genkit:input")
            .map(|input| unwrap(input, "messages")),
        attributes
            .json("genkit:output")
            .map(|output| unwrap(output, "message")),
    )
}

fn vercel(attributes: &Attributes) -> Option<InputOutput> {
    let input = attributes.first_json(&["ai.prompt.messages", "ai.prompt", "ai.toolCall.args"]);
    let output = match (
        attributes.json("ai.response.text"),
        attributes.json("ai.response.toolCalls"),
    ) {
        (Some(text), Some(tool_calls)) => Some(serde_json::json!({
            "role": "assistant",
            "content": text,
            "tool_calls": tool_calls,
        })),
        _ => attributes.first_json(&[
            "ai.response.text",
            "ai.result.text",
            "ai.toolCall.result",
            "ai.response.object",
            "ai.result.object",
            "ai.response.toolCalls",
            "ai.result.toolCalls",
        ]),
    };
    yielded(input, output)
}

/// Rules 5–7: GenAI span events (semconv ≥ 1.37 details event, per-message events,
/// Semantic Kernel content events).
fn event_rules(view: &SpanView<'_>) -> Option<InputOutput> {
    if let Some(details) = view
        .events_named("gen_ai.client.inference.operation.details")
        .next()
    {
        let found = yielded(
            details
                .json("gen_ai.input.messages")
                .map(|input| with_system_instructions(input, details)),
            details.json("gen_ai.output.messages"),
        );
        if found.is_some() {
            return found;
        }
    }
    let mut messages = Vec::new();
    let mut choices = Vec::new();
    for (name, attributes) in &view.events {
        let role = match name.as_str() {
            "gen_ai.system.message" => "system",
            "gen_ai.user.message" => "user",
            "gen_ai.assistant.message" => "assistant",
            "gen_ai.tool.message" => "tool",
            "gen_ai.choice" => {
                choices.push(Value::Object(event_object(attributes, None)));
                continue;
            }
            _ => continue,
        };
        messages.push(Value::Object(event_object(attributes, Some(role))));
    }
    let output = match choices.len() {
        0 => None,
        1 => choices.pop(),
        _ => Some(Value::Array(choices)),
    };
    let found = yielded(
        (!messages.is_empty()).then_some(Value::Array(messages)),
        output,
    );
    if found.is_some() {
        return found;
    }
    let prompt = view.events_named("gen_ai.content.prompt").next();
    let completion = view.events_named("gen_ai.content.completion").next();
    yielded(
        prompt.and_then(attributes_io).and_then(|(input, _)| input),
        completion
            .and_then(attributes_io)
            .and_then(|(input, output)| output.or(input)),
    )
}

/// A message built from an event: the role, then every attribute (JSON values parsed).
fn event_object(attributes: &Attributes, role: Option<&str>) -> Map<String, Value> {
    let mut object = Map::new();
    if let Some(role) = role {
        object.insert("role".to_owned(), Value::String(role.to_owned()));
    }
    for (key, value) in attributes.iter() {
        object.insert(key.clone(), parse_structured(value));
    }
    object
}

/// Strings holding a JSON object or array are parsed; other values stay as they are.
fn parse_structured(value: &Value) -> Value {
    match value {
        Value::String(text) if text.trim_start().starts_with(['{', '[']) => {
            parse_json_lenient(value)
        }
        other => other.clone(),
    }
}

/// The attribute rules applied to the attributes of a Semantic Kernel content event.
fn attributes_io(attributes: &Attributes) -> Option<InputOutput> {
    attribute_rules_before_events(attributes, "")
        .or_else(|| attribute_rules_after_events(attributes, ""))
}

/// Rules 8–15: Google ADK, Logfire, LiveKit, MLflow, TraceLoop, OpenInference, Pydantic,
/// flattened messages, GenAI message attributes.
fn attribute_rules_after_events(attributes: &Attributes, scope: &str) -> Option<InputOutput> {
    let pair = |input: &str, output: &str| yielded(attributes.json(input), attributes.json(output));
    google_adk(attributes)
        .or_else(|| pair("prompt", "all_messages_events"))
        .or_else(|| {
            yielded(
                attributes.first_json(&["lk.input_text", "lk.user_transcript", "lk.chat_ctx"]),
                attributes.first_json(&["lk.function_tool.output", "lk.response.text"]),
            )
        })
        .or_else(|| logfire_events(attributes))
        .or_else(|| pair("mlflow.spanInputs", "mlflow.spanOutputs"))
        .or_else(|| pair("traceloop.entity.input", "traceloop.entity.output"))
        .or_else(|| pair("input.value", "output.value"))
        .or_else(|| pair("input", "output"))
        .or_else(|| {
            (scope == "pydantic-ai")
                .then(|| {
                    yielded(
                        attributes
                            .json("pydantic_ai.all_messages")
                            .map(|input| with_system_instructions(input, attributes)),
                        attributes.json("final_result"),
                    )
                })
                .flatten()
        })
        .or_else(|| pair("tool_arguments", "tool_response"))
        .or_else(|| {
            yielded(
                rebuild_flattened(attributes, "gen_ai.prompt")
                    .or_else(|| rebuild_flattened(attributes, "llm.input_messages")),
                rebuild_flattened(attributes, "gen_ai.completion")
                    .or_else(|| rebuild_flattened(attributes, "llm.output_messages")),
            )
        })
        // Older GenAI conventions put whole prompts and completions in one attribute.
        .or_else(|| pair("gen_ai.prompt", "gen_ai.completion"))
        .or_else(|| {
            yielded(
                attributes
                    .json("gen_ai.input.messages")
                    .map(|input| with_system_instructions(input, attributes)),
                attributes.json("gen_ai.output.messages"),
            )
        })
        .or_else(|| pair("gen_ai.tool.call.arguments", "gen_ai.tool.call.result"))
}

fn google_adk(attributes: &Attributes) -> Option<InputOutput> {
    let side = |primary: &str, fallback: &str| {
        attributes
            .json(primary)
            .filter(is_non_empty)
            .or_else(|| attributes.json(fallback))
    };
    yielded(
        side(
            "gcp.vertex.agent.llm_request",
            "gcp.vertex.agent.tool_call_args",
        ),
        side(
            "gcp.vertex.agent.llm_response",
            "gcp.vertex.agent.tool_response",
        ),
    )
}

/// Logfire's `events` attribute: the `gen_ai.choice` element is the output, the other
/// elements are the input.
fn logfire_events(attributes: &Attributes) -> Option<InputOutput> {
    let Value::Array(events) = attributes.json("events")? else {
        return None;
    };
    let (choices, others): (Vec<Value>, Vec<Value>) = events.into_iter().partition(|event| {
        event.get("event.name").and_then(Value::as_str) == Some("gen_ai.choice")
    });
    yielded(
        (!others.is_empty()).then_some(Value::Array(others)),
        choices.into_iter().next(),
    )
}

/// Prepends `gen_ai.system_instructions` as a system message when the input is a
/// message array without one.
fn with_system_instructions(input: Value, attributes: &Attributes) -> Value {
    let Some(instructions) = attributes.json("gen_ai.system_instructions") else {
        return input;
    };
    let Value::Array(mut messages) = input else {
        return input;
    };
    let has_system = messages
        .iter()
        .any(|message| message.get("role").and_then(Value::as_str) == Some("system"));
    if !has_system {
        messages.insert(
            0,
            serde_json::json!({"role": "system", "content": instructions}),
        );
    }
    Value::Array(messages)
}

/// Most array slots a rebuilt flattened attribute may take.
const MAX_ARRAY_SLOTS: usize = 10_001;
const FORBIDDEN_SEGMENTS: [&str; 3] = ["__proto__", "constructor", "prototype"];

/// Rebuilds `prefix.0.role = …`, `prefix.0.content = …` into `[{role, content}]`:
/// numeric segments are array indices, others object keys.
pub(crate) fn rebuild_flattened(attributes: &Attributes, prefix: &str) -> Option<Value> {
    let mut root = Map::new();
    for (key, value) in attributes.iter() {
        let Some(rest) = key
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix('.'))
        else {
            continue;
        };
        let segments: Vec<&str> = rest.split('.').collect();
        if !is_index(segments[0])
            || segments
                .iter()
                .any(|segment| segment.is_empty() || FORBIDDEN_SEGMENTS.contains(segment))
        {
            continue;
        }
        insert_path(&mut root, &segments, parse_structured(value));
    }
    if root.is_empty() {
        return None;
    }
    let mut budget = MAX_ARRAY_SLOTS;
    Some(to_arrays(Value::Object(root), &mut budget))
}

fn is_index(segment: &str) -> bool {
    !segment.is_empty() && segment.len() <= 6 && segment.bytes().all(|b| b.is_ascii_digit())
}

fn insert_path(target: &mut Map<String, Value>, segments: &[&str], value: Value) {
    let (first, rest) = segments.split_first().expect("segments are never empty");
    if rest.is_empty() {
        if !matches!(target.get(*first), Some(Value::Object(_))) {
            target.insert((*first).to_owned(), value);
        }
        return;
    }
    let entry = target
        .entry((*first).to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(child) = entry {
        insert_path(child, rest, value);
    }
}

/// Objects whose keys are all indices become arrays (holes are `null`), within a total
/// budget of array slots; indices beyond the budget are dropped.
fn to_arrays(value: Value, budget: &mut usize) -> Value {
    let Value::Object(object) = value else {
        return value;
    };
    if !object.is_empty() && object.keys().all(|key| is_index(key)) {
        let mut entries: Vec<(usize, Value)> = object
            .into_iter()
            .filter_map(|(key, value)| Some((key.parse().ok()?, value)))
            .collect();
        entries.sort_by_key(|(index, _)| *index);
        let wanted = entries.last().map_or(0, |(index, _)| index + 1);
        let length = wanted.min(*budget);
        *budget -= length;
        let mut array = vec![Value::Null; length];
        for (index, value) in entries {
            if index < length {
                array[index] = to_arrays(value, budget);
            }
        }
        return Value::Array(array);
    }
    Value::Object(
        object
            .into_iter()
            .map(|(key, value)| (key, to_arrays(value, budget)))
            .collect(),
    )
}
