//! Conformance tests: Datasets and dataset items: upserts, versions, archive, tombstones.

use super::*;

use glassbox_model::datasets::{
    Dataset, DatasetItem, DatasetItemChange, DatasetItemStatus, FieldChange,
};

fn dataset_upsert(id: &str, name: &str, at: &str) -> DatasetUpsert {
    DatasetUpsert {
        id: id.into(),
        name: name.into(),
        description: None,
        metadata: None,
        input_schema: None,
        expected_output_schema: None,
        now: micros(at),
    }
}

pub(super) async fn create_dataset(
    stores: &Stores,
    project: &ProjectId,
    id: &str,
    name: &str,
) -> Dataset {
    stores
        .datasets
        .upsert_dataset(project, dataset_upsert(id, name, "2025-05-01T00:00:00Z"))
        .await
        .expect("upsert_dataset")
}

pub(super) fn set_input(input: Value) -> DatasetItemChange {
    DatasetItemChange {
        input: FieldChange::Set(Some(input)),
        ..DatasetItemChange::default()
    }
}

pub(super) async fn upsert_item(
    stores: &Stores,
    project: &ProjectId,
    dataset_id: &str,
    item_id: &str,
    change: DatasetItemChange,
    at: &str,
) -> DatasetItem {
    stores
        .datasets
        .upsert_dataset_item(project, dataset_id, item_id, change, micros(at))
        .await
        .unwrap_or_else(|error| panic!("upsert_dataset_item {item_id}: {error}"))
}

pub(super) async fn item_ids(
    stores: &Stores,
    project: &ProjectId,
    query: &DatasetItemQuery,
) -> Vec<String> {
    let result = stores
        .datasets
        .list_dataset_items(project, query, ALL)
        .await
        .expect("list_dataset_items");
    assert_eq!(result.total_items, result.items.len() as u64, "{query:?}");
    result.items.into_iter().map(|item| item.id).collect()
}

/// The items of a dataset as they were at `iso`.
async fn items_at(
    stores: &Stores,
    project: &ProjectId,
    dataset_id: &str,
    iso: &str,
) -> Vec<DatasetItem> {
    let query = DatasetItemQuery {
        version: Some(micros(iso)),
        ..in_dataset(dataset_id)
    };
    stores
        .datasets
        .list_dataset_items(project, &query, ALL)
        .await
        .expect("list_dataset_items")
        .items
}

fn in_dataset(dataset_id: &str) -> DatasetItemQuery {
    DatasetItemQuery {
        dataset_id: Some(dataset_id.into()),
        ..DatasetItemQuery::default()
    }
}

pub(super) fn new_run_item(
    id: &str,
    run_id: &str,
    run_name: &str,
    item: &str,
    trace: &str,
) -> NewRunItem {
    NewRunItem {
        id: id.into(),
        run_id: run_id.into(),
        run_name: run_name.into(),
        run_description: Some("first description".into()),
        run_metadata: Some(json!({"model": "a"})),
        dataset_item_id: item.into(),
        trace_id: trace.into(),
        observation_id: None,
        dataset_version: None,
        created_at: micros("2025-05-02T00:00:00Z"),
    }
}

pub async fn datasets_upsert_by_name_get_and_list(stores: &Stores) {
    let a = project(stores, "project-a").await;
    let mut first = dataset_upsert("ds-1", "evals/qa", "2025-05-01T00:00:00Z");
    first.description = Some("QA".into());
    first.metadata = Some(json!({"owner": "team"}));
    first.input_schema = Some(json!({"type": "object"}));
    let created = stores.datasets.upsert_dataset(&a, first).await.unwrap();
    assert_eq!(created.id, "ds-1");
    assert_eq!(created.name, "evals/qa");
    assert_eq!(created.metadata, Some(json!({"owner": "team"})));
    assert_eq!(created.expected_output_schema, None);
    assert_eq!(created.created_at, micros("2025-05-01T00:00:00Z"));

    // Same name: an update of that dataset; the new id is not used, omitted values stay.
    let mut again = dataset_upsert("ds-other", "evals/qa", "2025-05-01T01:00:00Z");
    again.description = Some("QA v2".into());
    let updated = stores.datasets.upsert_dataset(&a, again).await.unwrap();
    assert_eq!(updated.id, "ds-1");
    assert_eq!(updated.description.as_deref(), Some("QA v2"));
    assert_eq!(updated.metadata, Some(json!({"owner": "team"})), "kept");
    assert_eq!(
        updated.input_schema,
        Some(json!({"type": "object"})),
        "kept"
    );
    assert_eq!(updated.created_at, created.created_at);
    assert_eq!(updated.updated_at, micros("2025-05-01T01:00:00Z"));
    assert_eq!(
        stores
            .datasets
            .get_dataset_by_name(&a, "evals/qa")
            .await
            .unwrap(),
        Some(updated.clone())
    );
    assert_eq!(
        stores.datasets.get_dataset(&a, "ds-1").await.unwrap(),
        Some(updated)
    );
    assert_eq!(
        stores
            .datasets
            .get_dataset_by_name(&a, "evals")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        stores.datasets.get_dataset(&a, "ds-other").await.unwrap(),
        None
    );

    stores
        .datasets
        .upsert_dataset(&a, dataset_upsert("ds-2", "second", "2025-05-02T00:00:00Z"))
        .await
        .unwrap();
    stores
        .datasets
        .upsert_dataset(&a, dataset_upsert("ds-3", "third", "2025-05-03T00:00:00Z"))
        .await
        .unwrap();
    let first_page = stores.datasets.list_datasets(&a, page(1, 2)).await.unwrap();
    assert_eq!(first_page.total_items, 3);
    let names: Vec<&str> = first_page.items.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["third", "second"], "newest first");
    let second_page = stores.datasets.list_datasets(&a, page(2, 2)).await.unwrap();
    let names: Vec<&str> = second_page.items.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["evals/qa"]);
}

pub async fn dataset_items_upsert_merges_and_reads_pin_versions(stores: &Stores) {
    let a = project(stores, "project-a").await;
    let dataset = create_dataset(stores, &a, "ds-1", "capitals").await;
    let v1 = upsert_item(
        stores,
        &a,
        &dataset.id,
        "item-1",
        DatasetItemChange {
            input: FieldChange::Set(Some(json!({"country": "France"}))),
            expected_output: FieldChange::Set(Some(json!("Paris"))),
            metadata: FieldChange::Set(Some(json!({"difficulty": "easy"}))),
            source_trace_id: FieldChange::Set(Some("trace-src".into())),
            ..DatasetItemChange::default()
        },
        "2025-05-01T10:00:00.123456Z",
    )
    .await;
    assert_eq!(
        v1.valid_from,
        micros("2025-05-01T10:00:00.123Z"),
        "milliseconds"
    );
    assert_eq!(v1.status, DatasetItemStatus::Active);
    assert_eq!(v1.dataset_name, "capitals");

    // Partial update: only the expected output; `null` metadata clears.
    let v2 = upsert_item(
        stores,
        &a,
        &dataset.id,
        "item-1",
        DatasetItemChange {
            expected_output: FieldChange::Set(Some(json!("Paris, France"))),
            metadata: FieldChange::Set(None),
            ..DatasetItemChange::default()
        },
        "2025-05-01T11:00:00Z",
    )
    .await;
    assert_eq!(v2.input, Some(json!({"country": "France"})), "merged");
    assert_eq!(v2.expected_output, Some(json!("Paris, France")));
    assert_eq!(v2.metadata, None);
    assert_eq!(v2.source_trace_id.as_deref(), Some("trace-src"));
    assert_eq!(
        v2.created_at, v1.valid_from,
        "creation time of the first version"
    );

    // A write in the same millisecond as the last version still moves time forward.
    let v3 = upsert_item(
        stores,
        &a,
        &dataset.id,
        "item-1",
        set_input(json!({"country": "FR"})),
        "2025-05-01T11:00:00Z",
    )
    .await;
    assert_eq!(v3.valid_from, micros("2025-05-01T11:00:00.001Z"));

    let current = stores
        .datasets
        .get_dataset_item(&a, "item-1")
        .await
        .unwrap();
    assert_eq!(current, Some(v3.clone()));

    let read_at = |iso: &'static str| items_at(stores, &a, &dataset.id, iso);
    assert!(
        read_at("2025-05-01T09:00:00Z").await.is_empty(),
        "before creation"
    );
    assert_eq!(
        read_at("2025-05-01T10:00:00.123Z").await,
        vec![v1.clone()],
        "at its version"
    );
    assert_eq!(read_at("2025-05-01T10:59:59Z").await, vec![v1]);
    assert_eq!(read_at("2025-05-01T11:00:00Z").await, vec![v2]);
    assert_eq!(read_at("2030-01-01T00:00:00Z").await, vec![v3.clone()]);
    assert_eq!(
        stores
            .datasets
            .list_dataset_items(&a, &in_dataset(&dataset.id), ALL)
            .await
            .unwrap()
            .items,
        vec![v3]
    );

    // Filters and order (newest first).
    upsert_item(
        stores,
        &a,
        &dataset.id,
        "item-2",
        set_input(json!(2)),
        "2025-05-02T00:00:00Z",
    )
    .await;
    let other = create_dataset(stores, &a, "ds-2", "other").await;
    upsert_item(
        stores,
        &a,
        &other.id,
        "item-3",
        set_input(json!(3)),
        "2025-05-03T00:00:00Z",
    )
    .await;
    assert_eq!(
        item_ids(stores, &a, &in_dataset(&dataset.id)).await,
        strs(&["item-2", "item-1"])
    );
    assert_eq!(
        item_ids(stores, &a, &DatasetItemQuery::default()).await,
        strs(&["item-3", "item-2", "item-1"])
    );
    let by_source = DatasetItemQuery {
        source_trace_id: Some("trace-src".into()),
        ..DatasetItemQuery::default()
    };
    assert_eq!(item_ids(stores, &a, &by_source).await, strs(&["item-1"]));
    let by_ids = DatasetItemQuery {
        ids: strs(&["item-3", "item-1", "nope"]),
        ..DatasetItemQuery::default()
    };
    assert_eq!(
        item_ids(stores, &a, &by_ids).await,
        strs(&["item-3", "item-1"])
    );
    let paged = stores
        .datasets
        .list_dataset_items(&a, &DatasetItemQuery::default(), page(2, 2))
        .await
        .unwrap();
    assert_eq!(paged.total_items, 3);
    assert_eq!(paged.items.len(), 1);
    assert_eq!(paged.items[0].id, "item-1");
}

pub async fn dataset_items_archive_and_unique_ids(stores: &Stores) {
    let a = project(stores, "project-a").await;
    let dataset = create_dataset(stores, &a, "ds-1", "one").await;
    let other = create_dataset(stores, &a, "ds-2", "two").await;
    upsert_item(
        stores,
        &a,
        &dataset.id,
        "item-1",
        set_input(json!("q")),
        "2025-05-01T00:00:00Z",
    )
    .await;
    let archived = upsert_item(
        stores,
        &a,
        &dataset.id,
        "item-1",
        DatasetItemChange {
            status: Some(DatasetItemStatus::Archived),
            ..DatasetItemChange::default()
        },
        "2025-05-01T01:00:00Z",
    )
    .await;
    assert_eq!(archived.status, DatasetItemStatus::Archived);
    assert_eq!(
        archived.input,
        Some(json!("q")),
        "archiving keeps the content"
    );
    assert!(
        item_ids(stores, &a, &in_dataset(&dataset.id))
            .await
            .is_empty()
    );
    let with_archived = DatasetItemQuery {
        include_archived: true,
        ..in_dataset(&dataset.id)
    };
    assert_eq!(
        item_ids(stores, &a, &with_archived).await,
        strs(&["item-1"])
    );
    let by_id = stores
        .datasets
        .get_dataset_item(&a, "item-1")
        .await
        .unwrap();
    assert_eq!(
        by_id.map(|item| item.status),
        Some(DatasetItemStatus::Archived)
    );
    let before = DatasetItemQuery {
        version: Some(micros("2025-05-01T00:30:00Z")),
        ..in_dataset(&dataset.id)
    };
    assert_eq!(
        item_ids(stores, &a, &before).await,
        strs(&["item-1"]),
        "active back then"
    );
    // A later upsert without a status keeps it archived; an explicit one reactivates.
    let kept = upsert_item(
        stores,
        &a,
        &dataset.id,
        "item-1",
        set_input(json!("q2")),
        "2025-05-01T02:00:00Z",
    )
    .await;
    assert_eq!(kept.status, DatasetItemStatus::Archived);
    let active = upsert_item(
        stores,
        &a,
        &dataset.id,
        "item-1",
        DatasetItemChange {
            status: Some(DatasetItemStatus::Active),
            ..DatasetItemChange::default()
        },
        "2025-05-01T03:00:00Z",
    )
    .await;
    assert_eq!(
        (active.status, active.input),
        (DatasetItemStatus::Active, Some(json!("q2")))
    );

    // An item id belongs to one dataset.
    let error = stores
        .datasets
        .upsert_dataset_item(
            &a,
            &other.id,
            "item-1",
            set_input(json!(1)),
            micros("2025-05-02T00:00:00Z"),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Conflict(_)), "{error:?}");
    let error = stores
        .datasets
        .upsert_dataset_item(
            &a,
            "no-such-dataset",
            "item-9",
            set_input(json!(1)),
            micros("2025-05-02T00:00:00Z"),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::NotFound { .. }), "{error:?}");
}

pub async fn dataset_item_delete_is_a_versioned_tombstone(stores: &Stores) {
    let a = project(stores, "project-a").await;
    let dataset = create_dataset(stores, &a, "ds-1", "one").await;
    upsert_item(
        stores,
        &a,
        &dataset.id,
        "item-1",
        set_input(json!("q")),
        "2025-05-01T00:00:00Z",
    )
    .await;
    upsert_item(
        stores,
        &a,
        &dataset.id,
        "item-2",
        set_input(json!("r")),
        "2025-05-01T00:00:00Z",
    )
    .await;
    stores
        .dataset_runs
        .create_run_item(
            &a,
            new_run_item("ri-1", "run-1", "run", "item-1", "trace-1"),
        )
        .await
        .unwrap();
    stores
        .dataset_runs
        .create_run_item(
            &a,
            new_run_item("ri-2", "run-1", "run", "item-2", "trace-2"),
        )
        .await
        .unwrap();
    assert!(
        stores
            .datasets
            .delete_dataset_item(&a, "item-1", micros("2025-05-01T05:00:00Z"))
            .await
            .unwrap()
    );
    assert!(
        !stores
            .datasets
            .delete_dataset_item(&a, "item-1", micros("2025-05-01T06:00:00Z"))
            .await
            .unwrap()
    );
    assert!(
        !stores
            .datasets
            .delete_dataset_item(&a, "unknown", micros("2025-05-01T06:00:00Z"))
            .await
            .unwrap()
    );
    assert_eq!(
        stores
            .datasets
            .get_dataset_item(&a, "item-1")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        item_ids(stores, &a, &in_dataset(&dataset.id)).await,
        strs(&["item-2"])
    );
    let before = DatasetItemQuery {
        version: Some(micros("2025-05-01T04:00:00Z")),
        ..in_dataset(&dataset.id)
    };
    let mut before_ids = item_ids(stores, &a, &before).await;
    before_ids.sort();
    assert_eq!(
        before_ids,
        strs(&["item-1", "item-2"]),
        "history keeps the item"
    );
    // The item's run items went with it.
    let run_items = stores
        .dataset_runs
        .list_run_items(&a, "run-1", ALL)
        .await
        .unwrap();
    let linked: Vec<&str> = run_items
        .items
        .iter()
        .map(|ri| ri.dataset_item_id.as_str())
        .collect();
    assert_eq!(linked, ["item-2"]);
    // The id can be used again: a new item with no memory of the old content.
    let again = upsert_item(
        stores,
        &a,
        &dataset.id,
        "item-1",
        DatasetItemChange {
            expected_output: FieldChange::Set(Some(json!("new"))),
            ..DatasetItemChange::default()
        },
        "2025-05-01T05:00:00Z",
    )
    .await;
    assert_eq!(again.input, None);
    assert_eq!(
        again.valid_from,
        micros("2025-05-01T05:00:00.001Z"),
        "after the tombstone"
    );
    assert_eq!(again.created_at, again.valid_from);
}
