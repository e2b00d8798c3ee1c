//! PostgreSQL-specific prompt tests: several processes (here: two stores, each with its
//! own pool) writing the same prompt at once.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::json;

use glassbox_model::ProjectId;
use glassbox_model::prompts::{LATEST_LABEL, PromptSelector, PromptType};
use glassbox_store::{NewPromptVersion, PromptActor, PromptStore};

use crate::PgStore;
use crate::tests::fresh_config;

fn new_version(store: usize, index: usize) -> NewPromptVersion {
    NewPromptVersion {
        id: uuid::Uuid::new_v4().to_string(),
        name: "shared".into(),
        r#type: PromptType::Text,
        prompt: json!(format!("from store {store}, call {index}")),
        config: json!({}),
        labels: vec!["production".into()],
        tags: None,
        commit_message: None,
        created_by: "API".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_from_two_stores_get_distinct_consecutive_versions() {
    const PER_STORE: usize = 12;
    let config = fresh_config();
    let first = PgStore::connect(config.clone()).await.expect("first store");
    let second = PgStore::connect(config).await.expect("second store");
    let project = ProjectId("project-a".into());

    let mut tasks = Vec::new();
    for (number, store) in [first.clone(), second.clone()].into_iter().enumerate() {
        for index in 0..PER_STORE {
            let (store, project): (Arc<PgStore>, ProjectId) = (store.clone(), project.clone());
            tasks.push(tokio::spawn(async move {
                store
                    .create_prompt_version(
                        &project,
                        new_version(number, index),
                        PromptActor::ApiKey,
                    )
                    .await
            }));
        }
    }
    let mut numbers = Vec::new();
    for task in tasks {
        let created = task.await.expect("task").expect("create succeeds");
        numbers.push(created.version);
    }
    numbers.sort_unstable();
    let expected: Vec<i64> = (1..=(2 * PER_STORE) as i64).collect();
    assert_eq!(numbers, expected, "every create got its own next number");

    // Both stores see the same prompt: one holder of `latest` (the highest) and of
    // `production` (the last created), every version stored once.
    for store in [&first, &second] {
        let mut seen = HashSet::new();
        let mut latest = Vec::new();
        let mut production = Vec::new();
        for number in 1..=(2 * PER_STORE) as i64 {
            let version = store
                .get_prompt_version(&project, "shared", &PromptSelector::Version(number))
                .await
                .expect("read")
                .expect("every number exists");
            assert!(seen.insert(version.id.clone()));
            if version.labels.iter().any(|label| label == LATEST_LABEL) {
                latest.push(number);
            }
            if version.labels.iter().any(|label| label == "production") {
                production.push(number);
            }
        }
        assert_eq!(latest, vec![2 * PER_STORE as i64]);
        assert_eq!(production, vec![2 * PER_STORE as i64]);
    }
}
