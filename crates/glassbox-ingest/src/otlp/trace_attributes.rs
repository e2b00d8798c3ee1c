//! Metadata of an observation (ingestion spec §3.3, "Metadata") and the trace-level
//! attributes a span carries (§3.4).
//!
//! Metadata values arrive in three encodings: Python SDK 5 JSON-encodes every value
//! (`"\"acme\""`, `"7"`), the JS SDK 5 sends strings raw and JSON-encodes the rest, and
//! Python SDKs 3 and 4 send strings raw and numbers and booleans as typed attributes. One
//! decoder covers all three: strings are JSON-parsed when they hold JSON, else kept.

use serde_json::{Map, Value};

use super::attributes::{Attributes, SpanView, is_non_empty, parse_json_lenient, stringify};
use super::io::is_io_key;

const OBSERVATION_METADATA: &str = "langfuse.observation.metadata";
const LEGACY_METADATA: &str = "langfuse.metadata";
const TRACE_METADATA: &str = "langfuse.trace.metadata";
const AI_SDK_METADATA: &str = "ai.telemetry.metadata";
/// AI SDK telemetry metadata keys that are trace attributes or the prompt link.
const AI_SDK_RESERVED: [&str; 4] = ["userId", "sessionId", "tags", "langfusePrompt"];
/// Experiment attributes: kept in the observation metadata (under `attributes`) until
/// dataset runs are materialised from spans.
const EXPERIMENT_PREFIX: &str = "langfuse.experiment.";

/// Decodes one metadata value (see the module comment).
pub(crate) fn decode_metadata_value(value: &Value) -> Value {
    parse_json_lenient(value)
}

/// `key` is `prefix` itself or `prefix.<something>`.
fn has_prefix(key: &str, prefix: &str) -> bool {
    key.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

fn is_metadata_key(key: &str) -> bool {
    [
        OBSERVATION_METADATA,
        LEGACY_METADATA,
        TRACE_METADATA,
        AI_SDK_METADATA,
    ]
    .iter()
    .any(|prefix| has_prefix(key, prefix))
}

/// Adds a whole-metadata value: objects are merged in, anything else is kept under
/// `metadata` (as the batch API does for non-object metadata).
fn merge_whole(target: &mut Map<String, Value>, value: &Value) {
    match decode_metadata_value(value) {
        Value::Object(object) => target.extend(object),
        Value::Null => {}
        other => {
            target.insert("metadata".to_owned(), other);
        }
    }
}

/// Adds the `prefix.<key>` attributes (one metadata key each), except `skip`.
fn add_flattened(
    target: &mut Map<String, Value>,
    attributes: &Attributes,
    prefix: &str,
    skip: &[&str],
) {
    let dotted = format!("{prefix}.");
    for (key, value) in attributes.iter() {
        if let Some(name) = key.strip_prefix(&dotted)
            && !name.is_empty()
            && !skip.contains(&name)
        {
            target.insert(name.to_owned(), decode_metadata_value(value));
        }
    }
}

/// `prefix` (whole) and `prefix.<key>` (one key each) from `attributes`.
fn prefixed_metadata(attributes: &Attributes, prefix: &str) -> Map<String, Value> {
    let mut result = Map::new();
    if let Some(whole) = attributes.get(prefix) {
        merge_whole(&mut result, whole);
    }
    add_flattened(&mut result, attributes, prefix, &[]);
    result
}

/// The trace metadata a span and its resource carry (`langfuse.trace.metadata*`).
fn trace_metadata(view: &SpanView<'_>, include_span: bool) -> Map<String, Value> {
    let mut metadata = prefixed_metadata(view.resource, TRACE_METADATA);
    if include_span {
        metadata.extend(prefixed_metadata(view.attr(), TRACE_METADATA));
    }
    metadata
}

/// The observation's own metadata: `langfuse.observation.metadata` (else
/// `langfuse.metadata`) and the flattened `….metadata.<key>` attributes.
fn own_metadata(attributes: &Attributes) -> Map<String, Value> {
    let mut metadata = Map::new();
    if let Some(whole) = attributes
        .get(OBSERVATION_METADATA)
        .or_else(|| attributes.get(LEGACY_METADATA))
    {
        merge_whole(&mut metadata, whole);
    }
    for (prefix, skip) in [
        (LEGACY_METADATA, &[][..]),
        (OBSERVATION_METADATA, &[][..]),
        (AI_SDK_METADATA, &AI_SDK_RESERVED[..]),
    ] {
        add_flattened(&mut metadata, attributes, prefix, skip);
    }
    metadata
}

/// Whether the Langfuse SDKs set this attribute themselves (so it is mapped, not kept).
fn is_langfuse_sdk_key(key: &str) -> bool {
    (key.starts_with("langfuse.") && !key.starts_with(EXPERIMENT_PREFIX))
        || matches!(key, "user.id" | "session.id")
}

/// The span attributes that no rule consumed, non-strings as JSON text. For Langfuse SDK
/// spans only attributes the SDK does not map itself are kept (custom attributes and the
/// experiment attributes); for other instrumentations everything but input, output and
/// metadata keys.
fn remaining_attributes(view: &SpanView<'_>) -> Map<String, Value> {
    let langfuse = view.is_langfuse_sdk();
    view.attr()
        .iter()
        .filter(|(key, _)| !is_io_key(key) && !is_metadata_key(key))
        .filter(|(key, _)| !langfuse || !is_langfuse_sdk_key(key))
        .map(|(key, value)| (key.clone(), Value::String(stringify(value))))
        .collect()
}

/// The full observation metadata:
/// `{...resource trace metadata, ...own metadata, attributes, resourceAttributes, scope}`.
pub(crate) fn observation_metadata(view: &SpanView<'_>) -> Map<String, Value> {
    let mut metadata = trace_metadata(view, false);
    metadata.extend(own_metadata(view.attr()));
    let attributes = remaining_attributes(view);
    if !attributes.is_empty() {
        metadata.insert("attributes".to_owned(), Value::Object(attributes));
    }
    if !view.resource.is_empty() {
        metadata.insert(
            "resourceAttributes".to_owned(),
            Value::Object(view.resource.as_map().clone()),
        );
    }
    let mut scope = Map::new();
    scope.insert("name".to_owned(), Value::String(view.scope_name.to_owned()));
    scope.insert(
        "version".to_owned(),
        if view.scope_version.is_empty() {
            Value::Null
        } else {
            Value::String(view.scope_version.to_owned())
        },
    );
    scope.insert(
        "attributes".to_owned(),
        Value::Object(view.scope_attributes.as_map().clone()),
    );
    metadata.insert("scope".to_owned(), Value::Object(scope));
    metadata
}

/// The trace-level attributes of one span.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct TraceAttributes {
    pub(crate) name: Option<String>,
    pub(crate) user_id: Option<String>,
    pub(crate) session_id: Option<String>,
    pub(crate) tags: Option<Vec<String>>,
    pub(crate) public: Option<bool>,
    /// Resource and span `langfuse.trace.metadata*`.
    pub(crate) metadata: Map<String, Value>,
    pub(crate) input: Option<Value>,
    pub(crate) output: Option<Value>,
    /// Whether the span itself carries any trace attribute (then it updates the trace).
    pub(crate) present: bool,
}

const USER_ID_KEYS: [&str; 2] = ["langfuse.user.id", "user.id"];
const USER_ID_METADATA_KEYS: [&str; 4] = [
    "langfuse.observation.metadata.langfuse_user_id",
    "langfuse.trace.metadata.langfuse_user_id",
    "langfuse.metadata.langfuse_user_id",
    "ai.telemetry.metadata.userId",
];
const SESSION_ID_KEYS: [&str; 3] = [
    "langfuse.session.id",
    "session.id",
    "gen_ai.conversation.id",
];
const SESSION_ID_METADATA_KEYS: [&str; 4] = [
    "langfuse.observation.metadata.langfuse_session_id",
    "langfuse.trace.metadata.langfuse_session_id",
    "langfuse.metadata.langfuse_session_id",
    "ai.telemetry.metadata.sessionId",
];
const TAG_KEYS: [&str; 7] = [
    "langfuse.trace.tags",
    "langfuse.tags",
    "langfuse.observation.metadata.langfuse_tags",
    "langfuse.trace.metadata.langfuse_tags",
    "langfuse.metadata.langfuse_tags",
    "ai.telemetry.metadata.tags",
    "tag.tags",
];
const OTHER_TRACE_KEYS: [&str; 5] = [
    "langfuse.trace.name",
    "langfuse.trace.public",
    "langfuse.public",
    "langfuse.trace.input",
    "langfuse.trace.output",
];

/// Reads the trace-level attributes of a span (and the resource's trace metadata).
pub(crate) fn trace_attributes(view: &SpanView<'_>) -> TraceAttributes {
    let attributes = view.attr();
    let metadata_text = |keys: &[&str]| {
        keys.iter().find_map(|key| {
            let value = decode_metadata_value(attributes.non_empty(key)?);
            is_non_empty(&value).then(|| stringify(&value))
        })
    };
    let user_id = attributes
        .first_text(&USER_ID_KEYS)
        .or_else(|| metadata_text(&USER_ID_METADATA_KEYS));
    let session_id = attributes
        .first_text(&SESSION_ID_KEYS)
        .or_else(|| metadata_text(&SESSION_ID_METADATA_KEYS));
    let tags = TAG_KEYS
        .iter()
        .find_map(|key| attributes.non_empty(key))
        .map(parse_tags)
        .filter(|tags| !tags.is_empty());
    let public = ["langfuse.trace.public", "langfuse.public"]
        .iter()
        .find(|key| attributes.get(key).is_some())
        .map(|key| attributes.flag(key));
    let present = [
        &USER_ID_KEYS[..],
        &USER_ID_METADATA_KEYS,
        &SESSION_ID_KEYS,
        &SESSION_ID_METADATA_KEYS,
        &TAG_KEYS,
        &OTHER_TRACE_KEYS,
    ]
    .concat()
    .iter()
    .any(|key| attributes.get(key).is_some())
        || attributes
            .iter()
            .any(|(key, _)| has_prefix(key, TRACE_METADATA));
    TraceAttributes {
        name: attributes.text("langfuse.trace.name"),
        user_id,
        session_id,
        tags,
        public,
        metadata: trace_metadata(view, true),
        input: attributes.json("langfuse.trace.input"),
        output: attributes.json("langfuse.trace.output"),
        present,
    }
}

/// Tags from an array, a JSON array string, a comma-separated string or a single string.
pub(crate) fn parse_tags(value: &Value) -> Vec<String> {
    let mut tags: Vec<String> = match value {
        Value::Array(items) => items
            .iter()
            .map(|item| stringify(item).trim().to_owned())
            .collect(),
        Value::String(text) => {
            let trimmed = text.trim();
            match serde_json::from_str::<Value>(trimmed) {
                Ok(parsed @ (Value::Array(_) | Value::String(_))) => return parse_tags(&parsed),
                _ if trimmed.contains(',') => trimmed
                    .split(',')
                    .map(|tag| tag.trim().to_owned())
                    .collect(),
                _ => vec![trimmed.to_owned()],
            }
        }
        Value::Null => Vec::new(),
        other => vec![stringify(other)],
    };
    tags.retain(|tag| !tag.is_empty());
    let mut seen = std::collections::HashSet::new();
    tags.retain(|tag| seen.insert(tag.clone()));
    tags
}
