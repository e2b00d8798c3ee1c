//! Authentication (Basic, Bearer scope), health and projects, and project scoping.

use axum::http::Method;
use base64::Engine;
use serde_json::{Value, json};

use crate::support::{Auth, PK_A, PK_B, SK_A, SK_B, TestApp, event, event_at};

#[tokio::test]
async fn health_needs_no_auth() {
    let app = TestApp::new().await;
    let response = app.get("/api/public/health", &Auth::None).await;
    assert_eq!(
        response.expect(200),
        &json!({"status": "OK", "version": "test-version"})
    );
    let checked = app
        .get(
            "/api/public/health?failIfDatabaseUnavailable=true",
            &Auth::None,
        )
        .await;
    assert_eq!(checked.expect(200)["status"], "OK");
    let ready = app
        .get("/api/public/ready", &Auth::Raw("garbage".into()))
        .await;
    assert_eq!(ready.expect(200)["status"], "OK");
}

#[tokio::test]
async fn projects_returns_the_keys_own_project() {
    let app = TestApp::new().await;
    let a = app.get_ok("/api/public/projects").await;
    assert_eq!(
        a,
        json!({"data": [{"id": "project-a", "name": "Project A",
                         "organization": {"id": "org-a", "name": "Org of Project A"}, "metadata": {}}]})
    );
    let b = app.get("/api/public/projects", &Auth::B).await;
    assert_eq!(b.expect(200)["data"][0]["id"], "project-b");
    assert_eq!(b.json["data"].as_array().unwrap().len(), 1);
    app.get("/api/public/projects", &Auth::BearerA)
        .await
        .expect_error(403, "ForbiddenError");
}

#[tokio::test]
async fn missing_wrong_and_garbage_credentials_are_401() {
    let app = TestApp::new().await;
    let b64 = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
    let cases: Vec<(Auth, &str)> = vec![
        (Auth::None, "No authorization header"),
        (Auth::basic(PK_A, "sk-lf-wrong"), "Invalid credentials"),
        (
            Auth::basic(PK_B, SK_A.to_uppercase().as_str()),
            "Invalid credentials",
        ),
        (Auth::Raw("Basic".into()), "Invalid authorization header"),
        (
            Auth::Raw("Basic !!!notbase64!!!".into()),
            "Invalid authorization header",
        ),
        (
            Auth::Raw(format!("Basic {}", b64("no-colon"))),
            "Invalid authorization header",
        ),
        (
            Auth::Raw(format!("Basic {}", b64(":sk-lf-aaaa"))),
            "Invalid authorization header",
        ),
        (
            Auth::Raw(format!("Basic {}", b64("pk-lf-aaaa:"))),
            "Invalid authorization header",
        ),
        (
            Auth::Raw(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode([0xff, 0xfe, b':', 0xff])
            )),
            "Invalid authorization header",
        ),
        (
            Auth::Raw("Bearer pk-lf-unknown".into()),
            "Invalid public key",
        ),
        (Auth::Raw("Bearer ".into()), "Invalid public key"),
        (Auth::Raw(format!("Bearer {SK_A}")), "Invalid public key"),
        (
            Auth::Raw("Token abc".into()),
            "Invalid authorization header",
        ),
        (Auth::Raw("garbage".into()), "Invalid authorization header"),
        (
            Auth::Raw(format!("Basic {}", "A".repeat(10_000))),
            "Invalid authorization header",
        ),
    ];
    for (auth, reason) in cases {
        for (method, uri) in [
            (Method::GET, "/api/public/traces"),
            (Method::GET, "/api/public/projects"),
            (Method::POST, "/api/public/ingestion"),
            (Method::POST, "/api/public/scores"),
            (Method::GET, "/api/public/v3/scores"),
        ] {
            let response = app
                .json(method.clone(), uri, &auth, &json!({"batch": []}))
                .await;
            let message = response.expect_error(401, "UnauthorizedError");
            assert_eq!(
                message,
                format!("{reason}. Confirm that you've configured the correct host."),
                "{auth:?} {method} {uri}"
            );
        }
    }
    // Non-ASCII bytes in the header value.
    let request = axum::http::Request::builder()
        .uri("/api/public/traces")
        .header(
            "authorization",
            axum::http::HeaderValue::from_bytes(b"Basic \xe9\xe9").unwrap(),
        )
        .body(axum::body::Body::empty())
        .unwrap();
    app.send(request)
        .await
        .expect_error(401, "UnauthorizedError");
}

#[tokio::test]
async fn the_secret_alone_identifies_the_key_and_schemes_are_case_insensitive() {
    let app = TestApp::new().await;
    // Langfuse only warns when the public key does not match the secret's key.
    let mismatched = app
        .get("/api/public/projects", &Auth::basic("pk-lf-other", SK_B))
        .await;
    assert_eq!(mismatched.expect(200)["data"][0]["id"], "project-b");
    let lower = Auth::Raw(format!(
        "basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{PK_A}:{SK_A}"))
    ));
    app.get("/api/public/projects", &lower).await.expect(200);
    let bearer = Auth::Raw(format!("bearer {PK_B}"));
    app.post(
        "/api/public/scores",
        &bearer,
        &json!({"traceId": "t", "name": "n", "value": 1}),
    )
    .await
    .expect(200);
    let b_scores = app.get("/api/public/v2/scores", &Auth::B).await;
    assert_eq!(b_scores.expect(200)["meta"]["totalItems"], 1);
}

#[tokio::test]
async fn bearer_public_key_may_only_write_scores() {
    let app = TestApp::new().await;
    let created = app
        .post(
            "/api/public/scores",
            &Auth::BearerA,
            &json!({"id": "bearer-score", "traceId": "t-bearer", "name": "thumbs", "value": 1}),
        )
        .await;
    assert_eq!(created.expect(200), &json!({"id": "bearer-score"}));
    let array = app
        .post(
            "/api/public/scores",
            &Auth::BearerA,
            &json!([{"id": "bearer-2", "traceId": "t-bearer", "name": "thumbs", "value": 0}]),
        )
        .await;
    assert_eq!(array.expect(202), &json!({"message": "Accepted"}));
    app.get_ok("/api/public/v2/scores/bearer-score").await;
    app.get_ok("/api/public/v2/scores/bearer-2").await;

    for (method, uri) in [
        (Method::GET, "/api/public/traces"),
        (Method::GET, "/api/public/traces/t-bearer"),
        (Method::DELETE, "/api/public/traces/t-bearer"),
        (Method::GET, "/api/public/observations"),
        (Method::GET, "/api/public/v2/observations"),
        (Method::GET, "/api/public/sessions"),
        (Method::GET, "/api/public/scores"),
        (Method::GET, "/api/public/v2/scores"),
        (Method::GET, "/api/public/v2/scores/bearer-score"),
        (Method::GET, "/api/public/v3/scores"),
        (Method::DELETE, "/api/public/scores/bearer-score"),
        (Method::GET, "/api/public/projects"),
    ] {
        let response = app
            .raw(method.clone(), uri, &Auth::BearerA, &[], Vec::new())
            .await;
        let message = response.expect_error(403, "ForbiddenError");
        assert_eq!(
            message, "Access denied - insufficient permissions for this endpoint",
            "{method} {uri}"
        );
    }
    // The score survived the refused delete.
    app.get_ok("/api/public/v2/scores/bearer-score").await;

    let batch = vec![
        event("trace-create", json!({"id": "t-bearer", "name": "x"})),
        event(
            "span-create",
            json!({"id": "s-bearer", "traceId": "t-bearer"}),
        ),
        event(
            "generation-create",
            json!({"id": "g-bearer", "traceId": "t-bearer"}),
        ),
        event(
            "score-create",
            json!({"id": "sc-bearer", "traceId": "t-bearer", "name": "n", "value": 1}),
        ),
        event("sdk-log", json!({"log": "x"})),
    ];
    let body = app.ingest(&Auth::BearerA, batch.clone()).await;
    assert_eq!(
        body["successes"],
        json!([{"id": batch[3]["id"], "status": 201}])
    );
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 3);
    for (error, sent) in errors.iter().zip(&batch[..3]) {
        assert_eq!(
            error,
            &json!({"id": sent["id"], "status": 401, "message": "Authentication error", "error": "Access Scope Denied"})
        );
    }
    app.get_ok("/api/public/v2/scores/sc-bearer").await;
    app.get("/api/public/traces/t-bearer", &Auth::A)
        .await
        .expect_error(404, "LangfuseNotFoundError");
    app.get("/api/public/observations/s-bearer", &Auth::A)
        .await
        .expect_error(404, "LangfuseNotFoundError");
}

/// Project A's data, then every read of project B.
#[tokio::test]
async fn project_b_cannot_see_project_a() {
    let app = TestApp::new().await;
    let at = "2025-09-01T00:00:00Z";
    app.ingest_ok(
        &Auth::A,
        vec![
            event_at(
                "trace-create",
                at,
                json!({"id": "a-trace", "name": "secret", "sessionId": "a-session", "userId": "a-user"}),
            ),
            event_at(
                "span-create",
                at,
                json!({"id": "a-span", "traceId": "a-trace", "startTime": at}),
            ),
            event_at(
                "score-create",
                at,
                json!({"id": "a-score", "traceId": "a-trace", "name": "n", "value": 1}),
            ),
            event_at(
                "score-create",
                at,
                json!({"id": "a-session-score", "sessionId": "a-session", "name": "n", "value": 1}),
            ),
        ],
    )
    .await;

    for uri in [
        "/api/public/traces",
        "/api/public/traces?userId=a-user",
        "/api/public/observations",
        "/api/public/observations?traceId=a-trace",
        "/api/public/sessions",
        "/api/public/scores",
        "/api/public/v2/scores",
        "/api/public/v2/scores?traceId=a-trace",
    ] {
        let response = app.get(uri, &Auth::B).await;
        let body = response.expect(200);
        assert_eq!(body["data"], json!([]), "{uri}");
        assert_eq!(body["meta"]["totalItems"], 0, "{uri}");
    }
    for uri in [
        "/api/public/v2/observations",
        "/api/public/v2/observations?traceId=a-trace",
        "/api/public/v3/scores",
        "/api/public/v3/scores?traceId=a-trace",
    ] {
        let response = app.get(uri, &Auth::B).await;
        assert_eq!(response.expect(200)["data"], json!([]), "{uri}");
    }
    for uri in [
        "/api/public/traces/a-trace",
        "/api/public/observations/a-span",
        "/api/public/sessions/a-session",
        "/api/public/scores/a-score",
        "/api/public/v2/scores/a-score",
        "/api/public/v2/scores/a-session-score",
    ] {
        app.get(uri, &Auth::B)
            .await
            .expect_error(404, "LangfuseNotFoundError");
    }
    // B's deletes do not reach A's data.
    app.delete("/api/public/traces/a-trace", &Auth::B)
        .await
        .expect(200);
    app.json(
        Method::DELETE,
        "/api/public/traces",
        &Auth::B,
        &json!({"traceIds": ["a-trace"]}),
    )
    .await
    .expect(200);
    app.delete("/api/public/scores/a-score", &Auth::B)
        .await
        .expect(202);
    // B writing the same ids creates B's own entities, not changes to A's.
    app.ingest_ok(
        &Auth::B,
        vec![
            event_at(
                "trace-create",
                at,
                json!({"id": "a-trace", "name": "b's trace", "tags": ["b"]}),
            ),
            event_at(
                "span-create",
                at,
                json!({"id": "b-span", "traceId": "a-trace", "startTime": at}),
            ),
        ],
    )
    .await;
    let a_trace = app.get_ok("/api/public/traces/a-trace").await;
    assert_eq!(a_trace["name"], "secret");
    assert_eq!(a_trace["tags"], json!([]));
    let ids: Vec<&str> = a_trace["observations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a-span"]);
    assert_eq!(a_trace["scores"][0]["id"], "a-score");
    let b_trace = app.get("/api/public/traces/a-trace", &Auth::B).await;
    assert_eq!(b_trace.expect(200)["name"], "b's trace");
    assert_eq!(b_trace.json["projectId"], "project-b");
    assert_eq!(
        b_trace.json["observations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["id"].clone())
            .collect::<Vec<Value>>(),
        [json!("b-span")]
    );
    let a_list = app.get_ok("/api/public/traces").await;
    assert_eq!(a_list["meta"]["totalItems"], 1);
}

#[tokio::test]
async fn unknown_routes_and_methods() {
    let app = TestApp::new().await;
    let missing = app.get("/api/public/nope", &Auth::A).await;
    missing.expect_error(404, "LangfuseNotFoundError");
    // Outside /api, paths belong to the embedded web UI (see ui_auth.rs).
    let root = app.get("/", &Auth::None).await;
    root.expect(200);
    app.get("/api", &Auth::None)
        .await
        .expect_error(404, "LangfuseNotFoundError");
    let wrong = app
        .raw(Method::PUT, "/api/public/traces", &Auth::A, &[], Vec::new())
        .await;
    assert_eq!(
        wrong.expect_error(405, "MethodNotAllowedError"),
        "Method not allowed"
    );
    let get_ingestion = app.get("/api/public/ingestion", &Auth::A).await;
    get_ingestion.expect_error(405, "MethodNotAllowedError");
}

#[tokio::test]
async fn cors_reflects_the_origin() {
    let app = TestApp::new().await;
    let preflight = app
        .raw(
            Method::OPTIONS,
            "/api/public/scores",
            &Auth::None,
            &[
                ("origin", "https://app.example"),
                ("access-control-request-method", "POST"),
                (
                    "access-control-request-headers",
                    "authorization,content-type",
                ),
            ],
            Vec::new(),
        )
        .await;
    assert!(preflight.status.is_success(), "{:?}", preflight.status);
    assert_eq!(
        preflight.headers["access-control-allow-origin"],
        "https://app.example"
    );
}
