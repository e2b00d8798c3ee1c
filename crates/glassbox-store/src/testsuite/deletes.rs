//! Conformance tests: Deleting traces and scores.

use super::*;

pub async fn delete_traces_removes_observations_scores_and_events(stores: &Stores) {
    let (a, b) = projects_a_b(stores).await;
    let batch = json!([
        {"id": "e1", "type": "trace-create", "timestamp": "2025-03-01T10:00:00Z",
         "body": {"id": "trace-1", "name": "old", "tags": ["old-tag"], "input": "old input"}},
        {"id": "e2", "type": "span-create", "timestamp": "2025-03-01T10:00:00Z",
         "body": {"id": "obs-1", "traceId": "trace-1", "input": "old span input"}},
        {"id": "e3", "type": "generation-create", "timestamp": "2025-03-01T10:00:01Z",
         "body": {"id": "obs-2", "traceId": "trace-1"}},
        {"id": "e4", "type": "score-create", "timestamp": "2025-03-01T10:00:02Z",
         "body": {"id": "score-1", "traceId": "trace-1", "name": "quality", "value": 1, "comment": "old"}},
        {"id": "e5", "type": "score-create", "timestamp": "2025-03-01T10:00:03Z",
         "body": {"id": "score-2", "traceId": "trace-1", "observationId": "obs-2", "name": "quality", "value": 0}},
        {"id": "e6", "type": "trace-create", "timestamp": "2025-03-01T11:00:00Z",
         "body": {"id": "trace-2"}},
        {"id": "e7", "type": "span-create", "timestamp": "2025-03-01T11:00:00Z",
         "body": {"id": "obs-3", "traceId": "trace-2"}},
        {"id": "e8", "type": "score-create", "timestamp": "2025-03-01T11:00:01Z",
         "body": {"id": "score-3", "traceId": "trace-2", "name": "quality", "value": 1}},
        {"id": "e9", "type": "score-create", "timestamp": "2025-03-01T11:00:02Z",
         "body": {"id": "score-session", "sessionId": "session-1", "name": "quality", "value": 1}}
    ]);
    ingest_ok(stores, &a, batch.clone()).await;
    ingest_ok(stores, &b, batch).await;

    stores
        .ingest
        .delete_traces(&a, &strs(&["trace-1", "trace-unknown"]))
        .await
        .unwrap();

    assert!(
        stores
            .traces
            .get_trace(&a, "trace-1")
            .await
            .unwrap()
            .is_none()
    );
    for id in ["obs-1", "obs-2"] {
        assert!(
            stores
                .observations
                .get_observation(&a, id)
                .await
                .unwrap()
                .is_none(),
            "{id}"
        );
    }
    for id in ["score-1", "score-2"] {
        assert!(
            stores.scores.get_score(&a, id).await.unwrap().is_none(),
            "{id}"
        );
    }
    assert!(
        stores
            .observations
            .observations_of_trace(&a, "trace-1")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        stores
            .scores
            .scores_of_trace(&a, "trace-1")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        trace_ids(stores, &a, &TraceQuery::default()).await,
        strs(&["trace-2"])
    );
    assert_eq!(
        observation_ids(stores, &a, &ObservationQuery::default()).await,
        strs(&["obs-3"])
    );
    assert_eq!(
        set(&score_ids(stores, &a, &ScoreQuery::default()).await),
        set(&strs(&["score-3", "score-session"]))
    );
    let survivor = get_trace(stores, &a, "trace-2").await;
    assert_eq!(survivor.observation_ids, strs(&["obs-3"]));
    assert_eq!(survivor.score_ids, strs(&["score-3"]));

    // The other project keeps its copy.
    assert_eq!(
        get_trace(stores, &b, "trace-1").await.observation_ids.len(),
        2
    );
    assert_eq!(score_ids(stores, &b, &ScoreQuery::default()).await.len(), 4);

    // The logged events are gone too: new events for the same ids start from scratch.
    ingest_ok(
        stores,
        &a,
        json!([
            {"id": "n1", "type": "trace-create", "timestamp": "2025-03-02T10:00:00Z",
             "body": {"id": "trace-1", "name": "new"}},
            {"id": "n2", "type": "span-update", "timestamp": "2025-03-02T10:00:00Z",
             "body": {"id": "obs-1", "traceId": "trace-1", "name": "new span"}},
            {"id": "n3", "type": "score-create", "timestamp": "2025-03-02T10:00:00Z",
             "body": {"id": "score-1", "traceId": "trace-1", "name": "quality", "value": 0.5}}
        ]),
    )
    .await;
    let trace = get_trace(stores, &a, "trace-1").await;
    assert_eq!(trace.trace.name.as_deref(), Some("new"));
    assert!(trace.trace.tags.is_empty(), "old tags must not come back");
    assert_eq!(trace.trace.input, None, "old input must not come back");
    assert_eq!(trace.trace.timestamp, micros("2025-03-02T10:00:00Z"));
    assert_eq!(trace.observation_ids, strs(&["obs-1"]));
    let span = get_observation(stores, &a, "obs-1").await;
    assert_eq!(span.input, None, "old observation input must not come back");
    assert_eq!(span.name.as_deref(), Some("new span"));
    let score = get_score(stores, &a, "score-1").await.score;
    assert_eq!(score.value, 0.5);
    assert_eq!(score.comment, None, "old score comment must not come back");

    // Deleting from another project does nothing here.
    stores
        .ingest
        .delete_traces(&b, &strs(&["trace-2"]))
        .await
        .unwrap();
    assert_eq!(
        get_trace(stores, &a, "trace-2").await.observation_ids,
        strs(&["obs-3"])
    );
    assert!(
        stores
            .traces
            .get_trace(&b, "trace-2")
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn delete_score_removes_only_that_score(stores: &Stores) {
    let (a, b) = projects_a_b(stores).await;
    ingest_ok(
        stores,
        &a,
        json!([
            {"id": "e1", "type": "trace-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "trace-1"}},
            {"id": "e2", "type": "score-create", "timestamp": "2025-03-01T10:00:01Z",
             "body": {"id": "score-1", "traceId": "trace-1", "name": "quality", "value": 1,
                      "comment": "first"}},
            {"id": "e3", "type": "score-create", "timestamp": "2025-03-01T10:00:02Z",
             "body": {"id": "score-2", "traceId": "trace-1", "name": "quality", "value": 0}}
        ]),
    )
    .await;
    assert!(
        !stores.ingest.delete_score(&b, "score-1").await.unwrap(),
        "another project cannot delete it"
    );
    assert!(stores.ingest.delete_score(&a, "score-1").await.unwrap());
    assert!(!stores.ingest.delete_score(&a, "score-1").await.unwrap());
    assert!(
        !stores
            .ingest
            .delete_score(&a, "score-unknown")
            .await
            .unwrap()
    );
    assert!(
        stores
            .scores
            .get_score(&a, "score-1")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        score_ids(stores, &a, &ScoreQuery::default()).await,
        strs(&["score-2"])
    );
    assert_eq!(
        get_trace(stores, &a, "trace-1").await.score_ids,
        strs(&["score-2"])
    );
    assert_eq!(
        stores
            .scores
            .scores_of_trace(&a, "trace-1")
            .await
            .unwrap()
            .len(),
        1
    );
    // Its logged events went with it.
    ingest_ok(
        stores,
        &a,
        json!([{"id": "e4", "type": "score-create", "timestamp": "2025-03-02T10:00:00Z",
                "body": {"id": "score-1", "traceId": "trace-1", "name": "quality", "value": 0.5}}]),
    )
    .await;
    let score = get_score(stores, &a, "score-1").await.score;
    assert_eq!(score.value, 0.5);
    assert_eq!(score.comment, None);
}
