//! PostgreSQL-specific tests of the write path: two stores (two pools, as two glassbox
//! processes) ingesting events of the same entities at the same time end with the rows a
//! sequential ingest produces: no event is lost to a concurrent fold.

use std::sync::Arc;

use serde_json::{Value, json};

use glassbox_model::ProjectId;
use glassbox_model::ingest::IngestEvent;
use glassbox_store::IngestStore;
use glassbox_store::testsuite::events;

use crate::PgStore;
use crate::tests::fresh_config;

const UPDATES: usize = 24;

fn at(second: usize) -> String {
    format!("2025-03-01T10:{:02}:{:02}.000Z", second / 60, second % 60)
}

/// One trace, one generation and one score, each built from many events with distinct
/// timestamps (so the merge order does not depend on arrival), in single-event batches.
fn workload() -> Vec<Vec<IngestEvent>> {
    let mut batches = vec![
        json!([{"id": "trace-create", "type": "trace-create", "timestamp": at(0),
            "body": {"id": "trace-1", "name": "start", "userId": "user-1", "sessionId": "session-1",
                     "timestamp": at(0), "tags": ["t-create"], "metadata": {"origin": "create"}}}]),
        json!([{"id": "gen-create", "type": "generation-create", "timestamp": at(0),
            "body": {"id": "gen-1", "traceId": "trace-1", "name": "llm", "model": "gpt-4o",
                     "startTime": at(0), "usageDetails": {"input": 10, "output": 1}}}]),
        json!([{"id": "score-create", "type": "score-create", "timestamp": at(0),
            "body": {"id": "score-1", "traceId": "trace-1", "name": "quality", "value": 0.5}}]),
    ];
    for step in 1..=UPDATES {
        batches.push(
            json!([{"id": format!("trace-update-{step}"), "type": "trace-create",
            "timestamp": at(step),
            "body": {"id": "trace-1", "name": format!("name-{step}"), "tags": [format!("t-{step}")],
                     "metadata": {format!("key-{step}"): step}, "output": {"step": step}}}]),
        );
        batches.push(
            json!([{"id": format!("gen-update-{step}"), "type": "generation-update",
            "timestamp": at(step),
            "body": {"id": "gen-1", "traceId": "trace-1", "endTime": at(step),
                     "metadata": {format!("key-{step}"): step},
                     "usageDetails": {"input": 10 + step, "output": step}}}]),
        );
    }
    batches.push(
        json!([{"id": "score-update", "type": "score-create", "timestamp": at(1),
        "body": {"id": "score-1", "traceId": "trace-1", "name": "quality", "value": 0.75}}]),
    );
    batches.into_iter().map(events).collect()
}

/// Every merged row and logged event of the store's schema, without the arrival-dependent
/// columns (created_at, updated_at, received_at, sequence), as comparable JSON text.
async fn snapshot(store: &PgStore) -> Vec<String> {
    let queries = [
        "SELECT (to_jsonb(t) - 'created_at' - 'updated_at')::text FROM traces t ORDER BY id",
        "SELECT (to_jsonb(o) - 'created_at' - 'updated_at')::text FROM observations o ORDER BY id",
        "SELECT (to_jsonb(s) - 'created_at' - 'updated_at')::text FROM scores s ORDER BY id",
        "SELECT (to_jsonb(s) - 'created_at')::text FROM sessions s ORDER BY id",
        "SELECT (to_jsonb(e) - 'received_at' - 'sequence')::text FROM ingest_events e \
         ORDER BY entity_kind, entity_id, event_id",
    ];
    let mut rows = Vec::new();
    for sql in queries {
        let found: Vec<String> = sqlx::query_scalar(sql)
            .fetch_all(store.pool())
            .await
            .expect("read the schema");
        rows.extend(found);
    }
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_ingesting_one_trace_concurrently_match_a_sequential_ingest() {
    let project = ProjectId("project-a".into());
    let batches = workload();

    let sequential = PgStore::connect(fresh_config()).await.expect("connect");
    for batch in &batches {
        let outcomes = sequential.ingest(&project, batch.clone()).await.unwrap();
        assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    }

    // Two pools on one schema; every batch is its own concurrent call, alternating
    // between the stores, newest events first so that folds race with older events.
    let config = fresh_config();
    let first = PgStore::connect(config.clone()).await.expect("connect");
    let second = PgStore::connect(config).await.expect("connect");
    let mut tasks = Vec::new();
    for (index, batch) in batches.iter().rev().enumerate() {
        let store: Arc<PgStore> = if index % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let (project, batch) = (project.clone(), batch.clone());
        tasks.push(tokio::spawn(
            async move { store.ingest(&project, batch).await },
        ));
    }
    for task in tasks {
        let outcomes = task.await.expect("task").expect("ingest");
        assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    }

    let expected = snapshot(&sequential).await;
    assert_eq!(snapshot(&first).await, expected);
    assert_eq!(snapshot(&second).await, expected);

    // The merged rows hold every update (no fold lost one).
    let (tags, metadata): (String, String) = sqlx::query_as(
        "SELECT tags, metadata FROM traces WHERE project_id = $1 AND id = 'trace-1'",
    )
    .bind(project.as_str())
    .fetch_one(first.pool())
    .await
    .unwrap();
    let tags: Vec<String> = serde_json::from_str(&tags).unwrap();
    assert_eq!(tags.len(), UPDATES + 1, "{tags:?}");
    let metadata: Value = serde_json::from_str(&metadata).unwrap();
    assert_eq!(
        metadata.as_object().map(|object| object.len()),
        Some(UPDATES + 1)
    );
    let (end_time, usage): (Option<i64>, String) = sqlx::query_as(
        "SELECT end_time, usage_details FROM observations WHERE project_id = $1 AND id = 'gen-1'",
    )
    .bind(project.as_str())
    .fetch_one(first.pool())
    .await
    .unwrap();
    assert_eq!(
        end_time,
        Some(glassbox_store::testsuite::micros(&at(UPDATES)))
    );
    let usage: Value = serde_json::from_str(&usage).unwrap();
    assert_eq!(usage["input"], json!(10 + UPDATES));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sequence_numbers_are_shared_and_a_replay_keeps_its_first_arrival() {
    let config = fresh_config();
    let first = PgStore::connect(config.clone()).await.expect("connect");
    let second = PgStore::connect(config).await.expect("connect");
    let project = ProjectId("project-a".into());
    let batch = |id: &str, name: &str| {
        events(json!([{"id": id, "type": "span-create", "timestamp": at(1),
            "body": {"id": "span-1", "traceId": "trace-1", "name": name, "startTime": at(1)}}]))
    };
    first.ingest(&project, batch("e1", "a")).await.unwrap();
    second.ingest(&project, batch("e2", "b")).await.unwrap();
    let sequences = |store: Arc<PgStore>| async move {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT event_id, sequence, received_at FROM ingest_events ORDER BY event_id",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        rows
    };
    let before = sequences(first.clone()).await;
    assert!(before[0].1 < before[1].1, "{before:?}");
    // Replay of e1 through the other process: same place in the order, new body.
    second.ingest(&project, batch("e1", "c")).await.unwrap();
    let after = sequences(first.clone()).await;
    assert_eq!(after, before);
    let name: Option<String> =
        sqlx::query_scalar("SELECT name FROM observations WHERE id = 'span-1'")
            .fetch_one(first.pool())
            .await
            .unwrap();
    // Equal timestamps: arrival breaks the tie, so e2 (later) still wins over replayed e1.
    assert_eq!(name.as_deref(), Some("b"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overlapping_batches_in_opposite_orders_all_commit() {
    let config = fresh_config();
    let first = PgStore::connect(config.clone()).await.expect("connect");
    let second = PgStore::connect(config).await.expect("connect");
    let project = ProjectId("project-a".into());
    // Each batch touches the same five traces (and their sessions and spans), half of
    // them in reverse order: locks and row writes must never wait on each other in a cycle.
    let batch = |round: usize| {
        let mut items: Vec<Value> = (0..5)
            .flat_map(|trace| {
                [
                    json!({"id": format!("t{trace}-{round}"), "type": "trace-create",
                        "timestamp": at(round),
                        "body": {"id": format!("trace-{trace}"), "sessionId": format!("session-{trace}"),
                                 "tags": [format!("r{round}")]}}),
                    json!({"id": format!("s{trace}-{round}"), "type": "span-create",
                        "timestamp": at(round),
                        "body": {"id": format!("span-{trace}"), "traceId": format!("trace-{trace}"),
                                 "startTime": at(trace), "metadata": {format!("r{round}"): round}}}),
                ]
            })
            .collect();
        if round % 2 == 1 {
            items.reverse();
        }
        events(Value::Array(items))
    };
    let rounds = 16;
    let mut tasks = Vec::new();
    for round in 0..rounds {
        let store = if round % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let (project, events) = (project.clone(), batch(round));
        tasks.push(tokio::spawn(
            async move { store.ingest(&project, events).await },
        ));
    }
    for task in tasks {
        let outcomes = task.await.expect("task").expect("ingest");
        assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    }
    let tags: Vec<String> = sqlx::query_scalar("SELECT tags FROM traces ORDER BY id")
        .fetch_all(first.pool())
        .await
        .unwrap();
    assert_eq!(tags.len(), 5);
    for tags in tags {
        let tags: Vec<String> = serde_json::from_str(&tags).unwrap();
        assert_eq!(tags.len(), rounds, "{tags:?}");
    }
    let sessions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions")
        .fetch_one(first.pool())
        .await
        .unwrap();
    assert_eq!(sessions, 5);
    let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ingest_events")
        .fetch_one(first.pool())
        .await
        .unwrap();
    assert_eq!(events, i64::try_from(rounds * 10).unwrap());
}

/// One request with a root and three child spans' trace events logs the root's and the
/// first and last child's (`glassbox_model::trace_events`), as the embedded store does,
/// and the trace takes the earliest start and the root's name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn equal_trace_events_of_a_request_are_logged_first_and_last() {
    let store = PgStore::connect(fresh_config()).await.expect("connect");
    let project = ProjectId("project-a".into());
    glassbox_store::testsuite::ingest_otlp_trace_events(store.as_ref(), &project).await;
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT event_id FROM ingest_events WHERE entity_kind = 'trace' ORDER BY event_id",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(ids, glassbox_store::testsuite::OTLP_TRACE_EVENTS_LOGGED);
}
