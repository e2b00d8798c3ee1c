//! Conformance tests: Trace reads: derived statistics, order, pages, simple and advanced filters, keyset ids.

use super::*;

pub async fn trace_stats_observation_ids_cost_and_latency(stores: &Stores) {
    let a = project(stores, "project-a").await;
    ingest_ok(
        stores,
        &a,
        json!([
            {"id": "e1", "type": "trace-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "trace-1", "name": "rag"}},
            {"id": "e2", "type": "span-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "root", "traceId": "trace-1", "startTime": "2025-03-01T10:00:00Z",
                      "endTime": "2025-03-01T10:00:10Z"}},
            {"id": "e3", "type": "generation-create", "timestamp": "2025-03-01T10:00:01Z",
             "body": {"id": "gen-1", "traceId": "trace-1", "parentObservationId": "root",
                      "startTime": "2025-03-01T10:00:01Z", "endTime": "2025-03-01T10:00:03Z",
                      "usage": {"input": 100, "output": 50},
                      "costDetails": {"input": 0.001, "output": 0.002}}},
            {"id": "e4", "type": "generation-create", "timestamp": "2025-03-01T10:00:04Z",
             "body": {"id": "gen-2", "traceId": "trace-1", "parentObservationId": "root",
                      "startTime": "2025-03-01T10:00:04Z", "endTime": "2025-03-01T10:00:12.500Z",
                      "costDetails": {"total": 0.01}}},
            {"id": "e5", "type": "event-create", "timestamp": "2025-03-01T10:00:05Z",
             "body": {"id": "event-1", "traceId": "trace-1", "startTime": "2025-03-01T10:00:05Z"}},
            {"id": "e6", "type": "score-create", "timestamp": "2025-03-01T10:01:00Z",
             "body": {"id": "score-trace", "traceId": "trace-1", "name": "quality", "value": 0.9}},
            {"id": "e7", "type": "score-create", "timestamp": "2025-03-01T10:02:00Z",
             "body": {"id": "score-obs", "traceId": "trace-1", "observationId": "gen-1",
                      "name": "accuracy", "value": 1}},
            {"id": "e8", "type": "trace-create", "timestamp": "2025-03-01T11:00:00Z",
             "body": {"id": "trace-empty"}}
        ]),
    )
    .await;
    let stats = get_trace(stores, &a, "trace-1").await;
    assert_eq!(
        set(&stats.observation_ids),
        set(&strs(&["root", "gen-1", "gen-2", "event-1"]))
    );
    assert_eq!(stats.observation_ids.len(), 4);
    assert_eq!(
        set(&stats.score_ids),
        set(&strs(&["score-trace", "score-obs"]))
    );
    assert_close(stats.total_cost, 0.013, "total cost");
    assert_close(stats.latency_seconds, 12.5, "latency seconds");

    let empty = get_trace(stores, &a, "trace-empty").await;
    assert!(empty.observation_ids.is_empty());
    assert!(empty.score_ids.is_empty());
    assert_eq!(empty.total_cost, 0.0);
    assert_eq!(empty.latency_seconds, 0.0);

    // The list returns the same stats as the single read.
    let listed = stores
        .traces
        .list_traces(&a, &TraceQuery::default(), ALL)
        .await
        .unwrap();
    assert_eq!(listed.total_items, 2);
    let from_list = listed
        .items
        .iter()
        .find(|item| item.trace.id == "trace-1")
        .expect("listed");
    assert_eq!(set(&from_list.observation_ids), set(&stats.observation_ids));
    assert_eq!(set(&from_list.score_ids), set(&stats.score_ids));
    assert_close(from_list.total_cost, stats.total_cost, "listed total cost");
    assert_close(
        from_list.latency_seconds,
        stats.latency_seconds,
        "listed latency",
    );
    assert!(
        stores
            .traces
            .get_trace(&a, "trace-unknown")
            .await
            .unwrap()
            .is_none()
    );
}

async fn four_named_traces(stores: &Stores, project: &ProjectId) {
    ingest_ok(
        stores,
        project,
        json!([
            {"id": "e1", "type": "trace-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "trace-1", "timestamp": "2025-03-01T10:00:00Z", "name": "delta", "userId": "u-b"}},
            {"id": "e2", "type": "trace-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "trace-2", "timestamp": "2025-03-01T11:00:00Z", "name": "alpha", "userId": "u-c"}},
            {"id": "e3", "type": "trace-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "trace-3", "timestamp": "2025-03-01T09:00:00Z", "name": "charlie", "userId": "u-a"}},
            {"id": "e4", "type": "trace-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "trace-4", "timestamp": "2025-03-01T12:00:00Z", "name": "bravo", "userId": "u-d"}}
        ]),
    )
    .await;
}

pub async fn list_traces_order(stores: &Stores) {
    let a = project(stores, "project-a").await;
    four_named_traces(stores, &a).await;
    let ordered = |column, direction| TraceQuery {
        order: (column, direction),
        ..TraceQuery::default()
    };
    assert_eq!(
        trace_ids(stores, &a, &TraceQuery::default()).await,
        strs(&["trace-4", "trace-2", "trace-1", "trace-3"]),
        "default: timestamp desc"
    );
    assert_eq!(
        trace_ids(
            stores,
            &a,
            &ordered(TraceOrderColumn::Timestamp, SortDirection::Asc)
        )
        .await,
        strs(&["trace-3", "trace-1", "trace-2", "trace-4"])
    );
    assert_eq!(
        trace_ids(
            stores,
            &a,
            &ordered(TraceOrderColumn::Name, SortDirection::Asc)
        )
        .await,
        strs(&["trace-2", "trace-4", "trace-3", "trace-1"]),
        "orderBy=name.asc"
    );
    assert_eq!(
        trace_ids(
            stores,
            &a,
            &ordered(TraceOrderColumn::Name, SortDirection::Desc)
        )
        .await,
        strs(&["trace-1", "trace-3", "trace-4", "trace-2"])
    );
    assert_eq!(
        trace_ids(
            stores,
            &a,
            &ordered(TraceOrderColumn::UserId, SortDirection::Asc)
        )
        .await,
        strs(&["trace-3", "trace-1", "trace-2", "trace-4"])
    );
    assert_eq!(
        trace_ids(
            stores,
            &a,
            &ordered(TraceOrderColumn::Id, SortDirection::Desc)
        )
        .await,
        strs(&["trace-4", "trace-3", "trace-2", "trace-1"])
    );
}

pub async fn list_traces_pages_and_total_items(stores: &Stores) {
    let a = project(stores, "project-a").await;
    let batch: Vec<Value> = (1..=5)
        .map(|n| {
            json!({"id": format!("e{n}"), "type": "trace-create", "timestamp": "2025-03-01T10:00:00Z",
                   "body": {"id": format!("trace-{n}"), "timestamp": format!("2025-03-0{n}T10:00:00Z"),
                            "userId": if n % 2 == 0 { "even" } else { "odd" }}})
        })
        .collect();
    ingest_ok(stores, &a, Value::Array(batch)).await;
    let query = TraceQuery::default();
    let mut seen = Vec::new();
    for (number, expected) in [
        (1, vec!["trace-5", "trace-4"]),
        (2, vec!["trace-3", "trace-2"]),
        (3, vec!["trace-1"]),
        (4, vec![]),
    ] {
        let result = stores
            .traces
            .list_traces(&a, &query, page(number, 2))
            .await
            .unwrap();
        assert_eq!(result.total_items, 5, "page {number}");
        let ids: Vec<String> = result.items.into_iter().map(|item| item.trace.id).collect();
        assert_eq!(ids, strs(&expected), "page {number}");
        seen.extend(ids);
    }
    assert_eq!(set(&seen).len(), 5);
    let odd = TraceQuery {
        user_id: Some("odd".into()),
        ..TraceQuery::default()
    };
    let result = stores
        .traces
        .list_traces(&a, &odd, page(2, 2))
        .await
        .unwrap();
    assert_eq!(
        result.total_items, 3,
        "total_items counts the filtered rows"
    );
    assert_eq!(
        result
            .items
            .iter()
            .map(|item| item.trace.id.as_str())
            .collect::<Vec<_>>(),
        vec!["trace-1"]
    );
}

pub async fn list_traces_simple_filters(stores: &Stores) {
    let a = project(stores, "project-a").await;
    ingest_ok(
        stores,
        &a,
        json!([
            {"id": "e1", "type": "trace-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "trace-1", "timestamp": "2025-03-01T10:00:00Z", "name": "chat",
                      "userId": "user-1", "sessionId": "session-1", "release": "1.0", "version": "v1",
                      "tags": ["a", "b"], "environment": "production"}},
            {"id": "e2", "type": "trace-create", "timestamp": "2025-03-01T11:00:00Z",
             "body": {"id": "trace-2", "timestamp": "2025-03-01T11:00:00Z", "name": "chat",
                      "userId": "user-2", "tags": ["a"], "environment": "staging", "release": "1.1"}},
            {"id": "e3", "type": "trace-create", "timestamp": "2025-03-01T12:00:00Z",
             "body": {"id": "trace-3", "timestamp": "2025-03-01T12:00:00Z", "name": "search",
                      "userId": "user-1", "tags": ["b", "c"], "version": "v2"}}
        ]),
    )
    .await;
    let q = TraceQuery::default;
    let cases: Vec<(TraceQuery, Vec<&str>)> = vec![
        (
            TraceQuery {
                user_id: Some("user-1".into()),
                ..q()
            },
            vec!["trace-3", "trace-1"],
        ),
        (
            TraceQuery {
                user_id: Some("nobody".into()),
                ..q()
            },
            vec![],
        ),
        (
            TraceQuery {
                name: Some("chat".into()),
                ..q()
            },
            vec!["trace-2", "trace-1"],
        ),
        (
            TraceQuery {
                session_id: Some("session-1".into()),
                ..q()
            },
            vec!["trace-1"],
        ),
        (
            TraceQuery {
                release: Some("1.1".into()),
                ..q()
            },
            vec!["trace-2"],
        ),
        (
            TraceQuery {
                version: Some("v2".into()),
                ..q()
            },
            vec!["trace-3"],
        ),
        (
            TraceQuery {
                tags: strs(&["a"]),
                ..q()
            },
            vec!["trace-2", "trace-1"],
        ),
        (
            TraceQuery {
                tags: strs(&["a", "b"]),
                ..q()
            },
            vec!["trace-1"],
        ),
        (
            TraceQuery {
                tags: strs(&["a", "c"]),
                ..q()
            },
            vec![],
        ),
        (
            TraceQuery {
                environments: strs(&["production", "staging"]),
                ..q()
            },
            vec!["trace-2", "trace-1"],
        ),
        (
            TraceQuery {
                environments: strs(&["default"]),
                ..q()
            },
            vec!["trace-3"],
        ),
        (
            TraceQuery {
                from_timestamp: Some(micros("2025-03-01T11:00:00Z")),
                ..q()
            },
            vec!["trace-3", "trace-2"],
        ),
        (
            TraceQuery {
                to_timestamp: Some(micros("2025-03-01T11:00:00Z")),
                ..q()
            },
            vec!["trace-1"],
        ),
        (
            TraceQuery {
                from_timestamp: Some(micros("2025-03-01T10:30:00Z")),
                to_timestamp: Some(micros("2025-03-01T12:00:00Z")),
                ..q()
            },
            vec!["trace-2"],
        ),
        (
            TraceQuery {
                user_id: Some("user-1".into()),
                tags: strs(&["b"]),
                ..q()
            },
            vec!["trace-3", "trace-1"],
        ),
        (
            TraceQuery {
                user_id: Some("user-1".into()),
                tags: strs(&["b"]),
                environments: strs(&["production"]),
                ..q()
            },
            vec!["trace-1"],
        ),
    ];
    for (query, expected) in cases {
        assert_eq!(
            trace_ids(stores, &a, &query).await,
            strs(&expected),
            "{query:?}"
        );
    }
}

pub async fn list_traces_advanced_filters(stores: &Stores) {
    let a = project(stores, "project-a").await;
    ingest_ok(
        stores,
        &a,
        json!([
            {"id": "e1", "type": "trace-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "trace-1", "timestamp": "2025-03-01T10:00:00Z",
                      "metadata": {"customer": "acme", "tier": "gold"}, "tags": ["prod-ready", "beta"]}},
            {"id": "e2", "type": "trace-create", "timestamp": "2025-03-01T11:00:00Z",
             "body": {"id": "trace-2", "timestamp": "2025-03-01T11:00:00Z",
                      "metadata": {"customer": "globex"}, "tags": ["beta"], "environment": "staging"}},
            {"id": "e3", "type": "trace-create", "timestamp": "2025-03-01T12:00:00Z",
             "body": {"id": "trace-3", "timestamp": "2025-03-01T12:00:00Z"}},
            {"id": "e4", "type": "span-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "span-1", "traceId": "trace-1", "startTime": "2025-03-01T10:00:00Z",
                      "endTime": "2025-03-01T10:00:05Z"}},
            {"id": "e5", "type": "span-create", "timestamp": "2025-03-01T11:00:00Z",
             "body": {"id": "span-2", "traceId": "trace-2", "startTime": "2025-03-01T11:00:00Z",
                      "endTime": "2025-03-01T11:00:01.500Z"}},
            {"id": "e6", "type": "score-create", "timestamp": "2025-03-01T10:01:00Z",
             "body": {"id": "score-1", "traceId": "trace-1", "name": "quality", "value": 0.9}},
            {"id": "e7", "type": "score-create", "timestamp": "2025-03-01T10:02:00Z",
             "body": {"id": "score-2", "traceId": "trace-1", "name": "quality", "value": 0.7}},
            {"id": "e8", "type": "score-create", "timestamp": "2025-03-01T11:01:00Z",
             "body": {"id": "score-3", "traceId": "trace-2", "name": "quality", "value": 0.2}},
            {"id": "e9", "type": "score-create", "timestamp": "2025-03-01T11:02:00Z",
             "body": {"id": "score-4", "traceId": "trace-2", "name": "other", "value": 1}}
        ]),
    )
    .await;
    let cases: Vec<(&str, Vec<&str>)> = vec![
        (
            r#"[{"column":"metadata","type":"stringObject","key":"customer","operator":"=","value":"acme"}]"#,
            vec!["trace-1"],
        ),
        (
            r#"[{"column":"Metadata","type":"stringObject","key":"customer","operator":"contains","value":"lob"}]"#,
            vec!["trace-2"],
        ),
        (
            r#"[{"column":"metadata","type":"stringObject","key":"tier","operator":"starts with","value":"go"}]"#,
            vec!["trace-1"],
        ),
        (
            r#"[{"column":"metadata","type":"stringObject","key":"customer","operator":"ends with","value":"bex"}]"#,
            vec!["trace-2"],
        ),
        (
            r#"[{"column":"tags","type":"arrayOptions","operator":"any of","value":["beta"]}]"#,
            vec!["trace-2", "trace-1"],
        ),
        (
            r#"[{"column":"tags","type":"arrayOptions","operator":"all of","value":["beta","prod-ready"]}]"#,
            vec!["trace-1"],
        ),
        (
            r#"[{"column":"tags","type":"arrayOptions","operator":"none of","value":["beta"]}]"#,
            vec!["trace-3"],
        ),
        (
            r#"[{"column":"latency","type":"number","operator":">","value":2}]"#,
            vec!["trace-1"],
        ),
        (
            r#"[{"column":"Latency (s)","type":"number","operator":">=","value":1.5}]"#,
            vec!["trace-2", "trace-1"],
        ),
        (
            r#"[{"column":"scores_avg","type":"numberObject","key":"quality","operator":">=","value":0.75}]"#,
            vec!["trace-1"],
        ),
        (
            r#"[{"column":"scores_avg","type":"numberObject","key":"quality","operator":"<","value":0.5}]"#,
            vec!["trace-2"],
        ),
        (
            r#"[{"column":"environment","type":"stringOptions","operator":"any of","value":["staging"]}]"#,
            vec!["trace-2"],
        ),
        (
            r#"[{"column":"tags","type":"arrayOptions","operator":"any of","value":["beta"]},
                {"column":"metadata","type":"stringObject","key":"customer","operator":"=","value":"globex"}]"#,
            vec!["trace-2"],
        ),
    ];
    for (text, expected) in cases {
        let query = TraceQuery {
            filters: filter(text, TRACE_COLUMNS),
            ..TraceQuery::default()
        };
        assert_eq!(
            trace_ids(stores, &a, &query).await,
            strs(&expected),
            "{text}"
        );
    }
}

pub async fn trace_ids_keyset_pagination_visits_every_match_once(stores: &Stores) {
    let (a, b) = projects_a_b(stores).await;
    let mut batch = Vec::new();
    for index in 0..25 {
        // Pairs of equal timestamps: ties are broken by id.
        let second = index / 2;
        let user = if index % 5 == 0 { "u-skip" } else { "u-keep" };
        batch.push(json!({"id": format!("e{index}"), "type": "trace-create",
            "timestamp": "2025-03-01T00:00:00Z",
            "body": {"id": format!("t{index:02}"), "userId": user,
                     "timestamp": format!("2025-03-01T00:00:{second:02}Z")}}));
    }
    ingest_ok(stores, &a, json!(batch)).await;
    ingest_ok(
        stores,
        &b,
        json!([{"id": "e1", "type": "trace-create", "timestamp": "2025-03-01T00:00:00Z",
                "body": {"id": "t-b", "userId": "u-keep"}}]),
    )
    .await;
    let query = TraceQuery {
        user_id: Some("u-keep".into()),
        ..TraceQuery::default()
    };
    let mut seen: Vec<TraceCursor> = Vec::new();
    loop {
        let batch = stores
            .traces
            .list_trace_ids_after(&a, &query, seen.last(), 4)
            .await
            .unwrap();
        assert!(batch.len() <= 4);
        if batch.is_empty() {
            break;
        }
        seen.extend(batch);
    }
    let ids: Vec<String> = seen.iter().map(|cursor| cursor.id.clone()).collect();
    let mut expected: Vec<String> = (0..25)
        .filter(|index| index % 5 != 0)
        .map(|index| format!("t{index:02}"))
        .collect();
    expected.reverse();
    assert_eq!(ids, expected, "timestamp desc, id desc, each once");
    assert!(
        seen.windows(2)
            .all(|pair| pair[0].timestamp >= pair[1].timestamp)
    );
    let b_ids = stores
        .traces
        .list_trace_ids_after(&b, &TraceQuery::default(), None, 100)
        .await
        .unwrap();
    assert_eq!(
        b_ids.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["t-b"]
    );
}
