//! Conformance tests: Sessions derived from traces.

use super::*;

pub async fn sessions_come_from_traces(stores: &Stores) {
    let a = project(stores, "project-a").await;
    ingest_ok(
        stores,
        &a,
        json!([
            {"id": "e1", "type": "trace-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "trace-1", "timestamp": "2025-03-01T10:00:00Z", "sessionId": "session-1",
                      "environment": "production"}},
            {"id": "e2", "type": "trace-create", "timestamp": "2025-03-01T09:00:00Z",
             "body": {"id": "trace-2", "timestamp": "2025-03-01T09:00:00Z", "sessionId": "session-1",
                      "environment": "production"}},
            {"id": "e3", "type": "trace-create", "timestamp": "2025-03-01T11:00:00Z",
             "body": {"id": "trace-no-session", "timestamp": "2025-03-01T11:00:00Z"}}
        ]),
    )
    .await;
    ingest_ok(
        stores,
        &a,
        json!([{"id": "e4", "type": "trace-create", "timestamp": "2025-03-01T12:00:00Z",
                "body": {"id": "trace-3", "timestamp": "2025-03-01T12:00:00Z", "sessionId": "session-2",
                         "environment": "staging"}}]),
    )
    .await;

    let all = stores
        .sessions
        .list_sessions(&a, &SessionQuery::default(), ALL)
        .await
        .unwrap();
    assert_eq!(all.total_items, 2);
    let ids: Vec<&str> = all.items.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, vec!["session-2", "session-1"], "creation time desc");
    let (newer, older) = (&all.items[0], &all.items[1]);
    assert!(newer.created_at > older.created_at);

    let session = stores
        .sessions
        .get_session(&a, "session-1")
        .await
        .unwrap()
        .expect("session-1 exists");
    assert_eq!(session.id, "session-1");
    assert_eq!(session.environment, "production");
    assert_eq!(&session, older);
    assert!(
        stores
            .sessions
            .get_session(&a, "session-unknown")
            .await
            .unwrap()
            .is_none()
    );

    let traces: Vec<String> = stores
        .sessions
        .traces_of_session(&a, "session-1")
        .await
        .unwrap()
        .into_iter()
        .map(|trace| trace.id)
        .collect();
    assert_eq!(traces, strs(&["trace-2", "trace-1"]), "timestamp ascending");
    assert!(
        stores
            .sessions
            .traces_of_session(&a, "session-unknown")
            .await
            .unwrap()
            .is_empty()
    );

    let list = |query: SessionQuery, request: PageRequest| {
        let a = a.clone();
        async move {
            let result = stores
                .sessions
                .list_sessions(&a, &query, request)
                .await
                .unwrap();
            (
                result.total_items,
                result
                    .items
                    .into_iter()
                    .map(|session| session.id)
                    .collect::<Vec<_>>(),
            )
        }
    };
    assert_eq!(
        list(
            SessionQuery {
                environments: strs(&["staging"]),
                ..SessionQuery::default()
            },
            ALL
        )
        .await,
        (1, strs(&["session-2"]))
    );
    assert_eq!(
        list(SessionQuery::default(), page(2, 1)).await,
        (2, strs(&["session-1"]))
    );
    assert_eq!(
        list(
            SessionQuery {
                from_timestamp: Some(newer.created_at),
                ..SessionQuery::default()
            },
            ALL
        )
        .await,
        (1, strs(&["session-2"])),
        "from is inclusive"
    );
    assert_eq!(
        list(
            SessionQuery {
                to_timestamp: Some(newer.created_at),
                ..SessionQuery::default()
            },
            ALL
        )
        .await,
        (1, strs(&["session-1"])),
        "to is exclusive"
    );
}
