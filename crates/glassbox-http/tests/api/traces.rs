//! `GET /traces` (filters, order, fields, pages, advanced filter), `GET/DELETE
//! /traces/{id}`, bulk `DELETE /traces`.

use std::collections::BTreeSet;

use axum::http::Method;
use serde_json::{Value, json};

use crate::support::{Auth, TestApp, assert_close, enc, event_at};

/// Five traces; t1 has two observations (latency 3.5 s, cost 0.55) and a score.
pub async fn seed(app: &TestApp) {
    let traces = [
        json!({"id": "t1", "name": "alpha", "userId": "u1", "sessionId": "s1", "tags": ["a", "b"],
               "environment": "production", "timestamp": "2025-01-01T00:00:00Z", "release": "r1",
               "version": "v1", "metadata": {"team": "x"}, "input": {"q": 1}, "output": "ans"}),
        json!({"id": "t2", "name": "beta", "userId": "u1", "sessionId": "s2", "tags": ["a"],
               "environment": "staging", "timestamp": "2025-01-02T00:00:00Z", "release": "r2"}),
        json!({"id": "t3", "name": "alpha", "userId": "u2", "sessionId": "s1", "tags": ["b", "c"],
               "environment": "production", "timestamp": "2025-01-03T00:00:00Z", "metadata": {"team": "y"}}),
        json!({"id": "t4", "name": "gamma", "userId": "u3", "timestamp": "2025-01-04T00:00:00Z"}),
        json!({"id": "t5", "name": "delta", "userId": "u2", "tags": ["a", "b", "c"],
               "environment": "staging", "timestamp": "2025-01-05T00:00:00Z"}),
    ];
    let mut events: Vec<Value> = traces
        .into_iter()
        .map(|body| event_at("trace-create", "2025-01-01T00:00:00Z", body))
        .collect();
    events.push(event_at(
        "span-create",
        "2025-01-01T00:00:00Z",
        json!({"id": "o1", "traceId": "t1", "name": "root", "startTime": "2025-01-01T00:00:00Z",
               "endTime": "2025-01-01T00:00:02Z", "costDetails": {"total": 0.25}}),
    ));
    events.push(event_at(
        "generation-create",
        "2025-01-01T00:00:00Z",
        json!({"id": "o2", "traceId": "t1", "parentObservationId": "o1", "name": "llm",
               "startTime": "2025-01-01T00:00:01Z", "endTime": "2025-01-01T00:00:03.500Z",
               "usage": {"input": 10, "output": 5}, "costDetails": {"input": 0.1, "output": 0.2}}),
    ));
    events.push(event_at(
        "score-create",
        "2025-01-01T00:00:00Z",
        json!({"id": "sc1", "traceId": "t1", "name": "quality", "value": 0.9}),
    ));
    events.push(event_at(
        "score-create",
        "2025-01-01T00:00:00Z",
        json!({"id": "sc-session", "sessionId": "s1", "name": "session quality", "value": 0.1}),
    ));
    app.ingest_ok(&Auth::A, events).await;
}

async fn ids(app: &TestApp, query: &str) -> Vec<String> {
    let response = app
        .get(&format!("/api/public/traces?{query}"), &Auth::A)
        .await;
    response.expect(200);
    response.ids()
}

async fn id_set(app: &TestApp, query: &str) -> BTreeSet<String> {
    ids(app, query).await.into_iter().collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

#[tokio::test]
async fn simple_filters() {
    let app = TestApp::new().await;
    seed(&app).await;
    assert_eq!(id_set(&app, "userId=u1").await, set(&["t1", "t2"]));
    assert_eq!(id_set(&app, "name=alpha").await, set(&["t1", "t3"]));
    assert_eq!(id_set(&app, "name=Alpha").await, set(&[]), "exact match");
    assert_eq!(id_set(&app, "sessionId=s1").await, set(&["t1", "t3"]));
    assert_eq!(id_set(&app, "release=r2").await, set(&["t2"]));
    assert_eq!(id_set(&app, "version=v1").await, set(&["t1"]));
    assert_eq!(id_set(&app, "tags=a").await, set(&["t1", "t2", "t5"]));
    assert_eq!(
        id_set(&app, "tags=a&tags=b").await,
        set(&["t1", "t5"]),
        "tags is all-of"
    );
    assert_eq!(id_set(&app, "tags=a&tags=b&tags=c").await, set(&["t5"]));
    assert_eq!(
        id_set(&app, "environment=staging").await,
        set(&["t2", "t5"])
    );
    assert_eq!(
        id_set(&app, "environment=staging&environment=default").await,
        set(&["t2", "t4", "t5"]),
        "environment is any-of"
    );
    let window = format!(
        "fromTimestamp={}&toTimestamp={}",
        enc("2025-01-02T00:00:00Z"),
        enc("2025-01-04T00:00:00Z")
    );
    assert_eq!(
        id_set(&app, &window).await,
        set(&["t2", "t3"]),
        "from is inclusive, to exclusive"
    );
    assert_eq!(
        id_set(&app, "userId=u2&tags=c&environment=staging").await,
        set(&["t5"])
    );
    assert_eq!(id_set(&app, "page=&limit=&userId=u3").await, set(&["t4"]));
}

#[tokio::test]
async fn ordering() {
    let app = TestApp::new().await;
    seed(&app).await;
    assert_eq!(ids(&app, "").await, ["t5", "t4", "t3", "t2", "t1"]);
    assert_eq!(
        ids(&app, "orderBy=timestamp.asc").await,
        ["t1", "t2", "t3", "t4", "t5"]
    );
    let response = app
        .get("/api/public/traces?orderBy=name.desc", &Auth::A)
        .await;
    let names: Vec<&str> = response.expect(200)["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|trace| trace["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["gamma", "delta", "beta", "alpha", "alpha"]);
    assert_eq!(
        ids(&app, "orderBy=id.desc").await,
        ["t5", "t4", "t3", "t2", "t1"]
    );
    let by_user = app.get_ok("/api/public/traces?orderBy=userId.asc").await;
    let users: Vec<&str> = by_user["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|trace| trace["userId"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["u1", "u1", "u2", "u2", "u3"]);
    for bad in ["name", "name.up", "cost.asc"] {
        app.get(&format!("/api/public/traces?orderBy={bad}"), &Auth::A)
            .await
            .expect_error(400, "InvalidRequestError");
    }
}

#[tokio::test]
async fn field_groups_and_the_metrics_sentinel() {
    let app = TestApp::new().await;
    seed(&app).await;
    let find = |body: &Value, id: &str| -> Value {
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|trace| trace["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} missing in {body}"))
    };

    let all = app.get_ok("/api/public/traces").await;
    let t1 = find(&all, "t1");
    assert_eq!(t1["input"], json!({"q": 1}));
    assert_eq!(t1["output"], "ans");
    assert_eq!(t1["metadata"], json!({"team": "x"}));
    let observations: BTreeSet<&str> = t1["observations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap())
        .collect();
    assert_eq!(observations, BTreeSet::from(["o1", "o2"]));
    assert_eq!(t1["scores"], json!(["sc1"]), "only trace scores");
    assert_close(&t1["totalCost"], 0.55);
    assert_close(&t1["latency"], 3.5);
    assert_eq!(t1["htmlPath"], "/project/project-a/traces/t1");
    assert_eq!(t1["projectId"], "project-a");
    assert_eq!(t1["externalId"], Value::Null);
    assert_eq!(t1["public"], false);
    assert_eq!(t1["bookmarked"], false);
    let t4 = find(&all, "t4");
    assert_eq!(t4["observations"], json!([]));
    assert_eq!(t4["latency"], 0.0);
    assert_eq!(t4["totalCost"], 0.0);

    let core = app.get_ok("/api/public/traces?fields=core").await;
    let t1 = find(&core, "t1");
    assert_eq!(t1["name"], "alpha");
    assert_eq!(t1["tags"], json!(["a", "b"]));
    assert_eq!(t1["input"], Value::Null);
    assert_eq!(t1["output"], Value::Null);
    assert_eq!(t1["observations"], json!([]));
    assert_eq!(t1["scores"], json!([]));
    assert_eq!(t1["totalCost"], -1.0, "sentinel without metrics");
    assert_eq!(t1["latency"], -1.0);

    let io = app.get_ok("/api/public/traces?fields=core,io").await;
    let t1 = find(&io, "t1");
    assert_eq!(t1["input"], json!({"q": 1}));
    assert_eq!(t1["metadata"], json!({"team": "x"}));
    assert_eq!(t1["latency"], -1.0);

    let metrics = app
        .get_ok("/api/public/traces?fields=core,metrics,scores")
        .await;
    let t1 = find(&metrics, "t1");
    assert_close(&t1["totalCost"], 0.55);
    assert_close(&t1["latency"], 3.5);
    assert_eq!(t1["scores"], json!(["sc1"]));
    assert_eq!(t1["observations"], json!([]));
    assert_eq!(t1["input"], Value::Null);

    let observations_only = app
        .get_ok("/api/public/traces?fields=observations,unknown")
        .await;
    let t1 = find(&observations_only, "t1");
    assert_eq!(t1["observations"].as_array().unwrap().len(), 2);
    assert_eq!(t1["totalCost"], -1.0);
}

#[tokio::test]
async fn page_meta() {
    let app = TestApp::new().await;
    seed(&app).await;
    let first = app.get_ok("/api/public/traces?limit=2").await;
    assert_eq!(
        first["meta"],
        json!({"page": 1, "limit": 2, "totalItems": 5, "totalPages": 3})
    );
    let second = app.get("/api/public/traces?limit=2&page=2", &Auth::A).await;
    second.expect(200);
    assert_eq!(second.ids(), ["t3", "t2"]);
    assert_eq!(second.json["meta"]["page"], 2);
    let last = app.get("/api/public/traces?limit=2&page=3", &Auth::A).await;
    assert_eq!(last.ids(), ["t1"]);
    let beyond = app.get_ok("/api/public/traces?limit=2&page=4").await;
    assert_eq!(beyond["data"], json!([]));
    assert_eq!(beyond["meta"]["totalItems"], 5);
    let filtered = app.get_ok("/api/public/traces?userId=u1&limit=1").await;
    assert_eq!(
        filtered["meta"],
        json!({"page": 1, "limit": 1, "totalItems": 2, "totalPages": 2})
    );
    let defaults = app.get_ok("/api/public/traces").await;
    assert_eq!(
        defaults["meta"],
        json!({"page": 1, "limit": 50, "totalItems": 5, "totalPages": 1})
    );
    for bad in ["page=0", "limit=0", "limit=101", "page=x", "limit=-1"] {
        app.get(&format!("/api/public/traces?{bad}"), &Auth::A)
            .await
            .expect_error(400, "InvalidRequestError");
    }
}

#[tokio::test]
async fn advanced_filter() {
    let app = TestApp::new().await;
    seed(&app).await;
    let with = |filter: Value| format!("filter={}", enc(&filter.to_string()));
    let cases: Vec<(Value, &[&str])> = vec![
        (
            json!([{"type": "string", "column": "name", "operator": "starts with", "value": "al"}]),
            &["t1", "t3"],
        ),
        (
            json!([{"type": "string", "column": "name", "operator": "contains", "value": "lph"}]),
            &["t1", "t3"],
        ),
        (
            json!([{"type": "stringOptions", "column": "name", "operator": "any of", "value": ["beta", "gamma"]}]),
            &["t2", "t4"],
        ),
        (
            json!([{"type": "stringOptions", "column": "Name", "operator": "none of", "value": ["alpha"]}]),
            &["t2", "t4", "t5"],
        ),
        (
            json!([{"type": "arrayOptions", "column": "tags", "operator": "any of", "value": ["c"]}]),
            &["t3", "t5"],
        ),
        (
            json!([{"type": "arrayOptions", "column": "tags", "operator": "all of", "value": ["a", "c"]}]),
            &["t5"],
        ),
        (
            json!([{"type": "stringObject", "column": "metadata", "key": "team", "operator": "=", "value": "x"}]),
            &["t1"],
        ),
        (
            json!([{"type": "datetime", "column": "timestamp", "operator": ">=", "value": "2025-01-04T00:00:00Z"}]),
            &["t4", "t5"],
        ),
        (
            json!([{"type": "string", "column": "User ID", "operator": "=", "value": "u2"}]),
            &["t3", "t5"],
        ),
        (
            json!([{"type": "number", "column": "latency", "operator": ">", "value": 1}]),
            &["t1"],
        ),
        (
            json!([{"type": "string", "column": "userId", "operator": "=", "value": "u2"},
                   {"type": "stringOptions", "column": "environment", "operator": "any of", "value": ["staging"]}]),
            &["t5"],
        ),
    ];
    for (filter, expected) in cases {
        assert_eq!(
            id_set(&app, &with(filter.clone())).await,
            set(expected),
            "filter {filter}"
        );
    }
    // Simple params still apply beside the advanced filter on other columns.
    let combined = format!(
        "userId=u1&{}",
        with(
            json!([{"type": "arrayOptions", "column": "tags", "operator": "any of", "value": ["a"]}])
        )
    );
    assert_eq!(id_set(&app, &combined).await, set(&["t1", "t2"]));
    for bad in [
        json!([{"type": "string", "column": "nope", "operator": "=", "value": "x"}]),
        json!([{"type": "string", "column": "name", "operator": "between", "value": "x"}]),
        json!([{"type": "datetime", "column": "timestamp", "operator": ">", "value": "yesterday"}]),
        json!({"type": "string"}),
    ] {
        let response = app
            .get(&format!("/api/public/traces?{}", with(bad)), &Auth::A)
            .await;
        response.expect_error(400, "InvalidRequestError");
    }
    app.get("/api/public/traces?filter=%5Bnot%20json", &Auth::A)
        .await
        .expect_error(400, "InvalidRequestError");
}

#[tokio::test]
async fn get_one_trace_with_full_details() {
    let app = TestApp::new().await;
    seed(&app).await;
    let trace = app.get_ok("/api/public/traces/t1").await;
    assert_eq!(trace["id"], "t1");
    assert_eq!(trace["name"], "alpha");
    assert_eq!(trace["sessionId"], "s1");
    assert_eq!(trace["release"], "r1");
    assert_eq!(trace["environment"], "production");
    assert_eq!(trace["timestamp"], "2025-01-01T00:00:00.000Z");
    assert_eq!(trace["htmlPath"], "/project/project-a/traces/t1");
    assert_close(&trace["latency"], 3.5);
    assert_close(&trace["totalCost"], 0.55);
    let observations = trace["observations"].as_array().unwrap();
    assert_eq!(observations.len(), 2);
    let generation = observations.iter().find(|o| o["id"] == "o2").unwrap();
    assert_eq!(generation["type"], "GENERATION");
    assert_eq!(generation["parentObservationId"], "o1");
    assert_eq!(generation["usageDetails"]["input"], 10);
    assert_close(&generation["calculatedTotalCost"], 0.3);
    let scores = trace["scores"].as_array().unwrap();
    assert_eq!(scores.len(), 1, "session scores are not trace scores");
    assert_eq!(scores[0]["id"], "sc1");
    assert_eq!(scores[0]["value"], 0.9);
    assert_eq!(scores[0]["dataType"], "NUMERIC");

    let core = app.get_ok("/api/public/traces/t1?fields=core").await;
    assert_eq!(core["observations"], json!([]));
    assert_eq!(core["scores"], json!([]));
    assert_eq!(core["latency"], -1.0);
    assert_eq!(core["input"], Value::Null);

    let missing = app.get("/api/public/traces/nope", &Auth::A).await;
    let message = missing.expect_error(404, "LangfuseNotFoundError");
    assert_eq!(message, "Trace nope not found within authorized project");
}

#[tokio::test]
async fn delete_one_trace_and_its_children() {
    let app = TestApp::new().await;
    seed(&app).await;
    let deleted = app.delete("/api/public/traces/t1", &Auth::A).await;
    assert_eq!(
        deleted.expect(200),
        &json!({"message": "Trace deleted successfully"})
    );
    app.get("/api/public/traces/t1", &Auth::A)
        .await
        .expect_error(404, "LangfuseNotFoundError");
    app.get("/api/public/observations/o1", &Auth::A)
        .await
        .expect_error(404, "LangfuseNotFoundError");
    app.get("/api/public/v2/scores/sc1", &Auth::A)
        .await
        .expect_error(404, "LangfuseNotFoundError");
    assert_eq!(id_set(&app, "").await, set(&["t2", "t3", "t4", "t5"]));
    // The session score is not the trace's: it stays.
    app.get_ok("/api/public/v2/scores/sc-session").await;
    // Unknown ids are fine.
    app.delete("/api/public/traces/never-existed", &Auth::A)
        .await
        .expect(200);
}

#[tokio::test]
async fn bulk_delete() {
    let app = TestApp::new().await;
    seed(&app).await;
    let response = app
        .json(
            Method::DELETE,
            "/api/public/traces",
            &Auth::A,
            &json!({"traceIds": ["t2", "t3", "unknown"]}),
        )
        .await;
    assert_eq!(
        response.expect(200),
        &json!({"message": "Traces deleted successfully"})
    );
    assert_eq!(id_set(&app, "").await, set(&["t1", "t4", "t5"]));
    for bad in [
        json!({"traceIds": []}),
        json!({"traceIds": "t1"}),
        json!({"traceIds": [1]}),
        json!({}),
        json!({"traceIds": (0..1001).map(|i| format!("x{i}")).collect::<Vec<_>>()}),
    ] {
        app.json(Method::DELETE, "/api/public/traces", &Auth::A, &bad)
            .await
            .expect_error(400, "InvalidRequestError");
    }
    assert_eq!(id_set(&app, "").await, set(&["t1", "t4", "t5"]));
}

#[tokio::test]
async fn pages_are_stable_when_timestamps_tie() {
    let app = TestApp::new().await;
    let events: Vec<Value> = (0..23)
        .map(|index| {
            event_at(
                "trace-create",
                "2025-01-01T00:00:00Z",
                json!({"id": format!("tie-{index:02}"), "timestamp": "2025-01-01T00:00:00Z", "sessionId": format!("tie-session-{index:02}")}),
            )
        })
        .collect();
    app.ingest_ok(&Auth::A, events).await;
    for order in ["", "&orderBy=timestamp.asc", "&orderBy=name.desc"] {
        let mut seen = Vec::new();
        for page in 1..=4 {
            let response = app
                .get(
                    &format!("/api/public/traces?limit=7&page={page}{order}"),
                    &Auth::A,
                )
                .await;
            response.expect(200);
            seen.extend(response.ids());
        }
        let unique: BTreeSet<&String> = seen.iter().collect();
        assert_eq!(seen.len(), 23, "{order}");
        assert_eq!(
            unique.len(),
            23,
            "no trace on two pages ({order}): {seen:?}"
        );
    }
    let mut sessions = Vec::new();
    for page in 1..=4 {
        let response = app
            .get(
                &format!("/api/public/sessions?limit=7&page={page}"),
                &Auth::A,
            )
            .await;
        sessions.extend(response.ids());
    }
    let unique: BTreeSet<&String> = sessions.iter().collect();
    assert_eq!(unique.len(), 23, "no session on two pages: {sessions:?}");
}

#[tokio::test]
async fn a_deleted_trace_can_be_written_again_from_scratch() {
    let app = TestApp::new().await;
    seed(&app).await;
    app.delete("/api/public/traces/t1", &Auth::A)
        .await
        .expect(200);
    app.ingest_ok(
        &Auth::A,
        vec![event_at(
            "trace-create",
            "2025-02-01T00:00:00Z",
            json!({"id": "t1", "name": "again"}),
        )],
    )
    .await;
    let trace = app.get_ok("/api/public/traces/t1").await;
    assert_eq!(trace["name"], "again");
    assert_eq!(trace["tags"], json!([]), "old events do not come back");
    assert_eq!(trace["metadata"], json!({}));
    assert_eq!(trace["userId"], Value::Null);
    assert_eq!(trace["timestamp"], "2025-02-01T00:00:00.000Z");
    assert_eq!(trace["observations"], json!([]));
    assert_eq!(trace["scores"], json!([]));
}

#[tokio::test]
async fn unusual_ids_round_trip_through_the_path() {
    let app = TestApp::new().await;
    let ids = [
        "trace-ü-🚀",
        "with space",
        "semi;colon",
        "plus+sign",
        "a%b",
        "q?x",
        "x".repeat(800).leak() as &str,
    ];
    let events: Vec<Value> = ids
        .iter()
        .map(|id| {
            event_at(
                "trace-create",
                "2025-01-01T00:00:00Z",
                json!({"id": id, "name": id}),
            )
        })
        .collect();
    app.ingest_ok(&Auth::A, events).await;
    for id in ids {
        let encoded: String = id
            .bytes()
            .map(|byte| {
                if byte.is_ascii_alphanumeric() || byte == b'-' {
                    (byte as char).to_string()
                } else {
                    format!("%{byte:02X}")
                }
            })
            .collect();
        let trace = app.get_ok(&format!("/api/public/traces/{encoded}")).await;
        assert_eq!(trace["id"], id);
        assert_eq!(trace["name"], id);
    }
}
