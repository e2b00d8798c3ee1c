//! `POST /api/public/ingestion`: the 207 body, every event type, merges, environments,
//! offsets and gzip.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::support::{Auth, TestApp, event_at, new_id};

const T0: &str = "2025-03-01T10:00:00.000Z";
const T1: &str = "2025-03-01T10:00:01.000Z";
const T2: &str = "2025-03-01T10:00:02.000Z";
const T3: &str = "2025-03-01T10:00:03.000Z";
const T4: &str = "2025-03-01T10:00:04.000Z";

/// Every `*-create` type with its observation type.
const TYPED_CREATES: &[(&str, &str)] = &[
    ("span-create", "SPAN"),
    ("generation-create", "GENERATION"),
    ("event-create", "EVENT"),
    ("agent-create", "AGENT"),
    ("tool-create", "TOOL"),
    ("chain-create", "CHAIN"),
    ("retriever-create", "RETRIEVER"),
    ("evaluator-create", "EVALUATOR"),
    ("embedding-create", "EMBEDDING"),
    ("guardrail-create", "GUARDRAIL"),
];

fn ids_of(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("array")
        .iter()
        .map(|item| item["id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test]
async fn every_event_type_succeeds_with_207_and_is_stored_with_its_type() {
    let app = TestApp::new().await;
    let trace_id = "trace-all-types";
    let mut events = vec![event_at(
        "trace-create",
        T0,
        json!({"id": trace_id, "name": "all types"}),
    )];
    for (index, (event_type, _)) in TYPED_CREATES.iter().enumerate() {
        events.push(event_at(
            event_type,
            T0,
            json!({
                "id": format!("obs-{event_type}"),
                "traceId": trace_id,
                "name": event_type,
                "startTime": format!("2025-03-01T10:00:{index:02}.000Z"),
            }),
        ));
    }
    events.push(event_at(
        "span-update",
        T1,
        json!({"id": "obs-span-create", "traceId": trace_id, "output": {"done": true}, "endTime": T2}),
    ));
    events.push(event_at(
        "generation-update",
        T1,
        json!({"id": "obs-generation-create", "traceId": trace_id, "usage": {"input": 3, "output": 4}, "model": "m-1"}),
    ));
    events.push(event_at(
        "observation-create",
        T0,
        json!({"id": "legacy-obs", "traceId": trace_id, "type": "GENERATION", "name": "legacy", "input": "q"}),
    ));
    events.push(event_at(
        "observation-update",
        T1,
        json!({"id": "legacy-obs", "type": "GENERATION", "output": "a", "endTime": T3}),
    ));
    events.push(event_at(
        "observation-create",
        T0,
        json!({"id": "legacy-event", "traceId": trace_id, "type": "EVENT", "name": "legacy event"}),
    ));
    events.push(event_at(
        "score-create",
        T1,
        json!({"id": "score-all-types", "traceId": trace_id, "name": "quality", "value": 0.5}),
    ));
    let sdk_log_id = new_id();
    events.push(
        json!({"id": sdk_log_id, "type": "sdk-log", "timestamp": T0, "body": {"log": "hello"}}),
    );
    let sent_ids: BTreeSet<String> = events
        .iter()
        .filter(|event| event["type"] != "sdk-log")
        .map(|event| event["id"].as_str().unwrap().to_owned())
        .collect();

    let body = app.ingest(&Auth::A, events).await;
    assert_eq!(
        body.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["successes", "errors"]
    );
    assert_eq!(body["errors"], json!([]));
    let successes = body["successes"].as_array().unwrap();
    for success in successes {
        assert_eq!(success["status"], 201);
        assert_eq!(success.as_object().unwrap().len(), 2, "{success}");
    }
    let success_ids: BTreeSet<String> = ids_of(&body["successes"]).into_iter().collect();
    assert_eq!(success_ids, sent_ids);
    assert!(
        !success_ids.contains(&sdk_log_id),
        "sdk-log is in neither list"
    );

    let trace = app.get_ok(&format!("/api/public/traces/{trace_id}")).await;
    assert_eq!(trace["name"], "all types");
    let types: BTreeMap<String, String> = trace["observations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["id"].as_str().unwrap().to_owned(),
                o["type"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(types.len(), TYPED_CREATES.len() + 2, "{types:?}");
    for (event_type, observation_type) in TYPED_CREATES {
        assert_eq!(types[&format!("obs-{event_type}")], *observation_type);
        let single = app
            .get_ok(&format!("/api/public/observations/obs-{event_type}"))
            .await;
        assert_eq!(single["type"], *observation_type);
        assert_eq!(single["name"], *event_type);
        assert_eq!(single["traceId"], trace_id);
    }
    assert_eq!(types["legacy-obs"], "GENERATION");
    assert_eq!(types["legacy-event"], "EVENT");

    let span = app.get_ok("/api/public/observations/obs-span-create").await;
    assert_eq!(span["output"], json!({"done": true}));
    assert_eq!(span["endTime"], T2);
    let generation = app
        .get_ok("/api/public/observations/obs-generation-create")
        .await;
    assert_eq!(generation["model"], "m-1");
    assert_eq!(generation["usageDetails"]["input"], 3);
    assert_eq!(generation["usageDetails"]["output"], 4);
    let legacy = app.get_ok("/api/public/observations/legacy-obs").await;
    assert_eq!(legacy["input"], "q");
    assert_eq!(legacy["output"], "a");
    assert_eq!(legacy["name"], "legacy");
    assert_eq!(legacy["endTime"], T3);

    let score = app.get_ok("/api/public/v2/scores/score-all-types").await;
    assert_eq!(score["value"], 0.5);
    assert_eq!(score["dataType"], "NUMERIC");
    assert_eq!(score["traceId"], trace_id);
}

#[tokio::test]
async fn events_without_a_body_id_succeed_but_store_nothing() {
    let app = TestApp::new().await;
    let events = vec![
        event_at("trace-create", T0, json!({"name": "no id trace"})),
        event_at(
            "observation-create",
            T0,
            json!({"type": "SPAN", "name": "no id span", "traceId": "t-x"}),
        ),
        event_at(
            "score-create",
            T0,
            json!({"name": "no id score", "traceId": "t-x", "value": 1}),
        ),
    ];
    let sent: BTreeSet<String> = events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    let body = app.ingest_ok(&Auth::A, events).await;
    let got: BTreeSet<String> = ids_of(&body["successes"]).into_iter().collect();
    assert_eq!(got, sent);

    let traces = app.get_ok("/api/public/traces").await;
    assert_eq!(traces["meta"]["totalItems"], 0, "{traces}");
    let observations = app.get_ok("/api/public/observations").await;
    assert_eq!(observations["meta"]["totalItems"], 0, "{observations}");
    let scores = app.get_ok("/api/public/v2/scores").await;
    assert_eq!(scores["meta"]["totalItems"], 0, "{scores}");
}

#[tokio::test]
async fn span_create_and_generation_create_require_a_body_id() {
    let app = TestApp::new().await;
    let events = vec![
        event_at("span-create", T0, json!({"name": "x"})),
        event_at("generation-update", T0, json!({"name": "x"})),
    ];
    let body = app.ingest(&Auth::A, events.clone()).await;
    assert_eq!(body["successes"], json!([]));
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2);
    for (error, sent) in errors.iter().zip(&events) {
        assert_eq!(error["id"], sent["id"]);
        assert_eq!(error["status"], 400);
        assert_eq!(error["message"], "Invalid request data");
        assert!(error["error"].as_str().unwrap().contains("id"), "{error}");
    }
}

#[tokio::test]
async fn an_update_before_its_create_merges_into_one_observation() {
    let app = TestApp::new().await;
    // The update arrives first (its own request), with a later envelope timestamp.
    app.ingest_ok(
        &Auth::A,
        vec![event_at(
            "span-update",
            T2,
            json!({"id": "s-upd", "traceId": "t-upd", "output": "out", "endTime": T3, "metadata": {"late": 1}}),
        )],
    )
    .await;
    let partial = app.get_ok("/api/public/observations/s-upd").await;
    assert_eq!(partial["output"], "out");
    assert_eq!(partial["type"], "SPAN");

    app.ingest_ok(
        &Auth::A,
        vec![
            event_at(
                "trace-create",
                T0,
                json!({"id": "t-upd", "name": "upd trace"}),
            ),
            event_at(
                "span-create",
                T0,
                json!({"id": "s-upd", "traceId": "t-upd", "name": "created", "input": "in", "startTime": T0, "output": "early", "metadata": {"early": 1}}),
            ),
        ],
    )
    .await;
    let merged = app.get_ok("/api/public/observations/s-upd").await;
    assert_eq!(merged["name"], "created");
    assert_eq!(merged["input"], "in");
    assert_eq!(merged["output"], "out", "the later update wins");
    assert_eq!(merged["startTime"], T0);
    assert_eq!(merged["endTime"], T3);
    assert_eq!(merged["metadata"], json!({"early": 1, "late": 1}));

    // Same envelope timestamp: the create is applied before the update.
    app.ingest_ok(
        &Auth::A,
        vec![
            event_at(
                "generation-update",
                T1,
                json!({"id": "g-tie", "traceId": "t-upd", "name": "from update"}),
            ),
            event_at(
                "generation-create",
                T1,
                json!({"id": "g-tie", "traceId": "t-upd", "name": "from create", "model": "m"}),
            ),
        ],
    )
    .await;
    let tie = app.get_ok("/api/public/observations/g-tie").await;
    assert_eq!(tie["name"], "from update");
    assert_eq!(tie["model"], "m");
    assert_eq!(tie["type"], "GENERATION");
}

#[tokio::test]
async fn repeated_ids_merge_by_the_langfuse_rules() {
    let app = TestApp::new().await;
    let events = vec![
        event_at(
            "trace-create",
            T0,
            json!({"id": "t-merge", "timestamp": T0, "name": "first", "userId": "u1", "version": "v1",
                   "metadata": {"a": 1, "nested": {"x": 1}}, "tags": ["b"], "input": "first input"}),
        ),
        event_at(
            "trace-create",
            T1,
            json!({"id": "t-merge", "timestamp": "2030-01-01T00:00:00Z", "userId": "u2",
                   "metadata": {"b": 2, "nested": {"y": 2}}, "tags": ["a", "b"], "input": ""}),
        ),
        event_at(
            "trace-create",
            T2,
            json!({"id": "t-merge", "name": "third", "output": {"o": 1}, "version": null, "metadata": {}}),
        ),
    ];
    app.ingest_ok(&Auth::A, events).await;
    let trace = app.get_ok("/api/public/traces/t-merge").await;
    assert_eq!(trace["name"], "third", "later scalars replace earlier ones");
    assert_eq!(trace["userId"], "u2");
    assert_eq!(trace["version"], Value::Null, "explicit null clears");
    assert_eq!(trace["timestamp"], T0, "the timestamp is immutable");
    assert_eq!(
        trace["metadata"],
        json!({"a": 1, "nested": {"x": 1, "y": 2}, "b": 2})
    );
    assert_eq!(trace["tags"], json!(["a", "b"]), "sorted union");
    assert_eq!(
        trace["input"], "first input",
        "falsy input does not overwrite"
    );
    assert_eq!(trace["output"], json!({"o": 1}));

    let listed = app.get_ok("/api/public/traces").await;
    assert_eq!(listed["meta"]["totalItems"], 1);

    // Observations and scores merge the same way.
    app.ingest_ok(
        &Auth::A,
        vec![
            event_at(
                "span-create",
                T0,
                json!({"id": "s-merge", "traceId": "t-merge", "name": "a", "startTime": T0, "level": "DEBUG"}),
            ),
            event_at(
                "span-create",
                T1,
                json!({"id": "s-merge", "traceId": "t-merge", "name": "b", "startTime": T3, "level": "WARNING"}),
            ),
            event_at(
                "score-create",
                T0,
                json!({"id": "sc-merge", "traceId": "t-merge", "name": "q", "value": 1}),
            ),
            event_at(
                "score-create",
                T1,
                json!({"id": "sc-merge", "traceId": "t-merge", "name": "q", "value": 2, "comment": "second"}),
            ),
        ],
    )
    .await;
    let span = app.get_ok("/api/public/observations/s-merge").await;
    assert_eq!(span["name"], "b");
    assert_eq!(span["level"], "WARNING");
    assert_eq!(span["startTime"], T0, "start time is immutable");
    let score = app.get_ok("/api/public/v2/scores/sc-merge").await;
    assert_eq!(score["value"], 2.0);
    assert_eq!(score["comment"], "second");
    let scores = app.get_ok("/api/public/v2/scores").await;
    assert_eq!(scores["meta"]["totalItems"], 1);
}

#[tokio::test]
async fn resending_the_same_batch_is_idempotent() {
    let app = TestApp::new().await;
    let events = vec![
        event_at(
            "trace-create",
            T0,
            json!({"id": "t-resend", "metadata": {"n": 1}, "tags": ["x"]}),
        ),
        event_at(
            "span-create",
            T0,
            json!({"id": "s-resend", "traceId": "t-resend", "startTime": T0}),
        ),
        event_at(
            "score-create",
            T0,
            json!({"id": "sc-resend", "traceId": "t-resend", "name": "n", "value": 1}),
        ),
    ];
    let first = app.ingest_ok(&Auth::A, events.clone()).await;
    let second = app.ingest_ok(&Auth::A, events).await;
    assert_eq!(first, second);
    let trace = app.get_ok("/api/public/traces/t-resend").await;
    assert_eq!(trace["observations"].as_array().unwrap().len(), 1);
    assert_eq!(trace["scores"].as_array().unwrap().len(), 1);
    assert_eq!(trace["tags"], json!(["x"]));
    assert_eq!(trace["metadata"], json!({"n": 1}));
}

#[tokio::test]
async fn environments_are_normalised_like_langfuse() {
    let app = TestApp::new().await;
    let cases: Vec<(Value, &str)> = vec![
        (json!("Production"), "production"),
        (json!("langfuse-staging"), "staging"),
        (json!("LANGFUSE_langfuse-dev"), "dev"),
        (json!("langfuse"), "default"),
        (json!("has space"), "default"),
        (json!(""), "default"),
        (json!("with_under-score1"), "with_under-score1"),
        (
            json!("a".repeat(50)),
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ),
        (Value::Null, "default"),
    ];
    let mut events = Vec::new();
    for (index, (environment, _)) in cases.iter().enumerate() {
        let mut body = json!({"id": format!("t-env-{index}")});
        if !environment.is_null() {
            body["environment"] = environment.clone();
        }
        events.push(event_at("trace-create", T0, body));
    }
    events.push(event_at(
        "span-create",
        T0,
        json!({"id": "s-env", "traceId": "t-env-0", "environment": "Langfuse-Prod"}),
    ));
    events.push(event_at(
        "score-create",
        T0,
        json!({"id": "sc-env", "traceId": "t-env-0", "name": "n", "value": 1, "environment": "QA"}),
    ));
    app.ingest_ok(&Auth::A, events).await;
    for (index, (_, expected)) in cases.iter().enumerate() {
        let trace = app
            .get_ok(&format!("/api/public/traces/t-env-{index}"))
            .await;
        assert_eq!(trace["environment"], *expected, "case {index}");
    }
    assert_eq!(cases[7].1.len(), 40);
    let span = app.get_ok("/api/public/observations/s-env").await;
    assert_eq!(span["environment"], "prod");
    let score = app.get_ok("/api/public/v2/scores/sc-env").await;
    assert_eq!(score["environment"], "qa");

    let staging = app.get_ok("/api/public/traces?environment=staging").await;
    assert_eq!(staging["meta"]["totalItems"], 1);
    assert_eq!(staging["data"][0]["id"], "t-env-1");
    let defaults = app
        .get_ok("/api/public/traces?environment=default&environment=dev")
        .await;
    assert_eq!(defaults["meta"]["totalItems"], 5, "{defaults}");
}

#[tokio::test]
async fn timestamps_with_offsets_are_converted_to_utc() {
    let app = TestApp::new().await;
    app.ingest_ok(
        &Auth::A,
        vec![
            event_at(
                "trace-create",
                "2025-03-01T12:00:00.000+02:00",
                json!({"id": "t-offset", "timestamp": "2025-03-01T12:30:00.250+02:00"}),
            ),
            event_at(
                "span-create",
                "2025-03-01T12:00:00+02:00",
                json!({"id": "s-offset", "traceId": "t-offset",
                       "startTime": "2025-03-01T05:01:00-05:30", "endTime": "2025-03-01T10:32:00.5Z"}),
            ),
            event_at(
                "event-create",
                "2025-03-01T12:00:07.125+02:00",
                json!({"id": "e-offset", "traceId": "t-offset"}),
            ),
            event_at(
                "trace-create",
                "2025-03-01T23:30:00-01:00",
                json!({"id": "t-envelope-time"}),
            ),
        ],
    )
    .await;
    let trace = app.get_ok("/api/public/traces/t-offset").await;
    assert_eq!(trace["timestamp"], "2025-03-01T10:30:00.250Z");
    let span = app.get_ok("/api/public/observations/s-offset").await;
    assert_eq!(span["startTime"], "2025-03-01T10:31:00.000Z");
    assert_eq!(span["endTime"], "2025-03-01T10:32:00.500Z");
    let event = app.get_ok("/api/public/observations/e-offset").await;
    assert_eq!(
        event["startTime"], "2025-03-01T10:00:07.125Z",
        "start time defaults to the envelope timestamp"
    );
    let next_day = app.get_ok("/api/public/traces/t-envelope-time").await;
    assert_eq!(next_day["timestamp"], "2025-03-02T00:30:00.000Z");

    let window = app
        .get_ok(&format!(
            "/api/public/traces?fromTimestamp={}&toTimestamp={}",
            crate::support::enc("2025-03-01T12:30:00+02:00"),
            crate::support::enc("2025-03-01T12:31:00+02:00"),
        ))
        .await;
    assert_eq!(window["meta"]["totalItems"], 1);
    assert_eq!(window["data"][0]["id"], "t-offset");
}

#[tokio::test]
async fn a_gzip_body_is_decoded() {
    let app = TestApp::new().await;
    let batch = json!({"batch": [
        event_at("trace-create", T0, json!({"id": "t-gzip", "name": "zipped", "input": "x".repeat(10_000)})),
        event_at("span-create", T0, json!({"id": "s-gzip", "traceId": "t-gzip"})),
    ]});
    let response = app
        .post_gzip(
            "/api/public/ingestion",
            &Auth::A,
            &serde_json::to_vec(&batch).unwrap(),
        )
        .await;
    let body = response.expect(207);
    assert_eq!(body["errors"], json!([]));
    assert_eq!(body["successes"].as_array().unwrap().len(), 2);
    let trace = app.get_ok("/api/public/traces/t-gzip").await;
    assert_eq!(trace["name"], "zipped");
    assert_eq!(trace["input"].as_str().unwrap().len(), 10_000);
    assert_eq!(trace["observations"][0]["id"], "s-gzip");
}

#[tokio::test]
async fn usage_and_cost_are_normalised() {
    let app = TestApp::new().await;
    app.ingest_ok(
        &Auth::A,
        vec![
            event_at("trace-create", T0, json!({"id": "t-usage"})),
            event_at(
                "generation-create",
                T0,
                json!({"id": "g-openai", "traceId": "t-usage", "startTime": T0, "endTime": T4,
                       "usageDetails": {"prompt_tokens": 10, "completion_tokens": 8, "total_tokens": 18,
                                        "prompt_tokens_details": {"cached_tokens": 4},
                                        "completion_tokens_details": {"reasoning_tokens": 3}}}),
            ),
            event_at(
                "generation-create",
                T0,
                json!({"id": "g-legacy", "traceId": "t-usage", "startTime": T0,
                       "usage": {"promptTokens": 5, "completionTokens": 6, "totalTokens": 11},
                       "costDetails": {"input": 0.5, "output": 0.25, "bogus": -1}}),
            ),
        ],
    )
    .await;
    let openai = app.get_ok("/api/public/observations/g-openai").await;
    let usage = openai["usageDetails"].as_object().unwrap();
    assert_eq!(usage["input"], 6);
    assert_eq!(usage["output"], 5);
    assert_eq!(usage["total"], 18);
    assert_eq!(usage["input_cached_tokens"], 4);
    assert_eq!(usage["output_reasoning_tokens"], 3);
    assert_eq!(openai["latency"], 4.0);
    let legacy = app.get_ok("/api/public/observations/g-legacy").await;
    assert_eq!(legacy["usageDetails"]["input"], 5);
    assert_eq!(legacy["usageDetails"]["output"], 6);
    assert_eq!(legacy["usageDetails"]["total"], 11);
    assert_eq!(legacy["usage"]["total"], 11);
    assert_eq!(legacy["promptTokens"], 5);
    assert_eq!(legacy["completionTokens"], 6);
    assert_eq!(legacy["costDetails"]["input"], 0.5);
    assert_eq!(legacy["costDetails"]["output"], 0.25);
    assert!(legacy["costDetails"].get("bogus").is_none());
    assert_eq!(legacy["calculatedTotalCost"], 0.75);
    let trace = app.get_ok("/api/public/traces/t-usage").await;
    assert_eq!(trace["totalCost"], 0.75);
}

#[tokio::test]
async fn an_empty_batch_is_a_207_with_empty_lists() {
    let app = TestApp::new().await;
    let body = app.ingest(&Auth::A, Vec::new()).await;
    assert_eq!(body, json!({"successes": [], "errors": []}));
    let with_metadata = app
        .post(
            "/api/public/ingestion",
            &Auth::A,
            &json!({"batch": [], "metadata": {"sdk_name": "python", "batch_size": 0}}),
        )
        .await;
    assert_eq!(
        with_metadata.expect(207),
        &json!({"successes": [], "errors": []})
    );
}

#[tokio::test]
async fn observation_defaults_orphans_and_end_before_start() {
    let app = TestApp::new().await;
    app.ingest_ok(
        &Auth::A,
        vec![
            event_at(
                "span-create",
                T2,
                json!({"id": "orphan", "name": "no trace", "level": null}),
            ),
            event_at(
                "span-create",
                T0,
                json!({"id": "backwards", "traceId": "t-back", "startTime": T3, "endTime": T1}),
            ),
        ],
    )
    .await;
    let orphan = app.get_ok("/api/public/observations/orphan").await;
    assert_eq!(orphan["level"], "DEFAULT");
    assert_eq!(orphan["startTime"], T2, "the envelope timestamp");
    let trace_id = orphan["traceId"].as_str().expect("a trace id is assigned");
    assert!(!trace_id.is_empty(), "{orphan}");
    assert_eq!(orphan["environment"], "default");
    let backwards = app.get_ok("/api/public/observations/backwards").await;
    assert_eq!(backwards["startTime"], T3);
    assert_eq!(
        backwards["endTime"], T3,
        "end before start becomes the start"
    );
    assert_eq!(backwards["latency"], 0.0);
}

#[tokio::test]
async fn concurrent_requests_for_one_trace_all_merge() {
    let app = std::sync::Arc::new(TestApp::new().await);
    let mut tasks = Vec::new();
    for index in 0..24 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let events = vec![
                event_at(
                    "trace-create",
                    &format!("2025-03-01T10:00:{index:02}.000Z"),
                    json!({"id": "t-concurrent", "tags": [format!("tag-{index:02}")],
                           "metadata": {format!("key{index}"): index}}),
                ),
                event_at(
                    "span-create",
                    T0,
                    json!({"id": format!("s-concurrent-{index}"), "traceId": "t-concurrent"}),
                ),
            ];
            app.ingest_ok(&Auth::A, events).await;
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    let trace = app.get_ok("/api/public/traces/t-concurrent").await;
    let tags: Vec<String> = (0..24).map(|index| format!("tag-{index:02}")).collect();
    assert_eq!(trace["tags"], json!(tags));
    assert_eq!(trace["metadata"].as_object().unwrap().len(), 24);
    assert_eq!(trace["observations"].as_array().unwrap().len(), 24);
    assert_eq!(
        trace["timestamp"], T0,
        "the earliest envelope timestamp's event is the first"
    );
}
