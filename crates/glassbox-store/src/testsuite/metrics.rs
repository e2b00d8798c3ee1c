//! Conformance tests: The metrics engine: rollups and project scoping.

use super::*;

fn metrics_query(body: Value) -> glassbox_model::metrics::MetricsQuery {
    glassbox_model::metrics::parse_query_value(&body, glassbox_model::metrics::ApiVersion::V1)
        .unwrap()
}

pub async fn metrics_rollups_replace_refolded_and_deleted_observations(stores: &Stores) {
    let a = project(stores, "project-a").await;
    let mut events = Vec::new();
    for index in 0..30 {
        events.push(json!({"id": format!("c{index}"), "type": "generation-create",
            "timestamp": "2025-03-01T10:00:00Z",
            "body": {"id": format!("g{index}"), "traceId": format!("t{}", index % 3), "name": format!("n{}", index % 2),
                     "model": "m", "startTime": format!("2025-03-01T{:02}:10:00Z", index % 20),
                     "endTime": format!("2025-03-01T{:02}:10:01Z", index % 20), "costDetails": {"total": 1.0}}}));
    }
    for index in 0..3 {
        events.push(json!({"id": format!("t{index}"), "type": "trace-create", "timestamp": "2025-03-01T10:00:00Z",
            "body": {"id": format!("t{index}"), "userId": format!("u{index}")}}));
    }
    ingest_ok(stores, &a, Value::Array(events)).await;
    // Re-folds: a cost change, a model change, a user change; then a trace deleted.
    ingest_ok(
        stores,
        &a,
        json!([
        {"id": "u1", "type": "generation-update", "timestamp": "2025-03-01T11:00:00Z",
         "body": {"id": "g0", "costDetails": {"total": 5.0}}},
        {"id": "u2", "type": "generation-update", "timestamp": "2025-03-01T11:00:00Z",
         "body": {"id": "g1", "model": "other"}},
        {"id": "u3", "type": "trace-create", "timestamp": "2025-03-01T11:00:00Z",
         "body": {"id": "t1", "userId": "u-new"}}]),
    )
    .await;
    stores
        .ingest
        .delete_traces(&a, &["t2".to_owned()])
        .await
        .unwrap();
    let range = |query: Value| {
        let mut query = query;
        query["fromTimestamp"] = json!("2025-03-01T00:00:00Z");
        query["toTimestamp"] = json!("2025-03-02T00:00:00Z");
        metrics_query(query)
    };
    let queries = [
        range(
            json!({"view": "observations", "dimensions": [{"field": "providedModelName"}, {"field": "name"}],
            "metrics": [{"measure": "totalCost", "aggregation": "sum"}, {"measure": "count", "aggregation": "count"},
                        {"measure": "latency", "aggregation": "avg"}], "timeDimension": {"granularity": "hour"}}),
        ),
        range(
            json!({"view": "observations", "dimensions": [{"field": "userId"}],
            "metrics": [{"measure": "totalCost", "aggregation": "sum"}, {"measure": "count", "aggregation": "count"}]}),
        ),
    ];
    for query in &queries {
        let mut with = stores
            .metrics
            .query_metrics(&a, query, MetricsOptions { use_rollups: true })
            .await
            .unwrap();
        let mut without = stores
            .metrics
            .query_metrics(&a, query, MetricsOptions { use_rollups: false })
            .await
            .unwrap();
        let key = |row: &glassbox_model::metrics::ResultRow| {
            format!("{:?}{:?}", row.dimensions, row.time_bucket)
        };
        with.sort_by_key(key);
        without.sort_by_key(key);
        assert_eq!(with, without);
    }
    let by_user = stores
        .metrics
        .query_metrics(&a, &queries[1], MetricsOptions::default())
        .await
        .unwrap();
    let users: Vec<(Value, Value, Value)> = by_user
        .iter()
        .map(|row| {
            (
                row.dimensions[0].clone(),
                row.metrics[0].clone(),
                row.metrics[1].clone(),
            )
        })
        .collect();
    // t0: g0 (5.0) + 9 more; t1 moved to u-new: 10 rows; t2 deleted.
    assert_eq!(
        users,
        vec![
            (json!("u0"), json!(14.0), json!(10)),
            (json!("u-new"), json!(10.0), json!(10))
        ]
    );
}

pub async fn metrics_are_scoped_by_project(stores: &Stores) {
    let (a, b) = projects_a_b(stores).await;
    ingest_ok(
        stores,
        &a,
        json!([
        {"id": "e1", "type": "span-create", "timestamp": "2025-03-01T10:00:00Z",
         "body": {"id": "s1", "traceId": "t1", "name": "x"}}]),
    )
    .await;
    let query = metrics_query(
        json!({"view": "observations", "metrics": [{"measure": "count", "aggregation": "count"}],
        "fromTimestamp": "2025-03-01T00:00:00Z", "toTimestamp": "2025-03-02T00:00:00Z"}),
    );
    for (project, expected) in [(&a, 1), (&b, 0)] {
        let rows = stores
            .metrics
            .query_metrics(project, &query, MetricsOptions::default())
            .await
            .unwrap();
        let count: u64 = rows
            .iter()
            .map(|row| row.metrics[0].as_u64().unwrap())
            .sum();
        assert_eq!(count, expected);
    }
}
