//! The advanced `filter` query parameter of the read API: a JSON array of conditions,
//! each naming a column (by id or display name), a type, an operator and a value.
//! Parsing checks everything a store needs to trust: the column exists in the view, the
//! type fits the column and the operator fits the type. Stores translate the result.

use serde_json::Value;

use crate::Micros;
use crate::time::parse_iso_with_offset;

/// What kind of values a column holds, which decides the filter types it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    String,
    Number,
    Datetime,
    /// A string column filtered by a list of options.
    Options,
    /// An array of strings (tags).
    Array,
    /// A key/value object (metadata).
    Object,
    Boolean,
    /// Per-name score aggregates (`scores_avg`, `score_categories`, `score_booleans`).
    Scores,
}

/// One filterable column: its canonical id, its UI display name and its kind.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub id: &'static str,
    pub display_name: &'static str,
    pub kind: ColumnKind,
}

const fn column(id: &'static str, display_name: &'static str, kind: ColumnKind) -> Column {
    Column {
        id,
        display_name,
        kind,
    }
}

/// Filterable columns of `GET /api/public/traces`.
pub const TRACE_COLUMNS: &[Column] = &[
    column("id", "ID", ColumnKind::String),
    column("name", "Name", ColumnKind::Options),
    column("traceName", "Trace Name", ColumnKind::Options),
    column("timestamp", "Timestamp", ColumnKind::Datetime),
    column("userId", "User ID", ColumnKind::String),
    column("sessionId", "Session ID", ColumnKind::String),
    column("metadata", "Metadata", ColumnKind::Object),
    column("version", "Version", ColumnKind::String),
    column("release", "Release", ColumnKind::String),
    column("environment", "Environment", ColumnKind::Options),
    column("level", "Level", ColumnKind::Options),
    column("tags", "Tags", ColumnKind::Array),
    column("traceTags", "Trace Tags", ColumnKind::Array),
    column("bookmarked", "Bookmarked", ColumnKind::Boolean),
    column("public", "Public", ColumnKind::Boolean),
    column("inputTokens", "Input Tokens", ColumnKind::Number),
    column("outputTokens", "Output Tokens", ColumnKind::Number),
    column("totalTokens", "Total Tokens", ColumnKind::Number),
    column("tokens", "Tokens", ColumnKind::Number),
    column("errorCount", "Error Level Count", ColumnKind::Number),
    column("warningCount", "Warning Level Count", ColumnKind::Number),
    column("defaultCount", "Default Level Count", ColumnKind::Number),
    column("debugCount", "Debug Level Count", ColumnKind::Number),
    column("latency", "Latency (s)", ColumnKind::Number),
    column("inputCost", "Input Cost ($)", ColumnKind::Number),
    column("outputCost", "Output Cost ($)", ColumnKind::Number),
    column("totalCost", "Total Cost ($)", ColumnKind::Number),
    column("scores_avg", "Scores (numeric)", ColumnKind::Scores),
    column(
        "score_categories",
        "Scores (categorical)",
        ColumnKind::Scores,
    ),
    column("score_booleans", "Scores (boolean)", ColumnKind::Scores),
];

/// Filterable columns of the observations endpoints.
pub const OBSERVATION_COLUMNS: &[Column] = &[
    column("id", "ID", ColumnKind::String),
    column("type", "Type", ColumnKind::Options),
    column("name", "Name", ColumnKind::Options),
    column("traceId", "Trace ID", ColumnKind::String),
    column(
        "parentObservationId",
        "Parent Observation ID",
        ColumnKind::String,
    ),
    column("environment", "Environment", ColumnKind::Options),
    column("startTime", "Start Time", ColumnKind::Datetime),
    column("endTime", "End Time", ColumnKind::Datetime),
    column(
        "timeToFirstToken",
        "Time To First Token (s)",
        ColumnKind::Number,
    ),
    column("latency", "Latency (s)", ColumnKind::Number),
    column("inputCost", "Input Cost ($)", ColumnKind::Number),
    column("outputCost", "Output Cost ($)", ColumnKind::Number),
    column("totalCost", "Total Cost ($)", ColumnKind::Number),
    column("level", "Level", ColumnKind::Options),
    column("statusMessage", "Status Message", ColumnKind::String),
    column("model", "Model", ColumnKind::Options),
    column(
        "providedModelName",
        "Provided Model Name",
        ColumnKind::Options,
    ),
    column("inputTokens", "Input Tokens", ColumnKind::Number),
    column("outputTokens", "Output Tokens", ColumnKind::Number),
    column("totalTokens", "Total Tokens", ColumnKind::Number),
    column("tokens", "Tokens", ColumnKind::Number),
    column("metadata", "Metadata", ColumnKind::Object),
    column("version", "Version", ColumnKind::String),
    column("promptName", "Prompt Name", ColumnKind::Options),
    column("promptVersion", "Prompt Version", ColumnKind::Number),
    column("userId", "User ID", ColumnKind::String),
    column("sessionId", "Session ID", ColumnKind::String),
    column("traceName", "Trace Name", ColumnKind::Options),
    column("traceTags", "Trace Tags", ColumnKind::Array),
    column("input", "Input", ColumnKind::String),
    column("output", "Output", ColumnKind::String),
    column("scores_avg", "Scores (numeric)", ColumnKind::Scores),
    column(
        "score_categories",
        "Scores (categorical)",
        ColumnKind::Scores,
    ),
];

/// Filterable columns of the score endpoints.
pub const SCORE_COLUMNS: &[Column] = &[
    column("id", "ID", ColumnKind::String),
    column("timestamp", "Timestamp", ColumnKind::Datetime),
    column("environment", "Environment", ColumnKind::Options),
    column("traceId", "Trace ID", ColumnKind::String),
    column("observationId", "Observation ID", ColumnKind::String),
    column("sessionId", "Session ID", ColumnKind::String),
    column("name", "Name", ColumnKind::Options),
    column("value", "Value", ColumnKind::Number),
    column("booleanValue", "Boolean Value", ColumnKind::Boolean),
    column("evaluatorId", "Evaluator ID", ColumnKind::Options),
    column("source", "Source", ColumnKind::Options),
    column("comment", "Comment", ColumnKind::String),
    column("authorUserId", "Author User ID", ColumnKind::String),
    column("dataType", "Data Type", ColumnKind::Options),
    column("stringValue", "String Value", ColumnKind::String),
    column("metadata", "Metadata", ColumnKind::Object),
    column("traceName", "Trace Name", ColumnKind::Options),
    column("userId", "User ID", ColumnKind::String),
    column("trace_tags", "Trace Tags", ColumnKind::Array),
];

/// A parsed, checked condition. `column` is the canonical column id of the view.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterCondition {
    pub column: &'static str,
    pub operator: Operator,
    pub value: FilterValue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Eq,
    NotEq,
    Gt,
    Lt,
    Gte,
    Lte,
    Contains,
    DoesNotContain,
    StartsWith,
    EndsWith,
    AnyOf,
    NoneOf,
    AllOf,
    IsNull,
    IsNotNull,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FilterValue {
    Datetime(Micros),
    String(String),
    Number(f64),
    Boolean(bool),
    /// `stringOptions` and `arrayOptions`.
    Options(Vec<String>),
    /// `stringObject`, `numberObject`, `booleanObject`, `categoryOptions`: a keyed value.
    Keyed {
        key: String,
        value: Box<FilterValue>,
    },
    Null,
}

/// Parses the `filter` parameter against a view's columns. The error text is meant for
/// the client.
pub fn parse_filter(text: &str, columns: &[Column]) -> Result<Vec<FilterCondition>, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|error| format!("filter is not valid JSON: {error}"))?;
    let items = value
        .as_array()
        .ok_or_else(|| "filter must be a JSON array of conditions".to_owned())?;
    if items.len() > 100 {
        return Err("filter may have at most 100 conditions".to_owned());
    }
    items
        .iter()
        .map(|item| parse_condition(item, columns))
        .collect()
}

fn parse_condition(item: &Value, columns: &[Column]) -> Result<FilterCondition, String> {
    let object = item
        .as_object()
        .ok_or_else(|| "each filter condition must be an object".to_owned())?;
    let text = |key: &str| object.get(key).and_then(Value::as_str);
    let column_name =
        text("column").ok_or_else(|| "filter condition needs a `column`".to_owned())?;
    let column = columns
        .iter()
        .find(|column| column.id == column_name || column.display_name == column_name)
        .ok_or_else(|| format!("unknown filter column `{column_name}`"))?;
    let filter_type = text("type").ok_or_else(|| "filter condition needs a `type`".to_owned())?;
    let operator_text =
        text("operator").ok_or_else(|| "filter condition needs an `operator`".to_owned())?;
    let operator = parse_operator(operator_text)?;
    let raw_value = object.get("value").unwrap_or(&Value::Null);
    let key = text("key").map(str::to_owned);
    let allowed: &[Operator] = match filter_type {
        "datetime" | "number" | "numberObject" => &[
            Operator::Eq,
            Operator::Gt,
            Operator::Lt,
            Operator::Gte,
            Operator::Lte,
        ],
        "string" | "stringObject" => &[
            Operator::Eq,
            Operator::Contains,
            Operator::DoesNotContain,
            Operator::StartsWith,
            Operator::EndsWith,
        ],
        "stringOptions" | "categoryOptions" => &[Operator::AnyOf, Operator::NoneOf],
        "arrayOptions" => &[Operator::AnyOf, Operator::NoneOf, Operator::AllOf],
        "boolean" | "booleanObject" => &[Operator::Eq, Operator::NotEq],
        "null" => &[Operator::IsNull, Operator::IsNotNull],
        other => return Err(format!("unknown filter type `{other}`")),
    };
    if !allowed.contains(&operator) {
        return Err(format!(
            "operator `{operator_text}` is not allowed for filter type `{filter_type}`"
        ));
    }
    let kind_fits = match filter_type {
        "datetime" => column.kind == ColumnKind::Datetime,
        "number" => column.kind == ColumnKind::Number,
        "string" => matches!(column.kind, ColumnKind::String | ColumnKind::Options),
        "stringOptions" => matches!(column.kind, ColumnKind::Options | ColumnKind::String),
        "arrayOptions" => column.kind == ColumnKind::Array,
        "stringObject" => column.kind == ColumnKind::Object,
        "numberObject" | "categoryOptions" | "booleanObject" => column.kind == ColumnKind::Scores,
        "boolean" => column.kind == ColumnKind::Boolean,
        "null" => !matches!(column.kind, ColumnKind::Scores),
        _ => false,
    };
    if !kind_fits {
        return Err(format!(
            "filter type `{filter_type}` does not fit column `{}`",
            column.id
        ));
    }
    let need_key = || {
        key.clone()
            .ok_or_else(|| format!("filter type `{filter_type}` needs a `key`"))
    };
    let value = match filter_type {
        "datetime" => FilterValue::Datetime(
            raw_value
                .as_str()
                .and_then(parse_iso_with_offset)
                .ok_or_else(|| {
                    "datetime filters need an ISO-8601 value with an offset".to_owned()
                })?,
        ),
        "number" => FilterValue::Number(number(raw_value)?),
        "string" => FilterValue::String(string(raw_value)?),
        "stringOptions" | "arrayOptions" => FilterValue::Options(options(raw_value)?),
        "boolean" => FilterValue::Boolean(boolean(raw_value)?),
        "null" => FilterValue::Null,
        "stringObject" => FilterValue::Keyed {
            key: need_key()?,
            value: Box::new(FilterValue::String(string(raw_value)?)),
        },
        "numberObject" => FilterValue::Keyed {
            key: need_key()?,
            value: Box::new(FilterValue::Number(number(raw_value)?)),
        },
        "booleanObject" => FilterValue::Keyed {
            key: need_key()?,
            value: Box::new(FilterValue::Boolean(boolean(raw_value)?)),
        },
        "categoryOptions" => FilterValue::Keyed {
            key: need_key()?,
            value: Box::new(FilterValue::Options(options(raw_value)?)),
        },
        _ => unreachable!("filter types were matched above"),
    };
    Ok(FilterCondition {
        column: column.id,
        operator,
        value,
    })
}

fn parse_operator(text: &str) -> Result<Operator, String> {
    Ok(match text {
        "=" => Operator::Eq,
        "<>" | "!=" => Operator::NotEq,
        ">" => Operator::Gt,
        "<" => Operator::Lt,
        ">=" => Operator::Gte,
        "<=" => Operator::Lte,
        "contains" => Operator::Contains,
        "does not contain" => Operator::DoesNotContain,
        "starts with" => Operator::StartsWith,
        "ends with" => Operator::EndsWith,
        "any of" => Operator::AnyOf,
        "none of" => Operator::NoneOf,
        "all of" => Operator::AllOf,
        "is null" => Operator::IsNull,
        "is not null" => Operator::IsNotNull,
        other => return Err(format!("unknown filter operator `{other}`")),
    })
}

fn number(value: &Value) -> Result<f64, String> {
    value
        .as_f64()
        .ok_or_else(|| "number filters need a numeric value".to_owned())
}

fn string(value: &Value) -> Result<String, String> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| "string filters need a string value".to_owned())
}

fn boolean(value: &Value) -> Result<bool, String> {
    value
        .as_bool()
        .ok_or_else(|| "boolean filters need a true or false value".to_owned())
}

fn options(value: &Value) -> Result<Vec<String>, String> {
    let items = value
        .as_array()
        .filter(|items| !items.is_empty())
        .ok_or_else(|| "options filters need a non-empty array of strings".to_owned())?;
    items
        .iter()
        .map(|item| {
            item.as_str()
                .map(str::to_owned)
                .ok_or_else(|| "options must be strings".to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_by_id_and_display_name() {
        let parsed = parse_filter(
            r#"[{"column":"User ID","type":"string","operator":"=","value":"u1"},
                {"column":"tags","type":"arrayOptions","operator":"all of","value":["a"]},
                {"column":"metadata","type":"stringObject","key":"env","operator":"contains","value":"pr"},
                {"column":"timestamp","type":"datetime","operator":">=","value":"2025-01-01T00:00:00Z"}]"#,
            TRACE_COLUMNS,
        )
        .unwrap();
        assert_eq!(parsed[0].column, "userId");
        assert_eq!(parsed[1].operator, Operator::AllOf);
        assert!(matches!(&parsed[2].value, FilterValue::Keyed { key, .. } if key == "env"));
    }

    #[test]
    fn rejects_what_does_not_fit() {
        let cases = [
            r#"{"#,
            r#"{}"#,
            r#"[{"column":"nope","type":"string","operator":"=","value":"x"}]"#,
            r#"[{"column":"userId","type":"string","operator":">","value":"x"}]"#,
            r#"[{"column":"userId","type":"number","operator":">","value":1}]"#,
            r#"[{"column":"tags","type":"arrayOptions","operator":"any of","value":[]}]"#,
            r#"[{"column":"timestamp","type":"datetime","operator":">","value":"2025-01-01"}]"#,
        ];
        for case in cases {
            assert!(parse_filter(case, TRACE_COLUMNS).is_err(), "{case}");
        }
    }
}
