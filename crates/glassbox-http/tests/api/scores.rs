//! Scores: `POST /scores` (object and array), v1/v2 page reads, v3 cursor reads, delete.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::support::{Auth, TestApp, enc, event_at};

fn at(second: u32) -> String {
    format!("2025-07-01T00:00:{second:02}.000Z")
}

/// Trace `st` (user su, tags [x]) with observation so1, and eight scores of every kind
/// and target, one second apart (n1 oldest, cor1 newest).
pub async fn seed(app: &TestApp) {
    let mut events = vec![
        event_at(
            "trace-create",
            &at(0),
            json!({"id": "st", "name": "scored", "userId": "su", "tags": ["x"], "sessionId": "ss-trace", "environment": "prod"}),
        ),
        event_at(
            "span-create",
            &at(0),
            json!({"id": "so1", "traceId": "st", "startTime": at(0)}),
        ),
    ];
    let scores = [
        json!({"id": "n1", "traceId": "st", "name": "accuracy", "value": 0.9, "comment": "c1",
               "metadata": {"m": 1}, "environment": "prod"}),
        json!({"id": "n2", "traceId": "st", "observationId": "so1", "name": "accuracy", "value": 0.2, "dataType": "NUMERIC"}),
        json!({"id": "c1", "traceId": "st", "name": "vibe", "value": "good", "dataType": "CATEGORICAL"}),
        json!({"id": "b1", "traceId": "st", "name": "ok", "value": 1, "dataType": "BOOLEAN"}),
        json!({"id": "tx1", "traceId": "st", "name": "note", "value": "free text", "dataType": "TEXT"}),
        json!({"id": "ses1", "sessionId": "ss1", "name": "session-score", "value": 3}),
        json!({"id": "run1", "datasetRunId": "run-1", "name": "run-score", "value": 4}),
        json!({"id": "cor1", "traceId": "st", "observationId": "so1", "name": "output", "value": "fixed text", "dataType": "CORRECTION"}),
    ];
    for (index, mut score) in scores.into_iter().enumerate() {
        let second = index as u32 + 1;
        score["timestamp"] = json!(at(second));
        events.push(event_at("score-create", &at(second), score));
    }
    app.ingest_ok(&Auth::A, events).await;
}

const NEWEST_FIRST: [&str; 8] = ["cor1", "run1", "ses1", "tx1", "b1", "c1", "n2", "n1"];

fn ids(body: &Value) -> Vec<String> {
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

fn find<'a>(body: &'a Value, id: &str) -> &'a Value {
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["id"] == id)
        .unwrap_or_else(|| panic!("{id} missing in {body}"))
}

#[tokio::test]
async fn post_a_single_score_object() {
    let app = TestApp::new().await;
    let created = app
        .post(
            "/api/public/scores",
            &Auth::A,
            &json!({"traceId": "t-any", "name": "helpfulness", "value": 0.75, "comment": "ok"}),
        )
        .await;
    let body = created.expect(200);
    assert_eq!(body.as_object().unwrap().len(), 1);
    let id = body["id"].as_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    let score = app.get_ok(&format!("/api/public/v2/scores/{id}")).await;
    assert_eq!(score["name"], "helpfulness");
    assert_eq!(score["value"], 0.75);
    assert_eq!(score["dataType"], "NUMERIC");
    assert_eq!(score["source"], "API");
    assert_eq!(score["comment"], "ok");
    assert_eq!(score["traceId"], "t-any");

    // A falsy id gets a new one.
    let empty_id = app
        .post(
            "/api/public/scores",
            &Auth::A,
            &json!({"id": "", "traceId": "t-any", "name": "empty id", "value": 1}),
        )
        .await;
    let generated = empty_id.expect(200)["id"].as_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&generated).is_ok(), "{generated}");
    app.get_ok(&format!("/api/public/v2/scores/{generated}"))
        .await;

    let given = app
        .post(
            "/api/public/scores",
            &Auth::A,
            &json!({"id": "given-score", "traceId": "t-any", "name": "n", "value": "cat", "dataType": "CATEGORICAL"}),
        )
        .await;
    assert_eq!(given.expect(200), &json!({"id": "given-score"}));
    // The same id again updates the score.
    app.post(
        "/api/public/scores",
        &Auth::A,
        &json!({"id": "given-score", "traceId": "t-any", "name": "n", "value": "dog", "dataType": "CATEGORICAL"}),
    )
    .await
    .expect(200);
    let score = app.get_ok("/api/public/v2/scores/given-score").await;
    assert_eq!(score["stringValue"], "dog");
    assert_eq!(score["value"], 0.0);

    for (bad, needle) in [
        (
            json!({"traceId": "t", "name": "n", "value": 1, "source": "EVAL"}),
            "source",
        ),
        (
            json!({"traceId": "t", "name": "n", "value": 1, "source": "ANNOTATION"}),
            "configId",
        ),
        (json!({"traceId": "t", "value": 1}), "name"),
        (json!({"name": "n", "value": 1}), "traceId"),
        (
            json!({"traceId": "t", "sessionId": "s", "name": "n", "value": 1}),
            "traceId",
        ),
        (
            json!({"traceId": "t", "name": "n", "value": "x", "dataType": "NUMERIC"}),
            "value",
        ),
        (
            json!({"traceId": "t", "name": "n", "value": 2, "dataType": "BOOLEAN"}),
            "value",
        ),
        (
            json!({"observationId": "o", "sessionId": "s", "name": "n", "value": 1}),
            "observationId",
        ),
    ] {
        let response = app.post("/api/public/scores", &Auth::A, &bad).await;
        let message = response.expect_error(400, "InvalidRequestError");
        assert!(message.contains(needle), "{bad}: {message}");
    }
    app.post("/api/public/scores", &Auth::A, &json!("score"))
        .await
        .expect_error(400, "InvalidRequestError");
    let all = app.get_ok("/api/public/v2/scores").await;
    assert_eq!(all["meta"]["totalItems"], 3);
}

#[tokio::test]
async fn post_a_json_array_of_scores_as_python_sdk_5_does() {
    let app = TestApp::new().await;
    let accepted = app
        .post(
            "/api/public/scores",
            &Auth::A,
            &json!([
                {"id": "a1", "traceId": "t", "observationId": "o", "name": "span-quality", "value": 0.7,
                 "timestamp": "2026-11-27T04:22:31.249745Z"},
                {"id": "a2", "traceId": "t", "name": "gen-helpfulness", "value": 1.0, "dataType": "BOOLEAN"},
                {"id": "a3", "sessionId": "s", "name": "session", "value": "fine", "dataType": "CATEGORICAL"},
            ]),
        )
        .await;
    assert_eq!(accepted.expect(202), &json!({"message": "Accepted"}));
    let a2 = app.get_ok("/api/public/v2/scores/a2").await;
    assert_eq!(a2["dataType"], "BOOLEAN");
    assert_eq!(a2["value"], 1.0);
    assert_eq!(a2["stringValue"], "True");
    let a1 = app.get_ok("/api/public/v2/scores/a1").await;
    assert_eq!(a1["observationId"], "o");
    let a3 = app.get_ok("/api/public/v2/scores/a3").await;
    assert_eq!(a3["sessionId"], "s");
    assert_eq!(a3["stringValue"], "fine");

    let mixed = app
        .post(
            "/api/public/scores",
            &Auth::A,
            &json!([
                {"id": "m1", "traceId": "t", "name": "ok", "value": 1},
                {"id": "m2", "traceId": "t", "value": 1},
                {"id": "m3", "traceId": "t", "name": "ok", "value": 2},
                "not an object",
            ]),
        )
        .await;
    let body = mixed.expect(207);
    assert_eq!(body["accepted"], 2);
    assert_eq!(body["rejected"], 2);
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2);
    for error in errors {
        assert!(error["message"].is_string(), "{error}");
    }
    app.get_ok("/api/public/v2/scores/m1").await;
    app.get_ok("/api/public/v2/scores/m3").await;
    app.get("/api/public/v2/scores/m2", &Auth::A)
        .await
        .expect_error(404, "LangfuseNotFoundError");

    let empty = app.post("/api/public/scores", &Auth::A, &json!([])).await;
    assert_eq!(empty.expect(202), &json!({"message": "Accepted"}));
}

#[tokio::test]
async fn v2_list_filters_and_shapes() {
    let app = TestApp::new().await;
    seed(&app).await;
    let all = app.get_ok("/api/public/v2/scores").await;
    assert_eq!(ids(&all), NEWEST_FIRST);
    assert_eq!(
        all["meta"],
        json!({"page": 1, "limit": 50, "totalItems": 8, "totalPages": 1})
    );
    let n1 = find(&all, "n1");
    assert_eq!(n1["value"], 0.9);
    assert_eq!(n1["comment"], "c1");
    assert_eq!(n1["metadata"], json!({"m": 1}));
    assert_eq!(n1["environment"], "prod");
    assert_eq!(n1["timestamp"], at(1));
    assert_eq!(n1["projectId"], "project-a");
    assert_eq!(
        n1["trace"],
        json!({"userId": "su", "tags": ["x"], "environment": "prod", "sessionId": "ss-trace"})
    );
    assert!(
        n1.get("stringValue").is_none() || n1["stringValue"].is_null(),
        "NUMERIC has no stringValue"
    );
    let c1 = find(&all, "c1");
    assert_eq!(c1["stringValue"], "good");
    assert_eq!(c1["value"], 0.0);
    let b1 = find(&all, "b1");
    assert_eq!(b1["stringValue"], "True");
    assert_eq!(b1["value"], 1.0);
    let tx1 = find(&all, "tx1");
    assert_eq!(tx1["stringValue"], "free text");
    assert!(tx1.get("value").is_none(), "TEXT has no value: {tx1}");
    let ses1 = find(&all, "ses1");
    assert_eq!(ses1["sessionId"], "ss1");
    assert_eq!(ses1["traceId"], Value::Null);
    assert_eq!(ses1["trace"], Value::Null);
    assert_eq!(find(&all, "run1")["datasetRunId"], "run-1");
    assert_eq!(find(&all, "cor1")["dataType"], "CORRECTION");
    assert_eq!(find(&all, "cor1")["stringValue"], "fixed text");

    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("name=accuracy", vec!["n2", "n1"]),
        ("dataType=CATEGORICAL", vec!["c1"]),
        ("traceId=st", vec!["cor1", "tx1", "b1", "c1", "n2", "n1"]),
        ("sessionId=ss1", vec!["ses1"]),
        ("datasetRunId=run-1", vec!["run1"]),
        ("observationId=so1", vec!["cor1", "n2"]),
        ("scoreIds=n1,b1", vec!["b1", "n1"]),
        (
            "dataType=NUMERIC&value=0.5&operator=%3E",
            vec!["run1", "ses1", "n1"],
        ),
        ("dataType=NUMERIC&value=0.2&operator=%3C%3D", vec!["n2"]),
        ("userId=su", vec!["cor1", "tx1", "b1", "c1", "n2", "n1"]),
        ("traceTags=x&name=vibe", vec!["c1"]),
        ("environment=prod", vec!["n1"]),
        ("source=API&limit=2&page=2", vec!["ses1", "tx1"]),
    ];
    for (query, expected) in cases {
        let body = app.get_ok(&format!("/api/public/v2/scores?{query}")).await;
        assert_eq!(ids(&body), expected, "{query}");
    }
    let window = format!("fromTimestamp={}&toTimestamp={}", enc(&at(2)), enc(&at(4)));
    let body = app.get_ok(&format!("/api/public/v2/scores?{window}")).await;
    assert_eq!(ids(&body), ["c1", "n2"]);
    let filter = json!([{"type": "string", "column": "comment", "operator": "=", "value": "c1"}]);
    let body = app
        .get_ok(&format!(
            "/api/public/v2/scores?filter={}",
            enc(&filter.to_string())
        ))
        .await;
    assert_eq!(ids(&body), ["n1"]);

    let score_only = app.get_ok("/api/public/v2/scores?fields=score").await;
    assert!(find(&score_only, "n1").get("trace").is_none());
    for bad in [
        "fields=trace",
        "fields=score&userId=su",
        "dataType=NOPE",
        "operator=~&value=1",
        "source=ROBOT",
    ] {
        app.get(&format!("/api/public/v2/scores?{bad}"), &Auth::A)
            .await
            .expect_error(400, "InvalidRequestError");
    }
}

#[tokio::test]
async fn v1_lists_only_trace_scores() {
    let app = TestApp::new().await;
    seed(&app).await;
    let v1 = app.get_ok("/api/public/scores").await;
    assert_eq!(ids(&v1), ["tx1", "b1", "c1", "n2", "n1"]);
    assert_eq!(v1["meta"]["totalItems"], 5);
    assert_eq!(
        find(&v1, "n1")["trace"],
        json!({"userId": "su", "tags": ["x"], "environment": "prod"})
    );
    let one = app.get_ok("/api/public/scores/b1").await;
    assert_eq!(one["id"], "b1");
    assert_eq!(one["stringValue"], "True");
    for hidden in ["ses1", "run1", "cor1", "nope"] {
        let response = app
            .get(&format!("/api/public/scores/{hidden}"), &Auth::A)
            .await;
        assert_eq!(
            response.expect_error(404, "LangfuseNotFoundError"),
            "Score not found"
        );
    }
    app.get("/api/public/scores?dataType=CORRECTION", &Auth::A)
        .await
        .expect_error(400, "InvalidRequestError");
    let v2_one = app.get_ok("/api/public/v2/scores/ses1").await;
    assert_eq!(v2_one["sessionId"], "ss1");
    app.get("/api/public/v2/scores/nope", &Auth::A)
        .await
        .expect_error(404, "LangfuseNotFoundError");
}

#[tokio::test]
async fn v3_strict_params_fields_and_values() {
    let app = TestApp::new().await;
    seed(&app).await;
    let core = app.get_ok("/api/public/v3/scores").await;
    assert_eq!(ids(&core), NEWEST_FIRST);
    assert_eq!(core["meta"], json!({"limit": 50}));
    let core_keys: BTreeSet<&str> = [
        "id",
        "projectId",
        "name",
        "dataType",
        "value",
        "source",
        "timestamp",
        "environment",
        "createdAt",
        "updatedAt",
    ]
    .into();
    for item in core["data"].as_array().unwrap() {
        let keys: BTreeSet<&str> = item
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, core_keys, "{item}");
    }
    assert_eq!(find(&core, "n1")["value"], 0.9);
    assert_eq!(find(&core, "b1")["value"], true);
    assert_eq!(find(&core, "c1")["value"], "good");
    assert_eq!(find(&core, "tx1")["value"], "free text");
    assert_eq!(find(&core, "cor1")["value"], "fixed text");

    let full = app
        .get_ok("/api/public/v3/scores?fields=core,details,subject,annotation")
        .await;
    let n1 = find(&full, "n1");
    assert_eq!(n1["comment"], "c1");
    assert_eq!(n1["metadata"], json!({"m": 1}));
    assert_eq!(n1["configId"], Value::Null);
    assert_eq!(n1["authorUserId"], Value::Null);
    assert_eq!(n1["subject"], json!({"kind": "trace", "id": "st"}));
    assert_eq!(
        find(&full, "n2")["subject"],
        json!({"kind": "observation", "id": "so1", "traceId": "st"})
    );
    assert_eq!(
        find(&full, "ses1")["subject"],
        json!({"kind": "session", "id": "ss1"})
    );
    assert_eq!(
        find(&full, "run1")["subject"],
        json!({"kind": "experiment", "id": "run-1"})
    );
    let subject_only = app.get_ok("/api/public/v3/scores?fields=subject").await;
    assert!(find(&subject_only, "n1").get("comment").is_none());

    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("dataType=BOOLEAN&value=true", vec!["b1"]),
        ("dataType=BOOLEAN&value=false", vec![]),
        ("dataType=CATEGORICAL&value=good,bad", vec!["c1"]),
        ("dataType=NUMERIC&value=0.2", vec!["n2"]),
        ("dataType=NUMERIC&valueMin=0.5", vec!["run1", "ses1", "n1"]),
        (
            "dataType=NUMERIC&valueMin=0.5&valueMax=3.5",
            vec!["ses1", "n1"],
        ),
        ("name=accuracy,vibe", vec!["c1", "n2", "n1"]),
        ("id=n1,n2", vec!["n2", "n1"]),
        ("source=api&dataType=TEXT", vec!["tx1"]),
        ("traceId=st&observationId=so1", vec!["cor1", "n2"]),
        ("sessionId=ss1", vec!["ses1"]),
        ("experimentId=run-1", vec!["run1"]),
        ("environment=prod", vec!["n1"]),
        (
            "fromTimestamp=2025-07-01T00:00:07&toTimestamp=2025-07-01T00:00:09Z",
            vec!["cor1", "run1"],
        ),
    ];
    for (query, expected) in cases {
        let body = app.get_ok(&format!("/api/public/v3/scores?{query}")).await;
        assert_eq!(ids(&body), expected, "{query}");
    }

    for (bad, needle) in [
        ("foo=1", "foo"),
        ("userId=su", "v2"),
        ("traceTags=x", "v2"),
        ("page=1", "page"),
        ("fields=core,bogus", "bogus"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("value=1", "dataType"),
        ("dataType=TEXT&value=x", "dataType"),
        ("dataType=BOOLEAN&value=yes", "true"),
        ("valueMin=1", "NUMERIC"),
        ("observationId=so1", "traceId"),
        ("traceId=st&sessionId=ss1", "at most one"),
        ("cursor=@@@", "cursor"),
    ] {
        let response = app
            .get(&format!("/api/public/v3/scores?{bad}"), &Auth::A)
            .await;
        let message = response.expect_error(400, "InvalidRequestError");
        assert!(message.contains(needle), "{bad}: {message}");
    }
}

#[tokio::test]
async fn v3_cursor_visits_every_score_once() {
    let app = TestApp::new().await;
    seed(&app).await;
    // Scores sharing one timestamp are ordered by id.
    let mut events = Vec::new();
    for index in 0..5 {
        events.push(event_at(
            "score-create",
            &at(30),
            json!({"id": format!("same-{index}"), "traceId": "st", "name": "same", "value": index, "timestamp": at(30)}),
        ));
    }
    app.ingest_ok(&Auth::A, events).await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut uri = "/api/public/v3/scores?limit=3".to_owned();
        if let Some(cursor) = &cursor {
            uri.push_str(&format!("&cursor={}", enc(cursor)));
        }
        let body = app.get_ok(&uri).await;
        assert_eq!(body["meta"]["limit"], 3);
        seen.extend(ids(&body));
        pages += 1;
        assert!(pages < 20, "the cursor does not end");
        match body["meta"]["cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let mut expected: Vec<String> = (0..5).rev().map(|i| format!("same-{i}")).collect();
    expected.extend(NEWEST_FIRST.iter().map(|id| (*id).to_owned()));
    assert_eq!(seen, expected);
    assert_eq!(pages, 5);
}

#[tokio::test]
async fn delete_a_score() {
    let app = TestApp::new().await;
    seed(&app).await;
    let response = app.delete("/api/public/scores/n1", &Auth::A).await;
    assert_eq!(
        response.expect(202),
        &json!({"message": "Score deletion queued successfully"})
    );
    app.get("/api/public/v2/scores/n1", &Auth::A)
        .await
        .expect_error(404, "LangfuseNotFoundError");
    let all = app.get_ok("/api/public/v2/scores").await;
    assert_eq!(all["meta"]["totalItems"], 7);
    let trace = app.get_ok("/api/public/traces/st").await;
    assert!(
        !trace["scores"]
            .as_array()
            .unwrap()
            .iter()
            .any(|score| score["id"] == "n1")
    );
    // Session scores can be deleted too.
    app.delete("/api/public/scores/ses1", &Auth::A)
        .await
        .expect(202);
    app.get("/api/public/v2/scores/ses1", &Auth::A)
        .await
        .expect_error(404, "LangfuseNotFoundError");
}

#[tokio::test]
async fn score_pages_are_stable_when_timestamps_tie() {
    let app = TestApp::new().await;
    let events: Vec<Value> = (0..17)
        .map(|index| {
            event_at(
                "score-create",
                &at(0),
                json!({"id": format!("tie-{index:02}"), "traceId": "t", "name": "n", "value": index, "timestamp": at(0)}),
            )
        })
        .collect();
    app.ingest_ok(&Auth::A, events).await;
    for base in ["/api/public/v2/scores", "/api/public/scores"] {
        let mut seen = Vec::new();
        for page in 1..=3 {
            let body = app.get_ok(&format!("{base}?limit=6&page={page}")).await;
            seen.extend(ids(&body));
        }
        let unique: BTreeSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), 17, "{base}: {seen:?}");
    }
}
