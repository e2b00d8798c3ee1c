//! A corpus of bad requests. Every answer is a 4xx (never a 5xx) with a Langfuse error
//! body `{"message": string, "error": string}`; a 207 answer carries one such entry per
//! rejected event, and the valid events of a mixed batch are all stored.

use axum::http::Method;
use serde_json::{Value, json};

use crate::support::{Auth, Resp, TestApp, event_at, gzip};

const T: &str = "2025-10-01T00:00:00Z";

/// Asserts a 4xx with `{"message": string, "error": string}`.
#[track_caller]
fn assert_client_error(response: &Resp, context: &str) {
    let status = response.status.as_u16();
    assert!(
        (400..500).contains(&status),
        "{context}: status {status}, body {}",
        String::from_utf8_lossy(&response.bytes[..response.bytes.len().min(500)])
    );
    assert!(
        response.json["message"].is_string() && response.json["error"].is_string(),
        "{context}: not a Langfuse error body: {}",
        String::from_utf8_lossy(&response.bytes[..response.bytes.len().min(500)])
    );
}

/// Asserts a 207 in which every error entry is a 4xx with string `message` and `error`;
/// returns the number of errors.
#[track_caller]
fn assert_per_event_errors(response: &Resp, context: &str) -> usize {
    let body = response.expect(207);
    let errors = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("{context}: {body}"));
    for error in errors {
        let status = error["status"].as_u64().unwrap_or(0);
        assert!((400..500).contains(&status), "{context}: {error}");
        assert!(error["id"].is_string(), "{context}: {error}");
        assert!(error["message"].is_string(), "{context}: {error}");
        assert!(error["error"].is_string(), "{context}: {error}");
    }
    errors.len()
}

async fn post_bytes(app: &TestApp, uri: &str, body: Vec<u8>) -> Resp {
    app.raw(
        Method::POST,
        uri,
        &Auth::A,
        &[("content-type", "application/json")],
        body,
    )
    .await
}

fn nested_arrays(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

#[tokio::test]
async fn malformed_envelopes_are_400() {
    let app = TestApp::new().await;
    let mut too_many = String::from("{\"batch\": [");
    too_many.push_str(&vec!["{}"; 10_001].join(","));
    too_many.push_str("]}");
    let mut invalid_utf8 = br#"{"batch": [{"id": ""#.to_vec();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe, 0xc3, 0x28]);
    invalid_utf8.extend_from_slice(
        br#"", "type": "trace-create", "timestamp": "2025-01-01T00:00:00Z", "body": {}}]}"#,
    );
    let deep_in_event = format!(
        r#"{{"batch": [{{"id": "e", "type": "trace-create", "timestamp": "{T}", "body": {{"id": "deep", "input": {}}}}}]}}"#,
        nested_arrays(10_000)
    );
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("malformed JSON", br#"{"batch": ["#.to_vec()),
        ("trailing garbage", br#"{"batch": []} x"#.to_vec()),
        ("empty body", Vec::new()),
        ("whitespace body", b"   ".to_vec()),
        ("batch is an object", br#"{"batch": {}}"#.to_vec()),
        ("batch is a string", br#"{"batch": "x"}"#.to_vec()),
        ("batch is null", br#"{"batch": null}"#.to_vec()),
        ("no batch", br#"{"events": []}"#.to_vec()),
        ("body is an array", b"[]".to_vec()),
        ("body is a string", br#""batch""#.to_vec()),
        ("body is null", b"null".to_vec()),
        ("body is a number", b"42".to_vec()),
        ("10 001 events", too_many.into_bytes()),
        ("invalid UTF-8", invalid_utf8),
        (
            "lone surrogate escape",
            br#"{"batch": [], "metadata": "\udc00"}"#.to_vec(),
        ),
        ("10 000 nested arrays", nested_arrays(10_000).into_bytes()),
        (
            "10 000 nested objects",
            format!("{}{}", r#"{"a":"#.repeat(10_000), "}".repeat(10_000)).into_bytes(),
        ),
        ("deep nesting inside an event", deep_in_event.into_bytes()),
        ("NaN", br#"{"batch": [NaN]}"#.to_vec()),
    ];
    for (name, body) in cases {
        let response = post_bytes(&app, "/api/public/ingestion", body).await;
        assert_client_error(&response, name);
        assert_eq!(response.status, 400, "{name}: {}", response.json);
        assert_eq!(response.json["error"], "InvalidRequestError", "{name}");
    }
    let traces = app.get_ok("/api/public/traces").await;
    assert_eq!(traces["meta"]["totalItems"], 0);
}

#[tokio::test]
async fn oversized_and_badly_encoded_bodies() {
    let app = TestApp::new().await;
    // A 5 MB body, over the 4.5 MB ingestion limit.
    let big = json!({"batch": [], "metadata": "x".repeat(5 * 1024 * 1024)}).to_string();
    let response = post_bytes(&app, "/api/public/ingestion", big.clone().into_bytes()).await;
    assert_client_error(&response, "5 MB ingestion body");
    assert_eq!(response.status, 413);
    assert_eq!(response.json["error"], "PayloadTooLargeError");

    // The same body gzip-compressed is small on the wire but too large decoded.
    let response = app
        .post_gzip("/api/public/ingestion", &Auth::A, big.as_bytes())
        .await;
    assert_client_error(&response, "5 MB gzip body");
    assert_eq!(response.status, 413);

    // A gzip bomb: 20 MB of spaces.
    let bomb = gzip(&vec![b' '; 20 * 1024 * 1024]);
    assert!(bomb.len() < 100_000);
    for uri in [
        "/api/public/ingestion",
        "/api/public/scores",
        "/api/public/traces",
    ] {
        let response = app
            .raw(
                Method::POST,
                uri,
                &Auth::A,
                &[("content-encoding", "gzip")],
                bomb.clone(),
            )
            .await;
        assert_client_error(&response, &format!("gzip bomb to {uri}"));
        assert_eq!(response.status, 413, "{uri}");
        assert_eq!(response.json["error"], "PayloadTooLargeError");
    }

    // The other routes take 1 MB.
    let two_mb = json!({"name": "x".repeat(2 * 1024 * 1024)}).to_string();
    for uri in [
        "/api/public/traces",
        "/api/public/spans",
        "/api/public/generations",
        "/api/public/events",
    ] {
        let response = post_bytes(&app, uri, two_mb.clone().into_bytes()).await;
        assert_client_error(&response, uri);
        assert_eq!(response.status, 413, "{uri}");
    }
    let response = app
        .raw(
            Method::DELETE,
            "/api/public/traces",
            &Auth::A,
            &[],
            two_mb.into_bytes(),
        )
        .await;
    assert_eq!(response.status, 413);

    type Case = (
        &'static str,
        &'static [(&'static str, &'static str)],
        Vec<u8>,
    );
    let encodings: Vec<Case> = vec![
        (
            "corrupt gzip",
            &[("content-encoding", "gzip")],
            b"\x1f\x8b\x08\x00garbage".to_vec(),
        ),
        (
            "plain JSON labelled gzip",
            &[("content-encoding", "gzip")],
            br#"{"batch": []}"#.to_vec(),
        ),
        ("truncated gzip", &[("content-encoding", "gzip")], {
            let mut full = gzip(br#"{"batch": []}"#);
            full.truncate(full.len() / 2);
            full
        }),
        (
            "brotli",
            &[("content-encoding", "br")],
            br#"{"batch": []}"#.to_vec(),
        ),
        (
            "gzip of invalid JSON",
            &[("content-encoding", "gzip")],
            gzip(b"{nope"),
        ),
    ];
    for (name, headers, body) in encodings {
        let response = app
            .raw(
                Method::POST,
                "/api/public/ingestion",
                &Auth::A,
                headers,
                body,
            )
            .await;
        assert_client_error(&response, name);
    }
}

#[tokio::test]
async fn invalid_events_get_per_event_errors() {
    let app = TestApp::new().await;
    let long_id = "i".repeat(10 * 1024);
    let events: Vec<(&str, Value)> = vec![
        ("number", json!(1)),
        ("string", json!("event")),
        ("null", Value::Null),
        ("array", json!([])),
        (
            "no id",
            json!({"type": "trace-create", "timestamp": T, "body": {}}),
        ),
        (
            "numeric id",
            json!({"id": 7, "type": "trace-create", "timestamp": T, "body": {}}),
        ),
        (
            "empty id",
            json!({"id": "", "type": "trace-create", "timestamp": T, "body": {}}),
        ),
        (
            "10 KB envelope id",
            json!({"id": long_id, "type": "trace-create", "timestamp": T, "body": {}}),
        ),
        (
            "carriage return in id",
            json!({"id": "a\rb", "type": "trace-create", "timestamp": T, "body": {}}),
        ),
        (
            "no type",
            json!({"id": "e-no-type", "timestamp": T, "body": {}}),
        ),
        (
            "numeric type",
            json!({"id": "e-num-type", "type": 5, "timestamp": T, "body": {}}),
        ),
        (
            "unknown type",
            json!({"id": "e-unknown", "type": "foo-create", "timestamp": T, "body": {"id": "x"}}),
        ),
        (
            "huge unknown type",
            json!({"id": "e-unknown-2", "type": "x".repeat(20_000), "timestamp": T, "body": {}}),
        ),
        (
            "span-delete",
            json!({"id": "e-del", "type": "span-delete", "timestamp": T, "body": {"id": "x"}}),
        ),
        (
            "dataset-run-item-create",
            json!({"id": "e-dri", "type": "dataset-run-item-create", "timestamp": T, "body": {"id": "x"}}),
        ),
        (
            "no timestamp",
            json!({"id": "e-no-ts", "type": "trace-create", "body": {"id": "x"}}),
        ),
        (
            "naive envelope timestamp",
            json!({"id": "e-naive", "type": "trace-create", "timestamp": "2025-01-01T00:00:00", "body": {"id": "x"}}),
        ),
        (
            "date-only timestamp",
            json!({"id": "e-date", "type": "trace-create", "timestamp": "2025-01-01", "body": {"id": "x"}}),
        ),
        (
            "numeric timestamp",
            json!({"id": "e-epoch", "type": "trace-create", "timestamp": 1735689600, "body": {"id": "x"}}),
        ),
        (
            "no body",
            json!({"id": "e-no-body", "type": "trace-create", "timestamp": T}),
        ),
        (
            "array body",
            json!({"id": "e-arr-body", "type": "trace-create", "timestamp": T, "body": []}),
        ),
        (
            "10 KB body id",
            json!({"id": "e-long-body-id", "type": "trace-create", "timestamp": T, "body": {"id": "b".repeat(10 * 1024)}}),
        ),
        (
            "numeric body id",
            json!({"id": "e-num-body-id", "type": "trace-create", "timestamp": T, "body": {"id": 12}}),
        ),
        (
            "name: 42",
            json!({"id": "e-name", "type": "trace-create", "timestamp": T, "body": {"id": "bad-1", "name": 42}}),
        ),
        (
            "tags: \"x\"",
            json!({"id": "e-tags", "type": "trace-create", "timestamp": T, "body": {"id": "bad-2", "tags": "x"}}),
        ),
        (
            "tags: [1]",
            json!({"id": "e-tags-2", "type": "trace-create", "timestamp": T, "body": {"id": "bad-3", "tags": [1]}}),
        ),
        (
            "public: \"yes\"",
            json!({"id": "e-public", "type": "trace-create", "timestamp": T, "body": {"id": "bad-4", "public": "yes"}}),
        ),
        (
            "environment: 5",
            json!({"id": "e-env", "type": "trace-create", "timestamp": T, "body": {"id": "bad-5", "environment": 5}}),
        ),
        (
            "naive trace timestamp",
            json!({"id": "e-trace-ts", "type": "trace-create", "timestamp": T, "body": {"id": "bad-6", "timestamp": "2025-01-01 00:00:00"}}),
        ),
        (
            "level: LOUD",
            json!({"id": "e-level", "type": "span-create", "timestamp": T, "body": {"id": "bad-7", "level": "LOUD"}}),
        ),
        (
            "naive startTime",
            json!({"id": "e-start", "type": "span-create", "timestamp": T, "body": {"id": "bad-8", "startTime": "2025-01-01T00:00:00"}}),
        ),
        (
            "endTime: true",
            json!({"id": "e-end", "type": "span-create", "timestamp": T, "body": {"id": "bad-9", "endTime": true}}),
        ),
        (
            "modelParameters: []",
            json!({"id": "e-mp", "type": "generation-create", "timestamp": T, "body": {"id": "bad-10", "modelParameters": []}}),
        ),
        (
            "usage: \"many\"",
            json!({"id": "e-usage", "type": "generation-create", "timestamp": T, "body": {"id": "bad-11", "usage": "many"}}),
        ),
        (
            "usage unit",
            json!({"id": "e-unit", "type": "generation-create", "timestamp": T, "body": {"id": "bad-12", "usage": {"input": 1, "unit": "BYTES"}}}),
        ),
        (
            "usage.input: \"1\"",
            json!({"id": "e-usage-str", "type": "generation-create", "timestamp": T, "body": {"id": "bad-13", "usage": {"input": "1"}}}),
        ),
        (
            "promptName without version",
            json!({"id": "e-prompt", "type": "generation-create", "timestamp": T, "body": {"id": "bad-14", "promptName": "p"}}),
        ),
        (
            "legacy type",
            json!({"id": "e-legacy", "type": "observation-create", "timestamp": T, "body": {"id": "bad-15", "type": "AGENT"}}),
        ),
        (
            "score without name",
            json!({"id": "e-score-1", "type": "score-create", "timestamp": T, "body": {"id": "bad-16", "traceId": "t", "value": 1}}),
        ),
        (
            "score without target",
            json!({"id": "e-score-2", "type": "score-create", "timestamp": T, "body": {"id": "bad-17", "name": "n", "value": 1}}),
        ),
        (
            "score value object",
            json!({"id": "e-score-3", "type": "score-create", "timestamp": T, "body": {"id": "bad-18", "traceId": "t", "name": "n", "value": {}}}),
        ),
        (
            "score dataType",
            json!({"id": "e-score-4", "type": "score-create", "timestamp": T, "body": {"id": "bad-19", "traceId": "t", "name": "n", "value": 1, "dataType": "FLOAT"}}),
        ),
        (
            "TEXT score too long",
            json!({"id": "e-score-5", "type": "score-create", "timestamp": T, "body": {"id": "bad-20", "traceId": "t", "name": "n", "value": "x".repeat(501), "dataType": "TEXT"}}),
        ),
        (
            "score source",
            json!({"id": "e-score-6", "type": "score-create", "timestamp": T, "body": {"id": "bad-21", "traceId": "t", "name": "n", "value": 1, "source": "HUMAN"}}),
        ),
        (
            "trace name too long",
            json!({"id": "e-name-long", "type": "trace-create", "timestamp": T, "body": {"id": "bad-22", "name": "n".repeat(1001)}}),
        ),
        (
            "timestamp in year 10000 UTC",
            json!({"id": "e-far", "type": "trace-create", "timestamp": T, "body": {"id": "bad-23", "timestamp": "9999-12-31T23:59:59-23:59"}}),
        ),
        (
            "startTime in year 0 UTC",
            json!({"id": "e-year-0", "type": "span-create", "timestamp": T, "body": {"id": "bad-24", "startTime": "0001-01-01T00:00:00+01:00"}}),
        ),
        (
            "envelope timestamp in year 10000 UTC",
            json!({"id": "e-far-envelope", "type": "trace-create", "timestamp": "9999-12-31T23:30:00-01:00", "body": {"id": "bad-25"}}),
        ),
    ];
    let batch: Vec<Value> = events.iter().map(|(_, event)| event.clone()).collect();
    let response = app
        .post("/api/public/ingestion", &Auth::A, &json!({"batch": batch}))
        .await;
    let count = assert_per_event_errors(&response, "invalid events");
    assert_eq!(response.json["successes"], json!([]), "{}", response.json);
    assert_eq!(count, events.len());
    let errors = response.json["errors"].as_array().unwrap();
    for ((name, event), error) in events.iter().zip(errors) {
        let expected_id = event
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty() && id.len() <= 800 && !id.contains('\r'))
            .unwrap_or("unknown");
        assert_eq!(error["id"], expected_id, "{name}");
        assert_eq!(error["status"], 400, "{name}");
        assert!(
            error["error"].as_str().unwrap().len() < 2_000,
            "{name}: the error text is bounded"
        );
    }
    for id in (1..=25).map(|n| format!("bad-{n}")) {
        app.get(&format!("/api/public/traces/{id}"), &Auth::A)
            .await
            .expect_error(404, "LangfuseNotFoundError");
        app.get(&format!("/api/public/observations/{id}"), &Auth::A)
            .await
            .expect_error(404, "LangfuseNotFoundError");
    }
    let scores = app.get_ok("/api/public/v2/scores").await;
    assert_eq!(scores["meta"]["totalItems"], 0);
}

#[tokio::test]
async fn a_mixed_batch_stores_every_valid_event() {
    let app = TestApp::new().await;
    let batch = vec![
        json!(42),
        event_at(
            "trace-create",
            T,
            json!({"id": "mix-trace", "name": "ok", "tags": ["t"]}),
        ),
        event_at("trace-create", T, json!({"id": "mix-bad", "name": 42})),
        event_at(
            "span-create",
            T,
            json!({"id": "mix-span", "traceId": "mix-trace", "startTime": T}),
        ),
        event_at(
            "span-create",
            T,
            json!({"id": "mix-bad-span", "level": "LOUD"}),
        ),
        json!({"id": "mix-unknown", "type": "nope", "timestamp": T, "body": {}}),
        event_at(
            "generation-create",
            T,
            json!({"id": "mix-gen", "traceId": "mix-trace", "parentObservationId": "mix-span", "usage": {"input": 2}}),
        ),
        event_at(
            "score-create",
            T,
            json!({"id": "mix-score", "traceId": "mix-trace", "name": "n", "value": 1}),
        ),
        event_at(
            "score-create",
            T,
            json!({"id": "mix-bad-score", "traceId": "mix-trace", "value": 1}),
        ),
        event_at(
            "event-create",
            T,
            json!({"id": "mix-event", "traceId": "mix-trace"}),
        ),
        json!({"id": "mix-log", "type": "sdk-log", "timestamp": T, "body": {"log": {"level": "debug"}}}),
    ];
    let response = app
        .post("/api/public/ingestion", &Auth::A, &json!({"batch": batch}))
        .await;
    assert_eq!(assert_per_event_errors(&response, "mixed batch"), 5);
    let successes: Vec<&Value> = response.json["successes"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(successes.len(), 5);
    let trace = app.get_ok("/api/public/traces/mix-trace").await;
    assert_eq!(trace["name"], "ok");
    let mut observations: Vec<&str> = trace["observations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    observations.sort_unstable();
    assert_eq!(observations, ["mix-event", "mix-gen", "mix-span"]);
    assert_eq!(trace["scores"][0]["id"], "mix-score");
    let generation = app.get_ok("/api/public/observations/mix-gen").await;
    assert_eq!(generation["parentObservationId"], "mix-span");
    assert_eq!(generation["usageDetails"]["input"], 2);
    for missing in [
        "/api/public/traces/mix-bad",
        "/api/public/observations/mix-bad-span",
    ] {
        app.get(missing, &Auth::A)
            .await
            .expect_error(404, "LangfuseNotFoundError");
    }
    let listed = app.get_ok("/api/public/traces").await;
    assert_eq!(listed["meta"]["totalItems"], 1);
}

#[tokio::test]
async fn bad_requests_to_the_other_routes() {
    let app = TestApp::new().await;
    let bodies: Vec<(&str, Method, &str, Vec<u8>)> = vec![
        (
            "scores: malformed",
            Method::POST,
            "/api/public/scores",
            b"{".to_vec(),
        ),
        (
            "scores: number",
            Method::POST,
            "/api/public/scores",
            b"1".to_vec(),
        ),
        (
            "scores: invalid UTF-8",
            Method::POST,
            "/api/public/scores",
            vec![b'"', 0xff, b'"'],
        ),
        (
            "scores: deep",
            Method::POST,
            "/api/public/scores",
            nested_arrays(10_000).into_bytes(),
        ),
        (
            "scores: 1001 items",
            Method::POST,
            "/api/public/scores",
            json!(vec![json!({"traceId": "t", "name": "n", "value": 1}); 1001])
                .to_string()
                .into_bytes(),
        ),
        (
            "traces: malformed",
            Method::POST,
            "/api/public/traces",
            b"{\"name\":".to_vec(),
        ),
        (
            "traces: 10 KB id",
            Method::POST,
            "/api/public/traces",
            json!({"id": "x".repeat(10_240)}).to_string().into_bytes(),
        ),
        (
            "spans: array",
            Method::POST,
            "/api/public/spans",
            b"[1]".to_vec(),
        ),
        (
            "spans patch: empty",
            Method::PATCH,
            "/api/public/spans",
            Vec::new(),
        ),
        (
            "spans patch: numeric spanId",
            Method::PATCH,
            "/api/public/spans",
            br#"{"spanId": 5}"#.to_vec(),
        ),
        (
            "generations: naive time",
            Method::POST,
            "/api/public/generations",
            br#"{"startTime": "2025-01-01T00:00:00"}"#.to_vec(),
        ),
        (
            "generations patch: no id",
            Method::PATCH,
            "/api/public/generations",
            br#"{}"#.to_vec(),
        ),
        (
            "events: string",
            Method::POST,
            "/api/public/events",
            br#""event""#.to_vec(),
        ),
        (
            "delete traces: malformed",
            Method::DELETE,
            "/api/public/traces",
            b"{".to_vec(),
        ),
        (
            "delete traces: empty body",
            Method::DELETE,
            "/api/public/traces",
            Vec::new(),
        ),
    ];
    for (name, method, uri, body) in bodies {
        let response = app
            .raw(
                method,
                uri,
                &Auth::A,
                &[("content-type", "application/json")],
                body,
            )
            .await;
        assert_client_error(&response, name);
    }
    let queries = [
        "/api/public/traces?page=0",
        "/api/public/traces?limit=1000",
        "/api/public/traces?page=99999999999999999999",
        "/api/public/traces?fromTimestamp=2025-01-01",
        "/api/public/traces?toTimestamp=soon",
        "/api/public/traces?orderBy=bogus.asc",
        "/api/public/traces?filter=nope",
        "/api/public/traces?filter=%5B%5D%5D",
        "/api/public/traces/x?fields=core&page=-1&limit=abc&filter=1",
        "/api/public/observations?type=spam",
        "/api/public/observations?limit=0",
        "/api/public/v2/observations?cursor=e30",
        "/api/public/v2/observations?cursor=%FF%FE",
        "/api/public/v2/observations?filter=%7B",
        "/api/public/sessions?page=abc",
        "/api/public/scores?operator=%3D%3D&value=1",
        "/api/public/scores?value=abc",
        "/api/public/v2/scores?dataType=BOOL",
        "/api/public/v2/scores?filter=%5B%7B%7D%5D",
        "/api/public/v3/scores?limit=abc",
        "/api/public/v3/scores?cursor=e30",
        "/api/public/v3/scores?fromTimestamp=never",
    ];
    for uri in queries {
        let response = app.get(uri, &Auth::A).await;
        if uri.starts_with("/api/public/traces/x") {
            // Unknown params are ignored there; the trace does not exist.
            response.expect_error(404, "LangfuseNotFoundError");
            continue;
        }
        assert_client_error(&response, uri);
        assert_eq!(response.status, 400, "{uri}: {}", response.json);
    }
    // Odd path segments are just unknown ids.
    for uri in [
        "/api/public/traces/%00",
        "/api/public/traces/..%2F..%2Fetc",
        "/api/public/observations/%F0%9F%92%A9",
        "/api/public/sessions/%20",
        "/api/public/v2/scores/'%20OR%201=1--",
    ] {
        let response = app.get(uri, &Auth::A).await;
        assert_client_error(&response, uri);
        assert_eq!(response.status, 404, "{uri}");
    }
    let long_path = format!("/api/public/traces/{}", "x".repeat(10_000));
    let response = app.get(&long_path, &Auth::A).await;
    assert_client_error(&response, "10 KB trace id");
}

#[tokio::test]
async fn bad_credentials_come_before_bad_bodies() {
    let app = TestApp::new().await;
    for auth in [
        Auth::None,
        Auth::Raw("Basic garbage".into()),
        Auth::basic("pk-lf-aaaa", "wrong"),
    ] {
        for body in [
            b"{".to_vec(),
            nested_arrays(10_000).into_bytes(),
            vec![0xff; 16],
        ] {
            let response = app
                .raw(Method::POST, "/api/public/ingestion", &auth, &[], body)
                .await;
            assert_client_error(&response, "unauthenticated");
            assert_eq!(response.status, 401);
            assert_eq!(response.json["error"], "UnauthorizedError");
        }
    }
}

#[tokio::test]
async fn nul_characters_neither_fail_the_batch_nor_a_read() {
    let app = TestApp::new().await;
    let hostile = "nul\u{0}inside";
    let batch = json!({"batch": [
        event_at("trace-create", "2025-03-01T10:00:00.000Z", json!({
            "id": "nul-trace",
            "name": hostile,
            "userId": hostile,
            "tags": [hostile],
            "metadata": {hostile: hostile, "plain": "value"},
            "input": {"messages": [hostile]},
        })),
        event_at("span-create", "2025-03-01T10:00:00.000Z", json!({
            "id": "nul-span",
            "traceId": "nul-trace",
            "name": hostile,
            "statusMessage": hostile,
        })),
        event_at("trace-create", "2025-03-01T10:00:00.000Z", json!({"id": "clean-trace", "name": "clean"})),
    ]});
    let response = app.post("/api/public/ingestion", &Auth::A, &batch).await;
    assert_eq!(response.status, 207, "{}", response.json);
    assert_eq!(response.json["errors"], json!([]), "{}", response.json);
    assert_eq!(response.json["successes"].as_array().map(Vec::len), Some(3));

    // Every event is stored; the embedded backend keeps the NUL, PostgreSQL (whose text
    // cannot hold it) stores U+FFFD in its place.
    let trace = app.get_ok("/api/public/traces/nul-trace").await;
    let name = trace["name"].as_str().expect("trace name");
    assert!(name == hostile || name == "nul\u{FFFD}inside", "{name:?}");
    assert_eq!(trace["metadata"]["plain"], "value");
    assert_eq!(trace["observations"].as_array().map(Vec::len), Some(1));
    app.get_ok("/api/public/traces/clean-trace").await;
    // A filter and a lookup with a NUL are answered, not failed.
    let filtered = app
        .get("/api/public/traces?userId=nul%00inside", &Auth::A)
        .await;
    assert_eq!(filtered.status, 200, "{}", filtered.json);
    assert_eq!(filtered.data().len(), 1);
    app.get("/api/public/observations/nul%00span", &Auth::A)
        .await
        .expect_error(404, "LangfuseNotFoundError");
}
