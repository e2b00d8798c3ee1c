//! Dataset runs (`dataset_runs`) and run items (`dataset_run_items`) from both paths that
//! write them (`POST /dataset-run-items` and OTLP experiment attributes). The experiments
//! reads live in [`experiments`], the numbers of a run comparison in [`results`].
//!
//! Across processes: a run is created "once" by `INSERT ... ON CONFLICT DO NOTHING` on its
//! unique (project, dataset, name) and read back; run items meet in their unique
//! (project, run, dataset item, trace) through `ON CONFLICT DO UPDATE`, which only fills
//! empty fields. Ids compare bytewise (`COLLATE "C"`), as SQLite compares them.

#[cfg(test)]
mod concurrency_tests;
mod experiments;
mod results;

use std::collections::BTreeMap;

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use glassbox_model::datasets::{
    DatasetItemStatus, DatasetRun, DatasetRunItem, ExperimentItemRecord, RunItemResult,
};
use glassbox_model::time::now_micros;
use glassbox_model::{Micros, ProjectId};
use glassbox_store::{
    DatasetRunStore, ExperimentCursor, ExperimentItem, ExperimentItemCursor, ExperimentQuery,
    ExperimentSummary, NewRunItem, Page, PageRequest, StoreError, StoreResult,
};

use crate::datasets::{
    conflict_or_internal, item_version, json_or_null, lock_item, parse_json_or_null,
};
use crate::event_log::{CONFLICT_ATTEMPTS, db_error, is_conflict};
use crate::sql::{Arg, PagedSelect, Sql, Where, select_page};
use crate::{PgStore, internal};

pub(crate) const RUN_COLUMNS: &str = "r.id, r.dataset_id, d.name, r.name, r.description, r.metadata, \
    r.created_at, r.updated_at";
const RUN_FROM: &str =
    "dataset_runs r LEFT JOIN datasets d ON d.project_id = r.project_id AND d.id = r.dataset_id";
/// Number of columns in [`RUN_COLUMNS`].
pub(crate) const RUN_WIDTH: usize = 8;

/// A run of [`RUN_COLUMNS`] starting at column `at`.
pub(crate) fn run_from_row(row: &PgRow, at: usize) -> Result<DatasetRun, sqlx::Error> {
    Ok(DatasetRun {
        id: row.try_get(at)?,
        dataset_id: row.try_get(at + 1)?,
        dataset_name: row.try_get(at + 2)?,
        name: row.try_get(at + 3)?,
        description: row.try_get(at + 4)?,
        metadata: parse_json_or_null(row.try_get(at + 5)?),
        created_at: row.try_get(at + 6)?,
        updated_at: row.try_get(at + 7)?,
    })
}

pub(crate) const RUN_ITEM_COLUMNS: &str = "ri.id, ri.run_id, r.name, r.dataset_id, ri.dataset_item_id, \
    ri.trace_id, ri.observation_id, ri.dataset_item_version, ri.expected_output, ri.item_metadata, \
    ri.created_at, ri.updated_at";
/// Number of columns in [`RUN_ITEM_COLUMNS`].
pub(crate) const RUN_ITEM_WIDTH: usize = 12;
pub(crate) const RUN_ITEM_FROM: &str =
    "dataset_run_items ri JOIN dataset_runs r ON r.project_id = ri.project_id AND r.id = ri.run_id";

/// A run item of [`RUN_ITEM_COLUMNS`] (from column 0).
pub(crate) fn run_item_from_row(row: &PgRow) -> Result<DatasetRunItem, sqlx::Error> {
    Ok(DatasetRunItem {
        id: row.try_get(0)?,
        run_id: row.try_get(1)?,
        run_name: row.try_get(2)?,
        dataset_id: row.try_get(3)?,
        dataset_item_id: row.try_get(4)?,
        trace_id: row.try_get(5)?,
        observation_id: row.try_get(6)?,
        dataset_item_version: row.try_get(7)?,
        expected_output: parse_json_or_null(row.try_get(8)?),
        item_metadata: parse_json_or_null(row.try_get(9)?),
        created_at: row.try_get(10)?,
        updated_at: row.try_get(11)?,
    })
}

/// The project's run matching `clauses` (over `dataset_runs r`).
async fn run_where(
    connection: &mut PgConnection,
    project: &str,
    clauses: impl FnOnce(&mut Where),
) -> StoreResult<Option<DatasetRun>> {
    let mut conditions = Where::in_project("r.project_id", project);
    clauses(&mut conditions);
    let mut select = Sql::new(format!("SELECT {RUN_COLUMNS} FROM {RUN_FROM}"));
    select.push_where(&conditions);
    select
        .fetch_optional(connection, |row| run_from_row(row, 0))
        .await
}

async fn run_by_id(
    connection: &mut PgConnection,
    project: &str,
    run_id: &str,
) -> StoreResult<Option<DatasetRun>> {
    run_where(connection, project, |clauses| {
        clauses.push("r.id = ?", [Arg::from(run_id)]);
    })
    .await
}

async fn run_by_name(
    connection: &mut PgConnection,
    project: &str,
    dataset_id: &str,
    name: &str,
) -> StoreResult<Option<DatasetRun>> {
    run_where(connection, project, |clauses| {
        clauses.push(
            "r.dataset_id = ? AND r.name = ?",
            [Arg::from(dataset_id), Arg::from(name)],
        );
    })
    .await
}

/// Inserts the run unless its id or its (dataset, name) exists: callers read back what
/// is stored.
async fn insert_run(
    connection: &mut PgConnection,
    project: &str,
    run: &DatasetRun,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO dataset_runs (project_id, id, dataset_id, name, description, metadata, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
    )
    .bind(project)
    .bind(&run.id)
    .bind(&run.dataset_id)
    .bind(&run.name)
    .bind(&run.description)
    .bind(json_or_null(&run.metadata))
    .bind(run.created_at)
    .bind(run.updated_at)
    .execute(connection)
    .await
    .map(drop)
    .map_err(internal)
}

/// One run item to write; `id: None` derives it from (run, item, trace).
struct RunItemRow {
    id: Option<String>,
    observation_id: Option<String>,
    dataset_item_version: Option<Micros>,
    expected_output: Option<String>,
    item_metadata: Option<String>,
    created_at: Micros,
    updated_at: Micros,
}

/// Run items by (run, dataset item, trace), in the order rows are locked.
type RunItemRows = BTreeMap<(String, String, String), RunItemRow>;

/// Adds a row; a second row of the same key fills only what the first left empty (as
/// the database does with a stored row).
fn add_run_item_row(rows: &mut RunItemRows, key: (String, String, String), row: RunItemRow) {
    match rows.get_mut(&key) {
        Some(stored) => {
            stored.observation_id = stored.observation_id.take().or(row.observation_id);
            stored.dataset_item_version = stored.dataset_item_version.or(row.dataset_item_version);
            stored.expected_output = stored.expected_output.take().or(row.expected_output);
            stored.item_metadata = stored.item_metadata.take().or(row.item_metadata);
            stored.created_at = stored.created_at.min(row.created_at);
        }
        None => {
            rows.insert(key, row);
        }
    }
}

/// Inserts the run items in one statement; a row whose run already has this dataset item
/// and trace only fills the stored row's empty fields and moves its creation back. Ids
/// derived on the OTLP path are the first 16 bytes (hex) of SHA-256 over run, item and
/// trace, each followed by a zero byte, as the embedded backend derives them.
async fn upsert_run_items(
    connection: &mut PgConnection,
    project: &str,
    rows: RunItemRows,
) -> StoreResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut ids = Vec::with_capacity(rows.len());
    let mut run_ids = Vec::with_capacity(rows.len());
    let mut item_ids = Vec::with_capacity(rows.len());
    let mut trace_ids = Vec::with_capacity(rows.len());
    let mut observation_ids = Vec::with_capacity(rows.len());
    let mut versions = Vec::with_capacity(rows.len());
    let mut expected_outputs = Vec::with_capacity(rows.len());
    let mut metadata = Vec::with_capacity(rows.len());
    let mut created = Vec::with_capacity(rows.len());
    let mut updated = Vec::with_capacity(rows.len());
    for ((run_id, item_id, trace_id), row) in rows {
        ids.push(row.id);
        run_ids.push(run_id);
        item_ids.push(item_id);
        trace_ids.push(trace_id);
        observation_ids.push(row.observation_id);
        versions.push(row.dataset_item_version);
        expected_outputs.push(row.expected_output);
        metadata.push(row.item_metadata);
        created.push(row.created_at);
        updated.push(row.updated_at);
    }
    sqlx::query(
        "INSERT INTO dataset_run_items AS ri (project_id, id, run_id, dataset_item_id, trace_id, \
         observation_id, dataset_item_version, expected_output, item_metadata, created_at, updated_at) \
         SELECT $1, COALESCE(u.id, encode(substring(sha256(convert_to(u.run_id, 'UTF8') || '\\x00'::bytea \
         || convert_to(u.item_id, 'UTF8') || '\\x00'::bytea || convert_to(u.trace_id, 'UTF8') \
         || '\\x00'::bytea) FROM 1 FOR 16), 'hex')), \
         u.run_id, u.item_id, u.trace_id, u.observation_id, u.version, u.expected_output, u.item_metadata, \
         u.created_at, u.updated_at \
         FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[], \
         $9::text[], $10::bigint[], $11::bigint[]) \
         AS u(id, run_id, item_id, trace_id, observation_id, version, expected_output, item_metadata, \
         created_at, updated_at) \
         ON CONFLICT (project_id, run_id, dataset_item_id, trace_id) DO UPDATE SET \
         observation_id = COALESCE(ri.observation_id, EXCLUDED.observation_id), \
         dataset_item_version = COALESCE(ri.dataset_item_version, EXCLUDED.dataset_item_version), \
         expected_output = COALESCE(ri.expected_output, EXCLUDED.expected_output), \
         item_metadata = COALESCE(ri.item_metadata, EXCLUDED.item_metadata), \
         created_at = LEAST(ri.created_at, EXCLUDED.created_at)",
    )
    .bind(project)
    .bind(ids)
    .bind(run_ids)
    .bind(item_ids)
    .bind(trace_ids)
    .bind(observation_ids)
    .bind(versions)
    .bind(expected_outputs)
    .bind(metadata)
    .bind(created)
    .bind(updated)
    .execute(connection)
    .await
    .map(drop)
    .map_err(|error| conflict_or_internal(error, || "a run item with this id exists".to_owned()))
}

/// The stored run item of (run, dataset item, trace).
async fn run_item_by_key(
    connection: &mut PgConnection,
    project: &str,
    run_id: &str,
    item_id: &str,
    trace_id: &str,
) -> StoreResult<DatasetRunItem> {
    let mut clauses = Where::in_project("ri.project_id", project);
    clauses.push(
        "ri.run_id = ? AND ri.dataset_item_id = ? AND ri.trace_id = ?",
        [Arg::from(run_id), Arg::from(item_id), Arg::from(trace_id)],
    );
    let mut select = Sql::new(format!("SELECT {RUN_ITEM_COLUMNS} FROM {RUN_ITEM_FROM}"));
    select.push_where(&clauses);
    select
        .fetch_optional(connection, run_item_from_row)
        .await?
        .ok_or_else(|| StoreError::Internal("the upserted run item vanished".to_owned()))
}

/// Runs in a transaction holding the dataset item's shared lock, so the item cannot be
/// deleted (with its run items) between the check and the write.
async fn create_run_item_locked(
    connection: &mut PgConnection,
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
    )
    .await?
    .ok_or_else(not_found)?;
    if is_deleted || item.status != DatasetItemStatus::Active {
        return Err(not_found());
    }
    let run = match run_by_name(connection, project, &item.dataset_id, &new.run_name).await? {
        Some(run) => run,
        None => {
            let new_run = DatasetRun {
                id: new.run_id.clone(),
                dataset_id: Some(item.dataset_id.clone()),
                dataset_name: None,
                name: new.run_name.clone(),
                description: new.run_description.clone(),
                metadata: new.run_metadata.clone(),
                created_at: new.created_at,
                updated_at: new.created_at,
            };
            insert_run(connection, project, &new_run).await?;
            // Another process may have created the run first: its row wins.
            run_by_name(connection, project, &item.dataset_id, &new.run_name)
                .await?
                .ok_or_else(|| {
                    StoreError::Conflict(format!("a run with id {} exists", new.run_id))
                })?
        }
    };
    let mut rows = RunItemRows::new();
    let key = (run.id.clone(), item.id.clone(), new.trace_id.clone());
    add_run_item_row(
        &mut rows,
        key,
        RunItemRow {
            id: Some(new.id.clone()),
            observation_id: new.observation_id.clone(),
            dataset_item_version: Some(item.valid_from),
            expected_output: json_or_null(&item.expected_output),
            item_metadata: json_or_null(&item.metadata),
            created_at: new.created_at,
            updated_at: new.created_at,
        },
    );
    upsert_run_items(connection, project, rows).await?;
    run_item_by_key(connection, project, &run.id, &item.id, &new.trace_id).await
}

/// The stored run of an experiment record: by id, else (with a dataset) by dataset and
/// name.
async fn find_experiment_run(
    connection: &mut PgConnection,
    project: &str,
    record: &ExperimentItemRecord,
    name: &str,
) -> StoreResult<Option<DatasetRun>> {
    if let Some(run) = run_by_id(connection, project, &record.experiment_id).await? {
        return Ok(Some(run));
    }
    if let Some(dataset_id) = &record.dataset_id
        && let Some(run) = run_by_name(connection, project, dataset_id, name).await?
    {
        tracing::warn!(
            experiment_id = %record.experiment_id,
            "experiment spans name an existing run under another id; linking them to that run"
        );
        return Ok(Some(run));
    }
    Ok(None)
}

/// Finds or creates the run of an experiment record (see
/// [`DatasetRunStore::record_experiment_items`]).
async fn experiment_run(
    connection: &mut PgConnection,
    project: &str,
    record: &ExperimentItemRecord,
    now: Micros,
) -> StoreResult<DatasetRun> {
    let name = record
        .experiment_name
        .clone()
        .unwrap_or_else(|| record.experiment_id.clone());
    if let Some(run) = find_experiment_run(connection, project, record, &name).await? {
        return Ok(run);
    }
    let run = DatasetRun {
        id: record.experiment_id.clone(),
        dataset_id: record.dataset_id.clone(),
        dataset_name: None,
        name: name.clone(),
        description: record.experiment_description.clone(),
        metadata: record.experiment_metadata.clone(),
        created_at: record.start_time,
        updated_at: now,
    };
    insert_run(connection, project, &run).await?;
    // Ours, or the one another process inserted first.
    find_experiment_run(connection, project, record, &name)
        .await?
        .ok_or_else(|| {
            StoreError::Internal(format!(
                "the run of experiment {} could not be stored",
                record.experiment_id
            ))
        })
}

/// Fills the run's empty description and metadata from its records (the first that
/// has them) and moves its creation time back to their earliest start, when that
/// changes anything.
async fn complete_run(
    connection: &mut PgConnection,
    project: &str,
    run: &DatasetRun,
    records: &[&ExperimentItemRecord],
) -> StoreResult<()> {
    let description = records
        .iter()
        .find_map(|record| record.experiment_description.clone())
        .filter(|_| run.description.is_none());
    let metadata = records
        .iter()
        .find_map(|record| record.experiment_metadata.clone())
        .filter(|_| run.metadata.is_none());
    let earliest = records
        .iter()
        .map(|record| record.start_time)
        .min()
        .filter(|start| *start < run.created_at);
    if description.is_none() && metadata.is_none() && earliest.is_none() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE dataset_runs SET description = COALESCE(description, $3), \
         metadata = COALESCE(metadata, $4), created_at = LEAST(created_at, COALESCE($5, created_at)) \
         WHERE project_id = $1 AND id = $2",
    )
    .bind(project)
    .bind(&run.id)
    .bind(description)
    .bind(json_or_null(&metadata))
    .bind(earliest)
    .execute(connection)
    .await
    .map(drop)
    .map_err(internal)
}

async fn record_experiment_items_now(
    connection: &mut PgConnection,
    project: &str,
    records: &[ExperimentItemRecord],
    now: Micros,
) -> StoreResult<()> {
    // The records of one export mostly share one run: resolve each run once, in id
    // order so that concurrent exports take their locks in the same order.
    let mut by_experiment: BTreeMap<&str, Vec<&ExperimentItemRecord>> = BTreeMap::new();
    for record in records {
        by_experiment
            .entry(record.experiment_id.as_str())
            .or_default()
            .push(record);
    }
    let mut rows = RunItemRows::new();
    for group in by_experiment.values() {
        let Some(first) = group.first() else {
            continue;
        };
        let run = experiment_run(connection, project, first, now).await?;
        complete_run(connection, project, &run, group).await?;
        for record in group {
            let key = (
                run.id.clone(),
                record.item_id.clone(),
                record.trace_id.clone(),
            );
            add_run_item_row(
                &mut rows,
                key,
                RunItemRow {
                    id: None,
                    observation_id: record.root_observation_id.clone(),
                    dataset_item_version: record.item_version,
                    expected_output: json_or_null(&record.item_expected_output),
                    item_metadata: json_or_null(&record.item_metadata),
                    created_at: record.start_time,
                    updated_at: now,
                },
            );
        }
    }
    upsert_run_items(connection, project, rows).await
}

#[async_trait]
impl DatasetRunStore for PgStore {
    async fn create_run_item(
        &self,
        project: &ProjectId,
        item: NewRunItem,
    ) -> StoreResult<DatasetRunItem> {
        let mut transaction = self.pool.begin().await.map_err(internal)?;
        lock_item(
            &mut transaction,
            project.as_str(),
            &item.dataset_item_id,
            false,
        )
        .await?;
        let run_item = create_run_item_locked(&mut transaction, project.as_str(), &item).await?;
        transaction.commit().await.map_err(internal)?;
        Ok(run_item)
    }

    async fn record_experiment_items(
        &self,
        project: &ProjectId,
        records: Vec<ExperimentItemRecord>,
    ) -> StoreResult<()> {
        if records.is_empty() {
            return Ok(());
        }
        // Concurrent exports of one experiment lock the run and its items; should
        // PostgreSQL still pick this transaction as a deadlock victim, run it again.
        let now = now_micros();
        let mut attempt = 1;
        loop {
            let result = async {
                let mut transaction = self.pool.begin().await.map_err(db_error)?;
                record_experiment_items_now(&mut transaction, project.as_str(), &records, now)
                    .await?;
                transaction.commit().await.map_err(db_error)
            }
            .await;
            match result {
                Err(error) if is_conflict(&error) && attempt < CONFLICT_ATTEMPTS => attempt += 1,
                other => return other,
            }
        }
    }

    async fn list_runs(
        &self,
        project: &ProjectId,
        dataset_id: &str,
        page: PageRequest,
    ) -> StoreResult<Page<DatasetRun>> {
        let select = PagedSelect {
            columns: RUN_COLUMNS,
            from: RUN_FROM,
            count_from: "dataset_runs r",
            order: "r.created_at DESC, r.id COLLATE \"C\" ASC",
        };
        let mut clauses = Where::in_project("r.project_id", project.as_str());
        clauses.push("r.dataset_id = ?", [Arg::from(dataset_id)]);
        select_page(&self.pool, select, &clauses, page, |row| {
            run_from_row(row, 0)
        })
        .await
    }

    async fn get_run(&self, project: &ProjectId, run_id: &str) -> StoreResult<Option<DatasetRun>> {
        let mut connection = self.pool.acquire().await.map_err(internal)?;
        run_by_id(&mut connection, project.as_str(), run_id).await
    }

    async fn get_run_by_name(
        &self,
        project: &ProjectId,
        dataset_id: &str,
        run_name: &str,
    ) -> StoreResult<Option<DatasetRun>> {
        let mut connection = self.pool.acquire().await.map_err(internal)?;
        run_by_name(&mut connection, project.as_str(), dataset_id, run_name).await
    }

    async fn list_run_items(
        &self,
        project: &ProjectId,
        run_id: &str,
        page: PageRequest,
    ) -> StoreResult<Page<DatasetRunItem>> {
        let select = PagedSelect {
            columns: RUN_ITEM_COLUMNS,
            from: RUN_ITEM_FROM,
            count_from: "dataset_run_items ri",
            order: "ri.created_at DESC, ri.id COLLATE \"C\" ASC",
        };
        let mut clauses = Where::in_project("ri.project_id", project.as_str());
        clauses.push("ri.run_id = ?", [Arg::from(run_id)]);
        select_page(&self.pool, select, &clauses, page, run_item_from_row).await
    }

    async fn delete_run(&self, project: &ProjectId, run_id: &str) -> StoreResult<bool> {
        // The run first, then its items: the order in which writers of run items lock.
        let mut transaction = self.pool.begin().await.map_err(internal)?;
        let deleted = sqlx::query("DELETE FROM dataset_runs WHERE project_id = $1 AND id = $2")
            .bind(project.as_str())
            .bind(run_id)
            .execute(&mut *transaction)
            .await
            .map_err(internal)?
            .rows_affected();
        sqlx::query("DELETE FROM dataset_run_items WHERE project_id = $1 AND run_id = $2")
            .bind(project.as_str())
            .bind(run_id)
            .execute(&mut *transaction)
            .await
            .map_err(internal)?;
        transaction.commit().await.map_err(internal)?;
        Ok(deleted > 0)
    }

    async fn list_experiments(
        &self,
        project: &ProjectId,
        query: &ExperimentQuery,
        cursor: Option<&ExperimentCursor>,
        limit: u32,
    ) -> StoreResult<Vec<ExperimentSummary>> {
        experiments::list_experiments(&self.pool, project.as_str(), query, cursor, limit).await
    }

    async fn list_experiment_items(
        &self,
        project: &ProjectId,
        query: &ExperimentQuery,
        cursor: Option<&ExperimentItemCursor>,
        limit: u32,
    ) -> StoreResult<Vec<ExperimentItem>> {
        experiments::list_experiment_items(&self.pool, project.as_str(), query, cursor, limit).await
    }

    async fn run_item_results(
        &self,
        project: &ProjectId,
        run_ids: &[String],
    ) -> StoreResult<Vec<RunItemResult>> {
        results::run_item_results(&self.pool, project.as_str(), run_ids).await
    }
}
