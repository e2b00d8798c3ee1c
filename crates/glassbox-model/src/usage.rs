//! Usage and cost normalisation (ingestion spec §1.5) and the derivation of the stored
//! usage and cost from what the client provided (§1.8, without model prices; price-based
//! inference plugs in after `derive_usage`).

use serde_json::{Map, Number, Value};

/// Normalises a `usageDetails` value: OpenAI Chat Completions and Responses usage objects
/// become `input`/`output`/`total` plus `input_<detail>`/`output_<detail>` keys with the
/// details subtracted from the base counts; any other object keeps only non-negative
/// integer values (numeric strings parsed). `None` when nothing is left.
pub fn normalize_usage_details(value: &Value) -> Option<Map<String, Value>> {
    let object = value.as_object()?;
    let openai_shapes = [
        (
            "prompt_tokens",
            "completion_tokens",
            "prompt_tokens_details",
            "completion_tokens_details",
        ),
        (
            "input_tokens",
            "output_tokens",
            "input_tokens_details",
            "output_tokens_details",
        ),
    ];
    for (input_key, output_key, input_details_key, output_details_key) in openai_shapes {
        let allowed = [
            input_key,
            output_key,
            "total_tokens",
            input_details_key,
            output_details_key,
        ];
        let is_shape = object.contains_key(input_key)
            && object.contains_key(output_key)
            && object.contains_key("total_tokens")
            && object.keys().all(|key| allowed.contains(&key.as_str()));
        if is_shape {
            return Some(openai_usage(
                object,
                input_key,
                output_key,
                input_details_key,
                output_details_key,
            ));
        }
    }
    let mut result = Map::new();
    for (key, value) in object {
        if let Some(count) = non_negative_integer(value) {
            result.insert(key.clone(), Value::from(count));
        }
    }
    anthropic_cache_creation(object, &mut result);
    (!result.is_empty()).then_some(result)
}

/// Anthropic's `cache_creation: {ephemeral_5m_input_tokens, ephemeral_1h_input_tokens}`
/// splits the cache writes by lifetime (priced differently); Langfuse drops the nested
/// object, glassbox keeps the parts as `input_cache_creation_5m` / `_1h`.
fn anthropic_cache_creation(object: &Map<String, Value>, result: &mut Map<String, Value>) {
    let Some(details) = object.get("cache_creation").and_then(Value::as_object) else {
        return;
    };
    for (source, target) in [
        ("ephemeral_5m_input_tokens", "input_cache_creation_5m"),
        ("ephemeral_1h_input_tokens", "input_cache_creation_1h"),
    ] {
        if let Some(count) = details.get(source).and_then(non_negative_integer) {
            result.insert(target.to_owned(), Value::from(count));
        }
    }
}

fn openai_usage(
    object: &Map<String, Value>,
    input_key: &str,
    output_key: &str,
    input_details_key: &str,
    output_details_key: &str,
) -> Map<String, Value> {
    let mut result = Map::new();
    let mut add_details = |details_key: &str, prefix: &str| -> i64 {
        let mut subtracted = 0;
        if let Some(details) = object.get(details_key).and_then(Value::as_object) {
            for (key, value) in details {
                if let Some(count) = non_negative_integer(value) {
                    result.insert(format!("{prefix}_{key}"), Value::from(count));
                    subtracted += count;
                }
            }
        }
        subtracted
    };
    let input_details = add_details(input_details_key, "input");
    let output_details = add_details(output_details_key, "output");
    let base = |key: &str| object.get(key).and_then(non_negative_integer).unwrap_or(0);
    result.insert(
        "input".into(),
        Value::from((base(input_key) - input_details).max(0)),
    );
    result.insert(
        "output".into(),
        Value::from((base(output_key) - output_details).max(0)),
    );
    if let Some(total) = object.get("total_tokens").and_then(non_negative_integer) {
        result.insert("total".into(), Value::from(total));
    }
    result
}

fn non_negative_integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(number) => {
            if let Some(integer) = number.as_i64() {
                (integer >= 0).then_some(integer)
            } else {
                let float = number.as_f64()?;
                (float >= 0.0 && float.fract() == 0.0 && float < 9.0e18).then_some(float as i64)
            }
        }
        Value::String(text) => {
            let digits: String = text
                .trim()
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse::<i64>().ok()
        }
        _ => None,
    }
}

fn non_negative_number(value: &Value) -> Option<f64> {
    value
        .as_f64()
        .filter(|number| *number >= 0.0 && number.is_finite())
}

/// Normalises `costDetails`: only non-negative numbers are kept.
pub fn normalize_cost_details(value: &Value) -> Option<Map<String, Value>> {
    let object = value.as_object()?;
    let result: Map<String, Value> = object
        .iter()
        .filter_map(|(key, value)| Some((key.clone(), number_value(non_negative_number(value)?))))
        .collect();
    (!result.is_empty()).then_some(result)
}

fn number_value(number: f64) -> Value {
    Number::from_f64(number)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// The usage the client provided: legacy `usage` (camel OpenAI or Langfuse shape) overlaid
/// by normalised `usageDetails`.
pub fn provided_usage(
    usage: Option<&Value>,
    usage_details: Option<&Map<String, Value>>,
) -> Map<String, Value> {
    let mut result = Map::new();
    if let Some(usage) = usage.and_then(Value::as_object) {
        let pick = |keys: &[&str]| {
            keys.iter()
                .find_map(|key| usage.get(*key).and_then(non_negative_integer))
        };
        let input = pick(&["input", "promptTokens"]);
        let output = pick(&["output", "completionTokens"]);
        let total = pick(&["total", "totalTokens"])
            .filter(|total| *total > 0)
            .or_else(|| {
                if usage_details.is_some() {
                    None
                } else {
                    match (input, output) {
                        (Some(input), Some(output)) => Some(input + output),
                        (input, output) => input.or(output),
                    }
                }
            });
        for (key, count) in [("input", input), ("output", output), ("total", total)] {
            if let Some(count) = count {
                result.insert(key.to_owned(), Value::from(count));
            }
        }
    }
    if let Some(details) = usage_details {
        for (key, value) in details {
            result.insert(key.clone(), value.clone());
        }
    }
    result
}

/// The cost the client provided: legacy `usage.{input,output,total}Cost` overlaid by
/// normalised `costDetails`.
pub fn provided_cost(
    usage: Option<&Value>,
    cost_details: Option<&Map<String, Value>>,
) -> Map<String, Value> {
    let mut result = Map::new();
    if let Some(usage) = usage.and_then(Value::as_object) {
        for (wire_key, key) in [
            ("inputCost", "input"),
            ("outputCost", "output"),
            ("totalCost", "total"),
        ] {
            if let Some(cost) = usage.get(wire_key).and_then(non_negative_number) {
                result.insert(key.to_owned(), number_value(cost));
            }
        }
    }
    if let Some(details) = cost_details {
        for (key, value) in details {
            result.insert(key.clone(), value.clone());
        }
    }
    result
}

/// Stored usage: the provided usage, with `total` = the sum of every provided key when
/// the client gave no total.
pub fn derive_usage(provided: &Map<String, Value>) -> Map<String, Value> {
    let mut usage = provided.clone();
    if !usage.is_empty() && !usage.contains_key("total") {
        let sum: i64 = usage.values().filter_map(Value::as_i64).sum();
        usage.insert("total".to_owned(), Value::from(sum));
    }
    usage
}

/// Stored cost from the provided cost: the details as given, and the total as given or
/// the sum of the input and output costs.
pub fn derive_cost(provided: &Map<String, Value>) -> (Map<String, Value>, Option<f64>) {
    if provided.is_empty() {
        return (Map::new(), None);
    }
    let mut cost = provided.clone();
    let total = match cost.get("total").and_then(Value::as_f64) {
        Some(total) => Some(total),
        None => {
            let parts: Vec<f64> = ["input", "output"]
                .iter()
                .filter_map(|key| cost.get(*key).and_then(Value::as_f64))
                .collect();
            if parts.is_empty() {
                None
            } else {
                let sum: f64 = parts.iter().sum();
                cost.insert("total".to_owned(), number_value(sum));
                Some(sum)
            }
        }
    };
    (cost, total)
}

/// Sum of the usage (or cost) keys whose name contains `needle` (case-insensitive),
/// the reduction Langfuse uses for `promptTokens`, `calculatedInputCost` and friends.
pub fn sum_keys_containing(map: &Map<String, Value>, needle: &str) -> Option<f64> {
    let mut found = false;
    let mut sum = 0.0;
    for (key, value) in map {
        if key.to_lowercase().contains(needle) {
            if let Some(number) = value.as_f64() {
                found = true;
                sum += number;
            }
        }
    }
    found.then_some(sum)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn openai_chat_usage_subtracts_details() {
        let usage = json!({"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150,
            "prompt_tokens_details": {"cached_tokens": 30, "audio_tokens": null},
            "completion_tokens_details": {"reasoning_tokens": 20}});
        assert_eq!(
            Value::Object(normalize_usage_details(&usage).unwrap()),
            json!({"input_cached_tokens": 30, "output_reasoning_tokens": 20, "input": 70, "output": 30, "total": 150})
        );
    }

    #[test]
    fn openai_responses_usage() {
        let usage = json!({"input_tokens": 10, "output_tokens": 5, "total_tokens": 15,
            "input_tokens_details": {"cached_tokens": 4}});
        let normalized = normalize_usage_details(&usage).unwrap();
        assert_eq!(normalized["input"], json!(6));
        assert_eq!(normalized["input_cached_tokens"], json!(4));
    }

    #[test]
    fn generic_usage_keeps_non_negative_integers() {
        let usage = json!({"input": 3, "output": "7", "bad": -1, "x": "abc", "f": 1.5});
        assert_eq!(
            Value::Object(normalize_usage_details(&usage).unwrap()),
            json!({"input": 3, "output": 7})
        );
        assert!(normalize_usage_details(&json!({})).is_none());
    }

    #[test]
    fn legacy_usage_shapes() {
        let camel = json!({"promptTokens": 3, "completionTokens": 4, "totalTokens": 7});
        assert_eq!(
            Value::Object(provided_usage(Some(&camel), None)),
            json!({"input": 3, "output": 4, "total": 7})
        );
        let no_total = json!({"input": 3, "output": 2, "unit": "TOKENS"});
        assert_eq!(
            Value::Object(provided_usage(Some(&no_total), None)),
            json!({"input": 3, "output": 2, "total": 5})
        );
        let details = object(json!({"input": 10, "output": 5, "cache_read_input_tokens": 2}));
        let merged = provided_usage(
            Some(&json!({"input": 10, "output": 5, "total": 15})),
            Some(&details),
        );
        assert_eq!(
            Value::Object(merged),
            json!({"input": 10, "output": 5, "total": 15, "cache_read_input_tokens": 2})
        );
    }

    #[test]
    fn derived_totals() {
        let usage = derive_usage(&object(
            json!({"input": 10, "input_cached_tokens": 2, "output": 5}),
        ));
        assert_eq!(usage["total"], json!(17));
        let (cost, total) = derive_cost(&object(json!({"input": 0.5, "output": 0.25})));
        assert_eq!(total, Some(0.75));
        assert_eq!(cost["total"], json!(0.75));
        let (_, total) = derive_cost(&object(json!({"total": 0.001})));
        assert_eq!(total, Some(0.001));
    }
}
