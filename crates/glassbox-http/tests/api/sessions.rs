//! `GET /sessions` and `/sessions/{id}`.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::support::{Auth, TestApp, enc, event_at, micros};

async fn seed(app: &TestApp) {
    // Separate requests, apart in time, so that the sessions are created one after the
    // other (createdAt has millisecond precision on the wire).
    app.ingest_ok(
        &Auth::A,
        vec![
            event_at(
                "trace-create",
                "2025-06-01T00:00:00Z",
                json!({"id": "st1", "name": "one", "sessionId": "sess-1", "environment": "production", "input": {"i": 1}}),
            ),
            event_at(
                "trace-create",
                "2025-06-01T00:00:00Z",
                json!({"id": "st2", "name": "two", "sessionId": "sess-1", "environment": "production"}),
            ),
        ],
    )
    .await;
    // The second session must be created strictly later: wait for the clock to move on.
    let first = glassbox_model::time::now_micros();
    while glassbox_model::time::now_micros() <= first {
        tokio::task::yield_now().await;
    }
    app.ingest_ok(
        &Auth::A,
        vec![event_at(
            "trace-create",
            "2025-06-01T00:00:00Z",
            json!({"id": "st3", "name": "three", "sessionId": "sess-2", "environment": "staging"}),
        )],
    )
    .await;
    app.ingest_ok(
        &Auth::A,
        vec![event_at(
            "trace-create",
            "2025-06-01T00:00:00Z",
            json!({"id": "st4", "name": "no session"}),
        )],
    )
    .await;
}

#[tokio::test]
async fn list_sessions() {
    let app = TestApp::new().await;
    seed(&app).await;
    let response = app.get("/api/public/sessions", &Auth::A).await;
    let body = response.expect(200).clone();
    assert_eq!(response.ids(), ["sess-2", "sess-1"], "createdAt descending");
    assert_eq!(
        body["meta"],
        json!({"page": 1, "limit": 50, "totalItems": 2, "totalPages": 1})
    );
    for session in body["data"].as_array().unwrap() {
        let keys: BTreeSet<&str> = session
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            BTreeSet::from(["id", "createdAt", "projectId", "environment"])
        );
        assert_eq!(session["projectId"], "project-a");
        micros(&session["createdAt"]);
    }
    assert_eq!(body["data"][0]["environment"], "staging");
    assert_eq!(body["data"][1]["environment"], "production");

    let staging = app
        .get("/api/public/sessions?environment=staging", &Auth::A)
        .await;
    staging.expect(200);
    assert_eq!(staging.ids(), ["sess-2"]);
    let paged = app
        .get("/api/public/sessions?limit=1&page=2", &Auth::A)
        .await;
    assert_eq!(paged.ids(), ["sess-1"]);
    assert_eq!(paged.json["meta"]["totalPages"], 2);

    let created = micros(&body["data"][1]["createdAt"]);
    let from = glassbox_model::time::format_iso(created + 1_000);
    let later = app
        .get(
            &format!("/api/public/sessions?fromTimestamp={}", enc(&from)),
            &Auth::A,
        )
        .await;
    assert_eq!(later.ids(), ["sess-2"]);
    let earlier = app
        .get(
            &format!("/api/public/sessions?toTimestamp={}", enc(&from)),
            &Auth::A,
        )
        .await;
    assert_eq!(earlier.ids(), ["sess-1"]);
    app.get("/api/public/sessions?fromTimestamp=yesterday", &Auth::A)
        .await
        .expect_error(400, "InvalidRequestError");
}

#[tokio::test]
async fn get_one_session_with_its_traces() {
    let app = TestApp::new().await;
    seed(&app).await;
    let session = app.get_ok("/api/public/sessions/sess-1").await;
    assert_eq!(session["id"], "sess-1");
    assert_eq!(session["projectId"], "project-a");
    assert_eq!(session["environment"], "production");
    let traces = session["traces"].as_array().unwrap();
    let ids: BTreeSet<&str> = traces.iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids, BTreeSet::from(["st1", "st2"]));
    let one = traces.iter().find(|t| t["id"] == "st1").unwrap();
    assert_eq!(one["name"], "one");
    assert_eq!(one["sessionId"], "sess-1");
    assert_eq!(one["input"], json!({"i": 1}));
    assert_eq!(one["htmlPath"], "/project/project-a/traces/st1");
    let missing = app.get("/api/public/sessions/nope", &Auth::A).await;
    assert_eq!(
        missing.expect_error(404, "LangfuseNotFoundError"),
        "Session not found within authorized project"
    );
    // Deleting a session's traces keeps the rest of the session.
    app.delete("/api/public/traces/st1", &Auth::A)
        .await
        .expect(200);
    let session = app.get_ok("/api/public/sessions/sess-1").await;
    let remaining: Vec<&Value> = session["traces"].as_array().unwrap().iter().collect();
    assert_eq!(remaining.len(), 1);
    assert_eq!(remaining[0]["id"], "st2");
}
