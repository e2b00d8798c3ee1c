//! The SQL-aggregated metrics against a brute force: the view's rows read plainly, their
//! dimension and measure values derived in Rust (as the embedded backend derives its
//! facts) and aggregated by the model's `Aggregator`.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value, json};
use sqlx::Row;

use glassbox_model::metrics::{
    Aggregator, ApiVersion, MeasureValue, MetricsQuery, ResultRow, parse_query_value,
};
use glassbox_model::usage::sum_keys_containing;
use glassbox_model::{JsonObject, ProjectId};
use glassbox_store::testsuite::{ingest_ok, project};
use glassbox_store::{MetricsOptions, Stores};

use crate::tests::test_database_url;
use crate::{PgConfig, PgStore};

type Values = HashMap<&'static str, Value>;

/// One row of a view: dimension values and measure values by name, and its time.
struct ViewRow {
    at: i64,
    dimensions: Values,
    measures: HashMap<&'static str, Option<MeasureValue>>,
}

fn object(text: &str) -> JsonObject {
    serde_json::from_str(text).unwrap_or_default()
}

fn month(at: i64) -> String {
    glassbox_model::time::format_iso(at)[..7].to_owned()
}

fn number(value: Option<f64>) -> Option<MeasureValue> {
    value.map(MeasureValue::Number)
}

fn text(value: Option<String>) -> Option<MeasureValue> {
    value.map(MeasureValue::Text)
}

fn tokens(map: &JsonObject, needle: &str) -> i64 {
    sum_keys_containing(map, needle).unwrap_or(0.0) as i64
}

fn total(map: &JsonObject) -> i64 {
    map.get("total").and_then(Value::as_i64).unwrap_or(0)
}

struct RawObservation {
    trace_id: String,
    start: i64,
    end: Option<i64>,
    total_tokens: i64,
    total_cost: Option<f64>,
}

async fn observation_rows(store: &PgStore, project: &ProjectId) -> Vec<(ViewRow, RawObservation)> {
    let rows = sqlx::query(
        "SELECT o.id, o.trace_id, o.type, o.name, o.environment, o.level, o.version, o.model, \
         o.prompt_name, o.prompt_version, o.parent_observation_id, o.is_app_root, o.start_time, \
         o.end_time, o.completion_start_time, o.usage_details, o.cost_details, o.total_cost, \
         t.name, t.user_id, t.session_id, t.release, t.version, t.tags, \
         (SELECT COUNT(*) FROM scores s WHERE s.project_id = o.project_id AND s.trace_id = o.trace_id \
          AND s.observation_id = o.id) \
         FROM observations o LEFT JOIN traces t ON t.project_id = o.project_id AND t.id = o.trace_id \
         WHERE o.project_id = $1",
    )
    .bind(project.as_str())
    .fetch_all(store.pool())
    .await
    .unwrap();
    rows.iter()
        .map(|row| {
            let get_text = |index: usize| row.get::<Option<String>, _>(index);
            let start: i64 = row.get(12);
            let end: Option<i64> = row.get(13);
            let first: Option<i64> = row.get(14);
            let usage = object(&row.get::<String, _>(15));
            let cost = object(&row.get::<String, _>(16));
            let total_cost: Option<f64> = row.get(17);
            let (input, output, total_tokens) = (
                tokens(&usage, "input"),
                tokens(&usage, "output"),
                total(&usage),
            );
            let per_second = |count: i64| {
                end.filter(|end| *end > start)
                    .map(|end| count as f64 * 1_000_000.0 / (end - start) as f64)
            };
            let is_root = get_text(10).is_none() || row.get::<i64, _>(11) != 0;
            let tags: Value = get_text(23)
                .map(|tags| serde_json::from_str(&tags).unwrap())
                .unwrap_or(json!([]));
            let dimensions: Values = [
                ("id", json!(get_text(0))),
                ("traceId", json!(get_text(1))),
                ("type", json!(get_text(2))),
                ("name", json!(get_text(3))),
                ("environment", json!(get_text(4))),
                ("level", json!(get_text(5))),
                ("version", json!(get_text(6))),
                ("providedModelName", json!(get_text(7))),
                ("promptName", json!(get_text(8))),
                ("promptVersion", json!(row.get::<Option<i64>, _>(9))),
                ("parentObservationId", json!(get_text(10))),
                ("isRootObservation", json!(is_root)),
                ("traceName", json!(get_text(18))),
                ("userId", json!(get_text(19))),
                ("sessionId", json!(get_text(20))),
                ("traceRelease", json!(get_text(21))),
                ("release", json!(get_text(21))),
                ("traceVersion", json!(get_text(22))),
                ("tags", tags),
                ("startTimeMonth", json!(month(start))),
            ]
            .into_iter()
            .collect();
            let measures = [
                ("count", number(Some(1.0))),
                (
                    "latency",
                    number(end.map(|end| (end - start) as f64 / 1000.0)),
                ),
                (
                    "streamingLatency",
                    number(
                        end.zip(first)
                            .map(|(end, first)| (end - first) as f64 / 1000.0),
                    ),
                ),
                ("inputTokens", number(Some(input as f64))),
                ("outputTokens", number(Some(output as f64))),
                ("totalTokens", number(Some(total_tokens as f64))),
                ("outputTokensPerSecond", number(per_second(output))),
                ("tokensPerSecond", number(per_second(total_tokens))),
                (
                    "inputCost",
                    number(Some(sum_keys_containing(&cost, "input").unwrap_or(0.0))),
                ),
                (
                    "outputCost",
                    number(Some(sum_keys_containing(&cost, "output").unwrap_or(0.0))),
                ),
                ("totalCost", number(total_cost)),
                (
                    "timeToFirstToken",
                    number(first.map(|first| (first - start) as f64 / 1000.0)),
                ),
                ("countScores", number(Some(row.get::<i64, _>(24) as f64))),
                ("traceId", text(get_text(1))),
                ("uniqueUserIds", text(get_text(19))),
                ("uniqueSessionIds", text(get_text(20))),
            ]
            .into_iter()
            .collect();
            let raw = RawObservation {
                trace_id: row.get(1),
                start,
                end,
                total_tokens,
                total_cost,
            };
            (
                ViewRow {
                    at: start,
                    dimensions,
                    measures,
                },
                raw,
            )
        })
        .collect()
}

async fn trace_rows(
    store: &PgStore,
    project: &ProjectId,
    observations: &[RawObservation],
) -> Vec<ViewRow> {
    let rows = sqlx::query(
        "SELECT t.id, t.name, t.tags, t.user_id, t.session_id, t.release, t.version, t.environment, \
         t.timestamp, (SELECT COUNT(*) FROM scores s WHERE s.project_id = t.project_id AND s.trace_id = t.id) \
         FROM traces t WHERE t.project_id = $1",
    )
    .bind(project.as_str())
    .fetch_all(store.pool())
    .await
    .unwrap();
    rows.iter()
        .map(|row| {
            let id: String = row.get(0);
            let at: i64 = row.get(8);
            let mine: Vec<&RawObservation> = observations
                .iter()
                .filter(|observation| observation.trace_id == id)
                .collect();
            let latency = (!mine.is_empty()).then(|| {
                let last = mine.iter().map(|o| o.end.unwrap_or(o.start)).max().unwrap();
                let first = mine.iter().map(|o| o.start).min().unwrap();
                (last - first) as f64 / 1000.0
            });
            let get_text = |index: usize| row.get::<Option<String>, _>(index);
            let dimensions: Values = [
                ("id", json!(id)),
                ("name", json!(get_text(1))),
                (
                    "tags",
                    serde_json::from_str(&row.get::<String, _>(2)).unwrap(),
                ),
                ("userId", json!(get_text(3))),
                ("sessionId", json!(get_text(4))),
                ("release", json!(get_text(5))),
                ("version", json!(get_text(6))),
                ("environment", json!(get_text(7))),
                ("timestampMonth", json!(month(at))),
            ]
            .into_iter()
            .collect();
            let measures = [
                ("count", number(Some(1.0))),
                ("observationsCount", number(Some(mine.len() as f64))),
                ("scoresCount", number(Some(row.get::<i64, _>(9) as f64))),
                ("uniqueUserIds", text(get_text(3))),
                ("uniqueSessionIds", text(get_text(4))),
                ("latency", number(latency)),
                (
                    "totalTokens",
                    number(Some(mine.iter().map(|o| o.total_tokens).sum::<i64>() as f64)),
                ),
                (
                    "totalCost",
                    number(Some(mine.iter().filter_map(|o| o.total_cost).sum::<f64>())),
                ),
            ]
            .into_iter()
            .collect();
            ViewRow {
                at,
                dimensions,
                measures,
            }
        })
        .collect()
}

async fn score_rows(store: &PgStore, project: &ProjectId) -> Vec<(String, ViewRow)> {
    let rows = sqlx::query(
        "SELECT s.id, s.environment, s.name, s.source, s.data_type, s.trace_id, s.config_id, s.timestamp, \
         s.observation_id, t.name, t.tags, t.user_id, COALESCE(s.session_id, t.session_id), t.release, \
         t.version, o.name, o.model, o.prompt_name, o.prompt_version, s.dataset_run_id, s.value, s.string_value \
         FROM scores s LEFT JOIN traces t ON t.project_id = s.project_id AND t.id = s.trace_id \
         LEFT JOIN observations o ON o.project_id = s.project_id AND o.id = s.observation_id \
         WHERE s.project_id = $1",
    )
    .bind(project.as_str())
    .fetch_all(store.pool())
    .await
    .unwrap();
    rows.iter()
        .map(|row| {
            let get_text = |index: usize| row.get::<Option<String>, _>(index);
            let at: i64 = row.get(7);
            let value: f64 = row.get(20);
            let dimensions: Values = [
                ("id", json!(get_text(0))),
                ("environment", json!(get_text(1))),
                ("name", json!(get_text(2))),
                ("source", json!(get_text(3))),
                ("dataType", json!(get_text(4))),
                ("traceId", json!(get_text(5))),
                ("configId", json!(get_text(6))),
                ("timestampMonth", json!(month(at))),
                (
                    "timestampDay",
                    json!(glassbox_model::time::format_iso(at)[..10].to_owned()),
                ),
                ("observationId", json!(get_text(8))),
                ("traceName", json!(get_text(9))),
                (
                    "tags",
                    get_text(10)
                        .map(|tags| serde_json::from_str(&tags).unwrap())
                        .unwrap_or(Value::Null),
                ),
                ("userId", json!(get_text(11))),
                ("sessionId", json!(get_text(12))),
                ("traceRelease", json!(get_text(13))),
                ("traceVersion", json!(get_text(14))),
                ("observationName", json!(get_text(15))),
                ("observationModelName", json!(get_text(16))),
                ("observationPromptName", json!(get_text(17))),
                (
                    "observationPromptVersion",
                    json!(row.get::<Option<i64>, _>(18)),
                ),
                ("datasetRunId", json!(get_text(19))),
                ("value", json!(value)),
                ("booleanValue", json!(value != 0.0)),
                ("stringValue", json!(get_text(21))),
            ]
            .into_iter()
            .collect();
            let measures = [("count", number(Some(1.0))), ("value", number(Some(value)))]
                .into_iter()
                .collect();
            (
                row.get::<String, _>(4),
                ViewRow {
                    at,
                    dimensions,
                    measures,
                },
            )
        })
        .collect()
}

/// The brute-force answer: rows in the range that pass `keep`, through the aggregator.
fn brute_force(
    query: &MetricsQuery,
    rows: &[&ViewRow],
    keep: &dyn Fn(&ViewRow) -> bool,
) -> Vec<ResultRow> {
    let mut aggregator = Aggregator::new(query, false);
    for row in rows
        .iter()
        .filter(|row| row.at >= query.from && row.at < query.to && keep(row))
    {
        let keys = query
            .dimensions
            .iter()
            .map(|dimension| row.dimensions[dimension.name].clone())
            .collect();
        let values: Vec<Option<MeasureValue>> = query
            .metrics
            .iter()
            .map(|metric| row.measures[metric.measure].clone())
            .collect();
        aggregator.add_row(keys, row.at, &values);
    }
    aggregator.finish()
}

/// JSON equality with relative tolerance on non-integer numbers (sums may add up in
/// another order).
fn close(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| close(x, y))
        }
        _ => a == b,
    }
}

fn assert_same(actual: &[ResultRow], expected: &[ResultRow], what: &Value) {
    assert_eq!(
        actual.len(),
        expected.len(),
        "{what}\nactual: {actual:?}\nexpected: {expected:?}"
    );
    for (a, e) in actual.iter().zip(expected) {
        let same = a.time_bucket == e.time_bucket
            && close(&json!(a.dimensions), &json!(e.dimensions))
            && close(&json!(a.metrics), &json!(e.metrics));
        assert!(same, "{what}\nactual: {a:?}\nexpected: {e:?}");
    }
}

fn generation(index: usize) -> Value {
    let day = 1 + index % 3;
    let hour = index % 24;
    let start = format!("2025-03-0{day}T{hour:02}:{:02}:00Z", (index * 7) % 60);
    let end = format!(
        "2025-03-0{day}T{hour:02}:{:02}:{:02}Z",
        (index * 7) % 60,
        1 + index % 50
    );
    let level = ["DEFAULT", "DEBUG", "WARNING", "ERROR"][index % 4];
    let model = ["gpt-4o", "claude", "custom-model"][index % 3];
    let (input_cost, output_cost) = (0.001 * index as f64, 0.0005 * (index % 9) as f64);
    let mut body = json!({"id": format!("o{index}"), "traceId": format!("t{}", index % 7),
        "name": format!("step-{}", index % 4), "startTime": start, "level": level, "model": model,
        "usageDetails": {"input": 10 * index, "output": 3 + index % 5, "input_cached": index % 2,
                         "total": 10 * index + 3 + index % 5 + index % 2},
        "costDetails": {"input": input_cost, "output": output_cost, "total": input_cost + output_cost}});
    if !index.is_multiple_of(5) {
        body["endTime"] = json!(end);
    }
    if index.is_multiple_of(3) {
        body["completionStartTime"] = json!(start.replace(":00Z", ":00.250Z"));
    }
    if index % 4 == 1 {
        body["parentObservationId"] = json!(format!("o{}", index - 1));
    }
    if index % 6 == 2 {
        body["promptName"] = json!("p");
        body["promptVersion"] = json!(1 + index % 2);
    }
    let kind = if index % 8 == 7 {
        "span-create"
    } else {
        "generation-create"
    };
    json!({"id": format!("e-o{index}"), "type": kind, "timestamp": "2025-03-01T00:00:00Z", "body": body})
}

fn seed() -> Value {
    let mut events: Vec<Value> = (0..90).map(generation).collect();
    for index in 0..6 {
        let tags = [json!(["a"]), json!(["b", "a"]), json!([])][index % 3].clone();
        let mut body = json!({"id": format!("t{index}"), "name": format!("trace-{}", index % 2),
            "timestamp": format!("2025-03-0{}T{:02}:00:00Z", 1 + index % 3, 3 * index),
            "tags": tags, "release": "r1"});
        if index != 4 {
            body["userId"] = json!(format!("user-{}", index % 3));
        }
        if index.is_multiple_of(2) {
            body["sessionId"] = json!(format!("session-{}", index % 4));
        }
        events.push(json!({"id": format!("e-t{index}"), "type": "trace-create",
            "timestamp": "2025-03-01T00:00:00Z", "body": body}));
    }
    for index in 0..24 {
        let (data_type, value) = match index % 3 {
            0 => ("NUMERIC", json!(0.25 * index as f64)),
            1 => ("BOOLEAN", json!((index % 2) as f64)),
            _ => ("CATEGORICAL", json!(["good", "bad"][index % 2])),
        };
        let mut body = json!({"id": format!("s{index}"), "traceId": format!("t{}", index % 7),
            "name": format!("score-{}", index % 2), "dataType": data_type, "value": value,
            "timestamp": format!("2025-03-0{}T{:02}:30:00Z", 1 + index % 3, index)});
        if index.is_multiple_of(4) {
            body["observationId"] = json!(format!("o{}", index % 7));
        }
        events.push(json!({"id": format!("e-s{index}"), "type": "score-create",
            "timestamp": "2025-03-01T00:00:00Z", "body": body}));
    }
    Value::Array(events)
}

async fn fresh_store() -> (Arc<PgStore>, Stores) {
    let mut config = PgConfig::new(test_database_url());
    config.schema = Some(format!("t_{}", uuid::Uuid::new_v4().simple()));
    config.pool_size = 4;
    let store = PgStore::connect(config).await.unwrap();
    let stores = Stores::from_backend(store.clone());
    (store, stores)
}

fn parse(mut body: Value, version: ApiVersion) -> MetricsQuery {
    if body.get("fromTimestamp").is_none() {
        body["fromTimestamp"] = json!("2025-03-01T00:00:00Z");
        body["toTimestamp"] = json!("2025-03-03T12:00:00Z");
    }
    parse_query_value(&body, version).unwrap()
}

type Keep = Box<dyn Fn(&ViewRow) -> bool>;

fn all() -> Keep {
    Box::new(|_| true)
}

fn dimension_is(name: &'static str, value: Value) -> Keep {
    Box::new(move |row| row.dimensions[name] == value)
}

#[tokio::test]
async fn sql_aggregates_equal_the_brute_force() {
    let (store, stores) = fresh_store().await;
    let project_id = project(&stores, "project-a").await;
    let other = project(&stores, "project-b").await;
    ingest_ok(&stores, &project_id, seed()).await;
    // Another project's rows must never count.
    ingest_ok(&stores, &other, seed()).await;

    let observed = observation_rows(&store, &project_id).await;
    let raw: Vec<RawObservation> = observed
        .iter()
        .map(|(_, raw)| RawObservation {
            trace_id: raw.trace_id.clone(),
            ..*raw
        })
        .collect();
    let observations: Vec<&ViewRow> = observed.iter().map(|(row, _)| row).collect();
    let traces_owned = trace_rows(&store, &project_id, &raw).await;
    let traces: Vec<&ViewRow> = traces_owned.iter().collect();
    let scores_owned = score_rows(&store, &project_id).await;
    let scores = |types: &[&str]| -> Vec<&ViewRow> {
        scores_owned
            .iter()
            .filter(|(data_type, _)| types.contains(&data_type.as_str()))
            .map(|(_, row)| row)
            .collect()
    };
    assert_eq!(observations.len(), 90);

    let every_measure = json!([
        {"measure": "count", "aggregation": "count"},
        {"measure": "latency", "aggregation": "p50"}, {"measure": "latency", "aggregation": "p95"},
        {"measure": "latency", "aggregation": "avg"}, {"measure": "latency", "aggregation": "histogram"},
        {"measure": "streamingLatency", "aggregation": "max"},
        {"measure": "inputTokens", "aggregation": "sum"}, {"measure": "outputTokens", "aggregation": "min"},
        {"measure": "totalTokens", "aggregation": "sum"},
        {"measure": "outputTokensPerSecond", "aggregation": "avg"},
        {"measure": "tokensPerSecond", "aggregation": "p99"},
        {"measure": "inputCost", "aggregation": "sum"}, {"measure": "outputCost", "aggregation": "avg"},
        {"measure": "totalCost", "aggregation": "sum"}, {"measure": "timeToFirstToken", "aggregation": "p75"},
        {"measure": "countScores", "aggregation": "sum"}, {"measure": "traceId", "aggregation": "uniq"},
        {"measure": "uniqueUserIds", "aggregation": "uniq"}, {"measure": "uniqueSessionIds", "aggregation": "count"},
        {"measure": "latency", "aggregation": "uniq"}
    ]);
    let cases: Vec<(Value, ApiVersion, Vec<&ViewRow>, Keep)> = vec![
        (
            json!({"view": "observations", "metrics": every_measure}),
            ApiVersion::V1,
            observations.clone(),
            all(),
        ),
        (
            json!({"view": "observations", "dimensions": [{"field": "name"}, {"field": "providedModelName"}],
                "metrics": every_measure, "timeDimension": {"granularity": "hour"}}),
            ApiVersion::V1,
            observations.clone(),
            all(),
        ),
        (
            json!({"view": "observations", "dimensions": [{"field": "userId"}, {"field": "tags"}, {"field": "traceName"}],
                "metrics": [{"measure": "totalCost", "aggregation": "sum"}, {"measure": "latency", "aggregation": "p90"}],
                "timeDimension": {"granularity": "day"}, "orderBy": [{"field": "sum_totalCost", "direction": "desc"}],
                "config": {"row_limit": 7}}),
            ApiVersion::V1,
            observations.clone(),
            all(),
        ),
        (
            json!({"view": "observations", "dimensions": [{"field": "isRootObservation"}, {"field": "level"},
                {"field": "promptVersion"}, {"field": "release"}],
                "metrics": [{"measure": "count", "aggregation": "count"}, {"measure": "inputTokens", "aggregation": "avg"}],
                "timeDimension": {"granularity": "week"}, "config": {"bins": 3}}),
            ApiVersion::V2,
            observations.clone(),
            all(),
        ),
        (
            json!({"view": "observations", "dimensions": [{"field": "startTimeMonth"}, {"field": "type"}],
                "metrics": [{"measure": "latency", "aggregation": "histogram"}, {"measure": "count", "aggregation": "count"}],
                "timeDimension": {"granularity": "month"}, "config": {"bins": 4},
                "filters": [{"column": "type", "operator": "any of", "value": ["GENERATION"], "type": "stringOptions"}]}),
            ApiVersion::V1,
            observations.clone(),
            dimension_is("type", json!("GENERATION")),
        ),
        (
            json!({"view": "observations", "dimensions": [{"field": "traceId"}],
                "metrics": [{"measure": "count", "aggregation": "count"}],
                "timeDimension": {"granularity": "minute"},
                "fromTimestamp": "2025-03-02T10:00:00Z", "toTimestamp": "2025-03-02T11:30:00Z"}),
            ApiVersion::V1,
            observations.clone(),
            all(),
        ),
        (
            json!({"view": "observations", "dimensions": [{"field": "name"}],
                "metrics": [{"measure": "latency", "aggregation": "p50"}],
                "filters": [{"column": "userId", "operator": "=", "value": "user-1", "type": "string"},
                            {"column": "level", "operator": "none of", "value": ["ERROR"], "type": "stringOptions"}]}),
            ApiVersion::V1,
            observations.clone(),
            Box::new(|row: &ViewRow| {
                row.dimensions["userId"] == json!("user-1")
                    && row.dimensions["level"] != json!("ERROR")
            }),
        ),
        (
            json!({"view": "traces", "dimensions": [{"field": "name"}, {"field": "tags"}, {"field": "timestampMonth"}],
                "metrics": [{"measure": "count", "aggregation": "count"},
                    {"measure": "observationsCount", "aggregation": "sum"}, {"measure": "scoresCount", "aggregation": "sum"},
                    {"measure": "uniqueUserIds", "aggregation": "uniq"}, {"measure": "uniqueSessionIds", "aggregation": "uniq"},
                    {"measure": "latency", "aggregation": "p50"}, {"measure": "latency", "aggregation": "avg"},
                    {"measure": "totalTokens", "aggregation": "sum"}, {"measure": "totalCost", "aggregation": "max"}],
                "timeDimension": {"granularity": "day"}}),
            ApiVersion::V1,
            traces.clone(),
            all(),
        ),
        (
            json!({"view": "traces", "dimensions": [{"field": "userId"}, {"field": "sessionId"}, {"field": "environment"}],
                "metrics": [{"measure": "count", "aggregation": "count"}]}),
            ApiVersion::V1,
            traces.clone(),
            all(),
        ),
        (
            json!({"view": "scores-numeric", "dimensions": [{"field": "name"}, {"field": "dataType"},
                {"field": "observationName"}, {"field": "timestampDay"}, {"field": "value"}],
                "metrics": [{"measure": "value", "aggregation": "avg"}, {"measure": "value", "aggregation": "p50"},
                    {"measure": "count", "aggregation": "count"}, {"measure": "value", "aggregation": "histogram"}]}),
            ApiVersion::V1,
            scores(&["NUMERIC", "BOOLEAN"]),
            all(),
        ),
        (
            json!({"view": "scores-boolean", "dimensions": [{"field": "booleanValue"}, {"field": "userId"},
                {"field": "sessionId"}, {"field": "tags"}],
                "metrics": [{"measure": "value", "aggregation": "sum"}, {"measure": "count", "aggregation": "count"}],
                "timeDimension": {"granularity": "hour"}}),
            ApiVersion::V1,
            scores(&["BOOLEAN"]),
            all(),
        ),
        (
            json!({"view": "scores-categorical", "dimensions": [{"field": "stringValue"}, {"field": "traceName"}],
                "metrics": [{"measure": "count", "aggregation": "count"}],
                "filters": [{"column": "stringValue", "operator": "=", "value": "good", "type": "string"}]}),
            ApiVersion::V1,
            scores(&["CATEGORICAL"]),
            dimension_is("stringValue", json!("good")),
        ),
    ];
    // The legacy daily metrics' queries: from year 1, tags "all of", "is not null".
    let has_tag_a = |row: &ViewRow| {
        row.dimensions["tags"]
            .as_array()
            .is_some_and(|tags| tags.contains(&json!("a")))
    };
    let daily = [
        (
            json!({"view": "traces", "metrics": [{"measure": "count", "aggregation": "count"}],
                "filters": [{"column": "tags", "type": "arrayOptions", "operator": "all of", "value": ["a"]}]}),
            traces.clone(),
            Box::new(has_tag_a) as Keep,
        ),
        (
            json!({"view": "observations", "dimensions": [{"field": "providedModelName"}],
                "metrics": [{"measure": "inputTokens", "aggregation": "sum"}, {"measure": "traceId", "aggregation": "uniq"},
                    {"measure": "totalCost", "aggregation": "sum"}],
                "filters": [{"column": "tags", "type": "arrayOptions", "operator": "all of", "value": ["a"]},
                    {"column": "providedModelName", "type": "null", "operator": "is not null", "value": ""},
                    {"column": "environment", "type": "stringOptions", "operator": "any of", "value": ["default"]}]}),
            observations.clone(),
            Box::new(move |row: &ViewRow| {
                has_tag_a(row) && !row.dimensions["providedModelName"].is_null()
            }) as Keep,
        ),
    ];
    let mut cases = cases;
    for (mut body, rows, keep) in daily {
        body["timeDimension"] = json!({"granularity": "day"});
        body["fromTimestamp"] = json!("0001-01-01T00:00:00Z");
        body["toTimestamp"] = json!("2025-04-01T00:00:00Z");
        cases.push((body, ApiVersion::V1, rows, keep));
    }
    for (body, version, rows, keep) in cases {
        let query = parse(body.clone(), version);
        let expected = brute_force(&query, &rows, keep.as_ref());
        assert!(!expected.is_empty(), "{body}");
        let actual = stores
            .metrics
            .query_metrics(&project_id, &query, MetricsOptions::default())
            .await
            .unwrap();
        assert_same(&actual, &expected, &body);
    }
}

#[tokio::test]
async fn a_known_answer_and_an_empty_range() {
    let (_store, stores) = fresh_store().await;
    let project_id = project(&stores, "project-a").await;
    let mut events = Vec::new();
    for (index, millis) in [100, 200, 300, 400].iter().enumerate() {
        events.push(json!({"id": format!("e{index}"), "type": "span-create",
            "timestamp": "2025-03-01T10:00:00Z",
            "body": {"id": format!("s{index}"), "traceId": "t", "name": "x",
                     "startTime": "2025-03-01T10:00:00Z",
                     "endTime": format!("2025-03-01T10:00:00.{millis}Z")}}));
    }
    ingest_ok(&stores, &project_id, Value::Array(events)).await;
    let query = parse(
        json!({"view": "observations", "dimensions": [{"field": "name"}],
            "metrics": [{"measure": "latency", "aggregation": "p50"}, {"measure": "latency", "aggregation": "p75"},
                        {"measure": "latency", "aggregation": "sum"}, {"measure": "latency", "aggregation": "histogram"}],
            "timeDimension": {"granularity": "week"}, "config": {"bins": 2}}),
        ApiVersion::V1,
    );
    let rows = stores
        .metrics
        .query_metrics(&project_id, &query, MetricsOptions::default())
        .await
        .unwrap();
    // 2025-03-01 is a Saturday: its week starts on Monday 2025-02-24.
    assert_eq!(
        rows,
        vec![ResultRow {
            dimensions: vec![json!("x")],
            time_bucket: Some(
                glassbox_model::time::parse_iso_lenient("2025-02-24T00:00:00Z").unwrap()
            ),
            metrics: vec![
                json!(200.0),
                json!(300.0),
                json!(1000.0),
                json!([[100.0, 250.0, 2], [250.0, 400.0, 2]])
            ],
        }]
    );
    let empty = parse(
        json!({"view": "observations", "metrics": [{"measure": "count", "aggregation": "count"}],
            "fromTimestamp": "2025-04-01T00:00:00Z", "toTimestamp": "2025-04-02T00:00:00Z"}),
        ApiVersion::V1,
    );
    assert!(
        stores
            .metrics
            .query_metrics(&project_id, &empty, MetricsOptions::default())
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn bucket_sql_equals_the_model_buckets() {
    use glassbox_model::metrics::Granularity;
    let (store, _stores) = fresh_store().await;
    let iso = |text: &str| glassbox_model::time::parse_iso_lenient(text).unwrap();
    let times = [
        iso("2025-03-13T17:45:12.345678Z"),
        iso("2024-02-29T23:59:59.999999Z"),
        iso("2024-03-01T00:00:00Z"),
        iso("2025-12-31T23:59:59Z"),
        iso("2026-01-05T00:00:00Z"),
        iso("1969-12-31T23:59:59.5Z"),
        iso("1969-12-01T00:00:00Z"),
        0,
    ];
    for granularity in [
        Granularity::Minute,
        Granularity::Hour,
        Granularity::Day,
        Granularity::Week,
        Granularity::Month,
    ] {
        let sql = format!(
            "SELECT {} FROM (SELECT $1::bigint AS ts) r",
            crate::metrics_sql::bucket_sql(granularity, "r.ts")
        );
        for at in times {
            let bucket: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone()))
                .bind(at)
                .fetch_one(store.pool())
                .await
                .unwrap();
            assert_eq!(bucket, granularity.bucket(at), "{granularity:?} of {at}");
        }
    }
}
