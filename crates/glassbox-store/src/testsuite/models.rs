//! Conformance tests: Model definitions, prices, cost inference and recompute.

use super::*;

fn project_model(
    project: &ProjectId,
    id: &str,
    name: &str,
    pattern: &str,
    input: f64,
    output: f64,
) -> glassbox_model::models::ModelDefinition {
    glassbox_model::models::ModelDefinition {
        id: id.into(),
        project_id: Some(project.clone()),
        model_name: name.into(),
        match_pattern: pattern.into(),
        start_date: None,
        unit: Some("TOKENS".into()),
        tokenizer_id: None,
        tokenizer_config: None,
        pricing_tiers: vec![glassbox_model::models::PricingTier {
            id: format!("{id}_tier_default"),
            name: "Standard".into(),
            is_default: true,
            priority: 0,
            conditions: Vec::new(),
            prices: vec![("input".into(), input), ("output".into(), output)],
        }],
        created_at: micros("2025-01-01T00:00:00Z"),
        updated_at: micros("2025-01-01T00:00:00Z"),
    }
}

async fn finished_recompute(stores: &Stores, project: &ProjectId, model_id: &str) -> RecomputeJob {
    for _ in 0..1_000 {
        let job = stores
            .models
            .recompute_status(project, model_id)
            .await
            .unwrap()
            .expect("a recompute was queued");
        if job.status == "done" || job.status == "failed" {
            return job;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the recompute of {model_id} did not finish");
}

pub async fn models_create_get_list_delete_and_scoping(stores: &Stores) {
    let (a, b) = projects_a_b(stores).await;
    let builtins = stores
        .models
        .list_models(
            &a,
            PageRequest {
                page: 1,
                limit: 1_000,
            },
        )
        .await
        .unwrap();
    assert_eq!(builtins.total_items, 167);
    let model = project_model(&a, "m-1", "aaa-model", "(?i)^aaa$", 1.0, 2.0);
    stores.models.create_model(&a, model.clone()).await.unwrap();
    let listed = stores
        .models
        .list_models(&a, PageRequest { page: 1, limit: 1 })
        .await
        .unwrap();
    assert_eq!(listed.total_items, 168);
    assert_eq!(
        listed.items[0].as_ref(),
        &model,
        "sorted by model name first"
    );
    assert_eq!(
        stores.models.get_model(&a, "m-1").await.unwrap().as_deref(),
        Some(&model)
    );
    assert!(stores.models.get_model(&b, "m-1").await.unwrap().is_none());
    assert_eq!(
        stores
            .models
            .list_models(&b, PageRequest { page: 1, limit: 1 })
            .await
            .unwrap()
            .total_items,
        167
    );
    let duplicate = stores
        .models
        .create_model(&a, project_model(&a, "m-2", "aaa-model", "x", 1.0, 1.0))
        .await;
    assert!(
        matches!(duplicate, Err(StoreError::Conflict(_))),
        "{duplicate:?}"
    );
    assert!(
        stores
            .models
            .delete_model(&b, "m-1")
            .await
            .unwrap()
            .is_none()
    );
    let builtin_id = builtins.items[0].id.clone();
    assert!(
        stores
            .models
            .delete_model(&a, &builtin_id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        stores
            .models
            .delete_model(&a, "m-1")
            .await
            .unwrap()
            .is_some()
    );
    assert!(stores.models.get_model(&a, "m-1").await.unwrap().is_none());
}

pub async fn model_prices_infer_cost_and_recompute_after_a_change(stores: &Stores) {
    let (a, b) = projects_a_b(stores).await;
    let batch = json!([
        {"id": "e1", "type": "generation-create", "timestamp": "2025-03-01T10:00:00Z",
         "body": {"id": "g1", "traceId": "t1", "model": "gpt-4o", "usageDetails": {"input": 1000, "output": 100}}}]);
    ingest_ok(stores, &a, batch.clone()).await;
    ingest_ok(stores, &b, batch).await;
    let builtin = 1000.0 * 2.5e-6 + 100.0 * 1e-5;
    let cost = |observation: Observation| observation.total_cost.expect("a cost");
    let before = get_observation(stores, &a, "g1").await;
    assert!((cost(before.clone()) - builtin).abs() < 1e-12);
    assert_eq!(
        before.internal_model_id.as_deref(),
        Some("b9854a5c92dc496b997d99d20")
    );
    let model = project_model(&a, "mine", "gpt-4o", "(?i)^gpt-4o$", 1e-5, 2e-5);
    stores.models.create_model(&a, model).await.unwrap();
    let job = finished_recompute(stores, &a, "mine").await;
    assert_eq!(
        (job.status.as_str(), job.total, job.processed, job.updated),
        ("done", 1, 1, 1)
    );
    let after = get_observation(stores, &a, "g1").await;
    assert!((cost(after.clone()) - (1000.0 * 1e-5 + 100.0 * 2e-5)).abs() < 1e-12);
    assert_eq!(after.internal_model_id.as_deref(), Some("mine"));
    // The other project keeps the built-in price.
    let other = get_observation(stores, &b, "g1").await;
    assert!((cost(other) - builtin).abs() < 1e-12);
    stores.models.delete_model(&a, "mine").await.unwrap();
    finished_recompute(stores, &a, "mine").await;
    assert!((cost(get_observation(stores, &a, "g1").await) - builtin).abs() < 1e-12);
}
