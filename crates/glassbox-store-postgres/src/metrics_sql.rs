//! The SQL planner of the metrics engine on PostgreSQL. A query becomes one statement:
//! an inner SELECT of the view's rows (observations, traces or scores, joined by
//! `project_id` and id, filtered and cut to the time range) with one column per
//! dimension, the row's time and one column per measure; an outer SELECT groups them by
//! the dimensions and the time bucket and aggregates every metric. Nothing is kept at
//! ingest: token and cost numbers come from the observation's maps at query time
//! (`usage_sql`), exactly as the embedded backend derives its facts.
//!
//! Aggregates mirror `glassbox_model::metrics::Aggregator`: sums and averages are read as
//! (sum, count of values), percentiles are nearest-rank (`percentile_disc`), histograms
//! are computed from the group's values in Rust.

use glassbox_model::metrics::{Aggregation, Granularity, MetricsQuery, View};
use glassbox_store::{StoreError, StoreResult};

use crate::sql::{ColumnResolver, Sql, Where, apply_filters};
use crate::usage_sql::{key_sum, key_sum_tokens, total_tokens};

/// `YYYY-MM` (or another `to_char` pattern) of a BIGINT microseconds column, in UTC.
fn utc_text(column: &str, pattern: &str) -> String {
    format!("to_char(to_timestamp(({column}) / 1000000) AT TIME ZONE 'UTC', '{pattern}')")
}

/// SQL of a dimension (or filter column) of a view. Types: text, BIGINT (numbers and
/// 0/1 booleans), DOUBLE PRECISION (score values), JSON text (tags).
pub(crate) fn dimension_sql(view: View, name: &str) -> Option<String> {
    let fixed = |sql: &str| Some(sql.to_owned());
    match view {
        View::Observations => match name {
            "id" => fixed("o.id"),
            "traceId" => fixed("o.trace_id"),
            "traceName" => fixed("t.name"),
            "environment" => fixed("o.environment"),
            "parentObservationId" => fixed("o.parent_observation_id"),
            "type" => fixed("o.type"),
            "name" => fixed("o.name"),
            "level" => fixed("o.level"),
            "version" => fixed("o.version"),
            // An observation whose trace does not exist (yet) has no tags.
            "tags" => fixed("COALESCE(t.tags, '[]')"),
            "providedModelName" => fixed("o.model"),
            "promptName" => fixed("o.prompt_name"),
            "promptVersion" => fixed("o.prompt_version"),
            "userId" => fixed("t.user_id"),
            "sessionId" => fixed("t.session_id"),
            "traceRelease" | "release" => fixed("t.release"),
            "traceVersion" => fixed("t.version"),
            "startTimeMonth" => Some(utc_text("o.start_time", "YYYY-MM")),
            "isRootObservation" => fixed(
                "(CASE WHEN o.parent_observation_id IS NULL OR o.is_app_root <> 0 THEN 1 ELSE 0 END)::bigint",
            ),
            "startTime" => fixed("o.start_time"),
            _ => None,
        },
        View::Traces => match name {
            "id" => fixed("t.id"),
            "name" => fixed("t.name"),
            "tags" => fixed("t.tags"),
            "userId" => fixed("t.user_id"),
            "sessionId" => fixed("t.session_id"),
            "release" => fixed("t.release"),
            "version" => fixed("t.version"),
            "environment" => fixed("t.environment"),
            "timestampMonth" => Some(utc_text("t.timestamp", "YYYY-MM")),
            "timestamp" => fixed("t.timestamp"),
            _ => None,
        },
        View::ScoresNumeric | View::ScoresBoolean | View::ScoresCategorical => match name {
            "id" => fixed("s.id"),
            "environment" => fixed("s.environment"),
            "name" => fixed("s.name"),
            "source" => fixed("s.source"),
            "dataType" => fixed("s.data_type"),
            "traceId" => fixed("s.trace_id"),
            "configId" => fixed("s.config_id"),
            "timestampMonth" => Some(utc_text("s.timestamp", "YYYY-MM")),
            "timestampDay" => Some(utc_text("s.timestamp", "YYYY-MM-DD")),
            "observationId" => fixed("s.observation_id"),
            "traceName" => fixed("t.name"),
            "tags" => fixed("t.tags"),
            "userId" => fixed("t.user_id"),
            "sessionId" => fixed("COALESCE(s.session_id, t.session_id)"),
            "traceRelease" => fixed("t.release"),
            "traceVersion" => fixed("t.version"),
            "observationName" => fixed("o.name"),
            "observationModelName" => fixed("o.model"),
            "observationPromptName" => fixed("o.prompt_name"),
            "observationPromptVersion" => fixed("o.prompt_version"),
            "datasetRunId" => fixed("s.dataset_run_id"),
            "value" => fixed("s.value"),
            "booleanValue" => fixed("(CASE WHEN s.value <> 0 THEN 1 ELSE 0 END)::bigint"),
            "stringValue" => fixed("s.string_value"),
            "timestamp" => fixed("s.timestamp"),
            _ => None,
        },
    }
}

/// Milliseconds between two BIGINT microsecond columns, as DOUBLE PRECISION.
fn millis(later: &str, earlier: &str) -> String {
    format!("(({later} - {earlier})::float8 / 1000.0::float8)")
}

/// Tokens per second over the observation's duration, NULL when it has none.
fn per_second(tokens: &str) -> String {
    format!(
        "(CASE WHEN o.end_time > o.start_time THEN ({tokens})::float8 * 1000000.0::float8 \
         / (o.end_time - o.start_time)::float8 END)"
    )
}

/// SQL of a measure's value on one row: DOUBLE PRECISION for numeric measures, text for
/// the others (which only `count` and `uniq`).
pub(crate) fn measure_sql(view: View, name: &str) -> Option<String> {
    let usage = "o.usage_details";
    let cost = "o.cost_details";
    let of_trace = "FROM observations o WHERE o.project_id = t.project_id AND o.trace_id = t.id";
    Some(match view {
        View::Observations => match name {
            "count" => "1::float8".to_owned(),
            "latency" => millis("o.end_time", "o.start_time"),
            "streamingLatency" => millis("o.end_time", "o.completion_start_time"),
            "inputTokens" => format!("({})::float8", key_sum_tokens(usage, "input")),
            "outputTokens" => format!("({})::float8", key_sum_tokens(usage, "output")),
            "totalTokens" => format!("({})::float8", total_tokens(usage)),
            "outputTokensPerSecond" => per_second(&key_sum_tokens(usage, "output")),
            "tokensPerSecond" => per_second(&total_tokens(usage)),
            "inputCost" => key_sum(cost, "input"),
            "outputCost" => key_sum(cost, "output"),
            "totalCost" => "o.total_cost".to_owned(),
            "timeToFirstToken" => millis("o.completion_start_time", "o.start_time"),
            "countScores" => "(SELECT COUNT(*) FROM scores s WHERE s.project_id = o.project_id \
                 AND s.trace_id = o.trace_id AND s.observation_id = o.id)::float8"
                .to_owned(),
            "traceId" => "o.trace_id".to_owned(),
            "uniqueUserIds" => "t.user_id".to_owned(),
            "uniqueSessionIds" => "t.session_id".to_owned(),
            _ => return None,
        },
        View::Traces => match name {
            "count" => "1::float8".to_owned(),
            "observationsCount" => format!("(SELECT COUNT(*) {of_trace})::float8"),
            "scoresCount" => "(SELECT COUNT(*) FROM scores s WHERE s.project_id = t.project_id \
                 AND s.trace_id = t.id)::float8"
                .to_owned(),
            "uniqueUserIds" => "t.user_id".to_owned(),
            "uniqueSessionIds" => "t.session_id".to_owned(),
            "latency" => format!(
                "(SELECT (MAX(COALESCE(o.end_time, o.start_time)) - MIN(o.start_time))::float8 \
                 / 1000.0::float8 {of_trace})"
            ),
            "totalTokens" => format!(
                "(SELECT COALESCE(SUM({}), 0)::float8 {of_trace})",
                total_tokens(usage)
            ),
            "totalCost" => format!("(SELECT COALESCE(SUM(o.total_cost), 0)::float8 {of_trace})"),
            _ => return None,
        },
        View::ScoresNumeric | View::ScoresBoolean | View::ScoresCategorical => match name {
            "count" => "1::float8".to_owned(),
            "value" => "s.value".to_owned(),
            _ => return None,
        },
    })
}

/// The rows of a view: `FROM` its table, the joins its columns may need (alias, join),
/// the project column, and the view's own row condition.
struct Source {
    from: &'static str,
    joins: &'static [(&'static str, &'static str)],
    project_column: &'static str,
    rows: Option<&'static str>,
}

const TRACE_OF_OBSERVATION: (&str, &str) = (
    "t",
    " LEFT JOIN traces t ON t.project_id = o.project_id AND t.id = o.trace_id",
);
const SCORE_JOINS: &[(&str, &str)] = &[
    (
        "t",
        " LEFT JOIN traces t ON t.project_id = s.project_id AND t.id = s.trace_id",
    ),
    (
        "o",
        " LEFT JOIN observations o ON o.project_id = s.project_id AND o.id = s.observation_id",
    ),
];

fn source(view: View) -> Source {
    let scores = |rows| Source {
        from: "FROM scores s",
        joins: SCORE_JOINS,
        project_column: "s.project_id",
        rows: Some(rows),
    };
    match view {
        View::Observations => Source {
            from: "FROM observations o",
            joins: &[TRACE_OF_OBSERVATION],
            project_column: "o.project_id",
            rows: None,
        },
        View::Traces => Source {
            from: "FROM traces t",
            joins: &[],
            project_column: "t.project_id",
            rows: None,
        },
        View::ScoresNumeric => scores("s.data_type IN ('NUMERIC', 'BOOLEAN')"),
        View::ScoresBoolean => scores("s.data_type = 'BOOLEAN'"),
        View::ScoresCategorical => scores("s.data_type = 'CATEGORICAL'"),
    }
}

/// Whether `sql` names a column of table alias `alias` (`alias.` not preceded by a
/// word character). The joins are to-one lookups by key, so leaving out one that no
/// column names changes no answer.
fn mentions(sql: &str, alias: &str) -> bool {
    let needle = format!("{alias}.");
    sql.match_indices(&needle).any(|(position, _)| {
        !sql[..position]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

struct ViewColumns(View);

impl ColumnResolver for ViewColumns {
    fn expression(&self, column: &str) -> Option<String> {
        dimension_sql(self.0, column)
    }

    fn score_target(&self) -> Option<(&'static str, &'static str, &'static str)> {
        None
    }
}

const MINUTE: i64 = 60_000_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// `floor(column / unit) * unit` on BIGINT, for negative times too.
fn floor_to(column: &str, unit: i64) -> String {
    format!("(({column}) - ((({column}) % {unit}) + {unit}) % {unit})")
}

/// Start (BIGINT microseconds, UTC) of the bucket holding `column`, as
/// [`Granularity::bucket`] computes it.
pub(crate) fn bucket_sql(granularity: Granularity, column: &str) -> String {
    match granularity {
        Granularity::Minute => floor_to(column, MINUTE),
        Granularity::Hour => floor_to(column, HOUR),
        Granularity::Day => floor_to(column, DAY),
        Granularity::Week => {
            // 1970-01-01 was a Thursday: shift so that weeks start on Monday.
            let offset = 3 * DAY;
            format!(
                "({} - {offset})",
                floor_to(&format!("({column}) + {offset}"), 7 * DAY)
            )
        }
        Granularity::Month => {
            let date = format!(
                "(DATE '1970-01-01' + ({} / {DAY})::int4)",
                floor_to(column, DAY)
            );
            format!(
                "((({date} - (EXTRACT(DAY FROM {date})::int4 - 1)) - DATE '1970-01-01')::bigint * {DAY})"
            )
        }
    }
}

/// What the statement answers for one metric, in column order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum MetricColumns {
    /// One BIGINT.
    Count,
    /// SUM (DOUBLE PRECISION, NULL without values) and COUNT of values.
    SumAndValues,
    /// One DOUBLE PRECISION, NULL without values.
    Number,
    /// The group's non-null values (DOUBLE PRECISION[]).
    Values,
}

impl MetricColumns {
    pub(crate) fn of(aggregation: Aggregation) -> MetricColumns {
        match aggregation {
            Aggregation::Count | Aggregation::Uniq => MetricColumns::Count,
            Aggregation::Sum | Aggregation::Avg => MetricColumns::SumAndValues,
            Aggregation::Min | Aggregation::Max | Aggregation::Percentile(_) => {
                MetricColumns::Number
            }
            Aggregation::Histogram => MetricColumns::Values,
        }
    }

    pub(crate) fn width(self) -> usize {
        match self {
            MetricColumns::SumAndValues => 2,
            _ => 1,
        }
    }
}

fn aggregate_sql(aggregation: Aggregation, value: &str) -> String {
    match aggregation {
        Aggregation::Count => format!("COUNT({value})"),
        Aggregation::Uniq => format!("COUNT(DISTINCT {value})"),
        Aggregation::Sum | Aggregation::Avg => format!("SUM({value}), COUNT({value})"),
        Aggregation::Min => format!("MIN({value})"),
        Aggregation::Max => format!("MAX({value})"),
        Aggregation::Percentile(percent) => {
            // Nearest rank, as the model's exact quantile; `{:?}` writes the shortest text
            // that reads back as the same double.
            let fraction = f64::from(percent) / 100.0;
            format!("percentile_disc({fraction:?}::float8) WITHIN GROUP (ORDER BY {value})")
        }
        Aggregation::Histogram => {
            format!("array_agg({value}) FILTER (WHERE {value} IS NOT NULL)")
        }
    }
}

/// The statement of a checked query: columns are the dimensions (query order), the time
/// bucket (BIGINT, only with a granularity), then each metric's [`MetricColumns`].
pub(crate) fn plan(project: &str, query: &MetricsQuery) -> StoreResult<Sql> {
    let view = query.view;
    let time = dimension_sql(view, view.time_column())
        .ok_or_else(|| StoreError::Internal("the view has no time column".into()))?;
    let mut inner: Vec<String> = Vec::new();
    for (index, dimension) in query.dimensions.iter().enumerate() {
        let sql = dimension_sql(view, dimension.name).ok_or_else(|| {
            StoreError::Conflict(format!("dimension `{}` is not supported", dimension.name))
        })?;
        inner.push(format!("{sql} AS d{index}"));
    }
    inner.push(format!("{time} AS ts"));
    for (index, metric) in query.metrics.iter().enumerate() {
        let sql = measure_sql(view, metric.measure).ok_or_else(|| {
            StoreError::Conflict(format!("measure `{}` is not supported", metric.measure))
        })?;
        inner.push(format!("{sql} AS m{index}"));
    }
    let source = source(view);
    let mut clauses = Where::in_project(source.project_column, project);
    if let Some(rows) = source.rows {
        clauses.push(rows, []);
    }
    clauses.range(&time, Some(query.from), Some(query.to));
    apply_filters(&mut clauses, &query.filters, &ViewColumns(view))
        .map_err(StoreError::Conflict)?;
    let columns = format!("{} {}", inner.join(", "), clauses.sql());
    let mut from = source.from.to_owned();
    for (alias, join) in source.joins {
        if mentions(&columns, alias) {
            from.push_str(join);
        }
    }

    let mut outer: Vec<String> = (0..query.dimensions.len())
        .map(|index| format!("r.d{index}"))
        .collect();
    if let Some(granularity) = query.granularity {
        outer.push(bucket_sql(granularity, "r.ts"));
    }
    let groups = outer.len();
    for (index, metric) in query.metrics.iter().enumerate() {
        outer.push(aggregate_sql(metric.aggregation, &format!("r.m{index}")));
    }
    let group_by = if groups == 0 {
        String::new()
    } else {
        let positions: Vec<String> = (1..=groups).map(|position| position.to_string()).collect();
        format!(" GROUP BY {}", positions.join(", "))
    };
    let mut sql = Sql::new(format!(
        "SELECT {} FROM (SELECT {} {from}",
        outer.join(", "),
        inner.join(", ")
    ));
    sql.push_where(&clauses);
    // Without groups the aggregate answers one row even for no input: keep only groups
    // that have rows, as the model's aggregator does.
    sql.push(&format!(") r{group_by} HAVING COUNT(*) > 0"));
    Ok(sql)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_are_kept_only_for_the_aliases_named() {
        assert!(mentions("COALESCE(t.tags, '[]') AS d0", "t"));
        assert!(mentions("o.id AS d0, t.user_id", "t"));
        assert!(!mentions("o.start_time AS ts, s2.value, last.x", "t"));
        assert!(!mentions("(SELECT 1 FROM scores s WHERE s.id = o.id)", "t"));
    }
}
