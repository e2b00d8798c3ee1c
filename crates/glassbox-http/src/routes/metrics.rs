//! Metrics: `GET /api/public/metrics` (v1), `/api/public/v2/metrics` and the legacy
//! `GET /api/public/metrics/daily`, all answered by the one metrics engine (the query
//! model in `glassbox_model::metrics`, the store's planner).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{RawQuery, State};
use serde_json::{Value, json};

use glassbox_model::metrics::{ApiVersion, MetricsQuery, parse_query, parse_query_value};
use glassbox_model::time::{MIN_MICROS, format_iso, now_micros};
use glassbox_store::MetricsOptions;

use crate::AppState;
use crate::auth::{ApiAuth, ProjectAuth};
use crate::error::{ApiResult, invalid};
use crate::metrics_wire::metrics_rows;
use crate::params::QueryParams;

async fn run(
    state: &AppState,
    auth: &ApiAuth,
    raw: Option<&str>,
    version: ApiVersion,
) -> ApiResult<Json<Value>> {
    let params = QueryParams::parse(raw);
    let text = params
        .string("query")
        .ok_or_else(|| invalid("the query parameter is required"))?;
    let query = parse_query(&text, version).map_err(invalid)?;
    let rows = state
        .stores
        .metrics
        .query_metrics(&auth.project_id, &query, MetricsOptions::default())
        .await?;
    Ok(Json(metrics_rows(&query, &rows)))
}

pub async fn legacy_metrics_v1_metrics(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    run(&state, &auth, query.as_deref(), ApiVersion::V1).await
}

pub async fn metrics_metrics(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    run(&state, &auth, query.as_deref(), ApiVersion::V2).await
}

async fn engine(
    state: &AppState,
    auth: &ApiAuth,
    query: Value,
) -> ApiResult<(MetricsQuery, Vec<glassbox_model::metrics::ResultRow>)> {
    let query = parse_query_value(&query, ApiVersion::V1).map_err(invalid)?;
    let rows = state
        .stores
        .metrics
        .query_metrics(&auth.project_id, &query, MetricsOptions::default())
        .await?;
    Ok((query, rows))
}

/// `GET /api/public/metrics/daily`: per UTC day, newest first, the traces, observations
/// and cost, and per model the usage; three engine queries.
pub async fn metrics_daily(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Value>> {
    let params = QueryParams::parse(raw.as_deref());
    let page = params.page(50, 100)?;
    let from = params.datetime("fromTimestamp")?.unwrap_or(MIN_MICROS);
    let to = params
        .datetime("toTimestamp")?
        .unwrap_or_else(|| now_micros() + 86_400_000_000);
    let mut trace_filters = Vec::new();
    let mut observation_filters = Vec::new();
    if let Some(name) = params.string("traceName") {
        trace_filters
            .push(json!({"column": "name", "type": "string", "operator": "=", "value": name}));
        observation_filters
            .push(json!({"column": "traceName", "type": "string", "operator": "=", "value": name}));
    }
    if let Some(user) = params.string("userId") {
        for filters in [&mut trace_filters, &mut observation_filters] {
            filters.push(
                json!({"column": "userId", "type": "string", "operator": "=", "value": user}),
            );
        }
    }
    let tags = params.list("tags");
    if !tags.is_empty() {
        for filters in [&mut trace_filters, &mut observation_filters] {
            filters.push(json!({"column": "tags", "type": "arrayOptions", "operator": "all of", "value": tags}));
        }
    }
    let environments = params.list("environment");
    if !environments.is_empty() {
        for filters in [&mut trace_filters, &mut observation_filters] {
            filters.push(json!({"column": "environment", "type": "stringOptions", "operator": "any of", "value": environments}));
        }
    }
    let range = |view: &str, dimensions: Value, metrics: Value, filters: &Vec<Value>| {
        json!({"view": view, "dimensions": dimensions, "metrics": metrics, "filters": filters,
               "timeDimension": {"granularity": "day"},
               "fromTimestamp": format_iso(from), "toTimestamp": format_iso(to)})
    };
    let (_, traces) = engine(
        &state,
        &auth,
        range(
            "traces",
            json!([]),
            json!([{"measure": "count", "aggregation": "count"}]),
            &trace_filters,
        ),
    )
    .await?;
    let (_, observations) = engine(
        &state,
        &auth,
        range(
            "observations",
            json!([]),
            json!([{"measure": "count", "aggregation": "count"}, {"measure": "totalCost", "aggregation": "sum"}]),
            &observation_filters,
        ),
    )
    .await?;
    let mut model_filters = observation_filters.clone();
    model_filters.push(json!({"column": "providedModelName", "type": "null", "operator": "is not null", "value": ""}));
    let (_, models) = engine(
        &state,
        &auth,
        range(
            "observations",
            json!([{"field": "providedModelName"}]),
            json!([
                {"measure": "inputTokens", "aggregation": "sum"},
                {"measure": "outputTokens", "aggregation": "sum"},
                {"measure": "totalTokens", "aggregation": "sum"},
                {"measure": "count", "aggregation": "count"},
                {"measure": "traceId", "aggregation": "uniq"},
                {"measure": "totalCost", "aggregation": "sum"}
            ]),
            &model_filters,
        ),
    )
    .await?;
    let mut days: BTreeMap<i64, Value> = BTreeMap::new();
    for row in &traces {
        let bucket = row.time_bucket.unwrap_or_default();
        entry(&mut days, bucket)["countTraces"] = row.metrics[0].clone();
    }
    for row in &observations {
        let bucket = row.time_bucket.unwrap_or_default();
        let item = entry(&mut days, bucket);
        item["countObservations"] = row.metrics[0].clone();
        item["totalCost"] = row.metrics[1].clone();
    }
    for row in &models {
        let bucket = row.time_bucket.unwrap_or_default();
        let item = entry(&mut days, bucket);
        if let Some(usage) = item["usage"].as_array_mut() {
            usage.push(json!({
                "model": row.dimensions[0],
                "inputUsage": row.metrics[0], "outputUsage": row.metrics[1], "totalUsage": row.metrics[2],
                "countObservations": row.metrics[3], "countTraces": row.metrics[4], "totalCost": row.metrics[5],
            }));
        }
    }
    let total_items = days.len() as u64;
    let data: Vec<Value> = days
        .into_values()
        .rev()
        .skip(page.offset() as usize)
        .take(page.limit as usize)
        .collect();
    Ok(Json(
        json!({"data": data, "meta": crate::params::page_meta(page, total_items)}),
    ))
}

fn entry(days: &mut BTreeMap<i64, Value>, bucket: i64) -> &mut Value {
    days.entry(bucket).or_insert_with(|| {
        json!({"date": &format_iso(bucket)[..10], "countTraces": 0, "countObservations": 0,
               "totalCost": 0.0, "usage": []})
    })
}
