//! Datasets, versioned dataset items, dataset runs from both paths (`POST
//! /dataset-run-items` as the JS SDK does it, OTLP experiment attributes as Python SDK 5
//! does it), deleting a run, the experiments reads, the run comparison of the UI API, and
//! tenant isolation. Responses are also checked against the OpenAPI contract.

use axum::http::Method;
use serde_json::{Value, json};

use glassbox_model::datasets::experiment_id;

use crate::openapi_shapes::Contract;
use crate::support::{Auth, PROJECT_A, Resp, TestApp, assert_close, enc, event_at, micros};

const OTLP: &str = "/api/public/otel/v1/traces";

async fn create_dataset(app: &TestApp, auth: &Auth, body: Value) -> Value {
    app.post("/api/public/v2/datasets", auth, &body)
        .await
        .expect(200)
        .clone()
}

async fn create_item(app: &TestApp, body: Value) -> Value {
    app.post("/api/public/dataset-items", &Auth::A, &body)
        .await
        .expect(200)
        .clone()
}

async fn link(app: &TestApp, auth: &Auth, body: Value) -> Resp {
    app.post("/api/public/dataset-run-items", auth, &body).await
}

/// Checks `body` against the 2xx schema of `method path` in the OpenAPI file.
fn assert_contract(path: &str, method: &str, body: &Value) {
    let contract = Contract::load();
    let (schema, _) = contract.response_schema(path, method);
    let mut problems = Vec::new();
    contract.check(body, schema, &format!("{method} {path}"), &mut problems);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn ids(items: &Value) -> Vec<&str> {
    items
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {items}"))
        .iter()
        .map(|item| item["id"].as_str().expect("id"))
        .collect()
}

#[tokio::test]
async fn datasets_create_get_list_and_names_with_slashes() {
    let app = TestApp::new().await;
    let created = create_dataset(
        &app,
        &Auth::A,
        json!({"name": "evals/qa", "description": "QA set", "metadata": {"owner": "team"},
               "inputSchema": {"type": "object"}, "expectedOutputSchema": null}),
    )
    .await;
    assert_contract("/api/public/v2/datasets", "post", &created);
    assert_eq!(created["name"], "evals/qa");
    assert_eq!(created["projectId"], PROJECT_A);
    assert_eq!(created["metadata"], json!({"owner": "team"}));
    assert_eq!(created["inputSchema"], json!({"type": "object"}));
    assert_eq!(created["expectedOutputSchema"], Value::Null);

    // Encoded `/` (what the SDKs send) and a raw one both find it.
    for path in [
        "/api/public/v2/datasets/evals%2Fqa",
        "/api/public/v2/datasets/evals/qa",
    ] {
        assert_eq!(app.get_ok(path).await, created, "{path}");
    }
    let message = app
        .get("/api/public/v2/datasets/evals", &Auth::A)
        .await
        .expect_error(404, "LangfuseNotFoundError");
    assert_eq!(message, "Dataset not found");

    // Upsert by name: same id, description replaced, omitted metadata kept.
    let updated = create_dataset(
        &app,
        &Auth::A,
        json!({"name": "evals/qa", "description": "QA set v2"}),
    )
    .await;
    assert_eq!(updated["id"], created["id"]);
    assert_eq!(updated["description"], "QA set v2");
    assert_eq!(updated["metadata"], json!({"owner": "team"}));

    create_dataset(&app, &Auth::A, json!({"name": "second"})).await;
    let list = app.get_ok("/api/public/v2/datasets?limit=1").await;
    assert_contract("/api/public/v2/datasets", "get", &list);
    assert_eq!(
        list["meta"],
        json!({"page": 1, "limit": 1, "totalItems": 2, "totalPages": 2})
    );
    assert_eq!(list["data"][0]["name"], "second", "newest first");

    for bad in [
        json!({}),
        json!({"name": ""}),
        json!({"name": "/leading"}),
        json!({"name": "a//b"}),
        json!({"name": "<b>x</b>"}),
        json!({"name": "x", "inputSchema": "not a schema"}),
        json!({"name": "x".repeat(1_001)}),
    ] {
        app.post("/api/public/v2/datasets", &Auth::A, &bad)
            .await
            .expect_error(400, "InvalidRequestError");
    }

    // Legacy v1 reads: item ids, full items, run names.
    let item = create_item(
        &app,
        json!({"datasetName": "evals/qa", "id": "q1", "input": "2+2?", "expectedOutput": "4"}),
    )
    .await;
    link(
        &app,
        &Auth::A,
        json!({"runName": "run-1", "datasetItemId": "q1", "traceId": "t-1"}),
    )
    .await
    .expect(200);
    let v1 = app.get_ok("/api/public/datasets/evals%2Fqa").await;
    assert_eq!(v1["items"], json!([item]));
    assert_eq!(v1["runs"], json!(["run-1"]));
    let v1_list = app.get_ok("/api/public/datasets?page=0").await;
    let qa = v1_list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "evals/qa")
        .expect("listed");
    assert_eq!(qa["items"], json!(["q1"]));
    assert_eq!(qa["runs"], json!(["run-1"]));
    let legacy_created = app
        .post("/api/public/datasets", &Auth::A, &json!({"name": "legacy"}))
        .await
        .expect(200)
        .clone();
    assert_eq!(
        (&legacy_created["items"], &legacy_created["runs"]),
        (&json!([]), &json!([]))
    );
}

#[tokio::test]
async fn item_versions_merge_pin_to_a_point_in_time_and_archive() {
    let app = TestApp::new().await;
    create_dataset(&app, &Auth::A, json!({"name": "capitals"})).await;
    // Python SDK 5 sends every field, nulls included.
    let v1 = create_item(
        &app,
        json!({"datasetName": "capitals", "input": {"country": "France"}, "expectedOutput": "Paris",
               "metadata": {"difficulty": "easy"}, "sourceTraceId": null, "sourceObservationId": null,
               "id": "item-fr", "status": null}),
    )
    .await;
    assert_contract("/api/public/dataset-items", "post", &v1);
    assert_eq!(v1["status"], "ACTIVE");
    assert_eq!(v1["mediaReferences"], json!([]));
    assert_eq!(v1["version"], v1["createdAt"]);

    // JS-style partial update: omitted fields are merged from the previous version.
    let v2 = create_item(
        &app,
        json!({"datasetName": "capitals", "id": "item-fr", "expectedOutput": "Paris, France",
               "sourceTraceId": "src-trace"}),
    )
    .await;
    assert_eq!(v2["input"], json!({"country": "France"}));
    assert_eq!(v2["expectedOutput"], "Paris, France");
    assert_eq!(v2["metadata"], json!({"difficulty": "easy"}));
    assert_eq!(v2["sourceTraceId"], "src-trace");
    assert_eq!(v2["createdAt"], v1["createdAt"]);
    assert!(micros(&v2["version"]) > micros(&v1["version"]));
    // `null` clears.
    let v3 = create_item(
        &app,
        json!({"datasetName": "capitals", "id": "item-fr", "metadata": null}),
    )
    .await;
    assert_eq!(v3["metadata"], Value::Null);
    assert_eq!(v3["expectedOutput"], "Paris, France");

    let at = |version: &Value| {
        format!(
            "/api/public/dataset-items?datasetName=capitals&version={}",
            enc(version.as_str().unwrap())
        )
    };
    // Each version is what a read pinned to its instant returns.
    for version in [&v1, &v2, &v3] {
        let pinned = app.get_ok(&at(&version["version"])).await;
        assert_eq!(pinned["data"], json!([version]), "{}", version["version"]);
    }
    let before = app.get_ok(&at(&json!("2000-01-01T00:00:00Z"))).await;
    assert_eq!(before["data"], json!([]));
    assert_eq!(before["meta"]["totalItems"], 0);

    // Archive: gone from lists (now), still there by id and in the past.
    let archived = create_item(
        &app,
        json!({"datasetName": "capitals", "id": "item-fr", "status": "ARCHIVED"}),
    )
    .await;
    assert_eq!(archived["status"], "ARCHIVED");
    assert_eq!(archived["input"], json!({"country": "France"}));
    let current = app
        .get_ok("/api/public/dataset-items?datasetName=capitals")
        .await;
    assert_eq!(current["data"], json!([]));
    let by_id = app.get_ok("/api/public/dataset-items/item-fr").await;
    assert_contract("/api/public/dataset-items/{id}", "get", &by_id);
    assert_eq!(by_id, archived);
    assert_eq!(app.get_ok(&at(&v3["version"])).await["data"], json!([v3]));

    // A second item, listed; filters; paging.
    let de = create_item(
        &app,
        json!({"datasetName": "capitals", "id": "item-de", "input": {"country": "Germany"},
               "sourceTraceId": "src-trace"}),
    )
    .await;
    let by_source = app
        .get_ok("/api/public/dataset-items?sourceTraceId=src-trace")
        .await;
    assert_contract("/api/public/dataset-items", "get", &by_source);
    assert_eq!(
        ids(&by_source["data"]),
        ["item-de"],
        "archived item-fr left out"
    );
    let generated = create_item(&app, json!({"datasetName": "capitals", "input": 1})).await;
    assert_eq!(generated["id"].as_str().unwrap().len(), 36, "a UUID");
    let page = app
        .get_ok("/api/public/dataset-items?datasetName=capitals&page=2&limit=1")
        .await;
    assert_eq!(
        page["meta"],
        json!({"page": 2, "limit": 1, "totalItems": 2, "totalPages": 2})
    );
    assert_eq!(page["data"], json!([de]));

    // Errors.
    let message = app
        .get(
            "/api/public/dataset-items?version=2025-01-01T00:00:00Z",
            &Auth::A,
        )
        .await
        .expect_error(400, "InvalidRequestError");
    assert!(message.contains("datasetName"), "{message}");
    app.get(
        "/api/public/dataset-items?datasetName=capitals&version=yesterday",
        &Auth::A,
    )
    .await
    .expect_error(400, "InvalidRequestError");
    app.get("/api/public/dataset-items?datasetName=nope", &Auth::A)
        .await
        .expect_error(404, "LangfuseNotFoundError");
    create_dataset(&app, &Auth::A, json!({"name": "other"})).await;
    let conflict = app
        .post(
            "/api/public/dataset-items",
            &Auth::A,
            &json!({"datasetName": "other", "id": "item-fr", "input": 1}),
        )
        .await
        .expect_error(409, "LangfuseConflictError");
    assert!(conflict.contains("another dataset"), "{conflict}");
    for bad in [
        json!({"input": 1}),
        json!({"datasetName": "capitals", "status": "DONE"}),
        json!({"datasetName": "capitals", "id": "x".repeat(256)}),
        json!({"datasetName": "capitals", "sourceTraceId": 5}),
    ] {
        app.post("/api/public/dataset-items", &Auth::A, &bad)
            .await
            .expect_error(400, "InvalidRequestError");
    }
    app.post(
        "/api/public/dataset-items",
        &Auth::A,
        &json!({"datasetName": "missing", "input": 1}),
    )
    .await
    .expect_error(404, "LangfuseNotFoundError");
}

#[tokio::test]
async fn deleting_an_item_writes_a_tombstone_version() {
    let app = TestApp::new().await;
    create_dataset(&app, &Auth::A, json!({"name": "d"})).await;
    let item = create_item(&app, json!({"datasetName": "d", "id": "i", "input": "q"})).await;
    let deleted = app
        .delete("/api/public/dataset-items/i", &Auth::A)
        .await
        .expect(200)
        .clone();
    assert_contract("/api/public/dataset-items/{id}", "delete", &deleted);
    assert_eq!(
        deleted,
        json!({"message": "Dataset item successfully deleted"})
    );
    app.get("/api/public/dataset-items/i", &Auth::A)
        .await
        .expect_error(404, "LangfuseNotFoundError");
    app.delete("/api/public/dataset-items/i", &Auth::A)
        .await
        .expect_error(404, "LangfuseNotFoundError");
    assert_eq!(
        app.get_ok("/api/public/dataset-items?datasetName=d").await["data"],
        json!([])
    );
    let history = app
        .get_ok(&format!(
            "/api/public/dataset-items?datasetName=d&version={}",
            enc(item["version"].as_str().unwrap())
        ))
        .await;
    assert_eq!(history["data"], json!([item]), "the past keeps the item");
    // The id is free again, as a new item.
    let again = create_item(
        &app,
        json!({"datasetName": "d", "id": "i", "expectedOutput": 1}),
    )
    .await;
    assert_eq!(again["input"], Value::Null);
}

#[tokio::test]
async fn run_items_from_the_rest_api_share_one_run() {
    let app = TestApp::new().await;
    let dataset = create_dataset(&app, &Auth::A, json!({"name": "js-capitals"})).await;
    let dataset_id = dataset["id"].as_str().unwrap();
    for (id, country) in [("fr", "France"), ("es", "Spain")] {
        create_item(
            &app,
            json!({"datasetName": "js-capitals", "id": id, "input": {"country": country}}),
        )
        .await;
    }
    // As @langfuse/client 5 sends it, one call per item.
    let first = link(
        &app,
        &Auth::A,
        json!({"runName": "js-run-1", "runDescription": "JS baseline", "metadata": {"model": "lookup"},
               "datasetItemId": "fr", "traceId": "a2b0ddd5678b5f7f0126bf8845e99e46",
               "observationId": "32c468997ae30351"}),
    )
    .await
    .expect(200)
    .clone();
    assert_contract("/api/public/dataset-run-items", "post", &first);
    let run_id = experiment_id(PROJECT_A, dataset_id, "js-run-1");
    assert_eq!(
        first["datasetRunId"],
        run_id.as_str(),
        "the id Python SDK 5 derives"
    );
    assert_eq!(first["datasetRunName"], "js-run-1");
    assert_eq!(first["observationId"], "32c468997ae30351");
    let second = link(
        &app,
        &Auth::A,
        json!({"runName": "js-run-1", "runDescription": "changed", "datasetItemId": "es",
               "traceId": "5f7e9b2497e7df86d2f14c34d2d9932f", "observationId": "c68bf68a0ba94ad0",
               "createdAt": "2025-01-02T03:04:05.678Z"}),
    )
    .await
    .expect(200)
    .clone();
    assert_eq!(second["datasetRunId"], first["datasetRunId"]);
    assert_eq!(second["createdAt"], "2025-01-02T03:04:05.678Z");
    // The same link again is the same run item.
    let repeat = link(
        &app,
        &Auth::A,
        json!({"runName": "js-run-1", "datasetItemId": "fr", "traceId": "a2b0ddd5678b5f7f0126bf8845e99e46"}),
    )
    .await
    .expect(200)
    .clone();
    assert_eq!(repeat["id"], first["id"]);

    let runs = app.get_ok("/api/public/datasets/js-capitals/runs").await;
    assert_contract("/api/public/datasets/{datasetName}/runs", "get", &runs);
    assert_eq!(runs["meta"]["totalItems"], 1);
    let run = &runs["data"][0];
    assert_eq!(run["id"], run_id.as_str());
    assert_eq!(
        run["description"], "JS baseline",
        "later calls do not change it"
    );
    assert_eq!(run["metadata"], json!({"model": "lookup"}));
    assert_eq!(run["datasetName"], "js-capitals");

    let with_items = app
        .get_ok("/api/public/datasets/js-capitals/runs/js-run-1")
        .await;
    assert_contract(
        "/api/public/datasets/{datasetName}/runs/{runName}",
        "get",
        &with_items,
    );
    assert_eq!(with_items["name"], "js-run-1");
    let mut linked: Vec<&str> = with_items["datasetRunItems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["datasetItemId"].as_str().unwrap())
        .collect();
    linked.sort();
    assert_eq!(linked, ["es", "fr"]);

    let listed = app
        .get_ok(&format!(
            "/api/public/dataset-run-items?datasetId={dataset_id}&runName=js-run-1&limit=1"
        ))
        .await;
    assert_contract("/api/public/dataset-run-items", "get", &listed);
    assert_eq!(listed["meta"]["totalItems"], 2);
    assert_eq!(listed["data"][0]["id"], first["id"], "newest first");

    // Only an observation id: its trace is looked up.
    app.ingest_ok(
        &Auth::A,
        vec![event_at(
            "span-create",
            "2025-06-01T00:00:00Z",
            json!({"id": "obs-only", "traceId": "trace-of-obs", "startTime": "2025-06-01T00:00:00Z"}),
        )],
    )
    .await;
    let by_observation = link(
        &app,
        &Auth::A,
        json!({"runName": "js-run-2", "datasetItemId": "fr", "observationId": "obs-only"}),
    )
    .await
    .expect(200)
    .clone();
    assert_eq!(by_observation["traceId"], "trace-of-obs");

    // Errors.
    for (body, status, error) in [
        (
            json!({"runName": "r", "datasetItemId": "fr"}),
            400,
            "InvalidRequestError",
        ),
        (
            json!({"runName": "r", "datasetItemId": "fr", "traceId": "t", "extra": 1}),
            400,
            "InvalidRequestError",
        ),
        (
            json!({"datasetItemId": "fr", "traceId": "t"}),
            400,
            "InvalidRequestError",
        ),
        (
            json!({"runName": "r", "datasetItemId": "nope", "traceId": "t"}),
            404,
            "LangfuseNotFoundError",
        ),
        (
            json!({"runName": "r", "datasetItemId": "fr", "observationId": "unknown"}),
            404,
            "LangfuseNotFoundError",
        ),
        (
            json!({"runName": "r", "datasetItemId": "fr", "traceId": "t",
                   "datasetVersion": "2000-01-01T00:00:00Z"}),
            404,
            "LangfuseNotFoundError",
        ),
    ] {
        link(&app, &Auth::A, body.clone())
            .await
            .expect_error(status, error);
    }
    app.get("/api/public/dataset-run-items?runName=js-run-1", &Auth::A)
        .await
        .expect_error(400, "InvalidRequestError");
    app.get(
        &format!("/api/public/dataset-run-items?datasetId={dataset_id}&runName=nope"),
        &Auth::A,
    )
    .await
    .expect_error(404, "LangfuseNotFoundError");
    app.get("/api/public/datasets/js-capitals/runs/nope", &Auth::A)
        .await
        .expect_error(404, "LangfuseNotFoundError");
}

/// An OTLP/JSON span with string attributes.
fn span(
    trace: &str,
    id: &str,
    parent: Option<&str>,
    name: &str,
    start_ms: u64,
    end_ms: u64,
    attributes: &[(&str, String)],
) -> Value {
    let mut span = json!({
        "traceId": trace, "spanId": id, "name": name, "kind": 1,
        "startTimeUnixNano": (start_ms * 1_000_000).to_string(),
        "endTimeUnixNano": (end_ms * 1_000_000).to_string(),
        "attributes": attributes.iter().map(|(key, value)| json!({"key": key, "value": {"stringValue": value}})).collect::<Vec<_>>(),
    });
    if let Some(parent) = parent {
        span["parentSpanId"] = json!(parent);
    }
    span
}

fn export(spans: Vec<Value>) -> Value {
    json!({"resourceSpans": [{"resource": {"attributes": []},
        "scopeSpans": [{"scope": {"name": "langfuse-sdk", "version": "5.0.4"}, "spans": spans}]}]})
}

/// 2025-06-01T00:00:00Z in milliseconds.
const JUNE_MS: u64 = 1_748_736_000_000;

/// The spans Python SDK 5's `dataset.run_experiment` sends for one item: the item run
/// (root), the task (the item's root observation) and an evaluator, all carrying the
/// experiment attributes (the evaluator without description and expected output).
fn python_item_spans(
    run_id: &str,
    dataset_id: &str,
    item: &str,
    trace: &str,
    ids: [&str; 3],
    start_ms: u64,
    [input, output]: [&str; 2],
) -> Vec<Value> {
    let [root, task, evaluator] = ids;
    let common = vec![
        ("langfuse.environment", "sdk-experiment".to_owned()),
        ("langfuse.experiment.id", run_id.to_owned()),
        ("langfuse.experiment.name", "py-run".to_owned()),
        (
            "langfuse.experiment.metadata",
            "{\"model\": \"lookup-table\"}".to_owned(),
        ),
        ("langfuse.experiment.dataset.id", dataset_id.to_owned()),
        ("langfuse.experiment.item.id", item.to_owned()),
        (
            "langfuse.experiment.item.metadata",
            "{\"difficulty\": \"easy\"}".to_owned(),
        ),
        (
            "langfuse.experiment.item.root_observation_id",
            task.to_owned(),
        ),
    ];
    let mut described = common.clone();
    described.extend([
        ("langfuse.experiment.description", "Baseline".to_owned()),
        (
            "langfuse.experiment.item.expected_output",
            output.to_owned(),
        ),
        ("langfuse.observation.input", input.to_owned()),
        ("langfuse.observation.output", output.to_owned()),
    ]);
    let mut evaluator_attributes = common;
    evaluator_attributes.push(("langfuse.observation.type", "evaluator".to_owned()));
    vec![
        span(
            trace,
            task,
            Some(root),
            "experiment-item-task",
            start_ms + 1,
            start_ms + 501,
            &described,
        ),
        span(
            trace,
            evaluator,
            Some(root),
            "exact_match",
            start_ms + 600,
            start_ms + 700,
            &evaluator_attributes,
        ),
        span(
            trace,
            root,
            None,
            "experiment-item-run",
            start_ms,
            start_ms + 800,
            &described,
        ),
    ]
}

#[tokio::test]
async fn runs_from_otlp_experiment_attributes_meet_the_rest_path() {
    let app = TestApp::new().await;
    let dataset = create_dataset(&app, &Auth::A, json!({"name": "capitals"})).await;
    let dataset_id = dataset["id"].as_str().unwrap();
    for (id, country) in [("item-fr", "France"), ("item-de", "Germany")] {
        create_item(
            &app,
            json!({"datasetName": "capitals", "id": id, "input": {"country": country}}),
        )
        .await;
    }
    let run_id = experiment_id(PROJECT_A, dataset_id, "py-run");
    let trace_fr = "d882d4e42b1f8c43269f0cba489daa9a";
    let trace_de = "f090ec3e6dfeac4b7f15eba4c165464f";
    let mut spans = python_item_spans(
        &run_id,
        dataset_id,
        "item-fr",
        trace_fr,
        ["e6ae00094b3cc72c", "54922c603f01f3cb", "1ffcf7bf33251f7d"],
        JUNE_MS,
        ["{\"country\": \"France\"}", "Paris"],
    );
    spans.extend(python_item_spans(
        &run_id,
        dataset_id,
        "item-de",
        trace_de,
        ["063e77821d1a8023", "4c70f579f6c0390d", "69689fc1d3b1c2de"],
        JUNE_MS + 1_000,
        ["{\"country\": \"Germany\"}", "Berlin"],
    ));
    // The evaluator span of one item arrives alone first (a separate export), then
    // everything, twice (an SDK retry): one run, two run items.
    let evaluator_only = export(vec![spans[1].clone()]);
    app.post(OTLP, &Auth::A, &evaluator_only).await.expect(200);
    for _ in 0..2 {
        assert_eq!(
            app.post(OTLP, &Auth::A, &export(spans.clone()))
                .await
                .expect(200),
            &json!({})
        );
    }

    let runs = app.get_ok("/api/public/datasets/capitals/runs").await;
    assert_eq!(runs["meta"]["totalItems"], 1);
    let run = &runs["data"][0];
    assert_eq!(run["id"], run_id.as_str());
    assert_eq!(run["name"], "py-run");
    assert_eq!(
        run["description"], "Baseline",
        "filled in from the task span"
    );
    assert_eq!(run["metadata"], json!({"model": "lookup-table"}));
    assert_eq!(run["createdAt"], "2025-06-01T00:00:00.000Z");

    let with_items = app
        .get_ok("/api/public/datasets/capitals/runs/py-run")
        .await;
    let items = with_items["datasetRunItems"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{with_items}");
    let fr = items
        .iter()
        .find(|item| item["datasetItemId"] == "item-fr")
        .expect("item-fr");
    assert_eq!(fr["traceId"], trace_fr);
    assert_eq!(fr["observationId"], "54922c603f01f3cb", "the task span");
    assert_eq!(fr["datasetRunId"], run_id.as_str());

    // Run-level and item-level scores as Python SDK 5 posts them.
    app.post(
        "/api/public/scores",
        &Auth::A,
        &json!([
            {"id": "run-score", "datasetRunId": run_id, "name": "avg_exact", "value": 1.0},
            {"id": "item-score", "traceId": trace_fr, "observationId": "54922c603f01f3cb",
             "name": "exact_match", "value": 1.0, "comment": "match"}
        ]),
    )
    .await
    .expect(202);

    // v4 experiments reads.
    let experiments = app
        .get_ok("/api/public/experiments?fromStartTime=2025-05-01T00:00:00Z&fields=core,metadata,scores")
        .await;
    assert_contract("/api/public/experiments", "get", &experiments);
    assert_eq!(experiments["data"].as_array().unwrap().len(), 1);
    let experiment = &experiments["data"][0];
    assert_eq!(experiment["id"], run_id.as_str());
    assert_eq!(experiment["itemCount"], 2);
    assert_eq!(experiment["datasetId"], dataset_id);
    assert_eq!(
        experiment["startTime"], "2025-06-01T00:00:00.001Z",
        "first task span"
    );
    assert_eq!(experiment["endTime"], "2025-06-01T00:00:01.501Z");
    assert_eq!(experiment["metadata"], json!({"model": "lookup-table"}));
    assert_eq!(ids(&experiment["scores"]), ["run-score"]);
    assert!(experiments["meta"].get("cursor").is_none());

    let items = app
        .get_ok("/api/public/experiment-items?fromStartTime=2025-05-01T00:00:00Z&fields=core,dataset,io,itemMetadata,experimentMetadata,scores&limit=1")
        .await;
    assert_contract("/api/public/experiment-items", "get", &items);
    let item = &items["data"][0];
    assert_eq!(
        item["id"], "4c70f579f6c0390d",
        "newest: the German task span"
    );
    assert_eq!(item["experimentItemId"], "item-de");
    assert_eq!(item["experimentName"], "py-run");
    assert_eq!(item["experimentDatasetId"], dataset_id);
    assert_eq!(item["environment"], "sdk-experiment");
    assert_eq!(item["input"], json!({"country": "Germany"}));
    assert_eq!(item["output"], "Berlin");
    assert_eq!(item["expectedOutput"], "Berlin");
    assert_eq!(
        item["experimentItemMetadata"],
        json!({"difficulty": "easy"})
    );
    assert_eq!(item["experimentDescription"], "Baseline");
    assert_eq!(item["scores"], json!([]));
    let cursor = items["meta"]["cursor"].as_str().expect("a next page");
    let next = app
        .get_ok(&format!(
            "/api/public/experiment-items?fromStartTime=2025-05-01T00:00:00Z&fields=core,scores&limit=1&cursor={cursor}"
        ))
        .await;
    assert_eq!(next["data"][0]["id"], "54922c603f01f3cb");
    assert_eq!(ids(&next["data"][0]["scores"]), ["item-score"]);
    assert!(next["meta"].get("cursor").is_none());
    for bad in [
        "/api/public/experiments",
        "/api/public/experiments?fromStartTime=2025-05-01T00:00:00Z&fields=io",
        "/api/public/experiments?fromStartTime=2025-05-01T00:00:00Z&limit=101",
        "/api/public/experiment-items?fromStartTime=2025-05-01T00:00:00Z&cursor=garbage",
    ] {
        app.get(bad, &Auth::A)
            .await
            .expect_error(400, "InvalidRequestError");
    }
    let filtered = app
        .get_ok(&format!(
            "/api/public/experiment-items?fromStartTime=2025-05-01T00:00:00Z&experimentItemId=item-fr&filter={}",
            enc(r#"[{"type":"stringOptions","column":"experimentName","operator":"any of","value":["py-run"]}]"#)
        ))
        .await;
    assert_eq!(ids(&filtered["data"]), ["54922c603f01f3cb"]);

    // The JS path on the same dataset and run name lands in the same run.
    let js = link(
        &app,
        &Auth::A,
        json!({"runName": "py-run", "datasetItemId": "item-fr", "traceId": "0123456789abcdef0123456789abcdef"}),
    )
    .await
    .expect(200)
    .clone();
    assert_eq!(js["datasetRunId"], run_id.as_str());
}

#[tokio::test]
async fn the_python_sdk_5_capture_makes_experiments() {
    let app = TestApp::new().await;
    let text = std::fs::read_to_string(crate::support::testdata_path(
        "sdk-wire/python-e-datasets-experiments.jsonl",
    ))
    .unwrap();
    for line in text.lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        if record["path"] == OTLP {
            app.post(OTLP, &Auth::A, &record["body"]["json"])
                .await
                .expect(200);
        }
    }
    let experiments = app
        .get_ok("/api/public/experiments?fromStartTime=2026-01-01T00:00:00Z&fields=core,metadata")
        .await;
    let summary: Vec<(String, u64, Value)> = experiments["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["id"].as_str().unwrap().to_owned(),
                e["itemCount"].as_u64().unwrap(),
                e["datasetId"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("f92f4b3285d8693a".to_owned(), 1, Value::Null),
            ("5cb234bf946b9e75".to_owned(), 3, json!("ds-2591344b5b0f")),
        ]
    );
    let dataset_run = &experiments["data"][1];
    assert_eq!(dataset_run["name"], "capitals-eval-run-1");
    assert_eq!(dataset_run["description"], "Baseline");
    assert_eq!(dataset_run["metadata"], json!({"model": "lookup-table"}));
}

#[tokio::test]
async fn deleting_a_run_removes_it_and_its_items_not_the_traces() {
    let app = TestApp::new().await;
    let dataset = create_dataset(&app, &Auth::A, json!({"name": "d"})).await;
    create_item(&app, json!({"datasetName": "d", "id": "i", "input": 1})).await;
    app.ingest_ok(
        &Auth::A,
        vec![event_at(
            "trace-create",
            "2025-06-01T00:00:00Z",
            json!({"id": "kept-trace"}),
        )],
    )
    .await;
    for run in ["keep", "drop"] {
        link(
            &app,
            &Auth::A,
            json!({"runName": run, "datasetItemId": "i", "traceId": "kept-trace"}),
        )
        .await
        .expect(200);
    }
    let deleted = app
        .delete("/api/public/datasets/d/runs/drop", &Auth::A)
        .await
        .expect(200)
        .clone();
    assert_contract(
        "/api/public/datasets/{datasetName}/runs/{runName}",
        "delete",
        &deleted,
    );
    assert_eq!(
        deleted,
        json!({"message": "Dataset run successfully deleted"})
    );
    app.get("/api/public/datasets/d/runs/drop", &Auth::A)
        .await
        .expect_error(404, "LangfuseNotFoundError");
    app.get(
        &format!(
            "/api/public/dataset-run-items?datasetId={}&runName=drop",
            dataset["id"].as_str().unwrap()
        ),
        &Auth::A,
    )
    .await
    .expect_error(404, "LangfuseNotFoundError");
    app.delete("/api/public/datasets/d/runs/drop", &Auth::A)
        .await
        .expect_error(404, "LangfuseNotFoundError");
    let runs = app.get_ok("/api/public/datasets/d/runs").await;
    assert_eq!(
        runs["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|run| run["name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["keep"]
    );
    let kept = app.get_ok("/api/public/datasets/d/runs/keep").await;
    assert_eq!(kept["datasetRunItems"].as_array().unwrap().len(), 1);
    app.get_ok("/api/public/traces/kept-trace").await;
    // Re-running under the deleted name makes a fresh run.
    let again = link(
        &app,
        &Auth::A,
        json!({"runName": "drop", "datasetItemId": "i", "traceId": "kept-trace"}),
    )
    .await
    .expect(200)
    .clone();
    assert_eq!(again["datasetRunName"], "drop");
}

/// Ingests one item's trace: a root span of `seconds`, a generation under it costing
/// `cost`, an expensive evaluator span beside it (outside the root's subtree), and scores.
async fn item_trace(
    app: &TestApp,
    trace: &str,
    seconds: u32,
    cost: f64,
    output: &str,
    accuracy: f64,
    grade: &str,
) {
    let at = "2025-06-01T10:00:00Z";
    let end = format!("2025-06-01T10:00:{seconds:02}Z");
    app.ingest_ok(
        &Auth::A,
        vec![
            event_at("trace-create", at, json!({"id": trace})),
            event_at(
                "span-create",
                at,
                json!({"id": format!("{trace}-root"), "traceId": trace, "startTime": at,
                       "endTime": end, "output": output}),
            ),
            event_at(
                "generation-create",
                at,
                json!({"id": format!("{trace}-gen"), "traceId": trace,
                       "parentObservationId": format!("{trace}-root"), "startTime": at,
                       "endTime": at, "costDetails": {"total": cost}}),
            ),
            event_at(
                "span-create",
                at,
                json!({"id": format!("{trace}-eval"), "traceId": trace, "startTime": at,
                       "endTime": "2025-06-01T10:01:00Z", "costDetails": {"total": 100.0}}),
            ),
            event_at(
                "score-create",
                at,
                json!({"id": format!("{trace}-acc"), "traceId": trace,
                       "observationId": format!("{trace}-root"), "name": "accuracy", "value": accuracy}),
            ),
            event_at(
                "score-create",
                at,
                json!({"id": format!("{trace}-grade"), "traceId": trace, "name": "grade",
                       "value": grade, "dataType": "CATEGORICAL"}),
            ),
        ],
    )
    .await;
}

async fn link_root(app: &TestApp, run: &str, item: &str, trace: &str) -> String {
    link(
        app,
        &Auth::A,
        json!({"runName": run, "datasetItemId": item, "traceId": trace,
               "observationId": format!("{trace}-root")}),
    )
    .await
    .expect(200)["datasetRunId"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn comparing_runs_item_by_item_with_aggregates() {
    let app = TestApp::new().await;
    let dataset = create_dataset(&app, &Auth::A, json!({"name": "cmp"})).await;
    let dataset_id = dataset["id"].as_str().unwrap().to_owned();
    create_item(
        &app,
        json!({"datasetName": "cmp", "id": "i1", "input": "France?", "expectedOutput": "Paris"}),
    )
    .await;
    create_item(
        &app,
        json!({"datasetName": "cmp", "id": "i2", "input": "Spain?", "expectedOutput": "Madrid"}),
    )
    .await;
    item_trace(&app, "t11", 2, 0.1, "Paris", 1.0, "good").await;
    item_trace(&app, "t12", 4, 0.3, "Barcelona", 0.5, "bad").await;
    item_trace(&app, "t21", 1, 0.05, "Paris!", 0.0, "good").await;
    let run_1 = link_root(&app, "baseline", "i1", "t11").await;
    link_root(&app, "baseline", "i2", "t12").await;
    let run_2 = link_root(&app, "candidate", "i1", "t21").await;
    app.ingest_ok(
        &Auth::A,
        vec![event_at(
            "score-create",
            "2025-06-01T11:00:00Z",
            json!({"id": "run-level", "datasetRunId": run_1, "name": "avg-accuracy", "value": 0.75}),
        )],
    )
    .await;

    let compare = app
        .get_ok(&format!(
            "/api/ui/v1/datasets/{dataset_id}/compare?runIds={run_1},{run_2}"
        ))
        .await;
    assert_eq!(compare["datasetName"], "cmp");
    let runs = compare["runs"].as_array().unwrap();
    assert_eq!(runs[0]["name"], "baseline");
    let baseline = &runs[0]["aggregates"];
    assert_eq!(baseline["itemCount"], 2);
    assert_close(&baseline["avgLatency"], 3.0);
    assert_close(&baseline["totalCost"], 0.4);
    assert_close(&baseline["avgCost"], 0.2);
    assert_eq!(
        baseline["scores"],
        json!([
            {"name": "accuracy", "dataType": "NUMERIC", "count": 2, "average": 0.75},
            {"name": "grade", "dataType": "CATEGORICAL", "count": 2,
             "distribution": {"bad": 1, "good": 1}}
        ])
    );
    assert_eq!(ids(&baseline["runScores"]), ["run-level"]);
    let candidate = &runs[1]["aggregates"];
    assert_eq!(candidate["itemCount"], 1);
    assert_close(&candidate["avgLatency"], 1.0);
    assert_close(&candidate["totalCost"], 0.05);
    assert_close(&candidate["avgCost"], 0.05);
    assert_eq!(candidate["scores"][0]["average"], 0.0);
    assert_eq!(candidate["runScores"], json!([]));

    assert_eq!(compare["meta"]["totalItems"], 2);
    let items = compare["items"].as_array().unwrap();
    assert_eq!(items[0]["datasetItemId"], "i2", "newest item first");
    assert_eq!(items[0]["expectedOutput"], "Madrid");
    assert_eq!(items[0]["runs"][&run_1]["output"], "Barcelona");
    assert_close(&items[0]["runs"][&run_1]["latency"], 4.0);
    assert_eq!(
        items[0]["runs"][&run_2],
        Value::Null,
        "not run by the candidate"
    );
    let i1 = &items[1]["runs"];
    assert_eq!(i1[&run_1]["output"], "Paris");
    assert_eq!(i1[&run_2]["output"], "Paris!");
    assert_close(&i1[&run_2]["totalCost"], 0.05);
    assert_eq!(i1[&run_2]["traceId"], "t21");
    let mut score_names: Vec<&str> = i1[&run_1]["scores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|score| score["name"].as_str().unwrap())
        .collect();
    score_names.sort();
    assert_eq!(score_names, ["accuracy", "grade"]);

    let second_page = app
        .get_ok(&format!(
            "/api/ui/v1/datasets/{dataset_id}/compare?runIds={run_1}&runIds={run_2}&page=2&limit=1"
        ))
        .await;
    assert_eq!(second_page["items"][0]["datasetItemId"], "i1");
    assert_eq!(
        second_page["runs"], compare["runs"],
        "aggregates over all items"
    );

    for (uri, status) in [
        (format!("/api/ui/v1/datasets/{dataset_id}/compare"), 400),
        (
            format!("/api/ui/v1/datasets/{dataset_id}/compare?runIds=nope"),
            404,
        ),
        (
            format!("/api/ui/v1/datasets/nope/compare?runIds={run_1}"),
            404,
        ),
        (
            format!(
                "/api/ui/v1/datasets/{dataset_id}/compare?runIds={}",
                (0..11).map(|n| n.to_string()).collect::<Vec<_>>().join(",")
            ),
            400,
        ),
    ] {
        let response = app.get(&uri, &Auth::A).await;
        assert_eq!(response.status.as_u16(), status, "{uri}: {}", response.json);
    }
    app.raw(
        Method::POST,
        &format!("/api/ui/v1/datasets/{dataset_id}/compare?runIds={run_1}"),
        &Auth::A,
        &[],
        Vec::new(),
    )
    .await
    .expect_error(405, "MethodNotAllowedError");
}

#[tokio::test]
async fn project_b_sees_none_of_project_a_datasets() {
    let app = TestApp::new().await;
    let dataset = create_dataset(&app, &Auth::A, json!({"name": "private"})).await;
    let dataset_id = dataset["id"].as_str().unwrap();
    create_item(
        &app,
        json!({"datasetName": "private", "id": "secret", "input": "x"}),
    )
    .await;
    app.ingest_ok(
        &Auth::A,
        vec![event_at(
            "span-create",
            "2025-06-01T00:00:00Z",
            json!({"id": "a-root", "traceId": "a-trace", "startTime": "2025-06-01T00:00:00Z"}),
        )],
    )
    .await;
    let run_id = link(
        &app,
        &Auth::A,
        json!({"runName": "r", "datasetItemId": "secret", "traceId": "a-trace", "observationId": "a-root"}),
    )
    .await
    .expect(200)["datasetRunId"]
        .as_str()
        .unwrap()
        .to_owned();

    let b = Auth::B;
    assert_eq!(
        app.get("/api/public/v2/datasets", &b).await.expect(200)["data"],
        json!([])
    );
    assert_eq!(
        app.get("/api/public/datasets", &b).await.expect(200)["data"],
        json!([])
    );
    assert_eq!(
        app.get("/api/public/dataset-items", &b).await.expect(200)["data"],
        json!([])
    );
    let everything = "fromStartTime=2000-01-01T00:00:00Z";
    assert_eq!(
        app.get(&format!("/api/public/experiments?{everything}"), &b)
            .await
            .expect(200)["data"],
        json!([])
    );
    assert_eq!(
        app.get(&format!("/api/public/experiment-items?{everything}"), &b)
            .await
            .expect(200)["data"],
        json!([])
    );
    for uri in [
        "/api/public/v2/datasets/private".to_owned(),
        "/api/public/datasets/private".to_owned(),
        "/api/public/datasets/private/runs".to_owned(),
        "/api/public/datasets/private/runs/r".to_owned(),
        "/api/public/dataset-items/secret".to_owned(),
        "/api/public/dataset-items?datasetName=private".to_owned(),
        format!("/api/public/dataset-run-items?datasetId={dataset_id}&runName=r"),
        format!("/api/ui/v1/datasets/{dataset_id}/compare?runIds={run_id}"),
    ] {
        app.get(&uri, &b)
            .await
            .expect_error(404, "LangfuseNotFoundError");
    }
    app.delete("/api/public/dataset-items/secret", &b)
        .await
        .expect_error(404, "LangfuseNotFoundError");
    app.delete("/api/public/datasets/private/runs/r", &b)
        .await
        .expect_error(404, "LangfuseNotFoundError");
    link(
        &app,
        &b,
        json!({"runName": "r", "datasetItemId": "secret", "traceId": "b-trace"}),
    )
    .await
    .expect_error(404, "LangfuseNotFoundError");
    app.post(
        "/api/public/dataset-items",
        &b,
        &json!({"datasetName": "private", "id": "secret", "input": "overwritten"}),
    )
    .await
    .expect_error(404, "LangfuseNotFoundError");
    // B's own dataset of the same name does not touch A's item of the same id.
    create_dataset(&app, &b, json!({"name": "private"})).await;
    app.post(
        "/api/public/dataset-items",
        &b,
        &json!({"datasetName": "private", "id": "secret", "input": "b"}),
    )
    .await
    .expect(200);
    // A still has everything.
    assert_eq!(
        app.get_ok("/api/public/dataset-items/secret").await["input"],
        "x"
    );
    assert_eq!(
        app.get_ok("/api/public/datasets/private/runs/r").await["datasetRunItems"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Bearer (scores-only) keys may not use the dataset API.
    app.get("/api/public/v2/datasets", &Auth::BearerA)
        .await
        .expect_error(403, "ForbiddenError");
}

#[tokio::test]
async fn hostile_dataset_input_gets_4xx_never_5xx() {
    let app = TestApp::new().await;
    create_dataset(&app, &Auth::A, json!({"name": "d"})).await;
    create_item(&app, json!({"datasetName": "d", "id": "i", "input": 1})).await;
    let posts: [(&str, Vec<u8>); 12] = [
        ("/api/public/v2/datasets", b"{not json".to_vec()),
        ("/api/public/v2/datasets", b"[]".to_vec()),
        ("/api/public/v2/datasets", br#"{"name": 5}"#.to_vec()),
        ("/api/public/datasets", b"".to_vec()),
        ("/api/public/dataset-items", b"null".to_vec()),
        (
            "/api/public/dataset-items",
            br#"{"datasetName": ["d"]}"#.to_vec(),
        ),
        (
            "/api/public/dataset-items",
            br#"{"datasetName": "d", "id": ""}"#.to_vec(),
        ),
        ("/api/public/dataset-run-items", b"\xff\xfe".to_vec()),
        (
            "/api/public/dataset-run-items",
            br#"{"runName": "", "datasetItemId": "i", "traceId": "t"}"#.to_vec(),
        ),
        (
            "/api/public/dataset-run-items",
            br#"{"runName": "r", "datasetItemId": "i", "traceId": "t", "createdAt": "yesterday"}"#
                .to_vec(),
        ),
        (
            "/api/public/dataset-run-items",
            br#"{"runName": "r", "datasetItemId": "i", "traceId": "t", "datasetVersion": 5}"#
                .to_vec(),
        ),
        // Larger than the 1 MB body limit of the dataset routes.
        (
            "/api/public/v2/datasets",
            format!(
                r#"{{"name": "big", "description": "{}"}}"#,
                "x".repeat(1_100_000)
            )
            .into_bytes(),
        ),
    ];
    for (uri, body) in posts {
        let response = app
            .raw(
                Method::POST,
                uri,
                &Auth::A,
                &[("content-type", "application/json")],
                body,
            )
            .await;
        let status = response.status.as_u16();
        assert!(
            (400..500).contains(&status),
            "{uri}: {status} {}",
            response.json
        );
        assert!(
            response.json["message"].is_string(),
            "{uri}: {}",
            response.json
        );
    }
    // Items may be large (the ingestion limit, 4.5 MB), not larger.
    let big_item = json!({"datasetName": "d", "input": "x".repeat(2_000_000)});
    app.post("/api/public/dataset-items", &Auth::A, &big_item)
        .await
        .expect(200);
    let too_big = json!({"datasetName": "d", "input": "x".repeat(5_000_000)});
    let status = app
        .post("/api/public/dataset-items", &Auth::A, &too_big)
        .await
        .status;
    assert_eq!(status.as_u16(), 413);
    for uri in [
        "/api/public/v2/datasets?page=0",
        "/api/public/v2/datasets?limit=101",
        "/api/public/dataset-items?page=-1",
        "/api/public/datasets/d/runs?limit=abc",
        "/api/public/experiments?fromStartTime=2025-01-01T00:00:00",
        "/api/public/experiment-items?fromStartTime=2025-01-01T00:00:00Z&filter=%5B%7B%7D%5D",
        "/api/public/experiment-items?fromStartTime=2025-01-01T00:00:00Z&cursor=eyJ2IjoyfQ",
    ] {
        let response = app.get(uri, &Auth::A).await;
        assert_eq!(response.status.as_u16(), 400, "{uri}: {}", response.json);
    }
    // Experiment attributes that cannot name a run item are ignored; the spans are stored.
    let trace = "0af7651916cd43dd8448eb211c80319c";
    let bad = [
        ("langfuse.experiment.id", "x".repeat(801)),
        ("langfuse.experiment.item.id", "i".to_owned()),
        ("langfuse.experiment.item.version", "not a time".to_owned()),
    ];
    let no_item = [("langfuse.experiment.id", "e".to_owned())];
    app.post(
        OTLP,
        &Auth::A,
        &export(vec![
            span(
                trace,
                "b7ad6b7169203331",
                None,
                "a",
                JUNE_MS,
                JUNE_MS + 1,
                &bad,
            ),
            span(
                trace,
                "b7ad6b7169203332",
                None,
                "b",
                JUNE_MS,
                JUNE_MS + 1,
                &no_item,
            ),
        ]),
    )
    .await
    .expect(200);
    assert_eq!(
        app.get_ok("/api/public/experiments?fromStartTime=2000-01-01T00:00:00Z")
            .await["data"],
        json!([])
    );
    assert_eq!(
        app.get_ok(&format!("/api/public/traces/{trace}")).await["observations"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}
