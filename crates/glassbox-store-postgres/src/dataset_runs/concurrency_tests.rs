//! PostgreSQL-specific dataset tests: several processes (here: two stores, each with its
//! own pool, on one schema) writing the same item, run and experiment at once.

use std::sync::Arc;

use serde_json::json;
use sqlx::Row;

use glassbox_model::ProjectId;
use glassbox_model::datasets::{DatasetItemChange, ExperimentItemRecord, FieldChange};
use glassbox_model::time::parse_iso_with_offset;
use glassbox_store::{DatasetRunStore, DatasetStore, DatasetUpsert, NewRunItem, PageRequest};

use crate::PgStore;
use crate::tests::fresh_config;

const ALL: PageRequest = PageRequest {
    page: 1,
    limit: 1_000,
};
const PER_STORE: usize = 10;

fn micros(iso: &str) -> i64 {
    parse_iso_with_offset(iso).expect("a valid test time")
}

/// Two stores on one fresh schema, with dataset `ds-1` holding `item-1`.
async fn two_stores_with_an_item(project: &ProjectId) -> [Arc<PgStore>; 2] {
    let config = fresh_config();
    let first = PgStore::connect(config.clone()).await.expect("first store");
    let second = PgStore::connect(config).await.expect("second store");
    first
        .upsert_dataset(
            project,
            DatasetUpsert {
                id: "ds-1".into(),
                name: "one".into(),
                description: None,
                metadata: None,
                input_schema: None,
                expected_output_schema: None,
                now: micros("2025-05-01T00:00:00Z"),
            },
        )
        .await
        .expect("dataset");
    first
        .upsert_dataset_item(
            project,
            "ds-1",
            "item-1",
            DatasetItemChange {
                input: FieldChange::Set(Some(json!("question"))),
                ..DatasetItemChange::default()
            },
            micros("2025-05-01T00:00:00Z"),
        )
        .await
        .expect("item");
    [first, second]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_upserts_of_one_item_from_two_stores_chain_their_versions() {
    let project = ProjectId("project-a".into());
    let stores = two_stores_with_an_item(&project).await;
    let now = micros("2025-05-02T00:00:00Z");
    let mut tasks = Vec::new();
    for (number, store) in stores.iter().enumerate() {
        for index in 0..PER_STORE {
            let (store, project) = (store.clone(), project.clone());
            tasks.push(tokio::spawn(async move {
                let change = DatasetItemChange {
                    metadata: FieldChange::Set(Some(json!({"writer": [number, index]}))),
                    ..DatasetItemChange::default()
                };
                store
                    .upsert_dataset_item(&project, "ds-1", "item-1", change, now)
                    .await
            }));
        }
    }
    for task in tasks {
        let version = task.await.expect("task").expect("every upsert succeeds");
        assert_eq!(version.input, Some(json!("question")), "merged, not lost");
    }

    // One chain: each version ends where the next starts, one millisecond apart at
    // least, and only the last is current.
    let rows = sqlx::query(
        "SELECT valid_from, valid_to FROM dataset_items WHERE project_id = $1 AND id = $2 \
         ORDER BY valid_from",
    )
    .bind(project.as_str())
    .bind("item-1")
    .fetch_all(stores[0].pool())
    .await
    .expect("versions");
    let versions: Vec<(i64, Option<i64>)> =
        rows.iter().map(|row| (row.get(0), row.get(1))).collect();
    assert_eq!(versions.len(), 1 + 2 * PER_STORE);
    for pair in versions.windows(2) {
        assert_eq!(pair[0].1, Some(pair[1].0), "{versions:?}");
        assert!(pair[1].0 >= pair[0].0 + 1_000, "{versions:?}");
    }
    assert_eq!(versions.last().and_then(|version| version.1), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_run_item_posts_from_two_stores_create_the_run_once() {
    let project = ProjectId("project-a".into());
    let stores = two_stores_with_an_item(&project).await;
    let mut tasks = Vec::new();
    for (number, store) in stores.iter().enumerate() {
        for index in 0..PER_STORE {
            let (store, project) = (store.clone(), project.clone());
            tasks.push(tokio::spawn(async move {
                let new = NewRunItem {
                    id: format!("ri-{number}-{index}"),
                    run_id: format!("run-{number}-{index}"),
                    run_name: "shared".into(),
                    run_description: None,
                    run_metadata: None,
                    dataset_item_id: "item-1".into(),
                    // Two posts per trace: the same run item, written once.
                    trace_id: format!("trace-{index}"),
                    observation_id: None,
                    dataset_version: None,
                    created_at: micros("2025-05-02T00:00:00Z"),
                };
                store.create_run_item(&project, new).await
            }));
        }
    }
    let mut run_ids = Vec::new();
    for task in tasks {
        let run_item = task.await.expect("task").expect("every post succeeds");
        run_ids.push(run_item.run_id);
    }
    run_ids.sort();
    run_ids.dedup();
    assert_eq!(run_ids.len(), 1, "one run for the name: {run_ids:?}");
    for store in &stores {
        let runs = store.list_runs(&project, "ds-1", ALL).await.expect("runs");
        assert_eq!(runs.total_items, 1);
        let items = store
            .list_run_items(&project, &run_ids[0], ALL)
            .await
            .expect("run items");
        assert_eq!(items.total_items, PER_STORE as u64, "one per trace");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_experiment_spans_from_two_stores_make_one_run() {
    let project = ProjectId("project-a".into());
    let stores = two_stores_with_an_item(&project).await;
    let mut tasks = Vec::new();
    for store in &stores {
        for index in 0..PER_STORE {
            let (store, project) = (store.clone(), project.clone());
            tasks.push(tokio::spawn(async move {
                // Every export holds the items of several traces, in its own order.
                let records = (0..3)
                    .map(|offset| ExperimentItemRecord {
                        experiment_id: "exp-1".into(),
                        experiment_name: Some("experiment".into()),
                        experiment_description: Some(format!("from export {index}")),
                        experiment_metadata: None,
                        dataset_id: Some("ds-1".into()),
                        item_id: "item-1".into(),
                        item_version: None,
                        item_expected_output: None,
                        item_metadata: None,
                        trace_id: format!("trace-{}", (index + offset) % PER_STORE),
                        root_observation_id: None,
                        start_time: micros("2025-05-02T00:00:00Z") + index as i64,
                    })
                    .collect();
                store.record_experiment_items(&project, records).await
            }));
        }
    }
    for task in tasks {
        task.await.expect("task").expect("every export is recorded");
    }
    let runs = stores[1]
        .list_runs(&project, "ds-1", ALL)
        .await
        .expect("runs");
    assert_eq!(runs.total_items, 1);
    assert_eq!(runs.items[0].id, "exp-1");
    assert_eq!(runs.items[0].created_at, micros("2025-05-02T00:00:00Z"));
    let items = stores[0]
        .list_run_items(&project, "exp-1", ALL)
        .await
        .expect("run items");
    assert_eq!(items.total_items, PER_STORE as u64, "one per trace");
}
