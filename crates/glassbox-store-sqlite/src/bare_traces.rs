//! Bare trace events of OTLP spans, logged once per trace and request.
//!
//! Every OTLP span gives its trace a `trace-create` event; a span that is not the trace's
//! root gives a *bare* one, whose body holds only `timestamp` and `environment`. In the
//! merge (`glassbox_model::merge`) both keys are immutable (the first value in merge order
//! wins) and no other rule reads them, so among bare events that arrived together (same
//! `received_at`, hence the same `created_at`/`updated_at` contribution) only the first in
//! merge order can change the trace: the others are dominated, whatever events come
//! before or after. The writer therefore logs one bare event per trace and request
//! instead of one per span (`ingest_events` shrinks ~8× on agent traces).
//!
//! Only OTLP events (`otel:` ids) are coalesced. A dropped event that is re-sent later is
//! logged as a new event, so a re-sent span moves its trace's `updated_at`, where a logged
//! replay would keep the first arrival; batch API events keep that exact replay rule.

use glassbox_model::ingest::{EntityKind, LoggedEvent};

/// Whether `logged` is a bare OTLP trace event: `trace-create` with a body of at most
/// `timestamp` and `environment`.
fn is_bare(logged: &LoggedEvent) -> bool {
    let event = &logged.event;
    event.kind == EntityKind::Trace
        && event.event_type == "trace-create"
        && event.event_id.starts_with("otel:")
        && event
            .body
            .keys()
            .all(|key| key == "timestamp" || key == "environment")
}

/// Removes from one trace's events of a request every bare event but the first in merge
/// order (see the module docs for why this leaves the fold unchanged).
pub(crate) fn coalesce(events: &mut Vec<LoggedEvent>) {
    let Some(keep) = events
        .iter()
        .enumerate()
        .filter(|(_, logged)| is_bare(logged))
        .min_by_key(|(_, logged)| logged.merge_order_key())
        .map(|(index, _)| index)
    else {
        return;
    };
    let mut index = 0;
    events.retain(|logged| {
        let kept = index == keep || !is_bare(logged);
        index += 1;
        kept
    });
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use glassbox_model::ingest::{EntityKind, IngestEvent, LoggedEvent};
    use glassbox_model::merge::fold_trace;

    use super::coalesce;

    const T0: i64 = 1_740_823_200_000_000;

    fn event(
        id: &str,
        timestamp: i64,
        body: Value,
        received_at: i64,
        sequence: i64,
    ) -> LoggedEvent {
        LoggedEvent {
            received_at,
            sequence,
            event: IngestEvent {
                event_id: id.into(),
                event_type: "trace-create".into(),
                timestamp,
                kind: EntityKind::Trace,
                entity_id: "t".into(),
                body: body.as_object().cloned().unwrap_or_default(),
                snapshot: false,
            },
        }
    }

    fn bare(
        span: &str,
        offset: i64,
        environment: &str,
        received_at: i64,
        sequence: i64,
    ) -> LoggedEvent {
        event(
            &format!("otel:t:{span}:trace"),
            T0 + offset,
            json!({"timestamp": T0 + offset, "environment": environment}),
            received_at,
            sequence,
        )
    }

    /// Requests of bare and full events, in several arrival orders, with events of later
    /// requests before and after them in merge order: the coalesced log folds to the
    /// same trace as the whole log.
    #[test]
    fn coalescing_each_request_keeps_the_fold() {
        let root = |received_at, sequence| {
            event(
                "otel:t:root:trace",
                T0 + 5,
                json!({"timestamp": T0 + 5, "environment": "prod", "name": "agent",
                       "userId": "u", "input": "q", "metadata": {"a": 1}}),
                received_at,
                sequence,
            )
        };
        let requests: Vec<Vec<LoggedEvent>> = vec![
            vec![
                bare("a", 20, "prod", 100, 1),
                bare("b", 10, "staging", 100, 2),
                root(100, 3),
                bare("c", 10, "dev", 100, 4),
            ],
            vec![bare("d", 30, "prod", 200, 5), bare("e", 1, "late", 200, 6)],
            vec![
                event(
                    "batch-update",
                    T0 + 40,
                    json!({"output": "a", "tags": ["x"]}),
                    300,
                    7,
                ),
                bare("f", 50, "prod", 300, 8),
            ],
            vec![
                bare("g", -3, "earliest", 400, 9),
                bare("h", -3, "tie", 400, 10),
            ],
        ];
        for upto in 1..=requests.len() {
            let all: Vec<LoggedEvent> = requests[..upto].iter().flatten().cloned().collect();
            let mut logged = Vec::new();
            for request in &requests[..upto] {
                let mut request = request.clone();
                coalesce(&mut request);
                logged.extend(request);
            }
            assert!(logged.len() < all.len());
            assert_eq!(
                fold_trace("t", &logged),
                fold_trace("t", &all),
                "after {upto} requests"
            );
        }
    }

    #[test]
    fn keeps_the_first_bare_event_and_every_other_event() {
        let mut events = vec![
            bare("a", 20, "prod", 100, 1),
            event("not-otel", T0 + 1, json!({"timestamp": T0 + 1}), 100, 2),
            bare("b", 10, "prod", 100, 3),
            event(
                "otel:t:root:trace",
                T0 + 30,
                json!({"name": "root"}),
                100,
                4,
            ),
            bare("c", 10, "prod", 100, 5),
        ];
        coalesce(&mut events);
        let ids: Vec<&str> = events.iter().map(|e| e.event.event_id.as_str()).collect();
        assert_eq!(ids, ["not-otel", "otel:t:b:trace", "otel:t:root:trace"]);
    }

    /// Through the store: one request with a root and three child spans' trace events
    /// logs the root's event and one bare event, and the trace takes the earliest start.
    #[tokio::test]
    async fn the_store_logs_one_bare_event_per_trace_and_request() {
        use glassbox_model::ProjectId;
        use glassbox_store::{IngestStore, TraceStore};

        let dir = tempfile::tempdir().unwrap();
        let store = crate::SqliteStore::open(dir.path()).unwrap();
        let project = ProjectId("p".into());
        let events: Vec<IngestEvent> = [
            event(
                "otel:t:root:trace",
                T0 + 5,
                json!({"timestamp": T0 + 5, "name": "agent"}),
                0,
                0,
            ),
            bare("a", 9, "prod", 0, 0),
            bare("b", 2, "prod", 0, 0),
            bare("c", 7, "prod", 0, 0),
        ]
        .into_iter()
        .map(|logged| logged.event)
        .collect();
        let outcomes = store.ingest(&project, events).await.unwrap();
        assert!(outcomes.iter().all(Result::is_ok));
        let trace = store
            .get_trace(&project, "t")
            .await
            .unwrap()
            .expect("the trace");
        assert_eq!(trace.trace.timestamp, T0 + 2);
        assert_eq!(trace.trace.name.as_deref(), Some("agent"));
        store.shutdown();
        let connection = rusqlite::Connection::open(dir.path().join(crate::DATABASE_FILE)).unwrap();
        let mut ids: Vec<String> = connection
            .prepare(
                "SELECT event_id FROM ingest_events WHERE entity_kind = 'trace' ORDER BY event_id",
            )
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        ids.sort();
        assert_eq!(ids, ["otel:t:b:trace", "otel:t:root:trace"]);
    }
}
