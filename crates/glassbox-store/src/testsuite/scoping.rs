//! Conformance tests: Project scoping: one project never sees another's data.

use super::scores::score_config;
use super::*;

async fn assert_project_sees_nothing(stores: &Stores, project: &ProjectId) {
    let traces = stores
        .traces
        .list_traces(project, &TraceQuery::default(), ALL)
        .await
        .unwrap();
    assert_eq!((traces.total_items, traces.items.len()), (0, 0));
    let user_traces = TraceQuery {
        user_id: Some("user-1".into()),
        ..TraceQuery::default()
    };
    assert!(trace_ids(stores, project, &user_traces).await.is_empty());
    assert!(
        stores
            .traces
            .get_trace(project, "trace-1")
            .await
            .unwrap()
            .is_none()
    );

    let observations = stores
        .observations
        .list_observations(project, &ObservationQuery::default(), ALL)
        .await
        .unwrap();
    assert_eq!((observations.total_items, observations.items.len()), (0, 0));
    assert!(
        stores
            .observations
            .list_observations_after(project, &ObservationQuery::default(), None, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        stores
            .observations
            .get_observation(project, "obs-1")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        stores
            .observations
            .observations_of_trace(project, "trace-1")
            .await
            .unwrap()
            .is_empty()
    );

    let sessions = stores
        .sessions
        .list_sessions(project, &SessionQuery::default(), ALL)
        .await
        .unwrap();
    assert_eq!((sessions.total_items, sessions.items.len()), (0, 0));
    assert!(
        stores
            .sessions
            .get_session(project, "session-1")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        stores
            .sessions
            .traces_of_session(project, "session-1")
            .await
            .unwrap()
            .is_empty()
    );

    let scores = stores
        .scores
        .list_scores(project, &ScoreQuery::default(), ALL)
        .await
        .unwrap();
    assert_eq!((scores.total_items, scores.items.len()), (0, 0));
    assert!(
        stores
            .scores
            .list_scores_after(project, &ScoreQuery::default(), None, 100)
            .await
            .unwrap()
            .is_empty()
    );
    for id in ["score-1", "score-2"] {
        assert!(
            stores
                .scores
                .get_score(project, id)
                .await
                .unwrap()
                .is_none(),
            "{id}"
        );
    }
    assert!(
        stores
            .scores
            .scores_of_trace(project, "trace-1")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        stores
            .score_configs
            .get_score_config(project, "cfg-1")
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn project_scoping_hides_data_from_other_projects(stores: &Stores) {
    let (a, b) = projects_a_b(stores).await;
    stores
        .score_configs
        .insert_score_config(&a, score_config("cfg-1", "quality", ScoreDataType::Numeric))
        .await
        .unwrap();
    ingest_ok(
        stores,
        &a,
        json!([
            {"id": "e1", "type": "trace-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "trace-1", "userId": "user-1", "sessionId": "session-1", "tags": ["t"]}},
            {"id": "e2", "type": "generation-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "obs-1", "traceId": "trace-1", "costDetails": {"total": 1.0}}},
            {"id": "e3", "type": "score-create", "timestamp": "2025-03-01T10:00:01Z",
             "body": {"id": "score-1", "traceId": "trace-1", "name": "quality", "value": 1,
                      "configId": "cfg-1"}},
            {"id": "e4", "type": "score-create", "timestamp": "2025-03-01T10:00:02Z",
             "body": {"id": "score-2", "sessionId": "session-1", "name": "rating", "value": 3}}
        ]),
    )
    .await;
    // Project A sees its data...
    let trace = get_trace(stores, &a, "trace-1").await;
    assert_eq!(trace.observation_ids, strs(&["obs-1"]));
    assert!(
        stores
            .sessions
            .get_session(&a, "session-1")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(score_ids(stores, &a, &ScoreQuery::default()).await.len(), 2);
    // ...project B, and a project that was never created, see nothing.
    assert_project_sees_nothing(stores, &b).await;
    assert_project_sees_nothing(stores, &ProjectId("project-never-created".into())).await;

    // Advanced filters stay inside the project too (score aggregates, trace joins).
    let by_score = TraceQuery {
        filters: filter(
            r#"[{"column":"scores_avg","type":"numberObject","key":"quality","operator":">=","value":0}]"#,
            TRACE_COLUMNS,
        ),
        ..TraceQuery::default()
    };
    assert_eq!(trace_ids(stores, &a, &by_score).await, strs(&["trace-1"]));
    assert!(trace_ids(stores, &b, &by_score).await.is_empty());
    let by_user = ObservationQuery {
        user_id: Some("user-1".into()),
        ..ObservationQuery::default()
    };
    assert!(observation_ids(stores, &b, &by_user).await.is_empty());
}

pub async fn same_ids_in_two_projects_are_independent(stores: &Stores) {
    let (a, b) = projects_a_b(stores).await;
    ingest_ok(
        stores,
        &a,
        json!([
            {"id": "e1", "type": "trace-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "trace-1", "name": "in a", "tags": ["a"], "sessionId": "session-1",
                      "environment": "production"}},
            {"id": "e2", "type": "span-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "obs-1", "traceId": "trace-1", "name": "span a",
                      "startTime": "2025-03-01T10:00:00Z", "endTime": "2025-03-01T10:00:01Z"}},
            {"id": "e3", "type": "score-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "score-1", "traceId": "trace-1", "name": "quality", "value": 0.1}}
        ]),
    )
    .await;
    // The same event ids and entity ids in project B: not a replay, a different entity.
    ingest_ok(
        stores,
        &b,
        json!([
            {"id": "e1", "type": "trace-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "trace-1", "name": "in b", "tags": ["b"], "sessionId": "session-1",
                      "environment": "staging"}},
            {"id": "e2", "type": "generation-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "obs-1", "traceId": "trace-1", "name": "gen b",
                      "startTime": "2025-03-01T10:00:00Z", "endTime": "2025-03-01T10:00:09Z",
                      "costDetails": {"total": 2.0}}},
            {"id": "e4", "type": "span-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "obs-2", "traceId": "trace-1"}},
            {"id": "e3", "type": "score-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "score-1", "traceId": "trace-1", "name": "quality", "value": 0.9}}
        ]),
    )
    .await;
    let in_a = get_trace(stores, &a, "trace-1").await;
    let in_b = get_trace(stores, &b, "trace-1").await;
    assert_eq!(in_a.trace.name.as_deref(), Some("in a"));
    assert_eq!(in_a.trace.tags, strs(&["a"]));
    assert_eq!(in_a.observation_ids, strs(&["obs-1"]));
    assert_eq!(in_a.total_cost, 0.0);
    assert_close(in_a.latency_seconds, 1.0, "latency in a");
    assert_eq!(in_b.trace.name.as_deref(), Some("in b"));
    assert_eq!(in_b.trace.tags, strs(&["b"]));
    assert_eq!(set(&in_b.observation_ids), set(&strs(&["obs-1", "obs-2"])));
    assert_close(in_b.total_cost, 2.0, "total cost in b");
    assert_close(in_b.latency_seconds, 9.0, "latency in b");

    assert_eq!(get_observation(stores, &a, "obs-1").await.r#type, "SPAN");
    assert_eq!(
        get_observation(stores, &b, "obs-1").await.r#type,
        "GENERATION"
    );
    assert_eq!(get_score(stores, &a, "score-1").await.score.value, 0.1);
    assert_eq!(get_score(stores, &b, "score-1").await.score.value, 0.9);
    assert_eq!(
        get_score(stores, &a, "score-1")
            .await
            .trace
            .map(|trace| trace.tags),
        Some(strs(&["a"]))
    );
    let session_a = stores.sessions.get_session(&a, "session-1").await.unwrap();
    let session_b = stores.sessions.get_session(&b, "session-1").await.unwrap();
    assert_eq!(
        session_a.map(|s| s.environment).as_deref(),
        Some("production")
    );
    assert_eq!(session_b.map(|s| s.environment).as_deref(), Some("staging"));
    assert_eq!(
        stores
            .sessions
            .traces_of_session(&a, "session-1")
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        stores
            .observations
            .observations_of_trace(&a, "trace-1")
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        stores
            .scores
            .scores_of_trace(&b, "trace-1")
            .await
            .unwrap()
            .into_iter()
            .map(|score| score.value)
            .collect::<Vec<_>>(),
        vec![0.9]
    );
}
