//! The SQL planner of the metrics engine. Every query becomes one streaming SELECT over
//! the view's rows (observations joined to their traces, traces, scores) whose values
//! feed the model's `Aggregator`; percentiles, histograms and distinct counts are computed
//! in Rust, never with window functions. Queries that fit a rollup (count/sum/avg of
//! additive measures, latency percentiles from sketches, dimensions and filters among the
//! rollup's) read the rollup cells of the whole buckets in the range and stream only the
//! partial buckets at its edges.

use async_trait::async_trait;
use rusqlite::Connection;
use rusqlite::types::{Value as SqlValue, ValueRef};
use serde_json::{Value, json};

use glassbox_model::metrics::{
    Aggregation, Aggregator, DimensionKind, MeasureValue, MetricsQuery, Partial, ResultRow, View,
};
use glassbox_model::{Micros, ProjectId};
use glassbox_store::{MetricsOptions, MetricsStore, StoreError, StoreResult};

use crate::SqliteStore;
use crate::connection::internal;
use crate::derived::{CELL_COLUMNS, Cell, ROLLUPS, Rollup};
use crate::sql::{ColumnResolver, Where, apply_filters};

/// SQL of a dimension (or filter column) of a view.
fn dimension_sql(view: View, name: &str) -> Option<&'static str> {
    Some(match view {
        View::Observations => match name {
            "id" => "f.id",
            "traceId" => "f.trace_id",
            "traceName" => "t.name",
            "environment" => "f.environment",
            "parentObservationId" => "f.parent_observation_id",
            "type" => "f.type",
            "name" => "f.name",
            "level" => "f.level",
            "version" => "f.version",
            "tags" => "COALESCE(t.tags, '[]')",
            "providedModelName" => "f.model",
            "promptName" => "f.prompt_name",
            "promptVersion" => "f.prompt_version",
            "userId" => "t.user_id",
            "sessionId" => "t.session_id",
            "traceRelease" | "release" => "t.release",
            "traceVersion" => "t.version",
            "startTimeMonth" => "strftime('%Y-%m', f.start_time / 1000000, 'unixepoch')",
            "isRootObservation" => "(f.parent_observation_id IS NULL OR f.is_app_root <> 0)",
            "startTime" => "f.start_time",
            _ => return None,
        },
        View::Traces => match name {
            "id" => "t.id",
            "name" => "t.name",
            "tags" => "t.tags",
            "userId" => "t.user_id",
            "sessionId" => "t.session_id",
            "release" => "t.release",
            "version" => "t.version",
            "environment" => "t.environment",
            "timestampMonth" => "strftime('%Y-%m', t.timestamp / 1000000, 'unixepoch')",
            "timestamp" => "t.timestamp",
            _ => return None,
        },
        View::ScoresNumeric | View::ScoresBoolean | View::ScoresCategorical => match name {
            "id" => "s.id",
            "environment" => "s.environment",
            "name" => "s.name",
            "source" => "s.source",
            "dataType" => "s.data_type",
            "traceId" => "s.trace_id",
            "configId" => "s.config_id",
            "timestampMonth" => "strftime('%Y-%m', s.timestamp / 1000000, 'unixepoch')",
            "timestampDay" => "strftime('%Y-%m-%d', s.timestamp / 1000000, 'unixepoch')",
            "observationId" => "s.observation_id",
            "traceName" => "t.name",
            "tags" => "t.tags",
            "userId" => "t.user_id",
            "sessionId" => "COALESCE(s.session_id, t.session_id)",
            "traceRelease" => "t.release",
            "traceVersion" => "t.version",
            "observationName" => "o.name",
            "observationModelName" => "o.model",
            "observationPromptName" => "o.prompt_name",
            "observationPromptVersion" => "o.prompt_version",
            "datasetRunId" => "s.dataset_run_id",
            "value" => "s.value",
            "booleanValue" => "(s.value <> 0)",
            "stringValue" => "s.string_value",
            "timestamp" => "s.timestamp",
            _ => return None,
        },
    })
}

/// SQL of a measure's value on one row.
fn measure_sql(view: View, name: &str) -> Option<&'static str> {
    Some(match view {
        View::Observations => match name {
            "count" => "1",
            "latency" => "(f.end_time - f.start_time) / 1000.0",
            "streamingLatency" => "(f.end_time - f.completion_start_time) / 1000.0",
            "inputTokens" => "f.input_tokens",
            "outputTokens" => "f.output_tokens",
            "totalTokens" => "f.total_tokens",
            "outputTokensPerSecond" => {
                "CASE WHEN f.end_time > f.start_time THEN f.output_tokens * 1000000.0 / (f.end_time - f.start_time) END"
            }
            "tokensPerSecond" => {
                "CASE WHEN f.end_time > f.start_time THEN f.total_tokens * 1000000.0 / (f.end_time - f.start_time) END"
            }
            "inputCost" => "f.input_cost",
            "outputCost" => "f.output_cost",
            "totalCost" => "f.total_cost",
            "timeToFirstToken" => "(f.completion_start_time - f.start_time) / 1000.0",
            "countScores" => {
                "(SELECT COUNT(*) FROM scores s WHERE s.project_id = f.project_id AND s.trace_id = f.trace_id AND s.observation_id = f.id)"
            }
            "traceId" => "f.trace_id",
            "uniqueUserIds" => "t.user_id",
            "uniqueSessionIds" => "t.session_id",
            _ => return None,
        },
        View::Traces => match name {
            "count" => "1",
            "observationsCount" => {
                "(SELECT COUNT(*) FROM observations f INDEXED BY observations_by_trace WHERE f.project_id = t.project_id AND f.trace_id = t.id)"
            }
            "scoresCount" => {
                "(SELECT COUNT(*) FROM scores s WHERE s.project_id = t.project_id AND s.trace_id = t.id)"
            }
            "uniqueUserIds" => "t.user_id",
            "uniqueSessionIds" => "t.session_id",
            "latency" => {
                "(SELECT (MAX(COALESCE(f.end_time, f.start_time)) - MIN(f.start_time)) / 1000.0 FROM observations f \
                 INDEXED BY observations_by_trace WHERE f.project_id = t.project_id AND f.trace_id = t.id)"
            }
            "totalTokens" => {
                "(SELECT COALESCE(SUM(f.total_tokens), 0) FROM observations f INDEXED BY observations_by_trace WHERE f.project_id = t.project_id AND f.trace_id = t.id)"
            }
            "totalCost" => {
                "(SELECT COALESCE(SUM(f.total_cost), 0) FROM observations f INDEXED BY observations_by_trace WHERE f.project_id = t.project_id AND f.trace_id = t.id)"
            }
            _ => return None,
        },
        View::ScoresNumeric | View::ScoresBoolean | View::ScoresCategorical => match name {
            "count" => "1",
            "value" => "s.value",
            _ => return None,
        },
    })
}

/// `FROM ... WHERE <project> AND <view rows>`; one `?` (the project id).
fn source_sql(view: View) -> &'static str {
    match view {
        View::Observations => {
            "FROM observations f LEFT JOIN traces t ON t.project_id = f.project_id AND t.id = f.trace_id \
             WHERE f.project_id = ?"
        }
        View::Traces => "FROM traces t WHERE t.project_id = ?",
        View::ScoresNumeric => {
            "FROM scores s LEFT JOIN traces t ON t.project_id = s.project_id AND t.id = s.trace_id \
             LEFT JOIN observations o ON o.project_id = s.project_id AND o.id = s.observation_id \
             WHERE s.project_id = ? AND s.data_type IN ('NUMERIC', 'BOOLEAN')"
        }
        View::ScoresBoolean => {
            "FROM scores s LEFT JOIN traces t ON t.project_id = s.project_id AND t.id = s.trace_id \
             LEFT JOIN observations o ON o.project_id = s.project_id AND o.id = s.observation_id \
             WHERE s.project_id = ? AND s.data_type = 'BOOLEAN'"
        }
        View::ScoresCategorical => {
            "FROM scores s LEFT JOIN traces t ON t.project_id = s.project_id AND t.id = s.trace_id \
             LEFT JOIN observations o ON o.project_id = s.project_id AND o.id = s.observation_id \
             WHERE s.project_id = ? AND s.data_type = 'CATEGORICAL'"
        }
    }
}

struct ViewColumns(View);

impl ColumnResolver for ViewColumns {
    fn expression(&self, column: &str) -> Option<String> {
        dimension_sql(self.0, column).map(str::to_owned)
    }

    fn score_target(&self) -> Option<(&'static str, &'static str, &'static str)> {
        None
    }
}

/// The columns of a rollup table (`f`) for the observations dimensions it keeps.
struct RollupColumns;

impl ColumnResolver for RollupColumns {
    fn expression(&self, column: &str) -> Option<String> {
        rollup_column(column).map(|name| format!("f.{name}"))
    }

    fn score_target(&self) -> Option<(&'static str, &'static str, &'static str)> {
        None
    }
}

fn filters(query: &MetricsQuery) -> StoreResult<Where> {
    let mut clauses = Where::default();
    apply_filters(&mut clauses, &query.filters, &ViewColumns(query.view))
        .map_err(StoreError::Conflict)?;
    Ok(clauses)
}

fn dimension_value(kind: DimensionKind, value: ValueRef<'_>) -> Value {
    match (kind, value) {
        (_, ValueRef::Null) => Value::Null,
        (DimensionKind::Tags, ValueRef::Text(text)) => {
            serde_json::from_slice(text).unwrap_or(Value::Null)
        }
        (DimensionKind::Boolean, ValueRef::Integer(number)) => json!(number != 0),
        (_, ValueRef::Integer(number)) => json!(number),
        (_, ValueRef::Real(number)) => json!(number),
        (_, ValueRef::Text(text)) => Value::String(String::from_utf8_lossy(text).into_owned()),
        (_, ValueRef::Blob(_)) => Value::Null,
    }
}

fn measure_value(value: ValueRef<'_>) -> Option<MeasureValue> {
    match value {
        ValueRef::Null => None,
        ValueRef::Integer(number) => Some(MeasureValue::Number(number as f64)),
        ValueRef::Real(number) => Some(MeasureValue::Number(number)),
        ValueRef::Text(text) => Some(MeasureValue::Text(
            String::from_utf8_lossy(text).into_owned(),
        )),
        ValueRef::Blob(_) => None,
    }
}

/// Streams the view's rows with time in `[from, to)` into the aggregator.
fn stream_rows(
    connection: &Connection,
    project: &ProjectId,
    query: &MetricsQuery,
    from: Micros,
    to: Micros,
    aggregator: &mut Aggregator<'_>,
) -> StoreResult<()> {
    let view = query.view;
    let time = dimension_sql(view, view.time_column()).expect("every view has a time column");
    let mut columns: Vec<String> = Vec::new();
    for dimension in &query.dimensions {
        columns.push(
            dimension_sql(view, dimension.name)
                .ok_or_else(|| {
                    StoreError::Conflict(format!("dimension `{}` is not supported", dimension.name))
                })?
                .to_owned(),
        );
    }
    columns.push(time.to_owned());
    for metric in &query.metrics {
        columns.push(
            measure_sql(view, metric.measure)
                .ok_or_else(|| {
                    StoreError::Conflict(format!("measure `{}` is not supported", metric.measure))
                })?
                .to_owned(),
        );
    }
    let clauses = filters(query)?;
    let sql = format!(
        "SELECT {} {} AND {time} >= ? AND {time} < ? AND {}",
        columns.join(", "),
        source_sql(view),
        clauses.sql()
    );
    let mut params: Vec<SqlValue> =
        vec![project.as_str().to_owned().into(), from.into(), to.into()];
    params.extend(clauses.params);
    let mut statement = connection.prepare_cached(&sql).map_err(internal)?;
    let mut rows = statement
        .query(rusqlite::params_from_iter(params))
        .map_err(internal)?;
    let dimensions = query.dimensions.len();
    let mut values: Vec<Option<MeasureValue>> = Vec::with_capacity(query.metrics.len());
    while let Some(row) = rows.next().map_err(internal)? {
        let keys: Vec<Value> = query
            .dimensions
            .iter()
            .enumerate()
            .map(|(index, dimension)| {
                row.get_ref(index)
                    .map(|value| dimension_value(dimension.kind, value))
            })
            .collect::<rusqlite::Result<_>>()
            .map_err(internal)?;
        let at: i64 = row.get(dimensions).map_err(internal)?;
        values.clear();
        for index in 0..query.metrics.len() {
            values.push(measure_value(
                row.get_ref(dimensions + 1 + index).map_err(internal)?,
            ));
        }
        aggregator.add_row(keys, at, &values);
    }
    Ok(())
}

/// The column a rollup keeps for an observations dimension.
fn rollup_column(dimension: &str) -> Option<&'static str> {
    Some(match dimension {
        "environment" => "environment",
        "type" => "type",
        "name" => "name",
        "providedModelName" => "model",
        "level" => "level",
        "userId" => "user_id",
        _ => return None,
    })
}

fn rollup_measure(measure: &str, aggregation: Aggregation) -> bool {
    let additive = matches!(
        measure,
        "count"
            | "latency"
            | "timeToFirstToken"
            | "inputTokens"
            | "outputTokens"
            | "totalTokens"
            | "inputCost"
            | "outputCost"
            | "totalCost"
    );
    match aggregation {
        Aggregation::Count | Aggregation::Sum | Aggregation::Avg => additive,
        Aggregation::Percentile(_) => measure == "latency",
        _ => false,
    }
}

/// The rollup that can answer the query, with the whole-bucket part of its range.
fn choose_rollup(query: &MetricsQuery) -> Option<(&'static Rollup, Micros, Micros)> {
    if query.view != View::Observations {
        return None;
    }
    if !query
        .metrics
        .iter()
        .all(|metric| rollup_measure(metric.measure, metric.aggregation))
    {
        return None;
    }
    ROLLUPS.iter().find_map(|rollup| {
        let has =
            |name: &str| rollup_column(name).is_some_and(|column| rollup.columns.contains(&column));
        let fits = query.dimensions.iter().all(|dimension| has(dimension.name))
            && query.filters.iter().all(|filter| has(filter.column))
            && query
                .granularity
                .is_none_or(|granularity| granularity.is_multiple_of(rollup.unit));
        if !fits {
            return None;
        }
        let first = rollup.unit.bucket(query.from);
        let start = if first == query.from {
            first
        } else {
            next_bucket(rollup, first)
        };
        let end = rollup.unit.bucket(query.to);
        (start < end).then_some((rollup, start, end))
    })
}

fn next_bucket(rollup: &Rollup, bucket: Micros) -> Micros {
    let step = match rollup.unit {
        glassbox_model::metrics::Granularity::Hour => 3_600_000_000,
        _ => 86_400_000_000,
    };
    bucket + step
}

fn partial(cell: &Cell, measure: &str) -> Partial {
    let rows = cell.rows.max(0) as u64;
    let (values, sum) = match measure {
        "count" => (cell.rows, cell.rows as f64),
        "latency" => (cell.latency_n, cell.latency_sum),
        "timeToFirstToken" => (cell.ttft_n, cell.ttft_sum),
        "inputTokens" => (cell.rows, cell.input_tokens),
        "outputTokens" => (cell.rows, cell.output_tokens),
        "totalTokens" => (cell.rows, cell.total_tokens),
        "inputCost" => (cell.rows, cell.input_cost),
        "outputCost" => (cell.rows, cell.output_cost),
        "totalCost" => (cell.total_cost_n, cell.total_cost),
        _ => (0, 0.0),
    };
    Partial {
        rows,
        values: values.max(0) as u64,
        sum,
        sketch: (measure == "latency").then(|| cell.latency_sketch.clone()),
    }
}

fn read_cells(
    connection: &Connection,
    project: &ProjectId,
    query: &MetricsQuery,
    rollup: &Rollup,
    from: Micros,
    to: Micros,
    aggregator: &mut Aggregator<'_>,
) -> StoreResult<()> {
    let columns: Vec<String> = query
        .dimensions
        .iter()
        .map(|dimension| format!("f.{}", rollup_column(dimension.name).unwrap_or("NULL")))
        .collect();
    let with_sketch = query
        .metrics
        .iter()
        .any(|metric| matches!(metric.aggregation, Aggregation::Percentile(_)));
    let cell_columns = CELL_COLUMNS
        .split(", ")
        .map(|column| {
            if column == "latency_sketch" && !with_sketch {
                "NULL".to_owned()
            } else {
                format!("f.{column}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    // Filters name observation dimensions; a rollup keeps them in its own columns.
    let mut clauses = Where::default();
    apply_filters(&mut clauses, &query.filters, &RollupColumns).map_err(StoreError::Conflict)?;
    let dimension_list = if columns.is_empty() {
        String::new()
    } else {
        format!("{}, ", columns.join(", "))
    };
    let sql = format!(
        "SELECT {dimension_list}f.bucket, {cell_columns} FROM {} f WHERE f.project_id = ? AND f.bucket >= ? AND f.bucket < ? AND {}",
        rollup.table,
        clauses.sql()
    );
    let mut params: Vec<SqlValue> =
        vec![project.as_str().to_owned().into(), from.into(), to.into()];
    params.extend(clauses.params);
    let mut statement = connection.prepare_cached(&sql).map_err(internal)?;
    let mut rows = statement
        .query(rusqlite::params_from_iter(params))
        .map_err(internal)?;
    let dimensions = query.dimensions.len();
    while let Some(row) = rows.next().map_err(internal)? {
        let keys: Vec<Value> = (0..dimensions)
            .map(|index| {
                row.get_ref(index)
                    .map(|value| dimension_value(DimensionKind::Text, value))
            })
            .collect::<rusqlite::Result<_>>()
            .map_err(internal)?;
        let bucket: i64 = row.get(dimensions).map_err(internal)?;
        let cell = Cell::from_row(row, dimensions + 1, with_sketch).map_err(internal)?;
        let partials: Vec<Partial> = query
            .metrics
            .iter()
            .map(|metric| partial(&cell, metric.measure))
            .collect();
        aggregator.add_cell(keys, bucket, &partials);
    }
    Ok(())
}

/// Runs a checked query on one connection.
pub(crate) fn run_query(
    connection: &Connection,
    project: &ProjectId,
    query: &MetricsQuery,
    options: MetricsOptions,
) -> StoreResult<Vec<ResultRow>> {
    let rollup = if options.use_rollups {
        choose_rollup(query)
    } else {
        None
    };
    match rollup {
        Some((rollup, start, end)) => {
            let mut aggregator = Aggregator::new(query, true);
            read_cells(
                connection,
                project,
                query,
                rollup,
                start,
                end,
                &mut aggregator,
            )?;
            stream_rows(
                connection,
                project,
                query,
                query.from,
                start,
                &mut aggregator,
            )?;
            stream_rows(connection, project, query, end, query.to, &mut aggregator)?;
            Ok(aggregator.finish())
        }
        None => {
            let mut aggregator = Aggregator::new(query, false);
            stream_rows(
                connection,
                project,
                query,
                query.from,
                query.to,
                &mut aggregator,
            )?;
            Ok(aggregator.finish())
        }
    }
}

#[async_trait]
impl MetricsStore for SqliteStore {
    async fn query_metrics(
        &self,
        project: &ProjectId,
        query: &MetricsQuery,
        options: MetricsOptions,
    ) -> StoreResult<Vec<ResultRow>> {
        let project = project.clone();
        let query = query.clone();
        self.readers
            .read(move |connection| run_query(connection, &project, &query, options))
            .await
    }
}
