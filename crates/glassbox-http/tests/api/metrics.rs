//! Metrics API (v1, v2, daily): every answer is compared with a brute-force computation
//! over the same generated data (counts, sums, averages, percentiles, distinct counts,
//! grouped by dimension and time bucket), through the rollups and without them, after
//! re-folds that change observations and traces and after a trace deletion.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use glassbox_model::ProjectId;
use glassbox_model::metrics::{ApiVersion, SKETCH_RELATIVE_ACCURACY, parse_query_value};
use glassbox_model::time::{format_iso, parse_iso_with_offset};
use glassbox_store::MetricsOptions;

use crate::support::*;

const BASE: &str = "2025-03-01T00:00:00Z";
const NAMES: [&str; 4] = ["retrieve", "generate", "rerank", "summarize"];
const MODELS: [&str; 3] = ["model-a", "model-b", "model-c"];
const HOUR: i64 = 3_600_000_000;
const DAY: i64 = 24 * HOUR;

/// One observation as the brute force sees it.
#[derive(Debug, Clone)]
struct Row {
    start: i64,
    trace: String,
    name: String,
    kind: &'static str,
    model: Option<String>,
    environment: &'static str,
    user: String,
    trace_name: String,
    latency: Option<f64>,
    cost: Option<f64>,
    input: i64,
}

struct Data {
    rows: Vec<Row>,
    /// trace id → (timestamp, name, user)
    traces: BTreeMap<String, (i64, String, String)>,
}

fn base() -> i64 {
    parse_iso_with_offset(BASE).unwrap()
}

fn iso(micros: i64) -> String {
    format_iso(micros)
}

/// 40 traces over 4 days, 8 observations each; then re-folds (trace users moved, costs
/// and models of some generations changed) and one trace deleted.
async fn generate(app: &TestApp) -> Data {
    let mut rows = Vec::new();
    let mut traces = BTreeMap::new();
    let mut events = Vec::new();
    for t in 0..40i64 {
        let trace_id = format!("trace-{t}");
        let timestamp = base() + t * 2 * HOUR + 17 * 60_000_000;
        let user = format!("user-{}", t % 5);
        let trace_name = format!("flow-{}", t % 3);
        let environment = if t % 2 == 0 { "production" } else { "staging" };
        traces.insert(
            trace_id.clone(),
            (timestamp, trace_name.clone(), user.clone()),
        );
        events.push(event(
            "trace-create",
            json!({"id": trace_id, "timestamp": iso(timestamp), "name": trace_name, "userId": user,
                   "environment": environment, "tags": [format!("tag-{}", t % 2)]}),
        ));
        for j in 0..8i64 {
            let id = format!("obs-{t}-{j}");
            let start = timestamp + j * 7 * 60_000_000 + t * 1_000_000;
            let latency_ms = ((t * 7 + j * 13) % 50 + 1) as f64 * 100.0 + j as f64;
            let end = (j != 7).then(|| start + (latency_ms * 1000.0) as i64);
            let generation = j % 2 == 0;
            let name = NAMES[(j as usize + t as usize) % 4].to_owned();
            let model = generation.then(|| MODELS[((t + j) % 3) as usize].to_owned());
            let (input, output) = if generation {
                (100 * (j + 1), 10 * (t % 4 + 1))
            } else {
                (0, 0)
            };
            let cost = generation.then_some(input as f64 * 1e-6 + output as f64 * 2e-6);
            let mut body = json!({"id": id, "traceId": trace_id, "name": name, "startTime": iso(start),
                                  "environment": environment});
            if let Some(end) = end {
                body["endTime"] = json!(iso(end));
            }
            if generation {
                body["model"] = json!(model);
                body["usageDetails"] = json!({"input": input, "output": output});
                body["costDetails"] =
                    json!({"input": input as f64 * 1e-6, "output": output as f64 * 2e-6});
            }
            events.push(event(
                if generation {
                    "generation-create"
                } else {
                    "span-create"
                },
                body,
            ));
            rows.push(Row {
                start,
                trace: trace_id.clone(),
                name,
                kind: if generation { "GENERATION" } else { "SPAN" },
                model,
                environment,
                user: user.clone(),
                trace_name: trace_name.clone(),
                latency: end.map(|end| (end - start) as f64 / 1000.0),
                cost,
                input,
            });
        }
    }
    for chunk in events.chunks(100) {
        app.ingest_ok(&Auth::A, chunk.to_vec()).await;
    }
    // Re-folds: every 6th trace moves to another user; some generations change model
    // and cost (an update replaces the contribution, it does not add a second one).
    let mut updates = Vec::new();
    for t in (0..40).step_by(6) {
        let trace_id = format!("trace-{t}");
        updates.push(event(
            "trace-create",
            json!({"id": trace_id, "userId": "user-moved"}),
        ));
        traces.get_mut(&trace_id).unwrap().2 = "user-moved".into();
        for row in rows.iter_mut().filter(|row| row.trace == trace_id) {
            row.user = "user-moved".into();
        }
    }
    for row in rows
        .iter_mut()
        .filter(|row| row.kind == "GENERATION")
        .step_by(5)
    {
        let id = rows_id(row);
        updates.push(event(
            "generation-update",
            json!({"id": id, "traceId": row.trace, "model": "model-z", "costDetails": {"total": 0.5}}),
        ));
        row.model = Some("model-z".into());
        row.cost = Some(0.5);
    }
    app.ingest_ok(&Auth::A, updates).await;
    app.delete("/api/public/traces/trace-39", &Auth::A).await;
    rows.retain(|row| row.trace != "trace-39");
    traces.remove("trace-39");
    // Project B's data must never show up in A's metrics.
    app.ingest_ok(
        &Auth::B,
        vec![event(
            "generation-create",
            json!({"id": "b-obs", "traceId": "b-trace", "name": "generate", "model": "model-a",
                   "startTime": iso(base() + HOUR), "costDetails": {"total": 100.0}}),
        )],
    )
    .await;
    Data { rows, traces }
}

fn rows_id(row: &Row) -> String {
    // obs-{t}-{j}: recover j from the start offset of the trace.
    let t: i64 = row.trace.trim_start_matches("trace-").parse().unwrap();
    let timestamp = base() + t * 2 * HOUR + 17 * 60_000_000;
    let j = (row.start - timestamp - t * 1_000_000) / (7 * 60_000_000);
    format!("obs-{t}-{j}")
}

async fn metrics(app: &TestApp, path: &str, query: &Value) -> Vec<Value> {
    let response = app
        .get(
            &format!("{path}?query={}", enc(&query.to_string())),
            &Auth::A,
        )
        .await;
    response.expect(200)["data"].as_array().unwrap().clone()
}

fn nearest_rank(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let index = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1;
    values[index]
}

fn close(actual: &Value, expected: f64, relative: f64, what: &str) {
    let actual = actual
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: not a number: {actual}"));
    let tolerance = (expected.abs() * relative).max(1e-9);
    assert!(
        (actual - expected).abs() <= tolerance,
        "{what}: {actual} vs {expected}"
    );
}

#[tokio::test]
async fn metrics_match_a_brute_force_computation() {
    let app = TestApp::new().await;
    let data = generate(&app).await;
    let from = base() + 30 * 60_000_000; // not on an hour: the rollup path streams the edges
    let to = base() + 3 * DAY + 5 * HOUR;
    let in_range: Vec<&Row> = data
        .rows
        .iter()
        .filter(|row| row.start >= from && row.start < to)
        .collect();
    assert!(in_range.len() > 200, "enough rows: {}", in_range.len());

    // 1. Cost and count per model per day (rollup path).
    let query = json!({"view": "observations", "dimensions": [{"field": "providedModelName"}],
        "metrics": [{"measure": "totalCost", "aggregation": "sum"}, {"measure": "count", "aggregation": "count"},
                    {"measure": "inputTokens", "aggregation": "sum"}, {"measure": "latency", "aggregation": "avg"}],
        "timeDimension": {"granularity": "day"},
        "fromTimestamp": iso(from), "toTimestamp": iso(to)});
    let answer = metrics(&app, "/api/public/metrics", &query).await;
    // (day, model) → (cost, rows, input tokens, latency sum, latencies)
    type Sums = (f64, u64, i64, f64, u64);
    let mut expected: BTreeMap<(i64, Option<String>), Sums> = BTreeMap::new();
    for row in &in_range {
        let entry = expected
            .entry((row.start.div_euclid(DAY) * DAY, row.model.clone()))
            .or_default();
        entry.0 += row.cost.unwrap_or(0.0);
        entry.1 += 1;
        entry.2 += row.input;
        if let Some(latency) = row.latency {
            entry.3 += latency;
            entry.4 += 1;
        }
    }
    assert_eq!(answer.len(), expected.len(), "{answer:?}");
    for item in &answer {
        let day = parse_iso_with_offset(item["time_dimension"].as_str().unwrap()).unwrap();
        let model = item["providedModelName"].as_str().map(str::to_owned);
        let (cost, count, input, latency_sum, latency_n) = expected[&(day, model)];
        close(&item["sum_totalCost"], cost, 1e-12, "sum_totalCost");
        assert_eq!(item["count_count"], json!(count));
        close(
            &item["sum_inputTokens"],
            input as f64,
            0.0,
            "sum_inputTokens",
        );
        close(
            &item["avg_latency"],
            latency_sum / latency_n as f64,
            1e-12,
            "avg_latency",
        );
    }
    // Ordered by time, then by the first metric, descending.
    let days: Vec<&str> = answer
        .iter()
        .map(|item| item["time_dimension"].as_str().unwrap())
        .collect();
    let mut sorted = days.clone();
    sorted.sort();
    assert_eq!(days, sorted);

    // 2. Latency percentiles by name: exact from rows, within 1 % from the rollup sketches.
    let query = json!({"view": "observations", "dimensions": [{"field": "name"}],
        "metrics": [{"measure": "latency", "aggregation": "p95"}, {"measure": "latency", "aggregation": "p50"},
                    {"measure": "latency", "aggregation": "p99"}],
        "fromTimestamp": iso(from), "toTimestamp": iso(to)});
    let parsed = parse_query_value(&query, ApiVersion::V1).unwrap();
    let project = ProjectId(PROJECT_A.into());
    let exact = app
        .stores
        .metrics
        .query_metrics(&project, &parsed, MetricsOptions { use_rollups: false })
        .await
        .unwrap();
    let via_http = metrics(&app, "/api/public/metrics", &query).await;
    assert_eq!(exact.len(), NAMES.len());
    assert_eq!(via_http.len(), NAMES.len());
    for name in NAMES {
        let mut latencies: Vec<f64> = in_range
            .iter()
            .filter(|row| row.name == name)
            .filter_map(|row| row.latency)
            .collect();
        let exact_row = exact
            .iter()
            .find(|row| row.dimensions[0] == json!(name))
            .unwrap();
        let http_row = via_http
            .iter()
            .find(|row| row["name"] == json!(name))
            .unwrap();
        for (index, (q, alias)) in [
            (0.95, "p95_latency"),
            (0.5, "p50_latency"),
            (0.99, "p99_latency"),
        ]
        .into_iter()
        .enumerate()
        {
            let truth = nearest_rank(&mut latencies, q);
            close(&exact_row.metrics[index], truth, 0.0, "exact percentile");
            close(
                &http_row[alias],
                truth,
                SKETCH_RELATIVE_ACCURACY,
                "sketched percentile",
            );
        }
    }

    // 3. Top users by cost (daily user rollup), with a limit.
    let query = json!({"view": "observations", "dimensions": [{"field": "userId"}],
        "metrics": [{"measure": "totalCost", "aggregation": "sum"}],
        "orderBy": [{"field": "sum_totalCost", "direction": "desc"}], "config": {"row_limit": 3},
        "fromTimestamp": iso(from), "toTimestamp": iso(to)});
    let answer = metrics(&app, "/api/public/metrics", &query).await;
    let mut by_user: BTreeMap<String, f64> = BTreeMap::new();
    for row in &in_range {
        *by_user.entry(row.user.clone()).or_default() += row.cost.unwrap_or(0.0);
    }
    let mut ranked: Vec<(String, f64)> = by_user.into_iter().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    assert_eq!(answer.len(), 3);
    for (item, (user, cost)) in answer.iter().zip(&ranked) {
        assert_eq!(item["userId"], json!(user));
        close(&item["sum_totalCost"], *cost, 1e-12, "user cost");
    }

    // 4. Streamed path: a trace-name filter, min/max, distinct traces, histogram, by type
    //    and hour.
    let query = json!({"view": "observations", "dimensions": [{"field": "type"}],
        "metrics": [{"measure": "latency", "aggregation": "max"}, {"measure": "latency", "aggregation": "min"},
                    {"measure": "traceId", "aggregation": "uniq"}, {"measure": "latency", "aggregation": "histogram"},
                    {"measure": "count", "aggregation": "count"}],
        "filters": [{"column": "traceName", "type": "stringOptions", "operator": "any of", "value": ["flow-0", "flow-1"]},
                    {"column": "environment", "type": "string", "operator": "=", "value": "production"}],
        "timeDimension": {"granularity": "hour"}, "config": {"bins": 4},
        "fromTimestamp": iso(from), "toTimestamp": iso(to)});
    let answer = metrics(&app, "/api/public/metrics", &query).await;
    let mut groups: BTreeMap<(i64, &str), Vec<&Row>> = BTreeMap::new();
    for row in in_range.iter().filter(|row| {
        (row.trace_name == "flow-0" || row.trace_name == "flow-1")
            && row.environment == "production"
    }) {
        groups
            .entry((row.start.div_euclid(HOUR) * HOUR, row.kind))
            .or_default()
            .push(row);
    }
    assert_eq!(answer.len(), groups.len());
    for item in &answer {
        let hour = parse_iso_with_offset(item["time_dimension"].as_str().unwrap()).unwrap();
        let rows = &groups[&(hour, item["type"].as_str().unwrap())];
        let latencies: Vec<f64> = rows.iter().filter_map(|row| row.latency).collect();
        let traces: BTreeSet<&String> = rows.iter().map(|row| &row.trace).collect();
        assert_eq!(item["count_count"], json!(rows.len()));
        assert_eq!(item["uniq_traceId"], json!(traces.len()));
        if latencies.is_empty() {
            assert_eq!(item["max_latency"], Value::Null);
        } else {
            let max = latencies.iter().copied().fold(f64::MIN, f64::max);
            let min = latencies.iter().copied().fold(f64::MAX, f64::min);
            close(&item["max_latency"], max, 0.0, "max");
            close(&item["min_latency"], min, 0.0, "min");
            let bins = item["histogram_latency"].as_array().unwrap();
            let counted: u64 = bins.iter().map(|bin| bin[2].as_u64().unwrap()).sum();
            assert_eq!(counted, latencies.len() as u64);
        }
    }

    // 5. Traces view: count per user, and per-trace cost sums per name.
    let query = json!({"view": "traces", "dimensions": [{"field": "userId"}],
        "metrics": [{"measure": "count", "aggregation": "count"}, {"measure": "totalCost", "aggregation": "sum"},
                    {"measure": "observationsCount", "aggregation": "sum"}],
        "fromTimestamp": iso(from), "toTimestamp": iso(to)});
    let answer = metrics(&app, "/api/public/metrics", &query).await;
    let mut expected: BTreeMap<String, (u64, f64, u64)> = BTreeMap::new();
    for (trace_id, (timestamp, _, user)) in &data.traces {
        if *timestamp < from || *timestamp >= to {
            continue;
        }
        let entry = expected.entry(user.clone()).or_default();
        entry.0 += 1;
        for row in data.rows.iter().filter(|row| &row.trace == trace_id) {
            entry.1 += row.cost.unwrap_or(0.0);
            entry.2 += 1;
        }
    }
    assert_eq!(answer.len(), expected.len());
    for item in &answer {
        let (count, cost, observations) = expected[item["userId"].as_str().unwrap()];
        assert_eq!(item["count_count"], json!(count));
        close(&item["sum_totalCost"], cost, 1e-12, "trace cost");
        close(
            &item["sum_observationsCount"],
            observations as f64,
            0.0,
            "observations",
        );
    }

    // 6. The same queries without rollups give the same sums.
    let query = json!({"view": "observations", "dimensions": [{"field": "providedModelName"}, {"field": "environment"}],
        "metrics": [{"measure": "totalCost", "aggregation": "sum"}, {"measure": "count", "aggregation": "count"}],
        "timeDimension": {"granularity": "week"},
        "fromTimestamp": iso(from), "toTimestamp": iso(to)});
    let parsed = parse_query_value(&query, ApiVersion::V1).unwrap();
    let with = app
        .stores
        .metrics
        .query_metrics(&project, &parsed, MetricsOptions { use_rollups: true })
        .await
        .unwrap();
    let without = app
        .stores
        .metrics
        .query_metrics(&project, &parsed, MetricsOptions { use_rollups: false })
        .await
        .unwrap();
    assert_eq!(with.len(), without.len());
    for a in &with {
        // Equal sums may differ in the last bit between the paths, so match rows by key.
        let b = without
            .iter()
            .find(|b| b.dimensions == a.dimensions && b.time_bucket == a.time_bucket)
            .expect("the same groups");
        close(
            &a.metrics[0],
            b.metrics[0].as_f64().unwrap(),
            1e-12,
            "rollup sum",
        );
        assert_eq!(a.metrics[1], b.metrics[1]);
    }
}

#[tokio::test]
async fn scores_views_and_daily_metrics() {
    let app = TestApp::new().await;
    let data = generate(&app).await;
    let mut scores = Vec::new();
    let mut expected: BTreeMap<String, (f64, u64)> = BTreeMap::new();
    for (index, trace_id) in data.traces.keys().enumerate() {
        let value = (index % 7) as f64 / 2.0;
        let name = if index % 2 == 0 {
            "quality"
        } else {
            "relevance"
        };
        scores.push(event(
            "score-create",
            json!({"id": format!("s-{index}"), "traceId": trace_id, "name": name, "value": value}),
        ));
        let entry = expected.entry(name.to_owned()).or_default();
        entry.0 += value;
        entry.1 += 1;
    }
    scores.push(event(
        "score-create",
        json!({"id": "s-cat", "traceId": "trace-0", "name": "label", "value": "good", "dataType": "CATEGORICAL"}),
    ));
    app.ingest_ok(&Auth::A, scores).await;
    let now = glassbox_model::time::now_micros();
    let query = json!({"view": "scores-numeric", "dimensions": [{"field": "name"}],
        "metrics": [{"measure": "value", "aggregation": "avg"}, {"measure": "count", "aggregation": "count"}],
        "fromTimestamp": iso(now - DAY), "toTimestamp": iso(now + DAY)});
    let answer = metrics(&app, "/api/public/metrics", &query).await;
    assert_eq!(answer.len(), 2);
    for item in &answer {
        let (sum, count) = expected[item["name"].as_str().unwrap()];
        close(&item["avg_value"], sum / count as f64, 1e-12, "avg score");
        assert_eq!(item["count_count"], json!(count));
    }
    let query = json!({"view": "scores-categorical", "dimensions": [{"field": "stringValue"}, {"field": "userId"}],
        "metrics": [{"measure": "count", "aggregation": "count"}],
        "fromTimestamp": iso(now - DAY), "toTimestamp": iso(now + DAY)});
    let answer = metrics(&app, "/api/public/metrics", &query).await;
    assert_eq!(
        answer,
        vec![json!({"stringValue": "good", "userId": "user-moved", "count_count": 1})]
    );

    // Legacy daily metrics: per day, newest first.
    let daily = app
        .get_ok(&format!(
            "/api/public/metrics/daily?fromTimestamp={}&toTimestamp={}",
            enc(&iso(base())),
            enc(&iso(base() + 10 * DAY))
        ))
        .await;
    let days = daily["data"].as_array().unwrap();
    let mut per_day: BTreeMap<String, (u64, f64, BTreeMap<String, u64>)> = BTreeMap::new();
    for row in &data.rows {
        let day = iso(row.start)[..10].to_owned();
        let entry = per_day.entry(day).or_default();
        entry.0 += 1;
        entry.1 += row.cost.unwrap_or(0.0);
        if let Some(model) = &row.model {
            *entry.2.entry(model.clone()).or_default() += 1;
        }
    }
    assert_eq!(days.len(), per_day.len());
    assert_eq!(daily["meta"]["totalItems"], json!(per_day.len()));
    let dates: Vec<&str> = days
        .iter()
        .map(|day| day["date"].as_str().unwrap())
        .collect();
    let mut newest_first: Vec<&str> = per_day.keys().map(String::as_str).collect();
    newest_first.reverse();
    assert_eq!(dates, newest_first);
    for day in days {
        let (count, cost, models) = &per_day[day["date"].as_str().unwrap()];
        assert_eq!(day["countObservations"], json!(count));
        close(&day["totalCost"], *cost, 1e-12, "daily cost");
        let usage = day["usage"].as_array().unwrap();
        assert_eq!(usage.len(), models.len());
        for item in usage {
            assert_eq!(
                item["countObservations"],
                json!(models[item["model"].as_str().unwrap()])
            );
        }
    }
    let traces_per_day: u64 = days
        .iter()
        .map(|day| day["countTraces"].as_u64().unwrap())
        .sum();
    assert_eq!(traces_per_day, data.traces.len() as u64);
}

#[tokio::test]
async fn bad_metrics_queries_and_project_scoping() {
    let app = TestApp::new().await;
    generate(&app).await;
    let good = json!({"view": "observations", "metrics": [{"measure": "count", "aggregation": "count"}],
        "fromTimestamp": iso(base()), "toTimestamp": iso(base() + 10 * DAY)});
    let answer = metrics(&app, "/api/public/metrics", &good).await;
    assert_eq!(answer, vec![json!({"count_count": 39 * 8})]);
    let other = app
        .get(
            &format!("/api/public/metrics?query={}", enc(&good.to_string())),
            &Auth::B,
        )
        .await;
    assert_eq!(other.expect(200)["data"], json!([{"count_count": 1}]));
    for path in ["/api/public/metrics", "/api/public/v2/metrics"] {
        app.get(path, &Auth::A)
            .await
            .expect_error(400, "InvalidRequestError");
        app.get(&format!("{path}?query=%7Bnot"), &Auth::A)
            .await
            .expect_error(400, "InvalidRequestError");
    }
    let mut high = good.clone();
    high["dimensions"] = json!([{"field": "userId"}]);
    app.get(
        &format!("/api/public/v2/metrics?query={}", enc(&high.to_string())),
        &Auth::A,
    )
    .await
    .expect_error(400, "InvalidRequestError");
    let mut traces = good.clone();
    traces["view"] = json!("traces");
    app.get(
        &format!("/api/public/v2/metrics?query={}", enc(&traces.to_string())),
        &Auth::A,
    )
    .await
    .expect_error(400, "InvalidRequestError");
    app.get(
        &format!("/api/public/metrics?query={}", enc(&good.to_string())),
        &Auth::None,
    )
    .await
    .expect_error(401, "UnauthorizedError");
}
