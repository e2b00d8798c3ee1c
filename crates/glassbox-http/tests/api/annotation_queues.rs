//! The annotation queues API: queues (unique names, existing score configs), items
//! (status, completedAt, delete), assignments, glassbox's item locks and "next item",
//! the bulk endpoint queuing 10,000 traces in one call, and project isolation.

use serde_json::{Value, json};

use glassbox_model::time::now_micros;
use glassbox_model::{Role, User};

use crate::support::{Auth, TestApp, event_at};

const QUEUES: &str = "/api/public/annotation-queues";
const T: &str = "2025-10-01T00:00:00Z";

/// Makes `user_id` a member of the organization `org` ("org-a" owns project A).
pub async fn add_member(app: &TestApp, org: &str, user_id: &str) {
    app.stores
        .admin
        .ensure_user(User {
            id: user_id.to_owned(),
            email: format!("{user_id}@example.com"),
            name: user_id.to_owned(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
            created_at: now_micros(),
        })
        .await
        .expect("user");
    app.stores
        .admin
        .set_organization_role(org, user_id, Role::Member)
        .await
        .expect("membership");
}

/// Project A with two score configs, a queue offering them and members ann, bob, cy.
async fn with_queue() -> (TestApp, String, Vec<String>) {
    let app = TestApp::new().await;
    let mut configs = Vec::new();
    for (name, data_type) in [("helpful", "BOOLEAN"), ("notes", "TEXT")] {
        let config = app
            .post(
                "/api/public/score-configs",
                &Auth::A,
                &json!({"name": name, "dataType": data_type}),
            )
            .await
            .expect(200)
            .clone();
        configs.push(config["id"].as_str().unwrap().to_owned());
    }
    let queue = app
        .post(
            QUEUES,
            &Auth::A,
            &json!({"name": "review", "description": "weekly review", "scoreConfigIds": configs}),
        )
        .await
        .expect(200)
        .clone();
    for user in ["ann", "bob", "cy"] {
        add_member(&app, "org-a", user).await;
    }
    add_member(&app, "org-b", "bea").await;
    (app, queue["id"].as_str().unwrap().to_owned(), configs)
}

async fn add_item(app: &TestApp, queue: &str, body: Value) -> Value {
    app.post(&format!("{QUEUES}/{queue}/items"), &Auth::A, &body)
        .await
        .expect(200)
        .clone()
}

fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data in {page}"))
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn queues_have_unique_names_and_existing_configs() {
    let (app, queue_id, configs) = with_queue().await;
    let queue = app.get_ok(&format!("{QUEUES}/{queue_id}")).await;
    assert_eq!(queue["name"], "review");
    assert_eq!(queue["description"], "weekly review");
    assert_eq!(queue["scoreConfigIds"], json!(configs));
    assert_eq!(queue["createdAt"], queue["updatedAt"]);

    let message = app
        .post(
            QUEUES,
            &Auth::A,
            &json!({"name": "review", "scoreConfigIds": [configs[0]]}),
        )
        .await
        .expect_error(400, "InvalidRequestError");
    assert_eq!(message, "A queue with this name already exists.");
    let cases = [
        (
            json!({"name": "x", "scoreConfigIds": ["nope"]}),
            "`nope` does not exist",
        ),
        (json!({"name": "x", "scoreConfigIds": []}), "at least one"),
        (json!({"name": "x"}), "scoreConfigIds is required"),
        (json!({"scoreConfigIds": [configs[0]]}), "name is required"),
        (
            json!({"name": "  ", "scoreConfigIds": [configs[0]]}),
            "blank",
        ),
        (
            json!({"name": "x", "scoreConfigIds": "abc"}),
            "array of strings",
        ),
    ];
    for (body, needle) in cases {
        let message = app
            .post(QUEUES, &Auth::A, &body)
            .await
            .expect_error(400, "InvalidRequestError");
        assert!(
            message.contains(needle),
            "`{message}` should mention {needle}"
        );
    }
    let second = app
        .post(
            QUEUES,
            &Auth::A,
            &json!({"name": "second", "scoreConfigIds": [configs[1], configs[1]]}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(
        second["scoreConfigIds"],
        json!([configs[1]]),
        "duplicates dropped"
    );
    assert_eq!(second["description"], Value::Null);
    let list = app.get_ok(QUEUES).await;
    assert_eq!(list["meta"]["totalItems"], 2);
    assert_eq!(
        ids(&list)[0],
        second["id"].as_str().unwrap(),
        "newest first"
    );
    app.get(&format!("{QUEUES}/missing"), &Auth::A)
        .await
        .expect_error(404, "LangfuseNotFoundError");
}

#[tokio::test]
async fn items_status_completion_and_delete() {
    let (app, queue, _) = with_queue().await;
    let first = add_item(
        &app,
        &queue,
        json!({"objectId": "t-1", "objectType": "TRACE"}),
    )
    .await;
    assert_eq!(first["queueId"], queue.as_str());
    assert_eq!(first["objectId"], "t-1");
    assert_eq!(first["objectType"], "TRACE");
    assert_eq!(first["status"], "PENDING");
    assert_eq!(first["completedAt"], Value::Null);
    assert_eq!(first["lockedByUserId"], Value::Null);
    let done = add_item(
        &app,
        &queue,
        json!({"objectId": "s-1", "objectType": "SESSION", "status": "COMPLETED"}),
    )
    .await;
    assert_eq!(done["status"], "COMPLETED");
    assert!(done["completedAt"].is_string(), "{done}");
    let obs = add_item(
        &app,
        &queue,
        json!({"objectId": "o-1", "objectType": "OBSERVATION"}),
    )
    .await;
    // As in Langfuse, the public API may queue one object twice.
    let again = add_item(
        &app,
        &queue,
        json!({"objectId": "t-1", "objectType": "TRACE"}),
    )
    .await;

    let items_url = format!("{QUEUES}/{queue}/items");
    let all = app.get_ok(&items_url).await;
    assert_eq!(all["meta"]["totalItems"], 4);
    assert_eq!(
        ids(&all),
        [&again, &obs, &done, &first].map(|item| item["id"].as_str().unwrap().to_owned()),
        "newest first"
    );
    let pending = app.get_ok(&format!("{items_url}?status=PENDING")).await;
    assert_eq!(pending["meta"]["totalItems"], 3);
    let completed = app.get_ok(&format!("{items_url}?status=COMPLETED")).await;
    assert_eq!(ids(&completed), [done["id"].as_str().unwrap()]);
    app.get(&format!("{items_url}?status=DONE"), &Auth::A)
        .await
        .expect_error(400, "InvalidRequestError");

    let first_url = format!("{items_url}/{}", first["id"].as_str().unwrap());
    assert_eq!(app.get_ok(&first_url).await, first);
    let patched = app
        .patch(&first_url, &Auth::A, &json!({"status": "COMPLETED"}))
        .await
        .expect(200)
        .clone();
    assert_eq!(patched["status"], "COMPLETED");
    assert!(patched["completedAt"].is_string(), "{patched}");
    let unchanged = app
        .patch(&first_url, &Auth::A, &json!({}))
        .await
        .expect(200)
        .clone();
    assert_eq!(unchanged["completedAt"], patched["completedAt"]);
    let reopened = app
        .patch(&first_url, &Auth::A, &json!({"status": "PENDING"}))
        .await
        .expect(200)
        .clone();
    assert_eq!(reopened["completedAt"], Value::Null);
    app.patch(&first_url, &Auth::A, &json!({"status": "LATER"}))
        .await
        .expect_error(400, "InvalidRequestError");

    let deleted = app.delete(&first_url, &Auth::A).await.expect(200).clone();
    assert_eq!(deleted["success"], true);
    assert!(deleted["message"].is_string());
    app.get(&first_url, &Auth::A)
        .await
        .expect_error(404, "LangfuseNotFoundError");
    app.delete(&first_url, &Auth::A)
        .await
        .expect_error(404, "LangfuseNotFoundError");

    for bad in [
        json!({"objectType": "TRACE"}),
        json!({"objectId": "x", "objectType": "PROMPT"}),
        json!({"objectId": "x", "objectType": "TRACE", "status": "DONE"}),
        json!({"objectId": "x".repeat(801), "objectType": "TRACE"}),
    ] {
        app.post(&items_url, &Auth::A, &bad)
            .await
            .expect_error(400, "InvalidRequestError");
    }
    app.post(
        &format!("{QUEUES}/missing/items"),
        &Auth::A,
        &json!({"objectId": "x", "objectType": "TRACE"}),
    )
    .await
    .expect_error(404, "LangfuseNotFoundError");
    // An item is only reachable through its own queue.
    let other = app
        .post(
            QUEUES,
            &Auth::A,
            &json!({"name": "other", "scoreConfigIds": [first_config(&app, &queue).await]}),
        )
        .await
        .expect(200)
        .clone();
    app.get(
        &format!(
            "{QUEUES}/{}/items/{}",
            other["id"].as_str().unwrap(),
            obs["id"].as_str().unwrap()
        ),
        &Auth::A,
    )
    .await
    .expect_error(404, "LangfuseNotFoundError");
}

async fn first_config(app: &TestApp, queue: &str) -> String {
    app.get_ok(&format!("{QUEUES}/{queue}")).await["scoreConfigIds"][0]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn assignments_are_idempotent_and_need_members() {
    let (app, queue, _) = with_queue().await;
    let url = format!("{QUEUES}/{queue}/assignments");
    let created = app
        .post(&url, &Auth::A, &json!({"userId": "ann"}))
        .await
        .expect(200)
        .clone();
    assert_eq!(
        created,
        json!({"userId": "ann", "projectId": "project-a", "queueId": queue})
    );
    let again = app
        .post(&url, &Auth::A, &json!({"userId": "ann"}))
        .await
        .expect(200)
        .clone();
    assert_eq!(again, created);
    let message = app
        .post(&url, &Auth::A, &json!({"userId": "bea"}))
        .await
        .expect_error(400, "InvalidRequestError");
    assert!(message.contains("not a member"), "{message}");
    app.post(&url, &Auth::A, &json!({}))
        .await
        .expect_error(400, "InvalidRequestError");
    let assigned = app
        .stores
        .annotation_queues
        .list_queue_assignments(&glassbox_model::ProjectId("project-a".into()), &queue)
        .await
        .unwrap();
    assert_eq!(assigned.len(), 1);
    assert_eq!(assigned[0].user_id, "ann");

    let removed = app
        .json(
            axum::http::Method::DELETE,
            &url,
            &Auth::A,
            &json!({"userId": "ann"}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(removed, json!({"success": true}));
    let assigned = app
        .stores
        .annotation_queues
        .list_queue_assignments(&glassbox_model::ProjectId("project-a".into()), &queue)
        .await
        .unwrap();
    assert!(assigned.is_empty());
    app.post(
        &format!("{QUEUES}/missing/assignments"),
        &Auth::A,
        &json!({"userId": "ann"}),
    )
    .await
    .expect_error(404, "LangfuseNotFoundError");
}

#[tokio::test]
async fn an_open_item_is_locked_for_other_annotators() {
    let (app, queue, _) = with_queue().await;
    let mut items = Vec::new();
    for object in ["t-1", "t-2", "t-3"] {
        let item = add_item(
            &app,
            &queue,
            json!({"objectId": object, "objectType": "TRACE"}),
        )
        .await;
        items.push(item["id"].as_str().unwrap().to_owned());
    }
    let lock_url = |item: &str| format!("{QUEUES}/{queue}/items/{item}/lock");
    let next_url = format!("{QUEUES}/{queue}/items/next");

    let locked = app
        .post(&lock_url(&items[0]), &Auth::A, &json!({"userId": "ann"}))
        .await
        .expect(200)
        .clone();
    assert_eq!(locked["lockedByUserId"], "ann");
    let expires = crate::support::micros(&locked["lockExpiresAt"]);
    let since = crate::support::micros(&locked["lockedAt"]);
    assert_eq!(expires - since, 300 * 1_000_000, "five minutes by default");
    let seen = app
        .get_ok(&format!("{QUEUES}/{queue}/items/{}", items[0]))
        .await;
    assert_eq!(seen["lockedByUserId"], "ann", "reads show the lock");

    // bob is refused while ann has it open, and may not release her lock.
    let message = app
        .post(&lock_url(&items[0]), &Auth::A, &json!({"userId": "bob"}))
        .await
        .expect_error(409, "LangfuseConflictError");
    assert!(message.contains("`ann`"), "{message}");
    app.json(
        axum::http::Method::DELETE,
        &lock_url(&items[0]),
        &Auth::A,
        &json!({"userId": "bob"}),
    )
    .await
    .expect_error(409, "LangfuseConflictError");
    // ann renews her own lock.
    let renewed = app
        .post(
            &lock_url(&items[0]),
            &Auth::A,
            &json!({"userId": "ann", "lockSeconds": 600}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(
        crate::support::micros(&renewed["lockExpiresAt"])
            - crate::support::micros(&renewed["lockedAt"]),
        600 * 1_000_000
    );

    // "next" hands out the oldest item nobody else has open, and the same one again.
    let bob_next = app
        .post(&next_url, &Auth::A, &json!({"userId": "bob"}))
        .await
        .expect(200)
        .clone();
    assert_eq!(bob_next["item"]["id"], items[1].as_str());
    assert_eq!(bob_next["item"]["lockedByUserId"], "bob");
    let bob_again = app
        .post(&next_url, &Auth::A, &json!({"userId": "bob"}))
        .await
        .expect(200)
        .clone();
    assert_eq!(bob_again["item"]["id"], items[1].as_str());
    let cy_next = app
        .post(&next_url, &Auth::A, &json!({"userId": "cy"}))
        .await
        .expect(200)
        .clone();
    assert_eq!(cy_next["item"]["id"], items[2].as_str());
    add_member(&app, "org-a", "dee").await;
    let none = app
        .post(&next_url, &Auth::A, &json!({"userId": "dee"}))
        .await
        .expect(200)
        .clone();
    assert_eq!(
        none,
        json!({"item": null}),
        "every pending item is open elsewhere"
    );

    // Completing records the annotator and releases the lock.
    let completed = app
        .patch(
            &format!("{QUEUES}/{queue}/items/{}", items[2]),
            &Auth::A,
            &json!({"status": "COMPLETED"}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(completed["annotatorUserId"], "cy");
    assert_eq!(completed["lockedByUserId"], Value::Null);
    // ann closes her item: bob may take it now.
    let released = app
        .json(
            axum::http::Method::DELETE,
            &lock_url(&items[0]),
            &Auth::A,
            &json!({"userId": "ann"}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(released["lockedByUserId"], Value::Null);
    app.post(&lock_url(&items[0]), &Auth::A, &json!({"userId": "dee"}))
        .await
        .expect(200);

    // Bad requests.
    for (body, status, error) in [
        (json!({"userId": "bea"}), 400, "InvalidRequestError"),
        (json!({"userId": "ghost"}), 400, "InvalidRequestError"),
        (json!({}), 400, "InvalidRequestError"),
        (
            json!({"userId": "ann", "lockSeconds": 0}),
            400,
            "InvalidRequestError",
        ),
        (
            json!({"userId": "ann", "lockSeconds": 3601}),
            400,
            "InvalidRequestError",
        ),
    ] {
        app.post(&lock_url(&items[1]), &Auth::A, &body)
            .await
            .expect_error(status, error);
    }
    app.post(&lock_url("missing"), &Auth::A, &json!({"userId": "ann"}))
        .await
        .expect_error(404, "LangfuseNotFoundError");
    app.post(
        &format!("{QUEUES}/missing/items/next"),
        &Auth::A,
        &json!({"userId": "ann"}),
    )
    .await
    .expect_error(404, "LangfuseNotFoundError");
}

#[tokio::test]
async fn bulk_queues_ten_thousand_traces_in_one_call() {
    let (app, queue, _) = with_queue().await;
    const TRACES: usize = 10_000;
    let events: Vec<Value> = (0..TRACES)
        .map(|index| {
            let user = if index % 2 == 0 { "even" } else { "odd" };
            event_at(
                "trace-create",
                T,
                json!({"id": format!("bulk-{index:05}"), "userId": user, "timestamp": T}),
            )
        })
        .collect();
    app.ingest_ok(&Auth::A, events).await;
    let bulk_url = format!("{QUEUES}/{queue}/items/bulk");

    // Every trace of the project, through a filter.
    let all = app
        .post(&bulk_url, &Auth::A, &json!({"traceFilter": {}}))
        .await
        .expect(200)
        .clone();
    assert_eq!(
        all,
        json!({"queueId": queue, "created": TRACES, "skipped": 0, "truncated": false})
    );
    let items_url = format!("{QUEUES}/{queue}/items");
    let page = app.get_ok(&format!("{items_url}?limit=1")).await;
    assert_eq!(page["meta"]["totalItems"], TRACES);
    // Queuing again skips what is already there.
    let again = app
        .post(
            &bulk_url,
            &Auth::A,
            &json!({"traceFilter": {"userId": "even", "filter": [
                {"type": "string", "column": "id", "operator": "starts with", "value": "bulk-"}]}}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(again["created"], 0);
    assert_eq!(again["skipped"], TRACES / 2);

    // The same 10,000 traces by id, into a fresh queue, with a cap test on the filter.
    let config = app.get_ok(&format!("{QUEUES}/{queue}")).await["scoreConfigIds"][0].clone();
    let second = app
        .post(
            QUEUES,
            &Auth::A,
            &json!({"name": "by ids", "scoreConfigIds": [config]}),
        )
        .await
        .expect(200)
        .clone();
    let second_id = second["id"].as_str().unwrap();
    let object_ids: Vec<String> = (0..TRACES)
        .map(|index| format!("bulk-{index:05}"))
        .collect();
    let by_ids = app
        .post(
            &format!("{QUEUES}/{second_id}/items/bulk"),
            &Auth::A,
            &json!({"objectType": "TRACE", "objectIds": object_ids}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(by_ids["created"], TRACES);
    assert_eq!(by_ids["skipped"], 0);
    let first_page = app
        .get_ok(&format!(
            "{QUEUES}/{second_id}/items?limit=2&status=PENDING"
        ))
        .await;
    assert_eq!(first_page["meta"]["totalItems"], TRACES);
    assert_eq!(first_page["data"][0]["objectType"], "TRACE");

    let third = app
        .post(
            QUEUES,
            &Auth::A,
            &json!({"name": "capped", "scoreConfigIds": [config]}),
        )
        .await
        .expect(200)
        .clone();
    let capped = app
        .post(
            &format!("{QUEUES}/{}/items/bulk", third["id"].as_str().unwrap()),
            &Auth::A,
            &json!({"traceFilter": {"userId": "odd"}, "maxItems": 1500}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(capped["created"], 1500);
    assert_eq!(capped["truncated"], true);
}

#[tokio::test]
async fn bulk_requests_are_checked() {
    let (app, queue, _) = with_queue().await;
    let url = format!("{QUEUES}/{queue}/items/bulk");
    let too_many: Vec<String> = (0..10_001).map(|index| format!("t{index}")).collect();
    let cases = [
        (json!({}), "exactly one of"),
        (
            json!({"objectIds": ["a"], "traceFilter": {}, "objectType": "TRACE"}),
            "exactly one of",
        ),
        (json!({"objectIds": ["a"]}), "objectType is required"),
        (
            json!({"objectIds": too_many, "objectType": "TRACE"}),
            "at most 10000",
        ),
        (json!({"traceFilter": {"unknown": 1}}), "unknown key"),
        (
            json!({"traceFilter": {}, "objectType": "SESSION"}),
            "must be TRACE",
        ),
        (
            json!({"traceFilter": {"fromTimestamp": "yesterday"}}),
            "ISO-8601",
        ),
        (
            json!({"traceFilter": {"filter": [{"column": "nope"}]}}),
            "filter",
        ),
        (json!({"traceFilter": {}, "maxItems": 0}), "maxItems"),
    ];
    for (body, needle) in cases {
        let message = app
            .post(&url, &Auth::A, &body)
            .await
            .expect_error(400, "InvalidRequestError");
        assert!(
            message.contains(needle),
            "`{message}` should mention {needle}"
        );
    }
    let sessions = app
        .post(
            &url,
            &Auth::A,
            &json!({"objectType": "SESSION", "objectIds": ["s1", "s2", "s1"]}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(sessions["created"], 2);
    assert_eq!(
        sessions["skipped"], 1,
        "repeats in one request are skipped too"
    );
    app.post(
        &format!("{QUEUES}/missing/items/bulk"),
        &Auth::A,
        &json!({"objectType": "TRACE", "objectIds": ["a"]}),
    )
    .await
    .expect_error(404, "LangfuseNotFoundError");
}

#[tokio::test]
async fn project_b_sees_none_of_project_a_queues() {
    let (app, queue, configs) = with_queue().await;
    let item = add_item(
        &app,
        &queue,
        json!({"objectId": "t-1", "objectType": "TRACE"}),
    )
    .await;
    let item_url = format!("{QUEUES}/{queue}/items/{}", item["id"].as_str().unwrap());
    let list = app.get(QUEUES, &Auth::B).await.expect(200).clone();
    assert_eq!(list["data"], json!([]));
    assert_eq!(list["meta"]["totalItems"], 0);
    for url in [
        format!("{QUEUES}/{queue}"),
        format!("{QUEUES}/{queue}/items"),
        item_url.clone(),
    ] {
        app.get(&url, &Auth::B)
            .await
            .expect_error(404, "LangfuseNotFoundError");
    }
    app.patch(&item_url, &Auth::B, &json!({"status": "COMPLETED"}))
        .await
        .expect_error(404, "LangfuseNotFoundError");
    app.delete(&item_url, &Auth::B)
        .await
        .expect_error(404, "LangfuseNotFoundError");
    app.post(
        &format!("{QUEUES}/{queue}/items"),
        &Auth::B,
        &json!({"objectId": "x", "objectType": "TRACE"}),
    )
    .await
    .expect_error(404, "LangfuseNotFoundError");
    app.post(
        &format!("{QUEUES}/{queue}/items/bulk"),
        &Auth::B,
        &json!({"traceFilter": {}}),
    )
    .await
    .expect_error(404, "LangfuseNotFoundError");
    app.post(
        &format!("{item_url}/lock"),
        &Auth::B,
        &json!({"userId": "bea"}),
    )
    .await
    .expect_error(404, "LangfuseNotFoundError");
    app.post(
        &format!("{QUEUES}/{queue}/assignments"),
        &Auth::B,
        &json!({"userId": "bea"}),
    )
    .await
    .expect_error(404, "LangfuseNotFoundError");
    // Project B cannot build a queue on A's configs, but may reuse the name.
    let message = app
        .post(
            QUEUES,
            &Auth::B,
            &json!({"name": "review", "scoreConfigIds": [configs[0]]}),
        )
        .await
        .expect_error(400, "InvalidRequestError");
    assert!(message.contains("does not exist"), "{message}");
    let config_b = app
        .post(
            "/api/public/score-configs",
            &Auth::B,
            &json!({"name": "b", "dataType": "TEXT"}),
        )
        .await
        .expect(200)
        .clone();
    app.post(
        QUEUES,
        &Auth::B,
        &json!({"name": "review", "scoreConfigIds": [config_b["id"]]}),
    )
    .await
    .expect(200);
    // A's item is untouched.
    let unchanged = app.get_ok(&item_url).await;
    assert_eq!(unchanged["status"], "PENDING");
    app.get(QUEUES, &Auth::BearerA)
        .await
        .expect_error(403, "ForbiddenError");
}
