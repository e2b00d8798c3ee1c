//! OTLP spans kept as their row alone (`snapshots.rs`) give the same observations as the
//! general path that logs every event: each scenario runs once with the spans marked as
//! snapshots and once with the same events unmarked, and the rows must match.

use std::path::Path;
use std::sync::Arc;

use serde_json::{Value, json};

use glassbox_model::ingest::{EntityKind, IngestEvent, otlp_observation_event_id};
use glassbox_model::{JsonObject, Observation, ProjectId};
use glassbox_store::{IngestStore, ObservationStore};

use crate::SqliteStore;

const START: i64 = 1_740_823_200_000_000;
const SPAN: &str = "span-1";

fn object(value: Value) -> JsonObject {
    value.as_object().cloned().unwrap_or_default()
}

/// The observation event of an OTLP span, shaped as the OTLP mapping shapes it.
fn span(trace_id: &str, variant: u8) -> IngestEvent {
    let body = match variant {
        1 => json!({
            "id": SPAN, "traceId": trace_id, "type": "GENERATION", "name": "llm",
            "startTime": START, "endTime": START + 1_000, "environment": "default",
            "metadata": {"a": 1, "nested": {"x": 1}}, "level": "DEFAULT",
            "input": {"messages": [{"role": "user", "content": "hi"}]}, "output": "hello",
            "model": "gpt-4o", "providedUsageDetails": {"input": 10, "output": 5},
            "modelParameters": {"temperature": 0.5}, "parentObservationId": "root",
        }),
        2 => json!({
            "id": SPAN, "traceId": trace_id, "type": "GENERATION", "name": "llm-2",
            "startTime": START, "endTime": START + 2_000, "environment": "default",
            "metadata": {"nested": {"y": 2}}, "level": "ERROR", "statusMessage": "boom",
            "output": "bye", "providedUsageDetails": {}, "version": "v2",
        }),
        // The merge clamps the end to the start: not representable by its row.
        _ => json!({
            "id": SPAN, "traceId": trace_id, "type": "SPAN", "name": "odd",
            "startTime": START, "endTime": START - 5, "environment": "default",
            "metadata": {}, "level": "DEFAULT", "input": "",
        }),
    };
    IngestEvent {
        event_id: otlp_observation_event_id(trace_id, SPAN),
        event_type: "observation-create".into(),
        timestamp: START,
        kind: EntityKind::Observation,
        entity_id: SPAN.into(),
        body: object(body),
        snapshot: true,
    }
}

fn update(number: i64) -> IngestEvent {
    IngestEvent {
        event_id: format!("update-{number}"),
        event_type: "span-update".into(),
        timestamp: START + number * 10,
        kind: EntityKind::Observation,
        entity_id: SPAN.into(),
        body: object(json!({
            "id": SPAN, "traceId": "t", "endTime": START + 5_000, "output": "updated",
            "metadata": {"nested": {"u": number}}, "statusMessage": null,
        })),
        snapshot: false,
    }
}

/// A batch create with the span's own timestamp: only the arrival order breaks the tie.
fn tied_create() -> IngestEvent {
    IngestEvent {
        event_id: "batch-create".into(),
        event_type: "generation-create".into(),
        timestamp: START,
        kind: EntityKind::Observation,
        entity_id: SPAN.into(),
        body: object(json!({"id": SPAN, "traceId": "t", "name": "from-batch", "model": "claude"})),
        snapshot: false,
    }
}

enum Step {
    Send(Vec<IngestEvent>),
    Reopen,
}

/// Runs `steps` on a fresh store; `snapshots: false` clears the snapshot marks first.
/// Returns the observation (arrival times replaced by whether it was updated after its
/// creation) and the number of its logged events.
async fn run(steps: &[Step], snapshots: bool) -> (Observation, i64) {
    let dir = tempfile::tempdir().unwrap();
    let project = ProjectId("p".into());
    let mut store: Arc<SqliteStore> = SqliteStore::open(dir.path()).unwrap();
    for step in steps {
        match step {
            Step::Send(events) => {
                let events: Vec<IngestEvent> = events
                    .iter()
                    .cloned()
                    .map(|mut event| {
                        event.snapshot &= snapshots;
                        event
                    })
                    .collect();
                let outcomes = store.ingest(&project, events).await.unwrap();
                assert!(outcomes.iter().all(Result::is_ok));
            }
            Step::Reopen => {
                store.shutdown();
                drop(store);
                store = SqliteStore::open(dir.path()).unwrap();
            }
        }
    }
    let mut observation = store
        .get_observation(&project, SPAN)
        .await
        .unwrap()
        .expect("the observation");
    let updated = observation.updated_at > observation.created_at;
    observation.created_at = 0;
    observation.updated_at = i64::from(updated);
    store.shutdown();
    (observation, logged(dir.path()))
}

fn logged(dir: &Path) -> i64 {
    let connection = rusqlite::Connection::open(dir.join(crate::DATABASE_FILE)).unwrap();
    connection
        .query_row(
            "SELECT COUNT(*) FROM ingest_events WHERE entity_kind = 'observation'",
            [],
            |row| row.get(0),
        )
        .unwrap()
}

/// The scenario gives the same row both ways; returns the snapshot run's logged events.
async fn same_both_ways(steps: Vec<Step>) -> i64 {
    let (with_snapshots, logged) = run(&steps, true).await;
    let (general, _) = run(&steps, false).await;
    assert_eq!(with_snapshots, general);
    logged
}

fn send(events: Vec<IngestEvent>) -> Step {
    Step::Send(events)
}

#[tokio::test]
async fn a_span_alone_is_stored_as_its_row_without_logging() {
    assert_eq!(same_both_ways(vec![send(vec![span("t", 1)])]).await, 0);
    // A re-sent span replaces itself, keeping its first arrival.
    let steps = vec![send(vec![span("t", 1)]), send(vec![span("t", 2)])];
    assert_eq!(same_both_ways(steps).await, 0);
}

#[tokio::test]
async fn updates_after_a_span_merge_with_it_in_every_order() {
    let orders = vec![
        vec![
            send(vec![span("t", 1)]),
            send(vec![update(1)]),
            send(vec![span("t", 1)]),
        ],
        vec![
            send(vec![update(1)]),
            send(vec![span("t", 1)]),
            send(vec![span("t", 2)]),
        ],
        vec![
            send(vec![span("t", 1)]),
            send(vec![span("t", 2)]),
            send(vec![update(1)]),
        ],
        vec![
            send(vec![span("t", 2)]),
            send(vec![update(1)]),
            send(vec![span("t", 1)]),
        ],
        vec![
            send(vec![span("t", 1), update(1)]),
            send(vec![span("t", 2)]),
        ],
        vec![
            send(vec![span("t", 1), span("t", 2)]),
            send(vec![update(2)]),
        ],
        vec![
            send(vec![span("t", 1)]),
            send(vec![update(2)]),
            send(vec![update(1)]),
        ],
    ];
    for steps in orders {
        assert!(same_both_ways(steps).await > 0);
    }
}

#[tokio::test]
async fn ties_spans_of_other_traces_and_odd_spans_merge_as_logged() {
    let scenarios = vec![
        vec![
            send(vec![span("t", 1)]),
            send(vec![tied_create()]),
            send(vec![span("t", 2)]),
        ],
        vec![send(vec![tied_create()]), send(vec![span("t", 1)])],
        // The same span id in another trace is another event id.
        vec![send(vec![span("t", 1)]), send(vec![span("other", 2)])],
        vec![send(vec![span("t", 3)]), send(vec![update(1)])],
        // Sequences continue past unlogged snapshots after a restart.
        vec![
            send(vec![span("t", 1)]),
            Step::Reopen,
            send(vec![tied_create()]),
        ],
        vec![
            send(vec![span("t", 2)]),
            Step::Reopen,
            send(vec![update(1)]),
            send(vec![span("t", 1)]),
        ],
    ];
    for steps in scenarios {
        same_both_ways(steps).await;
    }
    assert_eq!(same_both_ways(vec![send(vec![span("t", 3)])]).await, 1);
}

/// One request with a root and three child spans' trace events logs the root's and the
/// first and last child's (`glassbox_model::trace_events`), and the trace takes the
/// earliest start and the root's name.
#[tokio::test]
async fn equal_trace_events_of_a_request_are_logged_first_and_last() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let project = ProjectId("p".into());
    glassbox_store::testsuite::ingest_otlp_trace_events(store.as_ref(), &project).await;
    store.shutdown();
    let connection = rusqlite::Connection::open(dir.path().join(crate::DATABASE_FILE)).unwrap();
    let ids: Vec<String> = connection
        .prepare("SELECT event_id FROM ingest_events WHERE entity_kind = 'trace' ORDER BY event_id")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(ids, glassbox_store::testsuite::OTLP_TRACE_EVENTS_LOGGED);
}

/// Across requests the log keeps only the OTLP trace events that can still change the
/// fold (`glassbox_model::trace_events::prune_otlp_trace_events`): after the children of
/// the first request and the root and one child of the second, the root (first in merge
/// order) and the last child (the latest user) stay, reduced to the keys they win, and
/// the trace is the one all four events fold to: the earliest arrival moves onto one of
/// them (here the root) and the latest onto the other.
#[tokio::test]
async fn a_traces_otlp_events_are_pruned_across_requests() {
    use glassbox_store::TraceStore;

    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let project = ProjectId("p".into());
    let start = glassbox_store::testsuite::OTLP_TRACE_START;
    let event = |span: &str, offset: i64, extra: Value| {
        let mut body = json!({"timestamp": start + offset, "environment": "prod", "userId": span});
        if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
            body.extend(extra);
        }
        IngestEvent {
            event_id: format!("otel:t:{span}:trace"),
            event_type: "trace-create".into(),
            timestamp: start + offset,
            kind: EntityKind::Trace,
            entity_id: "t".into(),
            body: body.as_object().cloned().unwrap(),
            snapshot: false,
        }
    };
    let ingest = |events: Vec<IngestEvent>| {
        let store = store.clone();
        let project = project.clone();
        async move {
            let outcomes = store.ingest(&project, events).await.unwrap();
            assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
        }
    };
    ingest(vec![event("a", 9, json!({})), event("b", 2, json!({}))]).await;
    let first = store.get_trace(&project, "t").await.unwrap().unwrap().trace;
    ingest(vec![
        event("root", 1, json!({"name": "agent", "metadata": {"k": "v"}})),
        event("c", 12, json!({})),
    ])
    .await;
    let trace = store.get_trace(&project, "t").await.unwrap().unwrap().trace;
    assert_eq!(trace.timestamp, start + 1);
    assert_eq!(trace.name.as_deref(), Some("agent"));
    assert_eq!(trace.user_id.as_deref(), Some("c"));
    assert_eq!(trace.metadata.get("k"), Some(&json!("v")));
    assert_eq!(trace.created_at, first.created_at);
    assert!(trace.updated_at > first.updated_at);
    store.shutdown();

    let connection = rusqlite::Connection::open(dir.path().join(crate::DATABASE_FILE)).unwrap();
    let logged: Vec<(String, i64, String)> = connection
        .prepare(
            "SELECT event_id, received_at, body FROM ingest_events \
             WHERE entity_kind = 'trace' ORDER BY timestamp",
        )
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let bodies: Vec<(&str, i64, Value)> = logged
        .iter()
        .map(|(id, received_at, body)| {
            (
                id.as_str(),
                *received_at,
                serde_json::from_str(body).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        bodies,
        [
            (
                "otel:t:root:trace",
                first.created_at,
                json!({"timestamp": start + 1, "environment": "prod", "name": "agent",
                       "metadata": {"k": "v"}})
            ),
            ("otel:t:c:trace", trace.updated_at, json!({"userId": "c"})),
        ]
    );
}
