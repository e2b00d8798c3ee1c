//! The metrics query engine's pure half (read API §6): the query object (views,
//! dimensions, measures and aggregations, filters, time granularity, ordering, limits),
//! its checks, time buckets, and the aggregation of streamed rows or pre-aggregated
//! rollup cells into result rows. Stores only produce rows; everything a query means is
//! decided here, so the public metrics endpoints, the legacy daily metrics and the web
//! UI's dashboards share one engine.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use serde_json::{Value, json};

use crate::Micros;
use crate::filter::{Column, ColumnKind, FilterCondition, parse_filter};
use crate::time::parse_iso_lenient;

/// Largest accepted `query` text.
pub const MAX_QUERY_BYTES: usize = 64 * 1024;
pub const MAX_DIMENSIONS: usize = 10;
pub const MAX_METRICS: usize = 20;
pub const MAX_ORDER_BY: usize = 10;
/// Rows a v1 query returns at most when it sets no `row_limit`.
pub const V1_DEFAULT_ROW_LIMIT: usize = 10_000;
pub const V2_DEFAULT_ROW_LIMIT: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum View {
    Traces,
    Observations,
    ScoresNumeric,
    ScoresBoolean,
    ScoresCategorical,
}

impl View {
    pub fn parse(text: &str) -> Option<View> {
        Some(match text {
            "traces" => View::Traces,
            "observations" => View::Observations,
            "scores-numeric" => View::ScoresNumeric,
            "scores-boolean" => View::ScoresBoolean,
            "scores-categorical" => View::ScoresCategorical,
            _ => return None,
        })
    }

    /// The column the time range and the time dimension apply to.
    pub fn time_column(self) -> &'static str {
        match self {
            View::Observations => "startTime",
            _ => "timestamp",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVersion {
    V1,
    V2,
}

/// What a dimension's values are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DimensionKind {
    Text,
    Number,
    Boolean,
    /// A JSON array of strings (tags).
    Tags,
}

#[derive(Debug, Clone, Copy)]
pub struct DimensionDef {
    pub name: &'static str,
    pub kind: DimensionKind,
    /// Grouping by it in v2 needs a row limit and a descending measure order.
    pub high_cardinality: bool,
    pub v2_only: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct MeasureDef {
    pub name: &'static str,
    /// Non-numeric measures take only `count` and `uniq`.
    pub numeric: bool,
    pub v2_only: bool,
}

const fn dim(name: &'static str, kind: DimensionKind) -> DimensionDef {
    DimensionDef {
        name,
        kind,
        high_cardinality: false,
        v2_only: false,
    }
}

const fn high(name: &'static str) -> DimensionDef {
    DimensionDef {
        name,
        kind: DimensionKind::Text,
        high_cardinality: true,
        v2_only: false,
    }
}

const fn v2dim(name: &'static str, kind: DimensionKind) -> DimensionDef {
    DimensionDef {
        name,
        kind,
        high_cardinality: false,
        v2_only: true,
    }
}

const fn num(name: &'static str) -> MeasureDef {
    MeasureDef {
        name,
        numeric: true,
        v2_only: false,
    }
}

const fn text(name: &'static str) -> MeasureDef {
    MeasureDef {
        name,
        numeric: false,
        v2_only: false,
    }
}

use DimensionKind::{Boolean, Number, Tags, Text};

const TRACE_DIMENSIONS: &[DimensionDef] = &[
    high("id"),
    dim("name", Text),
    dim("tags", Tags),
    high("userId"),
    high("sessionId"),
    dim("release", Text),
    dim("version", Text),
    dim("environment", Text),
    dim("timestampMonth", Text),
];

const TRACE_MEASURES: &[MeasureDef] = &[
    num("count"),
    num("observationsCount"),
    num("scoresCount"),
    text("uniqueUserIds"),
    text("uniqueSessionIds"),
    num("latency"),
    num("totalTokens"),
    num("totalCost"),
];

const OBSERVATION_DIMENSIONS: &[DimensionDef] = &[
    high("id"),
    high("traceId"),
    dim("traceName", Text),
    dim("environment", Text),
    high("parentObservationId"),
    dim("type", Text),
    dim("name", Text),
    dim("level", Text),
    dim("version", Text),
    dim("tags", Tags),
    dim("providedModelName", Text),
    dim("promptName", Text),
    dim("promptVersion", Number),
    high("userId"),
    high("sessionId"),
    dim("traceRelease", Text),
    dim("traceVersion", Text),
    dim("startTimeMonth", Text),
    v2dim("isRootObservation", Boolean),
    v2dim("release", Text),
];

const OBSERVATION_MEASURES: &[MeasureDef] = &[
    num("count"),
    num("latency"),
    num("streamingLatency"),
    num("inputTokens"),
    num("outputTokens"),
    num("totalTokens"),
    num("outputTokensPerSecond"),
    num("tokensPerSecond"),
    num("inputCost"),
    num("outputCost"),
    num("totalCost"),
    num("timeToFirstToken"),
    num("countScores"),
    text("traceId"),
    text("uniqueUserIds"),
    text("uniqueSessionIds"),
];

const SCORE_DIMENSIONS: &[DimensionDef] = &[
    high("id"),
    dim("environment", Text),
    dim("name", Text),
    dim("source", Text),
    dim("dataType", Text),
    high("traceId"),
    dim("configId", Text),
    dim("timestampMonth", Text),
    dim("timestampDay", Text),
    high("observationId"),
    dim("traceName", Text),
    dim("tags", Tags),
    high("userId"),
    high("sessionId"),
    dim("traceRelease", Text),
    dim("traceVersion", Text),
    dim("observationName", Text),
    dim("observationModelName", Text),
    dim("observationPromptName", Text),
    dim("observationPromptVersion", Number),
    dim("datasetRunId", Text),
];

const SCORE_MEASURES_NUMERIC: &[MeasureDef] = &[num("count"), num("value")];
const SCORE_MEASURES_CATEGORICAL: &[MeasureDef] = &[num("count")];

/// The dimensions of a view (the view-specific value dimension included).
pub fn dimensions(view: View) -> Vec<DimensionDef> {
    match view {
        View::Traces => TRACE_DIMENSIONS.to_vec(),
        View::Observations => OBSERVATION_DIMENSIONS.to_vec(),
        View::ScoresNumeric => {
            let mut all = SCORE_DIMENSIONS.to_vec();
            all.push(dim("value", Number));
            all
        }
        View::ScoresBoolean => {
            let mut all = SCORE_DIMENSIONS.to_vec();
            all.push(dim("booleanValue", Boolean));
            all.push(dim("stringValue", Text));
            all
        }
        View::ScoresCategorical => {
            let mut all = SCORE_DIMENSIONS.to_vec();
            all.push(dim("stringValue", Text));
            all
        }
    }
}

pub fn measures(view: View) -> &'static [MeasureDef] {
    match view {
        View::Traces => TRACE_MEASURES,
        View::Observations => OBSERVATION_MEASURES,
        View::ScoresNumeric | View::ScoresBoolean => SCORE_MEASURES_NUMERIC,
        View::ScoresCategorical => SCORE_MEASURES_CATEGORICAL,
    }
}

/// Filterable columns of a view: its dimensions and its time column.
pub fn filter_columns(view: View) -> &'static [Column] {
    static COLUMNS: OnceLock<HashMap<View, &'static [Column]>> = OnceLock::new();
    let all = COLUMNS.get_or_init(|| {
        [
            View::Traces,
            View::Observations,
            View::ScoresNumeric,
            View::ScoresBoolean,
            View::ScoresCategorical,
        ]
        .into_iter()
        .map(|view| {
            let mut columns: Vec<Column> = dimensions(view)
                .iter()
                .map(|dimension| Column {
                    id: dimension.name,
                    display_name: dimension.name,
                    kind: match dimension.kind {
                        Text => ColumnKind::Options,
                        Number => ColumnKind::Number,
                        Boolean => ColumnKind::Boolean,
                        Tags => ColumnKind::Array,
                    },
                })
                .collect();
            columns.push(Column {
                id: view.time_column(),
                display_name: view.time_column(),
                kind: ColumnKind::Datetime,
            });
            let leaked: &'static [Column] = Box::leak(columns.into_boxed_slice());
            (view, leaked)
        })
        .collect()
    });
    all[&view]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Aggregation {
    Count,
    Sum,
    Avg,
    Min,
    Max,
    /// `p50`, `p75`, `p90`, `p95`, `p99`: the value in percent.
    Percentile(u8),
    Histogram,
    Uniq,
}

impl Aggregation {
    pub fn parse(text: &str) -> Option<Aggregation> {
        Some(match text {
            "count" => Aggregation::Count,
            "sum" => Aggregation::Sum,
            "avg" => Aggregation::Avg,
            "min" => Aggregation::Min,
            "max" => Aggregation::Max,
            "p50" => Aggregation::Percentile(50),
            "p75" => Aggregation::Percentile(75),
            "p90" => Aggregation::Percentile(90),
            "p95" => Aggregation::Percentile(95),
            "p99" => Aggregation::Percentile(99),
            "histogram" => Aggregation::Histogram,
            "uniq" => Aggregation::Uniq,
            _ => return None,
        })
    }

    pub fn name(self) -> String {
        match self {
            Aggregation::Count => "count".into(),
            Aggregation::Sum => "sum".into(),
            Aggregation::Avg => "avg".into(),
            Aggregation::Min => "min".into(),
            Aggregation::Max => "max".into(),
            Aggregation::Percentile(p) => format!("p{p}"),
            Aggregation::Histogram => "histogram".into(),
            Aggregation::Uniq => "uniq".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub measure: &'static str,
    pub aggregation: Aggregation,
}

impl Metric {
    /// The result key, `<aggregation>_<measure>`.
    pub fn alias(&self) -> String {
        format!("{}_{}", self.aggregation.name(), self.measure)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Granularity {
    Minute,
    Hour,
    Day,
    Week,
    Month,
}

impl Granularity {
    /// `auto`: under 2 hours by minute, under 72 hours by hour, under 60 days by day,
    /// under 365 days by week, else by month.
    pub fn auto(from: Micros, to: Micros) -> Granularity {
        let hours = (to - from) as f64 / 3.6e9;
        if hours < 2.0 {
            Granularity::Minute
        } else if hours < 72.0 {
            Granularity::Hour
        } else if hours < 60.0 * 24.0 {
            Granularity::Day
        } else if hours < 365.0 * 24.0 {
            Granularity::Week
        } else {
            Granularity::Month
        }
    }

    /// Start of the bucket (UTC) holding `at`. Weeks start on Monday.
    pub fn bucket(self, at: Micros) -> Micros {
        const MINUTE: i64 = 60_000_000;
        const HOUR: i64 = 60 * MINUTE;
        const DAY: i64 = 24 * HOUR;
        match self {
            Granularity::Minute => at.div_euclid(MINUTE) * MINUTE,
            Granularity::Hour => at.div_euclid(HOUR) * HOUR,
            Granularity::Day => at.div_euclid(DAY) * DAY,
            Granularity::Week => {
                // 1970-01-01 was a Thursday: shift so that weeks start on Monday.
                let offset = 3 * DAY;
                (at + offset).div_euclid(7 * DAY) * 7 * DAY - offset
            }
            Granularity::Month => {
                let days = at.div_euclid(DAY);
                let date = time::Date::from_julian_day((days + 2_440_588) as i32)
                    .unwrap_or(time::Date::MIN);
                let first = date.replace_day(1).unwrap_or(date);
                (i64::from(first.to_julian_day()) - 2_440_588) * DAY
            }
        }
    }

    /// Whether every bucket of `self` is a whole number of `unit` buckets.
    pub fn is_multiple_of(self, unit: Granularity) -> bool {
        match unit {
            Granularity::Minute => true,
            Granularity::Hour => self >= Granularity::Hour,
            Granularity::Day => self >= Granularity::Day,
            Granularity::Week => self == Granularity::Week,
            Granularity::Month => self == Granularity::Month,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderBy {
    /// A dimension name, a metric alias, or `time_dimension`.
    pub field: String,
    pub descending: bool,
}

/// A checked metrics query.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsQuery {
    pub view: View,
    pub dimensions: Vec<DimensionDef>,
    pub metrics: Vec<Metric>,
    pub filters: Vec<FilterCondition>,
    pub granularity: Option<Granularity>,
    pub from: Micros,
    pub to: Micros,
    pub order_by: Vec<OrderBy>,
    pub bins: usize,
    pub row_limit: usize,
}

impl PartialEq for DimensionDef {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

fn invalid(message: impl Into<String>) -> String {
    message.into()
}

/// Parses the `query` parameter (JSON text) of the metrics endpoints.
pub fn parse_query(text: &str, version: ApiVersion) -> Result<MetricsQuery, String> {
    if text.len() > MAX_QUERY_BYTES {
        return Err(format!("query may have at most {MAX_QUERY_BYTES} bytes"));
    }
    let value: Value =
        serde_json::from_str(text).map_err(|error| format!("query is not valid JSON: {error}"))?;
    parse_query_value(&value, version)
}

pub fn parse_query_value(value: &Value, version: ApiVersion) -> Result<MetricsQuery, String> {
    let object = value.as_object().ok_or("query must be a JSON object")?;
    let view_name = object
        .get("view")
        .and_then(Value::as_str)
        .ok_or("query.view is required")?;
    let view = View::parse(view_name).ok_or_else(|| format!("unknown view `{view_name}`"))?;
    if version == ApiVersion::V2 && view == View::Traces {
        return Err("the traces view is not available in v2; use observations".into());
    }
    let all_dimensions = dimensions(view);
    let list = |key: &str| -> Result<Vec<Value>, String> {
        match object.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => Ok(items.clone()),
            Some(_) => Err(format!("query.{key} must be an array")),
        }
    };
    let mut chosen = Vec::new();
    let requested = list("dimensions")?;
    if requested.len() > MAX_DIMENSIONS {
        return Err(format!("at most {MAX_DIMENSIONS} dimensions"));
    }
    for item in requested {
        let field = item
            .get("field")
            .and_then(Value::as_str)
            .ok_or("each dimension needs a field")?;
        let found = all_dimensions
            .iter()
            .find(|dimension| dimension.name == field)
            .filter(|dimension| version == ApiVersion::V2 || !dimension.v2_only)
            .ok_or_else(|| format!("unknown dimension `{field}` for view {view_name}"))?;
        if !chosen.contains(found) {
            chosen.push(*found);
        }
    }
    let requested = list("metrics")?;
    if requested.is_empty() {
        return Err("query.metrics needs at least one metric".into());
    }
    if requested.len() > MAX_METRICS {
        return Err(format!("at most {MAX_METRICS} metrics"));
    }
    let mut metrics: Vec<Metric> = Vec::new();
    for item in requested {
        let measure_name = item
            .get("measure")
            .and_then(Value::as_str)
            .ok_or("each metric needs a measure")?;
        let measure = measures(view)
            .iter()
            .find(|measure| measure.name == measure_name)
            .filter(|measure| version == ApiVersion::V2 || !measure.v2_only)
            .ok_or_else(|| format!("unknown measure `{measure_name}` for view {view_name}"))?;
        let aggregation_name = item
            .get("aggregation")
            .and_then(Value::as_str)
            .ok_or("each metric needs an aggregation")?;
        let aggregation = Aggregation::parse(aggregation_name)
            .ok_or_else(|| format!("unknown aggregation `{aggregation_name}`"))?;
        if !measure.numeric && !matches!(aggregation, Aggregation::Count | Aggregation::Uniq) {
            return Err(format!(
                "measure `{measure_name}` takes only the count and uniq aggregations"
            ));
        }
        let metric = Metric {
            measure: measure.name,
            aggregation,
        };
        if !metrics.contains(&metric) {
            metrics.push(metric);
        }
    }
    let filters = match object.get("filters") {
        None | Some(Value::Null) => Vec::new(),
        Some(filters @ Value::Array(_)) => {
            parse_filter(&filters.to_string(), filter_columns(view))?
        }
        Some(_) => return Err("query.filters must be an array".into()),
    };
    let from = time_field(object.get("fromTimestamp"), "fromTimestamp")?;
    let to = time_field(object.get("toTimestamp"), "toTimestamp")?;
    if from >= to {
        return Err("fromTimestamp must be before toTimestamp".into());
    }
    let granularity = match object.get("timeDimension") {
        None | Some(Value::Null) => None,
        Some(Value::Object(time_dimension)) => {
            match time_dimension.get("granularity").and_then(Value::as_str) {
                Some("auto") => Some(Granularity::auto(from, to)),
                Some("minute") => Some(Granularity::Minute),
                Some("hour") => Some(Granularity::Hour),
                Some("day") => Some(Granularity::Day),
                Some("week") => Some(Granularity::Week),
                Some("month") => Some(Granularity::Month),
                _ => {
                    return Err(
                        "timeDimension.granularity must be auto, minute, hour, day, week or month"
                            .into(),
                    );
                }
            }
        }
        Some(_) => return Err("timeDimension must be an object or null".into()),
    };
    let config = object.get("config").and_then(Value::as_object);
    let bins = match config.and_then(|config| config.get("bins")) {
        None | Some(Value::Null) => 10,
        Some(bins) => bins
            .as_u64()
            .filter(|bins| (1..=100).contains(bins))
            .ok_or("config.bins must be an integer from 1 to 100")? as usize,
    };
    let row_limit = match config.and_then(|config| config.get("row_limit")) {
        None | Some(Value::Null) => None,
        Some(limit) => Some(
            limit
                .as_u64()
                .filter(|limit| (1..=1_000).contains(limit))
                .ok_or("config.row_limit must be an integer from 1 to 1000")? as usize,
        ),
    };
    let mut order_by = Vec::new();
    let requested = list("orderBy")?;
    if requested.len() > MAX_ORDER_BY {
        return Err(format!("at most {MAX_ORDER_BY} orderBy entries"));
    }
    for item in requested {
        let field = item
            .get("field")
            .and_then(Value::as_str)
            .ok_or("each orderBy needs a field")?;
        let known = chosen.iter().any(|dimension| dimension.name == field)
            || metrics.iter().any(|metric| metric.alias() == field)
            || (field == "time_dimension" && granularity.is_some());
        if !known {
            return Err(format!(
                "orderBy field `{field}` must be a dimension or a metric (<aggregation>_<measure>) of the query"
            ));
        }
        let descending = match item.get("direction").and_then(Value::as_str) {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(_) => return Err("orderBy direction must be asc or desc".into()),
        };
        order_by.push(OrderBy {
            field: field.to_owned(),
            descending,
        });
    }
    if version == ApiVersion::V2
        && let Some(dimension) = chosen.iter().find(|dimension| dimension.high_cardinality)
    {
        let ordered_by_measure = order_by.iter().any(|order| {
            order.descending && metrics.iter().any(|metric| metric.alias() == order.field)
        });
        if row_limit.is_none() || !ordered_by_measure || granularity.is_some() {
            return Err(format!(
                "dimension `{}` has high cardinality: set config.row_limit and a descending orderBy on a metric, without timeDimension, or filter on it instead",
                dimension.name
            ));
        }
    }
    let row_limit = row_limit.unwrap_or(match version {
        ApiVersion::V1 => V1_DEFAULT_ROW_LIMIT,
        ApiVersion::V2 => V2_DEFAULT_ROW_LIMIT,
    });
    Ok(MetricsQuery {
        view,
        dimensions: chosen,
        metrics,
        filters,
        granularity,
        from,
        to,
        order_by,
        bins,
        row_limit,
    })
}

fn time_field(value: Option<&Value>, key: &str) -> Result<Micros, String> {
    value
        .and_then(Value::as_str)
        .and_then(parse_iso_lenient)
        .ok_or_else(|| invalid(format!("query.{key} is required (an ISO-8601 datetime)")))
}

/// A value of one measure on one streamed row.
#[derive(Debug, Clone, PartialEq)]
pub enum MeasureValue {
    Number(f64),
    Text(String),
}

/// Pre-aggregated values of one measure in one rollup cell.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Partial {
    /// Rows in the cell (for `count`).
    pub rows: u64,
    /// Non-null values and their sum.
    pub values: u64,
    pub sum: f64,
    /// Distribution of the values, when the rollup keeps one.
    pub sketch: Option<LogSketch>,
}

/// Relative accuracy of [`LogSketch`] quantiles.
pub const SKETCH_RELATIVE_ACCURACY: f64 = 0.01;

/// A mergeable distribution of non-negative values in logarithmic buckets: a quantile
/// read from it is within 1 % (relative) of the exact one. Counts can be added and
/// removed, so a rollup cell stays exact under replace-not-add updates.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogSketch {
    /// Values at or below [`LogSketch::ZERO`].
    pub zeros: u64,
    /// (bucket index, count), sorted by index, counts > 0.
    pub buckets: Vec<(i32, u64)>,
}

impl LogSketch {
    const ZERO: f64 = 1e-9;

    fn gamma() -> f64 {
        (1.0 + SKETCH_RELATIVE_ACCURACY) / (1.0 - SKETCH_RELATIVE_ACCURACY)
    }

    fn index(value: f64) -> i32 {
        (value.ln() / Self::gamma().ln()).ceil() as i32
    }

    pub fn count(&self) -> u64 {
        self.zeros + self.buckets.iter().map(|(_, count)| count).sum::<u64>()
    }

    /// Adds (`delta` > 0) or removes (`delta` < 0) occurrences of `value`.
    pub fn add(&mut self, value: f64, delta: i64) {
        if value <= Self::ZERO {
            self.zeros = (self.zeros as i64 + delta).max(0) as u64;
            return;
        }
        let index = Self::index(value);
        match self.buckets.binary_search_by_key(&index, |(i, _)| *i) {
            Ok(position) => {
                let count = (self.buckets[position].1 as i64 + delta).max(0) as u64;
                if count == 0 {
                    self.buckets.remove(position);
                } else {
                    self.buckets[position].1 = count;
                }
            }
            Err(position) if delta > 0 => self.buckets.insert(position, (index, delta as u64)),
            Err(_) => {}
        }
    }

    pub fn merge(&mut self, other: &LogSketch) {
        self.zeros += other.zeros;
        for (index, count) in &other.buckets {
            match self.buckets.binary_search_by_key(index, |(i, _)| *i) {
                Ok(position) => self.buckets[position].1 += count,
                Err(position) => self.buckets.insert(position, (*index, *count)),
            }
        }
    }

    /// The nearest-rank quantile `q` (0..=1), or `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = nearest_rank(q, total as usize) as u64 + 1;
        if rank <= self.zeros {
            return Some(0.0);
        }
        let mut seen = self.zeros;
        let gamma = Self::gamma();
        for (index, count) in &self.buckets {
            seen += count;
            if seen >= rank {
                return Some(2.0 * gamma.powi(*index) / (gamma + 1.0));
            }
        }
        None
    }

    /// The stored form: LEB128 varints of the zero count, then of each bucket's index
    /// (zigzag, as the step from the previous bucket's) and count. Neighbouring buckets
    /// of small counts take 2 bytes, where fixed-width fields took 12 (issue 8: bytes on
    /// disk).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(2 + self.buckets.len() * 3);
        push_varint(&mut bytes, self.zeros);
        let mut previous = 0i64;
        for (index, count) in &self.buckets {
            let step = i64::from(*index) - previous;
            previous = i64::from(*index);
            push_varint(&mut bytes, ((step << 1) ^ (step >> 63)) as u64);
            push_varint(&mut bytes, *count);
        }
        bytes
    }

    /// Reads [`LogSketch::to_bytes`]; malformed bytes give what was read up to them.
    pub fn from_bytes(bytes: &[u8]) -> LogSketch {
        let mut sketch = LogSketch::default();
        let mut rest = bytes;
        let Some(zeros) = take_varint(&mut rest) else {
            return sketch;
        };
        sketch.zeros = zeros;
        let mut index = 0i64;
        while !rest.is_empty() {
            let (Some(zigzag), Some(count)) = (take_varint(&mut rest), take_varint(&mut rest))
            else {
                break;
            };
            let step = (zigzag >> 1) as i64 ^ -((zigzag & 1) as i64);
            index = index.saturating_add(step);
            let Ok(bucket) = i32::try_from(index) else {
                break;
            };
            if count > 0 {
                sketch.buckets.push((bucket, count));
            }
        }
        sketch.buckets.sort_by_key(|(index, _)| *index);
        sketch.buckets.dedup_by_key(|(index, _)| *index);
        sketch
    }
}

fn push_varint(bytes: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        bytes.push((value as u8) | 0x80);
        value >>= 7;
    }
    bytes.push(value as u8);
}

/// The LEB128 varint at the start of `bytes`, which then starts after it.
fn take_varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for (position, byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * position);
        if byte & 0x80 == 0 {
            *bytes = &bytes[position + 1..];
            return Some(value);
        }
    }
    None
}

/// Index (0-based) of the nearest-rank `q` quantile among `n` sorted values.
pub fn nearest_rank(q: f64, n: usize) -> usize {
    ((q * n as f64).ceil() as usize).clamp(1, n) - 1
}

/// The exact nearest-rank quantile of `values` (reordered in place).
pub fn exact_quantile(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let index = nearest_rank(q, values.len());
    let (_, value, _) = values.select_nth_unstable_by(index, |a, b| a.total_cmp(b));
    Some(*value)
}

/// Equal-width bins between the smallest and the largest value: `[lower, upper, count]`.
pub fn histogram(values: &[f64], bins: usize) -> Value {
    if values.is_empty() {
        return json!([]);
    }
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if min == max {
        return json!([[min, max, values.len()]]);
    }
    let width = (max - min) / bins as f64;
    let mut counts = vec![0u64; bins];
    for value in values {
        let index = (((value - min) / width) as usize).min(bins - 1);
        counts[index] += 1;
    }
    Value::Array(
        counts
            .iter()
            .enumerate()
            .map(|(index, count)| {
                let lower = min + width * index as f64;
                let upper = if index + 1 == bins {
                    max
                } else {
                    lower + width
                };
                json!([lower, upper, count])
            })
            .collect(),
    )
}

#[derive(Debug, Clone)]
enum Accumulator {
    Count(u64),
    Sum { sum: f64, values: u64 },
    Avg { sum: f64, values: u64 },
    Min(Option<f64>),
    Max(Option<f64>),
    Values(Vec<f64>),
    Sketch(LogSketch),
    Distinct(HashSet<String>),
}

impl Accumulator {
    fn new(aggregation: Aggregation, from_rollup: bool) -> Accumulator {
        match aggregation {
            Aggregation::Count => Accumulator::Count(0),
            Aggregation::Sum => Accumulator::Sum {
                sum: 0.0,
                values: 0,
            },
            Aggregation::Avg => Accumulator::Avg {
                sum: 0.0,
                values: 0,
            },
            Aggregation::Min => Accumulator::Min(None),
            Aggregation::Max => Accumulator::Max(None),
            Aggregation::Percentile(_) if from_rollup => Accumulator::Sketch(LogSketch::default()),
            Aggregation::Percentile(_) | Aggregation::Histogram => Accumulator::Values(Vec::new()),
            Aggregation::Uniq => Accumulator::Distinct(HashSet::new()),
        }
    }

    fn add(&mut self, value: Option<&MeasureValue>) {
        let number = match value {
            Some(MeasureValue::Number(number)) if number.is_finite() => Some(*number),
            _ => None,
        };
        match self {
            Accumulator::Count(count) => *count += u64::from(value.is_some()),
            Accumulator::Sum { sum, values } | Accumulator::Avg { sum, values } => {
                if let Some(number) = number {
                    *sum += number;
                    *values += 1;
                }
            }
            Accumulator::Min(current) => {
                if let Some(number) = number {
                    *current = Some(current.map_or(number, |c| c.min(number)));
                }
            }
            Accumulator::Max(current) => {
                if let Some(number) = number {
                    *current = Some(current.map_or(number, |c| c.max(number)));
                }
            }
            Accumulator::Values(values) => values.extend(number),
            Accumulator::Sketch(sketch) => {
                if let Some(number) = number {
                    sketch.add(number, 1);
                }
            }
            Accumulator::Distinct(set) => match value {
                Some(MeasureValue::Text(text)) => {
                    set.insert(text.clone());
                }
                Some(MeasureValue::Number(number)) => {
                    set.insert(number.to_string());
                }
                None => {}
            },
        }
    }

    fn add_partial(&mut self, partial: &Partial, counts_rows: bool) {
        match self {
            Accumulator::Count(count) => {
                *count += if counts_rows {
                    partial.rows
                } else {
                    partial.values
                }
            }
            Accumulator::Sum { sum, values } | Accumulator::Avg { sum, values } => {
                *sum += partial.sum;
                *values += partial.values;
            }
            Accumulator::Sketch(sketch) => {
                if let Some(other) = &partial.sketch {
                    sketch.merge(other);
                }
            }
            _ => {}
        }
    }

    fn finish(self, aggregation: Aggregation, bins: usize) -> Value {
        match (self, aggregation) {
            (Accumulator::Count(count), _) => json!(count),
            (Accumulator::Sum { sum, values }, _) => {
                if values == 0 {
                    json!(0)
                } else {
                    json!(sum)
                }
            }
            (Accumulator::Avg { sum, values }, _) => {
                if values == 0 {
                    Value::Null
                } else {
                    json!(sum / values as f64)
                }
            }
            (Accumulator::Min(value) | Accumulator::Max(value), _) => json!(value),
            (Accumulator::Values(mut values), Aggregation::Percentile(p)) => {
                json!(exact_quantile(&mut values, f64::from(p) / 100.0))
            }
            (Accumulator::Values(values), _) => histogram(&values, bins),
            (Accumulator::Sketch(sketch), Aggregation::Percentile(p)) => {
                json!(sketch.quantile(f64::from(p) / 100.0))
            }
            (Accumulator::Sketch(_), _) => Value::Null,
            (Accumulator::Distinct(set), _) => json!(set.len()),
        }
    }
}

/// One result row: dimension values in query order, the time bucket, metric values in
/// query order.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultRow {
    pub dimensions: Vec<Value>,
    pub time_bucket: Option<Micros>,
    pub metrics: Vec<Value>,
}

/// Groups streamed rows (or rollup cells) by dimensions and time bucket.
pub struct Aggregator<'q> {
    query: &'q MetricsQuery,
    from_rollup: bool,
    groups: HashMap<(Vec<Value>, Option<Micros>), Vec<Accumulator>>,
}

impl<'q> Aggregator<'q> {
    /// `from_rollup`: percentiles are merged from sketches instead of exact values.
    pub fn new(query: &'q MetricsQuery, from_rollup: bool) -> Self {
        Aggregator {
            query,
            from_rollup,
            groups: HashMap::new(),
        }
    }

    fn group(&mut self, dimensions: Vec<Value>, at: Micros) -> &mut Vec<Accumulator> {
        let bucket = self
            .query
            .granularity
            .map(|granularity| granularity.bucket(at));
        let (query, from_rollup) = (self.query, self.from_rollup);
        self.groups.entry((dimensions, bucket)).or_insert_with(|| {
            query
                .metrics
                .iter()
                .map(|metric| Accumulator::new(metric.aggregation, from_rollup))
                .collect()
        })
    }

    /// One raw row: its dimension values (query order), its time, its measure values
    /// (query metric order; `None` = null).
    pub fn add_row(&mut self, dimensions: Vec<Value>, at: Micros, values: &[Option<MeasureValue>]) {
        let group = self.group(dimensions, at);
        for (accumulator, value) in group.iter_mut().zip(values) {
            accumulator.add(value.as_ref());
        }
    }

    /// One rollup cell: its dimension values, its bucket start, one partial per metric.
    pub fn add_cell(&mut self, dimensions: Vec<Value>, at: Micros, partials: &[Partial]) {
        let query = self.query;
        let group = self.group(dimensions, at);
        for ((accumulator, partial), metric) in group.iter_mut().zip(partials).zip(&query.metrics) {
            accumulator.add_partial(partial, metric.measure == "count");
        }
    }

    /// The rows, ordered (`orderBy`, else time asc, else first metric desc, else first
    /// dimension asc) and cut at the row limit.
    pub fn finish(self) -> Vec<ResultRow> {
        let query = self.query;
        let rows: Vec<ResultRow> = self
            .groups
            .into_iter()
            .map(|((dimensions, time_bucket), accumulators)| ResultRow {
                dimensions,
                time_bucket,
                metrics: accumulators
                    .into_iter()
                    .zip(&query.metrics)
                    .map(|(accumulator, metric)| accumulator.finish(metric.aggregation, query.bins))
                    .collect(),
            })
            .collect();
        order_and_limit(query, rows)
    }
}

/// Orders result rows as [`Aggregator::finish`] does and cuts them at the row limit, for
/// backends that aggregate in SQL.
pub fn order_and_limit(query: &MetricsQuery, mut rows: Vec<ResultRow>) -> Vec<ResultRow> {
    sort_rows(query, &mut rows);
    rows.truncate(query.row_limit);
    rows
}

fn compare_values(a: &Value, b: &Value) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Greater,
        (_, Value::Null) => Ordering::Less,
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .unwrap_or(0.0)
            .total_cmp(&y.as_f64().unwrap_or(0.0)),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => a.to_string().cmp(&b.to_string()),
    }
}

fn sort_rows(query: &MetricsQuery, rows: &mut [ResultRow]) {
    let key_of = |row: &ResultRow, field: &str| -> Value {
        if field == "time_dimension" {
            return json!(row.time_bucket);
        }
        if let Some(position) = query.dimensions.iter().position(|d| d.name == field) {
            return row.dimensions[position].clone();
        }
        query
            .metrics
            .iter()
            .position(|metric| metric.alias() == field)
            .map(|position| row.metrics[position].clone())
            .unwrap_or(Value::Null)
    };
    let mut order = query.order_by.clone();
    if order.is_empty() {
        if query.granularity.is_some() {
            order.push(OrderBy {
                field: "time_dimension".into(),
                descending: false,
            });
        }
        if let Some(metric) = query.metrics.first() {
            order.push(OrderBy {
                field: metric.alias(),
                descending: true,
            });
        }
    }
    // Ties end in dimension order, so that results are stable.
    for dimension in &query.dimensions {
        order.push(OrderBy {
            field: dimension.name.to_owned(),
            descending: false,
        });
    }
    rows.sort_by(|a, b| {
        for entry in &order {
            let (x, y) = (key_of(a, &entry.field), key_of(b, &entry.field));
            let ordering = if entry.descending {
                // Nulls last either way.
                match (x.is_null(), y.is_null()) {
                    (true, false) => std::cmp::Ordering::Greater,
                    (false, true) => std::cmp::Ordering::Less,
                    _ => compare_values(&y, &x),
                }
            } else {
                compare_values(&x, &y)
            };
            if ordering.is_ne() {
                return ordering;
            }
        }
        std::cmp::Ordering::Equal
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(text: Value) -> Result<MetricsQuery, String> {
        parse_query(&text.to_string(), ApiVersion::V1)
    }

    #[test]
    fn parses_a_full_query() {
        let parsed = query(json!({"view": "observations",
            "dimensions": [{"field": "name"}, {"field": "providedModelName"}],
            "metrics": [{"measure": "totalCost", "aggregation": "sum"}, {"measure": "latency", "aggregation": "p95"}],
            "filters": [{"column": "type", "operator": "any of", "value": ["GENERATION"], "type": "stringOptions"}],
            "timeDimension": {"granularity": "auto"},
            "fromTimestamp": "2025-01-01T00:00:00Z", "toTimestamp": "2025-01-31T00:00:00Z",
            "orderBy": [{"field": "sum_totalCost", "direction": "desc"}],
            "config": {"row_limit": 20}}))
        .unwrap();
        assert_eq!(parsed.granularity, Some(Granularity::Day));
        assert_eq!(parsed.metrics[1].alias(), "p95_latency");
        assert_eq!(parsed.row_limit, 20);
        assert_eq!(parsed.filters.len(), 1);
    }

    #[test]
    fn rejects_bad_queries() {
        let base = json!({"view": "observations", "metrics": [{"measure": "count", "aggregation": "count"}],
            "fromTimestamp": "2025-01-01T00:00:00Z", "toTimestamp": "2025-01-02T00:00:00Z"});
        assert!(query(base.clone()).is_ok());
        let mut cases = Vec::new();
        for (key, value) in [
            ("view", json!("nope")),
            ("metrics", json!([])),
            (
                "metrics",
                json!([{"measure": "traceId", "aggregation": "sum"}]),
            ),
            (
                "metrics",
                json!([{"measure": "latency", "aggregation": "p42"}]),
            ),
            ("dimensions", json!([{"field": "nope"}])),
            ("toTimestamp", json!("2024-01-01T00:00:00Z")),
            (
                "orderBy",
                json!([{"field": "sum_nope", "direction": "desc"}]),
            ),
            ("config", json!({"row_limit": 0})),
            ("timeDimension", json!({"granularity": "year"})),
        ] {
            let mut case = base.clone();
            case[key] = value;
            cases.push(case);
        }
        for case in cases {
            assert!(query(case.clone()).is_err(), "{case}");
        }
        let mut traces = base.clone();
        traces["view"] = json!("traces");
        assert!(parse_query(&traces.to_string(), ApiVersion::V2).is_err());
        let mut high = base;
        high["dimensions"] = json!([{"field": "userId"}]);
        assert!(parse_query(&high.to_string(), ApiVersion::V2).is_err());
    }

    #[test]
    fn buckets() {
        let at = parse_iso_lenient("2025-03-13T17:45:12Z").unwrap();
        let iso = |micros| crate::time::format_iso(micros);
        assert_eq!(
            iso(Granularity::Hour.bucket(at)),
            "2025-03-13T17:00:00.000Z"
        );
        assert_eq!(iso(Granularity::Day.bucket(at)), "2025-03-13T00:00:00.000Z");
        assert_eq!(
            iso(Granularity::Week.bucket(at)),
            "2025-03-10T00:00:00.000Z"
        );
        assert_eq!(
            iso(Granularity::Month.bucket(at)),
            "2025-03-01T00:00:00.000Z"
        );
        assert_eq!(
            iso(Granularity::Minute.bucket(at)),
            "2025-03-13T17:45:00.000Z"
        );
    }

    #[test]
    fn quantiles_exact_and_sketched() {
        let mut values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(exact_quantile(&mut values, 0.95), Some(95.0));
        assert_eq!(exact_quantile(&mut values, 0.5), Some(50.0));
        let mut sketch = LogSketch::default();
        for value in 1..=1000 {
            sketch.add(f64::from(value), 1);
        }
        let p95 = sketch.quantile(0.95).unwrap();
        assert!(
            (p95 - 950.0).abs() / 950.0 <= SKETCH_RELATIVE_ACCURACY,
            "{p95}"
        );
        sketch.add(500.0, -1);
        assert_eq!(sketch.count(), 999);
        assert_eq!(LogSketch::from_bytes(&sketch.to_bytes()), sketch);
    }

    #[test]
    fn sketches_are_stored_compactly_and_read_back() {
        let mut sketch = LogSketch::default();
        for value in [0.0, 0.0, 0.5, 1.0, 1.0, 2.0, 3.0, 1e6, 1e-6, 1e-3] {
            sketch.add(value, 1);
        }
        sketch.add(7.0, 300);
        let bytes = sketch.to_bytes();
        assert!(
            bytes.len() <= 1 + sketch.buckets.len() * 4,
            "{} bytes",
            bytes.len()
        );
        assert_eq!(LogSketch::from_bytes(&bytes), sketch);
        assert_eq!(LogSketch::from_bytes(&[]), LogSketch::default());
        // A truncated sketch keeps the buckets before the cut.
        let cut = LogSketch::from_bytes(&bytes[..bytes.len() - 1]);
        assert_eq!(cut.buckets, sketch.buckets[..sketch.buckets.len() - 1]);
        // Arbitrary bytes never panic.
        for seed in 0..64u8 {
            let noise: Vec<u8> = (0..40u8)
                .map(|i| seed.wrapping_mul(37).wrapping_add(i.wrapping_mul(101)))
                .collect();
            let read = LogSketch::from_bytes(&noise);
            assert!(read.buckets.windows(2).all(|pair| pair[0].0 < pair[1].0));
        }
    }

    #[test]
    fn histogram_bins() {
        let values = [0.0, 1.0, 2.0, 3.0, 4.0, 10.0];
        let bins = histogram(&values, 2);
        assert_eq!(bins, json!([[0.0, 5.0, 5], [5.0, 10.0, 1]]));
    }
}
