//! Observation type, name and level of a span (ingestion spec §3.3).

use glassbox_model::OBSERVATION_TYPES;

use super::attributes::SpanView;

/// Whether a type takes a prompt link (and is shown as a model call): every type except
/// `SPAN` and `EVENT`.
pub(crate) fn is_generation_like(observation_type: &str) -> bool {
    !matches!(observation_type, "SPAN" | "EVENT")
}

/// Attributes that name a model (rule 10 of the type chain).
const MODEL_KEYS: [&str; 5] = [
    "langfuse.observation.model.name",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "llm.model_name",
    "model",
];

/// Attributes that only a generation carries (rule 0, old Python SDKs).
const GENERATION_ONLY_KEYS: [&str; 7] = [
    "langfuse.observation.model.name",
    "langfuse.observation.cost_details",
    "langfuse.observation.usage_details",
    "langfuse.observation.completion_start_time",
    "langfuse.observation.model.parameters",
    "langfuse.observation.prompt.name",
    "langfuse.observation.prompt.version",
];

const VERCEL_GENERATIONS: [&str; 4] = [
    "ai.generateText.doGenerate",
    "ai.streamText.doStream",
    "ai.generateObject.doGenerate",
    "ai.streamObject.doStream",
];
const VERCEL_EMBEDDINGS: [&str; 2] = ["ai.embed.doEmbed", "ai.embedMany.doEmbed"];
const VERCEL_MODEL_KEYS: [&str; 4] = [
    "langfuse.observation.model.name",
    "ai.model.id",
    "gen_ai.request.model",
    "gen_ai.response.model",
];

/// Infers the observation type: the first rule of the chain that yields a type wins,
/// `SPAN` when none does.
pub(crate) fn infer_type(view: &SpanView<'_>) -> &'static str {
    let rules: [fn(&SpanView<'_>) -> Option<&'static str>; 11] = [
        old_python_generation,
        langfuse_type,
        openinference_kind,
        gen_ai_operation,
        genkit_subtype,
        vercel_model_call,
        vercel_tool_call,
        gen_ai_tool,
        flue,
        livekit,
        has_model,
    ];
    rules.iter().find_map(|rule| rule(view)).unwrap_or("SPAN")
}

fn canonical(text: &str) -> Option<&'static str> {
    let upper = text.trim().to_ascii_uppercase();
    OBSERVATION_TYPES.into_iter().find(|known| *known == upper)
}

/// Rule 0: Python SDK ≤ 3.3 sent generations as `span` with generation attributes.
fn old_python_generation(view: &SpanView<'_>) -> Option<&'static str> {
    let attributes = view.attr();
    let old_python = view.scope_name == "langfuse-sdk"
        && view.resource.str("telemetry.sdk.language") == Some("python")
        && version_at_most(view.scope_version, (3, 3));
    let is_span = attributes
        .str("langfuse.observation.type")
        .is_some_and(|given| given.eq_ignore_ascii_case("span"));
    let generation_attributes = GENERATION_ONLY_KEYS
        .iter()
        .any(|key| attributes.has_non_empty(key));
    (old_python && is_span && generation_attributes).then_some("GENERATION")
}

/// `major.minor[.patch…]` compared with `limit` on major and minor.
fn version_at_most(version: &str, limit: (u64, u64)) -> bool {
    let mut parts = version
        .split(['.', '-', '+'])
        .map(|part| part.parse::<u64>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) <= limit,
        (Some(major), None) => major <= limit.0,
        _ => false,
    }
}

/// Rule 1: the explicit Langfuse type.
fn langfuse_type(view: &SpanView<'_>) -> Option<&'static str> {
    canonical(view.attr().str("langfuse.observation.type")?)
}

/// Rule 2: OpenInference span kinds (`LLM` is a generation).
fn openinference_kind(view: &SpanView<'_>) -> Option<&'static str> {
    let kind = view
        .attr()
        .str("openinference.span.kind")?
        .to_ascii_uppercase();
    match kind.as_str() {
        "LLM" => Some("GENERATION"),
        "CHAIN" | "RETRIEVER" | "EMBEDDING" | "AGENT" | "TOOL" | "GUARDRAIL" | "EVALUATOR" => {
            canonical(&kind)
        }
        _ => None,
    }
}

/// Rule 3: OTel GenAI semantic conventions `gen_ai.operation.name`.
fn gen_ai_operation(view: &SpanView<'_>) -> Option<&'static str> {
    match view.attr().str("gen_ai.operation.name")? {
        "chat" | "completion" | "text_completion" | "generate_content" | "generate" => {
            Some("GENERATION")
        }
        "embeddings" => Some("EMBEDDING"),
        "invoke_agent" | "create_agent" => Some("AGENT"),
        "execute_tool" => Some("TOOL"),
        _ => None,
    }
}

/// Rule 4: Firebase Genkit.
fn genkit_subtype(view: &SpanView<'_>) -> Option<&'static str> {
    match view.attr().str("genkit:metadata:subtype")? {
        "model" | "background-model" => Some("GENERATION"),
        "embedder" => Some("EMBEDDING"),
        "tool" | "tool.v2" => Some("TOOL"),
        "retriever" => Some("RETRIEVER"),
        "evaluator" => Some("EVALUATOR"),
        _ => None,
    }
}

/// The Vercel AI SDK operation: `ai.operationId`, else the start of `operation.name`.
fn vercel_operation<'v>(view: &'v SpanView<'_>) -> Option<&'v str> {
    view.attr()
        .str("ai.operationId")
        .or_else(|| view.attr().str("operation.name"))
}

fn operation_is(operation: &str, candidates: &[&str]) -> bool {
    candidates.iter().any(|candidate| {
        operation == *candidate
            || operation
                .strip_prefix(candidate)
                .is_some_and(|rest| rest.starts_with(' '))
    })
}

/// Rule 5: Vercel AI SDK model calls that name a model.
fn vercel_model_call(view: &SpanView<'_>) -> Option<&'static str> {
    let operation = vercel_operation(view)?;
    let has_model = VERCEL_MODEL_KEYS
        .iter()
        .any(|key| view.attr().has_non_empty(key));
    if !has_model {
        return None;
    }
    if operation_is(operation, &VERCEL_GENERATIONS) {
        Some("GENERATION")
    } else if operation_is(operation, &VERCEL_EMBEDDINGS) {
        Some("EMBEDDING")
    } else {
        None
    }
}

/// Rule 6: Vercel AI SDK tool calls.
fn vercel_tool_call(view: &SpanView<'_>) -> Option<&'static str> {
    let operation = vercel_operation(view)?;
    operation.starts_with("ai.toolCall").then_some("TOOL")
}

/// Rule 7: GenAI tool attributes.
fn gen_ai_tool(view: &SpanView<'_>) -> Option<&'static str> {
    let attributes = view.attr();
    (attributes.has_non_empty("gen_ai.tool.name")
        || attributes.has_non_empty("gen_ai.tool.call.id"))
    .then_some("TOOL")
}

/// Rule 8: Flue.
fn flue(view: &SpanView<'_>) -> Option<&'static str> {
    let attributes = view.attr();
    if attributes.has_non_empty("flue.tool.name") || attributes.has_non_empty("flue.tool.call_id") {
        Some("TOOL")
    } else if attributes.has_non_empty("flue.task.id")
        || attributes.has_non_empty("flue.task.agent")
    {
        Some("AGENT")
    } else {
        None
    }
}

/// Rule 9: LiveKit Agents span names.
fn livekit(view: &SpanView<'_>) -> Option<&'static str> {
    if view.scope_name != "livekit-agents" {
        return None;
    }
    match view.span.name.as_str() {
        "agent_turn" | "start_agent_activity" => Some("AGENT"),
        "function_tool" => Some("TOOL"),
        _ => None,
    }
}

/// Rule 10: any model name makes a generation.
fn has_model(view: &SpanView<'_>) -> Option<&'static str> {
    MODEL_KEYS
        .iter()
        .any(|key| view.attr().has_non_empty(key))
        .then_some("GENERATION")
}

/// The observation name: tool names, Genkit and Logfire names, the Vercel operation
/// (prefixed by its function id), else the span name.
pub(crate) fn observation_name(view: &SpanView<'_>) -> String {
    let attributes = view.attr();
    if let Some(name) = attributes.first_text(&[
        "gen_ai.tool.name",
        "genkit:name",
        "logfire.msg",
        "ai.toolCall.name",
    ]) {
        return name;
    }
    if let Some(operation) = attributes.text("ai.operationId") {
        return match attributes.text("ai.telemetry.functionId") {
            Some(function) => format!("{function}:{operation}"),
            None => operation,
        };
    }
    view.span.name.clone()
}

/// Maps the many level spellings to Langfuse's four levels.
pub(crate) fn map_level(text: &str) -> Option<&'static str> {
    match text.trim().to_ascii_uppercase().as_str() {
        "DEBUG" | "TRACE" | "VERBOSE" => Some("DEBUG"),
        "DEFAULT" | "INFO" | "LOG" | "NOTICE" | "OK" | "SUCCESS" => Some("DEFAULT"),
        "WARNING" | "WARN" => Some("WARNING"),
        "ERROR" | "FATAL" | "CRITICAL" => Some("ERROR"),
        _ => None,
    }
}

/// Level and status message: the explicit Langfuse level, else ERROR for an OTel error
/// status or an `exception` span event, else DEFAULT. The status message is the Langfuse
/// one, else the OTel status message, else the first exception's message.
pub(crate) fn level_and_status(view: &SpanView<'_>) -> (&'static str, Option<String>) {
    let attributes = view.attr();
    let exception_message = view.events_named("exception").find_map(|event| {
        event
            .text("exception.message")
            .or_else(|| event.text("exception.type"))
    });
    let has_exception = view.events_named("exception").next().is_some();
    let level = attributes
        .str("langfuse.observation.level")
        .and_then(map_level)
        .unwrap_or(if view.status_code() == 2 || has_exception {
            "ERROR"
        } else {
            "DEFAULT"
        });
    let status_message = attributes
        .text("langfuse.observation.status_message")
        .or_else(|| view.status_message().map(str::to_owned))
        .or(exception_message);
    (level, status_message)
}
