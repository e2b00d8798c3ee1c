//! Wire shape of metrics results: one object per row with the dimension fields, the
//! `time_dimension` (ISO) when the query has a time granularity, and `<agg>_<measure>`.

use serde_json::{Map, Value, json};

use glassbox_model::metrics::{MetricsQuery, ResultRow};
use glassbox_model::time::format_iso;

pub fn metrics_rows(query: &MetricsQuery, rows: &[ResultRow]) -> Value {
    let data: Vec<Value> = rows
        .iter()
        .map(|row| {
            let mut object = Map::new();
            for (dimension, value) in query.dimensions.iter().zip(&row.dimensions) {
                object.insert(dimension.name.to_owned(), value.clone());
            }
            if query.granularity.is_some() {
                object.insert(
                    "time_dimension".into(),
                    row.time_bucket
                        .map(format_iso)
                        .map_or(Value::Null, Value::String),
                );
            }
            for (metric, value) in query.metrics.iter().zip(&row.metrics) {
                object.insert(metric.alias(), value.clone());
            }
            Value::Object(object)
        })
        .collect();
    json!({ "data": data })
}
