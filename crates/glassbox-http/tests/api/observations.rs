//! `GET /observations` (v1 pages), `/observations/{id}`, and `/v2/observations`
//! (field groups, raw io, cursor pages).

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::support::{Auth, TestApp, assert_close, enc, event_at, micros};

const LONG: usize = 300;

/// Trace tA (user ua, session sa): root span r with children g1, e1, s2;
/// trace tB (user ub): a tool and an agent, environment staging.
pub async fn seed(app: &TestApp) {
    let at = "2025-04-01T10:00:00Z";
    let events = vec![
        event_at(
            "trace-create",
            at,
            json!({"id": "tA", "name": "trace A", "userId": "ua", "sessionId": "sa", "tags": ["ta"], "release": "rel-a"}),
        ),
        event_at(
            "trace-create",
            at,
            json!({"id": "tB", "name": "trace B", "userId": "ub", "environment": "staging"}),
        ),
        event_at(
            "span-create",
            at,
            json!({"id": "r", "traceId": "tA", "name": "root", "startTime": "2025-04-01T10:00:00Z",
                   "endTime": "2025-04-01T10:00:05Z", "input": {"a": 1}, "output": ["x", 2],
                   "metadata": {"long": "m".repeat(LONG), "nested": {"k": "v"}, "n": 3}}),
        ),
        event_at(
            "generation-create",
            at,
            json!({"id": "g1", "traceId": "tA", "parentObservationId": "r", "name": "llm",
                   "startTime": "2025-04-01T10:00:01Z", "completionStartTime": "2025-04-01T10:00:01.500Z",
                   "endTime": "2025-04-01T10:00:03Z", "model": "gpt-4o", "modelParameters": {"temperature": 0.5},
                   "input": "hello", "output": "world", "usage": {"input": 10, "output": 5},
                   "costDetails": {"total": 0.02}, "promptName": "p", "promptVersion": 3}),
        ),
        event_at(
            "event-create",
            at,
            json!({"id": "e1", "traceId": "tA", "parentObservationId": "r", "name": "note",
                   "startTime": "2025-04-01T10:00:02Z", "level": "WARNING"}),
        ),
        event_at(
            "span-create",
            at,
            json!({"id": "s2", "traceId": "tA", "parentObservationId": "r", "name": "failing",
                   "startTime": "2025-04-01T10:00:04Z", "level": "ERROR", "statusMessage": "boom", "version": "v2"}),
        ),
        event_at(
            "tool-create",
            at,
            json!({"id": "tool1", "traceId": "tB", "name": "search", "startTime": "2025-04-01T10:00:06Z",
                   "environment": "staging"}),
        ),
        event_at(
            "agent-create",
            at,
            json!({"id": "agent1", "traceId": "tB", "name": "agent", "startTime": "2025-04-01T10:00:07Z",
                   "environment": "staging"}),
        ),
    ];
    app.ingest_ok(&Auth::A, events).await;
}

async fn v1_ids(app: &TestApp, query: &str) -> Vec<String> {
    let response = app
        .get(&format!("/api/public/observations?{query}"), &Auth::A)
        .await;
    response.expect(200);
    response.ids()
}

#[tokio::test]
async fn v1_list_filters_and_order() {
    let app = TestApp::new().await;
    seed(&app).await;
    assert_eq!(
        v1_ids(&app, "").await,
        ["agent1", "tool1", "s2", "e1", "g1", "r"],
        "start time descending"
    );
    assert_eq!(v1_ids(&app, "traceId=tA").await, ["s2", "e1", "g1", "r"]);
    assert_eq!(v1_ids(&app, "type=GENERATION").await, ["g1"]);
    assert_eq!(v1_ids(&app, "type=TOOL").await, ["tool1"]);
    assert_eq!(v1_ids(&app, "name=note").await, ["e1"]);
    assert_eq!(v1_ids(&app, "level=ERROR").await, ["s2"]);
    assert_eq!(
        v1_ids(&app, "parentObservationId=r").await,
        ["s2", "e1", "g1"]
    );
    assert_eq!(v1_ids(&app, "userId=ub").await, ["agent1", "tool1"]);
    assert_eq!(
        v1_ids(&app, "environment=staging").await,
        ["agent1", "tool1"]
    );
    assert_eq!(v1_ids(&app, "version=v2").await, ["s2"]);
    let window = format!(
        "fromStartTime={}&toStartTime={}",
        enc("2025-04-01T10:00:02Z"),
        enc("2025-04-01T10:00:06Z")
    );
    assert_eq!(v1_ids(&app, &window).await, ["s2", "e1"]);
    let filter = json!([{"type": "string", "column": "model", "operator": "=", "value": "gpt-4o"}]);
    assert_eq!(
        v1_ids(&app, &format!("filter={}", enc(&filter.to_string()))).await,
        ["g1"]
    );
    let page = app.get_ok("/api/public/observations?limit=4&page=2").await;
    assert_eq!(
        page["meta"],
        json!({"page": 2, "limit": 4, "totalItems": 6, "totalPages": 2})
    );
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    for bad in [
        "type=BOGUS",
        "level=LOUD",
        "fromStartTime=2025-04-01T10:00:00",
        "limit=500",
    ] {
        app.get(&format!("/api/public/observations?{bad}"), &Auth::A)
            .await
            .expect_error(400, "InvalidRequestError");
    }
}

#[tokio::test]
async fn v1_single_observation_shape() {
    let app = TestApp::new().await;
    seed(&app).await;
    let g1 = app.get_ok("/api/public/observations/g1").await;
    assert_eq!(g1["id"], "g1");
    assert_eq!(g1["projectId"], "project-a");
    assert_eq!(g1["traceId"], "tA");
    assert_eq!(g1["parentObservationId"], "r");
    assert_eq!(g1["type"], "GENERATION");
    assert_eq!(g1["name"], "llm");
    assert_eq!(g1["environment"], "default");
    assert_eq!(g1["startTime"], "2025-04-01T10:00:01.000Z");
    assert_eq!(g1["endTime"], "2025-04-01T10:00:03.000Z");
    assert_eq!(g1["completionStartTime"], "2025-04-01T10:00:01.500Z");
    assert_eq!(g1["model"], "gpt-4o");
    assert_eq!(g1["modelParameters"], json!({"temperature": 0.5}));
    assert_eq!(g1["input"], "hello");
    assert_eq!(g1["output"], "world");
    assert_eq!(g1["level"], "DEFAULT");
    assert_eq!(g1["promptName"], "p");
    assert_eq!(g1["promptVersion"], 3);
    assert_eq!(
        g1["usage"],
        json!({"unit": "TOKENS", "input": 10, "output": 5, "total": 15})
    );
    assert_eq!(g1["unit"], "TOKENS");
    assert_eq!(g1["promptTokens"], 10);
    assert_eq!(g1["completionTokens"], 5);
    assert_eq!(g1["totalTokens"], 15);
    assert_eq!(
        g1["usageDetails"],
        json!({"input": 10, "output": 5, "total": 15})
    );
    assert_close(&g1["calculatedTotalCost"], 0.02);
    assert_close(&g1["costDetails"]["total"], 0.02);
    assert_close(&g1["latency"], 2.0);
    assert_close(&g1["timeToFirstToken"], 0.5);
    for key in [
        "inputPrice",
        "outputPrice",
        "totalPrice",
        "usagePricingTierName",
    ] {
        assert!(g1.get(key).is_some(), "{key} missing");
    }
    for absent in ["userId", "sessionId", "traceName", "tags"] {
        assert!(g1.get(absent).is_none(), "{absent} must not be in v1");
    }
    let r = app.get_ok("/api/public/observations/r").await;
    assert_eq!(r["parentObservationId"], Value::Null);
    assert_eq!(r["input"], json!({"a": 1}));
    assert_eq!(r["output"], json!(["x", 2]));
    assert_eq!(r["metadata"]["long"].as_str().unwrap().len(), LONG);
    assert_eq!(r["usage"]["total"], 0);
    assert_eq!(r["timeToFirstToken"], Value::Null);
    let s2 = app.get_ok("/api/public/observations/s2").await;
    assert_eq!(s2["statusMessage"], "boom");
    assert_eq!(s2["endTime"], Value::Null);
    assert_eq!(s2["latency"], Value::Null);

    let missing = app.get("/api/public/observations/nope", &Auth::A).await;
    assert_eq!(
        missing.expect_error(404, "LangfuseNotFoundError"),
        "Observation not found within authorized project"
    );
}

const CORE: &[&str] = &[
    "id",
    "traceId",
    "startTime",
    "endTime",
    "projectId",
    "parentObservationId",
    "type",
];
const BASIC: &[&str] = &[
    "name",
    "level",
    "statusMessage",
    "version",
    "environment",
    "bookmarked",
    "public",
    "userId",
    "sessionId",
    "isRootObservation",
];
const ALWAYS: &[&str] = &["modelId", "inputPrice", "outputPrice", "totalPrice"];

fn keys(value: &Value) -> BTreeSet<String> {
    value.as_object().unwrap().keys().cloned().collect()
}

fn key_set(groups: &[&[&str]]) -> BTreeSet<String> {
    groups
        .iter()
        .flat_map(|group| group.iter().map(|key| (*key).to_owned()))
        .collect()
}

fn by_id<'a>(body: &'a Value, id: &str) -> &'a Value {
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["id"] == id)
        .unwrap_or_else(|| panic!("{id} missing in {body}"))
}

#[tokio::test]
async fn v2_field_groups() {
    let app = TestApp::new().await;
    seed(&app).await;
    let default = app.get_ok("/api/public/v2/observations").await;
    assert_eq!(default["data"].as_array().unwrap().len(), 6);
    assert_eq!(default["meta"], json!({}), "no cursor on the last page");
    for item in default["data"].as_array().unwrap() {
        assert_eq!(keys(item), key_set(&[CORE, BASIC, ALWAYS]), "{item}");
    }
    let r = by_id(&default, "r");
    assert_eq!(r["isRootObservation"], true);
    assert_eq!(r["userId"], "ua");
    assert_eq!(r["sessionId"], "sa");
    assert_eq!(r["parentObservationId"], Value::Null);
    assert_eq!(r["projectId"], "project-a");
    let g1 = by_id(&default, "g1");
    assert_eq!(g1["isRootObservation"], false);
    assert_eq!(
        g1["modelId"],
        Value::Null,
        "modelId only with the model group"
    );

    let core = app.get_ok("/api/public/v2/observations?fields=core").await;
    for item in core["data"].as_array().unwrap() {
        assert_eq!(keys(item), key_set(&[CORE, ALWAYS]));
    }

    let io = app
        .get_ok("/api/public/v2/observations?fields=core,io&traceId=tA")
        .await;
    let r = by_id(&io, "r");
    assert_eq!(
        r["input"],
        json!({"a": 1}).to_string(),
        "io is a raw string"
    );
    assert_eq!(r["output"], json!(["x", 2]).to_string());
    assert!(r.get("name").is_none());
    let g1 = by_id(&io, "g1");
    assert_eq!(g1["input"], "hello");
    assert_eq!(by_id(&io, "e1")["input"], Value::Null);

    let metadata = app
        .get_ok("/api/public/v2/observations?fields=metadata&traceId=tA")
        .await;
    let r = by_id(&metadata, "r");
    assert_eq!(
        r["metadata"]["long"].as_str().unwrap().len(),
        200,
        "truncated"
    );
    assert_eq!(r["metadata"]["nested.k"], "v", "flattened");
    assert_eq!(r["metadata"]["n"], 3);
    let expanded = app
        .get_ok("/api/public/v2/observations?fields=metadata&traceId=tA&expandMetadata=long")
        .await;
    assert_eq!(
        by_id(&expanded, "r")["metadata"]["long"]
            .as_str()
            .unwrap()
            .len(),
        LONG
    );

    let rich = app
        .get_ok("/api/public/v2/observations?fields=core,time,model,usage,prompt,metrics,trace_context&traceId=tA")
        .await;
    let g1 = by_id(&rich, "g1");
    assert_eq!(g1["providedModelName"], "gpt-4o");
    assert_eq!(g1["modelParameters"], json!({"temperature": 0.5}));
    assert_eq!(
        g1["usageDetails"],
        json!({"input": 10, "output": 5, "total": 15})
    );
    assert_close(&g1["totalCost"], 0.02);
    assert_eq!(g1["promptName"], "p");
    assert_eq!(g1["promptVersion"], 3);
    assert_close(&g1["latency"], 2.0);
    assert_close(&g1["timeToFirstToken"], 0.5);
    assert_eq!(g1["completionStartTime"], "2025-04-01T10:00:01.500Z");
    assert!(g1["createdAt"].is_string());
    assert_eq!(g1["traceName"], "trace A");
    assert_eq!(g1["tags"], json!(["ta"]));
    assert_eq!(g1["release"], "rel-a");
    assert!(g1.get("name").is_none(), "basic was not requested");
}

#[tokio::test]
async fn v2_filters() {
    let app = TestApp::new().await;
    seed(&app).await;
    let ids = |body: Value| -> Vec<String> {
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        ids(app
            .get_ok("/api/public/v2/observations?isRootObservation=true")
            .await),
        ["agent1", "tool1", "r"]
    );
    assert_eq!(
        ids(app.get_ok("/api/public/v2/observations?userId=ub").await),
        ["agent1", "tool1"]
    );
    assert_eq!(
        ids(app
            .get_ok("/api/public/v2/observations?sessionId=sa&level=WARNING")
            .await),
        ["e1"]
    );
    assert_eq!(
        ids(app.get_ok("/api/public/v2/observations?type=SPAN").await),
        ["s2", "r"]
    );
    let none = app.get_ok("/api/public/v2/observations?limit=0").await;
    assert_eq!(none["data"], json!([]));
}

/// Follows `meta.cursor` until it is absent; returns every page's ids.
async fn walk_v2(app: &TestApp, query: &str) -> Vec<Vec<Value>> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut uri = format!("/api/public/v2/observations?{query}");
        if let Some(cursor) = &cursor {
            uri.push_str(&format!("&cursor={}", enc(cursor)));
        }
        let body = app.get_ok(&uri).await;
        pages.push(body["data"].as_array().unwrap().clone());
        match body["meta"]["cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(pages.len() < 100, "the cursor does not end");
    }
    pages
}

#[tokio::test]
async fn v2_cursor_visits_every_row_once() {
    let app = TestApp::new().await;
    seed(&app).await;
    let pages = walk_v2(&app, "limit=2").await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 2]);
    let ids: Vec<&str> = pages
        .iter()
        .flatten()
        .map(|item| item["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["agent1", "tool1", "s2", "e1", "g1", "r"]);

    let pages = walk_v2(&app, "limit=4&traceId=tA").await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [4]);

    // Many rows sharing one start time, across traces: still each exactly once.
    let same = "2025-05-01T00:00:00Z";
    let mut events = Vec::new();
    for trace in 0..3 {
        for index in 0..5 {
            events.push(event_at(
                "span-create",
                same,
                json!({"id": format!("same-{trace}-{index}"), "traceId": format!("same-trace-{trace}"), "startTime": same}),
            ));
        }
    }
    app.ingest_ok(&Auth::A, events).await;
    let pages = walk_v2(&app, "limit=4&fields=core").await;
    let all: Vec<&Value> = pages.iter().flatten().collect();
    assert_eq!(all.len(), 21);
    let unique: BTreeSet<&str> = all
        .iter()
        .map(|item| item["id"].as_str().unwrap())
        .collect();
    assert_eq!(unique.len(), 21, "no row is visited twice");
    let starts: Vec<i64> = all.iter().map(|item| micros(&item["startTime"])).collect();
    assert!(
        starts.windows(2).all(|pair| pair[0] >= pair[1]),
        "start time descending across pages"
    );
    for page in &pages[..pages.len() - 1] {
        assert_eq!(page.len(), 4);
    }
}

#[tokio::test]
async fn v2_rejects_parse_io_as_json_and_bad_cursors() {
    let app = TestApp::new().await;
    seed(&app).await;
    let rejected = app
        .get("/api/public/v2/observations?parseIoAsJson=true", &Auth::A)
        .await;
    let message = rejected.expect_error(400, "InvalidRequestError");
    assert!(message.contains("parseIoAsJson"), "{message}");
    app.get_ok("/api/public/v2/observations?parseIoAsJson=false")
        .await;
    for bad in [
        "cursor=%%%",
        "cursor=bm90IGpzb24",
        "limit=1001",
        "limit=-1",
        "isRootObservation=maybe",
    ] {
        app.get(&format!("/api/public/v2/observations?{bad}"), &Auth::A)
            .await
            .expect_error(400, "InvalidRequestError");
    }
}

#[tokio::test]
async fn v1_pages_are_stable_when_start_times_tie() {
    let app = TestApp::new().await;
    let same = "2025-05-01T00:00:00Z";
    let events: Vec<Value> = (0..19)
        .map(|index| {
            event_at(
                "event-create",
                same,
                json!({"id": format!("tie-{index:02}"), "traceId": format!("tie-trace-{}", index % 3), "startTime": same}),
            )
        })
        .collect();
    app.ingest_ok(&Auth::A, events).await;
    let mut seen = Vec::new();
    for page in 1..=4 {
        seen.extend(v1_ids(&app, &format!("limit=5&page={page}")).await);
    }
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), 19, "{seen:?}");
}
