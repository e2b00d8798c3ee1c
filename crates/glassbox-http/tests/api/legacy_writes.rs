//! The legacy single-object writes: `POST /traces`, `POST/PATCH /spans`,
//! `POST/PATCH /generations`, `POST /events`.

use serde_json::{Value, json};

use crate::support::{Auth, TestApp};

fn is_uuid(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|text| uuid::Uuid::parse_str(text).is_ok())
}

#[tokio::test]
async fn post_traces_creates_a_trace_and_returns_its_id() {
    let app = TestApp::new().await;
    let generated = app
        .post(
            "/api/public/traces",
            &Auth::A,
            &json!({"name": "legacy trace", "userId": "u-legacy", "tags": ["l"], "metadata": {"k": "v"},
                    "timestamp": "2025-02-01T00:00:00Z", "environment": "Legacy"}),
        )
        .await;
    let body = generated.expect(200);
    assert!(is_uuid(&body["id"]), "{body}");
    assert_eq!(body.as_object().unwrap().len(), 1);
    let id = body["id"].as_str().unwrap().to_owned();
    let trace = app.get_ok(&format!("/api/public/traces/{id}")).await;
    assert_eq!(trace["name"], "legacy trace");
    assert_eq!(trace["userId"], "u-legacy");
    assert_eq!(trace["tags"], json!(["l"]));
    assert_eq!(trace["metadata"], json!({"k": "v"}));
    assert_eq!(trace["timestamp"], "2025-02-01T00:00:00.000Z");
    assert_eq!(trace["environment"], "legacy");

    let given = app
        .post(
            "/api/public/traces",
            &Auth::A,
            &json!({"id": "legacy-given", "name": "given"}),
        )
        .await;
    assert_eq!(given.expect(200)["id"], "legacy-given");
    // A second POST with the same id merges.
    app.post(
        "/api/public/traces",
        &Auth::A,
        &json!({"id": "legacy-given", "release": "r2"}),
    )
    .await
    .expect(200);
    let trace = app.get_ok("/api/public/traces/legacy-given").await;
    assert_eq!(trace["name"], "given");
    assert_eq!(trace["release"], "r2");
}

#[tokio::test]
async fn spans_are_created_and_patched() {
    let app = TestApp::new().await;
    app.post("/api/public/traces", &Auth::A, &json!({"id": "t-span"}))
        .await
        .expect(200);
    let created = app
        .post(
            "/api/public/spans",
            &Auth::A,
            &json!({"id": "sp-1", "traceId": "t-span", "name": "span", "startTime": "2025-02-01T00:00:00Z",
                    "input": {"a": 1}, "metadata": {"m": 1}}),
        )
        .await;
    assert_eq!(created.expect(200), &json!({"id": "sp-1"}));
    let patched = app
        .patch(
            "/api/public/spans",
            &Auth::A,
            &json!({"spanId": "sp-1", "traceId": "t-span", "endTime": "2025-02-01T00:00:02Z",
                    "output": "done", "metadata": {"n": 2}, "level": "WARNING"}),
        )
        .await;
    assert_eq!(patched.expect(200), &json!({"id": "sp-1"}));
    let span = app.get_ok("/api/public/observations/sp-1").await;
    assert_eq!(span["type"], "SPAN");
    assert_eq!(span["name"], "span");
    assert_eq!(span["input"], json!({"a": 1}));
    assert_eq!(span["output"], "done");
    assert_eq!(span["metadata"], json!({"m": 1, "n": 2}));
    assert_eq!(span["level"], "WARNING");
    assert_eq!(span["startTime"], "2025-02-01T00:00:00.000Z");
    assert_eq!(span["endTime"], "2025-02-01T00:00:02.000Z");
    assert_eq!(span["latency"], 2.0);

    let without_id = app
        .post(
            "/api/public/spans",
            &Auth::A,
            &json!({"traceId": "t-span", "name": "anonymous"}),
        )
        .await;
    let id = without_id.expect(200)["id"].clone();
    assert!(is_uuid(&id));
    let anonymous = app
        .get_ok(&format!(
            "/api/public/observations/{}",
            id.as_str().unwrap()
        ))
        .await;
    assert_eq!(anonymous["name"], "anonymous");

    let missing = app
        .patch("/api/public/spans", &Auth::A, &json!({"output": "x"}))
        .await;
    let message = missing.expect_error(400, "InvalidRequestError");
    assert!(message.contains("spanId"), "{message}");
}

#[tokio::test]
async fn generations_map_prompt_and_completion_to_input_and_output() {
    let app = TestApp::new().await;
    let created = app
        .post(
            "/api/public/generations",
            &Auth::A,
            &json!({"id": "gen-1", "traceId": "t-gen", "name": "llm", "model": "gpt-4o",
                    "startTime": "2025-02-01T00:00:00Z",
                    "completionStartTime": "2025-02-01T00:00:00.250Z",
                    "prompt": [{"role": "user", "content": "hi"}], "completion": "hello",
                    "modelParameters": {"temperature": 0.1},
                    "usage": {"promptTokens": 3, "completionTokens": 4, "totalTokens": 7}}),
        )
        .await;
    assert_eq!(created.expect(200), &json!({"id": "gen-1"}));
    let generation = app.get_ok("/api/public/observations/gen-1").await;
    assert_eq!(generation["type"], "GENERATION");
    assert_eq!(
        generation["input"],
        json!([{"role": "user", "content": "hi"}])
    );
    assert_eq!(generation["output"], "hello");
    assert_eq!(generation["model"], "gpt-4o");
    assert_eq!(generation["modelParameters"], json!({"temperature": 0.1}));
    assert_eq!(generation["usageDetails"]["input"], 3);
    assert_eq!(generation["usageDetails"]["output"], 4);
    assert_eq!(generation["usageDetails"]["total"], 7);
    assert_eq!(generation["timeToFirstToken"], 0.25);

    let patched = app
        .patch(
            "/api/public/generations",
            &Auth::A,
            &json!({"generationId": "gen-1", "completion": "bye", "endTime": "2025-02-01T00:00:01Z"}),
        )
        .await;
    assert_eq!(patched.expect(200), &json!({"id": "gen-1"}));
    let generation = app.get_ok("/api/public/observations/gen-1").await;
    assert_eq!(generation["output"], "bye");
    assert_eq!(
        generation["input"],
        json!([{"role": "user", "content": "hi"}])
    );
    assert_eq!(generation["endTime"], "2025-02-01T00:00:01.000Z");

    // The trace id of a generation without a trace is still reported; no trace row.
    let missing = app
        .patch(
            "/api/public/generations",
            &Auth::A,
            &json!({"completion": "x"}),
        )
        .await;
    let message = missing.expect_error(400, "InvalidRequestError");
    assert!(message.contains("generationId"), "{message}");
}

#[tokio::test]
async fn post_events_creates_an_event_observation() {
    let app = TestApp::new().await;
    let created = app
        .post(
            "/api/public/events",
            &Auth::A,
            &json!({"id": "ev-1", "traceId": "t-ev", "name": "clicked", "input": {"x": 1},
                    "startTime": "2025-02-01T00:00:00Z", "level": "DEBUG"}),
        )
        .await;
    assert_eq!(created.expect(200), &json!({"id": "ev-1"}));
    let event = app.get_ok("/api/public/observations/ev-1").await;
    assert_eq!(event["type"], "EVENT");
    assert_eq!(event["name"], "clicked");
    assert_eq!(event["level"], "DEBUG");
    assert_eq!(event["input"], json!({"x": 1}));
    assert_eq!(event["traceId"], "t-ev");
}

#[tokio::test]
async fn legacy_writes_validate_like_the_batch_api() {
    let app = TestApp::new().await;
    for (uri, body) in [
        ("/api/public/traces", json!({"name": 42})),
        ("/api/public/traces", json!({"tags": "x"})),
        ("/api/public/spans", json!({"level": "LOUD"})),
        (
            "/api/public/spans",
            json!({"startTime": "2025-01-01T00:00:00"}),
        ),
        ("/api/public/generations", json!({"usage": "many"})),
        ("/api/public/events", json!({"promptName": "p"})),
        ("/api/public/traces", json!([])),
        ("/api/public/spans", json!("span")),
    ] {
        let response = app.post(uri, &Auth::A, &body).await;
        let message = response.expect_error(400, "InvalidRequestError");
        assert!(!message.is_empty(), "{uri} {body}");
    }
    // Nothing was stored.
    let traces = app.get_ok("/api/public/traces").await;
    assert_eq!(traces["meta"]["totalItems"], 0);
    let observations = app.get_ok("/api/public/observations").await;
    assert_eq!(observations["meta"]["totalItems"], 0);
}

#[tokio::test]
async fn legacy_writes_need_a_secret_key() {
    let app = TestApp::new().await;
    for uri in [
        "/api/public/traces",
        "/api/public/spans",
        "/api/public/generations",
        "/api/public/events",
    ] {
        let response = app.post(uri, &Auth::BearerA, &json!({"name": "x"})).await;
        response.expect_error(403, "ForbiddenError");
    }
    let traces = app.get_ok("/api/public/traces").await;
    assert_eq!(traces["meta"]["totalItems"], 0);
}
