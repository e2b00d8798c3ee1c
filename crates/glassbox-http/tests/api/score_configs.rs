//! Score configs: a score that breaks its config is reported in the 207 `errors` with the
//! rule it broke and is not stored; a valid one is stored with the config's name and,
//! for categories, the mapped value.

use serde_json::json;

use glassbox_model::ScoreDataType;

use crate::support::{Auth, PROJECT_A, PROJECT_B, TestApp, event_at, score_config};

const T: &str = "2025-08-01T00:00:00Z";

async fn with_configs() -> TestApp {
    let app = TestApp::new().await;
    app.insert_config(
        PROJECT_A,
        score_config(
            "cfg-num",
            "relevance",
            ScoreDataType::Numeric,
            Some(0.0),
            Some(1.0),
            None,
        ),
    )
    .await;
    app.insert_config(
        PROJECT_A,
        score_config(
            "cfg-cat",
            "sentiment",
            ScoreDataType::Categorical,
            None,
            None,
            Some(vec![("good", 1.0), ("bad", 0.0), ("mixed", 0.5)]),
        ),
    )
    .await;
    app.insert_config(
        PROJECT_A,
        score_config(
            "cfg-bool",
            "correct",
            ScoreDataType::Boolean,
            None,
            None,
            None,
        ),
    )
    .await;
    let mut archived = score_config(
        "cfg-archived",
        "old",
        ScoreDataType::Numeric,
        None,
        None,
        None,
    );
    archived.is_archived = true;
    app.insert_config(PROJECT_A, archived).await;
    // A config of project B is not visible to project A.
    app.insert_config(
        PROJECT_B,
        score_config("cfg-b", "b only", ScoreDataType::Numeric, None, None, None),
    )
    .await;
    app
}

fn score(id: &str, config: &str, value: serde_json::Value) -> serde_json::Value {
    event_at(
        "score-create",
        T,
        json!({"id": id, "traceId": "t-cfg", "name": "given name", "configId": config, "value": value}),
    )
}

#[tokio::test]
async fn violations_are_reported_per_event_and_not_stored() {
    let app = with_configs().await;
    let invalid = [
        (
            score("too-high", "cfg-num", json!(1.5)),
            vec!["maximum", "relevance"],
        ),
        (
            score("too-low", "cfg-num", json!(-0.1)),
            vec!["minimum", "relevance"],
        ),
        (
            score("not-a-category", "cfg-cat", json!("meh")),
            vec!["not a category", "sentiment", "good"],
        ),
        (
            score("no-config", "cfg-missing", json!(0.5)),
            vec!["cfg-missing", "does not exist"],
        ),
        (
            score("other-project", "cfg-b", json!(0.5)),
            vec!["cfg-b", "does not exist"],
        ),
        (
            score("archived", "cfg-archived", json!(0.5)),
            vec!["archived"],
        ),
        (
            event_at(
                "score-create",
                T,
                json!({"id": "wrong-type", "traceId": "t-cfg", "name": "x", "configId": "cfg-num",
                       "value": "good", "dataType": "CATEGORICAL"}),
            ),
            vec!["does not match", "NUMERIC"],
        ),
        (
            score("cat-as-number", "cfg-cat", json!(1)),
            vec!["CATEGORICAL"],
        ),
    ];
    let valid = [
        score("ok-num", "cfg-num", json!(0.25)),
        score("ok-edge", "cfg-num", json!(1)),
        score("ok-cat", "cfg-cat", json!("mixed")),
        score("ok-bool", "cfg-bool", json!(0)),
    ];
    let mut events: Vec<serde_json::Value> =
        invalid.iter().map(|(event, _)| event.clone()).collect();
    events.extend(valid.iter().cloned());
    let body = app.ingest(&Auth::A, events).await;

    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), invalid.len(), "{body}");
    for ((event, needles), error) in invalid.iter().zip(errors) {
        assert_eq!(error["id"], event["id"], "errors keep the batch order");
        assert_eq!(error["status"], 400);
        assert_eq!(error["message"], "Invalid request data");
        let text = error["error"].as_str().unwrap();
        for needle in needles {
            assert!(text.contains(needle), "{text} should mention {needle}");
        }
        let score_id = event["body"]["id"].as_str().unwrap();
        app.get(&format!("/api/public/v2/scores/{score_id}"), &Auth::A)
            .await
            .expect_error(404, "LangfuseNotFoundError");
    }
    let successes: Vec<&str> = body["successes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    let expected: Vec<&str> = valid.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(successes, expected);

    let num = app.get_ok("/api/public/v2/scores/ok-num").await;
    assert_eq!(
        num["name"], "relevance",
        "the config's name replaces the given one"
    );
    assert_eq!(num["value"], 0.25);
    assert_eq!(num["dataType"], "NUMERIC");
    assert_eq!(num["configId"], "cfg-num");
    let edge = app.get_ok("/api/public/v2/scores/ok-edge").await;
    assert_eq!(edge["value"], 1.0, "the bounds are inclusive");
    let cat = app.get_ok("/api/public/v2/scores/ok-cat").await;
    assert_eq!(cat["dataType"], "CATEGORICAL");
    assert_eq!(cat["stringValue"], "mixed");
    assert_eq!(cat["value"], 0.5, "the category's value");
    assert_eq!(cat["name"], "sentiment");
    let boolean = app.get_ok("/api/public/v2/scores/ok-bool").await;
    assert_eq!(boolean["dataType"], "BOOLEAN");
    assert_eq!(boolean["stringValue"], "False");
    assert_eq!(boolean["value"], 0.0);
    let all = app.get_ok("/api/public/v2/scores").await;
    assert_eq!(all["meta"]["totalItems"], valid.len());
    let by_config = app.get_ok("/api/public/v2/scores?configId=cfg-cat").await;
    assert_eq!(by_config["data"][0]["id"], "ok-cat");
    assert_eq!(by_config["meta"]["totalItems"], 1);
}

#[tokio::test]
async fn post_scores_reports_config_violations() {
    let app = with_configs().await;
    let response = app
        .post(
            "/api/public/scores",
            &Auth::A,
            &json!({"id": "direct", "traceId": "t", "name": "x", "configId": "cfg-num", "value": 7}),
        )
        .await;
    let message = response.expect_error(400, "InvalidRequestError");
    assert!(message.contains("maximum"), "{message}");
    app.get("/api/public/v2/scores/direct", &Auth::A)
        .await
        .expect_error(404, "LangfuseNotFoundError");

    let annotation = app
        .post(
            "/api/public/scores",
            &Auth::A,
            &json!({"id": "annotated", "traceId": "t", "name": "x", "configId": "cfg-cat",
                    "value": "good", "source": "ANNOTATION"}),
        )
        .await;
    assert_eq!(annotation.expect(200), &json!({"id": "annotated"}));
    let stored = app.get_ok("/api/public/v2/scores/annotated").await;
    assert_eq!(stored["source"], "ANNOTATION");
    assert_eq!(stored["value"], 1.0);

    let array = app
        .post(
            "/api/public/scores",
            &Auth::A,
            &json!([
                {"id": "arr-ok", "traceId": "t", "name": "x", "configId": "cfg-num", "value": 0.5},
                {"id": "arr-bad", "traceId": "t", "name": "x", "configId": "cfg-cat", "value": "awful"},
            ]),
        )
        .await;
    let body = array.expect(207);
    assert_eq!(body["accepted"], 1);
    assert_eq!(body["rejected"], 1);
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("not a category"), "{message}");
    app.get_ok("/api/public/v2/scores/arr-ok").await;
    app.get("/api/public/v2/scores/arr-bad", &Auth::A)
        .await
        .expect_error(404, "LangfuseNotFoundError");
}

#[tokio::test]
async fn an_update_that_breaks_the_config_keeps_the_stored_score() {
    let app = with_configs().await;
    app.ingest_ok(&Auth::A, vec![score("upd", "cfg-num", json!(0.5))])
        .await;
    let body = app
        .ingest(
            &Auth::A,
            vec![event_at(
                "score-create",
                "2025-08-01T00:00:01Z",
                json!({"id": "upd", "traceId": "t-cfg", "name": "n", "configId": "cfg-num", "value": 9}),
            )],
        )
        .await;
    assert_eq!(body["errors"].as_array().unwrap().len(), 1, "{body}");
    let stored = app.get_ok("/api/public/v2/scores/upd").await;
    assert_eq!(stored["value"], 0.5);
}
