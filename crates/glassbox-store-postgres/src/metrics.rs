//! PostgreSQL implementation of MetricsStore: runs the statement of `metrics_sql` (the
//! database groups and aggregates) and turns its rows into the model's result rows,
//! ordered and cut as the model's aggregator does. Always exact: there are no rollups
//! here, so `MetricsOptions::use_rollups` changes nothing.

use async_trait::async_trait;
use serde_json::{Value, json};
use sqlx::postgres::PgRow;
use sqlx::{Column, Row, TypeInfo};

use glassbox_model::ProjectId;
use glassbox_model::metrics::{
    Aggregation, DimensionKind, MetricsQuery, ResultRow, histogram, order_and_limit,
};
use glassbox_store::{MetricsOptions, MetricsStore, StoreResult};

use crate::PgStore;
use crate::metrics_sql::{MetricColumns, plan};

/// A dimension value as the embedded backend answers it: by the column's SQL type, tags
/// parsed from their JSON text, 0/1 booleans as JSON booleans.
fn dimension_value(row: &PgRow, index: usize, kind: DimensionKind) -> Result<Value, sqlx::Error> {
    let type_name = row.column(index).type_info().name().to_owned();
    Ok(match type_name.as_str() {
        "INT8" | "INT4" | "INT2" => {
            let number: Option<i64> = match type_name.as_str() {
                "INT8" => row.try_get(index)?,
                "INT4" => row.try_get::<Option<i32>, _>(index)?.map(i64::from),
                _ => row.try_get::<Option<i16>, _>(index)?.map(i64::from),
            };
            match (number, kind) {
                (None, _) => Value::Null,
                (Some(number), DimensionKind::Boolean) => json!(number != 0),
                (Some(number), _) => json!(number),
            }
        }
        "FLOAT8" => json!(row.try_get::<Option<f64>, _>(index)?),
        "BOOL" => json!(row.try_get::<Option<bool>, _>(index)?),
        _ => match row.try_get::<Option<String>, _>(index)? {
            None => Value::Null,
            Some(text) if kind == DimensionKind::Tags => {
                serde_json::from_str(&text).unwrap_or(Value::Null)
            }
            Some(text) => Value::String(text),
        },
    })
}

/// A metric's value from its columns starting at `index`, as the model's aggregator
/// finishes it.
fn metric_value(
    row: &PgRow,
    index: usize,
    aggregation: Aggregation,
    bins: usize,
) -> Result<Value, sqlx::Error> {
    Ok(match MetricColumns::of(aggregation) {
        MetricColumns::Count => json!(u64::try_from(row.try_get::<i64, _>(index)?).unwrap_or(0)),
        MetricColumns::SumAndValues => {
            let sum: Option<f64> = row.try_get(index)?;
            let values: i64 = row.try_get(index + 1)?;
            match (aggregation, sum) {
                (Aggregation::Avg, Some(sum)) if values > 0 => json!(sum / values as f64),
                (Aggregation::Avg, _) => Value::Null,
                (_, Some(sum)) if values > 0 => json!(sum),
                _ => json!(0),
            }
        }
        MetricColumns::Number => json!(row.try_get::<Option<f64>, _>(index)?),
        MetricColumns::Values => {
            let values: Option<Vec<f64>> = row.try_get(index)?;
            let finite: Vec<f64> = values
                .unwrap_or_default()
                .into_iter()
                .filter(|value| value.is_finite())
                .collect();
            histogram(&finite, bins)
        }
    })
}

fn result_row(row: &PgRow, query: &MetricsQuery) -> Result<ResultRow, sqlx::Error> {
    let mut dimensions = Vec::with_capacity(query.dimensions.len());
    for (index, dimension) in query.dimensions.iter().enumerate() {
        dimensions.push(dimension_value(row, index, dimension.kind)?);
    }
    let mut index = query.dimensions.len();
    let time_bucket = match query.granularity {
        Some(_) => {
            let bucket: i64 = row.try_get(index)?;
            index += 1;
            Some(bucket)
        }
        None => None,
    };
    let mut metrics = Vec::with_capacity(query.metrics.len());
    for metric in &query.metrics {
        metrics.push(metric_value(row, index, metric.aggregation, query.bins)?);
        index += MetricColumns::of(metric.aggregation).width();
    }
    Ok(ResultRow {
        dimensions,
        time_bucket,
        metrics,
    })
}

#[async_trait]
impl MetricsStore for PgStore {
    async fn query_metrics(
        &self,
        project: &ProjectId,
        query: &MetricsQuery,
        _options: MetricsOptions,
    ) -> StoreResult<Vec<ResultRow>> {
        let statement = plan(project.as_str(), query)?;
        let rows = statement
            .fetch_all(&self.pool, |row| result_row(row, query))
            .await?;
        Ok(order_and_limit(query, rows))
    }
}

#[cfg(test)]
mod tests;
