//! Prompt management over HTTP: `/api/public/v2/prompts` and the legacy v1 routes, with
//! the SDK captures' exact requests and answers, every edge case of the spec (label
//! moves, deletes of labels in use, composition and cycles, names with `/`, missing
//! versions), protected labels, and the prompt link of generations with the usage
//! statistics route.

use axum::http::Method;
use base64::Engine;
use serde_json::{Value, json};

use crate::openapi_shapes::Contract;
use crate::support::{Auth, Resp, TestApp, event_at, testdata_path};

const BASE: &str = "/api/public/v2/prompts";
const PROTECTED: &str = "/api/ui/v1/prompts/protected-labels";

/// Percent-encodes a path segment like JavaScript's `encodeURIComponent`.
pub fn segment(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn prompt_url(name: &str, query: &str) -> String {
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    format!("{BASE}/{}{query}", segment(name))
}

fn text(name: &str, prompt: &str, labels: &[&str]) -> Value {
    json!({"name": name, "prompt": prompt, "labels": labels})
}

async fn create(app: &TestApp, body: Value) -> Value {
    app.post(BASE, &Auth::A, &body).await.expect(201).clone()
}

async fn fetch(app: &TestApp, name: &str, query: &str) -> Resp {
    app.get(&prompt_url(name, query), &Auth::A).await
}

async fn fetch_ok(app: &TestApp, name: &str, query: &str) -> Value {
    fetch(app, name, query).await.expect(200).clone()
}

async fn move_labels(app: &TestApp, name: &str, version: i64, labels: &[&str]) -> Resp {
    app.patch(
        &format!("{BASE}/{}/versions/{version}", segment(name)),
        &Auth::A,
        &json!({ "newLabels": labels }),
    )
    .await
}

async fn delete(app: &TestApp, name: &str, query: &str) -> Resp {
    app.delete(&prompt_url(name, query), &Auth::A).await
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("expected an array, got {value}"))
        .iter()
        .map(|item| item.as_str().expect("string"))
        .collect()
}

fn reference(name: &str, selector: &str) -> String {
    format!("@@@langfusePrompt:name={name}|{selector}@@@")
}

// ---------------------------------------------------------------------------------------
// The SDK captures

/// Every prompt request of a capture, replayed in order: the status and the body are the
/// ones the SDKs were given (ids and timestamps aside), and the 404 carries Langfuse's
/// error name.
async fn replay_prompt_requests(app: &TestApp, capture: &str) -> usize {
    let text = std::fs::read_to_string(testdata_path(&format!("sdk-wire/{capture}")))
        .expect("read capture");
    let mut replayed = 0;
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        let record: Value = serde_json::from_str(line).expect("capture line");
        let path = record["path"].as_str().unwrap_or_default();
        if !path.starts_with("/api/public/v2/prompts") {
            continue;
        }
        let uri = record["raw_path"].as_str().unwrap();
        let method = Method::from_bytes(record["method"].as_str().unwrap().as_bytes()).unwrap();
        let response = match &record["body"]["json"] {
            Value::Null => app.raw(method, uri, &Auth::A, &[], Vec::new()).await,
            body => app.json(method, uri, &Auth::A, body).await,
        };
        let expected = &record["response"];
        assert_eq!(
            response.status.as_u16(),
            expected["status"].as_u64().unwrap() as u16,
            "{capture} {uri}: {}",
            response.json
        );
        let mut actual = response.json.clone();
        let mut wanted = expected["json"].clone();
        if response.status.as_u16() == 404 {
            assert_eq!(actual["error"], wanted["error"], "{uri}");
            assert!(
                actual["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("Prompt not found")
            );
        } else {
            for key in ["id", "createdAt", "updatedAt", "projectId"] {
                assert!(actual[key].is_string(), "{uri}: {key} in {actual}");
                actual.as_object_mut().unwrap().remove(key);
                wanted.as_object_mut().unwrap().remove(key);
            }
            assert_eq!(actual, wanted, "{capture} {uri}");
        }
        replayed += 1;
    }
    replayed
}

#[tokio::test]
async fn sdk_captures_get_the_answers_they_were_given() {
    for (capture, count) in [
        ("python-d-prompts.jsonl", 9),
        ("js-v5-tracing-client.jsonl", 5),
        ("js-v3-legacy-ingestion.jsonl", 3),
        ("python-v2.60-ingestion.jsonl", 2),
        ("python-f-langchain-langgraph.jsonl", 2),
    ] {
        let app = TestApp::new().await;
        assert_eq!(
            replay_prompt_requests(&app, capture).await,
            count,
            "{capture}"
        );
    }
}

/// The Python capture's OTLP export links its generations to the versions they name;
/// a span naming a prompt and the generation with a fallback prompt are not linked.
#[tokio::test]
async fn otlp_generations_of_the_python_capture_link_to_their_versions() {
    let app = TestApp::new().await;
    replay_prompt_requests(&app, "python-d-prompts.jsonl").await;
    let text = std::fs::read_to_string(testdata_path("sdk-wire/python-d-prompts.jsonl")).unwrap();
    for line in text.lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        if record["path"] != "/api/public/otel/v1/traces" {
            continue;
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(record["body"]["raw_b64"].as_str().unwrap())
            .unwrap();
        app.raw(
            Method::POST,
            "/api/public/otel/v1/traces",
            &Auth::A,
            &[
                ("content-type", "application/x-protobuf"),
                ("content-encoding", "gzip"),
            ],
            raw,
        )
        .await
        .expect(200);
    }
    let qa_v1 = fetch_ok(&app, "qa-text", "version=1").await;
    let chat_v1 = fetch_ok(&app, "folder/qa-chat", "version=1").await;
    let linked = |name: &str| {
        let name = name.to_owned();
        let app = &app;
        async move {
            let list = app
                .get_ok(&format!("/api/public/observations?name={name}"))
                .await;
            let data = list["data"].as_array().unwrap().clone();
            assert_eq!(data.len(), 1, "{name}: {list}");
            data[0].clone()
        }
    };
    let explicit = linked("explicit-prompt-gen").await;
    assert_eq!(explicit["promptId"], qa_v1["id"]);
    assert_eq!(explicit["promptName"], "qa-text");
    assert_eq!(explicit["promptVersion"], 1);
    assert_eq!(
        linked("propagated-prompt-gen").await["promptId"],
        chat_v1["id"]
    );
    assert_eq!(linked("fallback-prompt-gen").await["promptId"], Value::Null);
    assert_eq!(
        linked("prompted-request").await["promptId"],
        Value::Null,
        "spans take no link"
    );
}

// ---------------------------------------------------------------------------------------
// Create and fetch

#[tokio::test]
async fn create_and_fetch_text_and_chat_prompts() {
    let app = TestApp::new().await;
    let created = create(
        &app,
        json!({"name": "qa", "prompt": "Answer {{question}}", "config": {"model": "gpt-4o", "temperature": 0.1},
               "labels": ["production"], "tags": ["qa"], "commitMessage": "first"}),
    )
    .await;
    assert_eq!(created["version"], 1);
    assert_eq!(created["type"], "text", "type defaults to text");
    assert_eq!(strings(&created["labels"]), vec!["production", "latest"]);
    assert_eq!(created["createdBy"], "API");
    assert_eq!(created["projectId"], "project-a");
    assert_eq!(created["isActive"], Value::Null);
    assert_eq!(created["resolutionGraph"], Value::Null);
    assert_eq!(created["commitMessage"], "first");
    let keys: Vec<&str> = created
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        vec![
            "id",
            "createdAt",
            "updatedAt",
            "projectId",
            "createdBy",
            "name",
            "version",
            "type",
            "prompt",
            "config",
            "labels",
            "tags",
            "commitMessage",
            "isActive",
            "resolutionGraph"
        ]
    );
    // Default fetch = production; by label; by version.
    assert_eq!(fetch_ok(&app, "qa", "").await, created);
    assert_eq!(fetch_ok(&app, "qa", "label=production").await, created);
    assert_eq!(fetch_ok(&app, "qa", "version=1").await, created);
    assert_eq!(fetch_ok(&app, "qa", "label=latest").await, created);
    assert_eq!(
        fetch_ok(&app, "qa", "version=1&label=").await,
        created,
        "empty = absent"
    );

    let chat = create(
        &app,
        json!({"name": "chat", "type": "chat", "prompt": [
            {"role": "system", "content": "You are {{persona}}", "type": "chatmessage"},
            {"type": "placeholder", "name": "history"},
            {"role": "user", "content": "{{q}}"}
        ], "labels": ["staging"], "config": null, "tags": null, "commitMessage": null}),
    )
    .await;
    assert_eq!(chat["type"], "chat");
    assert_eq!(chat["config"], json!({}), "config null becomes {{}}");
    assert_eq!(chat["tags"], json!([]));
    assert_eq!(
        chat["prompt"][1],
        json!({"type": "placeholder", "name": "history"})
    );
    assert_eq!(fetch_ok(&app, "chat", "label=staging").await, chat);
    // No production label: the default fetch is a 404 (no fallback to latest).
    let message = fetch(&app, "chat", "")
        .await
        .expect_error(404, "LangfuseNotFoundError");
    assert_eq!(message, "Prompt not found: 'chat' with label 'production'");
}

#[tokio::test]
async fn missing_prompts_and_versions_are_404_with_langfuse_bodies() {
    let app = TestApp::new().await;
    create(&app, text("p", "one", &["production"])).await;
    for (query, message) in [
        ("version=2", "Prompt not found: 'p' with version 2"),
        (
            "label=staging",
            "Prompt not found: 'p' with label 'staging'",
        ),
    ] {
        let response = fetch(&app, "p", query).await;
        assert_eq!(response.expect_error(404, "LangfuseNotFoundError"), message);
    }
    let message = fetch(&app, "nope", "")
        .await
        .expect_error(404, "LangfuseNotFoundError");
    assert_eq!(message, "Prompt not found: 'nope' with label 'production'");
    fetch(&app, "p", "version=1&label=production")
        .await
        .expect_error(400, "InvalidRequestError");
    fetch(&app, "p", "version=abc")
        .await
        .expect_error(400, "InvalidRequestError");
    fetch(&app, "p", "resolve=maybe")
        .await
        .expect_error(400, "InvalidRequestError");
    move_labels(&app, "p", 7, &["x"])
        .await
        .expect_error(404, "LangfuseNotFoundError");
    move_labels(&app, "nope", 1, &["x"])
        .await
        .expect_error(404, "LangfuseNotFoundError");
    delete(&app, "p", "version=7")
        .await
        .expect_error(404, "LangfuseNotFoundError");
    delete(&app, "nope", "")
        .await
        .expect_error(404, "LangfuseNotFoundError");
    // The legacy v1 route answers exactly Langfuse's body.
    let legacy = app.get("/api/public/prompts?name=nope", &Auth::A).await;
    legacy.expect(404);
    assert_eq!(
        legacy.json,
        json!({"message": "Prompt not found", "error": "LangfuseNotFoundError"})
    );
}

#[tokio::test]
async fn bad_create_requests_are_400_and_store_nothing() {
    let app = TestApp::new().await;
    for body in [
        json!("not an object"),
        json!({"prompt": "no name"}),
        json!({"name": "x"}),
        json!({"name": "x", "prompt": "y", "type": "image"}),
        json!({"name": "x", "prompt": ["y"], "type": "text"}),
        json!({"name": "x", "prompt": [{"role": "system", "content": "y"}]}),
        json!({"name": "x", "prompt": "y", "type": "chat"}),
        json!({"name": "x", "prompt": [{"role": "user", "message": "y"}], "type": "chat"}),
        json!({"name": "x", "prompt": "y", "labels": "production"}),
        json!({"name": "x", "prompt": "y", "labels": ["Production"]}),
        json!({"name": "x", "prompt": "y", "labels": [1]}),
        json!({"name": "x", "prompt": "y", "tags": "t"}),
        json!({"name": "x", "prompt": "y", "commitMessage": 5}),
        json!({"name": "x", "prompt": "y", "commitMessage": "m".repeat(501)}),
        json!({"name": "/x", "prompt": "y"}),
        json!({"name": "x/", "prompt": "y"}),
        json!({"name": "a//b", "prompt": "y"}),
        json!({"name": "a|b", "prompt": "y"}),
        json!({"name": "new", "prompt": "y"}),
        json!({"name": "", "prompt": "y"}),
        json!({"name": "x <div>", "prompt": "y"}),
        json!({"name": "x", "type": "chat", "prompt": [
            {"role": "system", "content": "Hello {{userName}}"},
            {"type": "placeholder", "name": "userName"}
        ]}),
    ] {
        let response = app.post(BASE, &Auth::A, &body).await;
        response.expect_error(400, "InvalidRequestError");
    }
    let list = app.get_ok(BASE).await;
    assert_eq!(list["meta"]["totalItems"], 0, "{list}");
    // Malformed JSON and a wrong type for the name's previous versions.
    app.raw(
        Method::POST,
        BASE,
        &Auth::A,
        &[("content-type", "application/json")],
        b"{".to_vec(),
    )
    .await
    .expect_error(400, "InvalidRequestError");
    create(&app, text("typed", "text", &[])).await;
    let message = app
        .post(
            BASE,
            &Auth::A,
            &json!({"name": "typed", "type": "chat", "prompt": [{"role": "a", "content": "b"}]}),
        )
        .await
        .expect_error(400, "InvalidRequestError");
    assert!(message.contains("different prompt type"), "{message}");
    fetch(&app, "typed", "version=2").await.expect(404);
}

#[tokio::test]
async fn auth_is_a_project_key_and_projects_are_separate() {
    let app = TestApp::new().await;
    create(&app, text("mine", "a", &["production"])).await;
    app.get(&prompt_url("mine", ""), &Auth::None)
        .await
        .expect_error(401, "UnauthorizedError");
    app.get(&prompt_url("mine", ""), &Auth::BearerA)
        .await
        .expect_error(403, "ForbiddenError");
    app.post(BASE, &Auth::BearerA, &text("x", "y", &[]))
        .await
        .expect_error(403, "ForbiddenError");
    app.get(&prompt_url("mine", ""), &Auth::B).await.expect(404);
    app.post(BASE, &Auth::B, &text("mine", "b", &["production"]))
        .await
        .expect(201);
    assert_eq!(fetch_ok(&app, "mine", "").await["prompt"], "a");
    assert_eq!(
        app.get(&prompt_url("mine", ""), &Auth::B).await.expect(200)["version"],
        1
    );
    app.delete(&prompt_url("mine", ""), &Auth::B)
        .await
        .expect(204);
    assert_eq!(fetch_ok(&app, "mine", "").await["prompt"], "a");
}

// ---------------------------------------------------------------------------------------
// Names with folders and special characters

#[tokio::test]
async fn names_with_slashes_and_special_characters_work_in_every_route() {
    let app = TestApp::new().await;
    for name in [
        "folder/sub/prompt",
        "promptName?!+ =@#;",
        "ünï cødé",
        "a%2Fb",
    ] {
        let created = create(&app, text(name, "v1", &["production"])).await;
        assert_eq!(created["name"], name);
        assert_eq!(fetch_ok(&app, name, "").await["name"], name);
        create(&app, text(name, "v2", &[])).await;
        let moved = move_labels(&app, name, 2, &["production"])
            .await
            .expect(200)
            .clone();
        assert_eq!(strings(&moved["labels"]), vec!["latest", "production"]);
        assert_eq!(fetch_ok(&app, name, "").await["version"], 2);
        delete(&app, name, "version=1").await.expect(204);
        delete(&app, name, "").await.expect(204);
        fetch(&app, name, "label=latest").await.expect(404);
    }
    // `/` unencoded is another route, not the prompt.
    create(&app, text("f/p", "x", &["production"])).await;
    app.get(&format!("{BASE}/f/p"), &Auth::A).await.expect(404);
    let listed = app.get_ok(&format!("{BASE}?name={}", segment("f/p"))).await;
    assert_eq!(listed["data"][0]["name"], "f/p");
}

// ---------------------------------------------------------------------------------------
// Labels

#[tokio::test]
async fn labels_move_between_versions_and_latest_is_managed() {
    let app = TestApp::new().await;
    let v1 = create(&app, text("p", "one", &["production", "staging", "dev"])).await;
    let v2 = create(
        &app,
        json!({"name": "p", "prompt": "two", "labels": ["production", "production", "staging"]}),
    )
    .await;
    assert_eq!(
        strings(&v2["labels"]),
        vec!["production", "staging", "latest"],
        "repeats count once"
    );
    let v3 = create(&app, text("p", "three", &["staging"])).await;
    assert_eq!(
        strings(&fetch_ok(&app, "p", "version=1").await["labels"]),
        vec!["dev"]
    );
    assert_eq!(fetch_ok(&app, "p", "").await["id"], v2["id"]);
    assert_eq!(fetch_ok(&app, "p", "label=staging").await["id"], v3["id"]);

    // PATCH adds labels after the version's own and takes them from other versions.
    let patched = move_labels(&app, "p", 1, &["production", "canary"])
        .await
        .expect(200)
        .clone();
    assert_eq!(patched["id"], v1["id"]);
    assert_eq!(
        strings(&patched["labels"]),
        vec!["dev", "production", "canary"]
    );
    assert!(patched["updatedAt"].as_str() >= v1["updatedAt"].as_str());
    assert_eq!(
        fetch_ok(&app, "p", "").await["id"],
        v1["id"],
        "production moved back"
    );
    assert_eq!(
        strings(&fetch_ok(&app, "p", "version=2").await["labels"]),
        Vec::<&str>::new()
    );
    // Idempotent.
    let again = move_labels(&app, "p", 1, &["canary"])
        .await
        .expect(200)
        .clone();
    assert_eq!(again["labels"], patched["labels"]);
    // `latest` is the server's.
    let message = move_labels(&app, "p", 1, &["latest"])
        .await
        .expect_error(400, "InvalidRequestError");
    assert!(message.contains("latest"), "{message}");
    move_labels(&app, "p", 1, &["Bad Label"])
        .await
        .expect_error(400, "InvalidRequestError");
    app.patch(
        &format!("{BASE}/p/versions/x"),
        &Auth::A,
        &json!({"newLabels": []}),
    )
    .await
    .expect_error(400, "InvalidRequestError");
    app.patch(
        &format!("{BASE}/p/versions/1"),
        &Auth::A,
        &json!({"labels": ["a"]}),
    )
    .await
    .expect_error(400, "InvalidRequestError");
    // A new version always takes `latest`.
    let v4 = create(&app, text("p", "four", &[])).await;
    assert_eq!(fetch_ok(&app, "p", "label=latest").await["id"], v4["id"]);
    assert_eq!(
        strings(&fetch_ok(&app, "p", "version=3").await["labels"]),
        vec!["staging"]
    );
}

#[tokio::test]
async fn deleting_versions_labels_and_labels_in_use() {
    let app = TestApp::new().await;
    create(&app, text("d", "one", &["dev"])).await;
    create(&app, text("d", "two", &["production"])).await;
    create(&app, text("d", "three", &["qa"])).await;
    // The version with `latest` goes: `latest` moves to the highest remaining version.
    delete(&app, "d", "version=3").await.expect(204);
    assert_eq!(
        strings(&fetch_ok(&app, "d", "label=latest").await["labels"]),
        vec!["production", "latest"]
    );
    delete(&app, "d", "label=dev").await.expect(204);
    fetch(&app, "d", "version=1").await.expect(404);
    delete(&app, "d", "label=dev").await.expect(404);

    // A label another prompt uses may not disappear, nor a version used by number.
    create(&app, text("child", "c1", &["production", "blue"])).await;
    create(&app, text("child", "c2", &["green"])).await;
    create(
        &app,
        text("by-label", &reference("child", "label=blue"), &[]),
    )
    .await;
    create(
        &app,
        text("by-version", &reference("child", "version=2"), &[]),
    )
    .await;
    let message = delete(&app, "child", "label=blue")
        .await
        .expect_error(400, "InvalidRequestError");
    assert!(
        message.contains("depending on") && message.contains("'by-label'"),
        "{message}"
    );
    let message = delete(&app, "child", "version=2")
        .await
        .expect_error(400, "InvalidRequestError");
    assert!(
        message.contains("'by-version'") && !message.contains("by-label"),
        "{message}"
    );
    let message = delete(&app, "child", "")
        .await
        .expect_error(400, "InvalidRequestError");
    assert!(
        message.contains("'by-label'") && message.contains("'by-version'"),
        "{message}"
    );
    // Moving the label elsewhere keeps the reference working and frees v1.
    move_labels(&app, "child", 2, &["blue"]).await.expect(200);
    assert_eq!(
        fetch_ok(&app, "by-label", "label=latest").await["prompt"],
        "c2"
    );
    delete(&app, "child", "version=1").await.expect(204);
    delete(&app, "by-label", "").await.expect(204);
    delete(&app, "by-version", "").await.expect(204);
    delete(&app, "child", "").await.expect(204);
    fetch(&app, "child", "label=latest").await.expect(404);
}

// ---------------------------------------------------------------------------------------
// Composition

#[tokio::test]
async fn composed_prompts_resolve_on_fetch_and_cycles_are_refused() {
    let app = TestApp::new().await;
    let child = create(
        &app,
        text("child", "line \"one\"\nline two", &["production"]),
    )
    .await;
    let parent_text = format!("Parent: {}", reference("child", "label=production"));
    let parent = create(&app, text("parent", &parent_text, &["production"])).await;
    let fetched = fetch_ok(&app, "parent", "").await;
    assert_eq!(fetched["prompt"], "Parent: line \"one\"\nline two");
    assert_eq!(
        fetched["resolutionGraph"],
        json!({"root": {"id": parent["id"], "name": "parent", "version": 1},
               "dependencies": {parent["id"].as_str().unwrap(): [{"id": child["id"], "name": "child", "version": 1}]}})
    );
    // resolve=false returns the stored content.
    let unresolved = fetch_ok(&app, "parent", "resolve=false").await;
    assert_eq!(unresolved["prompt"], json!(parent_text));
    assert_eq!(unresolved["resolutionGraph"], Value::Null);
    // The create response is unresolved too.
    assert_eq!(parent["prompt"], json!(parent_text));

    // A chat prompt references text prompts inside its messages.
    let chat = create(
        &app,
        json!({"name": "chat", "type": "chat", "labels": ["production"], "prompt": [
            {"role": "system", "content": format!("Base: {}", reference("parent", "version=1"))},
            {"type": "placeholder", "name": "history"}
        ]}),
    )
    .await;
    assert_eq!(
        fetch_ok(&app, "chat", "").await["prompt"][0]["content"],
        "Base: Parent: line \"one\"\nline two"
    );
    // The label follows the newest production child, through the cache.
    create(&app, text("child", "new child", &["production"])).await;
    assert_eq!(
        fetch_ok(&app, "chat", "").await["prompt"][0]["content"],
        "Base: Parent: new child"
    );

    // Refused: missing, chat, itself, a cycle through another prompt, too deep.
    for (body, needle) in [
        (
            text("x", &reference("ghost", "version=1"), &[]),
            "not found",
        ),
        (
            text("x", &reference("child", "label=nope"), &[]),
            "not found",
        ),
        (
            text("x", &reference("chat", "version=1"), &[]),
            "chat prompt",
        ),
        (
            text("child", &reference("child", "version=1"), &[]),
            "Circular dependency",
        ),
        (
            text("child", &reference("parent", "label=production"), &[]),
            "Circular dependency",
        ),
    ] {
        let message = app
            .post(BASE, &Auth::A, &body)
            .await
            .expect_error(400, "InvalidRequestError");
        assert!(message.contains(needle), "{needle}: {message}");
    }
    assert_eq!(chat["version"], 1);
    create(&app, text("d4", "deep", &["production"])).await;
    for level in (0..4).rev() {
        let content = reference(&format!("d{}", level + 1), "label=production");
        create(&app, text(&format!("d{level}"), &content, &["production"])).await;
    }
    assert_eq!(fetch_ok(&app, "d0", "").await["prompt"], "deep");
    let message = app
        .post(
            BASE,
            &Auth::A,
            &text("d-1", &reference("d0", "label=production"), &[]),
        )
        .await
        .expect_error(400, "InvalidRequestError");
    assert!(
        message.contains("Maximum nesting depth exceeded"),
        "{message}"
    );
    // Malformed tags stay literal text.
    create(
        &app,
        text(
            "literal",
            "@@@langfusePrompt:name=child@@@ and @@@langfusePrompt:x@@@",
            &["production"],
        ),
    )
    .await;
    assert_eq!(
        fetch_ok(&app, "literal", "").await["prompt"],
        "@@@langfusePrompt:name=child@@@ and @@@langfusePrompt:x@@@"
    );
}

#[tokio::test]
async fn a_label_move_that_closes_a_cycle_is_refused() {
    let app = TestApp::new().await;
    create(&app, text("y", "plain y", &["blue"])).await;
    create(&app, text("x", "plain x", &["production"])).await;
    create(&app, text("y", &reference("x", "label=production"), &[])).await;
    create(&app, text("x", &reference("y", "label=blue"), &[])).await;
    move_labels(&app, "x", 2, &["production"]).await.expect(200);
    let message = move_labels(&app, "y", 2, &["blue"])
        .await
        .expect_error(400, "InvalidRequestError");
    assert!(message.contains("Circular dependency"), "{message}");
    assert_eq!(fetch_ok(&app, "x", "").await["prompt"], "plain y");
}

// ---------------------------------------------------------------------------------------
// List

#[tokio::test]
async fn list_filters_and_pages() {
    let app = TestApp::new().await;
    create(
        &app,
        json!({"name": "b", "prompt": "1", "labels": ["production"], "config": {"v": 1}}),
    )
    .await;
    create(
        &app,
        json!({"name": "b", "prompt": "2", "labels": ["version2"], "config": {"v": 2}}),
    )
    .await;
    create(
        &app,
        json!({"name": "b", "prompt": "3", "config": {"v": 3}}),
    )
    .await;
    create(&app, json!({"name": "a", "type": "chat", "prompt": [{"role": "u", "content": "c"}], "labels": ["production"], "tags": ["tag-1"]})).await;
    create(&app, text("c/d", "x", &[])).await;

    let all = app.get_ok(BASE).await;
    assert_eq!(
        all["meta"],
        json!({"page": 1, "limit": 10, "totalItems": 3, "totalPages": 1})
    );
    assert_eq!(all["pagination"], all["meta"]);
    let names: Vec<&str> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["a", "b", "c/d"]);
    let b = &all["data"][1];
    assert_eq!(b["versions"], json!([1, 2, 3]));
    assert_eq!(b["labels"], json!(["latest", "production", "version2"]));
    assert_eq!(b["lastConfig"], json!({"v": 3}));
    assert_eq!(b["type"], "text");
    assert!(b["lastUpdatedAt"].is_string());
    assert_eq!(all["data"][0]["type"], "chat");
    assert_eq!(all["data"][0]["tags"], json!(["tag-1"]));

    let labelled = app.get_ok(&format!("{BASE}?label=version2")).await;
    assert_eq!(labelled["data"].as_array().unwrap().len(), 1);
    assert_eq!(labelled["data"][0]["versions"], json!([2]));
    assert_eq!(labelled["data"][0]["lastConfig"], json!({"v": 2}));
    assert_eq!(
        app.get_ok(&format!("{BASE}?label=production")).await["meta"]["totalItems"],
        2
    );
    assert_eq!(
        app.get_ok(&format!("{BASE}?tag=tag-1")).await["data"][0]["name"],
        "a"
    );
    assert_eq!(
        app.get_ok(&format!("{BASE}?name=b")).await["meta"]["totalItems"],
        1
    );
    assert_eq!(
        app.get_ok(&format!("{BASE}?name=zzz")).await["data"],
        json!([])
    );
    assert_eq!(
        app.get_ok(&format!("{BASE}?version=3")).await["meta"]["totalItems"],
        1
    );
    let page = app.get_ok(&format!("{BASE}?page=2&limit=2")).await;
    assert_eq!(
        page["meta"],
        json!({"page": 2, "limit": 2, "totalItems": 3, "totalPages": 2})
    );
    assert_eq!(page["data"][0]["name"], "c/d");
    assert_eq!(
        app.get_ok(&format!("{BASE}?fromUpdatedAt=2999-01-01T00:00:00Z"))
            .await["meta"]["totalItems"],
        0
    );
    assert_eq!(
        app.get_ok(&format!("{BASE}?toUpdatedAt=2999-01-01T00:00:00Z"))
            .await["meta"]["totalItems"],
        3
    );
    for bad in [
        "limit=101",
        "page=0",
        "fromUpdatedAt=yesterday",
        "version=x",
    ] {
        app.get(&format!("{BASE}?{bad}"), &Auth::A)
            .await
            .expect_error(400, "InvalidRequestError");
    }
}

// ---------------------------------------------------------------------------------------
// Legacy v1

#[tokio::test]
async fn legacy_v1_routes() {
    let app = TestApp::new().await;
    let created = app
        .post(
            "/api/public/prompts",
            &Auth::A,
            &json!({"name": "old", "prompt": "Hi {{x}}", "isActive": true, "config": {}}),
        )
        .await
        .expect(201)
        .clone();
    assert_eq!(strings(&created["labels"]), vec!["production", "latest"]);
    assert_eq!(created["isActive"], true);
    app.post(
        "/api/public/prompts",
        &Auth::A,
        &json!({"name": "old", "prompt": "v2", "isActive": false}),
    )
    .await
    .expect(201);
    let fetched = app.get_ok("/api/public/prompts?name=old").await;
    assert_eq!(
        (fetched["version"].clone(), fetched["isActive"].clone()),
        (json!(1), json!(true))
    );
    let second = app.get_ok("/api/public/prompts?name=old&version=2").await;
    assert_eq!(
        (second["prompt"].clone(), second["isActive"].clone()),
        (json!("v2"), json!(false))
    );
    app.get("/api/public/prompts", &Auth::A)
        .await
        .expect_error(400, "InvalidRequestError");
}

// ---------------------------------------------------------------------------------------
// Protected labels

const HOST: &str = "glassbox.test";

/// A signed-in web UI user: cookies and CSRF token.
struct Browser {
    cookie: String,
    csrf: String,
    user_id: String,
}

async fn sign_up(app: &TestApp, email: &str) -> Browser {
    let response = app
        .raw(
            Method::POST,
            "/api/ui/v1/auth/sign-up",
            &Auth::None,
            &[("host", HOST), ("content-type", "application/json")],
            serde_json::to_vec(
                &json!({"email": email, "name": "Ada", "password": "correct horse"}),
            )
            .unwrap(),
        )
        .await;
    response.expect(200);
    let cookie = response
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|value| {
            value
                .to_str()
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect::<Vec<_>>()
        .join("; ");
    Browser {
        cookie,
        csrf: response.json["csrfToken"].as_str().unwrap().to_owned(),
        user_id: response.json["user"]["id"].as_str().unwrap().to_owned(),
    }
}

/// A web UI request of `browser` (CSRF header on writes).
async fn ui(
    app: &TestApp,
    method: Method,
    uri: &str,
    browser: &Browser,
    body: Option<Value>,
) -> Resp {
    let mut headers = vec![
        ("host", HOST),
        ("content-type", "application/json"),
        ("cookie", browser.cookie.as_str()),
    ];
    if method != Method::GET {
        headers.push(("x-csrf-token", browser.csrf.as_str()));
    }
    let bytes = body
        .map(|body| serde_json::to_vec(&body).unwrap())
        .unwrap_or_default();
    app.raw(method, uri, &Auth::None, &headers, bytes).await
}

#[tokio::test]
async fn protected_labels_stop_api_keys_with_a_clear_error() {
    let app = TestApp::new().await;
    // The first user owns the test organizations (project A's too).
    let owner = sign_up(&app, "owner@example.com").await;
    let setting = "/api/ui/v1/projects/project-a/prompts/protected-labels";
    assert_eq!(app.get_ok(PROTECTED).await, json!({"labels": []}));
    create(&app, text("guarded", "one", &["production"])).await;
    create(&app, text("guarded", "two", &["staging"])).await;
    let set = ui(
        &app,
        Method::PUT,
        setting,
        &owner,
        Some(json!({"labels": ["production", "audited"]})),
    )
    .await
    .expect(200)
    .clone();
    assert_eq!(set, json!({"labels": ["audited", "production"]}));
    assert_eq!(
        ui(&app, Method::GET, setting, &owner, None)
            .await
            .expect(200),
        &set
    );
    assert_eq!(
        app.get_ok(PROTECTED).await,
        set,
        "API keys may read the setting"
    );
    assert_eq!(
        app.get(PROTECTED, &Auth::B).await.expect(200)["labels"],
        json!([]),
        "per project"
    );

    let message = move_labels(&app, "guarded", 2, &["production"])
        .await
        .expect_error(403, "ForbiddenError");
    assert!(
        message.contains("'production'") && message.contains("protected"),
        "{message}"
    );
    app.post(BASE, &Auth::A, &text("guarded", "three", &["production"]))
        .await
        .expect_error(403, "ForbiddenError");
    app.post(BASE, &Auth::A, &text("other", "x", &["audited"]))
        .await
        .expect_error(403, "ForbiddenError");
    for query in ["version=1", "label=production", ""] {
        delete(&app, "guarded", query)
            .await
            .expect_error(403, "ForbiddenError");
    }
    assert_eq!(
        fetch_ok(&app, "guarded", "").await["version"],
        1,
        "nothing changed"
    );
    // Other labels and `latest` move freely; project B is not affected.
    move_labels(&app, "guarded", 1, &["staging"])
        .await
        .expect(200);
    assert_eq!(
        create(&app, text("guarded", "three", &[])).await["version"],
        3
    );
    app.post(BASE, &Auth::B, &text("guarded", "b", &["production"]))
        .await
        .expect(201);

    // An API key cannot change the setting; neither can a member below admin, nor a
    // user of another organization, nor a request without the CSRF token.
    app.json(Method::PUT, PROTECTED, &Auth::A, &json!({"labels": []}))
        .await
        .expect_error(405, "MethodNotAllowedError");
    app.json(Method::PUT, setting, &Auth::A, &json!({"labels": []}))
        .await
        .expect_error(401, "UnauthorizedError");
    let member = sign_up(&app, "member@example.com").await;
    ui(&app, Method::GET, setting, &member, None)
        .await
        .expect(404);
    app.stores
        .admin
        .set_organization_role("org-a", &member.user_id, glassbox_model::Role::Member)
        .await
        .unwrap();
    ui(&app, Method::GET, setting, &member, None)
        .await
        .expect(200);
    ui(
        &app,
        Method::PUT,
        setting,
        &member,
        Some(json!({"labels": []})),
    )
    .await
    .expect_error(403, "ForbiddenError");
    let forged = Browser {
        cookie: owner.cookie.clone(),
        csrf: "forged".into(),
        user_id: owner.user_id.clone(),
    };
    ui(
        &app,
        Method::PUT,
        setting,
        &forged,
        Some(json!({"labels": []})),
    )
    .await
    .expect_error(403, "ForbiddenError");

    // The setting: `latest` cannot be protected, labels are validated, bodies checked.
    for body in [
        json!({"labels": ["latest"]}),
        json!({"labels": ["Bad"]}),
        json!({"labels": "x"}),
        json!({}),
    ] {
        ui(&app, Method::PUT, setting, &owner, Some(body))
            .await
            .expect_error(400, "InvalidRequestError");
    }
    ui(
        &app,
        Method::PUT,
        setting,
        &owner,
        Some(json!({"labels": []})),
    )
    .await
    .expect(200);
    move_labels(&app, "guarded", 2, &["production"])
        .await
        .expect(200);
}

#[tokio::test]
async fn usage_statistics_through_a_web_ui_session() {
    let app = TestApp::new().await;
    let owner = sign_up(&app, "owner@example.com").await;
    create(&app, text("f/used", "x", &["production"])).await;
    let uri = format!(
        "/api/ui/v1/projects/project-a/prompts/{}/usage",
        segment("f/used")
    );
    let usage = ui(&app, Method::GET, &uri, &owner, None)
        .await
        .expect(200)
        .clone();
    assert_eq!(usage["name"], "f/used");
    assert_eq!(usage["data"][0]["generationCount"], 0);
    app.get(&uri, &Auth::A)
        .await
        .expect_error(401, "UnauthorizedError");
    let stranger = sign_up(&app, "stranger@example.com").await;
    ui(&app, Method::GET, &uri, &stranger, None)
        .await
        .expect(404);
}

// ---------------------------------------------------------------------------------------
// The prompt link of generations and the usage statistics route

#[tokio::test]
async fn generations_link_to_versions_and_usage_adds_them_up() {
    let app = TestApp::new().await;
    let v1 = create(&app, text("used", "v1", &["production"])).await;
    let v2 = create(&app, text("used", "v2", &[])).await;
    let generation = |id: &str,
                      version: i64,
                      start: &str,
                      end: &str,
                      tokens: (i64, i64),
                      cost: f64| {
        event_at(
            "generation-create",
            start,
            json!({"id": id, "traceId": "t-used", "name": "llm", "startTime": start, "endTime": end,
                   "promptName": "used", "promptVersion": version,
                   "usage": {"input": tokens.0, "output": tokens.1, "total": tokens.0 + tokens.1},
                   "costDetails": {"total": cost}}),
        )
    };
    app.ingest_ok(
        &Auth::A,
        vec![
            event_at("trace-create", "2025-05-01T10:00:00Z", json!({"id": "t-used"})),
            generation("g1", 1, "2025-05-01T10:00:00Z", "2025-05-01T10:00:02Z", (10, 5), 0.5),
            generation("g2", 1, "2025-05-01T10:01:00Z", "2025-05-01T10:01:04Z", (30, 15), 1.5),
            generation("g3", 2, "2025-05-01T10:02:00Z", "2025-05-01T10:02:01Z", (1, 1), 0.1),
            event_at("score-create", "2025-05-01T10:05:00Z",
                json!({"id": "s1", "traceId": "t-used", "observationId": "g1", "name": "accuracy", "value": 0.9})),
            event_at("score-create", "2025-05-01T10:05:00Z",
                json!({"id": "s2", "traceId": "t-used", "name": "helpful", "value": 1, "dataType": "BOOLEAN"})),
        ],
    )
    .await;
    let g1 = app.get_ok("/api/public/observations/g1").await;
    assert_eq!(
        (
            g1["promptId"].clone(),
            g1["promptName"].clone(),
            g1["promptVersion"].clone()
        ),
        (v1["id"].clone(), json!("used"), json!(1))
    );
    assert_eq!(
        app.get_ok("/api/public/observations/g3").await["promptId"],
        v2["id"]
    );

    let usage = app.get_ok("/api/ui/v1/prompts/used/usage").await;
    assert_eq!(usage["name"], "used");
    let data = usage["data"].as_array().unwrap();
    assert_eq!(
        data.iter()
            .map(|v| v["version"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        vec![2, 1]
    );
    let first = &data[1];
    assert_eq!(first["promptId"], v1["id"]);
    assert_eq!(first["labels"], json!(["production"]));
    assert_eq!(first["generationCount"], 2);
    assert_eq!(first["firstUsedAt"], "2025-05-01T10:00:00.000Z");
    assert_eq!(first["lastUsedAt"], "2025-05-01T10:01:00.000Z");
    assert_eq!(first["latencySeconds"]["p50"], 3.0);
    assert_eq!(first["latencySeconds"]["max"], 4.0);
    assert_eq!(first["inputTokens"]["sum"], 40.0);
    assert_eq!(first["outputTokens"]["sum"], 20.0);
    assert_eq!(first["totalTokens"]["mean"], 30.0);
    assert_eq!(first["costUsd"]["sum"], 2.0);
    assert_eq!(
        first["generationScores"],
        json!([{"name": "accuracy", "dataType": "NUMERIC", "count": 1, "average": 0.9}])
    );
    assert_eq!(
        first["traceScores"],
        json!([{"name": "helpful", "dataType": "BOOLEAN", "count": 1, "average": 1.0}])
    );
    let windowed = app
        .get_ok("/api/ui/v1/prompts/used/usage?fromTimestamp=2025-05-01T10:00:30Z&toTimestamp=2025-05-01T10:01:30Z")
        .await;
    assert_eq!(windowed["data"][1]["generationCount"], 1);
    assert_eq!(windowed["data"][0]["generationCount"], 0);
    assert_eq!(windowed["data"][0]["latencySeconds"], Value::Null);
    app.get("/api/ui/v1/prompts/nope/usage", &Auth::A)
        .await
        .expect_error(404, "LangfuseNotFoundError");
    app.get("/api/ui/v1/prompts/used/usage", &Auth::B)
        .await
        .expect(404);
    app.get("/api/ui/v1/prompts/used/usage?fromTimestamp=x", &Auth::A)
        .await
        .expect_error(400, "InvalidRequestError");
    // Folder names work here too.
    create(&app, text("f/g", "x", &[])).await;
    app.get(
        &format!("/api/ui/v1/prompts/{}/usage", segment("f/g")),
        &Auth::A,
    )
    .await
    .expect(200);
}

#[tokio::test]
async fn otlp_json_generations_link_and_a_later_version_adopts_early_generations() {
    let app = TestApp::new().await;
    let span = |span_id: &str, kind: &str, version: i64| {
        json!({"traceId": "0123456789abcdef0123456789abcdef", "spanId": span_id, "name": format!("otel-{span_id}"),
        "startTimeUnixNano": "1746093600000000000", "endTimeUnixNano": "1746093601000000000",
        "attributes": [
            {"key": "langfuse.observation.type", "value": {"stringValue": kind}},
            {"key": "langfuse.observation.prompt.name", "value": {"stringValue": "otel-prompt"}},
            {"key": "langfuse.observation.prompt.version", "value": {"intValue": version}}
        ]})
    };
    let export = json!({"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"scope": {"name": "langfuse-sdk"}, "spans": [
        span("00000000000000a1", "generation", 1),
        span("00000000000000a2", "generation", 2),
        span("00000000000000a3", "span", 1),
    ]}]}]});
    // Version 1 exists before the export; version 2 only after it.
    let v1 = create(&app, text("otel-prompt", "one", &["production"])).await;
    app.post("/api/public/otel/v1/traces", &Auth::A, &export)
        .await
        .expect(200);
    assert_eq!(
        app.get_ok("/api/public/observations/00000000000000a1")
            .await["promptId"],
        v1["id"]
    );
    assert_eq!(
        app.get_ok("/api/public/observations/00000000000000a2")
            .await["promptId"],
        Value::Null
    );
    assert_eq!(
        app.get_ok("/api/public/observations/00000000000000a3")
            .await["promptId"],
        Value::Null
    );
    let v2 = create(&app, text("otel-prompt", "two", &[])).await;
    assert_eq!(
        app.get_ok("/api/public/observations/00000000000000a2")
            .await["promptId"],
        v2["id"]
    );
    let usage = app.get_ok("/api/ui/v1/prompts/otel-prompt/usage").await;
    assert_eq!(usage["data"][0]["generationCount"], 1);
    assert_eq!(usage["data"][1]["generationCount"], 1);
    assert_eq!(usage["data"][1]["latencySeconds"]["p99"], 1.0);
}

// ---------------------------------------------------------------------------------------
// The fetch cache as seen through HTTP

#[tokio::test]
async fn fetches_see_every_write_at_once() {
    let app = TestApp::new().await;
    fetch(&app, "hot", "").await.expect(404);
    create(&app, text("hot", "one", &["production"])).await;
    assert_eq!(fetch_ok(&app, "hot", "").await["prompt"], "one");
    create(&app, text("hot", "two", &["production"])).await;
    assert_eq!(fetch_ok(&app, "hot", "").await["prompt"], "two");
    move_labels(&app, "hot", 1, &["production"])
        .await
        .expect(200);
    assert_eq!(fetch_ok(&app, "hot", "").await["prompt"], "one");
    delete(&app, "hot", "version=1").await.expect(204);
    fetch(&app, "hot", "").await.expect(404);
    assert_eq!(fetch_ok(&app, "hot", "label=latest").await["prompt"], "two");
    delete(&app, "hot", "").await.expect(204);
    fetch(&app, "hot", "label=latest").await.expect(404);
}

/// Many concurrent fetches and writes: every fetch after a write returns what was written.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_fetches_never_see_a_stale_label_after_the_write_returned() {
    let app = std::sync::Arc::new(TestApp::new().await);
    create(&app, text("race", "v0", &["production"])).await;
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move {
                for _ in 0..50 {
                    fetch(&app, "race", "").await.expect(200);
                }
            })
        })
        .collect();
    for round in 1..=10 {
        create(&app, text("race", &format!("v{round}"), &["production"])).await;
        assert_eq!(
            fetch_ok(&app, "race", "").await["prompt"],
            format!("v{round}")
        );
    }
    for reader in readers {
        reader.await.unwrap();
    }
    assert_eq!(fetch_ok(&app, "race", "").await["prompt"], "v10");
}

// ---------------------------------------------------------------------------------------
// The OpenAPI contract

#[tokio::test]
async fn responses_match_the_openapi_contract() {
    let contract = Contract::load();
    let app = TestApp::new().await;
    let mut problems = Vec::new();
    let mut check = |path: &str, method: &str, body: &Value, what: &str| {
        let (schema, _) = contract.response_schema(path, method);
        contract.check(body, schema, what, &mut problems);
    };
    let one = "/api/public/v2/prompts/{promptName}";
    let text_prompt = create(&app, json!({"name": "t", "prompt": "x", "labels": ["production"], "tags": ["a"], "commitMessage": "m"})).await;
    check(BASE, "post", &text_prompt, "POST text");
    let chat = create(
        &app,
        json!({"name": "c", "type": "chat", "labels": ["production"], "prompt": [
            {"role": "system", "content": format!("S {}", reference("t", "label=production"))},
            {"type": "placeholder", "name": "history"}
        ]}),
    )
    .await;
    check(BASE, "post", &chat, "POST chat");
    let fetched = fetch_ok(&app, "c", "").await;
    assert!(fetched["resolutionGraph"].is_object());
    check(one, "get", &fetched, "GET chat");
    check(
        one,
        "get",
        &fetch_ok(&app, "t", "version=1").await,
        "GET text",
    );
    let patched = move_labels(&app, "t", 1, &["x"]).await.expect(200).clone();
    check(
        "/api/public/v2/prompts/{name}/versions/{version}",
        "patch",
        &patched,
        "PATCH",
    );
    check(BASE, "get", &app.get_ok(BASE).await, "GET list");
    assert!(
        problems.is_empty(),
        "contract problems:\n{}",
        problems.join("\n")
    );
}
