//! Datasets (`datasets`) and versioned dataset items (`dataset_items`, one row per
//! version: `valid_from` ≤ t < `valid_to`, tombstones flagged `is_deleted`).

use async_trait::async_trait;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::Value;

use glassbox_model::datasets::{
    Dataset, DatasetItem, DatasetItemChange, DatasetItemStatus, next_item_version,
    next_version_time,
};
use glassbox_model::{Micros, ProjectId};
use glassbox_store::{
    DatasetItemQuery, DatasetStore, DatasetUpsert, Page, PageRequest, StoreError, StoreResult,
};

use crate::SqliteStore;
use crate::connection::internal;
use crate::sql::{PagedSelect, Where, select_page};

/// JSON text of a nullable JSON value (`None` and `null` are SQL NULL).
pub(crate) fn json_or_null(value: &Option<Value>) -> Option<String> {
    value
        .as_ref()
        .filter(|value| !value.is_null())
        .map(Value::to_string)
}

/// A nullable JSON text column (`null` text reads as `None`).
pub(crate) fn parse_json_or_null(text: Option<String>) -> Option<Value> {
    text.and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .filter(|value| !value.is_null())
}

const DATASET_COLUMNS: &str = "d.id, d.name, d.description, d.metadata, d.input_schema, \
    d.expected_output_schema, d.created_at, d.updated_at";

fn dataset_from_row(row: &Row<'_>) -> rusqlite::Result<Dataset> {
    Ok(Dataset {
        id: row.get(0)?,
        name: row.get(1)?,
        description: row.get(2)?,
        metadata: parse_json_or_null(row.get(3)?),
        input_schema: parse_json_or_null(row.get(4)?),
        expected_output_schema: parse_json_or_null(row.get(5)?),
        created_at: row.get(6)?,
        updated_at: row.get(7)?,
    })
}

fn dataset_where(
    connection: &Connection,
    project: &str,
    clause: &str,
    value: &str,
) -> StoreResult<Option<Dataset>> {
    connection
        .query_row(
            &format!(
                "SELECT {DATASET_COLUMNS} FROM datasets d WHERE d.project_id = ?1 AND {clause}"
            ),
            params![project, value],
            dataset_from_row,
        )
        .optional()
        .map_err(internal)
}

pub(crate) fn dataset_by_id(
    connection: &Connection,
    project: &str,
    dataset_id: &str,
) -> StoreResult<Option<Dataset>> {
    dataset_where(connection, project, "d.id = ?2", dataset_id)
}

fn upsert_dataset_now(
    connection: &Connection,
    project: &str,
    upsert: &DatasetUpsert,
) -> StoreResult<Dataset> {
    let existing = dataset_where(connection, project, "d.name = ?2", &upsert.name)?;
    match existing {
        Some(dataset) => {
            connection
                .execute(
                    "UPDATE datasets SET description = COALESCE(?3, description), \
                     metadata = COALESCE(?4, metadata), input_schema = COALESCE(?5, input_schema), \
                     expected_output_schema = COALESCE(?6, expected_output_schema), updated_at = ?7 \
                     WHERE project_id = ?1 AND id = ?2",
                    params![
                        project,
                        dataset.id,
                        upsert.description,
                        json_or_null(&upsert.metadata),
                        json_or_null(&upsert.input_schema),
                        json_or_null(&upsert.expected_output_schema),
                        upsert.now.max(dataset.updated_at),
                    ],
                )
                .map_err(internal)?;
        }
        None => {
            connection
                .execute(
                    "INSERT INTO datasets (project_id, id, name, description, metadata, input_schema, \
                     expected_output_schema, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
                    params![
                        project,
                        upsert.id,
                        upsert.name,
                        upsert.description,
                        json_or_null(&upsert.metadata),
                        json_or_null(&upsert.input_schema),
                        json_or_null(&upsert.expected_output_schema),
                        upsert.now,
                    ],
                )
                .map_err(|error| match error {
                    rusqlite::Error::SqliteFailure(failure, _)
                        if failure.code == rusqlite::ErrorCode::ConstraintViolation =>
                    {
                        StoreError::Conflict(format!("a dataset with id {} exists", upsert.id))
                    }
                    other => internal(other),
                })?;
        }
    }
    dataset_where(connection, project, "d.name = ?2", &upsert.name)?
        .ok_or_else(|| StoreError::Internal("the upserted dataset vanished".into()))
}

pub(crate) const ITEM_COLUMNS: &str = "i.id, i.dataset_id, d.name, i.status, i.input, i.expected_output, \
    i.metadata, i.source_trace_id, i.source_observation_id, i.created_at, i.valid_from";
pub(crate) const ITEM_FROM: &str =
    "dataset_items i JOIN datasets d ON d.project_id = i.project_id AND d.id = i.dataset_id";

pub(crate) fn item_from_row(row: &Row<'_>) -> rusqlite::Result<DatasetItem> {
    let status: String = row.get(3)?;
    Ok(DatasetItem {
        id: row.get(0)?,
        dataset_id: row.get(1)?,
        dataset_name: row.get(2)?,
        status: DatasetItemStatus::parse(&status).unwrap_or_default(),
        input: parse_json_or_null(row.get(4)?),
        expected_output: parse_json_or_null(row.get(5)?),
        metadata: parse_json_or_null(row.get(6)?),
        source_trace_id: row.get(7)?,
        source_observation_id: row.get(8)?,
        created_at: row.get(9)?,
        valid_from: row.get(10)?,
    })
}

/// The version of an item valid at `at` (current when `None`), tombstones included:
/// `(item, is_deleted)`.
pub(crate) fn item_version(
    connection: &Connection,
    project: &str,
    item_id: &str,
    at: Option<Micros>,
) -> StoreResult<Option<(DatasetItem, bool)>> {
    let time_clause = match at {
        None => "i.valid_to IS NULL",
        Some(_) => "i.valid_from <= ?3 AND (i.valid_to IS NULL OR i.valid_to > ?3)",
    };
    let sql = format!(
        "SELECT {ITEM_COLUMNS}, i.is_deleted FROM {ITEM_FROM} \
         WHERE i.project_id = ?1 AND i.id = ?2 AND {time_clause}"
    );
    let read = |row: &Row<'_>| Ok((item_from_row(row)?, row.get::<_, bool>(11)?));
    let result = match at {
        None => connection.query_row(&sql, params![project, item_id], read),
        Some(at) => connection.query_row(&sql, params![project, item_id, at], read),
    };
    result.optional().map_err(internal)
}

fn insert_version(
    connection: &Connection,
    project: &str,
    item: &DatasetItem,
    is_deleted: bool,
) -> StoreResult<()> {
    connection
        .prepare_cached(
            "INSERT INTO dataset_items (project_id, id, valid_from, valid_to, dataset_id, is_deleted, status, \
             input, expected_output, metadata, source_trace_id, source_observation_id, created_at) \
             VALUES (?1, ?2, ?3, NULL, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )
        .and_then(|mut statement| {
            statement.execute(params![
                project,
                item.id,
                item.valid_from,
                item.dataset_id,
                is_deleted,
                item.status.as_str(),
                json_or_null(&item.input),
                json_or_null(&item.expected_output),
                json_or_null(&item.metadata),
                item.source_trace_id,
                item.source_observation_id,
                item.created_at,
            ])
        })
        .map(drop)
        .map_err(internal)
}

fn close_current(
    connection: &Connection,
    project: &str,
    item_id: &str,
    valid_to: Micros,
) -> StoreResult<()> {
    connection
        .prepare_cached(
            "UPDATE dataset_items SET valid_to = ?3 WHERE project_id = ?1 AND id = ?2 AND valid_to IS NULL",
        )
        .and_then(|mut statement| statement.execute(params![project, item_id, valid_to]))
        .map(drop)
        .map_err(internal)
}

fn upsert_item_now(
    connection: &Connection,
    project: &str,
    dataset_id: &str,
    item_id: &str,
    change: &DatasetItemChange,
    now: Micros,
) -> StoreResult<DatasetItem> {
    let dataset =
        dataset_by_id(connection, project, dataset_id)?.ok_or_else(|| StoreError::NotFound {
            entity: "dataset",
            id: dataset_id.to_owned(),
        })?;
    let current = item_version(connection, project, item_id, None)?;
    if let Some((item, _)) = &current
        && item.dataset_id != dataset.id
    {
        return Err(StoreError::Conflict(format!(
            "Dataset item with id {item_id} already exists in another dataset"
        )));
    }
    let (previous, now) = match current {
        Some((item, false)) => (Some(item), now),
        // A deleted item starts afresh, strictly after its tombstone.
        Some((tombstone, true)) => (None, next_version_time(now, Some(tombstone.valid_from))),
        None => (None, now),
    };
    let next = next_item_version(
        previous.as_ref(),
        item_id,
        &dataset.id,
        &dataset.name,
        change,
        now,
    );
    close_current(connection, project, item_id, next.valid_from)?;
    insert_version(connection, project, &next, false)?;
    Ok(next)
}

fn delete_item_now(
    connection: &Connection,
    project: &str,
    item_id: &str,
    now: Micros,
) -> StoreResult<bool> {
    let Some((current, false)) = item_version(connection, project, item_id, None)? else {
        return Ok(false);
    };
    let mut tombstone = current.clone();
    tombstone.valid_from = next_version_time(now, Some(current.valid_from));
    tombstone.input = None;
    tombstone.expected_output = None;
    tombstone.metadata = None;
    close_current(connection, project, item_id, tombstone.valid_from)?;
    insert_version(connection, project, &tombstone, true)?;
    connection
        .execute(
            "DELETE FROM dataset_run_items WHERE project_id = ?1 AND dataset_item_id = ?2",
            params![project, item_id],
        )
        .map_err(internal)?;
    Ok(true)
}

/// WHERE clauses over `dataset_items i` for a listing.
pub(crate) fn item_where(project: &str, query: &DatasetItemQuery) -> Where {
    let mut clauses = Where::default();
    clauses.push("i.project_id = ?", [SqlValue::from(project.to_owned())]);
    match query.version {
        None => clauses.push("i.valid_to IS NULL", []),
        Some(at) => clauses.push(
            "i.valid_from <= ? AND (i.valid_to IS NULL OR i.valid_to > ?)",
            [SqlValue::from(at), SqlValue::from(at)],
        ),
    }
    clauses.push("i.is_deleted = 0", []);
    if !query.include_archived {
        clauses.push("i.status = 'ACTIVE'", []);
    }
    clauses.eq_opt("i.dataset_id", &query.dataset_id);
    clauses.eq_opt("i.source_trace_id", &query.source_trace_id);
    clauses.eq_opt("i.source_observation_id", &query.source_observation_id);
    clauses.any_of("i.id", &query.ids);
    clauses
}

#[async_trait]
impl DatasetStore for SqliteStore {
    async fn upsert_dataset(
        &self,
        project: &ProjectId,
        upsert: DatasetUpsert,
    ) -> StoreResult<Dataset> {
        let project = project.clone();
        self.writer
            .write(move |connection| upsert_dataset_now(connection, project.as_str(), &upsert))
            .await
    }

    async fn get_dataset(
        &self,
        project: &ProjectId,
        dataset_id: &str,
    ) -> StoreResult<Option<Dataset>> {
        let (project, dataset_id) = (project.clone(), dataset_id.to_owned());
        self.readers
            .read(move |connection| dataset_by_id(connection, project.as_str(), &dataset_id))
            .await
    }

    async fn get_dataset_by_name(
        &self,
        project: &ProjectId,
        name: &str,
    ) -> StoreResult<Option<Dataset>> {
        let (project, name) = (project.clone(), name.to_owned());
        self.readers
            .read(move |connection| {
                dataset_where(connection, project.as_str(), "d.name = ?2", &name)
            })
            .await
    }

    async fn list_datasets(
        &self,
        project: &ProjectId,
        page: PageRequest,
    ) -> StoreResult<Page<Dataset>> {
        let project = project.clone();
        self.readers
            .read(move |connection| {
                let select = PagedSelect {
                    columns: DATASET_COLUMNS,
                    from: "datasets d",
                    count_from: "datasets d",
                    order: "d.created_at DESC, d.id ASC",
                };
                select_page(
                    connection,
                    select,
                    &Where::in_project("d.project_id", project.as_str()),
                    page,
                    dataset_from_row,
                )
            })
            .await
    }

    async fn upsert_dataset_item(
        &self,
        project: &ProjectId,
        dataset_id: &str,
        item_id: &str,
        change: DatasetItemChange,
        now: Micros,
    ) -> StoreResult<DatasetItem> {
        let (project, dataset_id, item_id) =
            (project.clone(), dataset_id.to_owned(), item_id.to_owned());
        self.writer
            .write(move |connection| {
                upsert_item_now(
                    connection,
                    project.as_str(),
                    &dataset_id,
                    &item_id,
                    &change,
                    now,
                )
            })
            .await
    }

    async fn delete_dataset_item(
        &self,
        project: &ProjectId,
        item_id: &str,
        now: Micros,
    ) -> StoreResult<bool> {
        let (project, item_id) = (project.clone(), item_id.to_owned());
        self.writer
            .write(move |connection| delete_item_now(connection, project.as_str(), &item_id, now))
            .await
    }

    async fn get_dataset_item(
        &self,
        project: &ProjectId,
        item_id: &str,
    ) -> StoreResult<Option<DatasetItem>> {
        let (project, item_id) = (project.clone(), item_id.to_owned());
        self.readers
            .read(move |connection| {
                Ok(item_version(connection, project.as_str(), &item_id, None)?
                    .filter(|(_, is_deleted)| !is_deleted)
                    .map(|(item, _)| item))
            })
            .await
    }

    async fn list_dataset_items(
        &self,
        project: &ProjectId,
        query: &DatasetItemQuery,
        page: PageRequest,
    ) -> StoreResult<Page<DatasetItem>> {
        let clauses = item_where(project.as_str(), query);
        self.readers
            .read(move |connection| {
                let select = PagedSelect {
                    columns: ITEM_COLUMNS,
                    from: ITEM_FROM,
                    count_from: "dataset_items i",
                    order: "i.created_at DESC, i.id ASC",
                };
                select_page(connection, select, &clauses, page, item_from_row)
            })
            .await
    }
}
