//! Replays the ingestion requests of real SDK captures (`shared/fixtures/sdk-wire`) and
//! checks that what the read API returns is what the SDKs sent.

use std::collections::BTreeMap;
use std::path::PathBuf;

use axum::http::Method;
use base64::Engine;
use serde_json::{Value, json};

use glassbox_model::ScoreDataType;

use crate::support::{Auth, PROJECT_A, TestApp, assert_close, score_config, testdata_path};

fn fixture_path(name: &str) -> PathBuf {
    testdata_path(&format!("sdk-wire/{name}"))
}

/// The ingestion records of a capture: (content-encoding, exact body bytes, decoded JSON).
fn ingestion_requests(name: &str) -> Vec<(Option<String>, Vec<u8>, Value)> {
    let text = std::fs::read_to_string(fixture_path(name)).expect("read fixture");
    let mut requests = Vec::new();
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        let record: Value = serde_json::from_str(line).expect("fixture line is JSON");
        if record["method"] != "POST" || record["path"] != "/api/public/ingestion" {
            continue;
        }
        let body = &record["body"];
        let raw = body["raw_b64"]
            .as_str()
            .map(|b64| {
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .expect("raw_b64")
            })
            .unwrap_or_default();
        let encoding = body["content_encoding"]
            .as_str()
            .filter(|encoding| !encoding.is_empty())
            .map(str::to_owned);
        let decoded = if body["json"].is_null() {
            assert!(encoding.is_none(), "compressed body without its JSON");
            serde_json::from_slice(&raw).expect("raw body is JSON")
        } else {
            body["json"].clone()
        };
        requests.push((encoding, raw, decoded));
    }
    assert!(!requests.is_empty(), "{name} has ingestion requests");
    requests
}

/// Replays every ingestion request (exact bytes) and asserts 207 without errors.
async fn replay(app: &TestApp, name: &str) -> Vec<Value> {
    let mut bodies = Vec::new();
    for (encoding, raw, decoded) in ingestion_requests(name) {
        let mut headers = vec![("content-type", "application/json")];
        if let Some(encoding) = &encoding {
            headers.push(("content-encoding", encoding.as_str()));
        }
        let bytes = if raw.is_empty() {
            serde_json::to_vec(&decoded).unwrap()
        } else {
            raw
        };
        let response = app
            .raw(
                Method::POST,
                "/api/public/ingestion",
                &Auth::A,
                &headers,
                bytes,
            )
            .await;
        let body = response.expect(207);
        assert_eq!(body["errors"], json!([]), "{name}: {body}");
        let batch = decoded["batch"].as_array().unwrap();
        let expected: Vec<&Value> = batch
            .iter()
            .filter(|event| event["type"] != "sdk-log")
            .map(|event| &event["id"])
            .collect();
        let got: Vec<&Value> = body["successes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|success| &success["id"])
            .collect();
        let mut expected_sorted = expected.clone();
        let mut got_sorted = got.clone();
        expected_sorted.sort_by_key(|id| id.to_string());
        got_sorted.sort_by_key(|id| id.to_string());
        assert_eq!(got_sorted, expected_sorted, "{name}");
        bodies.push(decoded);
    }
    bodies
}

fn observations_by_id(trace: &Value) -> BTreeMap<String, Value> {
    trace["observations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["id"].as_str().unwrap().to_owned(), o.clone()))
        .collect()
}

#[tokio::test]
async fn python_v2_60_ingestion_replay() {
    let app = TestApp::new().await;
    replay(&app, "python-v2.60-ingestion.jsonl").await;

    let traces = app.get_ok("/api/public/traces").await;
    assert_eq!(traces["meta"]["totalItems"], 2);

    let trace = app
        .get_ok("/api/public/traces/800ff01a-77af-43d4-8897-46e665a68df7")
        .await;
    assert_eq!(trace["name"], "v2py-trace");
    assert_eq!(trace["userId"], "v2py-user");
    assert_eq!(trace["sessionId"], "v2py-session");
    assert_eq!(trace["input"], json!({"q": 1}));
    assert_eq!(
        trace["output"],
        json!({"a": 2}),
        "merged from the second trace-create"
    );
    assert_eq!(trace["metadata"], json!({"a": 1}));
    assert_eq!(trace["tags"], json!(["v2"]));
    assert_eq!(trace["timestamp"], "2026-11-27T04:23:13.588Z");
    assert_eq!(trace["environment"], "default");
    let observations = observations_by_id(&trace);
    assert_eq!(observations.len(), 3);

    let span = &observations["e11978ac-9691-4cb0-8931-d9e00646d390"];
    assert_eq!(span["type"], "SPAN");
    assert_eq!(span["name"], "v2py-span");
    assert_eq!(span["parentObservationId"], Value::Null);
    assert_eq!(span["input"], json!({"s": 1}));
    assert_eq!(span["output"], json!({"ok": true}));
    assert_eq!(span["level"], "ERROR");
    assert_eq!(span["statusMessage"], "err");
    assert_eq!(span["startTime"], "2026-11-27T04:23:13.589Z");
    assert_eq!(span["endTime"], "2026-11-27T04:23:13.592Z");

    let generation = &observations["72e4bab3-15c7-4482-9f93-0afbec66fa9b"];
    assert_eq!(generation["type"], "GENERATION");
    assert_eq!(generation["name"], "v2py-gen");
    assert_eq!(
        generation["parentObservationId"],
        "e11978ac-9691-4cb0-8931-d9e00646d390"
    );
    assert_eq!(generation["model"], "gpt-4o-mini");
    assert_eq!(generation["modelParameters"], json!({"temperature": "0.2"}));
    assert_eq!(
        generation["input"],
        json!([{"role": "user", "content": "hi"}])
    );
    assert_eq!(generation["output"], "hello");
    assert_eq!(generation["usageDetails"]["input"], 3);
    assert_eq!(generation["usageDetails"]["output"], 2);
    assert_eq!(generation["usageDetails"]["total"], 5);
    assert_eq!(generation["usage"]["total"], 5);
    assert_close(&generation["costDetails"]["total"], 0.001);
    assert_close(&generation["calculatedTotalCost"], 0.001);
    assert_eq!(generation["promptName"], "v2py-prompt");
    assert_eq!(generation["promptVersion"], 1);
    assert_eq!(generation["endTime"], "2026-11-27T04:23:13.590Z");

    let event = &observations["f45dffdd-b231-47e6-b27a-b833ad4c9c94"];
    assert_eq!(event["type"], "EVENT");
    assert_eq!(event["name"], "v2py-event");
    assert_eq!(event["level"], "WARNING");
    assert_eq!(event["statusMessage"], "warn");
    assert_eq!(
        event["parentObservationId"],
        "e11978ac-9691-4cb0-8931-d9e00646d390"
    );

    let scores: BTreeMap<String, Value> = trace["scores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_owned(), s.clone()))
        .collect();
    assert_eq!(scores.len(), 2);
    let numeric = &scores["v2py-score"];
    assert_eq!(numeric["id"], "1eab2ca5-c2aa-4e58-a3e5-1e385d2bb467");
    assert_eq!(numeric["dataType"], "NUMERIC", "inferred from the number");
    assert_eq!(numeric["value"], 0.8);
    assert_eq!(numeric["comment"], "good");
    assert_eq!(numeric["source"], "API");
    let categorical = &scores["v2py-cat"];
    assert_eq!(categorical["dataType"], "CATEGORICAL");
    assert_eq!(categorical["stringValue"], "x");
    assert_eq!(categorical["value"], 0.0);
    assert_eq!(
        categorical["observationId"],
        "72e4bab3-15c7-4482-9f93-0afbec66fa9b"
    );

    let session = app.get_ok("/api/public/sessions/v2py-session").await;
    assert_eq!(
        session["traces"][0]["id"],
        "800ff01a-77af-43d4-8897-46e665a68df7"
    );

    // The decorated trace of the second request.
    let decorated = app
        .get_ok("/api/public/traces/08157862-e9a6-4380-a91e-891c1deb241c")
        .await;
    assert_eq!(decorated["name"], "decorated");
    assert_eq!(decorated["userId"], "dec-user");
    assert_eq!(decorated["input"], json!({"args": [2], "kwargs": {}}));
    assert_eq!(decorated["output"], 4);
    assert_eq!(decorated["metadata"], json!({"m": 1}));
    assert_eq!(decorated["tags"], json!(["dec"]));
    assert_eq!(decorated["timestamp"], "2026-11-27T04:23:13.800Z");
    let inner = app
        .get_ok("/api/public/observations/b490666f-b56d-43d7-bd89-634670aecd4e")
        .await;
    assert_eq!(inner["type"], "GENERATION");
    assert_eq!(inner["name"], "inner");
    assert_eq!(inner["model"], "gpt-4o");
    assert_eq!(inner["output"], 4);
    assert_eq!(inner["input"], json!({"args": [2], "kwargs": {}}));
    assert_eq!(
        inner["usageDetails"],
        json!({"input": 1, "output": 1, "total": 2})
    );
    assert_eq!(inner["traceId"], "08157862-e9a6-4380-a91e-891c1deb241c");
}

#[tokio::test]
async fn js_v3_legacy_ingestion_replay() {
    let app = TestApp::new().await;
    app.insert_config(
        PROJECT_A,
        score_config(
            "cfg-accuracy",
            "accuracy",
            ScoreDataType::Boolean,
            None,
            None,
            None,
        ),
    )
    .await;
    replay(&app, "js-v3-legacy-ingestion.jsonl").await;
    // JS 3 re-sends a whole batch when a 207 has errors; a re-send must change nothing.
    replay(&app, "js-v3-legacy-ingestion.jsonl").await;

    let traces = app.get_ok("/api/public/traces").await;
    assert_eq!(traces["meta"]["totalItems"], 2);

    let trace = app.get_ok("/api/public/traces/v3-trace-id-0001").await;
    assert_eq!(trace["name"], "v3-trace");
    assert_eq!(trace["userId"], "v3-user");
    assert_eq!(trace["sessionId"], "v3-session");
    assert_eq!(trace["release"], "rel-1");
    assert_eq!(trace["version"], "1.0.0");
    assert_eq!(trace["public"], false);
    assert_eq!(trace["tags"], json!(["legacy", "v3"]));
    assert_eq!(
        trace["metadata"],
        json!({"env": "test", "n": 1, "extra": true}),
        "metadata of both trace-creates merged"
    );
    assert_eq!(trace["input"], json!({"question": "hi"}));
    assert_eq!(trace["output"], json!({"answer": "Hello Ada"}));
    assert_eq!(
        trace["timestamp"], "2026-11-27T04:23:37.366Z",
        "first value wins"
    );

    let observations = observations_by_id(&trace);
    assert_eq!(observations.len(), 5, "{observations:?}");
    let span = &observations["b85376d0-02e0-4b6e-be76-4e5e81d1da1d"];
    assert_eq!(span["type"], "SPAN");
    assert_eq!(span["name"], "v3-span");
    assert_eq!(span["parentObservationId"], Value::Null);
    assert_eq!(span["input"], json!({"step": 1}));
    assert_eq!(span["output"], json!({"done": true}));
    assert_eq!(span["metadata"], json!({"k": "v"}));
    assert_eq!(span["startTime"], "2026-01-01T00:00:00.000Z");
    assert_eq!(span["endTime"], "2026-11-27T04:23:37.403Z");

    let error_span = &observations["1f1f1260-6b24-4008-992d-79863cf5d281"];
    assert_eq!(error_span["name"], "v3-error-span");
    assert_eq!(error_span["level"], "ERROR");
    assert_eq!(error_span["statusMessage"], "failed hard");
    assert_eq!(
        error_span["parentObservationId"],
        "b85376d0-02e0-4b6e-be76-4e5e81d1da1d"
    );

    // The update came before the create in the batch, with a tied timestamp.
    let generation = &observations["d7604e7a-73f3-40f5-9596-97f16dc469a1"];
    assert_eq!(generation["type"], "GENERATION");
    assert_eq!(generation["name"], "v3-generation");
    assert_eq!(generation["model"], "gpt-4o-mini");
    assert_eq!(
        generation["modelParameters"],
        json!({"temperature": 0.7, "maxTokens": 100})
    );
    assert_eq!(
        generation["input"],
        json!([{"role": "user", "content": "Hello Ada"}])
    );
    assert_eq!(
        generation["output"],
        json!({"role": "assistant", "content": "Hello Ada"})
    );
    assert_eq!(
        generation["parentObservationId"],
        "b85376d0-02e0-4b6e-be76-4e5e81d1da1d"
    );
    assert_eq!(
        generation["completionStartTime"],
        "2026-01-01T00:00:00.300Z"
    );
    assert_eq!(generation["promptName"], "v3-prompt");
    assert_eq!(generation["promptVersion"], 1);
    // The reported total (15 = 10 + 5) shows that input includes the 2 cache reads:
    // glassbox stores input without them, so they are not counted twice (Langfuse: 10).
    assert_eq!(
        generation["usageDetails"],
        json!({"input": 8, "output": 5, "total": 15, "cache_read_input_tokens": 2})
    );
    assert_eq!(generation["usage"]["total"], 15);
    assert_close(&generation["costDetails"]["input"], 1e-5);
    assert_close(&generation["costDetails"]["output"], 2e-5);
    assert_close(&generation["calculatedTotalCost"], 3e-5);

    let event = &observations["87328aa0-4975-48c5-8c85-4d535566d1d8"];
    assert_eq!(event["type"], "EVENT");
    assert_eq!(event["name"], "v3-event");
    assert_eq!(event["level"], "WARNING");
    assert_eq!(event["statusMessage"], "careful");
    assert_eq!(event["input"], json!({"e": 1}));
    let standalone_event = &observations["795aeacf-b5a3-4744-b62d-1c0a8131c962"];
    assert_eq!(standalone_event["name"], "v3-standalone-event");
    assert_eq!(standalone_event["type"], "EVENT");

    let scores: BTreeMap<String, Value> = trace["scores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["id"].as_str().unwrap().to_owned(), s.clone()))
        .collect();
    assert_eq!(scores.len(), 3);
    let numeric = &scores["c854f84f-5ebc-4dc3-8b32-e700dcd35240"];
    assert_eq!(numeric["name"], "v3-trace-score");
    assert_eq!(numeric["dataType"], "NUMERIC");
    assert_eq!(numeric["value"], 0.9);
    assert_eq!(numeric["comment"], "good");
    assert_eq!(numeric["observationId"], Value::Null);
    let categorical = &scores["6ade2508-1156-4896-a15a-e7d20d279250"];
    assert_eq!(categorical["name"], "v3-gen-score");
    assert_eq!(categorical["dataType"], "CATEGORICAL");
    assert_eq!(categorical["stringValue"], "positive");
    assert_eq!(
        categorical["observationId"],
        "d7604e7a-73f3-40f5-9596-97f16dc469a1"
    );
    let boolean = &scores["ff60228f-f338-424f-bfbf-416f48ed0461"];
    assert_eq!(boolean["dataType"], "BOOLEAN");
    assert_eq!(boolean["value"], 1.0);
    assert_eq!(boolean["stringValue"], "True");
    assert_eq!(boolean["configId"], "cfg-accuracy");
    assert_eq!(boolean["name"], "accuracy", "the config's name");

    let standalone = app
        .get_ok("/api/public/traces/cd237ed6-9583-401f-bdf2-adaec525f27c")
        .await;
    assert_eq!(standalone["name"], "v3-standalone-gen");
    assert_eq!(standalone["timestamp"], "2026-11-27T04:23:37.424Z");
    let generation = &standalone["observations"][0];
    assert_eq!(generation["id"], "636a6a9a-e218-4f2e-83c3-4992122a7852");
    assert_eq!(generation["model"], "claude-3");
    assert_eq!(generation["input"], "x");
    assert_eq!(generation["output"], "y");
    assert_eq!(
        generation["usageDetails"],
        json!({"input": 3, "output": 4, "total": 7})
    );
    assert_eq!(generation["promptTokens"], 3);
    assert_eq!(generation["completionTokens"], 4);
    assert_eq!(generation["totalTokens"], 7);

    let session = app.get_ok("/api/public/sessions/v3-session").await;
    assert_eq!(session["traces"].as_array().unwrap().len(), 1);
    let v2 = app
        .get_ok("/api/public/v2/observations?traceId=v3-trace-id-0001&fields=core,basic,io")
        .await;
    assert_eq!(v2["data"].as_array().unwrap().len(), 5);
    let scores = app
        .get_ok("/api/public/v3/scores?traceId=v3-trace-id-0001&fields=subject")
        .await;
    assert_eq!(scores["data"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn without_its_config_the_js_v3_boolean_score_is_an_error() {
    let app = TestApp::new().await;
    let (_, raw, decoded) = ingestion_requests("js-v3-legacy-ingestion.jsonl").remove(0);
    let response = app
        .raw(
            Method::POST,
            "/api/public/ingestion",
            &Auth::A,
            &[("content-type", "application/json")],
            raw,
        )
        .await;
    let body = response.expect(207);
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{body}");
    let bool_event = decoded["batch"]
        .as_array()
        .unwrap()
        .iter()
        .find(|event| event["body"]["configId"] == "cfg-accuracy")
        .unwrap();
    assert_eq!(errors[0]["id"], bool_event["id"]);
    assert!(
        errors[0]["error"]
            .as_str()
            .unwrap()
            .contains("cfg-accuracy")
    );
    app.get(
        "/api/public/v2/scores/ff60228f-f338-424f-bfbf-416f48ed0461",
        &Auth::A,
    )
    .await
    .expect_error(404, "LangfuseNotFoundError");
}
