//! `glassbox migrate-data`: an embedded install filled through the HTTP API is copied
//! into PostgreSQL (first interrupted, then resumed, then repeated), and every read API
//! answers the same JSON from the binary on PostgreSQL as it did on SQLite.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{
    Api, Output, Server, command, fresh_schema, poll, postgres_env, test_database_url,
};

const PUBLIC_KEY: &str = "pk-lf-migrate";
const SECRET_KEY: &str = "sk-lf-migrate-secret";

/// The trace of `fill`'s OTLP agent (a root and three children over two requests).
const OTLP_AGENT_TRACE: &str = "1af7651916cd43dd8448eb211c80319d";

fn init_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("LANGFUSE_INIT_ORG_ID", "migrate-org"),
        ("LANGFUSE_INIT_PROJECT_ID", "migrate-project"),
        ("LANGFUSE_INIT_PROJECT_PUBLIC_KEY", PUBLIC_KEY),
        ("LANGFUSE_INIT_PROJECT_SECRET_KEY", SECRET_KEY),
    ]
}

fn event(kind: &str, timestamp: &str, body: Value) -> Value {
    json!({"id": uuid::Uuid::new_v4().to_string(), "type": kind, "timestamp": timestamp, "body": body})
}

fn expect(reply: Result<crate::support::Reply, ureq::Error>, status: u16) -> Value {
    let reply = reply.expect("request");
    assert_eq!(reply.status, status, "{}", reply.body);
    reply.json()
}

/// Traces (one in a session, one updated later), observations of every kind, scores,
/// an OTLP span, prompts with labels, a dataset with items and a run.
fn fill(api: &Api) {
    let mut batch = Vec::new();
    for number in 0..3 {
        let trace = format!("trace-{number}");
        let at = format!("2026-01-0{}T10:00:00.000Z", number + 1);
        batch.push(event(
            "trace-create",
            &at,
            json!({"id": trace, "name": format!("request {number}"), "userId": "user-1",
                   "sessionId": if number < 2 { json!("session-1") } else { Value::Null },
                   "input": {"question": number}, "tags": ["migrated"], "metadata": {"n": number}}),
        ));
        batch.push(event(
            "span-create",
            &at,
            json!({"id": format!("span-{number}"), "traceId": trace, "name": "retrieve",
                   "startTime": at, "endTime": format!("2026-01-0{}T10:00:01.000Z", number + 1)}),
        ));
        // Large values: the embedded store keeps them as content-addressed payloads
        // (a shared system message is stored once, long text deflated); the copy must
        // carry the values themselves.
        let system = "You answer questions about the migration. ".repeat(12);
        batch.push(event(
            "generation-create",
            &at,
            json!({"id": format!("generation-{number}"), "traceId": trace,
                   "parentObservationId": format!("span-{number}"), "name": "answer",
                   "model": "gpt-4o", "startTime": at,
                   "input": [{"role": "system", "content": system},
                             {"role": "user", "content": format!("question {number} ").repeat(30)}],
                   "metadata": {"notes": "n".repeat(400)},
                   "usage": {"input": 100 + number, "output": 20},
                   "output": format!("answer {number} ").repeat(200)}),
        ));
        batch.push(event(
            "event-create",
            &at,
            json!({"id": format!("event-{number}"), "traceId": trace, "name": "cache hit",
                   "startTime": at}),
        ));
        batch.push(event(
            "score-create",
            &at,
            json!({"id": format!("score-{number}"), "traceId": trace, "name": "quality",
                   "value": 0.5 + f64::from(number) / 10.0}),
        ));
    }
    batch.push(event(
        "trace-create",
        "2026-01-05T10:00:00.000Z",
        json!({"id": "trace-0", "output": {"answer": "updated later"}}),
    ));
    let accepted = expect(
        api.post_json("/api/public/ingestion", &json!({ "batch": batch })),
        207,
    );
    assert_eq!(accepted["errors"], json!([]), "{accepted}");

    let export = json!({"resourceSpans": [{"scopeSpans": [{"spans": [{
        "traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331",
        "name": "otlp span", "kind": 1,
        "startTimeUnixNano": "1767261600000000000", "endTimeUnixNano": "1767261601000000000",
        "attributes": [{"key": "langfuse.trace.name", "value": {"stringValue": "otlp"}}]
    }]}]}]});
    expect(api.post_json("/api/public/otel/v1/traces", &export), 200);
    // An agent trace over two requests (children first, then the root), each span
    // carrying the propagated user and session: the embedded log keeps only the trace
    // events that can still change the trace (`prune_otlp_trace_events`), rewritten, and
    // PostgreSQL must fold that log to the same trace.
    let span = |span_id: &str, parent: Option<&str>, start_s: u64, extra: Value| {
        let mut attributes = vec![
            json!({"key": "user.id", "value": {"stringValue": "otel-user"}}),
            json!({"key": "session.id", "value": {"stringValue": "otel-session"}}),
        ];
        if let Value::Array(extra) = extra {
            attributes.extend(extra);
        }
        let mut span = json!({
            "traceId": OTLP_AGENT_TRACE, "spanId": span_id, "name": format!("step {span_id}"),
            "kind": 1,
            "startTimeUnixNano": format!("{}", 1_767_261_700_000_000_000u64 + start_s * 1_000_000_000),
            "endTimeUnixNano": format!("{}", 1_767_261_700_500_000_000u64 + start_s * 1_000_000_000),
            "attributes": attributes,
        });
        if let Some(parent) = parent {
            span["parentSpanId"] = json!(parent);
        }
        span
    };
    let root = "a000000000000001";
    for spans in [
        vec![
            span("a000000000000002", Some(root), 2, json!([])),
            span("a000000000000003", Some(root), 3, json!([])),
        ],
        vec![
            span("a000000000000004", Some(root), 4, json!([])),
            span(
                root,
                None,
                1,
                json!([{"key": "langfuse.trace.name", "value": {"stringValue": "agent"}}]),
            ),
        ],
    ] {
        let export = json!({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]});
        expect(api.post_json("/api/public/otel/v1/traces", &export), 200);
        // Arrivals a visible millisecond apart (the API shows milliseconds).
        std::thread::sleep(Duration::from_millis(20));
    }

    let prompts = "/api/public/v2/prompts";
    for body in [
        json!({"name": "greeting", "prompt": "Hello {{name}}", "labels": ["production"]}),
        json!({"name": "greeting", "prompt": "Hi {{name}}", "labels": ["staging"],
               "config": {"temperature": 0.2}, "commitMessage": "shorter"}),
        json!({"name": "chat", "type": "chat", "labels": ["production"],
               "prompt": [{"role": "system", "content": "Be brief"}]}),
    ] {
        expect(api.post_json(prompts, &body), 201);
    }

    expect(
        api.post_json(
            "/api/public/v2/datasets",
            &json!({"name": "qa", "description": "questions", "metadata": {"owner": "me"}}),
        ),
        200,
    );
    for number in 0..2 {
        expect(
            api.post_json(
                "/api/public/dataset-items",
                &json!({"datasetName": "qa", "id": format!("item-{number}"),
                        "input": {"question": number}, "expectedOutput": {"answer": number}}),
            ),
            200,
        );
    }
    // A second version of an item.
    expect(
        api.post_json(
            "/api/public/dataset-items",
            &json!({"datasetName": "qa", "id": "item-0", "input": {"question": "zero"}}),
        ),
        200,
    );
    for number in 0..2 {
        expect(
            api.post_json(
                "/api/public/dataset-run-items",
                &json!({"runName": "run-1", "runDescription": "first run",
                        "datasetItemId": format!("item-{number}"),
                        "traceId": format!("trace-{number}")}),
            ),
            200,
        );
    }
}

/// Path and query of an absolute URL.
fn path_of(url: &str) -> String {
    let rest = url.strip_prefix("http://").expect("an http URL");
    rest[rest.find('/').expect("a path")..].to_owned()
}

/// Bytes over two media chunks (1 MiB each on PostgreSQL).
fn media_bytes() -> Vec<u8> {
    (0..2 * 1024 * 1024 + 123)
        .map(|index: u32| (index.wrapping_mul(7) % 251) as u8)
        .collect()
}

/// Registers and uploads [`media_bytes`]; returns the media id.
fn upload_media(api: &Api) -> String {
    use base64::Engine;
    use sha2::Digest;
    let bytes = media_bytes();
    let checksum = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&bytes));
    let registered = expect(
        api.post_json(
            "/api/public/media",
            &json!({"traceId": "trace-0", "contentType": "image/png",
                    "contentLength": bytes.len(), "sha256Hash": checksum, "field": "input"}),
        ),
        201,
    );
    let upload = path_of(registered["uploadUrl"].as_str().expect("an upload URL"));
    let status = api
        .put_bytes(
            &upload,
            &[
                ("content-type", "image/png"),
                ("x-amz-checksum-sha256", &checksum),
            ],
            &bytes,
        )
        .expect("upload");
    assert!((200..300).contains(&status), "upload answered {status}");
    registered["mediaId"].as_str().expect("media id").to_owned()
}

/// The media record (without its signed, time-dependent URL and expiry) and its bytes.
fn read_media(api: &Api, media_id: &str) -> (Value, Vec<u8>) {
    let mut record = expect(api.get(&format!("/api/public/media/{media_id}")), 200);
    let url = path_of(record["url"].as_str().expect("a download URL"));
    record["url"] = Value::Null;
    record["urlExpiry"] = Value::Null;
    let (status, bytes) = api.get_bytes(&url).expect("download");
    assert_eq!(status, 200);
    (record, bytes)
}

/// Every read API, with the JSON it answers.
fn read_everything(api: &Api) -> Vec<(String, Value)> {
    let mut paths: Vec<String> = [
        "/api/public/traces",
        "/api/public/traces?userId=user-1&orderBy=timestamp.asc",
        "/api/public/observations",
        "/api/public/observations?type=GENERATION",
        "/api/public/v2/observations",
        "/api/public/v2/scores",
        "/api/public/sessions",
        "/api/public/sessions/session-1",
        "/api/public/v2/prompts",
        "/api/public/v2/prompts/greeting",
        "/api/public/v2/prompts/greeting?version=1",
        "/api/public/v2/prompts/greeting?label=staging",
        "/api/public/v2/prompts/chat",
        "/api/public/v2/datasets",
        "/api/public/v2/datasets/qa",
        "/api/public/datasets/qa/runs",
        "/api/public/datasets/qa/runs/run-1",
        "/api/public/dataset-items?datasetName=qa",
        "/api/public/dataset-items/item-0",
        "/api/public/projects",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    for number in 0..3 {
        paths.push(format!("/api/public/traces/trace-{number}"));
        paths.push(format!("/api/public/observations/generation-{number}"));
        paths.push(format!("/api/public/v2/scores/score-{number}"));
    }
    paths.push("/api/public/traces/0af7651916cd43dd8448eb211c80319c".to_owned());
    paths.push(format!("/api/public/traces/{OTLP_AGENT_TRACE}"));
    paths
        .into_iter()
        .map(|path| {
            let body = expect(api.get(&path), 200);
            (path, body)
        })
        .collect()
}

fn migrate(data_dir: &Path, schema: &str, extra: &[&str]) -> Output {
    let output = command()
        .arg("migrate-data")
        .arg("--from")
        .arg(data_dir)
        .arg("--to")
        .arg(test_database_url())
        .arg("--to-schema")
        .arg(schema)
        .arg("--chunk-rows")
        .arg("3")
        .args(extra)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("running glassbox migrate-data");
    Output {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn an_interrupted_migration_resumes_and_every_read_answers_the_same() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut embedded = Server::start(data_dir.path(), &init_env());
    let api = Api::with_key(embedded.port, PUBLIC_KEY, SECRET_KEY);
    fill(&api);
    let media_id = upload_media(&api);
    let before = read_everything(&api);
    let agent_path = format!("/api/public/traces/{OTLP_AGENT_TRACE}");
    let (_, agent) = before
        .iter()
        .find(|(path, _)| *path == agent_path)
        .expect("the agent trace was read");
    assert_eq!(agent["name"], "agent", "{agent}");
    assert_eq!(agent["userId"], "otel-user");
    assert_eq!(agent["sessionId"], "otel-session");
    assert_eq!(agent["timestamp"], "2026-01-01T10:01:41.000Z");
    assert_eq!(agent["observations"].as_array().map(Vec::len), Some(4));
    // Created when the first request arrived, updated by the second, although the
    // first request's trace events are no longer logged as they came.
    assert!(
        agent["createdAt"].as_str() < agent["updatedAt"].as_str(),
        "{agent}"
    );
    let media_before = read_media(&api, &media_id);
    assert_eq!(media_before.1, media_bytes());
    assert!(embedded.terminate().status.success());

    let schema = fresh_schema("migrate");
    // Interrupted after a few chunks: fails, and says how to go on.
    let interrupted = migrate(data_dir.path(), &schema, &["--stop-after-rows", "10"]);
    assert!(!interrupted.status.success(), "{}", interrupted.stdout);
    assert!(
        interrupted
            .stderr
            .contains("run the command again to resume"),
        "{}",
        interrupted.stderr
    );
    // Resumed: copies the rest.
    let resumed = migrate(data_dir.path(), &schema, &[]);
    assert!(resumed.status.success(), "{}", resumed.stderr);
    let copied = |output: &Output| -> (u64, u64) {
        let line = output
            .stdout
            .lines()
            .find(|line| line.starts_with("copied "))
            .unwrap_or_else(|| panic!("no summary in {}", output.stdout));
        let numbers: Vec<u64> = line
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|part| part.parse().ok())
            .collect();
        (numbers[0], numbers[1])
    };
    let (rows, new) = copied(&resumed);
    assert!(
        rows > 0 && new == rows,
        "the resume copies only what is missing: {rows} / {new}"
    );
    // Again: everything is already there.
    let repeated = migrate(data_dir.path(), &schema, &[]);
    assert!(repeated.status.success(), "{}", repeated.stderr);
    assert_eq!(copied(&repeated), (0, 0), "{}", repeated.stdout);

    let env = postgres_env(&schema);
    let env: Vec<(&str, &str)> = env
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let unused_dir = tempfile::tempdir().unwrap();
    let mut on_postgres = Server::start(unused_dir.path(), &env);
    let api = Api::with_key(on_postgres.port, PUBLIC_KEY, SECRET_KEY);
    let after = read_everything(&api);
    for ((path, old), (_, new)) in before.iter().zip(&after) {
        assert_eq!(old, new, "GET {path} differs after the migration");
    }
    let media_after = read_media(&api, &media_id);
    assert_eq!(media_after.0, media_before.0, "the media record");
    assert!(media_after.1 == media_before.1, "the media bytes differ");

    // New events continue after the copied ones: the event sequence moved past them. A
    // new event with the same envelope timestamp as a copied one folds after it (ties
    // go by sequence), so its name wins only if its sequence number is larger.
    let update = json!({"batch": [event(
        "trace-create",
        "2026-01-02T10:00:00.000Z",
        json!({"id": "trace-1", "name": "renamed on PostgreSQL"}),
    )]});
    expect(api.post_json("/api/public/ingestion", &update), 207);
    let renamed = poll("the renamed trace", Duration::from_secs(10), || {
        let trace = api.get("/api/public/traces/trace-1").ok()?.json();
        (trace["name"] == "renamed on PostgreSQL").then_some(trace)
    });
    assert_eq!(renamed["sessionId"], "session-1");

    // The OTLP span (which the embedded store may keep as its row alone, without a
    // logged event) folds with a later update on PostgreSQL: its event was copied.
    let late = json!({"batch": [event(
        "span-update",
        "2026-01-07T10:00:00.000Z",
        json!({"id": "b7ad6b7169203331", "traceId": "0af7651916cd43dd8448eb211c80319c",
               "output": "late output"}),
    )]});
    let accepted = expect(api.post_json("/api/public/ingestion", &late), 207);
    assert_eq!(accepted["errors"], json!([]), "{accepted}");
    let span = expect(api.get("/api/public/observations/b7ad6b7169203331"), 200);
    assert_eq!(span["output"], "late output");
    assert_eq!(
        span["name"], "otlp span",
        "the span's own fields survive: {span}"
    );
    assert!(on_postgres.terminate().status.success());
}

#[test]
fn migrate_data_refuses_a_database_in_use_and_a_missing_data_dir() {
    let empty = tempfile::tempdir().unwrap();
    let missing = migrate(empty.path(), &fresh_schema("missing"), &[]);
    assert!(!missing.status.success());
    assert!(
        missing.stderr.contains("not a glassbox data directory"),
        "{}",
        missing.stderr
    );

    // A database that a server already uses (it bootstrapped its own project).
    let schema = fresh_schema("inuse");
    let env = postgres_env(&schema);
    let env: Vec<(&str, &str)> = env
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let unused_dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(unused_dir.path(), &env);
    assert!(server.terminate().status.success());
    let data_dir = tempfile::tempdir().unwrap();
    let mut embedded = Server::start(data_dir.path(), &init_env());
    assert!(embedded.terminate().status.success());
    let refused = migrate(data_dir.path(), &schema, &[]);
    assert!(!refused.status.success());
    assert!(
        refused.stderr.contains("--allow-non-empty"),
        "{}",
        refused.stderr
    );
    let allowed = migrate(data_dir.path(), &schema, &["--allow-non-empty"]);
    assert!(allowed.status.success(), "{}", allowed.stderr);
}
