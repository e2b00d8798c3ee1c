//! Several `glassbox serve` processes on one PostgreSQL database: what one process
//! writes (batch ingestion, OTLP, prompt label moves) the other serves at once, and
//! processes that start together bootstrap once.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Api, Server, fresh_schema, line_value, poll, postgres_env};

const PUBLIC_KEY: &str = "pk-lf-two-processes";
const SECRET_KEY: &str = "sk-lf-two-processes-secret";
/// How long a read through the other process may take to show a write (not a speed
/// assertion: the data is committed before the write is answered).
const VISIBLE_DEADLINE: Duration = Duration::from_secs(10);

fn with_refs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect()
}

/// Starts both servers at the same moment (their bootstraps race).
fn start_pair(env: &[(String, String)]) -> (Server, Server) {
    let (first, second) = std::thread::scope(|scope| {
        let first = scope.spawn(|| {
            let dir = tempfile::tempdir().unwrap();
            Server::start(dir.path(), &with_refs(env))
        });
        let second = scope.spawn(|| {
            let dir = tempfile::tempdir().unwrap();
            Server::start(dir.path(), &with_refs(env))
        });
        (first.join().unwrap(), second.join().unwrap())
    });
    (first, second)
}

fn provisioned_env(schema: &str) -> Vec<(String, String)> {
    let mut env = postgres_env(schema);
    for (name, value) in [
        ("LANGFUSE_INIT_ORG_ID", "two-processes-org"),
        ("LANGFUSE_INIT_PROJECT_ID", "two-processes-project"),
        ("LANGFUSE_INIT_PROJECT_PUBLIC_KEY", PUBLIC_KEY),
        ("LANGFUSE_INIT_PROJECT_SECRET_KEY", SECRET_KEY),
        ("LANGFUSE_INIT_USER_EMAIL", "owner@example.com"),
        ("LANGFUSE_INIT_USER_PASSWORD", "correct horse battery"),
    ] {
        env.push((name.to_owned(), value.to_owned()));
    }
    env
}

fn ok_json(reply: Result<crate::support::Reply, ureq::Error>, status: u16) -> Value {
    let reply = reply.expect("request");
    assert_eq!(reply.status, status, "{}", reply.body);
    reply.json()
}

#[test]
fn writes_through_one_process_are_read_through_the_other() {
    let schema = fresh_schema("two");
    let (mut a, mut b) = start_pair(&provisioned_env(&schema));
    let api_a = Api::with_key(a.port, PUBLIC_KEY, SECRET_KEY);
    let api_b = Api::with_key(b.port, PUBLIC_KEY, SECRET_KEY);

    // Batch ingestion through A, read through B.
    let trace_id = uuid::Uuid::new_v4().to_string();
    let generation_id = uuid::Uuid::new_v4().to_string();
    let now = "2026-01-02T03:04:05.000Z";
    let batch = json!({"batch": [
        {"id": uuid::Uuid::new_v4().to_string(), "type": "trace-create", "timestamp": now,
         "body": {"id": trace_id, "name": "two processes", "userId": "u-1", "sessionId": "s-1"}},
        {"id": uuid::Uuid::new_v4().to_string(), "type": "generation-create", "timestamp": now,
         "body": {"id": generation_id, "traceId": trace_id, "name": "llm", "model": "gpt-4o",
                  "startTime": now, "usage": {"input": 10, "output": 5}}},
    ]});
    let accepted = ok_json(api_a.post_json("/api/public/ingestion", &batch), 207);
    assert_eq!(accepted["errors"], json!([]), "{accepted}");
    let trace = poll("the trace through B", VISIBLE_DEADLINE, || {
        let reply = api_b.get(&format!("/api/public/traces/{trace_id}")).ok()?;
        (reply.status == 200).then(|| reply.json())
    });
    assert_eq!(trace["name"], "two processes");
    assert_eq!(trace["observations"][0]["id"], generation_id.as_str());
    let session = ok_json(api_b.get("/api/public/sessions/s-1"), 200);
    assert_eq!(session["traces"][0]["id"], trace_id.as_str());

    // OTLP through A, read through B.
    let otlp_trace = "5b8efff798038103d269b633813fc60c";
    let otlp_span = "eee19b7ec3c1b174";
    let export = json!({"resourceSpans": [{"scopeSpans": [{"spans": [{
        "traceId": otlp_trace, "spanId": otlp_span, "name": "otlp span", "kind": 1,
        "startTimeUnixNano": "1767323045000000000", "endTimeUnixNano": "1767323046000000000",
        "attributes": [{"key": "langfuse.trace.name", "value": {"stringValue": "otlp trace"}}]
    }]}]}]});
    ok_json(api_a.post_json("/api/public/otel/v1/traces", &export), 200);
    let observation = poll("the OTLP span through B", VISIBLE_DEADLINE, || {
        let reply = api_b
            .get(&format!("/api/public/observations/{otlp_span}"))
            .ok()?;
        (reply.status == 200).then(|| reply.json())
    });
    assert_eq!(observation["traceId"], otlp_trace);
    assert_eq!(observation["name"], "otlp span");
    let otlp = ok_json(api_b.get(&format!("/api/public/traces/{otlp_trace}")), 200);
    assert_eq!(otlp["name"], "otlp trace");

    // A prompt label moved through A is served by B within a second, although B has
    // the old answer cached.
    let prompts = "/api/public/v2/prompts";
    let v1 = json!({"name": "greeting", "prompt": "Hello v1", "labels": ["production"]});
    ok_json(api_a.post_json(prompts, &v1), 201);
    let v2 = json!({"name": "greeting", "prompt": "Hello v2", "labels": []});
    ok_json(api_a.post_json(prompts, &v2), 201);
    let production = "/api/public/v2/prompts/greeting?label=production";
    let cached = poll("v1 through B", VISIBLE_DEADLINE, || {
        let reply = api_b.get(production).ok()?;
        (reply.status == 200).then(|| reply.json())
    });
    assert_eq!(cached["version"], 1);
    // Served twice: the second answer comes from B's cache.
    assert_eq!(ok_json(api_b.get(production), 200)["version"], 1);
    let moved = ok_json(
        api_a.patch_json(
            "/api/public/v2/prompts/greeting/versions/2",
            &json!({"newLabels": ["production"]}),
        ),
        200,
    );
    assert_eq!(moved["version"], 2);
    let served = poll(
        "v2 through B within a second",
        Duration::from_secs(1),
        || {
            let reply = api_b.get(production).ok()?;
            let body = reply.json();
            (reply.status == 200 && body["version"] == 2).then_some(body)
        },
    );
    assert_eq!(served["prompt"], "Hello v2");

    // Both stop cleanly (the pool is closed, the listener stops).
    assert!(a.terminate().status.success());
    assert!(b.terminate().status.success());
}

#[test]
fn processes_starting_together_on_an_empty_database_create_one_default_project() {
    let schema = fresh_schema("first");
    let env = postgres_env(&schema);
    let (mut a, mut b) = start_pair(&env);
    let printed: Vec<(String, String)> = [&a, &b]
        .iter()
        .filter_map(|server| {
            let stdout = server.stdout_so_far();
            Some((
                line_value(&stdout, "LANGFUSE_PUBLIC_KEY")?,
                line_value(&stdout, "LANGFUSE_SECRET_KEY")?,
            ))
        })
        .collect();
    assert_eq!(
        printed.len(),
        1,
        "exactly one process creates the default key"
    );
    let (public_key, secret_key) = &printed[0];
    for server in [&a, &b] {
        let projects = ok_json(
            Api::with_key(server.port, public_key, secret_key).get("/api/public/projects"),
            200,
        );
        assert_eq!(
            projects["data"].as_array().map(Vec::len),
            Some(1),
            "{projects}"
        );
    }
    assert!(a.terminate().status.success());
    assert!(b.terminate().status.success());

    // Provisioning the same key from two processes at once is as safe.
    let schema = fresh_schema("init");
    let env = provisioned_env(&schema);
    let (mut a, mut b) = start_pair(&env);
    for server in [&a, &b] {
        let projects = ok_json(
            Api::with_key(server.port, PUBLIC_KEY, SECRET_KEY).get("/api/public/projects"),
            200,
        );
        assert_eq!(projects["data"][0]["id"], "two-processes-project");
    }

    // The keys CLI works on the database too; keys are not cached by the servers, so a
    // created key works and a revoked one is refused by every process at once.
    let created = keys_cli(&schema, &["create", "--project", "two-processes-project"]);
    let public_key = line_value(&created, "LANGFUSE_PUBLIC_KEY").expect("a public key");
    let secret_key = line_value(&created, "LANGFUSE_SECRET_KEY").expect("a secret key");
    for server in [&a, &b] {
        let api = Api::with_key(server.port, &public_key, &secret_key);
        assert_eq!(api.get("/api/public/projects").unwrap().status, 200);
    }
    keys_cli(&schema, &["revoke", &public_key]);
    for server in [&a, &b] {
        let api = Api::with_key(server.port, &public_key, &secret_key);
        assert_eq!(api.get("/api/public/projects").unwrap().status, 401);
    }
    assert!(a.terminate().status.success());
    assert!(b.terminate().status.success());
}

/// `glassbox keys <args>` on the PostgreSQL schema; asserts success, returns stdout.
fn keys_cli(schema: &str, args: &[&str]) -> String {
    let output = crate::support::command()
        .arg("keys")
        .args(args)
        .envs(postgres_env(schema))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("running glassbox keys");
    assert!(
        output.status.success(),
        "glassbox keys {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}
