//! PostgreSQL-specific recompute tests: the workers of two stores on one schema (two
//! processes) share a job of several batches without doing any batch twice.

use std::time::{Duration, Instant};

use serde_json::json;

use glassbox_model::models::{ModelDefinition, PricingTier};
use glassbox_store::testsuite::{micros, project};
use glassbox_store::{ModelStore, RecomputeJob, Stores};

use crate::PgStore;
use crate::recompute::BATCH;
use crate::tests::fresh_config;

async fn finished(store: &PgStore, project: &glassbox_model::ProjectId) -> RecomputeJob {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let job = store
            .recompute_status(project, "mine")
            .await
            .expect("status")
            .expect("a job was queued");
        if job.status == "done" || job.status == "failed" {
            return job;
        }
        assert!(
            Instant::now() < deadline,
            "the recompute did not finish: {job:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_share_a_recompute_without_repeating_a_batch() {
    let generations = 2 * BATCH + 57;
    let config = fresh_config();
    let first = PgStore::connect(config.clone()).await.expect("first store");
    let second = PgStore::connect(config).await.expect("second store");
    let stores = Stores::from_backend(first.clone());
    let project = project(&stores, "project-a").await;
    let batch: Vec<_> = (0..generations)
        .map(|index| {
            json!({"id": format!("e{index}"), "type": "generation-create",
                   "timestamp": "2025-03-01T10:00:00Z",
                   "body": {"id": format!("g{index}"), "traceId": "t1", "model": "gpt-4o",
                            "usageDetails": {"input": 1000, "output": 100}}})
        })
        .collect();
    glassbox_store::testsuite::ingest_ok(&stores, &project, json!(batch)).await;

    let model = ModelDefinition {
        id: "mine".into(),
        project_id: Some(project.clone()),
        model_name: "gpt-4o".into(),
        match_pattern: "(?i)^gpt-4o$".into(),
        start_date: None,
        unit: Some("TOKENS".into()),
        tokenizer_id: None,
        tokenizer_config: None,
        pricing_tiers: vec![PricingTier {
            id: "mine_tier".into(),
            name: "Standard".into(),
            is_default: true,
            priority: 0,
            conditions: Vec::new(),
            prices: vec![("input".into(), 1e-5), ("output".into(), 2e-5)],
        }],
        created_at: micros("2025-01-01T00:00:00Z"),
        updated_at: micros("2025-01-01T00:00:00Z"),
    };
    second.create_model(&project, model).await.expect("create");
    let job = finished(&first, &project).await;
    let count = generations as u64;
    assert_eq!(
        (job.status.as_str(), job.total, job.processed, job.updated),
        ("done", count, count, count),
        "{job:?}"
    );
    let repriced: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM observations WHERE project_id = $1 AND internal_model_id = 'mine' \
         AND abs(total_cost - $2) < 1e-12",
    )
    .bind(project.as_str())
    .bind(1000.0 * 1e-5 + 100.0 * 2e-5)
    .fetch_one(first.pool())
    .await
    .expect("count");
    assert_eq!(repriced, generations as i64);
}
