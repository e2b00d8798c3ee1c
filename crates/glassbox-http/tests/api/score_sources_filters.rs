//! Score gaps closed by the evaluation work: `EVAL` scores arrive through ingestion (not
//! `POST /scores`), and the v2 `filter` parameter knows `booleanValue` and
//! `evaluatorId`.

use serde_json::{Value, json};

use crate::support::{Auth, TestApp, enc, event_at};

const T: &str = "2025-11-01T00:00:00Z";

fn names(body: &Value) -> Vec<String> {
    let mut names: Vec<String> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

async fn seeded() -> TestApp {
    let app = TestApp::new().await;
    let scores = [
        json!({"id": "ev", "traceId": "t", "name": "judge", "value": 0.4, "source": "EVAL",
               "executionTraceId": "judge-run-1", "comment": "reasoning"}),
        json!({"id": "yes", "traceId": "t", "name": "ok-yes", "value": 1, "dataType": "BOOLEAN"}),
        json!({"id": "no", "traceId": "t", "name": "ok-no", "value": 0, "dataType": "BOOLEAN"}),
        json!({"id": "num", "traceId": "t", "name": "one", "value": 1}),
    ];
    let events = scores
        .into_iter()
        .map(|score| event_at("score-create", T, score))
        .collect();
    app.ingest_ok(&Auth::A, events).await;
    app
}

#[tokio::test]
async fn eval_scores_come_through_ingestion_only() {
    let app = seeded().await;
    let eval = app.get_ok("/api/public/v2/scores/ev").await;
    assert_eq!(eval["source"], "EVAL");
    assert_eq!(eval["executionTraceId"], "judge-run-1");
    assert_eq!(eval["comment"], "reasoning");
    let v2 = app.get_ok("/api/public/v2/scores?source=EVAL").await;
    assert_eq!(names(&v2), ["judge"]);
    let v3 = app
        .get_ok("/api/public/v3/scores?source=eval&fields=details")
        .await;
    assert_eq!(v3["data"][0]["id"], "ev");
    assert_eq!(v3["data"][0]["comment"], "reasoning");
    let message = app
        .post(
            "/api/public/scores",
            &Auth::A,
            &json!({"traceId": "t", "name": "n", "value": 1, "source": "EVAL"}),
        )
        .await
        .expect_error(400, "InvalidRequestError");
    assert!(message.contains("API or ANNOTATION"), "{message}");
}

#[tokio::test]
async fn boolean_value_and_evaluator_id_filters() {
    let app = seeded().await;
    let query =
        |filter: Value| format!("/api/public/v2/scores?filter={}", enc(&filter.to_string()));
    let truthy = app
        .get_ok(&query(
            json!([{"type": "boolean", "column": "booleanValue", "operator": "=", "value": true}]),
        ))
        .await;
    assert_eq!(names(&truthy), ["ok-yes"], "a NUMERIC 1 is not a boolean");
    let falsy = app
        .get_ok(&query(json!([{"type": "boolean", "column": "Boolean Value", "operator": "<>", "value": true}])))
        .await;
    assert_eq!(names(&falsy), ["ok-no"]);
    let by_evaluator = app
        .get_ok(&query(json!([{"type": "stringOptions", "column": "evaluatorId", "operator": "any of", "value": ["e1"]}])))
        .await;
    assert_eq!(
        by_evaluator["meta"]["totalItems"], 0,
        "glassbox runs no evaluators"
    );
    let without = app
        .get_ok(&query(
            json!([{"type": "null", "column": "evaluatorId", "operator": "is null", "value": ""}]),
        ))
        .await;
    assert_eq!(without["meta"]["totalItems"], 4);
    app.get(
        &query(json!([{"type": "number", "column": "booleanValue", "operator": "=", "value": 1}])),
        &Auth::A,
    )
    .await
    .expect_error(400, "InvalidRequestError");
}
