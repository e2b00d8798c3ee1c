//! Model, model parameters, completion start, usage, cost and prompt link of a span
//! (ingestion spec §3.3). Usage and cost come out in the batch API's normalised form
//! (§1.5), so the store's merge derives totals exactly as for batch events.

use serde_json::{Map, Value};

use glassbox_model::Micros;
use glassbox_model::time::{parse_iso_lenient, parse_iso_with_offset};
use glassbox_model::usage::{normalize_cost_details, normalize_usage_details};

use super::attributes::{Attributes, SpanView, is_non_empty, parse_json_lenient, stringify};

/// Vercel AI SDK agent spans repeat the usage of their children: no model, usage or cost.
pub(crate) fn skips_model_usage_and_cost(view: &SpanView<'_>) -> bool {
    matches!(
        view.attr().str("gen_ai.operation.name"),
        Some("invoke_agent" | "agent_step")
    )
}

/// The model name: the first non-empty model attribute.
pub(crate) fn model(view: &SpanView<'_>) -> Option<String> {
    let attributes = view.attr();
    attributes
        .first_text(&[
            "langfuse.observation.model.name",
            "gen_ai.response.model",
            "ai.model.id",
            "gen_ai.request.model",
            "llm.response.model",
            "llm.model_name",
            "model",
        ])
        .or_else(|| {
            (attributes.str("genkit:metadata:subtype") == Some("model"))
                .then(|| attributes.text("genkit:name"))
                .flatten()
        })
}

fn json_object(value: Option<Value>) -> Option<Map<String, Value>> {
    match value? {
        Value::Object(object) => Some(object),
        _ => None,
    }
}

/// Model parameter values are strings or numbers; anything else becomes its JSON text
/// (nulls are dropped).
fn parameter_values(object: Map<String, Value>) -> Map<String, Value> {
    object
        .into_iter()
        .filter(|(_, value)| !value.is_null())
        .map(|(key, value)| match value {
            Value::String(_) | Value::Number(_) => (key, value),
            other => (key, Value::String(other.to_string())),
        })
        .collect()
}

/// Model parameters: the Langfuse attribute (merged over the AI SDK defaults for scope
/// `ai`), Genkit's request config, the AI SDK settings, OpenInference invocation
/// parameters, `model_config`, else every `gen_ai.request.*` key but the model.
pub(crate) fn model_parameters(view: &SpanView<'_>) -> Option<Map<String, Value>> {
    let attributes = view.attr();
    let langfuse = json_object(attributes.json("langfuse.observation.model.parameters"));
    let parameters = if view.scope_name == "ai" {
        let mut merged = vercel_parameters(attributes);
        merged.extend(langfuse.unwrap_or_default());
        merged
    } else if let Some(langfuse) = langfuse {
        langfuse
    } else if let Some(config) = genkit_config(attributes) {
        config
    } else if let Some(parameters) = json_object(attributes.json("llm.invocation_parameters")) {
        parameters
    } else if let Some(config) = json_object(attributes.json("model_config")) {
        config
    } else {
        let mut collected = Map::new();
        for (key, value) in attributes.iter() {
            let stripped = key
                .strip_prefix("gen_ai.request.")
                .or_else(|| key.strip_prefix("llm.invocation_parameters."));
            if let Some(name) = stripped.filter(|name| *name != "model") {
                collected.insert(name.to_owned(), value.clone());
            }
        }
        collected
    };
    let parameters = parameter_values(parameters);
    (!parameters.is_empty()).then_some(parameters)
}

fn genkit_config(attributes: &Attributes) -> Option<Map<String, Value>> {
    let from_input = attributes
        .json("genkit:input")
        .and_then(|input| json_object(input.get("config").cloned()));
    from_input.or_else(|| {
        attributes.json("genkit:output").and_then(|output| {
            json_object(output.get("request").and_then(|r| r.get("config")).cloned())
        })
    })
}

fn vercel_parameters(attributes: &Attributes) -> Map<String, Value> {
    let service_tier = attributes
        .json("ai.response.providerMetadata")
        .and_then(|metadata| metadata.get("openai")?.get("serviceTier").cloned());
    let first = |keys: &[&str]| keys.iter().find_map(|key| attributes.json(key));
    let fields = [
        ("maxSteps", first(&["ai.settings.maxSteps"])),
        ("toolChoice", first(&["ai.prompt.toolChoice"])),
        (
            "maxTokens",
            first(&[
                "gen_ai.request.max_tokens",
                "ai.settings.maxOutputTokens",
                "ai.settings.maxTokens",
            ]),
        ),
        (
            "finishReason",
            first(&["gen_ai.response.finish_reasons", "ai.response.finishReason"]),
        ),
        ("system", first(&["gen_ai.system", "ai.model.provider"])),
        ("maxRetries", first(&["ai.settings.maxRetries"])),
        ("mode", first(&["ai.settings.mode"])),
        (
            "temperature",
            first(&["gen_ai.request.temperature", "ai.settings.temperature"]),
        ),
        ("service_tier", service_tier),
    ];
    fields
        .into_iter()
        .filter_map(|(key, value)| Some((key.to_owned(), value?)))
        .collect()
}

/// The completion start: the Langfuse attribute (ISO, possibly JSON-quoted), else the
/// start plus the AI SDK's time to first chunk (rounded up to whole milliseconds).
pub(crate) fn completion_start(view: &SpanView<'_>, start: Micros) -> Option<Micros> {
    let attributes = view.attr();
    if let Some(value) = attributes.non_empty("langfuse.observation.completion_start_time") {
        let mut text = stringify(value);
        if let Ok(Value::String(inner)) = serde_json::from_str::<Value>(&text) {
            text = inner;
        }
        if let Some(micros) = parse_iso_with_offset(&text).or_else(|| parse_iso_lenient(&text)) {
            return Some(micros);
        }
    }
    let milliseconds = attributes
        .number("ai.response.msToFirstChunk")
        .or_else(|| attributes.number("ai.stream.msToFirstChunk"))
        .filter(|ms| ms.is_finite() && *ms >= 0.0)?;
    Some(start + (milliseconds.ceil() as i64) * 1_000)
}

/// The usage the span reports, normalised (OpenAI shapes flattened, only non-negative
/// integers kept). A total is present only if one was given.
pub(crate) fn usage_details(view: &SpanView<'_>) -> Option<Map<String, Value>> {
    let attributes = view.attr();
    let raw = if let Some(given) = attributes.json("langfuse.observation.usage_details") {
        match given {
            Value::Object(object) => object,
            _ => Map::new(),
        }
    } else if view.scope_name == "genkit-tracer" {
        genkit_usage(attributes)
    } else if view.scope_name == "ai" {
        vercel_usage(attributes)
    } else {
        generic_usage(attributes)
    };
    normalize_usage_details(&Value::Object(raw))
}

fn count(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(number) => number.as_i64().or_else(|| {
            number
                .as_f64()
                .filter(|f| f.fract() == 0.0)
                .map(|f| f as i64)
        }),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

fn insert_count(target: &mut Map<String, Value>, key: &str, value: Option<i64>) {
    if let Some(value) = value {
        target.insert(key.to_owned(), Value::from(value));
    }
}

fn genkit_usage(attributes: &Attributes) -> Map<String, Value> {
    let mut result = Map::new();
    let Some(usage) = attributes
        .json("genkit:output")
        .and_then(|output| output.get("usage").cloned())
    else {
        return result;
    };
    let thoughts = count(usage.get("thoughtsTokens"));
    let output =
        count(usage.get("outputTokens")).map(|output| (output - thoughts.unwrap_or(0)).max(0));
    insert_count(&mut result, "input", count(usage.get("inputTokens")));
    insert_count(&mut result, "output", output);
    insert_count(&mut result, "total", count(usage.get("totalTokens")));
    insert_count(&mut result, "output_reasoning", thoughts);
    result
}

fn vercel_usage(attributes: &Attributes) -> Map<String, Value> {
    let first = |keys: &[&str]| keys.iter().find_map(|key| count(attributes.get(key)));
    let mut result = Map::new();
    let input = first(&[
        "gen_ai.usage.prompt_tokens",
        "gen_ai.usage.input_tokens",
        "ai.usage.promptTokens",
        "ai.usage.inputTokens",
    ]);
    let output = first(&[
        "gen_ai.usage.completion_tokens",
        "gen_ai.usage.output_tokens",
        "ai.usage.completionTokens",
        "ai.usage.outputTokens",
    ]);
    insert_count(
        &mut result,
        "total",
        first(&["ai.usage.tokens", "ai.usage.totalTokens"]),
    );
    let mut details = Map::new();
    insert_count(
        &mut details,
        "input_cached_tokens",
        first(&["ai.usage.cachedInputTokens"]),
    );
    insert_count(
        &mut details,
        "output_reasoning_tokens",
        first(&["ai.usage.reasoningTokens"]),
    );
    if let Some(metadata) = attributes.json("ai.response.providerMetadata") {
        provider_usage(&metadata, &mut details);
    }
    let sum = |keys: &[&str]| -> i64 {
        keys.iter()
            .filter_map(|key| details.get(*key).and_then(Value::as_i64))
            .sum()
    };
    let mut cache = sum(&[
        "input_cached_tokens",
        "input_cache_read",
        "input_cache_write",
        "input_cache_creation",
    ]);
    if !details.contains_key("input_cache_creation") {
        cache += sum(&["input_cache_creation_5m", "input_cache_creation_1h"]);
    }
    let reasoning = sum(&["output_reasoning_tokens"]);
    insert_count(
        &mut result,
        "input",
        input.map(|input| (input - cache).max(0)),
    );
    insert_count(
        &mut result,
        "output",
        output.map(|output| (output - reasoning).max(0)),
    );
    result.extend(details);
    result
}

/// Cache and reasoning counts from the AI SDK's provider metadata.
fn provider_usage(metadata: &Value, details: &mut Map<String, Value>) {
    let pick =
        |object: Option<&Value>, pairs: &[(&str, &str)], details: &mut Map<String, Value>| {
            let Some(object) = object else { return };
            for (source, target) in pairs {
                insert_count(details, target, count(object.get(*source)));
            }
        };
    pick(
        metadata.get("openai"),
        &[
            ("cachedPromptTokens", "input_cached_tokens"),
            (
                "acceptedPredictionTokens",
                "output_accepted_prediction_tokens",
            ),
            (
                "rejectedPredictionTokens",
                "output_rejected_prediction_tokens",
            ),
            ("reasoningTokens", "output_reasoning_tokens"),
        ],
        details,
    );
    if let Some(anthropic) = metadata.get("anthropic") {
        let usage = anthropic.get("usage").unwrap_or(anthropic);
        pick(
            Some(usage),
            &[
                ("cache_creation_input_tokens", "input_cache_creation"),
                ("cache_read_input_tokens", "input_cached_tokens"),
                ("cacheCreationInputTokens", "input_cache_creation"),
            ],
            details,
        );
        pick(
            usage.get("cache_creation"),
            &[
                ("ephemeral_5m_input_tokens", "input_cache_creation_5m"),
                ("ephemeral_1h_input_tokens", "input_cache_creation_1h"),
            ],
            details,
        );
    }
    if let Some(bedrock) = metadata.get("bedrock") {
        pick(
            Some(bedrock.get("usage").unwrap_or(bedrock)),
            &[
                ("cacheReadInputTokens", "input_cache_read"),
                ("cacheWriteInputTokens", "input_cache_write"),
                ("cacheCreationInputTokens", "input_cache_creation"),
            ],
            details,
        );
    }
}

const INPUT_KEYS: [&str; 3] = ["prompt_tokens", "input_tokens", "prompt"];
const OUTPUT_KEYS: [&str; 3] = ["completion_tokens", "output_tokens", "completion"];
const TOTAL_KEYS: [&str; 2] = ["total_tokens", "total"];
const CACHE_READ_KEYS: [&str; 7] = [
    "cache_read.input_tokens",
    "cache_read_input_tokens",
    "cache_read_tokens",
    "details.cache_read_tokens",
    "details.cache_read_input_tokens",
    "prompt_details.cache_read",
    "input_cached_tokens",
];
const CACHE_CREATION_KEYS: [&str; 7] = [
    "cache_creation.input_tokens",
    "cache_creation_input_tokens",
    "cache_write_tokens",
    "details.cache_write_tokens",
    "details.cache_creation_input_tokens",
    "prompt_details.cache_write",
    "input_cache_creation",
];
const REASONING_KEYS: [&str; 2] = ["reasoning.output_tokens", "completion_details.reasoning"];
const AUDIO_KEYS: [&str; 1] = ["completion_details.audio"];

/// Every `gen_ai.usage.*` (but the cost) and `llm.token_count.*` attribute, prefix
/// stripped; input, output, total, cache and reasoning counts under their Langfuse names,
/// with the breakdown subtracted from input and output; other keys kept.
fn generic_usage(attributes: &Attributes) -> Map<String, Value> {
    let mut raw = Map::new();
    for (key, value) in attributes.iter() {
        let stripped = key
            .strip_prefix("gen_ai.usage.")
            .filter(|rest| *rest != "cost")
            .or_else(|| key.strip_prefix("llm.token_count."));
        if let Some(rest) = stripped {
            raw.insert(rest.to_owned(), value.clone());
        }
    }
    let mut result = Map::new();
    if raw.is_empty() {
        return result;
    }
    let take = |keys: &[&str]| keys.iter().find_map(|key| count(raw.get(*key)));
    let input = take(&INPUT_KEYS);
    let output = take(&OUTPUT_KEYS);
    let cache_read = take(&CACHE_READ_KEYS);
    let cache_creation = take(&CACHE_CREATION_KEYS);
    let reasoning = take(&REASONING_KEYS);
    let audio = take(&AUDIO_KEYS);
    let known: Vec<&str> = [
        &INPUT_KEYS[..],
        &OUTPUT_KEYS,
        &TOTAL_KEYS,
        &CACHE_READ_KEYS,
        &CACHE_CREATION_KEYS,
        &REASONING_KEYS,
        &AUDIO_KEYS,
    ]
    .concat();
    for (key, value) in &raw {
        if !known.contains(&key.as_str()) {
            let name = key.strip_prefix("details.").unwrap_or(key);
            result.insert(name.to_owned(), value.clone());
        }
    }
    let input =
        input.map(|input| (input - cache_read.unwrap_or(0) - cache_creation.unwrap_or(0)).max(0));
    let output = output.map(|output| (output - reasoning.unwrap_or(0) - audio.unwrap_or(0)).max(0));
    insert_count(&mut result, "input", input);
    insert_count(&mut result, "output", output);
    insert_count(&mut result, "total", take(&TOTAL_KEYS));
    insert_count(&mut result, "input_cached_tokens", cache_read);
    insert_count(&mut result, "input_cache_creation", cache_creation);
    insert_count(&mut result, "output_reasoning_tokens", reasoning);
    insert_count(&mut result, "output_audio_tokens", audio);
    result
}

/// The cost the span reports: the Langfuse cost details, else `gen_ai.usage.cost` or
/// OpenInference `llm.cost.total` as the total. Only non-negative numbers are kept.
pub(crate) fn cost_details(view: &SpanView<'_>) -> Option<Map<String, Value>> {
    let attributes = view.attr();
    if let Some(given) = attributes.json("langfuse.observation.cost_details") {
        return normalize_cost_details(&given);
    }
    let total = ["gen_ai.usage.cost", "llm.cost.total"]
        .iter()
        .find_map(|key| attributes.number(key))?;
    normalize_cost_details(&serde_json::json!({ "total": total }))
}

/// The linked prompt `(name, version)`: the observation prompt attributes, the older
/// `langfuse.prompt.*`, else the AI SDK's `langfusePrompt` telemetry metadata. Both parts
/// must be present and the version an integer.
pub(crate) fn prompt_link(view: &SpanView<'_>) -> Option<(String, i64)> {
    let attributes = view.attr();
    let pair = |name_key: &str, version_key: &str| {
        let name = attributes.text(name_key)?;
        let version = integer(attributes.get(version_key)?)?;
        Some((name, version))
    };
    pair(
        "langfuse.observation.prompt.name",
        "langfuse.observation.prompt.version",
    )
    .or_else(|| pair("langfuse.prompt.name", "langfuse.prompt.version"))
    .or_else(|| {
        let prompt = attributes.json("ai.telemetry.metadata.langfusePrompt")?;
        let name = prompt.get("name").filter(|name| is_non_empty(name))?;
        Some((stringify(name), integer(prompt.get("version")?)?))
    })
}

fn integer(value: &Value) -> Option<i64> {
    match parse_json_lenient(value) {
        Value::Number(number) => number.as_i64().or_else(|| {
            number
                .as_f64()
                .filter(|f| f.fract() == 0.0)
                .map(|f| f as i64)
        }),
        _ => None,
    }
}
