//! Score config, comment and annotation queue responses against Langfuse's OpenAPI
//! contract (every required property present, declared types and enum values).

use axum::http::Method;
use serde_json::json;

use crate::annotation_queues::add_member;
use crate::openapi_shapes::Contract;
use crate::support::{Auth, TestApp, event_at};

#[tokio::test]
async fn evaluation_responses_match_the_contract() {
    let contract = Contract::load();
    let app = TestApp::new().await;
    add_member(&app, "org-a", "ann").await;
    app.ingest_ok(
        &Auth::A,
        vec![event_at(
            "trace-create",
            "2025-12-01T00:00:00Z",
            json!({"id": "shape-trace"}),
        )],
    )
    .await;
    let mut problems = Vec::new();
    let mut check = |path: &str, method: &str, response: &crate::support::Resp| {
        let (schema, status) = contract.response_schema(path, method);
        assert_eq!(
            response.status.as_str(),
            status,
            "{method} {path}: {}",
            response.json
        );
        let name = Contract::schema_name(schema);
        contract.check(
            &response.json,
            schema,
            &format!("{method} {path} ({name})"),
            &mut problems,
        );
        response.json.clone()
    };

    let mut config_ids = Vec::new();
    for body in [
        json!({"name": "n", "dataType": "NUMERIC", "minValue": 0, "maxValue": 1, "description": "d"}),
        json!({"name": "c", "dataType": "CATEGORICAL", "categories": [{"label": "a", "value": 1}]}),
        json!({"name": "b", "dataType": "BOOLEAN"}),
        json!({"name": "t", "dataType": "TEXT"}),
    ] {
        let response = app.post("/api/public/score-configs", &Auth::A, &body).await;
        let config = check("/api/public/score-configs", "post", &response);
        config_ids.push(config["id"].as_str().unwrap().to_owned());
    }
    let listed = app.get("/api/public/score-configs", &Auth::A).await;
    check("/api/public/score-configs", "get", &listed);
    let one = format!("/api/public/score-configs/{}", config_ids[1]);
    check(
        "/api/public/score-configs/{configId}",
        "get",
        &app.get(&one, &Auth::A).await,
    );
    let patched = app
        .patch(&one, &Auth::A, &json!({"isArchived": true}))
        .await;
    check("/api/public/score-configs/{configId}", "patch", &patched);

    let created = app
        .post(
            "/api/public/comments",
            &Auth::A,
            &json!({"projectId": "project-a", "objectType": "TRACE", "objectId": "shape-trace",
                    "content": "c", "authorUserId": "ann"}),
        )
        .await;
    let comment = check("/api/public/comments", "post", &created);
    check(
        "/api/public/comments",
        "get",
        &app.get("/api/public/comments", &Auth::A).await,
    );
    let comment_url = format!("/api/public/comments/{}", comment["id"].as_str().unwrap());
    check(
        "/api/public/comments/{commentId}",
        "get",
        &app.get(&comment_url, &Auth::A).await,
    );

    let queue = check(
        "/api/public/annotation-queues",
        "post",
        &app.post(
            "/api/public/annotation-queues",
            &Auth::A,
            &json!({"name": "q", "scoreConfigIds": config_ids}),
        )
        .await,
    );
    let queue_url = format!(
        "/api/public/annotation-queues/{}",
        queue["id"].as_str().unwrap()
    );
    check(
        "/api/public/annotation-queues",
        "get",
        &app.get("/api/public/annotation-queues", &Auth::A).await,
    );
    check(
        "/api/public/annotation-queues/{queueId}",
        "get",
        &app.get(&queue_url, &Auth::A).await,
    );
    let items_path = "/api/public/annotation-queues/{queueId}/items";
    let item = check(
        items_path,
        "post",
        &app.post(
            &format!("{queue_url}/items"),
            &Auth::A,
            &json!({"objectId": "shape-trace", "objectType": "TRACE", "status": "COMPLETED"}),
        )
        .await,
    );
    check(
        items_path,
        "get",
        &app.get(&format!("{queue_url}/items"), &Auth::A).await,
    );
    let item_path = "/api/public/annotation-queues/{queueId}/items/{itemId}";
    let item_url = format!("{queue_url}/items/{}", item["id"].as_str().unwrap());
    check(item_path, "get", &app.get(&item_url, &Auth::A).await);
    check(
        item_path,
        "patch",
        &app.patch(&item_url, &Auth::A, &json!({"status": "PENDING"}))
            .await,
    );
    let assignments = "/api/public/annotation-queues/{queueId}/assignments";
    let assignment = app
        .post(
            &format!("{queue_url}/assignments"),
            &Auth::A,
            &json!({"userId": "ann"}),
        )
        .await;
    check(assignments, "post", &assignment);
    let unassigned = app
        .json(
            Method::DELETE,
            &format!("{queue_url}/assignments"),
            &Auth::A,
            &json!({"userId": "ann"}),
        )
        .await;
    check(assignments, "delete", &unassigned);
    check(item_path, "delete", &app.delete(&item_url, &Auth::A).await);
    assert!(
        problems.is_empty(),
        "{} contract problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
