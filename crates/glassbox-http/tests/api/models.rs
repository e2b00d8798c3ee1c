//! Models API (`/api/public/models`), cost inference at ingest against the repository's
//! cost vectors (batch API and OTLP), and the recompute of inferred costs after a price
//! change.

use axum::http::Method;
use serde_json::{Value, json};

use crate::support::*;

const GPT_4O_ID: &str = "b9854a5c92dc496b997d99d20";

fn vectors() -> Vec<Value> {
    let text = std::fs::read_to_string(testdata_path("cost-vectors/vectors.json")).unwrap();
    let file: Value = serde_json::from_str(&text).unwrap();
    file["vectors"].as_array().unwrap().clone()
}

fn otlp_generation(trace_id: &str, span_id: &str, model: &str, usage: &Value) -> Value {
    json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
        "scopeSpans": [{"scope": {"name": "langfuse-sdk"}, "spans": [{
            "traceId": trace_id, "spanId": span_id, "name": "ChatOpenAI", "kind": 1,
            "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000001000000000",
            "attributes": [
                {"key": "langfuse.observation.type", "value": {"stringValue": "generation"}},
                {"key": "langfuse.observation.model.name", "value": {"stringValue": model}},
                {"key": "langfuse.observation.usage_details", "value": {"stringValue": usage.to_string()}}
            ]
        }]}]
    }]})
}

#[track_caller]
fn assert_cost(name: &str, observation: &Value, vector: &Value) {
    assert_eq!(
        observation["usageDetails"], vector["usage"],
        "{name}: usage"
    );
    let expected = vector["costDetails"].as_object().unwrap();
    let actual = observation["costDetails"].as_object().unwrap();
    let mut expected_keys: Vec<&String> = expected.keys().collect();
    let mut actual_keys: Vec<&String> = actual.keys().collect();
    expected_keys.sort();
    actual_keys.sort();
    assert_eq!(actual_keys, expected_keys, "{name}: cost keys");
    for (key, value) in expected {
        let got = actual[key].as_f64().unwrap();
        assert!(
            (got - value.as_f64().unwrap()).abs() < 1e-9,
            "{name}: {key} = {got}, expected {value}"
        );
    }
    match vector["totalCost"].as_f64() {
        Some(total) => assert_close(&observation["calculatedTotalCost"], total),
        None => assert_eq!(observation["calculatedTotalCost"], json!(0.0), "{name}"),
    }
}

#[tokio::test]
async fn cost_vectors_are_inferred_at_ingest() {
    let app = TestApp::new().await;
    for (index, vector) in vectors().iter().enumerate() {
        let name = vector["name"].as_str().unwrap();
        let model = vector["model"].as_str().unwrap();
        let observation = if let Some(usage) = vector.get("otlpUsageDetails") {
            let trace_id = format!("{:032x}", index + 1);
            let span_id = format!("{:016x}", index + 1);
            app.post(
                "/api/public/otel/v1/traces",
                &Auth::A,
                &otlp_generation(&trace_id, &span_id, model, usage),
            )
            .await
            .expect(200);
            app.get_ok(&format!("/api/public/observations/{span_id}"))
                .await
        } else {
            let id = format!("gen-{name}");
            let mut body = json!({"id": id, "traceId": format!("trace-{name}"), "name": "llm",
                "model": model, "usageDetails": vector["usageDetails"],
                "startTime": "2025-03-01T10:00:00Z", "endTime": "2025-03-01T10:00:01Z"});
            if let Some(parameters) = vector.get("modelParameters") {
                body["modelParameters"] = parameters.clone();
            }
            if let Some(cost) = vector.get("providedCostDetails") {
                body["costDetails"] = cost.clone();
            }
            app.ingest_ok(&Auth::A, vec![event("generation-create", body)])
                .await;
            app.get_ok(&format!("/api/public/observations/{id}")).await
        };
        assert_cost(name, &observation, vector);
        let matched = !vector["costDetails"].as_object().unwrap().is_empty()
            && vector.get("providedCostDetails").is_none();
        if matched {
            assert!(observation["modelId"].is_string(), "{name}: modelId");
        }
    }
}

#[tokio::test]
async fn generation_without_usage_is_tokenised() {
    let app = TestApp::new().await;
    app.ingest_ok(
        &Auth::A,
        vec![event(
            "generation-create",
            json!({"id": "tok", "traceId": "t-tok", "model": "gpt-4o",
                   "input": [{"role": "user", "content": "hello world"}], "output": "hello world"}),
        )],
    )
    .await;
    let observation = app.get_ok("/api/public/observations/tok").await;
    // o200k_base: chat prompt 3 + 3 + 1 + 2 = 9 tokens, completion 2 tokens.
    assert_eq!(
        observation["usageDetails"],
        json!({"input": 9, "output": 2, "total": 11})
    );
    assert_close(
        &observation["calculatedTotalCost"],
        9.0 * 2.5e-6 + 2.0 * 1e-5,
    );
    // Claude models have no tokenizer here: no inferred usage, no cost.
    app.ingest_ok(
        &Auth::A,
        vec![event(
            "generation-create",
            json!({"id": "claude", "traceId": "t-tok", "model": "claude-3-5-haiku-20241022",
                   "input": "hello", "output": "world"}),
        )],
    )
    .await;
    let claude = app.get_ok("/api/public/observations/claude").await;
    assert_eq!(claude["usageDetails"], json!({}));
    assert_eq!(claude["costDetails"], json!({}));
}

#[tokio::test]
async fn models_list_get_create_delete() {
    let app = TestApp::new().await;
    let list = app.get_ok("/api/public/models?limit=100").await;
    assert_eq!(list["meta"]["totalItems"], json!(167));
    assert_eq!(list["data"].as_array().unwrap().len(), 100);
    let builtin = app.get_ok(&format!("/api/public/models/{GPT_4O_ID}")).await;
    assert_eq!(builtin["modelName"], "gpt-4o");
    assert_eq!(builtin["isLangfuseManaged"], true);
    assert_eq!(builtin["inputPrice"], json!(2.5e-6));
    assert_eq!(builtin["prices"]["output"], json!({"price": 1e-5}));
    assert_eq!(builtin["pricingTiers"].as_array().unwrap().len(), 2);

    let created = app
        .post(
            "/api/public/models",
            &Auth::A,
            &json!({"modelName": "my-llm", "matchPattern": "(?i)^my-llm$", "unit": "TOKENS",
                    "inputPrice": 0.001, "outputPrice": 0.002, "startDate": "2025-01-01T00:00:00Z",
                    "tokenizerId": "openai", "tokenizerConfig": {"tokenizerModel": "gpt-4o"}}),
        )
        .await
        .expect(200)
        .clone();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["isLangfuseManaged"], false);
    assert_eq!(created["startDate"], "2025-01-01T00:00:00.000Z");
    assert_eq!(created["pricingTiers"][0]["name"], "Standard");
    assert_eq!(created["pricingTiers"][0]["isDefault"], true);
    assert_eq!(created["totalPrice"], Value::Null);
    let fetched = app.get_ok(&format!("/api/public/models/{id}")).await;
    assert_eq!(fetched, created);
    let list = app.get_ok("/api/public/models?limit=100&page=2").await;
    assert_eq!(list["meta"]["totalItems"], json!(168));
    // Another project sees neither the model nor may delete it.
    app.get(&format!("/api/public/models/{id}"), &Auth::B)
        .await
        .expect_error(404, "LangfuseNotFoundError");
    app.delete(&format!("/api/public/models/{id}"), &Auth::B)
        .await
        .expect_error(404, "LangfuseNotFoundError");
    let same = app
        .post(
            "/api/public/models",
            &Auth::A,
            &json!({"modelName": "my-llm", "matchPattern": "x", "unit": "TOKENS",
                    "startDate": "2025-01-01T00:00:00Z", "totalPrice": 1}),
        )
        .await;
    same.expect_error(400, "InvalidRequestError");
    let message = app
        .delete(&format!("/api/public/models/{GPT_4O_ID}"), &Auth::A)
        .await
        .expect_error(404, "LangfuseNotFoundError");
    assert!(message.contains("built-in"), "{message}");
    app.delete(&format!("/api/public/models/{id}"), &Auth::A)
        .await
        .expect(200);
    app.get(&format!("/api/public/models/{id}"), &Auth::A)
        .await
        .expect_error(404, "LangfuseNotFoundError");
}

#[tokio::test]
async fn bad_model_bodies_are_rejected() {
    let app = TestApp::new().await;
    let bad = [
        json!({"matchPattern": "x"}),
        json!({"modelName": "m", "matchPattern": "(unclosed"}),
        json!({"modelName": "m", "matchPattern": "m", "inputPrice": -1}),
        json!({"modelName": "m", "matchPattern": "m", "inputPrice": 1, "totalPrice": 2}),
        json!({"modelName": "m", "matchPattern": "m", "tokenizerId": "sentencepiece"}),
        json!({"modelName": "m", "matchPattern": "m", "pricingTiers": [
            {"name": "a", "isDefault": false, "priority": 1, "conditions": [], "prices": {"input": 1}}]}),
        json!({"modelName": "x".repeat(300), "matchPattern": "m"}),
        json!([]),
    ];
    for body in bad {
        app.post("/api/public/models", &Auth::A, &body)
            .await
            .expect_error(400, "InvalidRequestError");
    }
    app.raw(
        Method::POST,
        "/api/public/models",
        &Auth::A,
        &[("content-type", "application/json")],
        b"{not json".to_vec(),
    )
    .await
    .expect_error(400, "InvalidRequestError");
}

async fn wait_for_recompute(app: &TestApp, model_id: &str) -> Value {
    for _ in 0..500 {
        let status = app
            .get_ok(&format!("/api/public/models/{model_id}/recompute"))
            .await;
        if status["status"] == "done" || status["status"] == "failed" {
            return status;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the recompute of {model_id} did not finish");
}

#[tokio::test]
async fn a_price_override_recomputes_inferred_costs() {
    let app = TestApp::new().await;
    let generation = |id: &str, start: &str| {
        event(
            "generation-create",
            json!({"id": id, "traceId": "t-recompute", "model": "gpt-4o", "startTime": start,
                   "usageDetails": {"input": 1000, "output": 100}}),
        )
    };
    let mut events: Vec<Value> = (0..450)
        .map(|index| generation(&format!("g{index}"), "2025-03-01T10:00:00Z"))
        .collect();
    events.push(generation("old", "2024-06-01T10:00:00Z"));
    events.push(event(
        "generation-create",
        json!({"id": "given", "traceId": "t-recompute", "model": "gpt-4o",
               "startTime": "2025-03-01T10:00:00Z", "usageDetails": {"input": 1000}, "costDetails": {"total": 7.0}}),
    ));
    app.ingest_ok(&Auth::A, events).await;
    let builtin_cost = 1000.0 * 2.5e-6 + 100.0 * 1e-5;
    let before = app.get_ok("/api/public/observations/g7").await;
    assert_close(&before["calculatedTotalCost"], builtin_cost);
    assert_eq!(before["modelId"], GPT_4O_ID);

    let created = app
        .post(
            "/api/public/models",
            &Auth::A,
            &json!({"modelName": "gpt-4o", "matchPattern": "(?i)^(openai/)?gpt-4o$",
                    "startDate": "2025-01-01T00:00:00Z", "inputPrice": 1e-5, "outputPrice": 2e-5}),
        )
        .await
        .expect(200)
        .clone();
    let model_id = created["id"].as_str().unwrap().to_owned();
    let status = wait_for_recompute(&app, &model_id).await;
    assert_eq!(status["status"], "done", "{status}");
    assert_eq!(status["total"], json!(452));
    assert_eq!(status["processed"], json!(452));
    // The observation from before the start date keeps the built-in; the one with a given
    // cost keeps its cost but now names the override.
    assert_eq!(status["updated"], json!(451));
    let override_cost = 1000.0 * 1e-5 + 100.0 * 2e-5;
    for id in ["g0", "g449"] {
        let after = app.get_ok(&format!("/api/public/observations/{id}")).await;
        assert_close(&after["calculatedTotalCost"], override_cost);
        assert_eq!(after["modelId"], json!(model_id));
    }
    let old = app.get_ok("/api/public/observations/old").await;
    assert_close(&old["calculatedTotalCost"], builtin_cost);
    let given = app.get_ok("/api/public/observations/given").await;
    assert_close(&given["calculatedTotalCost"], 7.0);
    // New generations use the new price at once.
    app.ingest_ok(&Auth::A, vec![generation("new", "2025-03-02T10:00:00Z")])
        .await;
    let new = app.get_ok("/api/public/observations/new").await;
    assert_close(&new["calculatedTotalCost"], override_cost);
    // Metrics follow the recompute (rollups replaced, not added to).
    let query = json!({"view": "observations", "metrics": [{"measure": "totalCost", "aggregation": "sum"}],
        "fromTimestamp": "2025-01-01T00:00:00Z", "toTimestamp": "2025-04-01T00:00:00Z"});
    let metrics = app
        .get_ok(&format!(
            "/api/public/metrics?query={}",
            enc(&query.to_string())
        ))
        .await;
    assert_close(
        &metrics["data"][0]["sum_totalCost"],
        451.0 * override_cost + 7.0,
    );

    // Changing the price (PUT, the Python SDK's `api.models.upsert`) recomputes again.
    let changed = app
        .json(
            Method::PUT,
            &format!("/api/public/models/{model_id}"),
            &Auth::A,
            &json!({"modelName": "gpt-4o", "matchPattern": "(?i)^(openai/)?gpt-4o$", "unit": "TOKENS",
                    "startDate": "2025-01-01T00:00:00Z", "inputPrice": 2e-5, "outputPrice": 4e-5}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(changed["createdAt"], created["createdAt"]);
    assert_eq!(changed["inputPrice"], json!(2e-5));
    let status = wait_for_recompute(&app, &model_id).await;
    assert_eq!(status["status"], "done", "{status}");
    let repriced = app.get_ok("/api/public/observations/g11").await;
    assert_close(
        &repriced["calculatedTotalCost"],
        1000.0 * 2e-5 + 100.0 * 4e-5,
    );
    app.json(
        Method::PUT,
        &format!("/api/public/models/{GPT_4O_ID}"),
        &Auth::A,
        &json!({"modelName": "gpt-4o", "matchPattern": "x", "unit": "TOKENS", "inputPrice": 1}),
    )
    .await
    .expect_error(400, "InvalidRequestError");

    // Deleting the override brings the built-in price back.
    app.delete(&format!("/api/public/models/{model_id}"), &Auth::A)
        .await
        .expect(200);
    let status = wait_for_recompute(&app, &model_id).await;
    assert_eq!(status["status"], "done", "{status}");
    let back = app.get_ok("/api/public/observations/g3").await;
    assert_close(&back["calculatedTotalCost"], builtin_cost);
    assert_eq!(back["modelId"], GPT_4O_ID);
    // Project B's observations were never touched.
    app.get(
        &format!("/api/public/models/{model_id}/recompute"),
        &Auth::B,
    )
    .await
    .expect_error(404, "LangfuseNotFoundError");
}

#[tokio::test]
async fn models_and_metrics_responses_match_the_openapi_file() {
    use crate::openapi_shapes::Contract;
    let contract = Contract::load();
    let app = TestApp::new().await;
    let created = app
        .post(
            "/api/public/models",
            &Auth::A,
            &json!({"modelName": "shape", "matchPattern": "(?i)^shape$", "pricingTiers": [
                {"name": "Standard", "isDefault": true, "priority": 0, "conditions": [], "prices": {"input": 1e-6}},
                {"name": "Big", "isDefault": false, "priority": 1, "prices": {"input": 2e-6},
                 "conditions": [{"usageDetailPattern": "input", "operator": "gt", "value": 1000, "caseSensitive": false}]}]}),
        )
        .await
        .expect(200)
        .clone();
    app.ingest_ok(
        &Auth::A,
        vec![event(
            "generation-create",
            json!({"id": "g", "traceId": "t", "model": "shape", "startTime": "2025-03-01T10:00:00Z",
                   "usageDetails": {"input": 2000}}),
        )],
    )
    .await;
    let generation = app.get_ok("/api/public/observations/g").await;
    assert_close(&generation["calculatedTotalCost"], 2000.0 * 2e-6);
    let id = created["id"].as_str().unwrap();
    let metrics_query = enc(
        &json!({"view": "observations", "metrics": [{"measure": "count", "aggregation": "count"}],
        "fromTimestamp": "2025-03-01T00:00:00Z", "toTimestamp": "2025-03-02T00:00:00Z"})
        .to_string(),
    );
    let mut problems = Vec::new();
    for (path, method, uri, value) in [
        (
            "/api/public/models",
            "post",
            "/api/public/models".to_owned(),
            created.clone(),
        ),
        (
            "/api/public/models",
            "get",
            "/api/public/models".to_owned(),
            Value::Null,
        ),
        (
            "/api/public/models/{id}",
            "get",
            format!("/api/public/models/{id}"),
            Value::Null,
        ),
        (
            "/api/public/models/{id}",
            "get",
            format!("/api/public/models/{GPT_4O_ID}"),
            Value::Null,
        ),
        (
            "/api/public/metrics",
            "get",
            format!("/api/public/metrics?query={metrics_query}"),
            Value::Null,
        ),
        (
            "/api/public/v2/metrics",
            "get",
            format!("/api/public/v2/metrics?query={metrics_query}"),
            Value::Null,
        ),
    ] {
        let (schema, _) = contract.response_schema(path, method);
        let body = if value.is_null() {
            app.get(&uri, &Auth::A).await.expect(200).clone()
        } else {
            value
        };
        contract.check(&body, schema, &format!("{method} {uri}"), &mut problems);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
