//! Conformance tests: Dataset runs, run items and experiments (from the API and from OTLP spans).

use super::datasets::{create_dataset, item_ids, new_run_item, set_input, upsert_item};
use super::*;

use glassbox_model::datasets::{
    Dataset, DatasetItemChange, DatasetItemStatus, ExperimentItemRecord,
};

fn experiment_record(
    experiment: &str,
    dataset: Option<&str>,
    item: &str,
    trace: &str,
    start: &str,
) -> ExperimentItemRecord {
    ExperimentItemRecord {
        experiment_id: experiment.into(),
        experiment_name: Some(format!("{experiment}-name")),
        experiment_description: None,
        experiment_metadata: None,
        dataset_id: dataset.map(str::to_owned),
        item_id: item.into(),
        item_version: None,
        item_expected_output: None,
        item_metadata: None,
        trace_id: trace.into(),
        root_observation_id: None,
        start_time: micros(start),
    }
}

/// Dataset `ds-1` ("one") holding `items` (id, input), all created at 2025-05-01T00:00Z.
async fn dataset_with_items(
    stores: &Stores,
    project: &ProjectId,
    items: &[(&str, Value)],
) -> Dataset {
    let dataset = create_dataset(stores, project, "ds-1", "one").await;
    for (id, input) in items {
        upsert_item(
            stores,
            project,
            &dataset.id,
            id,
            set_input(input.clone()),
            "2025-05-01T00:00:00Z",
        )
        .await;
    }
    dataset
}

pub async fn run_items_from_the_api_create_the_run_once(stores: &Stores) {
    let a = project(stores, "project-a").await;
    let dataset = dataset_with_items(
        stores,
        &a,
        &[("item-1", json!("item-1")), ("item-2", json!("item-2"))],
    )
    .await;
    let first = stores
        .dataset_runs
        .create_run_item(
            &a,
            new_run_item("ri-1", "run-1", "baseline", "item-1", "trace-1"),
        )
        .await
        .unwrap();
    assert_eq!(
        (
            first.id.as_str(),
            first.run_id.as_str(),
            first.run_name.as_str()
        ),
        ("ri-1", "run-1", "baseline")
    );
    assert_eq!(first.dataset_id.as_deref(), Some("ds-1"));
    assert_eq!(
        first.dataset_item_version,
        Some(micros("2025-05-01T00:00:00Z"))
    );
    assert_eq!(first.expected_output, None);

    // Same run name: the run is reused and its description not changed.
    let mut later = new_run_item("ri-2", "run-other", "baseline", "item-2", "trace-2");
    later.run_description = Some("changed".into());
    later.observation_id = Some("obs-2".into());
    let second = stores
        .dataset_runs
        .create_run_item(&a, later)
        .await
        .unwrap();
    assert_eq!(second.run_id, "run-1");
    assert_eq!(second.observation_id.as_deref(), Some("obs-2"));
    let run = stores
        .dataset_runs
        .get_run(&a, "run-1")
        .await
        .unwrap()
        .expect("run");
    assert_eq!(run.description.as_deref(), Some("first description"));
    assert_eq!(run.metadata, Some(json!({"model": "a"})));
    assert_eq!(run.dataset_name.as_deref(), Some("one"));
    assert_eq!(
        stores
            .dataset_runs
            .get_run_by_name(&a, "ds-1", "baseline")
            .await
            .unwrap(),
        Some(run)
    );
    assert_eq!(
        stores.dataset_runs.get_run(&a, "run-other").await.unwrap(),
        None
    );

    // A repeat of (run, item, trace) returns the stored row.
    let repeat = stores
        .dataset_runs
        .create_run_item(
            &a,
            new_run_item("ri-3", "run-1", "baseline", "item-1", "trace-1"),
        )
        .await
        .unwrap();
    assert_eq!(repeat.id, "ri-1");
    let items = stores
        .dataset_runs
        .list_run_items(&a, "run-1", ALL)
        .await
        .unwrap();
    assert_eq!(items.total_items, 2);

    // Archived, deleted, unknown or not-yet-existing (pinned version) items are not found.
    upsert_item(
        stores,
        &a,
        &dataset.id,
        "item-2",
        DatasetItemChange {
            status: Some(DatasetItemStatus::Archived),
            ..DatasetItemChange::default()
        },
        "2025-05-03T00:00:00Z",
    )
    .await;
    for (item, version) in [
        ("item-2", None),
        ("unknown", None),
        ("item-1", Some("2025-04-01T00:00:00Z")),
    ] {
        let mut new = new_run_item("ri-x", "run-1", "baseline", item, "trace-9");
        new.dataset_version = version.map(micros);
        let error = stores
            .dataset_runs
            .create_run_item(&a, new)
            .await
            .unwrap_err();
        assert!(
            matches!(error, StoreError::NotFound { .. }),
            "{item}: {error:?}"
        );
    }
    // Pinned to a time when it was active, the archived item runs in that version.
    let mut pinned = new_run_item("ri-4", "run-1", "baseline", "item-2", "trace-4");
    pinned.dataset_version = Some(micros("2025-05-02T00:00:00Z"));
    let pinned = stores
        .dataset_runs
        .create_run_item(&a, pinned)
        .await
        .unwrap();
    assert_eq!(
        pinned.dataset_item_version,
        Some(micros("2025-05-01T00:00:00Z"))
    );

    let runs = stores
        .dataset_runs
        .list_runs(&a, "ds-1", ALL)
        .await
        .unwrap();
    assert_eq!(runs.total_items, 1);
}

pub async fn experiment_spans_make_runs_and_meet_api_run_items(stores: &Stores) {
    let a = project(stores, "project-a").await;
    dataset_with_items(stores, &a, &[("item-1", json!(1))]).await;

    // JS path: the API call first, then the spans with the returned run id.
    let api = stores
        .dataset_runs
        .create_run_item(
            &a,
            new_run_item("ri-1", "run-js", "js-run", "item-1", "trace-1"),
        )
        .await
        .unwrap();
    let mut span_record = experiment_record(
        "run-js",
        Some("ds-1"),
        "item-1",
        "trace-1",
        "2025-05-01T23:59:00Z",
    );
    span_record.root_observation_id = Some("root-1".into());
    span_record.item_expected_output = Some(json!("Paris"));
    stores
        .dataset_runs
        .record_experiment_items(&a, vec![span_record])
        .await
        .unwrap();
    let items = stores
        .dataset_runs
        .list_run_items(&a, "run-js", ALL)
        .await
        .unwrap()
        .items;
    assert_eq!(items.len(), 1, "one run item from both paths");
    assert_eq!(items[0].id, api.id);
    assert_eq!(
        items[0].observation_id.as_deref(),
        Some("root-1"),
        "filled in"
    );
    assert_eq!(
        items[0].created_at,
        micros("2025-05-01T23:59:00Z"),
        "earliest"
    );

    // Python path: spans only, the run from the attributes; evaluator spans without the
    // description arrive first, the task span with it later.
    let mut evaluator = experiment_record(
        "5cb234bf946b9e75",
        Some("ds-1"),
        "item-1",
        "trace-py",
        "2025-05-02T00:00:01Z",
    );
    evaluator.experiment_metadata = Some(json!({"model": "lookup"}));
    let mut task = experiment_record(
        "5cb234bf946b9e75",
        Some("ds-1"),
        "item-1",
        "trace-py",
        "2025-05-02T00:00:00Z",
    );
    task.experiment_description = Some("Baseline".into());
    task.root_observation_id = Some("task-span".into());
    task.item_metadata = Some(json!({"difficulty": "easy"}));
    stores
        .dataset_runs
        .record_experiment_items(&a, vec![evaluator.clone()])
        .await
        .unwrap();
    stores
        .dataset_runs
        .record_experiment_items(&a, vec![task.clone()])
        .await
        .unwrap();
    // Re-sent spans change nothing.
    stores
        .dataset_runs
        .record_experiment_items(&a, vec![task, evaluator])
        .await
        .unwrap();
    let run = stores
        .dataset_runs
        .get_run(&a, "5cb234bf946b9e75")
        .await
        .unwrap()
        .expect("run");
    assert_eq!(run.name, "5cb234bf946b9e75-name");
    assert_eq!(run.description.as_deref(), Some("Baseline"));
    assert_eq!(run.metadata, Some(json!({"model": "lookup"})));
    assert_eq!(run.dataset_id.as_deref(), Some("ds-1"));
    assert_eq!(run.created_at, micros("2025-05-02T00:00:00Z"));
    let items = stores
        .dataset_runs
        .list_run_items(&a, &run.id, ALL)
        .await
        .unwrap()
        .items;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].observation_id.as_deref(), Some("task-span"));
    assert_eq!(items[0].item_metadata, Some(json!({"difficulty": "easy"})));
    assert_eq!(items[0].dataset_item_id, "item-1");
    let mut runs: Vec<String> = stores
        .dataset_runs
        .list_runs(&a, "ds-1", ALL)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|run| run.id)
        .collect();
    runs.sort();
    assert_eq!(runs, strs(&["5cb234bf946b9e75", "run-js"]));

    // Spans of an experiment on local data: a run without a dataset.
    stores
        .dataset_runs
        .record_experiment_items(
            &a,
            vec![experiment_record(
                "local-1",
                None,
                "hash-1",
                "trace-l",
                "2025-05-03T00:00:00Z",
            )],
        )
        .await
        .unwrap();
    let local = stores
        .dataset_runs
        .get_run(&a, "local-1")
        .await
        .unwrap()
        .expect("local run");
    assert_eq!((local.dataset_id, local.dataset_name), (None, None));
    // Spans naming an existing run of the dataset under another id join that run.
    let mut renamed = experiment_record(
        "other-id",
        Some("ds-1"),
        "item-1",
        "trace-r",
        "2025-05-04T00:00:00Z",
    );
    renamed.experiment_name = Some("js-run".into());
    stores
        .dataset_runs
        .record_experiment_items(&a, vec![renamed])
        .await
        .unwrap();
    assert_eq!(
        stores.dataset_runs.get_run(&a, "other-id").await.unwrap(),
        None
    );
    assert_eq!(
        stores
            .dataset_runs
            .list_run_items(&a, "run-js", ALL)
            .await
            .unwrap()
            .total_items,
        2
    );
}

pub async fn delete_run_removes_it_and_its_items(stores: &Stores) {
    let a = project(stores, "project-a").await;
    dataset_with_items(stores, &a, &[("item-1", json!(1))]).await;
    for (run, trace) in [("run-1", "t1"), ("run-2", "t2")] {
        stores
            .dataset_runs
            .create_run_item(
                &a,
                new_run_item(&format!("ri-{run}"), run, run, "item-1", trace),
            )
            .await
            .unwrap();
    }
    assert!(stores.dataset_runs.delete_run(&a, "run-1").await.unwrap());
    assert!(!stores.dataset_runs.delete_run(&a, "run-1").await.unwrap());
    assert_eq!(
        stores.dataset_runs.get_run(&a, "run-1").await.unwrap(),
        None
    );
    assert_eq!(
        stores
            .dataset_runs
            .list_run_items(&a, "run-1", ALL)
            .await
            .unwrap()
            .total_items,
        0
    );
    assert_eq!(
        stores
            .dataset_runs
            .list_run_items(&a, "run-2", ALL)
            .await
            .unwrap()
            .total_items,
        1
    );
    // The name is free again: a new run with a new id.
    let again = stores
        .dataset_runs
        .create_run_item(
            &a,
            new_run_item("ri-new", "run-1b", "run-1", "item-1", "t1"),
        )
        .await
        .unwrap();
    assert_eq!(again.run_id, "run-1b");
}

/// Two runs over two items with traces that have observations, costs and scores.
async fn comparison_fixture(stores: &Stores, project: &ProjectId) {
    dataset_with_items(
        stores,
        project,
        &[("item-1", json!("item-1")), ("item-2", json!("item-2"))],
    )
    .await;
    ingest_ok(
        stores,
        project,
        json!([
            {"id": "e1", "type": "trace-create", "timestamp": "2025-06-01T10:00:00Z",
             "body": {"id": "t-a1", "output": "trace output a1"}},
            {"id": "e2", "type": "span-create", "timestamp": "2025-06-01T10:00:00Z",
             "body": {"id": "root-a1", "traceId": "t-a1", "startTime": "2025-06-01T10:00:00Z",
                      "endTime": "2025-06-01T10:00:02Z", "output": "Paris"}},
            {"id": "e3", "type": "generation-create", "timestamp": "2025-06-01T10:00:00Z",
             "body": {"id": "gen-a1", "traceId": "t-a1", "parentObservationId": "root-a1",
                      "startTime": "2025-06-01T10:00:00.500Z", "endTime": "2025-06-01T10:00:01Z",
                      "costDetails": {"total": 0.25}}},
            {"id": "e4", "type": "span-create", "timestamp": "2025-06-01T10:00:03Z",
             "body": {"id": "eval-a1", "traceId": "t-a1", "startTime": "2025-06-01T10:00:03Z",
                      "endTime": "2025-06-01T10:00:09Z", "costDetails": {"total": 5.0}}},
            {"id": "e5", "type": "score-create", "timestamp": "2025-06-01T10:00:05Z",
             "body": {"id": "s-a1", "traceId": "t-a1", "observationId": "root-a1", "name": "exact", "value": 1}},
            {"id": "e6", "type": "trace-create", "timestamp": "2025-06-01T11:00:00Z",
             "body": {"id": "t-b1", "output": "Lyon"}},
            {"id": "e7", "type": "span-create", "timestamp": "2025-06-01T11:00:00Z",
             "body": {"id": "only-b1", "traceId": "t-b1", "startTime": "2025-06-01T11:00:00Z",
                      "endTime": "2025-06-01T11:00:04Z", "costDetails": {"total": 0.5}}},
            {"id": "e8", "type": "score-create", "timestamp": "2025-06-01T11:00:05Z",
             "body": {"id": "s-b1", "traceId": "t-b1", "name": "exact", "value": 0}}
        ]),
    )
    .await;
    let mut a1 = new_run_item("ri-a1", "run-a", "a", "item-1", "t-a1");
    a1.observation_id = Some("root-a1".into());
    stores
        .dataset_runs
        .create_run_item(project, a1)
        .await
        .unwrap();
    // Item 2 in run a: a trace that never arrived.
    stores
        .dataset_runs
        .create_run_item(
            project,
            new_run_item("ri-a2", "run-a", "a", "item-2", "t-missing"),
        )
        .await
        .unwrap();
    stores
        .dataset_runs
        .create_run_item(
            project,
            new_run_item("ri-b1", "run-b", "b", "item-1", "t-b1"),
        )
        .await
        .unwrap();
}

pub async fn run_item_results_latency_cost_output_and_scores(stores: &Stores) {
    let a = project(stores, "project-a").await;
    comparison_fixture(stores, &a).await;
    let results = stores
        .dataset_runs
        .run_item_results(&a, &strs(&["run-a", "run-b"]))
        .await
        .unwrap();
    let find = |id: &str| {
        results
            .iter()
            .find(|result| result.run_item.id == id)
            .unwrap_or_else(|| panic!("{id} in {results:?}"))
    };
    assert_eq!(results.len(), 3);
    // Linked to an observation: its duration, the cost of its subtree, its output.
    let a1 = find("ri-a1");
    assert_eq!(a1.output, Some(json!("Paris")));
    assert_close(
        a1.latency_seconds.expect("latency"),
        2.0,
        "observation latency",
    );
    assert_close(
        a1.total_cost.expect("cost"),
        0.25,
        "subtree cost, not the evaluator's",
    );
    assert_eq!(
        a1.scores.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        ["s-a1"]
    );
    // Linked to a trace only: the trace's span of time, total cost and output.
    let b1 = find("ri-b1");
    assert_eq!(b1.output, Some(json!("Lyon")));
    assert_close(b1.latency_seconds.expect("latency"), 4.0, "trace latency");
    assert_close(b1.total_cost.expect("cost"), 0.5, "trace cost");
    assert_eq!(b1.scores[0].value, 0.0);
    // Nothing of the trace arrived.
    let a2 = find("ri-a2");
    assert_eq!(
        (a2.latency_seconds, a2.total_cost, a2.output.clone()),
        (None, None, None)
    );
    assert!(a2.scores.is_empty());
    // Only the runs asked for; the newest run item per (run, item) wins.
    stores
        .dataset_runs
        .create_run_item(&a, {
            let mut newer = new_run_item("ri-b1-again", "run-b", "b", "item-1", "t-a1");
            newer.created_at = micros("2025-07-01T00:00:00Z");
            newer
        })
        .await
        .unwrap();
    let only_b = stores
        .dataset_runs
        .run_item_results(&a, &strs(&["run-b"]))
        .await
        .unwrap();
    assert_eq!(only_b.len(), 1);
    assert_eq!(only_b[0].run_item.id, "ri-b1-again");
    assert!(
        stores
            .dataset_runs
            .run_item_results(&a, &[])
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn experiments_and_experiment_items_reads(stores: &Stores) {
    let a = project(stores, "project-a").await;
    comparison_fixture(stores, &a).await;
    stores
        .dataset_runs
        .record_experiment_items(
            &a,
            vec![{
                let mut record =
                    experiment_record("local-1", None, "hash-1", "t-b1", "2025-06-01T11:00:00Z");
                record.root_observation_id = Some("only-b1".into());
                record
            }],
        )
        .await
        .unwrap();
    let everything = ExperimentQuery {
        from_start_time: micros("2025-01-01T00:00:00Z"),
        ..ExperimentQuery::default()
    };
    let experiments = stores
        .dataset_runs
        .list_experiments(&a, &everything, None, 10)
        .await
        .unwrap();
    let summary: Vec<(&str, u64)> = experiments
        .iter()
        .map(|e| (e.run.id.as_str(), e.item_count))
        .collect();
    // Latest activity first: run-a's missing trace counts at its creation (2025-05-02).
    assert_eq!(summary, [("local-1", 1), ("run-b", 1), ("run-a", 2)]);
    let run_a = &experiments[2];
    assert_eq!(run_a.start_time, micros("2025-05-02T00:00:00Z"));
    assert_eq!(run_a.end_time, micros("2025-06-01T10:00:02Z"));
    assert_eq!(experiments[0].end_time, micros("2025-06-01T11:00:04Z"));

    // Keyset pages return every experiment once.
    let first = stores
        .dataset_runs
        .list_experiments(&a, &everything, None, 2)
        .await
        .unwrap();
    let last = &first[1];
    let cursor = ExperimentCursor {
        end_time: last.end_time,
        id: last.run.id.clone(),
    };
    let rest = stores
        .dataset_runs
        .list_experiments(&a, &everything, Some(&cursor), 2)
        .await
        .unwrap();
    assert_eq!(
        rest.iter().map(|e| e.run.id.as_str()).collect::<Vec<_>>(),
        ["run-a"]
    );

    // Range and filters.
    let june = ExperimentQuery {
        from_start_time: micros("2025-06-01T00:00:00Z"),
        to_start_time: Some(micros("2025-06-01T10:30:00Z")),
        ..ExperimentQuery::default()
    };
    let in_june = stores
        .dataset_runs
        .list_experiments(&a, &june, None, 10)
        .await
        .unwrap();
    assert_eq!(in_june.len(), 1);
    assert_eq!(
        (in_june[0].run.id.as_str(), in_june[0].item_count),
        ("run-a", 1)
    );
    let by_dataset = ExperimentQuery {
        dataset_ids: strs(&["ds-1"]),
        experiment_names: strs(&["b"]),
        ..everything.clone()
    };
    let named = stores
        .dataset_runs
        .list_experiments(&a, &by_dataset, None, 10)
        .await
        .unwrap();
    assert_eq!(
        named.iter().map(|e| e.run.id.as_str()).collect::<Vec<_>>(),
        ["run-b"]
    );
    let filtered = ExperimentQuery {
        filters: filter(
            r#"[{"type":"stringOptions","column":"id","operator":"any of","value":["local-1"]}]"#,
            glassbox_model::datasets::EXPERIMENT_COLUMNS,
        ),
        ..everything.clone()
    };
    let filtered = stores
        .dataset_runs
        .list_experiments(&a, &filtered, None, 10)
        .await
        .unwrap();
    assert_eq!(
        filtered
            .iter()
            .map(|e| e.run.id.as_str())
            .collect::<Vec<_>>(),
        ["local-1"]
    );

    // Items: newest first, with the linked observation.
    let items = stores
        .dataset_runs
        .list_experiment_items(&a, &everything, None, 10)
        .await
        .unwrap();
    let order: Vec<&str> = items
        .iter()
        .map(|item| item.run_item.trace_id.as_str())
        .collect();
    assert_eq!(order, ["t-b1", "t-b1", "t-a1", "t-missing"]);
    let a1 = &items[2];
    assert_eq!(
        a1.observation.as_ref().map(|o| o.id.as_str()),
        Some("root-a1")
    );
    assert_eq!(a1.start_time, micros("2025-06-01T10:00:00Z"));
    assert_eq!(a1.run.name, "a");
    assert!(items[3].observation.is_none());
    let mut seen = Vec::new();
    let mut cursor: Option<ExperimentItemCursor> = None;
    loop {
        let page = stores
            .dataset_runs
            .list_experiment_items(&a, &everything, cursor.as_ref(), 1)
            .await
            .unwrap();
        let Some(item) = page.last() else { break };
        seen.push(item.run_item.id.clone());
        cursor = Some(ExperimentItemCursor {
            start_time: item.start_time,
            trace_id: item.run_item.trace_id.clone(),
            id: item.run_item.id.clone(),
        });
    }
    assert_eq!(seen.len(), 4);
    assert_eq!(set(&seen).len(), 4, "each item once");
    let by_item = ExperimentQuery {
        item_ids: strs(&["item-2"]),
        ..everything
    };
    let item_2 = stores
        .dataset_runs
        .list_experiment_items(&a, &by_item, None, 10)
        .await
        .unwrap();
    assert_eq!(item_2.len(), 1);
    assert_eq!(item_2[0].run_item.id, "ri-a2");
}

pub async fn datasets_and_runs_are_scoped_by_project(stores: &Stores) {
    let (a, b) = projects_a_b(stores).await;
    comparison_fixture(stores, &a).await;
    stores
        .dataset_runs
        .record_experiment_items(
            &a,
            vec![experiment_record(
                "local-1",
                None,
                "h",
                "t-x",
                "2025-06-01T00:00:00Z",
            )],
        )
        .await
        .unwrap();
    // Project B sees none of it.
    assert_eq!(
        stores
            .datasets
            .list_datasets(&b, ALL)
            .await
            .unwrap()
            .total_items,
        0
    );
    assert_eq!(stores.datasets.get_dataset(&b, "ds-1").await.unwrap(), None);
    assert_eq!(
        stores
            .datasets
            .get_dataset_by_name(&b, "one")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        stores
            .datasets
            .get_dataset_item(&b, "item-1")
            .await
            .unwrap(),
        None
    );
    assert!(
        item_ids(stores, &b, &DatasetItemQuery::default())
            .await
            .is_empty()
    );
    assert_eq!(
        stores
            .dataset_runs
            .list_runs(&b, "ds-1", ALL)
            .await
            .unwrap()
            .total_items,
        0
    );
    assert_eq!(
        stores.dataset_runs.get_run(&b, "run-a").await.unwrap(),
        None
    );
    assert_eq!(
        stores
            .dataset_runs
            .get_run_by_name(&b, "ds-1", "a")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        stores
            .dataset_runs
            .list_run_items(&b, "run-a", ALL)
            .await
            .unwrap()
            .total_items,
        0
    );
    assert!(
        stores
            .dataset_runs
            .run_item_results(&b, &strs(&["run-a", "run-b"]))
            .await
            .unwrap()
            .is_empty()
    );
    let everything = ExperimentQuery {
        from_start_time: micros("2000-01-01T00:00:00Z"),
        ..ExperimentQuery::default()
    };
    assert!(
        stores
            .dataset_runs
            .list_experiments(&b, &everything, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        stores
            .dataset_runs
            .list_experiment_items(&b, &everything, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // B cannot write into A's items or runs, nor delete them.
    let error = stores
        .dataset_runs
        .create_run_item(&b, new_run_item("ri-b", "run-a", "a", "item-1", "t-b"))
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::NotFound { .. }), "{error:?}");
    let error = stores
        .datasets
        .upsert_dataset_item(
            &b,
            "ds-1",
            "item-1",
            set_input(json!(1)),
            micros("2025-06-01T00:00:00Z"),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::NotFound { .. }), "{error:?}");
    assert!(
        !stores
            .datasets
            .delete_dataset_item(&b, "item-1", micros("2025-06-01T00:00:00Z"))
            .await
            .unwrap()
    );
    assert!(!stores.dataset_runs.delete_run(&b, "run-a").await.unwrap());
    // The same names and ids in B are B's own.
    let b_dataset = create_dataset(stores, &b, "ds-1", "one").await;
    upsert_item(
        stores,
        &b,
        &b_dataset.id,
        "item-1",
        set_input(json!("b")),
        "2025-06-01T00:00:00Z",
    )
    .await;
    stores
        .dataset_runs
        .record_experiment_items(
            &b,
            vec![experiment_record(
                "run-a",
                Some("ds-1"),
                "item-1",
                "t-b",
                "2025-06-01T00:00:00Z",
            )],
        )
        .await
        .unwrap();
    assert_eq!(
        stores
            .datasets
            .get_dataset_item(&a, "item-1")
            .await
            .unwrap()
            .and_then(|item| item.input),
        Some(json!("item-1"))
    );
    assert_eq!(
        stores
            .dataset_runs
            .list_run_items(&a, "run-a", ALL)
            .await
            .unwrap()
            .total_items,
        2
    );
    assert_eq!(
        stores
            .dataset_runs
            .list_run_items(&b, "run-a", ALL)
            .await
            .unwrap()
            .total_items,
        1
    );
    assert_eq!(
        stores
            .dataset_runs
            .get_run(&a, "run-a")
            .await
            .unwrap()
            .map(|run| run.name),
        Some("a".to_owned())
    );
}
