//! The conformance suite of [`UserViewStore`](crate::UserViewStore): users aggregated
//! from traces, their tokens and cost, order, paging, time range and project scoping.
//! Run by a backend with [`user_conformance_suite!`](crate::user_conformance_suite).

use serde_json::json;

use crate::testsuite::{ingest_ok, micros, project};
use crate::*;

/// Generates one `#[tokio::test]` per users conformance test; same contract as
/// [`conformance_suite!`](crate::conformance_suite).
#[macro_export]
macro_rules! user_conformance_suite {
    (@tests ($factory:expr); $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let fixture = $factory.await;
                $crate::testsuite_users::$name(&fixture.0).await;
                drop(fixture);
            }
        )*
    };
    ($factory:expr) => {
        $crate::user_conformance_suite!(@tests ($factory);
            users_are_aggregated_ordered_paged_and_scoped,
        );
    };
}

pub async fn users_are_aggregated_ordered_paged_and_scoped(stores: &Stores) {
    let a = project(stores, "project-a").await;
    let b = project(stores, "project-b").await;
    ingest_ok(
        stores,
        &a,
        json!([
            {"id": "e1", "type": "trace-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "t1", "userId": "alice", "sessionId": "s1", "timestamp": "2025-03-01T10:00:00Z"}},
            {"id": "e2", "type": "generation-create", "timestamp": "2025-03-01T10:00:00Z",
             "body": {"id": "g1", "traceId": "t1", "startTime": "2025-03-01T10:00:00Z",
                      "usageDetails": {"input": 100, "output": 50, "total": 150},
                      "costDetails": {"total": 0.5}}},
            {"id": "e3", "type": "trace-create", "timestamp": "2025-03-02T10:00:00Z",
             "body": {"id": "t2", "userId": "alice", "sessionId": "s2", "timestamp": "2025-03-02T10:00:00Z"}},
            {"id": "e4", "type": "generation-create", "timestamp": "2025-03-02T10:00:00Z",
             "body": {"id": "g2", "traceId": "t2", "startTime": "2025-03-02T10:00:00Z",
                      "usageDetails": {"input": 10, "output": 5, "total": 15},
                      "costDetails": {"total": 0.25}}},
            {"id": "e5", "type": "trace-create", "timestamp": "2025-03-03T10:00:00Z",
             "body": {"id": "t3", "userId": "bob", "sessionId": "s1", "timestamp": "2025-03-03T10:00:00Z"}},
            {"id": "e6", "type": "generation-create", "timestamp": "2025-03-03T10:00:00Z",
             "body": {"id": "g3", "traceId": "t3", "startTime": "2025-03-03T10:00:00Z",
                      "usageDetails": {"input": 1, "output": 1, "total": 2},
                      "costDetails": {"total": 2.0}}},
            {"id": "e7", "type": "trace-create", "timestamp": "2025-03-04T10:00:00Z",
             "body": {"id": "t4", "userId": "carol", "timestamp": "2025-03-04T10:00:00Z"}},
            {"id": "e8", "type": "trace-create", "timestamp": "2025-03-05T10:00:00Z",
             "body": {"id": "t5", "timestamp": "2025-03-05T10:00:00Z"}}
        ]),
    )
    .await;
    ingest_ok(
        stores,
        &b,
        json!([
            {"id": "b1", "type": "trace-create", "timestamp": "2025-03-09T10:00:00Z",
             "body": {"id": "t1", "userId": "alice", "timestamp": "2025-03-09T10:00:00Z"}},
            {"id": "b2", "type": "trace-create", "timestamp": "2025-03-09T10:00:00Z",
             "body": {"id": "tb", "userId": "mallory", "timestamp": "2025-03-09T10:00:00Z"}}
        ]),
    )
    .await;
    let page = |page: u32, limit: u32| PageRequest { page, limit };
    let ids = |users: &Page<UserSummary>| {
        users
            .items
            .iter()
            .map(|user| user.user_id.clone())
            .collect::<Vec<_>>()
    };

    // Default order: last seen, newest first; traces without a user are not a user.
    let users = stores
        .user_views
        .list_users(&a, &UserQuery::default(), page(1, 50))
        .await
        .expect("list_users");
    assert_eq!(ids(&users), ["carol", "bob", "alice"]);
    assert_eq!(users.total_items, 3);
    let alice = &users.items[2];
    assert_eq!(alice.trace_count, 2);
    assert_eq!(alice.session_count, 2);
    assert_eq!(alice.input_tokens, 110.0);
    assert_eq!(alice.output_tokens, 55.0);
    assert_eq!(alice.total_tokens, 165.0);
    assert!(
        (alice.total_cost - 0.75).abs() < 1e-9,
        "{}",
        alice.total_cost
    );
    assert_eq!(alice.first_seen, micros("2025-03-01T10:00:00Z"));
    assert_eq!(alice.last_seen, micros("2025-03-02T10:00:00Z"));
    let carol = &users.items[0];
    assert_eq!((carol.trace_count, carol.session_count), (1, 0));
    assert_eq!((carol.total_tokens, carol.total_cost), (0.0, 0.0));

    // By cost, and paged.
    let by_cost = UserQuery {
        order: UserOrder::TotalCostDesc,
        ..Default::default()
    };
    let users = stores
        .user_views
        .list_users(&a, &by_cost, page(1, 2))
        .await
        .expect("list_users");
    assert_eq!(ids(&users), ["bob", "alice"]);
    assert_eq!(users.total_items, 3);
    let users = stores
        .user_views
        .list_users(&a, &by_cost, page(2, 2))
        .await
        .expect("list_users");
    assert_eq!(ids(&users), ["carol"]);
    let ascending = UserQuery {
        order: UserOrder::LastSeenAsc,
        ..Default::default()
    };
    let users = stores
        .user_views
        .list_users(&a, &ascending, page(1, 50))
        .await
        .expect("list_users");
    assert_eq!(ids(&users), ["alice", "bob", "carol"]);

    // A time range counts only the traces inside it; search by part of the id.
    let range = UserQuery {
        from_timestamp: Some(micros("2025-03-02T00:00:00Z")),
        to_timestamp: Some(micros("2025-03-04T00:00:00Z")),
        ..Default::default()
    };
    let users = stores
        .user_views
        .list_users(&a, &range, page(1, 50))
        .await
        .expect("list_users");
    assert_eq!(ids(&users), ["bob", "alice"]);
    assert_eq!(users.items[1].trace_count, 1);
    assert_eq!(users.items[1].total_tokens, 15.0);
    let search = UserQuery {
        search: Some("li".into()),
        ..Default::default()
    };
    let users = stores
        .user_views
        .list_users(&a, &search, page(1, 50))
        .await
        .expect("list_users");
    assert_eq!(ids(&users), ["alice"]);

    // One user, and their sessions.
    let alice = stores
        .user_views
        .get_user(&a, "alice")
        .await
        .expect("get_user")
        .expect("alice exists");
    assert_eq!((alice.trace_count, alice.total_tokens), (2, 165.0));
    let sessions = stores
        .user_views
        .sessions_of_user(&a, "alice", 10)
        .await
        .expect("sessions_of_user");
    let session_ids: Vec<&str> = sessions.iter().map(|s| s.session_id.as_str()).collect();
    assert_eq!(session_ids, ["s2", "s1"]);
    assert_eq!(sessions[0].trace_count, 1);

    // Project scoping: project b's alice and mallory never show up in a, and the reverse.
    assert!(
        stores
            .user_views
            .get_user(&a, "mallory")
            .await
            .expect("get_user")
            .is_none()
    );
    let users = stores
        .user_views
        .list_users(&b, &UserQuery::default(), page(1, 50))
        .await
        .expect("list_users");
    assert_eq!(ids(&users), ["alice", "mallory"]);
    assert_eq!(users.items[0].trace_count, 1);
    assert_eq!(users.items[0].total_cost, 0.0);
    assert!(
        stores
            .user_views
            .sessions_of_user(&b, "alice", 10)
            .await
            .expect("sessions_of_user")
            .is_empty()
    );
}
