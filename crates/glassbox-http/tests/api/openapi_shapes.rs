//! Responses against Langfuse's OpenAPI contract (`shared/reference/langfuse-openapi.yml`):
//! every `required` property of the 200 schema is present, and present values have the
//! declared JSON type and enum value. `$ref`, `allOf` and `oneOf` are resolved.

use axum::http::Method;
use serde_json::{Value, json};

use crate::support::{Auth, TestApp, event_at, testdata_path};

pub struct Contract {
    root: Value,
}

impl Contract {
    pub fn load() -> Contract {
        let text = std::fs::read_to_string(testdata_path("langfuse-openapi.yml"))
            .expect("read the OpenAPI file");
        let root: Value = serde_yaml_ng::from_str(&text).expect("parse the OpenAPI YAML");
        Contract { root }
    }

    /// Follows `$ref`s to the schema they name.
    fn resolve<'a>(&'a self, mut schema: &'a Value) -> &'a Value {
        for _ in 0..32 {
            let Some(reference) = schema.get("$ref").and_then(Value::as_str) else {
                return schema;
            };
            let pointer = reference
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("external $ref {reference}"));
            schema = self
                .root
                .pointer(pointer)
                .unwrap_or_else(|| panic!("dangling $ref {reference}"));
        }
        panic!("$ref cycle");
    }

    /// The schema of the 2xx JSON response of `method path`, and its status.
    pub fn response_schema(&self, path: &str, method: &str) -> (&Value, String) {
        let responses = &self.root["paths"][path][method]["responses"];
        let (status, response) = responses
            .as_object()
            .unwrap_or_else(|| panic!("no responses for {method} {path}"))
            .iter()
            .find(|(status, _)| status.starts_with('2'))
            .unwrap_or_else(|| panic!("no 2xx response for {method} {path}"));
        let schema = &response["content"]["application/json"]["schema"];
        assert!(!schema.is_null(), "no JSON schema for {method} {path}");
        (schema, status.clone())
    }

    pub fn schema_name(schema: &Value) -> String {
        schema["$ref"]
            .as_str()
            .and_then(|reference| reference.rsplit('/').next())
            .unwrap_or("<inline>")
            .to_owned()
    }

    pub fn check(&self, value: &Value, schema: &Value, at: &str, problems: &mut Vec<String>) {
        let schema = self.resolve(schema);
        if value.is_null() {
            // Nullable or not, a present `null` says nothing about the shape.
            return;
        }
        if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
            for part in parts {
                self.check(value, part, at, problems);
            }
        }
        for keyword in ["oneOf", "anyOf"] {
            if let Some(branches) = schema.get(keyword).and_then(Value::as_array) {
                let outcomes: Vec<Vec<String>> = branches
                    .iter()
                    .map(|branch| {
                        let mut found = Vec::new();
                        self.check(value, branch, at, &mut found);
                        found
                    })
                    .collect();
                if !outcomes.iter().any(Vec::is_empty) {
                    let closest = outcomes
                        .into_iter()
                        .min_by_key(Vec::len)
                        .unwrap_or_default();
                    problems.push(format!(
                        "{at}: matches no {keyword} branch; closest: {closest:?}"
                    ));
                }
            }
        }
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
            && !allowed.contains(value)
        {
            problems.push(format!("{at}: {value} is not one of {allowed:?}"));
        }
        let declared = schema.get("type").and_then(Value::as_str);
        let is_object_schema = declared == Some("object")
            || (declared.is_none()
                && (schema.get("properties").is_some() || schema.get("required").is_some()));
        let type_ok = match declared {
            Some("object") => value.is_object(),
            Some("array") => value.is_array(),
            Some("string") => value.is_string(),
            Some("number") => value.is_number(),
            Some("integer") => {
                value.is_i64()
                    || value.is_u64()
                    || value.as_f64().is_some_and(|number| number.fract() == 0.0)
            }
            Some("boolean") => value.is_boolean(),
            _ => true,
        };
        if !type_ok {
            problems.push(format!(
                "{at}: expected {}, got {value}",
                declared.unwrap_or("?")
            ));
            return;
        }
        if is_object_schema {
            let Some(object) = value.as_object() else {
                problems.push(format!("{at}: expected an object, got {value}"));
                return;
            };
            if let Some(required) = schema.get("required").and_then(Value::as_array) {
                for key in required.iter().filter_map(Value::as_str) {
                    if !object.contains_key(key) {
                        problems.push(format!("{at}: missing required `{key}`"));
                    }
                }
            }
            let properties = schema.get("properties").and_then(Value::as_object);
            if let Some(properties) = properties {
                for (key, property) in properties {
                    if let Some(child) = object.get(key) {
                        self.check(child, property, &format!("{at}.{key}"), problems);
                    }
                }
            }
            if let Some(additional) = schema
                .get("additionalProperties")
                .filter(|additional| additional.is_object())
            {
                for (key, child) in object {
                    if properties.is_none_or(|properties| !properties.contains_key(key)) {
                        self.check(child, additional, &format!("{at}.{key}"), problems);
                    }
                }
            }
        }
        if declared == Some("array")
            && let (Some(items), Some(array)) = (schema.get("items"), value.as_array())
        {
            for (index, item) in array.iter().enumerate() {
                self.check(item, items, &format!("{at}[{index}]"), problems);
            }
        }
    }
}

/// Rich data: traces with every observation type, usage and cost, and scores of every
/// data type and target.
async fn seed(app: &TestApp) {
    let at = "2025-11-01T00:00:00Z";
    let mut events = vec![
        event_at(
            "trace-create",
            at,
            json!({"id": "shape-trace", "name": "shapes", "userId": "u", "sessionId": "shape-session",
                   "tags": ["t1", "t2"], "metadata": {"k": "v"}, "input": {"q": "?"}, "output": "!",
                   "release": "r", "version": "v", "public": true, "environment": "prod"}),
        ),
        event_at("trace-create", at, json!({"id": "bare-trace"})),
        event_at(
            "generation-create",
            at,
            json!({"id": "shape-gen", "traceId": "shape-trace", "name": "llm", "startTime": at,
                   "completionStartTime": "2025-11-01T00:00:00.200Z", "endTime": "2025-11-01T00:00:01Z",
                   "model": "gpt-4o", "modelParameters": {"temperature": 0.3, "stop": ["x"]},
                   "input": [{"role": "user", "content": "hi"}], "output": "hello",
                   "usageDetails": {"input": 5, "output": 7, "cache_read": 1},
                   "costDetails": {"input": 0.001, "output": 0.002},
                   "promptName": "p", "promptVersion": 1, "metadata": {"a": {"b": 1}}}),
        ),
        event_at(
            "span-create",
            at,
            json!({"id": "shape-span", "traceId": "shape-trace", "parentObservationId": "shape-gen",
                   "level": "ERROR", "statusMessage": "bad", "version": "1"}),
        ),
        event_at(
            "event-create",
            at,
            json!({"id": "shape-event", "traceId": "shape-trace"}),
        ),
        event_at(
            "agent-create",
            at,
            json!({"id": "shape-agent", "traceId": "shape-trace"}),
        ),
    ];
    for (id, body) in [
        (
            "sn",
            json!({"traceId": "shape-trace", "name": "n", "value": 0.5, "comment": "c", "metadata": {"m": 1}}),
        ),
        (
            "so",
            json!({"traceId": "shape-trace", "observationId": "shape-gen", "name": "n", "value": 1}),
        ),
        (
            "sc",
            json!({"traceId": "shape-trace", "name": "c", "value": "good", "dataType": "CATEGORICAL"}),
        ),
        (
            "sb",
            json!({"traceId": "shape-trace", "name": "b", "value": 0, "dataType": "BOOLEAN"}),
        ),
        (
            "st",
            json!({"traceId": "shape-trace", "name": "t", "value": "text", "dataType": "TEXT"}),
        ),
        (
            "ss",
            json!({"sessionId": "shape-session", "name": "s", "value": 2}),
        ),
        (
            "sr",
            json!({"datasetRunId": "run", "name": "r", "value": 3}),
        ),
        (
            "sx",
            json!({"traceId": "shape-trace", "name": "output", "value": "fixed", "dataType": "CORRECTION"}),
        ),
    ] {
        let mut body = body;
        body["id"] = json!(id);
        events.push(event_at("score-create", at, body));
    }
    app.ingest_ok(&Auth::A, events).await;
}

/// Every (OpenAPI path, concrete request) pair checked.
const REQUESTS: &[(&str, &str)] = &[
    ("/api/public/traces", "/api/public/traces"),
    ("/api/public/traces", "/api/public/traces?fields=core"),
    (
        "/api/public/traces/{traceId}",
        "/api/public/traces/shape-trace",
    ),
    (
        "/api/public/traces/{traceId}",
        "/api/public/traces/bare-trace",
    ),
    (
        "/api/public/traces/{traceId}",
        "/api/public/traces/shape-trace?fields=core,io",
    ),
    ("/api/public/observations", "/api/public/observations"),
    (
        "/api/public/observations/{observationId}",
        "/api/public/observations/shape-gen",
    ),
    (
        "/api/public/observations/{observationId}",
        "/api/public/observations/shape-event",
    ),
    ("/api/public/v2/observations", "/api/public/v2/observations"),
    (
        "/api/public/v2/observations",
        "/api/public/v2/observations?limit=2&fields=core,basic,time,io,metadata,model,usage,prompt,metrics,trace_context",
    ),
    ("/api/public/sessions", "/api/public/sessions"),
    (
        "/api/public/sessions/{sessionId}",
        "/api/public/sessions/shape-session",
    ),
    ("/api/public/v2/scores", "/api/public/v2/scores"),
    (
        "/api/public/v2/scores",
        "/api/public/v2/scores?fields=score",
    ),
    (
        "/api/public/v2/scores/{scoreId}",
        "/api/public/v2/scores/sn",
    ),
    (
        "/api/public/v2/scores/{scoreId}",
        "/api/public/v2/scores/st",
    ),
    (
        "/api/public/v2/scores/{scoreId}",
        "/api/public/v2/scores/ss",
    ),
    ("/api/public/v3/scores", "/api/public/v3/scores"),
    (
        "/api/public/v3/scores",
        "/api/public/v3/scores?limit=3&fields=core,details,subject,annotation",
    ),
    ("/api/public/projects", "/api/public/projects"),
    ("/api/public/health", "/api/public/health"),
];

#[tokio::test]
async fn read_responses_have_every_required_property() {
    let contract = Contract::load();
    let app = TestApp::new().await;
    seed(&app).await;
    let mut problems = Vec::new();
    for (path, uri) in REQUESTS {
        let (schema, status) = contract.response_schema(path, "get");
        let response = app.get(uri, &Auth::A).await;
        assert_eq!(response.status.as_str(), status, "{uri}: {}", response.json);
        let body = &response.json;
        if let Some(data) = body.get("data").and_then(Value::as_array) {
            assert!(!data.is_empty(), "{uri}: check needs data");
        }
        let name = Contract::schema_name(schema);
        contract.check(body, schema, &format!("GET {uri} ({name})"), &mut problems);
    }
    assert!(
        problems.is_empty(),
        "{} contract problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[tokio::test]
async fn write_responses_have_every_required_property() {
    let contract = Contract::load();
    let app = TestApp::new().await;
    let mut problems = Vec::new();

    let (schema, status) = contract.response_schema("/api/public/ingestion", "post");
    let response = app
        .post(
            "/api/public/ingestion",
            &Auth::A,
            &json!({"batch": [
                event_at("trace-create", "2025-11-01T00:00:00Z", json!({"id": "w-trace"})),
                event_at("trace-create", "2025-11-01T00:00:00Z", json!({"id": "w-bad", "name": 1})),
                json!("not an event"),
            ]}),
        )
        .await;
    assert_eq!(response.status.as_str(), status);
    assert_eq!(response.json["errors"].as_array().unwrap().len(), 2);
    contract.check(&response.json, schema, "POST /ingestion", &mut problems);

    let (schema, status) = contract.response_schema("/api/public/scores", "post");
    let response = app
        .post(
            "/api/public/scores",
            &Auth::A,
            &json!({"traceId": "w-trace", "name": "n", "value": 1}),
        )
        .await;
    assert_eq!(response.status.as_str(), status);
    contract.check(&response.json, schema, "POST /scores", &mut problems);

    for (path, method, verb, uri, body) in [
        (
            "/api/public/traces/{traceId}",
            "delete",
            Method::DELETE,
            "/api/public/traces/w-trace",
            None,
        ),
        (
            "/api/public/traces",
            "delete",
            Method::DELETE,
            "/api/public/traces",
            Some(json!({"traceIds": ["x"]})),
        ),
    ] {
        let (schema, status) = contract.response_schema(path, method);
        let response = match body {
            Some(body) => app.json(verb, uri, &Auth::A, &body).await,
            None => app.raw(verb, uri, &Auth::A, &[], Vec::new()).await,
        };
        assert_eq!(response.status.as_str(), status, "{uri}");
        contract.check(
            &response.json,
            schema,
            &format!("{method} {uri}"),
            &mut problems,
        );
    }
    assert!(
        problems.is_empty(),
        "{} contract problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The checker itself finds what it should.
#[test]
fn the_checker_reports_missing_properties_and_wrong_types() {
    let contract = Contract::load();
    let (schema, _) = contract.response_schema("/api/public/traces/{traceId}", "get");
    let mut problems = Vec::new();
    contract.check(
        &json!({"id": "x", "timestamp": 5, "observations": [], "scores": [{"dataType": "NUMERIC"}]}),
        schema,
        "t",
        &mut problems,
    );
    let text = problems.join("\n");
    for needle in [
        "missing required `htmlPath`",
        "missing required `environment`",
        "t.timestamp: expected string",
        "t.scores[0]: matches no oneOf branch",
    ] {
        assert!(text.contains(needle), "{needle} not in:\n{text}");
    }
}
