//! Conformance tests: Observation lists: filters, order, pages and keyset pagination.

use super::*;

pub async fn list_observations_filters_order_and_pages(stores: &Stores) {
    let a = project(stores, "project-a").await;
    ingest_ok(
        stores,
        &a,
        json!([
            {"id": "e1", "type": "trace-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "trace-1", "userId": "user-1", "sessionId": "session-1"}},
            {"id": "e2", "type": "trace-create", "timestamp": "2025-03-01T09:00:00Z",
             "body": {"id": "trace-2", "userId": "user-2"}},
            {"id": "e3", "type": "span-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "root", "traceId": "trace-1", "startTime": "2025-03-01T10:00:00Z",
                      "name": "pipeline", "environment": "production"}},
            {"id": "e4", "type": "generation-create", "timestamp": "2025-03-01T10:01:00Z",
             "body": {"id": "gen-1", "traceId": "trace-1", "parentObservationId": "root",
                      "startTime": "2025-03-01T10:01:00Z", "name": "llm", "model": "gpt-4o",
                      "level": "ERROR", "version": "v2", "metadata": {"step": "answer"},
                      "environment": "production"}},
            {"id": "e5", "type": "event-create", "timestamp": "2025-03-01T10:02:00Z",
             "body": {"id": "event-1", "traceId": "trace-1", "parentObservationId": "root",
                      "startTime": "2025-03-01T10:02:00Z", "name": "log", "metadata": {"step": "log"},
                      "environment": "production"}},
            {"id": "e6", "type": "span-create", "timestamp": "2025-03-01T09:00:00Z",
             "body": {"id": "root-2", "traceId": "trace-2", "startTime": "2025-03-01T09:00:00Z",
                      "name": "pipeline", "environment": "staging"}}
        ]),
    )
    .await;
    let q = ObservationQuery::default;
    let cases: Vec<(ObservationQuery, Vec<&str>)> = vec![
        (q(), vec!["event-1", "gen-1", "root", "root-2"]),
        (
            ObservationQuery {
                r#type: Some("GENERATION".into()),
                ..q()
            },
            vec!["gen-1"],
        ),
        (
            ObservationQuery {
                name: Some("pipeline".into()),
                ..q()
            },
            vec!["root", "root-2"],
        ),
        (
            ObservationQuery {
                trace_id: Some("trace-1".into()),
                ..q()
            },
            vec!["event-1", "gen-1", "root"],
        ),
        (
            ObservationQuery {
                user_id: Some("user-2".into()),
                ..q()
            },
            vec!["root-2"],
        ),
        (
            ObservationQuery {
                session_id: Some("session-1".into()),
                ..q()
            },
            vec!["event-1", "gen-1", "root"],
        ),
        (
            ObservationQuery {
                level: Some("ERROR".into()),
                ..q()
            },
            vec!["gen-1"],
        ),
        (
            ObservationQuery {
                version: Some("v2".into()),
                ..q()
            },
            vec!["gen-1"],
        ),
        (
            ObservationQuery {
                parent_observation_id: Some("root".into()),
                ..q()
            },
            vec!["event-1", "gen-1"],
        ),
        (
            ObservationQuery {
                is_root: Some(true),
                ..q()
            },
            vec!["root", "root-2"],
        ),
        (
            ObservationQuery {
                environments: strs(&["staging"]),
                ..q()
            },
            vec!["root-2"],
        ),
        (
            ObservationQuery {
                from_start_time: Some(micros("2025-03-01T10:01:00Z")),
                ..q()
            },
            vec!["event-1", "gen-1"],
        ),
        (
            ObservationQuery {
                to_start_time: Some(micros("2025-03-01T10:01:00Z")),
                ..q()
            },
            vec!["root", "root-2"],
        ),
        (
            ObservationQuery {
                filters: filter(
                    r#"[{"column":"metadata","type":"stringObject","key":"step","operator":"=","value":"answer"}]"#,
                    OBSERVATION_COLUMNS,
                ),
                ..q()
            },
            vec!["gen-1"],
        ),
        (
            ObservationQuery {
                filters: filter(
                    r#"[{"column":"type","type":"stringOptions","operator":"any of","value":["SPAN","EVENT"]}]"#,
                    OBSERVATION_COLUMNS,
                ),
                ..q()
            },
            vec!["event-1", "root", "root-2"],
        ),
        (
            ObservationQuery {
                filters: filter(
                    r#"[{"column":"userId","type":"string","operator":"=","value":"user-1"},
                        {"column":"name","type":"string","operator":"starts with","value":"pipe"}]"#,
                    OBSERVATION_COLUMNS,
                ),
                ..q()
            },
            vec!["root"],
        ),
    ];
    for (query, expected) in cases {
        assert_eq!(
            observation_ids(stores, &a, &query).await,
            strs(&expected),
            "{query:?}"
        );
    }

    let second_page = stores
        .observations
        .list_observations(&a, &q(), page(2, 3))
        .await
        .unwrap();
    assert_eq!(second_page.total_items, 4);
    assert_eq!(
        second_page
            .items
            .iter()
            .map(|o| o.id.as_str())
            .collect::<Vec<_>>(),
        vec!["root-2"]
    );

    let of_trace: Vec<String> = stores
        .observations
        .observations_of_trace(&a, "trace-1")
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(
        of_trace,
        strs(&["root", "gen-1", "event-1"]),
        "by start time ascending"
    );
    assert!(
        stores
            .observations
            .observations_of_trace(&a, "trace-unknown")
            .await
            .unwrap()
            .is_empty()
    );

    let generation = get_observation(stores, &a, "gen-1").await;
    assert_eq!(generation.trace_id, "trace-1");
    assert_eq!(generation.parent_observation_id.as_deref(), Some("root"));
    assert_eq!(generation.r#type, "GENERATION");
    assert_eq!(generation.model.as_deref(), Some("gpt-4o"));
    assert_eq!(generation.level, "ERROR");
    assert_eq!(generation.environment, "production");
    assert!(
        stores
            .observations
            .get_observation(&a, "nope")
            .await
            .unwrap()
            .is_none()
    );
}

/// Pages through `list_observations_after` with `limit`, returning every row in order.
async fn drain_observations(
    stores: &Stores,
    project: &ProjectId,
    query: &ObservationQuery,
    limit: u32,
) -> Vec<Observation> {
    let mut all: Vec<Observation> = Vec::new();
    let mut cursor: Option<ObservationCursor> = None;
    loop {
        let batch = stores
            .observations
            .list_observations_after(project, query, cursor.as_ref(), limit)
            .await
            .expect("list_observations_after");
        assert!(batch.len() <= limit as usize, "at most `limit` rows");
        let Some(last) = batch.last() else { break };
        cursor = Some(ObservationCursor {
            start_time: last.start_time,
            trace_id: last.trace_id.clone(),
            id: last.id.clone(),
        });
        all.extend(batch);
        assert!(all.len() <= 1_000, "keyset pagination must terminate");
    }
    all
}

pub async fn observation_keyset_pagination_returns_every_row_once(stores: &Stores) {
    let a = project(stores, "project-a").await;
    // Many observations share start times, within and across traces.
    let mut batch = Vec::new();
    let mut expected: Vec<(Micros, String, String)> = Vec::new();
    for (trace_index, trace_id) in ["trace-a", "trace-b", "trace-c"].iter().enumerate() {
        for observation_index in 0..5 {
            let id = format!("obs-{trace_index}-{observation_index}");
            let start = format!("2025-03-01T10:00:0{}Z", observation_index % 2);
            let kind = if observation_index % 2 == 0 {
                "span-create"
            } else {
                "generation-create"
            };
            batch.push(
                json!({"id": format!("e-{id}"), "type": kind, "timestamp": start,
                              "body": {"id": id, "traceId": trace_id, "startTime": start}}),
            );
            expected.push((micros(&start), (*trace_id).to_owned(), id));
        }
    }
    ingest_ok(stores, &a, Value::Array(batch)).await;
    expected.sort_by(|x, y| y.cmp(x));
    let expected_ids: Vec<String> = expected.into_iter().map(|(_, _, id)| id).collect();
    assert_eq!(expected_ids.len(), 15);

    for limit in [1, 2, 4, 7, 15, 50] {
        let rows = drain_observations(stores, &a, &ObservationQuery::default(), limit).await;
        let ids: Vec<String> = rows.iter().map(|o| o.id.clone()).collect();
        assert_eq!(
            ids, expected_ids,
            "limit {limit}: every row once, start time desc, trace id desc, id desc"
        );
    }

    let generations = ObservationQuery {
        r#type: Some("GENERATION".into()),
        ..ObservationQuery::default()
    };
    let rows = drain_observations(stores, &a, &generations, 2).await;
    assert_eq!(rows.len(), 6);
    assert!(rows.iter().all(|o| o.r#type == "GENERATION"));
    assert_eq!(
        set(&rows.iter().map(|o| o.id.clone()).collect::<Vec<_>>()).len(),
        6
    );

    // A cursor past the end returns nothing.
    let after_last = ObservationCursor {
        start_time: micros("2025-03-01T09:00:00Z"),
        trace_id: "trace-z".into(),
        id: "z".into(),
    };
    assert!(
        stores
            .observations
            .list_observations_after(&a, &ObservationQuery::default(), Some(&after_last), 10)
            .await
            .unwrap()
            .is_empty()
    );
}
