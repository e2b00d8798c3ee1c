//! OTLP attribute values as JSON (ingestion spec §3.2) and a read-only view of one span
//! with its resource and instrumentation scope, which every mapping rule reads from.

use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::Span;
use serde_json::{Map, Number, Value};

/// Converts an attribute value to JSON: strings, booleans, integers and doubles as
/// themselves (non-finite doubles as the strings `NaN`, `Infinity`, `-Infinity`), arrays
/// recursively, and anything else (key-value lists, bytes) as the JSON text of the
/// OTLP/JSON form of the value. An empty value is `null`.
pub(crate) fn any_value_to_json(value: &AnyValue) -> Value {
    match &value.value {
        None | Some(Any::StringValueStrindex(_)) => Value::Null,
        Some(Any::StringValue(text)) => Value::String(text.clone()),
        Some(Any::BoolValue(flag)) => Value::Bool(*flag),
        Some(Any::IntValue(number)) => Value::from(*number),
        Some(Any::DoubleValue(number)) => double_to_json(*number),
        Some(Any::ArrayValue(array)) => {
            Value::Array(array.values.iter().map(any_value_to_json).collect())
        }
        Some(Any::KvlistValue(_) | Any::BytesValue(_)) => {
            Value::String(serde_json::to_string(value).unwrap_or_default())
        }
    }
}

fn double_to_json(number: f64) -> Value {
    match Number::from_f64(number) {
        Some(number) => Value::Number(number),
        None if number.is_nan() => Value::String("NaN".to_owned()),
        None if number > 0.0 => Value::String("Infinity".to_owned()),
        None => Value::String("-Infinity".to_owned()),
    }
}

/// Not null, not `""`, not `[]`, not `{}` (Langfuse's "non-empty").
pub(crate) fn is_non_empty(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(text) => !text.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(object) => !object.is_empty(),
        _ => true,
    }
}

/// Strings that hold JSON become that JSON; other strings stay strings; other values
/// are returned as they are.
pub(crate) fn parse_json_lenient(value: &Value) -> Value {
    match value {
        Value::String(text) => serde_json::from_str(text).unwrap_or_else(|_| value.clone()),
        other => other.clone(),
    }
}

/// Strings as they are, everything else as its JSON text.
pub(crate) fn stringify(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// The attributes of a span, event, resource or scope, in wire order; a repeated key
/// keeps its last value.
#[derive(Debug, Clone, Default)]
pub(crate) struct Attributes {
    map: Map<String, Value>,
}

impl Attributes {
    pub(crate) fn from_key_values(key_values: &[KeyValue]) -> Self {
        let mut map = Map::new();
        for key_value in key_values {
            let value = key_value
                .value
                .as_ref()
                .map(any_value_to_json)
                .unwrap_or(Value::Null);
            map.insert(key_value.key.clone(), value);
        }
        Attributes { map }
    }

    #[cfg(test)]
    pub(crate) fn from_json(map: Map<String, Value>) -> Self {
        Attributes { map }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.map.iter()
    }

    pub(crate) fn as_map(&self) -> &Map<String, Value> {
        &self.map
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The value of `key` unless it is null.
    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key).filter(|value| !value.is_null())
    }

    /// The value of `key` if it is non-empty.
    pub(crate) fn non_empty(&self, key: &str) -> Option<&Value> {
        self.map.get(key).filter(|value| is_non_empty(value))
    }

    pub(crate) fn has_non_empty(&self, key: &str) -> bool {
        self.non_empty(key).is_some()
    }

    /// A non-empty string value of `key`.
    pub(crate) fn str(&self, key: &str) -> Option<&str> {
        self.map
            .get(key)
            .and_then(Value::as_str)
            .filter(|text| !text.is_empty())
    }

    /// A non-empty value of `key` as text (non-strings as their JSON text).
    pub(crate) fn text(&self, key: &str) -> Option<String> {
        self.non_empty(key).map(stringify)
    }

    /// The first of `keys` with a non-empty value, as text.
    pub(crate) fn first_text(&self, keys: &[&str]) -> Option<String> {
        keys.iter().find_map(|key| self.text(key))
    }

    /// A non-empty value of `key`, JSON-parsed if it is a string holding JSON.
    pub(crate) fn json(&self, key: &str) -> Option<Value> {
        self.non_empty(key).map(parse_json_lenient)
    }

    /// The first of `keys` with a non-empty value, JSON-parsed like [`Self::json`].
    pub(crate) fn first_json(&self, keys: &[&str]) -> Option<Value> {
        keys.iter().find_map(|key| self.json(key))
    }

    /// `true` for the boolean `true` and the string `"true"` (any case).
    pub(crate) fn flag(&self, key: &str) -> bool {
        match self.map.get(key) {
            Some(Value::Bool(flag)) => *flag,
            Some(Value::String(text)) => text.eq_ignore_ascii_case("true"),
            _ => false,
        }
    }

    /// A number (or numeric string) value of `key`.
    pub(crate) fn number(&self, key: &str) -> Option<f64> {
        match self.map.get(key)? {
            Value::Number(number) => number.as_f64(),
            Value::String(text) => text.trim().parse().ok(),
            _ => None,
        }
    }
}

/// One span with everything around it that the mapping rules look at.
pub(crate) struct SpanView<'a> {
    pub(crate) span: &'a Span,
    pub(crate) attributes: Attributes,
    pub(crate) resource: &'a Attributes,
    pub(crate) scope_name: &'a str,
    pub(crate) scope_version: &'a str,
    pub(crate) scope_attributes: &'a Attributes,
    pub(crate) events: Vec<(String, Attributes)>,
}

impl<'a> SpanView<'a> {
    pub(crate) fn new(
        span: &'a Span,
        resource: &'a Attributes,
        scope_name: &'a str,
        scope_version: &'a str,
        scope_attributes: &'a Attributes,
    ) -> Self {
        SpanView {
            span,
            attributes: Attributes::from_key_values(&span.attributes),
            resource,
            scope_name,
            scope_version,
            scope_attributes,
            events: span
                .events
                .iter()
                .map(|event| {
                    (
                        event.name.clone(),
                        Attributes::from_key_values(&event.attributes),
                    )
                })
                .collect(),
        }
    }

    pub(crate) fn attr(&self) -> &Attributes {
        &self.attributes
    }

    /// Whether the instrumentation scope is one of the Langfuse SDKs.
    pub(crate) fn is_langfuse_sdk(&self) -> bool {
        self.scope_name.starts_with("langfuse-sdk")
    }

    pub(crate) fn status_code(&self) -> i32 {
        self.span.status.as_ref().map_or(0, |status| status.code)
    }

    pub(crate) fn status_message(&self) -> Option<&str> {
        self.span
            .status
            .as_ref()
            .map(|status| status.message.as_str())
            .filter(|message| !message.is_empty())
    }

    /// The attributes of the span events called `name`, in order.
    pub(crate) fn events_named<'s>(
        &'s self,
        name: &'s str,
    ) -> impl Iterator<Item = &'s Attributes> {
        self.events
            .iter()
            .filter(move |(event_name, _)| event_name == name)
            .map(|(_, attributes)| attributes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};
    use serde_json::json;

    fn any(value: Any) -> AnyValue {
        AnyValue { value: Some(value) }
    }

    #[test]
    fn converts_every_value_kind() {
        assert_eq!(
            any_value_to_json(&any(Any::StringValue("a".into()))),
            json!("a")
        );
        assert_eq!(any_value_to_json(&any(Any::BoolValue(true))), json!(true));
        assert_eq!(any_value_to_json(&any(Any::IntValue(-7))), json!(-7));
        assert_eq!(any_value_to_json(&any(Any::DoubleValue(0.5))), json!(0.5));
        assert_eq!(
            any_value_to_json(&any(Any::DoubleValue(f64::NAN))),
            json!("NaN")
        );
        assert_eq!(
            any_value_to_json(&any(Any::DoubleValue(f64::NEG_INFINITY))),
            json!("-Infinity")
        );
        let array = any(Any::ArrayValue(ArrayValue {
            values: vec![any(Any::StringValue("x".into())), any(Any::IntValue(2))],
        }));
        assert_eq!(any_value_to_json(&array), json!(["x", 2]));
        let kvlist = any(Any::KvlistValue(KeyValueList {
            values: vec![KeyValue {
                key: "k".into(),
                value: Some(any(Any::StringValue("v".into()))),
                ..Default::default()
            }],
        }));
        let text = any_value_to_json(&kvlist);
        let parsed: Value = serde_json::from_str(text.as_str().unwrap()).unwrap();
        assert!(parsed.get("kvlistValue").is_some(), "{parsed}");
        let bytes = any_value_to_json(&any(Any::BytesValue(vec![1, 2])));
        assert!(bytes.as_str().unwrap().contains("bytesValue"));
        assert_eq!(any_value_to_json(&AnyValue { value: None }), Value::Null);
    }

    #[test]
    fn getters() {
        let attributes = Attributes::from_json(
            json!({"s": "x", "e": "", "j": "{\"a\":1}", "n": 3, "b": "TRUE", "a": []})
                .as_object()
                .unwrap()
                .clone(),
        );
        assert_eq!(attributes.str("s"), Some("x"));
        assert_eq!(attributes.str("e"), None);
        assert_eq!(attributes.text("n").as_deref(), Some("3"));
        assert_eq!(attributes.json("j"), Some(json!({"a": 1})));
        assert_eq!(attributes.json("s"), Some(json!("x")));
        assert!(attributes.flag("b"));
        assert!(!attributes.has_non_empty("a"));
        assert_eq!(
            attributes.first_text(&["e", "missing", "s"]).as_deref(),
            Some("x")
        );
        assert_eq!(attributes.number("n"), Some(3.0));
    }
}
