//! The score configs API: create (with every rule named in its 400), list, get, update
//! and archive; a PATCHed or archived config applies to every score written after it;
//! project B's key sees none of project A's configs.

use serde_json::{Value, json};

use crate::support::{Auth, TestApp};

const CONFIGS: &str = "/api/public/score-configs";

async fn create(app: &TestApp, body: Value) -> Value {
    app.post(CONFIGS, &Auth::A, &body).await.expect(200).clone()
}

#[tokio::test]
async fn creates_each_data_type_with_its_shape() {
    let app = TestApp::new().await;
    let numeric = create(
        &app,
        json!({"name": "relevance", "dataType": "NUMERIC", "minValue": 0, "maxValue": 1,
               "description": "0 = off topic"}),
    )
    .await;
    assert_eq!(numeric["name"], "relevance");
    assert_eq!(numeric["dataType"], "NUMERIC");
    assert_eq!(numeric["projectId"], "project-a");
    assert_eq!(numeric["isArchived"], false);
    assert_eq!(numeric["minValue"], 0.0);
    assert_eq!(numeric["maxValue"], 1.0);
    assert_eq!(numeric["categories"], Value::Null);
    assert_eq!(numeric["description"], "0 = off topic");
    assert_eq!(numeric["createdAt"], numeric["updatedAt"]);
    let id = numeric["id"].as_str().unwrap();
    assert_eq!(app.get_ok(&format!("{CONFIGS}/{id}")).await, numeric);

    let categorical = create(
        &app,
        json!({"name": "tone", "dataType": "CATEGORICAL",
               "categories": [{"label": "rude", "value": 0}, {"label": "kind", "value": 1}]}),
    )
    .await;
    assert_eq!(
        categorical["categories"],
        json!([{"label": "rude", "value": 0.0}, {"label": "kind", "value": 1.0}])
    );
    assert_eq!(categorical["minValue"], Value::Null);

    let boolean = create(&app, json!({"name": "correct", "dataType": "BOOLEAN"})).await;
    assert_eq!(
        boolean["categories"],
        json!([{"label": "True", "value": 1.0}, {"label": "False", "value": 0.0}]),
        "BOOLEAN categories are generated"
    );
    let text = create(&app, json!({"name": "feedback", "dataType": "TEXT"})).await;
    assert_eq!(text["categories"], Value::Null);

    let list = app.get_ok(CONFIGS).await;
    assert_eq!(list["meta"]["totalItems"], 4);
    assert_eq!(list["meta"]["page"], 1);
    assert_eq!(list["meta"]["totalPages"], 1);
    let page = app.get_ok(&format!("{CONFIGS}?limit=3&page=2")).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert_eq!(page["meta"]["totalPages"], 2);
}

#[tokio::test]
async fn invalid_configs_are_rejected_naming_the_rule() {
    let app = TestApp::new().await;
    let cases = [
        (json!({"dataType": "NUMERIC"}), "name is required"),
        (json!({"name": "x"}), "dataType is required"),
        (
            json!({"name": "x", "dataType": "CORRECTION"}),
            "dataType must be",
        ),
        (
            json!({"name": "x", "dataType": "numeric"}),
            "dataType must be",
        ),
        (
            json!({"name": "x".repeat(36), "dataType": "TEXT"}),
            "1 to 35",
        ),
        (
            json!({"name": "a/b", "dataType": "TEXT"}),
            "may only contain",
        ),
        (
            json!({"name": "x", "dataType": "NUMERIC", "minValue": 5, "maxValue": 5}),
            "less than maxValue",
        ),
        (
            json!({"name": "x", "dataType": "NUMERIC", "minValue": "0"}),
            "minValue must be a number",
        ),
        (
            json!({"name": "x", "dataType": "NUMERIC", "categories": [{"label": "a", "value": 1}]}),
            "only allowed for CATEGORICAL",
        ),
        (
            json!({"name": "x", "dataType": "CATEGORICAL"}),
            "at least one category",
        ),
        (
            json!({"name": "x", "dataType": "CATEGORICAL", "categories": []}),
            "at least one category",
        ),
        (
            json!({"name": "x", "dataType": "CATEGORICAL",
                   "categories": [{"label": "a", "value": 1}, {"label": "a", "value": 2}]}),
            "labels must be unique",
        ),
        (
            json!({"name": "x", "dataType": "CATEGORICAL",
                   "categories": [{"label": "a", "value": 1}, {"label": "b", "value": 1}]}),
            "values must be unique",
        ),
        (
            json!({"name": "x", "dataType": "CATEGORICAL", "categories": [{"label": "a"}]}),
            "numeric `value`",
        ),
        (
            json!({"name": "x", "dataType": "CATEGORICAL", "maxValue": 3,
                   "categories": [{"label": "a", "value": 1}]}),
            "only allowed for NUMERIC",
        ),
        (
            json!({"name": "x", "dataType": "BOOLEAN", "categories": [{"label": "yes", "value": 1}]}),
            "fixed categories",
        ),
        (
            json!({"name": "x", "dataType": "TEXT", "minValue": 1}),
            "only allowed for NUMERIC",
        ),
        (json!([1, 2]), "JSON object"),
    ];
    for (body, needle) in cases {
        let message = app
            .post(CONFIGS, &Auth::A, &body)
            .await
            .expect_error(400, "InvalidRequestError");
        assert!(
            message.contains(needle),
            "{body}: `{message}` should mention {needle}"
        );
    }
    assert_eq!(app.get_ok(CONFIGS).await["meta"]["totalItems"], 0);
    app.get(&format!("{CONFIGS}/nope"), &Auth::A)
        .await
        .expect_error(404, "LangfuseNotFoundError");
}

fn score(id: &str, config: &str, value: Value) -> Value {
    json!({"id": id, "traceId": "t-cfg", "name": "ignored", "configId": config, "value": value})
}

#[tokio::test]
async fn updates_and_archiving_apply_to_later_scores() {
    let app = TestApp::new().await;
    let config = create(
        &app,
        json!({"name": "stars", "dataType": "NUMERIC", "minValue": 1, "maxValue": 5}),
    )
    .await;
    let id = config["id"].as_str().unwrap().to_owned();
    let url = format!("{CONFIGS}/{id}");
    app.post("/api/public/scores", &Auth::A, &score("s1", &id, json!(5)))
        .await
        .expect(200);

    let narrowed = app
        .patch(
            &url,
            &Auth::A,
            &json!({"maxValue": 3, "description": "1..3 now"}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(narrowed["maxValue"], 3.0);
    assert_eq!(narrowed["minValue"], 1.0, "untouched fields stay");
    assert_eq!(narrowed["description"], "1..3 now");
    assert_eq!(narrowed["createdAt"], config["createdAt"]);
    assert_eq!(app.get_ok(&url).await, narrowed);
    let message = app
        .post("/api/public/scores", &Auth::A, &score("s2", &id, json!(4)))
        .await
        .expect_error(400, "InvalidRequestError");
    assert!(message.contains("above the maximum 3"), "{message}");
    assert_eq!(
        app.get_ok("/api/public/v2/scores/s1").await["value"],
        5.0,
        "stored scores are not re-checked"
    );
    // `null` clears a bound.
    let open = app
        .patch(&url, &Auth::A, &json!({"maxValue": null}))
        .await
        .expect(200)
        .clone();
    assert_eq!(open["maxValue"], Value::Null);
    app.post("/api/public/scores", &Auth::A, &score("s3", &id, json!(40)))
        .await
        .expect(200);

    let archived = app
        .patch(&url, &Auth::A, &json!({"isArchived": true}))
        .await
        .expect(200)
        .clone();
    assert_eq!(archived["isArchived"], true);
    let message = app
        .post("/api/public/scores", &Auth::A, &score("s4", &id, json!(2)))
        .await
        .expect_error(400, "InvalidRequestError");
    assert!(message.contains("archived"), "{message}");
    // Also through the ingestion API: the 207 names the rule.
    let body = app
        .ingest(
            &Auth::A,
            vec![crate::support::event(
                "score-create",
                score("s5", &id, json!(2)),
            )],
        )
        .await;
    assert!(
        body["errors"][0]["error"]
            .as_str()
            .unwrap()
            .contains("archived"),
        "{body}"
    );
    app.patch(
        &url,
        &Auth::A,
        &json!({"isArchived": false, "name": "stars (v2)"}),
    )
    .await
    .expect(200);
    app.post("/api/public/scores", &Auth::A, &score("s4", &id, json!(2)))
        .await
        .expect(200);
    let stored = app.get_ok("/api/public/v2/scores/s4").await;
    assert_eq!(
        stored["name"], "stars (v2)",
        "the renamed config names new scores"
    );

    // Invalid patches change nothing and name the rule.
    let cases = [
        (json!({}), "at least one of"),
        (json!({"minValue": 50}), "less than maxValue"),
        (
            json!({"categories": [{"label": "a", "value": 1}]}),
            "only allowed for CATEGORICAL",
        ),
        (json!({"dataType": "TEXT"}), "cannot be changed"),
        (json!({"isArchived": "yes"}), "true or false"),
        (json!({"name": ""}), "must not be empty"),
    ];
    app.patch(&url, &Auth::A, &json!({"maxValue": 10}))
        .await
        .expect(200);
    for (body, needle) in cases {
        let message = app
            .patch(&url, &Auth::A, &body)
            .await
            .expect_error(400, "InvalidRequestError");
        assert!(
            message.contains(needle),
            "{body}: `{message}` should mention {needle}"
        );
    }
    let after = app.get_ok(&url).await;
    assert_eq!(after["maxValue"], 10.0);
    assert_eq!(after["minValue"], 1.0);
    app.patch(
        &format!("{CONFIGS}/missing"),
        &Auth::A,
        &json!({"isArchived": true}),
    )
    .await
    .expect_error(404, "LangfuseNotFoundError");
}

#[tokio::test]
async fn categorical_patch_changes_allowed_labels() {
    let app = TestApp::new().await;
    let config = create(
        &app,
        json!({"name": "mood", "dataType": "CATEGORICAL",
               "categories": [{"label": "sad", "value": 0}, {"label": "glad", "value": 1}]}),
    )
    .await;
    let id = config["id"].as_str().unwrap().to_owned();
    app.patch(
        &format!("{CONFIGS}/{id}"),
        &Auth::A,
        &json!({"categories": [{"label": "sad", "value": 0}, {"label": "ecstatic", "value": 2}]}),
    )
    .await
    .expect(200);
    let message = app
        .post(
            "/api/public/scores",
            &Auth::A,
            &score("g", &id, json!("glad")),
        )
        .await
        .expect_error(400, "InvalidRequestError");
    assert!(message.contains("allowed: sad, ecstatic"), "{message}");
    app.post(
        "/api/public/scores",
        &Auth::A,
        &score("e", &id, json!("ecstatic")),
    )
    .await
    .expect(200);
    let stored = app.get_ok("/api/public/v2/scores/e").await;
    assert_eq!(stored["value"], 2.0);
    assert_eq!(stored["stringValue"], "ecstatic");
}

#[tokio::test]
async fn project_b_sees_none_of_project_a_configs() {
    let app = TestApp::new().await;
    let config = create(&app, json!({"name": "private", "dataType": "TEXT"})).await;
    let id = config["id"].as_str().unwrap();
    let url = format!("{CONFIGS}/{id}");
    app.get(&url, &Auth::B)
        .await
        .expect_error(404, "LangfuseNotFoundError");
    app.patch(&url, &Auth::B, &json!({"isArchived": true}))
        .await
        .expect_error(404, "LangfuseNotFoundError");
    let list = app.get(CONFIGS, &Auth::B).await.expect(200).clone();
    assert_eq!(list["data"], json!([]));
    assert_eq!(list["meta"]["totalItems"], 0);
    assert_eq!(app.get_ok(&url).await["isArchived"], false);
    // A score of project B cannot use it.
    let message = app
        .post(
            "/api/public/scores",
            &Auth::B,
            &json!({"traceId": "t", "name": "n", "configId": id, "value": "x"}),
        )
        .await
        .expect_error(400, "InvalidRequestError");
    assert!(message.contains("does not exist"), "{message}");
    // The scores-only Bearer key may not manage configs.
    app.post(
        CONFIGS,
        &Auth::BearerA,
        &json!({"name": "x", "dataType": "TEXT"}),
    )
    .await
    .expect_error(403, "ForbiddenError");
    app.get(CONFIGS, &Auth::BearerA)
        .await
        .expect_error(403, "ForbiddenError");
}
