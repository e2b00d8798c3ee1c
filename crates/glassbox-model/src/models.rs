//! Model definitions and their prices (data model §6): the built-in definitions shipped in
//! the binary, the checks of a project's own definition, model matching (project
//! definitions first, then the newest start date that is not after the observation) and
//! the choice of a pricing tier.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use regex::{Regex, RegexBuilder};
use serde_json::{Map, Value};

use crate::time::parse_iso_lenient;
use crate::{JsonObject, Micros, ProjectId};

/// The built-in definitions (Langfuse's default price file), compiled into the binary.
const DEFAULT_MODEL_PRICES: &str = include_str!("../data/default-model-prices.json");

/// Units a model may declare (legacy; every API reports usage in `TOKENS`).
pub const MODEL_UNITS: [&str; 6] = [
    "CHARACTERS",
    "TOKENS",
    "MILLISECONDS",
    "SECONDS",
    "IMAGES",
    "REQUESTS",
];

/// Tokenizers a model may name.
pub const TOKENIZERS: [&str; 2] = ["openai", "claude"];

/// Limits of a model definition.
pub const MAX_MODEL_NAME_CHARS: usize = 255;
pub const MAX_PATTERN_CHARS: usize = 1_000;
pub const MAX_TIERS: usize = 50;
pub const MAX_CONDITIONS: usize = 20;
pub const MAX_PRICES: usize = 200;
pub const MAX_USAGE_KEY_CHARS: usize = 200;
pub const MAX_CONDITION_PATTERN_CHARS: usize = 200;
pub const MAX_ATTRIBUTE_VALUES: usize = 100;
/// Largest compiled regex program (bytes); patterns are linear-time, this caps memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Gt,
    Gte,
    Lt,
    Lte,
    Eq,
    Neq,
}

impl CompareOp {
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "gt" => CompareOp::Gt,
            "gte" => CompareOp::Gte,
            "lt" => CompareOp::Lt,
            "lte" => CompareOp::Lte,
            "eq" => CompareOp::Eq,
            "neq" => CompareOp::Neq,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Gt => "gt",
            CompareOp::Gte => "gte",
            CompareOp::Lt => "lt",
            CompareOp::Lte => "lte",
            CompareOp::Eq => "eq",
            CompareOp::Neq => "neq",
        }
    }

    fn holds(self, left: f64, right: f64) -> bool {
        match self {
            CompareOp::Gt => left > right,
            CompareOp::Gte => left >= right,
            CompareOp::Lt => left < right,
            CompareOp::Lte => left <= right,
            CompareOp::Eq => left == right,
            CompareOp::Neq => left != right,
        }
    }
}

/// Where an attribute condition reads its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeSource {
    ModelParameters,
    Metadata,
}

impl AttributeSource {
    pub fn as_str(self) -> &'static str {
        match self {
            AttributeSource::ModelParameters => "model_parameters",
            AttributeSource::Metadata => "metadata",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum TierCondition {
    /// The sum of every usage key matching `pattern`, compared with `value`.
    Usage {
        pattern: String,
        operator: CompareOp,
        value: f64,
        case_sensitive: bool,
    },
    /// The top-level `key` of the model parameters or metadata, stringified, is one of `values`.
    Attribute {
        source: AttributeSource,
        key: String,
        values: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct PricingTier {
    pub id: String,
    pub name: String,
    pub is_default: bool,
    pub priority: i64,
    pub conditions: Vec<TierCondition>,
    /// USD per unit, by usage key, in the order given.
    pub prices: Vec<(String, f64)>,
}

impl PricingTier {
    pub fn price(&self, usage_key: &str) -> Option<f64> {
        self.prices
            .iter()
            .find(|(key, _)| key == usage_key)
            .map(|(_, price)| *price)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelDefinition {
    pub id: String,
    /// `None`: a built-in definition (Langfuse-managed).
    pub project_id: Option<ProjectId>,
    pub model_name: String,
    pub match_pattern: String,
    pub start_date: Option<Micros>,
    pub unit: Option<String>,
    pub tokenizer_id: Option<String>,
    pub tokenizer_config: Option<Value>,
    pub pricing_tiers: Vec<PricingTier>,
    pub created_at: Micros,
    pub updated_at: Micros,
}

impl ModelDefinition {
    pub fn is_builtin(&self) -> bool {
        self.project_id.is_none()
    }

    pub fn default_tier(&self) -> Option<&PricingTier> {
        self.pricing_tiers.iter().find(|tier| tier.is_default)
    }

    /// The legacy flat price of the default tier for `key` (`input`, `output`, `total`).
    pub fn flat_price(&self, key: &str) -> Option<f64> {
        self.default_tier().and_then(|tier| tier.price(key))
    }
}

/// Compiles a model or condition pattern with glassbox's limits. Patterns use the Rust
/// `regex` syntax, which covers the POSIX forms Langfuse's built-ins use (`(?i)^(a|b)$`)
/// and runs in linear time (no catastrophic backtracking).
pub fn compile_pattern(pattern: &str, case_insensitive: bool) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .case_insensitive(case_insensitive)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|error| format!("invalid regular expression: {error}"))
}

/// Compiled patterns by (pattern, case-insensitive), shared by every caller. Bounded:
/// cleared when it grows past a few thousand entries.
fn cached_pattern(pattern: &str, case_insensitive: bool) -> Option<Arc<Regex>> {
    type Cache = Mutex<HashMap<(String, bool), Option<Arc<Regex>>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let key = (pattern.to_owned(), case_insensitive);
    if let Ok(map) = cache.lock()
        && let Some(found) = map.get(&key)
    {
        return found.clone();
    }
    let compiled = compile_pattern(pattern, case_insensitive)
        .ok()
        .map(Arc::new);
    if let Ok(mut map) = cache.lock() {
        if map.len() > 4_096 {
            map.clear();
        }
        map.insert(key, compiled.clone());
    }
    compiled
}

/// Whether the model's pattern matches the observed model string (an unanchored search,
/// as Postgres `~` does; anchors in the pattern decide).
pub fn pattern_matches(pattern: &str, model: &str) -> bool {
    cached_pattern(pattern, false).is_some_and(|regex| regex.is_match(model))
}

/// The built-in definitions, parsed once.
pub fn builtin_models() -> &'static [Arc<ModelDefinition>] {
    static BUILTINS: OnceLock<Vec<Arc<ModelDefinition>>> = OnceLock::new();
    BUILTINS.get_or_init(|| {
        let items: Vec<Value> =
            serde_json::from_str(DEFAULT_MODEL_PRICES).expect("the shipped price file is JSON");
        items
            .iter()
            .map(|item| Arc::new(builtin_from_json(item).expect("the shipped price file is valid")))
            .collect()
    })
}

fn builtin_from_json(item: &Value) -> Result<ModelDefinition, String> {
    let text = |key: &str| item.get(key).and_then(Value::as_str).map(str::to_owned);
    let time = |key: &str| {
        text(key)
            .as_deref()
            .and_then(parse_iso_lenient)
            .unwrap_or_default()
    };
    let tiers = item
        .get("pricingTiers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|tier| {
            let mut parsed = parse_tier(tier)?;
            parsed.id = tier
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            Ok(parsed)
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(ModelDefinition {
        id: text("id").ok_or("id")?,
        project_id: None,
        model_name: text("modelName").ok_or("modelName")?,
        match_pattern: text("matchPattern").ok_or("matchPattern")?,
        start_date: None,
        unit: Some("TOKENS".to_owned()),
        tokenizer_id: text("tokenizerId"),
        tokenizer_config: item
            .get("tokenizerConfig")
            .filter(|v| !v.is_null())
            .cloned(),
        pricing_tiers: tiers,
        created_at: time("createdAt"),
        updated_at: time("updatedAt"),
    })
}

fn non_negative(value: &Value, what: &str) -> Result<f64, String> {
    value
        .as_f64()
        .filter(|number| number.is_finite() && *number >= 0.0)
        .ok_or_else(|| format!("{what} must be a non-negative number"))
}

fn parse_condition(value: &Value) -> Result<TierCondition, String> {
    let object = value
        .as_object()
        .ok_or("each pricing tier condition must be an object")?;
    if let Some(pattern) = object.get("usageDetailPattern") {
        let pattern = pattern
            .as_str()
            .filter(|pattern| !pattern.is_empty())
            .ok_or("usageDetailPattern must be a non-empty string")?;
        if pattern.chars().count() > MAX_CONDITION_PATTERN_CHARS {
            return Err(format!(
                "usageDetailPattern may have at most {MAX_CONDITION_PATTERN_CHARS} characters"
            ));
        }
        let case_sensitive = match object.get("caseSensitive") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(flag)) => *flag,
            Some(_) => return Err("caseSensitive must be a boolean".into()),
        };
        compile_pattern(pattern, !case_sensitive)
            .map_err(|error| format!("usageDetailPattern: {error}"))?;
        let operator = object
            .get("operator")
            .and_then(Value::as_str)
            .and_then(CompareOp::parse)
            .ok_or("operator must be one of gt, gte, lt, lte, eq, neq")?;
        let value = non_negative(
            object.get("value").unwrap_or(&Value::Null),
            "condition value",
        )?;
        return Ok(TierCondition::Usage {
            pattern: pattern.to_owned(),
            operator,
            value,
            case_sensitive,
        });
    }
    let source = match object.get("source").and_then(Value::as_str) {
        Some("model_parameters") => AttributeSource::ModelParameters,
        Some("metadata") => AttributeSource::Metadata,
        _ => {
            return Err(
                "a condition needs usageDetailPattern, or source model_parameters or metadata"
                    .into(),
            );
        }
    };
    let key = object
        .get("key")
        .and_then(Value::as_str)
        .filter(|key| !key.is_empty() && key.chars().count() <= MAX_USAGE_KEY_CHARS)
        .ok_or("an attribute condition needs a key of 1 to 200 characters")?;
    if object.get("operator").and_then(Value::as_str) != Some("in") {
        return Err("an attribute condition's operator must be `in`".into());
    }
    let values = object
        .get("values")
        .and_then(Value::as_array)
        .filter(|values| !values.is_empty() && values.len() <= MAX_ATTRIBUTE_VALUES)
        .ok_or("an attribute condition needs 1 to 100 values")?
        .iter()
        .map(|value| {
            value
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| "attribute condition values must be strings".to_owned())
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(TierCondition::Attribute {
        source,
        key: key.to_owned(),
        values,
    })
}

fn parse_prices(value: Option<&Value>) -> Result<Vec<(String, f64)>, String> {
    let object = value
        .and_then(Value::as_object)
        .ok_or("a pricing tier needs a prices object")?;
    if object.len() > MAX_PRICES {
        return Err(format!("a tier may have at most {MAX_PRICES} prices"));
    }
    object
        .iter()
        .map(|(key, price)| {
            if key.is_empty() || key.chars().count() > MAX_USAGE_KEY_CHARS {
                return Err(format!(
                    "usage types must have 1 to {MAX_USAGE_KEY_CHARS} characters"
                ));
            }
            Ok((
                key.clone(),
                non_negative(price, &format!("price of `{key}`"))?,
            ))
        })
        .collect()
}

fn parse_tier(value: &Value) -> Result<PricingTier, String> {
    let object = value
        .as_object()
        .ok_or("each pricing tier must be an object")?;
    let name = object
        .get("name")
        .and_then(Value::as_str)
        .filter(|name| !name.is_empty() && name.chars().count() <= 100)
        .ok_or("a pricing tier needs a name of 1 to 100 characters")?;
    let is_default = object
        .get("isDefault")
        .and_then(Value::as_bool)
        .ok_or("a pricing tier needs isDefault (boolean)")?;
    let priority = object
        .get("priority")
        .and_then(Value::as_i64)
        .filter(|priority| (0..=999).contains(priority))
        .ok_or("a pricing tier needs an integer priority from 0 to 999")?;
    let conditions = object
        .get("conditions")
        .and_then(Value::as_array)
        .ok_or("a pricing tier needs a conditions array")?;
    if conditions.len() > MAX_CONDITIONS {
        return Err(format!(
            "a tier may have at most {MAX_CONDITIONS} conditions"
        ));
    }
    let conditions = conditions
        .iter()
        .map(parse_condition)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(PricingTier {
        id: String::new(),
        name: name.to_owned(),
        is_default,
        priority,
        conditions,
        prices: parse_prices(object.get("prices"))?,
    })
}

/// Checks the tiers of one model: exactly one default tier with priority 0 and no
/// conditions, unique names and priorities, conditions on every other tier, a price on each.
pub fn check_tiers(tiers: &[PricingTier]) -> Result<(), String> {
    if tiers.len() > MAX_TIERS {
        return Err(format!(
            "a model may have at most {MAX_TIERS} pricing tiers"
        ));
    }
    let defaults: Vec<&PricingTier> = tiers.iter().filter(|tier| tier.is_default).collect();
    if defaults.len() != 1 {
        return Err("pricingTiers must contain exactly one default tier (isDefault: true)".into());
    }
    if defaults[0].priority != 0 || !defaults[0].conditions.is_empty() {
        return Err("the default tier must have priority 0 and no conditions".into());
    }
    for (index, tier) in tiers.iter().enumerate() {
        if !tier.is_default && tier.conditions.is_empty() {
            return Err(format!(
                "pricing tier `{}` needs at least one condition",
                tier.name
            ));
        }
        if tier.prices.is_empty() {
            return Err(format!(
                "pricing tier `{}` needs at least one price",
                tier.name
            ));
        }
        for other in &tiers[..index] {
            if other.name == tier.name {
                return Err(format!(
                    "pricing tier names must be unique: `{}`",
                    tier.name
                ));
            }
            if other.priority == tier.priority {
                return Err(format!(
                    "pricing tier priorities must be unique: {}",
                    tier.priority
                ));
            }
        }
    }
    Ok(())
}

/// A checked `POST /api/public/models` body. Tier ids are left empty for the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct NewModel {
    pub model_name: String,
    pub match_pattern: String,
    pub start_date: Option<Micros>,
    pub unit: Option<String>,
    pub tokenizer_id: Option<String>,
    pub tokenizer_config: Option<Value>,
    pub pricing_tiers: Vec<PricingTier>,
}

/// Parses and checks a create body: name, pattern (a valid regex), start date, unit,
/// tokenizer, and either flat prices (which become one default tier "Standard") or
/// pricing tiers, not both.
pub fn parse_new_model(body: &Value) -> Result<NewModel, String> {
    let object = body.as_object().ok_or("the body must be a JSON object")?;
    let text = |key: &str| -> Result<Option<String>, String> {
        match object.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(_) => Err(format!("{key} must be a string")),
        }
    };
    let model_name = text("modelName")?
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .ok_or("modelName is required")?;
    if model_name.chars().count() > MAX_MODEL_NAME_CHARS {
        return Err(format!(
            "modelName may have at most {MAX_MODEL_NAME_CHARS} characters"
        ));
    }
    let match_pattern = text("matchPattern")?
        .filter(|pattern| !pattern.is_empty())
        .ok_or("matchPattern is required")?;
    if match_pattern.chars().count() > MAX_PATTERN_CHARS {
        return Err(format!(
            "matchPattern may have at most {MAX_PATTERN_CHARS} characters"
        ));
    }
    compile_pattern(&match_pattern, false).map_err(|error| format!("matchPattern: {error}"))?;
    let start_date = match text("startDate")? {
        None => None,
        Some(date) => {
            Some(parse_iso_lenient(&date).ok_or("startDate must be an ISO-8601 date or datetime")?)
        }
    };
    let unit = text("unit")?;
    if let Some(unit) = &unit
        && !MODEL_UNITS.contains(&unit.as_str())
    {
        return Err(format!("unit must be one of {}", MODEL_UNITS.join(", ")));
    }
    let tokenizer_id = text("tokenizerId")?;
    if let Some(tokenizer) = &tokenizer_id
        && !TOKENIZERS.contains(&tokenizer.as_str())
    {
        return Err("tokenizerId must be openai or claude".into());
    }
    let tokenizer_config = match object.get("tokenizerConfig") {
        None | Some(Value::Null) => None,
        Some(config @ Value::Object(_)) => {
            if config.to_string().len() > 10_000 {
                return Err("tokenizerConfig is too large".into());
            }
            Some(config.clone())
        }
        Some(_) => return Err("tokenizerConfig must be a JSON object".into()),
    };
    let mut flat = Vec::new();
    for (wire, key) in [
        ("inputPrice", "input"),
        ("outputPrice", "output"),
        ("totalPrice", "total"),
    ] {
        match object.get(wire) {
            None | Some(Value::Null) => {}
            Some(price) => flat.push((key.to_owned(), non_negative(price, wire)?)),
        }
    }
    let tiers = match object.get("pricingTiers") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(parse_tier)
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(_) => return Err("pricingTiers must be an array".into()),
    };
    let pricing_tiers = match tiers {
        Some(_) if !flat.is_empty() => {
            return Err(
                "give either flat prices (inputPrice, outputPrice, totalPrice) or pricingTiers, not both"
                    .into(),
            );
        }
        Some(tiers) => {
            check_tiers(&tiers)?;
            tiers
        }
        None if flat.is_empty() => Vec::new(),
        None => {
            let has_total = flat.iter().any(|(key, _)| key == "total");
            if has_total && flat.len() > 1 {
                return Err(
                    "totalPrice cannot be set together with inputPrice or outputPrice".into(),
                );
            }
            vec![PricingTier {
                id: String::new(),
                name: "Standard".into(),
                is_default: true,
                priority: 0,
                conditions: Vec::new(),
                prices: flat,
            }]
        }
    };
    Ok(NewModel {
        model_name,
        match_pattern,
        start_date,
        unit,
        tokenizer_id,
        tokenizer_config,
        pricing_tiers,
    })
}

/// Picks the definition for an observed model string at time `at`: project definitions
/// before built-ins; among them the newest `start_date` that is not after `at` (definitions
/// without a start date come last), then the newest created. Definitions whose start date
/// lies after the observation do not apply to it.
pub fn select_model<'a>(
    candidates: impl IntoIterator<Item = &'a Arc<ModelDefinition>>,
    model: &str,
    at: Micros,
) -> Option<&'a Arc<ModelDefinition>> {
    let mut best: Option<&'a Arc<ModelDefinition>> = None;
    for candidate in candidates {
        if candidate.start_date.is_some_and(|start| start > at) {
            continue;
        }
        if !pattern_matches(&candidate.match_pattern, model) {
            continue;
        }
        let rank = |definition: &ModelDefinition| {
            (
                definition.project_id.is_some(),
                definition.start_date.is_some(),
                definition.start_date.unwrap_or(i64::MIN),
                definition.created_at,
            )
        };
        if best.is_none_or(|current| rank(candidate) > rank(current)) {
            best = Some(candidate);
        }
    }
    best
}

fn attribute_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

fn condition_holds(
    condition: &TierCondition,
    usage: &Map<String, Value>,
    model_parameters: Option<&Value>,
    metadata: &JsonObject,
) -> bool {
    match condition {
        TierCondition::Usage {
            pattern,
            operator,
            value,
            case_sensitive,
        } => {
            let Some(regex) = cached_pattern(pattern, !case_sensitive) else {
                return false;
            };
            let sum: f64 = usage
                .iter()
                .filter(|(key, _)| regex.is_match(key))
                .filter_map(|(_, count)| count.as_f64())
                .sum();
            operator.holds(sum, *value)
        }
        TierCondition::Attribute {
            source,
            key,
            values,
        } => {
            let found = match source {
                AttributeSource::ModelParameters => model_parameters.and_then(|p| p.get(key)),
                AttributeSource::Metadata => metadata.get(key),
            };
            found
                .and_then(attribute_text)
                .is_some_and(|text| values.contains(&text))
        }
    }
}

/// The tier that prices `usage`: the first non-default tier (by ascending priority) whose
/// conditions all hold, else the default tier. `None` when the usage is empty or the model
/// has no tiers.
pub fn select_tier<'a>(
    model: &'a ModelDefinition,
    usage: &Map<String, Value>,
    model_parameters: Option<&Value>,
    metadata: &JsonObject,
) -> Option<&'a PricingTier> {
    if usage.is_empty() {
        return None;
    }
    let mut conditional: Vec<&PricingTier> = model
        .pricing_tiers
        .iter()
        .filter(|tier| !tier.is_default)
        .collect();
    conditional.sort_by_key(|tier| tier.priority);
    conditional
        .into_iter()
        .find(|tier| {
            tier.conditions
                .iter()
                .all(|condition| condition_holds(condition, usage, model_parameters, metadata))
        })
        .or_else(|| model.default_tier())
}

/// The wire form of a condition.
pub fn condition_json(condition: &TierCondition) -> Value {
    match condition {
        TierCondition::Usage {
            pattern,
            operator,
            value,
            case_sensitive,
        } => serde_json::json!({
            "usageDetailPattern": pattern, "operator": operator.as_str(),
            "value": value, "caseSensitive": case_sensitive,
        }),
        TierCondition::Attribute {
            source,
            key,
            values,
        } => serde_json::json!({
            "source": source.as_str(), "key": key, "operator": "in", "values": values,
        }),
    }
}

/// Parses stored tiers (the wire form, with ids), as written by [`tiers_json`].
pub fn tiers_from_json(value: &Value) -> Result<Vec<PricingTier>, String> {
    value
        .as_array()
        .ok_or("tiers must be an array")?
        .iter()
        .map(|item| {
            let mut tier = parse_tier(item)?;
            tier.id = item
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            Ok(tier)
        })
        .collect()
}

/// The wire form of tiers (`PricingTier` of the OpenAPI file).
pub fn tiers_json(tiers: &[PricingTier]) -> Value {
    Value::Array(
        tiers
            .iter()
            .map(|tier| {
                let prices: Map<String, Value> = tier
                    .prices
                    .iter()
                    .map(|(key, price)| (key.clone(), serde_json::json!(price)))
                    .collect();
                serde_json::json!({
                    "id": tier.id, "name": tier.name, "isDefault": tier.is_default,
                    "priority": tier.priority,
                    "conditions": tier.conditions.iter().map(condition_json).collect::<Vec<_>>(),
                    "prices": prices,
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn project_model(id: &str, pattern: &str, start: Option<Micros>) -> Arc<ModelDefinition> {
        Arc::new(ModelDefinition {
            id: id.into(),
            project_id: Some(ProjectId("p".into())),
            model_name: id.into(),
            match_pattern: pattern.into(),
            start_date: start,
            unit: None,
            tokenizer_id: None,
            tokenizer_config: None,
            pricing_tiers: Vec::new(),
            created_at: 0,
            updated_at: 0,
        })
    }

    #[test]
    fn builtins_load_and_match() {
        let builtins = builtin_models();
        assert_eq!(builtins.len(), 167);
        let pick =
            |name: &str| select_model(builtins.iter(), name, 0).map(|m| m.model_name.clone());
        assert_eq!(pick("gpt-4o").as_deref(), Some("gpt-4o"));
        assert_eq!(pick("GPT-4O").as_deref(), Some("gpt-4o"));
        assert_eq!(pick("openai/gpt-4o").as_deref(), Some("gpt-4o"));
        assert_eq!(pick("gpt-4o-mini").as_deref(), Some("gpt-4o-mini"));
        assert_eq!(
            pick("anthropic.claude-sonnet-4-5-20250929-v1:0").as_deref(),
            Some("claude-sonnet-4-5-20250929")
        );
        assert_eq!(pick("no-such-model"), None);
    }

    #[test]
    fn project_definitions_win_and_start_dates_apply() {
        let builtins = builtin_models();
        let old = project_model("old", "(?i)^gpt-4o$", Some(1_000));
        let new = project_model("new", "(?i)^gpt-4o$", Some(2_000));
        let all: Vec<Arc<ModelDefinition>> = [old, new]
            .into_iter()
            .chain(builtins.iter().cloned())
            .collect();
        assert_eq!(select_model(all.iter(), "gpt-4o", 2_500).unwrap().id, "new");
        assert_eq!(select_model(all.iter(), "gpt-4o", 1_500).unwrap().id, "old");
        // Before every project definition starts, the built-in applies.
        assert_eq!(
            select_model(all.iter(), "gpt-4o", 500).unwrap().model_name,
            "gpt-4o"
        );
        assert!(
            select_model(all.iter(), "gpt-4o", 500)
                .unwrap()
                .is_builtin()
        );
    }

    #[test]
    fn tiers_by_usage_and_attributes() {
        let builtins = builtin_models();
        let gemini = builtins
            .iter()
            .find(|m| m.model_name == "gemini-2.5-pro")
            .unwrap();
        let small = json!({"input": 1000, "output": 10})
            .as_object()
            .unwrap()
            .clone();
        let large = json!({"input": 150_000, "input_cached_tokens": 60_000, "output": 10})
            .as_object()
            .unwrap()
            .clone();
        let empty = JsonObject::new();
        assert_eq!(
            select_tier(gemini, &small, None, &empty).unwrap().name,
            "Standard"
        );
        assert_eq!(
            select_tier(gemini, &large, None, &empty).unwrap().name,
            "Large Context"
        );
        assert!(select_tier(gemini, &JsonObject::new(), None, &empty).is_none());
        let gpt = builtins.iter().find(|m| m.model_name == "gpt-4o").unwrap();
        let fast = json!({"service_tier": "priority"});
        assert_eq!(
            select_tier(gpt, &small, Some(&fast), &empty).unwrap().name,
            "Fast mode"
        );
        assert_eq!(
            select_tier(gpt, &small, None, &empty).unwrap().name,
            "Standard"
        );
    }

    #[test]
    fn new_model_checks() {
        let ok = parse_new_model(&json!({"modelName": "m", "matchPattern": "(?i)^m$",
            "inputPrice": 0.001, "outputPrice": 0.002, "unit": "TOKENS"}))
        .unwrap();
        assert_eq!(ok.pricing_tiers.len(), 1);
        assert_eq!(ok.pricing_tiers[0].price("output"), Some(0.002));
        let tiers = parse_new_model(&json!({"modelName": "m", "matchPattern": "m",
            "pricingTiers": [
                {"name": "Standard", "isDefault": true, "priority": 0, "conditions": [], "prices": {"input": 1}},
                {"name": "Big", "isDefault": false, "priority": 1, "prices": {"input": 2},
                 "conditions": [{"usageDetailPattern": "input", "operator": "gt", "value": 10}]}]}))
        .unwrap();
        assert_eq!(tiers.pricing_tiers.len(), 2);
        let bad = [
            json!({"matchPattern": "m"}),
            json!({"modelName": "m", "matchPattern": "("}),
            json!({"modelName": "m", "matchPattern": "m", "inputPrice": -1}),
            json!({"modelName": "m", "matchPattern": "m", "inputPrice": 1, "totalPrice": 1}),
            json!({"modelName": "m", "matchPattern": "m", "unit": "BYTES"}),
            json!({"modelName": "m", "matchPattern": "m", "inputPrice": 1, "pricingTiers": []}),
            json!({"modelName": "m", "matchPattern": "m", "pricingTiers": []}),
            json!({"modelName": "m", "matchPattern": "m", "pricingTiers": [
                {"name": "a", "isDefault": true, "priority": 1, "conditions": [], "prices": {"input": 1}}]}),
            json!({"modelName": "m", "matchPattern": "m", "pricingTiers": [
                {"name": "a", "isDefault": true, "priority": 0, "conditions": [], "prices": {"input": 1}},
                {"name": "b", "isDefault": false, "priority": 2, "conditions": [], "prices": {"input": 1}}]}),
        ];
        for body in bad {
            assert!(parse_new_model(&body).is_err(), "{body}");
        }
    }

    #[test]
    fn tiers_round_trip_through_json() {
        let gpt = builtin_models()
            .iter()
            .find(|m| m.model_name == "o3")
            .unwrap();
        let back = tiers_from_json(&tiers_json(&gpt.pricing_tiers)).unwrap();
        assert_eq!(back, gpt.pricing_tiers);
    }
}
