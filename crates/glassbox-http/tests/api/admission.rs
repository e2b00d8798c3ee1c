//! Overload: once the ingestion routes hold their budget of request bytes, new writes get
//! a 503 with `Retry-After` and Langfuse's error body at once; reads are not charged, and
//! writes are admitted again as soon as the budget frees up.

use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{Method, Request, StatusCode, header};
use serde_json::json;

use glassbox_http::HttpConfig;

use crate::support::{Auth, SALT, TestApp, event};

const BUDGET: usize = 64 * 1024;

/// A small ingestion request that fits the budget.
async fn small_batch(app: &TestApp) -> crate::support::Resp {
    let body = json!({"batch": [event("trace-create", json!({"id": "admitted", "name": "n"}))]});
    app.post("/api/public/ingestion", &Auth::A, &body).await
}

type BodySender = tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>;

/// A client that declared a body as large as the whole budget and is still sending it.
fn spawn_slow_client(app: &TestApp) -> (BodySender, tokio::task::JoinHandle<StatusCode>) {
    let (sender, mut receiver) = tokio::sync::mpsc::channel(1);
    let stream = futures_util::stream::poll_fn(move |context| receiver.poll_recv(context));
    let request = Request::builder()
        .method(Method::POST)
        .uri("/api/public/ingestion")
        .header(header::AUTHORIZATION, Auth::A.header().expect("basic auth"))
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, BUDGET.to_string())
        .body(Body::from_stream(stream))
        .expect("request");
    let router = app.router.clone();
    let handle = tokio::spawn(async move {
        tower::ServiceExt::oneshot(router, request)
            .await
            .expect("infallible")
            .status()
    });
    (sender, handle)
}

#[tokio::test]
async fn writes_beyond_the_in_flight_budget_get_503_with_retry_after() {
    let app = TestApp::with_config(HttpConfig {
        salt: SALT.to_owned(),
        ingest_budget_bytes: BUDGET,
        ..HttpConfig::default()
    })
    .await;

    // As soon as the slow request holds the budget, the next write is turned away.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (refused, sender, slow) = loop {
        let (sender, slow) = spawn_slow_client(&app);
        // Let it reach the admission (it then waits for its body).
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        let reply = small_batch(&app).await;
        if reply.status == StatusCode::SERVICE_UNAVAILABLE {
            break (reply, sender, slow);
        }
        assert!(
            reply.status.is_success(),
            "unexpected {}: {}",
            reply.status,
            reply.json
        );
        // The slow request had not taken the budget yet, or lost it to the probe (then it
        // was refused and is discarding its body): end its body and try again.
        drop(sender);
        let status = slow.await.expect("slow request task");
        assert!(status.is_client_error() || status == StatusCode::SERVICE_UNAVAILABLE);
        assert!(Instant::now() < deadline, "the budget was never exhausted");
    };
    assert_eq!(
        refused
            .headers
            .get(header::RETRY_AFTER)
            .map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
    assert_eq!(refused.json["error"], "ServiceUnavailableError");
    assert!(
        refused.json["message"]
            .as_str()
            .is_some_and(|m| m.contains("retry"))
    );
    // Reads are not charged.
    app.get("/api/public/traces", &Auth::A).await.expect(200);

    // The slow client gives up: its charge is returned and writes are admitted again.
    sender
        .send(Err(std::io::Error::other("client went away")))
        .await
        .expect("the slow request is still reading");
    let slow_status = slow.await.expect("slow request task");
    assert!(
        slow_status.is_client_error(),
        "the broken body is the client's fault: {slow_status}"
    );
    let reply = small_batch(&app).await;
    assert_eq!(reply.status, StatusCode::MULTI_STATUS, "{}", reply.json);
}
