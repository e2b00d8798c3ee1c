//! Dataset runs (`dataset_runs`) and run items (`dataset_run_items`), the experiments
//! reads over them (joined with the observations the items link to), and the numbers of
//! a run comparison.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};
use sha2::{Digest, Sha256};

use glassbox_model::datasets::{DatasetRun, DatasetRunItem, ExperimentItemRecord, RunItemResult};
use glassbox_model::time::now_micros;
use glassbox_model::{Micros, Observation, ProjectId, Score};
use glassbox_store::{
    DatasetRunStore, ExperimentCursor, ExperimentItem, ExperimentItemCursor, ExperimentQuery,
    ExperimentSummary, NewRunItem, Page, PageRequest, StoreError, StoreResult,
};

use crate::SqliteStore;
use crate::connection::internal;
use crate::datasets::{item_version, json_or_null, parse_json_or_null};
use crate::rows::{OBSERVATION_COLUMNS, SCORE_COLUMNS, observation_from_row, score_from_row};
use crate::sql::{
    ColumnResolver, PagedSelect, Where, apply_filters, execute_changes_any, select_page,
};

const RUN_COLUMNS: &str = "r.id, r.dataset_id, d.name, r.name, r.description, r.metadata, \
    r.created_at, r.updated_at";
const RUN_FROM: &str =
    "dataset_runs r LEFT JOIN datasets d ON d.project_id = r.project_id AND d.id = r.dataset_id";
/// Number of columns in [`RUN_COLUMNS`].
const RUN_WIDTH: usize = 8;

fn run_from_row(row: &Row<'_>, at: usize) -> rusqlite::Result<DatasetRun> {
    Ok(DatasetRun {
        id: row.get(at)?,
        dataset_id: row.get(at + 1)?,
        dataset_name: row.get(at + 2)?,
        name: row.get(at + 3)?,
        description: row.get(at + 4)?,
        metadata: parse_json_or_null(row.get(at + 5)?),
        created_at: row.get(at + 6)?,
        updated_at: row.get(at + 7)?,
    })
}

const RUN_ITEM_COLUMNS: &str = "ri.id, ri.run_id, r.name, r.dataset_id, ri.dataset_item_id, ri.trace_id, \
    ri.observation_id, ri.dataset_item_version, ri.expected_output, ri.item_metadata, ri.created_at, \
    ri.updated_at";
const RUN_ITEM_WIDTH: usize = 12;
const RUN_ITEM_FROM: &str =
    "dataset_run_items ri JOIN dataset_runs r ON r.project_id = ri.project_id AND r.id = ri.run_id";

fn run_item_from_row(row: &Row<'_>) -> rusqlite::Result<DatasetRunItem> {
    Ok(DatasetRunItem {
        id: row.get(0)?,
        run_id: row.get(1)?,
        run_name: row.get(2)?,
        dataset_id: row.get(3)?,
        dataset_item_id: row.get(4)?,
        trace_id: row.get(5)?,
        observation_id: row.get(6)?,
        dataset_item_version: row.get(7)?,
        expected_output: parse_json_or_null(row.get(8)?),
        item_metadata: parse_json_or_null(row.get(9)?),
        created_at: row.get(10)?,
        updated_at: row.get(11)?,
    })
}

fn run_where(
    connection: &Connection,
    project: &str,
    clause: &str,
    values: &[&str],
) -> StoreResult<Option<DatasetRun>> {
    let mut all: Vec<&str> = vec![project];
    all.extend_from_slice(values);
    connection
        .query_row(
            &format!("SELECT {RUN_COLUMNS} FROM {RUN_FROM} WHERE r.project_id = ?1 AND {clause}"),
            params_from_iter(all),
            |row| run_from_row(row, 0),
        )
        .optional()
        .map_err(internal)
}

fn run_by_id(
    connection: &Connection,
    project: &str,
    run_id: &str,
) -> StoreResult<Option<DatasetRun>> {
    run_where(connection, project, "r.id = ?2", &[run_id])
}

fn run_by_name(
    connection: &Connection,
    project: &str,
    dataset_id: &str,
    name: &str,
) -> StoreResult<Option<DatasetRun>> {
    run_where(
        connection,
        project,
        "r.dataset_id = ?2 AND r.name = ?3",
        &[dataset_id, name],
    )
}

fn insert_run(connection: &Connection, project: &str, run: &DatasetRun) -> StoreResult<()> {
    connection
        .prepare_cached(
            "INSERT INTO dataset_runs (project_id, id, dataset_id, name, description, metadata, created_at, \
             updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING",
        )
        .and_then(|mut statement| {
            statement.execute(params![
                project,
                run.id,
                run.dataset_id,
                run.name,
                run.description,
                json_or_null(&run.metadata),
                run.created_at,
                run.updated_at,
            ])
        })
        .map(drop)
        .map_err(internal)
}

/// Inserts the run item unless its run already has this dataset item and trace; then
/// fills only the fields that are still empty.
fn upsert_run_item(
    connection: &Connection,
    project: &str,
    item: &DatasetRunItem,
) -> StoreResult<()> {
    connection
        .prepare_cached(
            "INSERT INTO dataset_run_items (project_id, id, run_id, dataset_item_id, trace_id, observation_id, \
             dataset_item_version, expected_output, item_metadata, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
             ON CONFLICT (project_id, run_id, dataset_item_id, trace_id) DO UPDATE SET \
             observation_id = COALESCE(dataset_run_items.observation_id, excluded.observation_id), \
             dataset_item_version = COALESCE(dataset_run_items.dataset_item_version, excluded.dataset_item_version), \
             expected_output = COALESCE(dataset_run_items.expected_output, excluded.expected_output), \
             item_metadata = COALESCE(dataset_run_items.item_metadata, excluded.item_metadata), \
             created_at = MIN(dataset_run_items.created_at, excluded.created_at)",
        )
        .and_then(|mut statement| {
            statement.execute(params![
                project,
                item.id,
                item.run_id,
                item.dataset_item_id,
                item.trace_id,
                item.observation_id,
                item.dataset_item_version,
                json_or_null(&item.expected_output),
                json_or_null(&item.item_metadata),
                item.created_at,
                item.updated_at,
            ])
        })
        .map(drop)
        .map_err(internal)
}

/// The stored run item of (run, dataset item, trace).
fn run_item_by_key(
    connection: &Connection,
    project: &str,
    item: &DatasetRunItem,
) -> StoreResult<DatasetRunItem> {
    connection
        .query_row(
            &format!(
                "SELECT {RUN_ITEM_COLUMNS} FROM {RUN_ITEM_FROM} WHERE ri.project_id = ?1 AND ri.run_id = ?2 \
                 AND ri.dataset_item_id = ?3 AND ri.trace_id = ?4"
            ),
            params![project, item.run_id, item.dataset_item_id, item.trace_id],
            run_item_from_row,
        )
        .map_err(internal)
}

fn create_run_item_now(
    connection: &Connection,
    project: &str,
    new: &NewRunItem,
) -> StoreResult<DatasetRunItem> {
    let not_found = || StoreError::NotFound {
        entity: "dataset item",
        id: new.dataset_item_id.clone(),
    };
    let (item, is_deleted) = item_version(
        connection,
        project,
        &new.dataset_item_id,
        new.dataset_version,
    )?
    .ok_or_else(not_found)?;
    if is_deleted || item.status != glassbox_model::datasets::DatasetItemStatus::Active {
        return Err(not_found());
    }
    let run = match run_by_name(connection, project, &item.dataset_id, &new.run_name)? {
        Some(run) => run,
        None => {
            insert_run(
                connection,
                project,
                &DatasetRun {
                    id: new.run_id.clone(),
                    dataset_id: Some(item.dataset_id.clone()),
                    dataset_name: None,
                    name: new.run_name.clone(),
                    description: new.run_description.clone(),
                    metadata: new.run_metadata.clone(),
                    created_at: new.created_at,
                    updated_at: new.created_at,
                },
            )?;
            run_by_name(connection, project, &item.dataset_id, &new.run_name)?.ok_or_else(|| {
                StoreError::Conflict(format!("a run with id {} exists", new.run_id))
            })?
        }
    };
    let run_item = DatasetRunItem {
        id: new.id.clone(),
        run_id: run.id,
        run_name: run.name,
        dataset_id: run.dataset_id,
        dataset_item_id: item.id,
        trace_id: new.trace_id.clone(),
        observation_id: new.observation_id.clone(),
        dataset_item_version: Some(item.valid_from),
        expected_output: item.expected_output,
        item_metadata: item.metadata,
        created_at: new.created_at,
        updated_at: new.created_at,
    };
    upsert_run_item(connection, project, &run_item)?;
    run_item_by_key(connection, project, &run_item)
}

/// Run item ids of the OTLP path: derived from (run, item, trace), so a re-sent span
/// finds the same row even without the unique key.
fn derived_run_item_id(run_id: &str, item_id: &str, trace_id: &str) -> String {
    let mut hasher = Sha256::new();
    for part in [run_id, item_id, trace_id] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hasher
        .finalize()
        .iter()
        .take(16)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Finds or creates the run of an experiment record (see
/// [`DatasetRunStore::record_experiment_items`]).
fn experiment_run(
    connection: &Connection,
    project: &str,
    record: &ExperimentItemRecord,
    now: Micros,
) -> StoreResult<DatasetRun> {
    let name = record
        .experiment_name
        .clone()
        .unwrap_or_else(|| record.experiment_id.clone());
    if let Some(run) = run_by_id(connection, project, &record.experiment_id)? {
        return Ok(run);
    }
    if let Some(dataset_id) = &record.dataset_id
        && let Some(run) = run_by_name(connection, project, dataset_id, &name)?
    {
        tracing::warn!(
            experiment_id = %record.experiment_id,
            "experiment spans name an existing run under another id; linking them to that run"
        );
        return Ok(run);
    }
    let run = DatasetRun {
        id: record.experiment_id.clone(),
        dataset_id: record.dataset_id.clone(),
        dataset_name: None,
        name,
        description: record.experiment_description.clone(),
        metadata: record.experiment_metadata.clone(),
        created_at: record.start_time,
        updated_at: now,
    };
    insert_run(connection, project, &run)?;
    Ok(run)
}

/// Fills the run's empty description and metadata from the record and moves its
/// creation time back to the record's start, when that changes anything.
fn complete_run(
    connection: &Connection,
    project: &str,
    run: &mut DatasetRun,
    record: &ExperimentItemRecord,
) -> StoreResult<()> {
    let description = run.description.is_none() && record.experiment_description.is_some();
    let metadata = run.metadata.is_none() && record.experiment_metadata.is_some();
    let earlier = record.start_time < run.created_at;
    if !(description || metadata || earlier) {
        return Ok(());
    }
    connection
        .prepare_cached(
            "UPDATE dataset_runs SET description = COALESCE(description, ?3), \
             metadata = COALESCE(metadata, ?4), created_at = MIN(created_at, ?5) \
             WHERE project_id = ?1 AND id = ?2",
        )
        .and_then(|mut statement| {
            statement.execute(params![
                project,
                run.id,
                record.experiment_description,
                json_or_null(&record.experiment_metadata),
                record.start_time,
            ])
        })
        .map_err(internal)?;
    if description {
        run.description = record.experiment_description.clone();
    }
    if metadata {
        run.metadata = record.experiment_metadata.clone();
    }
    run.created_at = run.created_at.min(record.start_time);
    Ok(())
}

fn record_experiment_items_now(
    connection: &Connection,
    project: &str,
    records: &[ExperimentItemRecord],
    now: Micros,
) -> StoreResult<()> {
    // The records of one export mostly share one run: resolve it once.
    let mut runs: HashMap<String, DatasetRun> = HashMap::new();
    for record in records {
        let run = match runs.entry(record.experiment_id.clone()) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => {
                entry.insert(experiment_run(connection, project, record, now)?)
            }
        };
        complete_run(connection, project, run, record)?;
        upsert_run_item(
            connection,
            project,
            &DatasetRunItem {
                id: derived_run_item_id(&run.id, &record.item_id, &record.trace_id),
                run_id: run.id.clone(),
                run_name: run.name.clone(),
                dataset_id: run.dataset_id.clone(),
                dataset_item_id: record.item_id.clone(),
                trace_id: record.trace_id.clone(),
                observation_id: record.root_observation_id.clone(),
                dataset_item_version: record.item_version,
                expected_output: record.item_expected_output.clone(),
                item_metadata: record.item_metadata.clone(),
                created_at: record.start_time,
                updated_at: now,
            },
        )?;
    }
    Ok(())
}

fn page_of_runs(
    connection: &Connection,
    project: &str,
    dataset_id: &str,
    page: PageRequest,
) -> StoreResult<Page<DatasetRun>> {
    let mut clauses = Where::in_project("r.project_id", project);
    clauses.push("r.dataset_id = ?", [SqlValue::from(dataset_id.to_owned())]);
    let select = PagedSelect {
        columns: RUN_COLUMNS,
        from: RUN_FROM,
        count_from: "dataset_runs r",
        order: "r.created_at DESC, r.id ASC",
    };
    select_page(connection, select, &clauses, page, |row| {
        run_from_row(row, 0)
    })
}

fn page_of_run_items(
    connection: &Connection,
    project: &str,
    run_id: &str,
    page: PageRequest,
) -> StoreResult<Page<DatasetRunItem>> {
    let mut clauses = Where::in_project("ri.project_id", project);
    clauses.push("ri.run_id = ?", [SqlValue::from(run_id.to_owned())]);
    let select = PagedSelect {
        columns: RUN_ITEM_COLUMNS,
        from: RUN_ITEM_FROM,
        count_from: "dataset_run_items ri",
        order: "ri.created_at DESC, ri.id ASC",
    };
    select_page(connection, select, &clauses, page, run_item_from_row)
}

/// The start of an experiment item: its observation's start, else its trace's
/// timestamp, else (nothing arrived yet) the run item's creation.
const ITEM_START: &str = "COALESCE(o.start_time, t.timestamp, ri.created_at)";
const ITEM_END: &str = "COALESCE(o.end_time, o.start_time, t.timestamp, ri.created_at)";
const EXPERIMENT_ITEMS_FROM: &str = "dataset_run_items ri \
    JOIN dataset_runs r ON r.project_id = ri.project_id AND r.id = ri.run_id \
    LEFT JOIN datasets d ON d.project_id = r.project_id AND d.id = r.dataset_id \
    LEFT JOIN observations o ON o.project_id = ri.project_id AND o.id = ri.observation_id \
    LEFT JOIN traces t ON t.project_id = ri.project_id AND t.id = ri.trace_id";

struct ExperimentColumns;

impl ColumnResolver for ExperimentColumns {
    fn expression(&self, column: &str) -> Option<String> {
        Some(
            match column {
                "id" | "experimentId" => "r.id",
                "name" | "experimentName" => "r.name",
                "datasetId" => "r.dataset_id",
                "experimentItemId" => "ri.dataset_item_id",
                _ => return None,
            }
            .to_owned(),
        )
    }

    fn score_target(&self) -> Option<(&'static str, &'static str, &'static str)> {
        None
    }
}

fn experiment_where(project: &str, query: &ExperimentQuery) -> StoreResult<Where> {
    let mut clauses = Where::default();
    clauses.push("ri.project_id = ?", [SqlValue::from(project.to_owned())]);
    clauses.push(
        format!("{ITEM_START} >= ?"),
        [SqlValue::from(query.from_start_time)],
    );
    if let Some(to) = query.to_start_time {
        clauses.push(format!("{ITEM_START} < ?"), [SqlValue::from(to)]);
    }
    clauses.any_of("r.id", &query.experiment_ids);
    clauses.any_of("r.name", &query.experiment_names);
    clauses.any_of("r.dataset_id", &query.dataset_ids);
    clauses.any_of("ri.dataset_item_id", &query.item_ids);
    apply_filters(&mut clauses, &query.filters, &ExperimentColumns)
        .map_err(|message| StoreError::Conflict(format!("invalid filter: {message}")))?;
    Ok(clauses)
}

fn observation_by_id(
    connection: &Connection,
    project: &str,
    observation_id: &str,
) -> StoreResult<Option<Observation>> {
    connection
        .query_row(
            &format!("SELECT {OBSERVATION_COLUMNS} FROM observations o WHERE o.project_id = ?1 AND o.id = ?2"),
            params![project, observation_id],
            observation_from_row,
        )
        .optional()
        .map_err(internal)
}

/// What a comparison needs of one observation.
struct ObservationTimes {
    id: String,
    parent: Option<String>,
    start: i64,
    end: Option<i64>,
    cost: f64,
}

/// The observations of one trace, with children by parent id.
#[derive(Default)]
struct TraceTree {
    observations: Vec<ObservationTimes>,
    by_id: HashMap<String, usize>,
    children: HashMap<String, Vec<usize>>,
}

impl TraceTree {
    fn push(&mut self, observation: ObservationTimes) {
        let index = self.observations.len();
        self.by_id.insert(observation.id.clone(), index);
        if let Some(parent) = &observation.parent {
            self.children.entry(parent.clone()).or_default().push(index);
        }
        self.observations.push(observation);
    }

    /// Latency (seconds) of the observation and the total cost of it and its descendants.
    fn subtree(&self, root: usize) -> (Option<f64>, f64) {
        let observation = &self.observations[root];
        let latency = observation
            .end
            .map(|end| (end - observation.start) as f64 / 1e6);
        let mut cost = 0.0;
        let mut seen: HashSet<usize> = HashSet::new();
        let mut stack = vec![root];
        while let Some(index) = stack.pop() {
            if !seen.insert(index) {
                continue;
            }
            let node = &self.observations[index];
            cost += node.cost;
            if let Some(children) = self.children.get(&node.id) {
                stack.extend(children.iter().copied());
            }
        }
        (latency, cost)
    }

    /// Latency (seconds, first start to last end) and total cost of the whole trace;
    /// `None`s without observations.
    fn whole(&self) -> (Option<f64>, Option<f64>) {
        if self.observations.is_empty() {
            return (None, None);
        }
        let first = self.observations.iter().map(|o| o.start).min().unwrap_or(0);
        let last = self
            .observations
            .iter()
            .map(|o| o.end.unwrap_or(o.start))
            .max()
            .unwrap_or(first);
        let cost = self.observations.iter().map(|o| o.cost).sum();
        (Some((last - first) as f64 / 1e6), Some(cost))
    }
}

fn parse_output(text: Option<String>) -> Option<serde_json::Value> {
    text.and_then(|text| serde_json::from_str(&text).ok())
}

/// Set-based: one query each for the run items, the observations, outputs and scores of
/// their traces (a comparison of 10 runs × 10,000 items is a handful of queries).
fn run_item_results_now(
    connection: &Connection,
    project: &str,
    run_ids: &[String],
) -> StoreResult<Vec<RunItemResult>> {
    if run_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut clauses = Where::default();
    clauses.push("ri.project_id = ?", [SqlValue::from(project.to_owned())]);
    clauses.any_of("ri.run_id", run_ids);
    let mut statement = connection
        .prepare(&format!(
            "SELECT {RUN_ITEM_COLUMNS} FROM {RUN_ITEM_FROM} WHERE {} ORDER BY ri.created_at DESC, ri.id DESC",
            clauses.sql()
        ))
        .map_err(internal)?;
    let mut seen: HashSet<(String, String)> = HashSet::new();
    let items: Vec<DatasetRunItem> = statement
        .query_map(params_from_iter(clauses.params.iter()), run_item_from_row)
        .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
        .map_err(internal)?
        .into_iter()
        // Newest first: the first row of a (run, dataset item) is the one compared.
        .filter(|item| seen.insert((item.run_id.clone(), item.dataset_item_id.clone())))
        .collect();

    // The traces of these run items, as a subquery every query below joins.
    let wanted = format!(
        "(SELECT DISTINCT ri.trace_id FROM dataset_run_items ri WHERE {})",
        clauses.sql()
    );
    let with_project = |first: &str| {
        let mut params = vec![SqlValue::from(first.to_owned())];
        params.extend(clauses.params.iter().cloned());
        params
    };

    let mut trees: HashMap<String, TraceTree> = HashMap::new();
    let mut statement = connection
        .prepare(&format!(
            "SELECT o.id, o.trace_id, o.parent_observation_id, o.start_time, o.end_time, o.total_cost \
             FROM observations o WHERE o.project_id = ? AND o.trace_id IN {wanted}"
        ))
        .map_err(internal)?;
    let mut rows = statement
        .query(params_from_iter(with_project(project)))
        .map_err(internal)?;
    while let Some(row) = rows.next().map_err(internal)? {
        let trace_id: String = row.get(1).map_err(internal)?;
        trees.entry(trace_id).or_default().push(ObservationTimes {
            id: row.get(0).map_err(internal)?,
            parent: row.get(2).map_err(internal)?,
            start: row.get(3).map_err(internal)?,
            end: row.get(4).map_err(internal)?,
            cost: row
                .get::<_, Option<f64>>(5)
                .map_err(internal)?
                .unwrap_or(0.0),
        });
    }

    let mut linked_outputs: HashMap<String, Option<String>> = HashMap::new();
    let mut statement = connection
        .prepare(&format!(
            "SELECT o.id, gb_json(o.project_id, o.output) FROM observations o WHERE o.project_id = ? AND o.id IN \
             (SELECT ri.observation_id FROM dataset_run_items ri WHERE {} AND ri.observation_id IS NOT NULL)",
            clauses.sql()
        ))
        .map_err(internal)?;
    let mut rows = statement
        .query(params_from_iter(with_project(project)))
        .map_err(internal)?;
    while let Some(row) = rows.next().map_err(internal)? {
        linked_outputs.insert(row.get(0).map_err(internal)?, row.get(1).map_err(internal)?);
    }

    let mut trace_outputs: HashMap<String, Option<String>> = HashMap::new();
    let mut statement = connection
        .prepare(&format!(
            "SELECT t.id, gb_json(t.project_id, t.output) FROM traces t WHERE t.project_id = ? AND t.id IN {wanted}"
        ))
        .map_err(internal)?;
    let mut rows = statement
        .query(params_from_iter(with_project(project)))
        .map_err(internal)?;
    while let Some(row) = rows.next().map_err(internal)? {
        trace_outputs.insert(row.get(0).map_err(internal)?, row.get(1).map_err(internal)?);
    }

    let mut scores: HashMap<String, Vec<Score>> = HashMap::new();
    let mut statement = connection
        .prepare(&format!(
            "SELECT {SCORE_COLUMNS} FROM scores s WHERE s.project_id = ? AND s.trace_id IN {wanted} \
             ORDER BY s.timestamp DESC, s.id DESC"
        ))
        .map_err(internal)?;
    let all_scores = statement
        .query_map(params_from_iter(with_project(project)), score_from_row)
        .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
        .map_err(internal)?;
    for score in all_scores {
        if let Some(trace_id) = score.trace_id.clone() {
            scores.entry(trace_id).or_default().push(score);
        }
    }

    let empty = TraceTree::default();
    Ok(items
        .into_iter()
        .map(|run_item| {
            let tree = trees.get(&run_item.trace_id).unwrap_or(&empty);
            let linked = run_item
                .observation_id
                .as_ref()
                .and_then(|id| tree.by_id.get(id).copied());
            let (output, latency_seconds, total_cost) = match linked {
                Some(index) => {
                    let (latency, cost) = tree.subtree(index);
                    let id = &tree.observations[index].id;
                    let output = linked_outputs.get(id).cloned().flatten();
                    (parse_output(output), latency, Some(cost))
                }
                None => {
                    let (latency, cost) = tree.whole();
                    let output = trace_outputs.get(&run_item.trace_id).cloned().flatten();
                    (parse_output(output), latency, cost)
                }
            };
            let scores = scores.get(&run_item.trace_id).cloned().unwrap_or_default();
            RunItemResult {
                run_item,
                output,
                latency_seconds,
                total_cost,
                scores,
            }
        })
        .collect())
}

#[async_trait]
impl DatasetRunStore for SqliteStore {
    async fn create_run_item(
        &self,
        project: &ProjectId,
        item: NewRunItem,
    ) -> StoreResult<DatasetRunItem> {
        let project = project.clone();
        self.writer
            .write(move |connection| create_run_item_now(connection, project.as_str(), &item))
            .await
    }

    async fn record_experiment_items(
        &self,
        project: &ProjectId,
        records: Vec<ExperimentItemRecord>,
    ) -> StoreResult<()> {
        if records.is_empty() {
            return Ok(());
        }
        let project = project.clone();
        self.writer
            .write(move |connection| {
                record_experiment_items_now(connection, project.as_str(), &records, now_micros())
            })
            .await
    }

    async fn list_runs(
        &self,
        project: &ProjectId,
        dataset_id: &str,
        page: PageRequest,
    ) -> StoreResult<Page<DatasetRun>> {
        let (project, dataset_id) = (project.clone(), dataset_id.to_owned());
        self.readers
            .read(move |connection| page_of_runs(connection, project.as_str(), &dataset_id, page))
            .await
    }

    async fn get_run(&self, project: &ProjectId, run_id: &str) -> StoreResult<Option<DatasetRun>> {
        let (project, run_id) = (project.clone(), run_id.to_owned());
        self.readers
            .read(move |connection| run_by_id(connection, project.as_str(), &run_id))
            .await
    }

    async fn get_run_by_name(
        &self,
        project: &ProjectId,
        dataset_id: &str,
        run_name: &str,
    ) -> StoreResult<Option<DatasetRun>> {
        let (project, dataset_id, run_name) =
            (project.clone(), dataset_id.to_owned(), run_name.to_owned());
        self.readers
            .read(move |connection| {
                run_by_name(connection, project.as_str(), &dataset_id, &run_name)
            })
            .await
    }

    async fn list_run_items(
        &self,
        project: &ProjectId,
        run_id: &str,
        page: PageRequest,
    ) -> StoreResult<Page<DatasetRunItem>> {
        let (project, run_id) = (project.clone(), run_id.to_owned());
        self.readers
            .read(move |connection| page_of_run_items(connection, project.as_str(), &run_id, page))
            .await
    }

    async fn delete_run(&self, project: &ProjectId, run_id: &str) -> StoreResult<bool> {
        let (project, run_id) = (project.clone(), run_id.to_owned());
        self.writer
            .write(move |connection| {
                connection
                    .execute(
                        "DELETE FROM dataset_run_items WHERE project_id = ?1 AND run_id = ?2",
                        params![project.as_str(), run_id],
                    )
                    .map_err(internal)?;
                execute_changes_any(
                    connection,
                    "DELETE FROM dataset_runs WHERE project_id = ?1 AND id = ?2",
                    params![project.as_str(), run_id],
                )
            })
            .await
    }

    async fn list_experiments(
        &self,
        project: &ProjectId,
        query: &ExperimentQuery,
        cursor: Option<&ExperimentCursor>,
        limit: u32,
    ) -> StoreResult<Vec<ExperimentSummary>> {
        let clauses = experiment_where(project.as_str(), query)?;
        let cursor = cursor.cloned();
        self.readers
            .read(move |connection| {
                let mut params = clauses.params.clone();
                let having = match &cursor {
                    Some(cursor) => {
                        params.extend([
                            SqlValue::from(cursor.end_time),
                            SqlValue::from(cursor.end_time),
                            SqlValue::from(cursor.id.clone()),
                        ]);
                        format!("HAVING MAX({ITEM_END}) < ? OR (MAX({ITEM_END}) = ? AND r.id < ?)")
                    }
                    None => String::new(),
                };
                let sql = format!(
                    "SELECT {RUN_COLUMNS}, MIN({ITEM_START}), MAX({ITEM_END}), COUNT(*) \
                     FROM {EXPERIMENT_ITEMS_FROM} WHERE {} GROUP BY r.id {having} \
                     ORDER BY MAX({ITEM_END}) DESC, r.id DESC LIMIT {limit}",
                    clauses.sql()
                );
                let mut statement = connection.prepare(&sql).map_err(internal)?;
                statement
                    .query_map(params_from_iter(params.iter()), |row| {
                        Ok(ExperimentSummary {
                            run: run_from_row(row, 0)?,
                            start_time: row.get(RUN_WIDTH)?,
                            end_time: row.get(RUN_WIDTH + 1)?,
                            item_count: row.get::<_, i64>(RUN_WIDTH + 2)?.max(0) as u64,
                        })
                    })
                    .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
                    .map_err(internal)
            })
            .await
    }

    async fn list_experiment_items(
        &self,
        project: &ProjectId,
        query: &ExperimentQuery,
        cursor: Option<&ExperimentItemCursor>,
        limit: u32,
    ) -> StoreResult<Vec<ExperimentItem>> {
        let mut clauses = experiment_where(project.as_str(), query)?;
        if let Some(cursor) = cursor {
            clauses.push(
                format!("({ITEM_START}, ri.trace_id, ri.id) < (?, ?, ?)"),
                [
                    SqlValue::from(cursor.start_time),
                    SqlValue::from(cursor.trace_id.clone()),
                    SqlValue::from(cursor.id.clone()),
                ],
            );
        }
        let project = project.clone();
        self.readers
            .read(move |connection| {
                let sql = format!(
                    "SELECT {RUN_ITEM_COLUMNS}, {RUN_COLUMNS}, {ITEM_START} FROM {EXPERIMENT_ITEMS_FROM} \
                     WHERE {} ORDER BY {ITEM_START} DESC, ri.trace_id DESC, ri.id DESC LIMIT {limit}",
                    clauses.sql()
                );
                let mut statement = connection.prepare(&sql).map_err(internal)?;
                let rows = statement
                    .query_map(params_from_iter(clauses.params.iter()), |row| {
                        Ok((
                            run_item_from_row(row)?,
                            run_from_row(row, RUN_ITEM_WIDTH)?,
                            row.get::<_, i64>(RUN_ITEM_WIDTH + RUN_WIDTH)?,
                        ))
                    })
                    .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
                    .map_err(internal)?;
                rows.into_iter()
                    .map(|(run_item, run, start_time)| {
                        let observation = match &run_item.observation_id {
                            Some(id) => observation_by_id(connection, project.as_str(), id)?,
                            None => None,
                        };
                        Ok(ExperimentItem {
                            run_item,
                            run,
                            observation,
                            start_time,
                        })
                    })
                    .collect()
            })
            .await
    }

    async fn run_item_results(
        &self,
        project: &ProjectId,
        run_ids: &[String],
    ) -> StoreResult<Vec<RunItemResult>> {
        let (project, run_ids) = (project.clone(), run_ids.to_vec());
        self.readers
            .read(move |connection| run_item_results_now(connection, project.as_str(), &run_ids))
            .await
    }
}
