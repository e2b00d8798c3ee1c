//! Datasets (`datasets`) and versioned dataset items (`dataset_items`, one row per
//! version: `valid_from` ≤ t < `valid_to`, tombstones flagged `is_deleted`).
//!
//! Writes of one item are serialised across processes by a transaction-scoped advisory
//! lock on (project, item id) ([`lock_item`]); a partial unique index keeps at most one
//! current version per item.

use async_trait::async_trait;
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use glassbox_model::datasets::{
    Dataset, DatasetItem, DatasetItemChange, DatasetItemStatus, next_item_version,
    next_version_time,
};
use glassbox_model::{Micros, ProjectId};
use glassbox_store::{
    DatasetItemQuery, DatasetStore, DatasetUpsert, Page, PageRequest, StoreError, StoreResult,
};

use crate::sql::{Arg, PagedSelect, Sql, Where, select_page};
use crate::{PgStore, internal};

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

/// A unique violation is the client's conflict; anything else is internal.
pub(crate) fn conflict_or_internal(
    error: sqlx::Error,
    message: impl FnOnce() -> String,
) -> StoreError {
    match &error {
        sqlx::Error::Database(database) if database.is_unique_violation() => {
            StoreError::Conflict(message())
        }
        _ => internal(error),
    }
}

/// Takes the transaction-scoped lock of one dataset item (exclusive for writers of its
/// versions, shared for run items that read it), so concurrent writes of an item, in any
/// process, build their versions one after the other.
pub(crate) async fn lock_item(
    connection: &mut PgConnection,
    project: &str,
    item_id: &str,
    exclusive: bool,
) -> StoreResult<()> {
    let sql = if exclusive {
        "SELECT pg_advisory_xact_lock(hashtextextended('glassbox.dataset_item/' || $1 || '/' || $2, 0))"
    } else {
        "SELECT pg_advisory_xact_lock_shared(hashtextextended('glassbox.dataset_item/' || $1 || '/' || $2, 0))"
    };
    sqlx::query(sql)
        .bind(project)
        .bind(item_id)
        .execute(connection)
        .await
        .map(drop)
        .map_err(internal)
}

const DATASET_COLUMNS: &str = "d.id, d.name, d.description, d.metadata, d.input_schema, \
    d.expected_output_schema, d.created_at, d.updated_at";

fn dataset_from_row(row: &PgRow) -> Result<Dataset, sqlx::Error> {
    Ok(Dataset {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        description: row.try_get(2)?,
        metadata: parse_json_or_null(row.try_get(3)?),
        input_schema: parse_json_or_null(row.try_get(4)?),
        expected_output_schema: parse_json_or_null(row.try_get(5)?),
        created_at: row.try_get(6)?,
        updated_at: row.try_get(7)?,
    })
}

/// The project's dataset whose `column` (`d.id` or `d.name`) is `value`.
async fn dataset_where(
    connection: &mut PgConnection,
    project: &str,
    column: &str,
    value: &str,
) -> StoreResult<Option<Dataset>> {
    let mut clauses = Where::in_project("d.project_id", project);
    clauses.push(format!("{column} = ?"), [Arg::from(value)]);
    let mut select = Sql::new(format!("SELECT {DATASET_COLUMNS} FROM datasets d"));
    select.push_where(&clauses);
    select.fetch_optional(connection, dataset_from_row).await
}

pub(crate) const ITEM_COLUMNS: &str = "i.id, i.dataset_id, d.name, i.status, i.input, i.expected_output, \
    i.metadata, i.source_trace_id, i.source_observation_id, i.created_at, i.valid_from, i.is_deleted";
pub(crate) const ITEM_FROM: &str =
    "dataset_items i JOIN datasets d ON d.project_id = i.project_id AND d.id = i.dataset_id";

/// An item version of [`ITEM_COLUMNS`] and whether it is a tombstone.
pub(crate) fn item_from_row(row: &PgRow) -> Result<(DatasetItem, bool), sqlx::Error> {
    let status: String = row.try_get(3)?;
    let item = DatasetItem {
        id: row.try_get(0)?,
        dataset_id: row.try_get(1)?,
        dataset_name: row.try_get(2)?,
        status: DatasetItemStatus::parse(&status).unwrap_or_default(),
        input: parse_json_or_null(row.try_get(4)?),
        expected_output: parse_json_or_null(row.try_get(5)?),
        metadata: parse_json_or_null(row.try_get(6)?),
        source_trace_id: row.try_get(7)?,
        source_observation_id: row.try_get(8)?,
        created_at: row.try_get(9)?,
        valid_from: row.try_get(10)?,
    };
    Ok((item, row.try_get::<i64, _>(11)? != 0))
}

/// The version of an item valid at `at` (current when `None`), tombstones included:
/// `(item, is_deleted)`.
pub(crate) async fn item_version(
    connection: &mut PgConnection,
    project: &str,
    item_id: &str,
    at: Option<Micros>,
) -> StoreResult<Option<(DatasetItem, bool)>> {
    let mut clauses = Where::in_project("i.project_id", project);
    clauses.push("i.id = ?", [Arg::from(item_id)]);
    push_valid_at(&mut clauses, at);
    let mut select = Sql::new(format!("SELECT {ITEM_COLUMNS} FROM {ITEM_FROM}"));
    select.push_where(&clauses);
    select.fetch_optional(connection, item_from_row).await
}

/// Restricts `dataset_items i` to the versions valid at `at` (current when `None`).
fn push_valid_at(clauses: &mut Where, at: Option<Micros>) {
    match at {
        None => clauses.push("i.valid_to IS NULL", []),
        Some(at) => clauses.push(
            "i.valid_from <= ? AND (i.valid_to IS NULL OR i.valid_to > ?)",
            [Arg::from(at), Arg::from(at)],
        ),
    }
}

async fn insert_version(
    connection: &mut PgConnection,
    project: &str,
    item: &DatasetItem,
    is_deleted: bool,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO dataset_items (project_id, id, valid_from, valid_to, dataset_id, is_deleted, status, \
         input, expected_output, metadata, source_trace_id, source_observation_id, created_at) \
         VALUES ($1, $2, $3, NULL, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(project)
    .bind(&item.id)
    .bind(item.valid_from)
    .bind(&item.dataset_id)
    .bind(i64::from(is_deleted))
    .bind(item.status.as_str())
    .bind(json_or_null(&item.input))
    .bind(json_or_null(&item.expected_output))
    .bind(json_or_null(&item.metadata))
    .bind(&item.source_trace_id)
    .bind(&item.source_observation_id)
    .bind(item.created_at)
    .execute(connection)
    .await
    .map(drop)
    .map_err(internal)
}

async fn close_current(
    connection: &mut PgConnection,
    project: &str,
    item_id: &str,
    valid_to: Micros,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE dataset_items SET valid_to = $3 WHERE project_id = $1 AND id = $2 AND valid_to IS NULL",
    )
    .bind(project)
    .bind(item_id)
    .bind(valid_to)
    .execute(connection)
    .await
    .map(drop)
    .map_err(internal)
}

/// Runs under the item's exclusive lock.
async fn upsert_item_locked(
    connection: &mut PgConnection,
    project: &str,
    dataset_id: &str,
    item_id: &str,
    change: &DatasetItemChange,
    now: Micros,
) -> StoreResult<DatasetItem> {
    let dataset = dataset_where(connection, project, "d.id", dataset_id)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            entity: "dataset",
            id: dataset_id.to_owned(),
        })?;
    let current = item_version(connection, project, item_id, None).await?;
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
    close_current(connection, project, item_id, next.valid_from).await?;
    insert_version(connection, project, &next, false).await?;
    Ok(next)
}

/// Runs under the item's exclusive lock.
async fn delete_item_locked(
    connection: &mut PgConnection,
    project: &str,
    item_id: &str,
    now: Micros,
) -> StoreResult<bool> {
    let Some((current, false)) = item_version(connection, project, item_id, None).await? else {
        return Ok(false);
    };
    let mut tombstone = current.clone();
    tombstone.valid_from = next_version_time(now, Some(current.valid_from));
    tombstone.input = None;
    tombstone.expected_output = None;
    tombstone.metadata = None;
    close_current(connection, project, item_id, tombstone.valid_from).await?;
    insert_version(connection, project, &tombstone, true).await?;
    sqlx::query("DELETE FROM dataset_run_items WHERE project_id = $1 AND dataset_item_id = $2")
        .bind(project)
        .bind(item_id)
        .execute(connection)
        .await
        .map_err(internal)?;
    Ok(true)
}

/// WHERE clauses over `dataset_items i` for a listing.
fn item_where(project: &str, query: &DatasetItemQuery) -> Where {
    let mut clauses = Where::in_project("i.project_id", project);
    push_valid_at(&mut clauses, query.version);
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
impl DatasetStore for PgStore {
    async fn upsert_dataset(
        &self,
        project: &ProjectId,
        upsert: DatasetUpsert,
    ) -> StoreResult<Dataset> {
        // One statement: concurrent upserts of a name meet in the unique (project, name).
        let row = sqlx::query(
            "INSERT INTO datasets AS d (project_id, id, name, description, metadata, input_schema, \
             expected_output_schema, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) \
             ON CONFLICT (project_id, name) DO UPDATE SET \
             description = COALESCE(EXCLUDED.description, d.description), \
             metadata = COALESCE(EXCLUDED.metadata, d.metadata), \
             input_schema = COALESCE(EXCLUDED.input_schema, d.input_schema), \
             expected_output_schema = COALESCE(EXCLUDED.expected_output_schema, d.expected_output_schema), \
             updated_at = GREATEST(EXCLUDED.updated_at, d.updated_at) \
             RETURNING d.id, d.name, d.description, d.metadata, d.input_schema, \
             d.expected_output_schema, d.created_at, d.updated_at",
        )
        .bind(project.as_str())
        .bind(&upsert.id)
        .bind(&upsert.name)
        .bind(&upsert.description)
        .bind(json_or_null(&upsert.metadata))
        .bind(json_or_null(&upsert.input_schema))
        .bind(json_or_null(&upsert.expected_output_schema))
        .bind(upsert.now)
        .fetch_one(&self.pool)
        .await
        .map_err(|error| {
            conflict_or_internal(error, || format!("a dataset with id {} exists", upsert.id))
        })?;
        dataset_from_row(&row).map_err(internal)
    }

    async fn get_dataset(
        &self,
        project: &ProjectId,
        dataset_id: &str,
    ) -> StoreResult<Option<Dataset>> {
        let mut connection = self.pool.acquire().await.map_err(internal)?;
        dataset_where(&mut connection, project.as_str(), "d.id", dataset_id).await
    }

    async fn get_dataset_by_name(
        &self,
        project: &ProjectId,
        name: &str,
    ) -> StoreResult<Option<Dataset>> {
        let mut connection = self.pool.acquire().await.map_err(internal)?;
        dataset_where(&mut connection, project.as_str(), "d.name", name).await
    }

    async fn list_datasets(
        &self,
        project: &ProjectId,
        page: PageRequest,
    ) -> StoreResult<Page<Dataset>> {
        let select = PagedSelect {
            columns: DATASET_COLUMNS,
            from: "datasets d",
            count_from: "datasets d",
            order: "d.created_at DESC, d.id COLLATE \"C\" ASC",
        };
        let clauses = Where::in_project("d.project_id", project.as_str());
        select_page(&self.pool, select, &clauses, page, dataset_from_row).await
    }

    async fn upsert_dataset_item(
        &self,
        project: &ProjectId,
        dataset_id: &str,
        item_id: &str,
        change: DatasetItemChange,
        now: Micros,
    ) -> StoreResult<DatasetItem> {
        let mut transaction = self.pool.begin().await.map_err(internal)?;
        lock_item(&mut transaction, project.as_str(), item_id, true).await?;
        let item = upsert_item_locked(
            &mut transaction,
            project.as_str(),
            dataset_id,
            item_id,
            &change,
            now,
        )
        .await?;
        transaction.commit().await.map_err(internal)?;
        Ok(item)
    }

    async fn delete_dataset_item(
        &self,
        project: &ProjectId,
        item_id: &str,
        now: Micros,
    ) -> StoreResult<bool> {
        let mut transaction = self.pool.begin().await.map_err(internal)?;
        lock_item(&mut transaction, project.as_str(), item_id, true).await?;
        let deleted = delete_item_locked(&mut transaction, project.as_str(), item_id, now).await?;
        transaction.commit().await.map_err(internal)?;
        Ok(deleted)
    }

    async fn get_dataset_item(
        &self,
        project: &ProjectId,
        item_id: &str,
    ) -> StoreResult<Option<DatasetItem>> {
        let mut connection = self.pool.acquire().await.map_err(internal)?;
        Ok(
            item_version(&mut connection, project.as_str(), item_id, None)
                .await?
                .filter(|(_, is_deleted)| !is_deleted)
                .map(|(item, _)| item),
        )
    }

    async fn list_dataset_items(
        &self,
        project: &ProjectId,
        query: &DatasetItemQuery,
        page: PageRequest,
    ) -> StoreResult<Page<DatasetItem>> {
        let select = PagedSelect {
            columns: ITEM_COLUMNS,
            from: ITEM_FROM,
            count_from: "dataset_items i",
            order: "i.created_at DESC, i.id COLLATE \"C\" ASC",
        };
        let clauses = item_where(project.as_str(), query);
        let page = select_page(&self.pool, select, &clauses, page, item_from_row).await?;
        Ok(Page {
            items: page.items.into_iter().map(|(item, _)| item).collect(),
            total_items: page.total_items,
        })
    }
}
