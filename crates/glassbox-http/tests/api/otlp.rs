//! `POST /api/public/otel/v1/traces`: the Python 3.x and 4.x SDK captures replayed byte for
//! byte and checked through the read API, OTLP/JSON, retries, and hostile input.

use axum::http::Method;
use base64::Engine;
use serde_json::{Value, json};

use glassbox_http::HttpConfig;

use crate::support::*;

const OTLP: &str = "/api/public/otel/v1/traces";

/// Replays every request of a capture that glassbox serves (OTLP and ingestion), with the
/// exact bytes and content headers the SDK sent; asserts each is a 2xx without errors.
async fn replay_capture(app: &TestApp, name: &str) {
    let text =
        std::fs::read_to_string(testdata_path(&format!("sdk-wire/{name}"))).expect("read fixture");
    let mut replayed = 0;
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        let record: Value = serde_json::from_str(line).expect("fixture line is JSON");
        let path = record["path"].as_str().unwrap_or_default();
        if record["method"] != "POST" || !(path == OTLP || path == "/api/public/ingestion") {
            continue;
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(record["body"]["raw_b64"].as_str().expect("raw body"))
            .expect("raw_b64");
        let headers: Vec<(String, String)> = record["headers"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|header| {
                let name = header[0].as_str()?.to_ascii_lowercase();
                let value = header[1].as_str()?.to_owned();
                matches!(
                    name.as_str(),
                    "content-type" | "content-encoding" | "x-langfuse-ingestion-version"
                )
                .then_some((name, value))
            })
            .collect();
        let header_refs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let response = app
            .raw(Method::POST, path, &Auth::A, &header_refs, raw)
            .await;
        assert!(
            response.status.is_success(),
            "{name} {path}: {} {:?}",
            response.status,
            response.json
        );
        if path == "/api/public/ingestion" {
            assert_eq!(response.json["errors"], json!([]), "{name}");
        } else {
            assert!(
                response.json.get("partialSuccess").is_none(),
                "{name}: {:?}",
                response.json
            );
        }
        replayed += 1;
    }
    assert!(replayed > 0, "{name} has OTLP requests");
}

fn observation<'a>(trace: &'a Value, name: &str) -> &'a Value {
    trace["observations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|observation| observation["name"] == name)
        .unwrap_or_else(|| panic!("no observation {name} in {trace}"))
}

async fn trace_named(app: &TestApp, name: &str) -> Value {
    let list = app
        .get(&format!("/api/public/traces?name={name}"), &Auth::A)
        .await;
    let ids = list.ids();
    assert_eq!(ids.len(), 1, "one trace named {name}: {:?}", list.json);
    app.get(&format!("/api/public/traces/{}", ids[0]), &Auth::A)
        .await
        .expect(200)
        .clone()
}

#[tokio::test]
async fn python_v3_15_capture_replays_into_the_expected_trace() {
    let app = TestApp::new().await;
    // The capture's score names a config that the recording server had.
    app.insert_config(
        PROJECT_A,
        score_config(
            "cfg-accuracy",
            "accuracy",
            glassbox_model::ScoreDataType::Boolean,
            None,
            None,
            None,
        ),
    )
    .await;
    replay_capture(&app, "python-v3.15-otel-update-trace.jsonl").await;
    let trace = trace_named(&app, "v3py-trace").await;
    assert_eq!(trace["tags"], json!(["a", "b"]));
    assert_eq!(trace["public"], json!(true));
    assert_eq!(trace["input"], json!({"trace_in": 1}));
    assert_eq!(trace["output"], json!({"trace_out": 2}));
    assert_eq!(trace["metadata"]["tenant"], json!("acme"));
    assert_eq!(trace["metadata"]["n"], json!(1));
    assert_eq!(trace["version"], json!("9.9"));

    let root = observation(&trace, "v3py-root");
    assert_eq!(root["type"], json!("SPAN"));
    assert_eq!(root["parentObservationId"], Value::Null);
    assert_eq!(root["input"], json!({"q": "hello"}));
    let llm = observation(&trace, "v3py-llm");
    assert_eq!(llm["type"], json!("GENERATION"));
    assert_eq!(llm["parentObservationId"], root["id"]);
    assert_eq!(llm["model"], json!("gpt-4o-mini"));
    assert_eq!(llm["modelParameters"]["temperature"], json!(0.1));
    assert_eq!(llm["usageDetails"]["input"], json!(5));
    assert_eq!(llm["usageDetails"]["output"], json!(2));
    assert_close(&llm["calculatedTotalCost"], 0.0001);
    assert_eq!(llm["promptName"], json!("v3py-prompt"));
    assert_eq!(llm["promptVersion"], json!(1));
    assert_eq!(llm["input"], json!({"args": ["hello"], "kwargs": {}}));
    assert_eq!(llm["output"], json!("answer"));
    let failed = observation(&trace, "v3py-gen");
    assert_eq!(failed["level"], json!("ERROR"));
    assert_eq!(failed["statusMessage"], json!("bad"));
    assert_eq!(failed["model"], json!("claude-3-haiku"));
    assert_eq!(observation(&trace, "v3py-event")["type"], json!("EVENT"));
    // Python 3.x sends its scores through the batch API.
    assert!(!trace["scores"].as_array().unwrap().is_empty(), "{trace}");
}

#[tokio::test]
async fn python_v4_18_capture_replays_into_the_expected_trace() {
    let app = TestApp::new().await;
    replay_capture(&app, "python-v4.18-otel.jsonl").await;
    let trace = trace_named(&app, "v4py-trace").await;
    assert_eq!(trace["tags"], json!(["t"]));
    assert_eq!(trace["metadata"]["tenant"], json!("acme"));
    let root = observation(&trace, "v4py-root");
    let llm = observation(&trace, "v4py-llm");
    assert_eq!(llm["parentObservationId"], root["id"]);
    assert_eq!(llm["type"], json!("GENERATION"));
    assert_eq!(llm["model"], json!("gpt-4o-mini"));
    assert_eq!(llm["usage"]["total"], json!(7));
    assert_eq!(llm["metadata"]["s"], json!("x"));
    assert_eq!(llm["metadata"]["n"], json!(1));
    assert_eq!(root["metadata"]["k"], json!("v"));
    let v2 = app
        .get(
            &format!(
                "/api/public/v2/observations?traceId={}&isRootObservation=true",
                trace["id"].as_str().unwrap()
            ),
            &Auth::A,
        )
        .await;
    assert_eq!(v2.ids(), vec![root["id"].as_str().unwrap().to_owned()]);
}

fn json_export(trace_id: &str, span_id: &str, name: &str) -> Value {
    json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
        "scopeSpans": [{"scope": {"name": "my-scope"}, "spans": [{
            "traceId": trace_id, "spanId": span_id, "name": name, "kind": 1,
            "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": 1700000001500000000_u64,
            "attributes": [
                {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
                {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "12"}},
                {"key": "gen_ai.usage.output_tokens", "value": {"intValue": 3}},
                {"key": "custom.flag", "value": {"boolValue": true}}
            ]
        }]}]
    }]})
}

#[tokio::test]
async fn otlp_json_gzip_and_retries_store_one_observation() {
    let app = TestApp::new().await;
    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let body =
        serde_json::to_vec(&json_export(trace_id, "b7ad6b7169203331", "chat gpt-4o")).unwrap();
    for _ in 0..2 {
        let response = app
            .raw(
                Method::POST,
                OTLP,
                &Auth::A,
                &[
                    ("content-type", "application/json"),
                    ("content-encoding", "gzip"),
                ],
                gzip(&body),
            )
            .await;
        assert_eq!(response.expect(200), &json!({}));
    }
    let trace = app
        .get(&format!("/api/public/traces/{trace_id}"), &Auth::A)
        .await
        .expect(200)
        .clone();
    let observations = trace["observations"].as_array().unwrap();
    assert_eq!(observations.len(), 1, "a re-sent span is not duplicated");
    let generation = &observations[0];
    assert_eq!(generation["type"], json!("GENERATION"));
    assert_eq!(generation["model"], json!("gpt-4o"));
    assert_eq!(generation["usageDetails"]["input"], json!(12));
    assert_eq!(generation["usageDetails"]["output"], json!(3));
    assert_close(&generation["latency"], 1.5);
    // Attributes glassbox does not map are kept in metadata, never dropped (non-string
    // values as JSON text, as Langfuse does).
    assert_eq!(
        generation["metadata"]["attributes"]["custom.flag"],
        json!("true")
    );
    assert_eq!(trace["name"], json!("chat gpt-4o"));
}

#[tokio::test]
async fn protobuf_answers_with_a_protobuf_export_response() {
    let app = TestApp::new().await;
    let export = json_export("1af7651916cd43dd8448eb211c80319c", "c7ad6b7169203331", "x");
    let request =
        glassbox_ingest::otlp::decode_json(&serde_json::to_vec(&export).unwrap()).unwrap();
    let bytes = prost::Message::encode_to_vec(&request);
    let response = app
        .raw(
            Method::POST,
            OTLP,
            &Auth::A,
            &[("content-type", "application/x-protobuf")],
            bytes,
        )
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.headers["content-type"], "application/x-protobuf");
    assert!(
        response.bytes.is_empty(),
        "an empty ExportTraceServiceResponse encodes to no bytes"
    );
    app.get("/api/public/observations/c7ad6b7169203331", &Auth::A)
        .await
        .expect(200);
}

#[tokio::test]
async fn invalid_spans_are_reported_in_partial_success_and_valid_ones_stored() {
    let app = TestApp::new().await;
    let mut export = json_export(
        "2af7651916cd43dd8448eb211c80319c",
        "d7ad6b7169203331",
        "good",
    );
    let mut bad = export["resourceSpans"][0]["scopeSpans"][0]["spans"][0].clone();
    bad["spanId"] = json!("0000000000000000");
    export["resourceSpans"][0]["scopeSpans"][0]["spans"]
        .as_array_mut()
        .unwrap()
        .push(bad);
    let response = app.post(OTLP, &Auth::A, &export).await;
    let body = response.expect(200);
    assert_eq!(body["partialSuccess"]["rejectedSpans"], json!(1));
    assert!(
        body["partialSuccess"]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("0000000000000000")
    );
    app.get("/api/public/observations/d7ad6b7169203331", &Auth::A)
        .await
        .expect(200);
}

#[track_caller]
fn assert_client_error(response: &Resp, status: u16) {
    assert_eq!(response.status.as_u16(), status, "{:?}", response.json);
    assert!(
        response.json["message"].is_string() && response.json["error"].is_string(),
        "{:?}",
        response.json
    );
}

#[tokio::test]
async fn hostile_otlp_input_gets_4xx_never_5xx() {
    let app = TestApp::new().await;
    let valid = glassbox_ingest::otlp::decode_json(
        &serde_json::to_vec(&json_export(
            "3af7651916cd43dd8448eb211c80319c",
            "e7ad6b7169203331",
            "x",
        ))
        .unwrap(),
    )
    .unwrap();
    let bytes = prost::Message::encode_to_vec(&valid);
    let protobuf = [("content-type", "application/x-protobuf")];
    // Truncated protobuf.
    let truncated = app
        .raw(
            Method::POST,
            OTLP,
            &Auth::A,
            &protobuf,
            bytes[..bytes.len() / 2].to_vec(),
        )
        .await;
    assert_client_error(&truncated, 400);
    // Random bytes.
    let random: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    assert_client_error(
        &app.raw(Method::POST, OTLP, &Auth::A, &protobuf, random)
            .await,
        400,
    );
    // A field that declares 100 MB but carries a few bytes.
    let mut declared = vec![0x0a];
    let mut length: u64 = 100 * 1024 * 1024;
    while length >= 0x80 {
        declared.push((length as u8) | 0x80);
        length >>= 7;
    }
    declared.push(length as u8);
    declared.extend_from_slice(b"tiny");
    assert_client_error(
        &app.raw(Method::POST, OTLP, &Auth::A, &protobuf, declared)
            .await,
        400,
    );
    // Wrong content type.
    assert_client_error(
        &app.raw(
            Method::POST,
            OTLP,
            &Auth::A,
            &[("content-type", "text/plain")],
            bytes.clone(),
        )
        .await,
        400,
    );
    // Invalid trace ids: not hex, and the wrong length.
    for trace_id in ["not-a-hex-trace-id-not-a-hex-trac", "abcd"] {
        let response = app
            .post(
                OTLP,
                &Auth::A,
                &json_export(trace_id, "f7ad6b7169203331", "x"),
            )
            .await;
        assert_client_error(&response, 400);
    }
    // Malformed JSON and a JSON array.
    assert_client_error(
        &app.raw(
            Method::POST,
            OTLP,
            &Auth::A,
            &[("content-type", "application/json")],
            b"{".to_vec(),
        )
        .await,
        400,
    );
    assert_client_error(&app.post(OTLP, &Auth::A, &json!([])).await, 400);
    // Auth: none, wrong, and the scores-only Bearer key.
    assert_client_error(
        &app.raw(Method::POST, OTLP, &Auth::None, &protobuf, bytes.clone())
            .await,
        401,
    );
    assert_client_error(
        &app.raw(Method::POST, OTLP, &Auth::BearerA, &protobuf, bytes.clone())
            .await,
        403,
    );
    // A newer ingestion version than glassbox knows.
    let headers = [
        ("content-type", "application/x-protobuf"),
        ("x-langfuse-ingestion-version", "5"),
    ];
    assert_client_error(
        &app.raw(Method::POST, OTLP, &Auth::A, &headers, bytes).await,
        400,
    );
    // Nothing of all that was stored.
    let list = app.get("/api/public/observations", &Auth::A).await;
    assert_eq!(list.ids(), Vec::<String>::new());
}

#[tokio::test]
async fn oversize_otlp_bodies_get_413() {
    let app = TestApp::with_config(HttpConfig {
        max_otlp_body_bytes: 64 * 1024,
        ..HttpConfig::default()
    })
    .await;
    let big = vec![b' '; 200 * 1024];
    let response = app
        .raw(
            Method::POST,
            OTLP,
            &Auth::A,
            &[("content-type", "application/json")],
            big.clone(),
        )
        .await;
    assert_client_error(&response, 413);
    let response = app
        .raw(
            Method::POST,
            OTLP,
            &Auth::A,
            &[
                ("content-type", "application/json"),
                ("content-encoding", "gzip"),
            ],
            gzip(&big),
        )
        .await;
    assert_client_error(&response, 413);
}

#[tokio::test]
async fn empty_exports_are_accepted() {
    let app = TestApp::new().await;
    assert_eq!(
        app.post(OTLP, &Auth::A, &json!({"resourceSpans": []}))
            .await
            .expect(200),
        &json!({})
    );
    assert_eq!(
        app.post("/api/public/otel/v1/metrics", &Auth::A, &json!({}))
            .await
            .expect(200)["message"],
        json!("OK")
    );
}

#[tokio::test]
async fn chunked_bodies_without_content_length_are_accepted() {
    let app = TestApp::new().await;
    let body = serde_json::to_vec(&json_export(
        "4af7651916cd43dd8448eb211c80319c",
        "a7ad6b7169203331",
        "chunked",
    ))
    .unwrap();
    // Three chunks of a body whose length is not known up front, as a streaming exporter
    // sends it with `Transfer-Encoding: chunked`.
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = body
        .chunks(body.len() / 3 + 1)
        .map(|chunk| Ok(bytes::Bytes::copy_from_slice(chunk)))
        .collect();
    let request = axum::http::Request::builder()
        .method(Method::POST)
        .uri(OTLP)
        .header("authorization", Auth::A.header().unwrap())
        .header("content-type", "application/json")
        .body(axum::body::Body::from_stream(futures_util::stream::iter(
            chunks,
        )))
        .unwrap();
    assert_eq!(app.send(request).await.expect(200), &json!({}));
    let stored = app
        .get("/api/public/observations/a7ad6b7169203331", &Auth::A)
        .await;
    assert_eq!(stored.expect(200)["name"], json!("chunked"));
}
