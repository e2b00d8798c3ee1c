//! Usage and cost inference for one observation (ingestion spec §1.8): the usage that is
//! billed, the tier that prices it and the cost. Runs after the merge, with the model the
//! store matched.
//!
//! One rule goes beyond Langfuse: usage keys that count the same tokens twice are resolved
//! before they are stored or priced ([`resolve_overlaps`]). Providers report cached, cache
//! write and reasoning tokens in different ways (OpenAI and Gemini include cached tokens in
//! the prompt count, Anthropic does not; SDKs flatten them differently), and Langfuse bills
//! every key as a separate bucket, so a count included in `input` is paid twice.

use serde_json::{Map, Number, Value};

use crate::Observation;
use crate::models::{ModelDefinition, select_tier};
use crate::usage::derive_cost;

/// Keys that name the same quantity; when two of one group carry the same count, only the
/// first present is kept.
const ALIAS_GROUPS: [&[&str]; 5] = [
    &[
        "input",
        "input_tokens",
        "prompt_tokens",
        "prompt_token_count",
        "promptTokenCount",
    ],
    &[
        "output",
        "output_tokens",
        "completion_tokens",
        "candidates_token_count",
        "candidatesTokenCount",
    ],
    &[
        "input_cached_tokens",
        "input_cache_read",
        "cache_read_input_tokens",
        "cached_content_token_count",
        "cachedContentTokenCount",
    ],
    &[
        "input_cache_creation",
        "cache_creation_input_tokens",
        "input_cache_write",
        "cache_write_tokens",
    ],
    &[
        "output_reasoning_tokens",
        "output_reasoning",
        "reasoning_tokens",
        "thoughts_token_count",
        "thoughtsTokenCount",
    ],
];

const TOTAL_KEYS: [&str; 4] = [
    "total",
    "total_tokens",
    "total_token_count",
    "totalTokenCount",
];
const INPUT_BASE: &[&str] = ALIAS_GROUPS[0];
const OUTPUT_BASE: &[&str] = ALIAS_GROUPS[1];
/// Aggregate cache-write counts and their 5-minute / 1-hour parts.
const CACHE_WRITE_AGGREGATES: [&str; 4] = [
    "input_cache_creation",
    "cache_creation_input_tokens",
    "input_cache_write",
    "cache_write_tokens",
];
const CACHE_WRITE_PARTS: [&str; 2] = ["input_cache_creation_5m", "input_cache_creation_1h"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Input,
    Output,
    /// Not a token count of either side (web search queries, requests...).
    Other,
}

fn side(key: &str) -> Side {
    let lower = key.to_lowercase();
    if [
        "output",
        "completion",
        "candidates",
        "reasoning",
        "thoughts",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
    {
        Side::Output
    } else if ["input", "prompt", "cache"]
        .iter()
        .any(|needle| lower.contains(needle))
    {
        Side::Input
    } else {
        Side::Other
    }
}

fn count(map: &Map<String, Value>, key: &str) -> Option<i64> {
    map.get(key).and_then(Value::as_i64)
}

/// Usage without double counting:
/// 1. aliases of one quantity with equal counts are kept once (`input_cache_read` next to
///    `cache_read_input_tokens`);
/// 2. an aggregate cache-write count next to its 5-minute/1-hour parts keeps only what the
///    parts do not cover;
/// 3. when the reported total is smaller than the sum of the counts, the breakdown keys
///    that make up the difference are taken as included in their base count (`input` or
///    `output`) and subtracted from it: OpenAI-style `input` that includes cached tokens;
///    without a total, Gemini's prompt count, which includes cached content by definition.
///
/// The result always has the same total as the client reported.
pub fn resolve_overlaps(provided: &Map<String, Value>) -> Map<String, Value> {
    let mut usage = provided.clone();
    for group in ALIAS_GROUPS {
        let present: Vec<&str> = group
            .iter()
            .copied()
            .filter(|key| usage.contains_key(*key))
            .collect();
        for (index, key) in present.iter().enumerate().skip(1) {
            let value = count(&usage, key);
            if present[..index]
                .iter()
                .any(|earlier| usage.contains_key(*earlier) && count(&usage, earlier) == value)
            {
                usage.remove(*key);
            }
        }
    }
    let parts: i64 = CACHE_WRITE_PARTS
        .iter()
        .filter_map(|key| count(&usage, key))
        .sum();
    if CACHE_WRITE_PARTS.iter().any(|key| usage.contains_key(*key)) {
        for key in CACHE_WRITE_AGGREGATES {
            if let Some(aggregate) = count(&usage, key) {
                let rest = aggregate - parts;
                if rest > 0 {
                    usage.insert(key.to_owned(), Value::from(rest));
                } else {
                    usage.remove(key);
                }
            }
        }
    }
    let total = TOTAL_KEYS.iter().find_map(|key| count(&usage, key));
    let input_base = INPUT_BASE
        .iter()
        .find(|key| usage.contains_key(**key))
        .copied();
    let output_base = OUTPUT_BASE
        .iter()
        .find(|key| usage.contains_key(**key))
        .copied();
    let details: Vec<(String, Side, i64)> = usage
        .iter()
        .filter(|(key, _)| {
            !TOTAL_KEYS.contains(&key.as_str())
                && Some(key.as_str()) != input_base
                && Some(key.as_str()) != output_base
        })
        .filter_map(|(key, value)| Some((key.clone(), side(key), value.as_i64()?)))
        .filter(|(_, side, count)| *side != Side::Other && *count > 0)
        .collect();
    let base = |key: Option<&str>| key.and_then(|key| count(&usage, key)).unwrap_or(0);
    let (input, output) = (base(input_base), base(output_base));
    let included: Option<Vec<usize>> = match total {
        Some(total) => {
            let sum = input + output + details.iter().map(|(_, _, count)| count).sum::<i64>();
            let excess = sum - total;
            (excess > 0)
                .then(|| included_subset(&details, excess, input, output))
                .flatten()
        }
        None => {
            // Gemini: promptTokenCount includes cachedContentTokenCount.
            let gemini_prompt =
                matches!(input_base, Some("prompt_token_count" | "promptTokenCount"));
            gemini_prompt.then(|| {
                details
                    .iter()
                    .enumerate()
                    .filter(|(_, (key, _, _))| {
                        matches!(
                            key.as_str(),
                            "cached_content_token_count" | "cachedContentTokenCount"
                        )
                    })
                    .map(|(index, _)| index)
                    .collect()
            })
        }
    };
    if let Some(indices) = included {
        let (mut input, mut output) = (input, output);
        for index in indices {
            let (_, side, count) = &details[index];
            match side {
                Side::Input => input -= count,
                _ => output -= count,
            }
        }
        if let Some(key) = input_base {
            usage.insert(key.to_owned(), Value::from(input.max(0)));
        }
        if let Some(key) = output_base {
            usage.insert(key.to_owned(), Value::from(output.max(0)));
        }
    }
    usage
}

/// The breakdown keys whose counts add up to `excess` and can be taken out of their base
/// count: every input key, every output key, both, else the smallest subset.
fn included_subset(
    details: &[(String, Side, i64)],
    excess: i64,
    input: i64,
    output: i64,
) -> Option<Vec<usize>> {
    let fits = |indices: &[usize]| {
        let (mut from_input, mut from_output) = (0, 0);
        for index in indices {
            match details[*index].1 {
                Side::Input => from_input += details[*index].2,
                _ => from_output += details[*index].2,
            }
        }
        from_input + from_output == excess && from_input <= input && from_output <= output
    };
    let of_side = |wanted: Option<Side>| -> Vec<usize> {
        (0..details.len())
            .filter(|index| wanted.is_none_or(|side| details[*index].1 == side))
            .collect()
    };
    for candidate in [
        of_side(Some(Side::Input)),
        of_side(Some(Side::Output)),
        of_side(None),
    ] {
        if !candidate.is_empty() && fits(&candidate) {
            return Some(candidate);
        }
    }
    if details.len() > 12 {
        return None;
    }
    let mut masks: Vec<u32> = (1..(1u32 << details.len())).collect();
    masks.sort_by_key(|mask| (mask.count_ones(), *mask));
    masks.into_iter().find_map(|mask| {
        let indices: Vec<usize> = (0..details.len())
            .filter(|i| mask & (1 << i) != 0)
            .collect();
        fits(&indices).then_some(indices)
    })
}

fn number(value: f64) -> Value {
    Number::from_f64(value)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// The stored usage: overlaps resolved, and `total` = the sum of every count when the
/// client sent none.
pub fn stored_usage(provided: &Map<String, Value>) -> Map<String, Value> {
    let mut usage = resolve_overlaps(provided);
    if !usage.is_empty() && !usage.contains_key("total") {
        let total = TOTAL_KEYS
            .iter()
            .find_map(|key| count(&usage, key))
            .unwrap_or_else(|| {
                usage
                    .iter()
                    .filter(|(key, _)| !TOTAL_KEYS.contains(&key.as_str()))
                    .filter_map(|(_, value)| value.as_i64())
                    .sum()
            });
        usage.insert("total".to_owned(), Value::from(total));
    }
    usage
}

/// Cost of `usage` at the tier's prices: `price × units` for each usage key with a price of
/// the same name (`input`/`output` fall back to the text-token price of audio models, whose
/// tiers price text and audio separately). The total is the `total` key's cost when the tier prices `total`, else
/// the sum of the other costs (also written as `total`). Empty when nothing is priced.
pub fn price_usage(
    usage: &Map<String, Value>,
    prices: &[(String, f64)],
) -> (Map<String, Value>, Option<f64>) {
    let mut cost = Map::new();
    for (key, units) in usage {
        let Some(units) = units.as_f64() else {
            continue;
        };
        let fallbacks: &[&str] = match key.as_str() {
            "input" => &["input_text_tokens", "input_text"],
            "output" => &["output_text_tokens", "output_text"],
            _ => &[],
        };
        let price = std::iter::once(key.as_str())
            .chain(fallbacks.iter().copied())
            .find_map(|name| prices.iter().find(|(priced, _)| priced == name));
        if let Some((_, price)) = price {
            cost.insert(key.clone(), number(price * units));
        }
    }
    if cost.is_empty() {
        return (cost, None);
    }
    let total = match cost.get("total").and_then(Value::as_f64) {
        Some(total) => total,
        None => {
            let sum: f64 = cost.values().filter_map(Value::as_f64).sum();
            cost.insert("total".to_owned(), number(sum));
            sum
        }
    };
    (cost, Some(total))
}

/// Counts the tokens of a generation's input or output with the model's tokenizer;
/// `None` when the model's tokenizer is not available.
pub type TokenCounter<'a> = &'a dyn Fn(&ModelDefinition, &Value) -> Option<i64>;

/// The tier chosen for an observation, for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChosenTier {
    pub id: String,
    pub name: String,
}

/// Sets the matched model id, the stored usage (tokenised when the client sent neither
/// usage nor cost), and the cost (the client's cost wins; else the matched model's prices).
pub fn infer_usage_and_cost(
    observation: &mut Observation,
    model: Option<&ModelDefinition>,
    count_tokens: TokenCounter<'_>,
) -> Option<ChosenTier> {
    observation.internal_model_id = model.map(|model| model.id.clone());
    let provided_cost = !observation.provided_cost_details.is_empty();
    let mut usage = stored_usage(&observation.provided_usage_details);
    if let Some(model) = model
        && usage.is_empty()
        && !provided_cost
        && observation.level != "ERROR"
    {
        let input = observation
            .input
            .as_ref()
            .and_then(|input| count_tokens(model, input));
        let output = observation
            .output
            .as_ref()
            .and_then(|output| count_tokens(model, output));
        if let Some(input) = input {
            usage.insert("input".into(), Value::from(input));
        }
        if let Some(output) = output {
            usage.insert("output".into(), Value::from(output));
        }
        if input.is_some() || output.is_some() {
            usage.insert(
                "total".into(),
                Value::from(input.unwrap_or(0) + output.unwrap_or(0)),
            );
        }
    }
    observation.usage_details = usage;
    let (cost, total) = derive_cost(&observation.provided_cost_details);
    observation.cost_details = cost;
    observation.total_cost = total;
    if provided_cost {
        return None;
    }
    let model = model?;
    let tier = select_tier(
        model,
        &observation.usage_details,
        observation.model_parameters.as_ref(),
        &observation.metadata,
    )?;
    let (cost, total) = price_usage(&observation.usage_details, &tier.prices);
    observation.cost_details = cost;
    observation.total_cost = total;
    Some(ChosenTier {
        id: tier.id.clone(),
        name: tier.name.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn inclusive_input_is_detected_from_the_total() {
        // OpenRouter through a wrapper: input includes the cached tokens.
        let usage = resolve_overlaps(&map(
            json!({"input": 17903, "output": 100, "total": 18003, "input_cached_tokens": 17817}),
        ));
        assert_eq!(usage["input"], json!(86));
        assert_eq!(usage["input_cached_tokens"], json!(17817));
        // Already exclusive: nothing changes.
        let exclusive =
            map(json!({"input": 86, "output": 100, "total": 18003, "input_cached_tokens": 17817}));
        assert_eq!(resolve_overlaps(&exclusive), exclusive);
    }

    #[test]
    fn gemini_prompt_includes_cached_content() {
        let with_total = resolve_overlaps(&map(json!({"prompt_token_count": 1000,
            "cached_content_token_count": 400, "candidates_token_count": 50,
            "thoughts_token_count": 30, "total_token_count": 1080})));
        assert_eq!(with_total["prompt_token_count"], json!(600));
        assert_eq!(with_total["candidates_token_count"], json!(50));
        let without_total = resolve_overlaps(&map(json!({"promptTokenCount": 1000,
            "cachedContentTokenCount": 400, "candidatesTokenCount": 50})));
        assert_eq!(without_total["promptTokenCount"], json!(600));
    }

    #[test]
    fn cache_write_aggregate_and_parts() {
        let usage = resolve_overlaps(&map(json!({"input_tokens": 10, "output_tokens": 5,
            "cache_creation_input_tokens": 300, "input_cache_creation_5m": 100,
            "input_cache_creation_1h": 200, "cache_read_input_tokens": 50})));
        assert!(!usage.contains_key("cache_creation_input_tokens"));
        assert_eq!(usage["input_cache_creation_1h"], json!(200));
        assert_eq!(
            usage["input_tokens"],
            json!(10),
            "Anthropic input excludes the cache"
        );
        let aliases = resolve_overlaps(&map(
            json!({"input": 10, "input_cache_read": 7, "cache_read_input_tokens": 7}),
        ));
        assert!(!aliases.contains_key("cache_read_input_tokens"));
    }

    /// The repository's cost vectors, priced with the built-in table (the batch API's
    /// normalisation first, as ingestion does).
    #[test]
    fn cost_vectors() {
        use crate::models::{builtin_models, select_model};
        use crate::usage::{normalize_cost_details, normalize_usage_details, provided_usage};
        let file: Value =
            serde_json::from_str(include_str!("../../../testdata/cost-vectors/vectors.json"))
                .unwrap();
        for vector in file["vectors"].as_array().unwrap() {
            let name = vector["name"].as_str().unwrap();
            let raw = vector
                .get("usageDetails")
                .or(vector.get("otlpUsageDetails"))
                .unwrap();
            let details = normalize_usage_details(raw);
            let mut observation = crate::merge::fold_observation(
                "o",
                &[crate::ingest::LoggedEvent {
                    event: crate::ingest::IngestEvent {
                        event_id: "e".into(),
                        event_type: "generation-create".into(),
                        timestamp: 0,
                        kind: crate::ingest::EntityKind::Observation,
                        entity_id: "o".into(),
                        body: map(json!({"model": vector["model"], "modelParameters": vector.get("modelParameters")})),
                        snapshot: false,
                    },
                    received_at: 0,
                    sequence: 1,
                }],
            )
            .unwrap();
            observation.provided_usage_details = provided_usage(None, details.as_ref());
            observation.provided_cost_details = vector
                .get("providedCostDetails")
                .and_then(normalize_cost_details)
                .unwrap_or_default();
            let model = select_model(
                builtin_models().iter(),
                vector["model"].as_str().unwrap(),
                0,
            );
            infer_usage_and_cost(&mut observation, model.map(|m| m.as_ref()), &|_, _| None);
            assert_eq!(
                Value::Object(observation.usage_details.clone()),
                vector["usage"],
                "{name}: usage"
            );
            let expected = vector["costDetails"].as_object().unwrap();
            assert_eq!(
                observation
                    .cost_details
                    .keys()
                    .collect::<std::collections::BTreeSet<_>>(),
                expected.keys().collect(),
                "{name}: cost keys"
            );
            for (key, value) in expected {
                let actual = observation.cost_details[key].as_f64().unwrap();
                assert!(
                    (actual - value.as_f64().unwrap()).abs() < 1e-9,
                    "{name}: {key} = {actual}, expected {value}"
                );
            }
            match vector["totalCost"].as_f64() {
                Some(total) => assert!(
                    (observation.total_cost.unwrap() - total).abs() < 1e-9,
                    "{name}: total"
                ),
                None => assert_eq!(observation.total_cost, None, "{name}: total"),
            }
        }
    }

    #[test]
    fn prices_each_key_and_totals() {
        let prices = vec![("input".to_owned(), 2.0), ("output".to_owned(), 3.0)];
        let (cost, total) = price_usage(
            &map(json!({"input": 10, "output": 1, "total": 11})),
            &prices,
        );
        assert_eq!(total, Some(23.0));
        assert_eq!(cost["total"], json!(23.0));
        let (cost, total) = price_usage(&map(json!({"total": 10})), &[("total".to_owned(), 0.5)]);
        assert_eq!((cost["total"].clone(), total), (json!(5.0), Some(5.0)));
        assert_eq!(
            price_usage(&map(json!({"x": 1})), &prices),
            (Map::new(), None)
        );
    }
}
