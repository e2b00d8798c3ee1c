//! The web UI API (`/api/ui/v1`): accounts, cookie sessions, CSRF, tenant isolation,
//! API keys, the traces table and trace detail, and the embedded app's fallback.

use axum::http::Method;
use serde_json::{Value, json};

use crate::support::{Auth, PROJECT_A, Resp, TestApp, event_at};

const HOST: &str = "glassbox.test";

/// A browser: its cookies and CSRF token.
struct Browser {
    cookie: String,
    csrf: String,
}

fn set_cookies(response: &Resp) -> Vec<String> {
    response
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .collect()
}

fn cookie_pair(set_cookie: &str) -> &str {
    set_cookie.split(';').next().unwrap()
}

fn browser_from(response: &Resp) -> Browser {
    let cookies = set_cookies(response);
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    Browser {
        cookie: cookies
            .iter()
            .map(|c| cookie_pair(c))
            .collect::<Vec<_>>()
            .join("; "),
        csrf: response.json["csrfToken"].as_str().unwrap().to_owned(),
    }
}

async fn call(
    app: &TestApp,
    method: Method,
    uri: &str,
    browser: Option<&Browser>,
    extra: &[(&str, &str)],
    body: Option<Value>,
) -> Resp {
    let mut headers: Vec<(&str, &str)> = vec![("host", HOST), ("content-type", "application/json")];
    if let Some(browser) = browser {
        headers.push(("cookie", &browser.cookie));
        if method != Method::GET {
            headers.push(("x-csrf-token", &browser.csrf));
        }
    }
    headers.extend_from_slice(extra);
    let bytes = body
        .map(|body| serde_json::to_vec(&body).unwrap())
        .unwrap_or_default();
    app.raw(method, uri, &Auth::None, &headers, bytes).await
}

async fn sign_up(app: &TestApp, email: &str) -> Browser {
    let response = call(
        app,
        Method::POST,
        "/api/ui/v1/auth/sign-up",
        None,
        &[("origin", "http://glassbox.test")],
        Some(json!({"email": email, "name": "Ada", "password": "correct horse"})),
    )
    .await;
    response.expect(200);
    browser_from(&response)
}

#[tokio::test]
async fn sign_up_sets_http_only_lax_cookies_and_the_first_user_owns_the_organizations() {
    let app = TestApp::new().await;
    let response = call(
        &app,
        Method::POST,
        "/api/ui/v1/auth/sign-up",
        None,
        &[],
        Some(json!({"email": "Ada@Example.com", "name": "Ada", "password": "correct horse"})),
    )
    .await;
    let body = response.expect(200).clone();
    assert_eq!(body["user"]["email"], "ada@example.com");
    let cookies = set_cookies(&response);
    let session = cookies
        .iter()
        .find(|c| c.starts_with("glassbox_session="))
        .unwrap();
    assert!(
        session.contains("HttpOnly")
            && session.contains("SameSite=Lax")
            && session.contains("Path=/"),
        "{session}"
    );
    assert!(!session.contains("Secure"), "plain HTTP: no Secure flag");
    let csrf = cookies
        .iter()
        .find(|c| c.starts_with("glassbox_csrf="))
        .unwrap();
    assert!(!csrf.contains("HttpOnly"), "the page reads the CSRF cookie");
    // The stored session is the token's hash, never the token.
    let token = cookie_pair(session).trim_start_matches("glassbox_session=");
    assert!(token.len() >= 43);
    // The first user owns the organizations that had no member (both test orgs).
    let org_ids: Vec<&str> = body["organizations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(org_ids.len(), 2, "{body}");
    assert!(
        body["organizations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["role"] == "OWNER")
    );

    let browser = browser_from(&response);
    let session = call(
        &app,
        Method::GET,
        "/api/ui/v1/auth/session",
        Some(&browser),
        &[],
        None,
    )
    .await;
    assert_eq!(session.expect(200)["user"]["name"], "Ada");

    // The same email again is a conflict.
    let again = call(
        &app,
        Method::POST,
        "/api/ui/v1/auth/sign-up",
        None,
        &[],
        Some(json!({"email": "ada@example.com", "password": "another password"})),
    )
    .await;
    again.expect(409);
}

#[tokio::test]
async fn secure_cookie_behind_https() {
    let app = TestApp::new().await;
    let response = call(
        &app,
        Method::POST,
        "/api/ui/v1/auth/sign-up",
        None,
        &[("x-forwarded-proto", "https")],
        Some(json!({"email": "a@example.com", "password": "correct horse"})),
    )
    .await;
    response.expect(200);
    assert!(
        set_cookies(&response)
            .iter()
            .all(|c| c.contains("; Secure"))
    );
}

#[tokio::test]
async fn sign_up_validates_input() {
    let app = TestApp::new().await;
    for body in [
        json!({"email": "not-an-email", "password": "correct horse"}),
        json!({"email": "a@example.com", "password": "short"}),
        json!({"email": "a@example.com"}),
    ] {
        let response = call(
            &app,
            Method::POST,
            "/api/ui/v1/auth/sign-up",
            None,
            &[],
            Some(body),
        )
        .await;
        response.expect(400);
        assert!(set_cookies(&response).is_empty());
    }
}

#[tokio::test]
async fn sign_in_with_the_right_password_only_and_sign_out_ends_the_session() {
    let app = TestApp::new().await;
    let first = sign_up(&app, "ada@example.com").await;
    for (email, password) in [
        ("ada@example.com", "wrong password"),
        ("nobody@example.com", "correct horse"),
    ] {
        let response = call(
            &app,
            Method::POST,
            "/api/ui/v1/auth/sign-in",
            None,
            &[],
            Some(json!({"email": email, "password": password})),
        )
        .await;
        let message = response.expect_error(401, "UnauthorizedError");
        assert!(
            message.starts_with("Invalid email or password"),
            "{message}"
        );
        assert!(set_cookies(&response).is_empty());
    }
    let response = call(
        &app,
        Method::POST,
        "/api/ui/v1/auth/sign-in",
        None,
        &[],
        Some(json!({"email": "ADA@example.com", "password": "correct horse"})),
    )
    .await;
    response.expect(200);
    let second = browser_from(&response);
    assert_ne!(
        first.cookie, second.cookie,
        "every sign-in gets a new token"
    );

    let out = call(
        &app,
        Method::POST,
        "/api/ui/v1/auth/sign-out",
        Some(&second),
        &[],
        None,
    )
    .await;
    out.expect(200);
    assert!(set_cookies(&out).iter().all(|c| c.contains("Max-Age=0")));
    call(
        &app,
        Method::GET,
        "/api/ui/v1/auth/session",
        Some(&second),
        &[],
        None,
    )
    .await
    .expect(401);
    // The other session lives on.
    call(
        &app,
        Method::GET,
        "/api/ui/v1/auth/session",
        Some(&first),
        &[],
        None,
    )
    .await
    .expect(200);
    call(
        &app,
        Method::GET,
        "/api/ui/v1/auth/session",
        None,
        &[],
        None,
    )
    .await
    .expect(401);
}

#[tokio::test]
async fn unsafe_requests_need_the_csrf_token_and_a_same_origin() {
    let app = TestApp::new().await;
    let browser = sign_up(&app, "ada@example.com").await;
    let uri = format!("/api/ui/v1/projects/{PROJECT_A}/api-keys");
    // No token.
    let without = Browser {
        cookie: browser.cookie.clone(),
        csrf: String::new(),
    };
    call(
        &app,
        Method::POST,
        &uri,
        Some(&without),
        &[],
        Some(json!({})),
    )
    .await
    .expect(403);
    // A wrong token.
    let wrong = Browser {
        cookie: browser.cookie.clone(),
        csrf: "0".repeat(64),
    };
    call(&app, Method::POST, &uri, Some(&wrong), &[], Some(json!({})))
        .await
        .expect(403);
    // The right token from another site.
    call(
        &app,
        Method::POST,
        &uri,
        Some(&browser),
        &[("origin", "https://evil.example")],
        Some(json!({})),
    )
    .await
    .expect(403);
    // Sign-in from another site (login CSRF).
    call(
        &app,
        Method::POST,
        "/api/ui/v1/auth/sign-in",
        None,
        &[("origin", "https://evil.example")],
        Some(json!({"email": "ada@example.com", "password": "correct horse"})),
    )
    .await
    .expect(403);
    // Nothing was created; with the token it works.
    assert!(
        app.stores
            .admin
            .list_api_keys(&glassbox_model::ProjectId(PROJECT_A.into()))
            .await
            .unwrap()
            .len()
            == 1
    );
    call(
        &app,
        Method::POST,
        &uri,
        Some(&browser),
        &[("origin", "http://glassbox.test")],
        Some(json!({})),
    )
    .await
    .expect(201);
}

#[tokio::test]
async fn api_keys_are_created_with_the_secret_once_listed_without_it_and_revoked() {
    let app = TestApp::new().await;
    let browser = sign_up(&app, "ada@example.com").await;
    let uri = format!("/api/ui/v1/projects/{PROJECT_A}/api-keys");
    let created = call(
        &app,
        Method::POST,
        &uri,
        Some(&browser),
        &[],
        Some(json!({"note": "ci"})),
    )
    .await;
    let created = created.expect(201).clone();
    let (public_key, secret_key) = (
        created["publicKey"].as_str().unwrap(),
        created["secretKey"].as_str().unwrap(),
    );
    assert!(public_key.starts_with("pk-lf-") && secret_key.starts_with("sk-lf-"));
    // The new key works on the public API.
    app.get("/api/public/traces", &Auth::basic(public_key, secret_key))
        .await
        .expect(200);
    let listed = call(&app, Method::GET, &uri, Some(&browser), &[], None).await;
    let listed = listed.expect(200).clone();
    assert_eq!(listed["data"].as_array().unwrap().len(), 2);
    assert!(
        !listed.to_string().contains(secret_key),
        "listing never shows a secret"
    );
    let id = created["id"].as_str().unwrap();
    call(
        &app,
        Method::DELETE,
        &format!("{uri}/{id}"),
        Some(&browser),
        &[],
        None,
    )
    .await
    .expect(200);
    app.get("/api/public/traces", &Auth::basic(public_key, secret_key))
        .await
        .expect(401);
    call(
        &app,
        Method::DELETE,
        &format!("{uri}/{id}"),
        Some(&browser),
        &[],
        None,
    )
    .await
    .expect(404);
}

#[tokio::test]
async fn a_user_sees_only_the_projects_of_their_organizations() {
    let app = TestApp::new().await;
    let owner = sign_up(&app, "owner@example.com").await;
    let stranger = sign_up(&app, "stranger@example.com").await;
    let session = call(
        &app,
        Method::GET,
        "/api/ui/v1/auth/session",
        Some(&stranger),
        &[],
        None,
    )
    .await;
    let session = session.expect(200).clone();
    let orgs = session["organizations"].as_array().unwrap();
    assert_eq!(
        orgs.len(),
        1,
        "a later user gets an organization of their own: {session}"
    );
    assert_eq!(orgs[0]["projects"], json!([]));
    for uri in [
        format!("/api/ui/v1/projects/{PROJECT_A}/traces"),
        format!("/api/ui/v1/projects/{PROJECT_A}/api-keys"),
        format!("/api/ui/v1/projects/{PROJECT_A}/traces/t1"),
        format!("/api/ui/v1/projects/{PROJECT_A}/sessions"),
    ] {
        call(&app, Method::GET, &uri, Some(&stranger), &[], None)
            .await
            .expect(404);
        call(&app, Method::GET, &uri, Some(&owner), &[], None).await;
    }
    call(
        &app,
        Method::POST,
        &format!("/api/ui/v1/projects/{PROJECT_A}/api-keys"),
        Some(&stranger),
        &[],
        Some(json!({})),
    )
    .await
    .expect(404);
    call(
        &app,
        Method::POST,
        "/api/ui/v1/organizations/org-a/projects",
        Some(&stranger),
        &[],
        Some(json!({"name": "x"})),
    )
    .await
    .expect(404);

    // The stranger's own project is theirs alone.
    let org = orgs[0]["id"].as_str().unwrap();
    let project = call(
        &app,
        Method::POST,
        &format!("/api/ui/v1/organizations/{org}/projects"),
        Some(&stranger),
        &[],
        Some(json!({"name": "Mine"})),
    )
    .await;
    let project_id = project.expect(201)["id"].as_str().unwrap().to_owned();
    call(
        &app,
        Method::GET,
        &format!("/api/ui/v1/projects/{project_id}/traces"),
        Some(&stranger),
        &[],
        None,
    )
    .await
    .expect(200);
    call(
        &app,
        Method::GET,
        &format!("/api/ui/v1/projects/{project_id}/traces"),
        Some(&owner),
        &[],
        None,
    )
    .await
    .expect(404);
    // API keys do not open the UI API, cookies do not open the public API.
    app.get(&format!("/api/ui/v1/projects/{PROJECT_A}/traces"), &Auth::A)
        .await
        .expect(401);
}

#[tokio::test]
async fn traces_table_and_trace_detail() {
    let app = TestApp::new().await;
    let browser = sign_up(&app, "ada@example.com").await;
    app.ingest_ok(
        &Auth::A,
        vec![
            event_at("trace-create", "2025-03-01T10:00:00Z", json!({"id": "t1", "name": "chat", "userId": "u1", "sessionId": "s1", "tags": ["prod"], "timestamp": "2025-03-01T10:00:00Z"})),
            event_at("generation-create", "2025-03-01T10:00:00Z", json!({"id": "g1", "traceId": "t1", "name": "llm", "model": "gpt-4o",
                "startTime": "2025-03-01T10:00:00Z", "endTime": "2025-03-01T10:00:02Z", "completionStartTime": "2025-03-01T10:00:01Z",
                "input": [{"role": "user", "content": "hi"}], "output": {"role": "assistant", "content": "hello"},
                "usageDetails": {"input": 3, "output": 2, "total": 5}, "costDetails": {"total": 0.25}})),
            event_at("span-create", "2025-03-01T10:00:00Z", json!({"id": "sp1", "traceId": "t1", "parentObservationId": "g1", "level": "ERROR", "startTime": "2025-03-01T10:00:00.500Z"})),
            event_at("score-create", "2025-03-01T10:00:00Z", json!({"id": "sc1", "traceId": "t1", "name": "quality", "value": 1})),
            event_at("trace-create", "2025-03-02T10:00:00Z", json!({"id": "t2", "name": "other", "timestamp": "2025-03-02T10:00:00Z"})),
        ],
    )
    .await;
    let base = format!("/api/ui/v1/projects/{PROJECT_A}");
    let list = call(
        &app,
        Method::GET,
        &format!("{base}/traces"),
        Some(&browser),
        &[],
        None,
    )
    .await;
    let list = list.expect(200).clone();
    assert_eq!(list["meta"]["totalItems"], 2);
    let t1 = &list["data"][1];
    assert_eq!(t1["id"], "t1");
    assert_eq!(t1["level"], "ERROR");
    assert_eq!(t1["totalTokens"], 5.0);
    assert_eq!(t1["totalCost"], 0.25);
    assert_eq!(t1["scores"]["quality"], 1.0);
    assert_eq!(t1["latency"], 2.0);
    for (query, expected) in [
        ("name=chat", vec!["t1"]),
        ("userId=u1", vec!["t1"]),
        ("sessionId=s1", vec!["t1"]),
        ("tags=prod", vec!["t1"]),
        ("search=oth", vec!["t2"]),
        ("search=t1&searchType=id", vec!["t1"]),
        ("fromTimestamp=2025-03-02T00:00:00Z", vec!["t2"]),
        ("orderBy=timestamp.asc", vec!["t1", "t2"]),
        ("environment=production", vec![]),
    ] {
        let response = call(
            &app,
            Method::GET,
            &format!("{base}/traces?{query}"),
            Some(&browser),
            &[],
            None,
        )
        .await;
        response.expect(200);
        assert_eq!(response.ids(), expected, "{query}");
    }
    let filter =
        r#"[{"column":"level","type":"stringOptions","operator":"any of","value":["ERROR"]}]"#;
    let response = call(
        &app,
        Method::GET,
        &format!("{base}/traces?filter={}", crate::support::enc(filter)),
        Some(&browser),
        &[],
        None,
    )
    .await;
    response.expect(200);
    assert_eq!(response.ids(), vec!["t1"]);

    let detail = call(
        &app,
        Method::GET,
        &format!("{base}/traces/t1"),
        Some(&browser),
        &[],
        None,
    )
    .await;
    let detail = detail.expect(200).clone();
    let observations = detail["observations"].as_array().unwrap();
    assert_eq!(observations.len(), 2);
    let span = observations.iter().find(|o| o["id"] == "sp1").unwrap();
    assert_eq!(span["parentId"], "g1");
    assert!(span.get("input").is_none(), "nodes carry no input/output");
    assert_eq!(detail["scores"][0]["name"], "quality");

    let generation = call(
        &app,
        Method::GET,
        &format!("{base}/observations/g1"),
        Some(&browser),
        &[],
        None,
    )
    .await;
    let generation = generation.expect(200).clone();
    assert_eq!(generation["input"][0]["content"], "hi");
    assert_eq!(generation["timeToFirstToken"], 1.0);
    call(
        &app,
        Method::GET,
        &format!("{base}/traces/nope"),
        Some(&browser),
        &[],
        None,
    )
    .await
    .expect(404);

    let session = call(
        &app,
        Method::GET,
        &format!("{base}/sessions/s1"),
        Some(&browser),
        &[],
        None,
    )
    .await;
    assert_eq!(session.expect(200)["traces"][0]["id"], "t1");
}

#[tokio::test]
async fn the_app_is_served_for_non_api_paths() {
    let app = TestApp::new().await;
    let page = app.get("/project/p/traces/t", &Auth::None).await;
    page.expect(200);
    assert!(
        page.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(page.headers["cache-control"], "no-cache");
    assert!(page.headers.contains_key("content-security-policy"));
    assert!(String::from_utf8_lossy(&page.bytes).contains("<html"));
    app.get("/api/nope", &Auth::None)
        .await
        .expect_error(404, "LangfuseNotFoundError");
    app.get("/api/ui/v1/nope", &Auth::None).await.expect(404);
    app.get("/assets/missing-1234.js", &Auth::None)
        .await
        .expect(404);
    app.raw(Method::POST, "/somewhere", &Auth::None, &[], Vec::new())
        .await
        .expect(405);
}

#[tokio::test]
async fn users_generations_and_metrics_views() {
    let app = TestApp::new().await;
    let browser = sign_up(&app, "ada@example.com").await;
    app.ingest_ok(
        &Auth::A,
        vec![
            event_at("trace-create", "2025-03-01T10:00:00Z", json!({"id": "t1", "userId": "alice", "sessionId": "s1", "timestamp": "2025-03-01T10:00:00Z"})),
            event_at("generation-create", "2025-03-01T10:00:00Z", json!({"id": "g1", "traceId": "t1", "name": "llm", "model": "gpt-4o",
                "startTime": "2025-03-01T10:00:00Z", "endTime": "2025-03-01T10:00:02Z", "completionStartTime": "2025-03-01T10:00:00.500Z",
                "usageDetails": {"input": 3, "output": 2, "total": 5}, "costDetails": {"total": 0.25}})),
            event_at("trace-create", "2025-03-02T10:00:00Z", json!({"id": "t2", "userId": "bob", "timestamp": "2025-03-02T10:00:00Z"})),
            event_at("generation-create", "2025-03-02T10:00:00Z", json!({"id": "g2", "traceId": "t2", "name": "llm", "model": "claude-x",
                "level": "ERROR", "startTime": "2025-03-02T10:00:00Z", "usageDetails": {"input": 1, "output": 1}, "costDetails": {"total": 1.0}})),
        ],
    )
    .await;
    let base = format!("/api/ui/v1/projects/{PROJECT_A}");
    let get = |path: String| {
        let app = &app;
        let browser = &browser;
        async move { call(app, Method::GET, &path, Some(browser), &[], None).await }
    };
    let users = get(format!("{base}/users")).await;
    let users = users.expect(200).clone();
    assert_eq!(users["meta"]["totalItems"], 2);
    assert_eq!(users["data"][0]["userId"], "bob");
    assert_eq!(users["data"][1]["totalTokens"], 5.0);
    assert_eq!(users["data"][1]["firstSeen"], 1_740_823_200_000.0);
    let by_cost = get(format!("{base}/users?orderBy=totalCost.asc&limit=1")).await;
    assert_eq!(by_cost.expect(200)["data"][0]["userId"], "alice");
    get(format!("{base}/users?orderBy=name.asc"))
        .await
        .expect(400);
    let alice = get(format!("{base}/users/alice")).await;
    let alice = alice.expect(200).clone();
    assert_eq!(alice["traceCount"], 1);
    assert_eq!(alice["totalCost"], 0.25);
    assert_eq!(alice["sessions"][0]["sessionId"], "s1");
    get(format!("{base}/users/nobody")).await.expect(404);

    let generations = get(format!("{base}/generations")).await;
    let generations = generations.expect(200).clone();
    assert_eq!(generations["meta"]["totalItems"], 2);
    let g1 = &generations["data"][1];
    assert_eq!(g1["id"], "g1");
    assert_eq!(g1["latency"], 2.0);
    assert_eq!(g1["timeToFirstToken"], 0.5);
    assert_eq!(g1["totalTokens"], 5.0);
    assert_eq!(generations["data"][0]["totalTokens"], 2.0);
    for (query, expected) in [
        ("model=gpt-4o", vec!["g1"]),
        ("model=gpt-4o,claude-x", vec!["g2", "g1"]),
        ("model=none", vec![]),
        ("fromTimestamp=2025-03-02T00:00:00Z", vec!["g2"]),
        ("level=ERROR", vec!["g2"]),
    ] {
        let response = get(format!("{base}/generations?{query}")).await;
        response.expect(200);
        assert_eq!(response.ids(), expected, "{query}");
    }

    let query = |value: Value| format!("{base}/metrics?query={}", url_escape(&value.to_string()));
    let by_model = get(query(json!({
        "view": "observations", "metrics": [{"measure": "totalCost", "aggregation": "sum"}],
        "dimensions": [{"field": "providedModelName"}],
        "fromTimestamp": "2025-01-01T00:00:00Z", "toTimestamp": "2026-01-01T00:00:00Z",
        "orderBy": [{"field": "sum_totalCost", "direction": "desc"}]})))
    .await;
    let by_model = by_model.expect(200).clone();
    assert_eq!(by_model["data"][0]["providedModelName"], "claude-x");
    assert_eq!(by_model["data"][0]["sum_totalCost"], 1.0);
    let traces = get(query(json!({
        "view": "traces", "metrics": [{"measure": "count", "aggregation": "count"}],
        "timeDimension": {"granularity": "day"},
        "fromTimestamp": "2025-03-01T00:00:00Z", "toTimestamp": "2025-03-03T00:00:00Z"})))
    .await;
    let traces = traces.expect(200).clone();
    assert_eq!(traces["data"].as_array().unwrap().len(), 2, "{traces}");
    get(format!("{base}/metrics")).await.expect(400);
    get(query(json!({"view": "nope"}))).await.expect(400);

    // Signed out: 401; another organization's user: 404.
    call(&app, Method::GET, &format!("{base}/users"), None, &[], None)
        .await
        .expect(401);
    let stranger = sign_up(&app, "eve@example.com").await;
    for path in [
        "users",
        "users/alice",
        "generations",
        "metrics?query=%7B%7D",
    ] {
        call(
            &app,
            Method::GET,
            &format!("{base}/{path}"),
            Some(&stranger),
            &[],
            None,
        )
        .await
        .expect(404);
    }
}

fn url_escape(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}
