//! Annotation queues, items (with their soft locks) and assignments. Every change of an
//! item loads it, applies the model's rule and writes it back inside one writer
//! transaction, so concurrent lock requests are serialised.

use async_trait::async_trait;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, Row, params, params_from_iter};

use glassbox_model::annotations::{
    AnnotationObjectType, AnnotationQueue, AnnotationQueueAssignment, AnnotationQueueItem,
    AnnotationQueueStatus, ItemLock,
};
use glassbox_model::{Micros, ProjectId};
use glassbox_store::{
    AnnotationQueueStore, ItemLockOutcome, Page, PageRequest, QueueItemsInserted, StoreError,
    StoreResult,
};

use crate::SqliteStore;
use crate::connection::internal;
use crate::sql::{PagedSelect, Where, execute_changes_any, query_all, query_optional, select_page};

// ---------- rows ----------

const QUEUE_COLUMNS: &str = "id, name, description, score_config_ids, created_at, updated_at";

fn queue_from_row(row: &Row<'_>) -> rusqlite::Result<AnnotationQueue> {
    let config_ids: String = row.get(3)?;
    Ok(AnnotationQueue {
        id: row.get(0)?,
        name: row.get(1)?,
        description: row.get(2)?,
        score_config_ids: serde_json::from_str(&config_ids).unwrap_or_default(),
        created_at: row.get(4)?,
        updated_at: row.get(5)?,
    })
}

const ITEM_COLUMNS: &str = "id, queue_id, object_id, object_type, status, locked_by_user_id, locked_at, \
     lock_expires_at, annotator_user_id, completed_at, created_at, updated_at";

fn bad_text(index: usize, what: &str, text: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        index,
        rusqlite::types::Type::Text,
        format!("unknown {what} `{text}`").into(),
    )
}

fn item_from_row(row: &Row<'_>) -> rusqlite::Result<AnnotationQueueItem> {
    let object_type: String = row.get(3)?;
    let status: String = row.get(4)?;
    let locked_by: Option<String> = row.get(5)?;
    let lock = match (locked_by, row.get(6)?, row.get(7)?) {
        (Some(user_id), Some(locked_at), Some(expires_at)) => Some(ItemLock {
            user_id,
            locked_at,
            expires_at,
        }),
        _ => None,
    };
    Ok(AnnotationQueueItem {
        id: row.get(0)?,
        queue_id: row.get(1)?,
        object_id: row.get(2)?,
        object_type: AnnotationObjectType::parse(&object_type)
            .ok_or_else(|| bad_text(3, "object type", &object_type))?,
        status: AnnotationQueueStatus::parse(&status)
            .ok_or_else(|| bad_text(4, "item status", &status))?,
        lock,
        annotator_user_id: row.get(8)?,
        completed_at: row.get(9)?,
        created_at: row.get(10)?,
        updated_at: row.get(11)?,
    })
}

fn queue_exists(connection: &Connection, project: &ProjectId, queue_id: &str) -> StoreResult<bool> {
    connection
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM annotation_queues WHERE project_id = ?1 AND id = ?2)",
        )
        .and_then(|mut statement| {
            statement.query_row(params![project.as_str(), queue_id], |row| row.get(0))
        })
        .map_err(internal)
}

fn unknown_queue(queue_id: &str) -> StoreError {
    StoreError::NotFound {
        entity: "annotation queue",
        id: queue_id.to_owned(),
    }
}

fn load_item(
    connection: &Connection,
    project: &ProjectId,
    queue_id: &str,
    item_id: &str,
) -> StoreResult<Option<AnnotationQueueItem>> {
    query_optional(
        connection,
        &format!(
            "SELECT {ITEM_COLUMNS} FROM annotation_queue_items \
             WHERE project_id = ?1 AND queue_id = ?2 AND id = ?3"
        ),
        params![project.as_str(), queue_id, item_id],
        item_from_row,
    )
}

/// Inserts or replaces the item row.
fn write_item(
    connection: &Connection,
    project: &ProjectId,
    item: &AnnotationQueueItem,
) -> StoreResult<()> {
    let lock = item.lock.as_ref();
    connection
        .prepare_cached(
            "INSERT OR REPLACE INTO annotation_queue_items (project_id, id, queue_id, object_id, object_type, \
             status, locked_by_user_id, locked_at, lock_expires_at, annotator_user_id, completed_at, created_at, \
             updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        )
        .and_then(|mut statement| {
            statement.execute(params![
                project.as_str(),
                item.id,
                item.queue_id,
                item.object_id,
                item.object_type.as_str(),
                item.status.as_str(),
                lock.map(|lock| lock.user_id.as_str()),
                lock.map(|lock| lock.locked_at),
                lock.map(|lock| lock.expires_at),
                item.annotator_user_id,
                item.completed_at,
                item.created_at,
                item.updated_at
            ])
        })
        .map(drop)
        .map_err(internal)
}

fn object_in_queue(
    connection: &Connection,
    project: &ProjectId,
    item: &AnnotationQueueItem,
) -> StoreResult<bool> {
    connection
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM annotation_queue_items WHERE project_id = ?1 AND queue_id = ?2 \
             AND object_type = ?3 AND object_id = ?4)",
        )
        .and_then(|mut statement| {
            statement.query_row(
                params![
                    project.as_str(),
                    item.queue_id,
                    item.object_type.as_str(),
                    item.object_id
                ],
                |row| row.get(0),
            )
        })
        .map_err(internal)
}

/// Item ids are unique in the project, across queues.
fn item_id_taken(connection: &Connection, project: &ProjectId, item_id: &str) -> StoreResult<bool> {
    connection
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM annotation_queue_items WHERE project_id = ?1 AND id = ?2)",
        )
        .and_then(|mut statement| {
            statement.query_row(params![project.as_str(), item_id], |row| row.get(0))
        })
        .map_err(internal)
}

fn first_item(
    connection: &Connection,
    sql_where: &str,
    params: &[SqlValue],
) -> StoreResult<Option<AnnotationQueueItem>> {
    query_optional(
        connection,
        &format!(
            "SELECT {ITEM_COLUMNS} FROM annotation_queue_items WHERE {sql_where} \
             ORDER BY created_at ASC, id ASC LIMIT 1"
        ),
        params_from_iter(params.iter()),
        item_from_row,
    )
}

fn assignment_from_row(row: &Row<'_>) -> rusqlite::Result<AnnotationQueueAssignment> {
    Ok(AnnotationQueueAssignment {
        queue_id: row.get(0)?,
        user_id: row.get(1)?,
        created_at: row.get(2)?,
    })
}

/// The outcome of changing one item's lock with `change`.
fn change_lock(
    connection: &Connection,
    project: &ProjectId,
    queue_id: &str,
    item_id: &str,
    change: impl FnOnce(&mut AnnotationQueueItem) -> Result<(), glassbox_model::annotations::LockHeld>,
) -> StoreResult<ItemLockOutcome> {
    let Some(mut item) = load_item(connection, project, queue_id, item_id)? else {
        return Ok(ItemLockOutcome::NotFound);
    };
    match change(&mut item) {
        Ok(()) => {
            write_item(connection, project, &item)?;
            Ok(ItemLockOutcome::Done(item))
        }
        Err(held) => Ok(ItemLockOutcome::Held(held)),
    }
}

#[async_trait]
impl AnnotationQueueStore for SqliteStore {
    async fn insert_annotation_queue(
        &self,
        project: &ProjectId,
        queue: AnnotationQueue,
    ) -> StoreResult<()> {
        let project = project.clone();
        self.writer
            .write(move |connection| {
                let taken: bool = connection
                    .query_row(
                        "SELECT EXISTS (SELECT 1 FROM annotation_queues WHERE project_id = ?1 AND (name = ?2 OR id = ?3))",
                        params![project.as_str(), queue.name, queue.id],
                        |row| row.get(0),
                    )
                    .map_err(internal)?;
                if taken {
                    return Err(StoreError::Conflict(
                        "A queue with this name already exists.".into(),
                    ));
                }
                let config_ids = serde_json::Value::from(queue.score_config_ids.clone()).to_string();
                connection
                    .execute(
                        "INSERT INTO annotation_queues (project_id, id, name, description, score_config_ids, \
                         created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                        params![
                            project.as_str(),
                            queue.id,
                            queue.name,
                            queue.description,
                            config_ids,
                            queue.created_at,
                            queue.updated_at
                        ],
                    )
                    .map(drop)
                    .map_err(internal)
            })
            .await
    }

    async fn get_annotation_queue(
        &self,
        project: &ProjectId,
        queue_id: &str,
    ) -> StoreResult<Option<AnnotationQueue>> {
        let (project, id) = (project.clone(), queue_id.to_owned());
        self.readers
            .read(move |connection| {
                query_optional(
                    connection,
                    &format!(
                        "SELECT {QUEUE_COLUMNS} FROM annotation_queues WHERE project_id = ?1 AND id = ?2"
                    ),
                    params![project.as_str(), id],
                    queue_from_row,
                )
            })
            .await
    }

    async fn list_annotation_queues(
        &self,
        project: &ProjectId,
        page: PageRequest,
    ) -> StoreResult<Page<AnnotationQueue>> {
        let project = project.clone();
        self.readers
            .read(move |connection| {
                let select = PagedSelect {
                    columns: QUEUE_COLUMNS,
                    from: "annotation_queues",
                    count_from: "annotation_queues",
                    order: "created_at DESC, id DESC",
                };
                let clauses = Where::in_project("project_id", project.as_str());
                select_page(connection, select, &clauses, page, queue_from_row)
            })
            .await
    }

    async fn insert_queue_items(
        &self,
        project: &ProjectId,
        queue_id: &str,
        items: Vec<AnnotationQueueItem>,
        skip_existing: bool,
    ) -> StoreResult<QueueItemsInserted> {
        let (project, queue_id) = (project.clone(), queue_id.to_owned());
        self.writer
            .write(move |connection| {
                if !queue_exists(connection, &project, &queue_id)? {
                    return Err(unknown_queue(&queue_id));
                }
                let mut outcome = QueueItemsInserted {
                    inserted: 0,
                    skipped: 0,
                };
                for mut item in items {
                    item.queue_id = queue_id.clone();
                    if skip_existing && object_in_queue(connection, &project, &item)? {
                        outcome.skipped += 1;
                        continue;
                    }
                    if item_id_taken(connection, &project, &item.id)? {
                        return Err(StoreError::Conflict(format!(
                            "annotation queue item `{}` already exists",
                            item.id
                        )));
                    }
                    write_item(connection, &project, &item)?;
                    outcome.inserted += 1;
                }
                Ok(outcome)
            })
            .await
    }

    async fn get_queue_item(
        &self,
        project: &ProjectId,
        queue_id: &str,
        item_id: &str,
    ) -> StoreResult<Option<AnnotationQueueItem>> {
        let (project, queue_id, item_id) =
            (project.clone(), queue_id.to_owned(), item_id.to_owned());
        self.readers
            .read(move |connection| load_item(connection, &project, &queue_id, &item_id))
            .await
    }

    async fn list_queue_items(
        &self,
        project: &ProjectId,
        queue_id: &str,
        status: Option<AnnotationQueueStatus>,
        page: PageRequest,
    ) -> StoreResult<Page<AnnotationQueueItem>> {
        let mut clauses = Where::in_project("project_id", project.as_str());
        clauses.push("queue_id = ?", [SqlValue::from(queue_id.to_owned())]);
        if let Some(status) = status {
            clauses.push("status = ?", [SqlValue::from(status.as_str().to_owned())]);
        }
        self.readers
            .read(move |connection| {
                let select = PagedSelect {
                    columns: ITEM_COLUMNS,
                    from: "annotation_queue_items",
                    count_from: "annotation_queue_items",
                    order: "created_at DESC, id DESC",
                };
                select_page(connection, select, &clauses, page, item_from_row)
            })
            .await
    }

    async fn set_queue_item_status(
        &self,
        project: &ProjectId,
        queue_id: &str,
        item_id: &str,
        status: AnnotationQueueStatus,
        now: Micros,
    ) -> StoreResult<Option<AnnotationQueueItem>> {
        let (project, queue_id, item_id) =
            (project.clone(), queue_id.to_owned(), item_id.to_owned());
        self.writer
            .write(move |connection| {
                let Some(mut item) = load_item(connection, &project, &queue_id, &item_id)? else {
                    return Ok(None);
                };
                item.set_status(status, now);
                write_item(connection, &project, &item)?;
                Ok(Some(item))
            })
            .await
    }

    async fn delete_queue_item(
        &self,
        project: &ProjectId,
        queue_id: &str,
        item_id: &str,
    ) -> StoreResult<bool> {
        let (project, queue_id, item_id) =
            (project.clone(), queue_id.to_owned(), item_id.to_owned());
        self.writer
            .write(move |connection| {
                execute_changes_any(connection, "DELETE FROM annotation_queue_items WHERE project_id = ?1 AND queue_id = ?2 AND id = ?3",
                        params![project.as_str(), queue_id, item_id])
            })
            .await
    }

    async fn lock_queue_item(
        &self,
        project: &ProjectId,
        queue_id: &str,
        item_id: &str,
        user_id: &str,
        now: Micros,
        seconds: i64,
    ) -> StoreResult<ItemLockOutcome> {
        let (project, queue_id, item_id, user_id) = (
            project.clone(),
            queue_id.to_owned(),
            item_id.to_owned(),
            user_id.to_owned(),
        );
        self.writer
            .write(move |connection| {
                change_lock(connection, &project, &queue_id, &item_id, |item| {
                    item.acquire_lock(&user_id, now, seconds)
                })
            })
            .await
    }

    async fn unlock_queue_item(
        &self,
        project: &ProjectId,
        queue_id: &str,
        item_id: &str,
        user_id: &str,
        now: Micros,
    ) -> StoreResult<ItemLockOutcome> {
        let (project, queue_id, item_id, user_id) = (
            project.clone(),
            queue_id.to_owned(),
            item_id.to_owned(),
            user_id.to_owned(),
        );
        self.writer
            .write(move |connection| {
                change_lock(connection, &project, &queue_id, &item_id, |item| {
                    item.release_lock(&user_id, now).map(drop)
                })
            })
            .await
    }

    async fn lock_next_queue_item(
        &self,
        project: &ProjectId,
        queue_id: &str,
        user_id: &str,
        now: Micros,
        seconds: i64,
    ) -> StoreResult<Option<AnnotationQueueItem>> {
        let (project, queue_id, user_id) =
            (project.clone(), queue_id.to_owned(), user_id.to_owned());
        self.writer
            .write(move |connection| {
                let base = [
                    SqlValue::from(project.as_str().to_owned()),
                    SqlValue::from(queue_id.clone()),
                    SqlValue::from(user_id.clone()),
                    SqlValue::from(now),
                ];
                // An item this user already has open comes first; then the oldest free one.
                let mine = first_item(
                    connection,
                    "project_id = ?1 AND queue_id = ?2 AND status = 'PENDING' \
                     AND locked_by_user_id = ?3 AND lock_expires_at > ?4",
                    &base,
                )?;
                let candidate = match mine {
                    Some(item) => Some(item),
                    None => first_item(
                        connection,
                        "project_id = ?1 AND queue_id = ?2 AND status = 'PENDING' \
                         AND (lock_expires_at IS NULL OR lock_expires_at <= ?4 OR locked_by_user_id = ?3)",
                        &base,
                    )?,
                };
                let Some(mut item) = candidate else {
                    return Ok(None);
                };
                item.acquire_lock(&user_id, now, seconds).map_err(|held| {
                    StoreError::Internal(format!(
                        "picked an item locked by `{}` as free",
                        held.user_id
                    ))
                })?;
                write_item(connection, &project, &item)?;
                Ok(Some(item))
            })
            .await
    }

    async fn upsert_queue_assignment(
        &self,
        project: &ProjectId,
        assignment: AnnotationQueueAssignment,
    ) -> StoreResult<AnnotationQueueAssignment> {
        let project = project.clone();
        self.writer
            .write(move |connection| {
                if !queue_exists(connection, &project, &assignment.queue_id)? {
                    return Err(unknown_queue(&assignment.queue_id));
                }
                connection
                    .execute(
                        "INSERT INTO annotation_queue_assignments (project_id, queue_id, user_id, created_at) \
                         VALUES (?1, ?2, ?3, ?4) ON CONFLICT (project_id, queue_id, user_id) DO NOTHING",
                        params![
                            project.as_str(),
                            assignment.queue_id,
                            assignment.user_id,
                            assignment.created_at
                        ],
                    )
                    .map_err(internal)?;
                connection
                    .query_row(
                        "SELECT queue_id, user_id, created_at FROM annotation_queue_assignments \
                         WHERE project_id = ?1 AND queue_id = ?2 AND user_id = ?3",
                        params![project.as_str(), assignment.queue_id, assignment.user_id],
                        assignment_from_row,
                    )
                    .map_err(internal)
            })
            .await
    }

    async fn delete_queue_assignment(
        &self,
        project: &ProjectId,
        queue_id: &str,
        user_id: &str,
    ) -> StoreResult<bool> {
        let (project, queue_id, user_id) =
            (project.clone(), queue_id.to_owned(), user_id.to_owned());
        self.writer
            .write(move |connection| {
                execute_changes_any(connection, "DELETE FROM annotation_queue_assignments WHERE project_id = ?1 AND queue_id = ?2 AND user_id = ?3",
                        params![project.as_str(), queue_id, user_id])
            })
            .await
    }

    async fn list_queue_assignments(
        &self,
        project: &ProjectId,
        queue_id: &str,
    ) -> StoreResult<Vec<AnnotationQueueAssignment>> {
        let (project, queue_id) = (project.clone(), queue_id.to_owned());
        self.readers
            .read(move |connection| {
                query_all(connection, "SELECT queue_id, user_id, created_at FROM annotation_queue_assignments \
                         WHERE project_id = ?1 AND queue_id = ?2 ORDER BY created_at ASC, user_id ASC", params![project.as_str(), queue_id], assignment_from_row)
            })
            .await
    }
}
