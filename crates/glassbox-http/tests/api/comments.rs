//! The comments API: the commented object must exist in the project (404), the author
//! must belong to the project's organization (400), content is trimmed and bounded, the
//! list is strict about its parameters, and project B sees none of project A's comments.

use serde_json::{Value, json};

use crate::annotation_queues::add_member;
use crate::support::{Auth, TestApp, event_at};

const COMMENTS: &str = "/api/public/comments";
const T: &str = "2025-09-01T00:00:00Z";

async fn seeded() -> TestApp {
    let app = TestApp::new().await;
    app.ingest_ok(
        &Auth::A,
        vec![
            event_at(
                "trace-create",
                T,
                json!({"id": "tr-1", "name": "commented", "sessionId": "sess-1"}),
            ),
            event_at(
                "span-create",
                T,
                json!({"id": "obs-1", "traceId": "tr-1", "startTime": T}),
            ),
        ],
    )
    .await;
    add_member(&app, "org-a", "ann").await;
    add_member(&app, "org-b", "bea").await;
    app
}

fn body(kind: &str, object_id: &str, content: &str) -> Value {
    json!({"projectId": "project-a", "objectType": kind, "objectId": object_id, "content": content})
}

async fn create(app: &TestApp, body: &Value) -> String {
    let response = app.post(COMMENTS, &Auth::A, body).await;
    response.expect(200)["id"]
        .as_str()
        .expect("the new comment id")
        .to_owned()
}

#[tokio::test]
async fn comments_on_existing_objects_are_stored_and_listed() {
    let app = seeded().await;
    let on_trace = create(&app, &body("TRACE", "tr-1", "  **Looks wrong** here\n")).await;
    let mut with_author = body("OBSERVATION", "obs-1", "see the tool call");
    with_author["authorUserId"] = json!("ann");
    let on_observation = create(&app, &with_author).await;
    let on_session = create(&app, &body("SESSION", "sess-1", "whole chat is fine")).await;
    // glassbox keeps no prompts yet: any prompt id is accepted.
    let on_prompt = create(&app, &body("PROMPT", "prompt-version-1", "tighten it")).await;

    let stored = app.get_ok(&format!("{COMMENTS}/{on_trace}")).await;
    assert_eq!(stored["id"], on_trace.as_str());
    assert_eq!(stored["projectId"], "project-a");
    assert_eq!(stored["objectType"], "TRACE");
    assert_eq!(stored["objectId"], "tr-1");
    assert_eq!(
        stored["content"], "**Looks wrong** here",
        "content is trimmed"
    );
    assert_eq!(stored["authorUserId"], Value::Null);
    assert_eq!(stored["createdAt"], stored["updatedAt"]);
    let by_ann = app.get_ok(&format!("{COMMENTS}/{on_observation}")).await;
    assert_eq!(by_ann["authorUserId"], "ann");

    let all = app.get_ok(COMMENTS).await;
    assert_eq!(all["meta"]["totalItems"], 4);
    let ids: Vec<&str> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 4);
    for id in [&on_trace, &on_observation, &on_session, &on_prompt] {
        assert!(ids.contains(&id.as_str()), "{id} missing in {all}");
    }
    let filtered = [
        ("objectType=TRACE&objectId=tr-1", vec![on_trace.clone()]),
        ("objectType=trace", vec![on_trace.clone()]),
        ("objectType=SESSION", vec![on_session.clone()]),
        (
            "objectType=PROMPT&objectId=prompt-version-1",
            vec![on_prompt.clone()],
        ),
        ("objectType=TRACE&objectId=other", vec![]),
        ("authorUserId=ann", vec![on_observation.clone()]),
    ];
    for (query, expected) in filtered {
        let page = app.get_ok(&format!("{COMMENTS}?{query}")).await;
        let got: Vec<String> = page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(got, expected, "{query}");
        assert_eq!(page["meta"]["totalItems"], expected.len(), "{query}");
    }
    let paged = app.get_ok(&format!("{COMMENTS}?limit=3&page=2")).await;
    assert_eq!(paged["data"].as_array().unwrap().len(), 1);
    assert_eq!(paged["meta"]["totalPages"], 2);
}

#[tokio::test]
async fn missing_objects_are_not_found() {
    let app = seeded().await;
    for (kind, id) in [
        ("TRACE", "no-such-trace"),
        ("OBSERVATION", "no-such-observation"),
        ("SESSION", "no-such-session"),
        // obs-1 is an observation, not a trace.
        ("TRACE", "obs-1"),
    ] {
        let message = app
            .post(COMMENTS, &Auth::A, &body(kind, id, "hello"))
            .await
            .expect_error(404, "LangfuseNotFoundError");
        assert!(message.contains(id), "{message}");
    }
    // Another project's objects do not exist for project B.
    let mut from_b = body("TRACE", "tr-1", "peeking");
    from_b["projectId"] = json!("project-b");
    app.post(COMMENTS, &Auth::B, &from_b)
        .await
        .expect_error(404, "LangfuseNotFoundError");
    assert_eq!(app.get_ok(COMMENTS).await["meta"]["totalItems"], 0);
}

#[tokio::test]
async fn invalid_comments_are_rejected() {
    let app = seeded().await;
    let mut stranger = body("TRACE", "tr-1", "x");
    stranger["authorUserId"] = json!("bea");
    let mut other_project = body("TRACE", "tr-1", "x");
    other_project["projectId"] = json!("project-b");
    let cases = [
        (body("DATASET", "tr-1", "x"), "objectType must be"),
        (body("TRACE", "tr-1", "   "), "content must not be empty"),
        (body("TRACE", "tr-1", &"y".repeat(5_001)), "at most 5000"),
        (
            json!({"objectType": "TRACE", "content": "x"}),
            "objectId is required",
        ),
        (
            json!({"objectType": "TRACE", "objectId": "tr-1"}),
            "content is required",
        ),
        (
            json!({"objectType": "TRACE", "objectId": "x".repeat(801), "content": "x"}),
            "objectId must have at most 800",
        ),
        (stranger, "not a member"),
        (other_project, "projectId does not match"),
    ];
    for (request, needle) in cases {
        let message = app
            .post(COMMENTS, &Auth::A, &request)
            .await
            .expect_error(400, "InvalidRequestError");
        assert!(
            message.contains(needle),
            "`{message}` should mention {needle}"
        );
    }
    // The longest content passes (surrounding whitespace does not count).
    let longest = format!("  {}  ", "z".repeat(5_000));
    create(&app, &body("TRACE", "tr-1", &longest)).await;

    for query in [
        "objectId=tr-1",
        "objectType=DATASET",
        "unknown=1",
        "limit=101",
        "page=0",
    ] {
        app.get(&format!("{COMMENTS}?{query}"), &Auth::A)
            .await
            .expect_error(400, "InvalidRequestError");
    }
    app.get(&format!("{COMMENTS}/nope"), &Auth::A)
        .await
        .expect_error(404, "LangfuseNotFoundError");
}

#[tokio::test]
async fn project_b_sees_none_of_project_a_comments() {
    let app = seeded().await;
    let id = create(&app, &body("TRACE", "tr-1", "private note")).await;
    let message = app
        .get(&format!("{COMMENTS}/{id}"), &Auth::B)
        .await
        .expect_error(404, "LangfuseNotFoundError");
    assert_eq!(message, "Comment not found within authorized project");
    let list = app.get(COMMENTS, &Auth::B).await.expect(200).clone();
    assert_eq!(list["data"], json!([]));
    assert_eq!(list["meta"]["totalItems"], 0);
    let filtered = app
        .get(
            &format!("{COMMENTS}?objectType=TRACE&objectId=tr-1"),
            &Auth::B,
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(filtered["meta"]["totalItems"], 0);
    app.post(COMMENTS, &Auth::BearerA, &body("TRACE", "tr-1", "x"))
        .await
        .expect_error(403, "ForbiddenError");
}
