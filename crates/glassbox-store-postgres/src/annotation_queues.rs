//! Annotation queues, their items (with the soft locks annotators take) and the
//! assignments of users to queues (0004_annotations.sql).
//!
//! Every change of one item runs in a transaction that first takes the item's row lock
//! (`SELECT ... FOR UPDATE`), applies the model's rule and writes the row back, so
//! concurrent requests from any number of processes are serialised per item. "Lock the
//! next item" claims its candidate with `FOR UPDATE SKIP LOCKED`, so two annotators
//! asking at once are handed different items. Bulk inserts into one queue with
//! deduplication hold a transaction-scoped advisory lock of the queue, so two concurrent
//! batches cannot both add the same object.

use std::collections::HashSet;

use async_trait::async_trait;
use sqlx::postgres::{PgRow, Postgres};
use sqlx::{QueryBuilder, Row, Transaction};

use glassbox_model::annotations::{
    AnnotationObjectType, AnnotationQueue, AnnotationQueueAssignment, AnnotationQueueItem,
    AnnotationQueueStatus, ItemLock, LockHeld,
};
use glassbox_model::{Micros, ProjectId};
use glassbox_store::{
    AnnotationQueueStore, ItemLockOutcome, Page, PageRequest, QueueItemsInserted, StoreError,
    StoreResult,
};

use crate::{PgStore, internal};

// ---------- rows ----------

/// The columns [`queue_from_row`] reads, as a literal for `concat!`.
macro_rules! queue_columns {
    () => {
        "id, name, description, score_config_ids, created_at, updated_at"
    };
}

/// The columns [`item_from_row`] reads, as a literal for `concat!`.
macro_rules! item_columns {
    () => {
        "id, queue_id, object_id, object_type, status, locked_by_user_id, locked_at, \
         lock_expires_at, annotator_user_id, completed_at, created_at, updated_at"
    };
}

fn queue_from_row(row: &PgRow) -> StoreResult<AnnotationQueue> {
    let config_ids: String = row.try_get("score_config_ids").map_err(internal)?;
    Ok(AnnotationQueue {
        id: row.try_get("id").map_err(internal)?,
        name: row.try_get("name").map_err(internal)?,
        description: row.try_get("description").map_err(internal)?,
        score_config_ids: serde_json::from_str(&config_ids).map_err(|error| {
            StoreError::Internal(format!("stored score config ids are not a list: {error}"))
        })?,
        created_at: row.try_get("created_at").map_err(internal)?,
        updated_at: row.try_get("updated_at").map_err(internal)?,
    })
}

fn item_from_row(row: &PgRow) -> StoreResult<AnnotationQueueItem> {
    let object_type: String = row.try_get("object_type").map_err(internal)?;
    let status: String = row.try_get("status").map_err(internal)?;
    let locked_by: Option<String> = row.try_get("locked_by_user_id").map_err(internal)?;
    let locked_at: Option<i64> = row.try_get("locked_at").map_err(internal)?;
    let expires_at: Option<i64> = row.try_get("lock_expires_at").map_err(internal)?;
    let lock = match (locked_by, locked_at, expires_at) {
        (Some(user_id), Some(locked_at), Some(expires_at)) => Some(ItemLock {
            user_id,
            locked_at,
            expires_at,
        }),
        _ => None,
    };
    Ok(AnnotationQueueItem {
        id: row.try_get("id").map_err(internal)?,
        queue_id: row.try_get("queue_id").map_err(internal)?,
        object_id: row.try_get("object_id").map_err(internal)?,
        object_type: AnnotationObjectType::parse(&object_type).ok_or_else(|| {
            StoreError::Internal(format!("unknown annotation object type `{object_type}`"))
        })?,
        status: AnnotationQueueStatus::parse(&status)
            .ok_or_else(|| StoreError::Internal(format!("unknown item status `{status}`")))?,
        lock,
        annotator_user_id: row.try_get("annotator_user_id").map_err(internal)?,
        completed_at: row.try_get("completed_at").map_err(internal)?,
        created_at: row.try_get("created_at").map_err(internal)?,
        updated_at: row.try_get("updated_at").map_err(internal)?,
    })
}

fn assignment_from_row(row: &PgRow) -> StoreResult<AnnotationQueueAssignment> {
    Ok(AnnotationQueueAssignment {
        queue_id: row.try_get("queue_id").map_err(internal)?,
        user_id: row.try_get("user_id").map_err(internal)?,
        created_at: row.try_get("created_at").map_err(internal)?,
    })
}

fn total(count: i64) -> u64 {
    u64::try_from(count).unwrap_or(0)
}

fn offset(page: PageRequest) -> i64 {
    i64::try_from(page.offset()).unwrap_or(i64::MAX)
}

// ---------- shared steps ----------

fn unknown_queue(queue_id: &str) -> StoreError {
    StoreError::NotFound {
        entity: "annotation queue",
        id: queue_id.to_owned(),
    }
}

async fn queue_exists<'e, E>(executor: E, project: &ProjectId, queue_id: &str) -> StoreResult<bool>
where
    E: sqlx::PgExecutor<'e>,
{
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM annotation_queues WHERE project_id = $1 AND id = $2)",
    )
    .bind(project.as_str())
    .bind(queue_id)
    .fetch_one(executor)
    .await
    .map_err(internal)
}

/// The item, row-locked until the transaction ends.
async fn lock_item_row(
    tx: &mut Transaction<'_, Postgres>,
    project: &ProjectId,
    queue_id: &str,
    item_id: &str,
) -> StoreResult<Option<AnnotationQueueItem>> {
    let row = sqlx::query(concat!(
        "SELECT ",
        item_columns!(),
        " FROM annotation_queue_items WHERE project_id = $1 AND queue_id = $2 AND id = $3 \
         FOR UPDATE"
    ))
    .bind(project.as_str())
    .bind(queue_id)
    .bind(item_id)
    .fetch_optional(&mut **tx)
    .await
    .map_err(internal)?;
    row.as_ref().map(item_from_row).transpose()
}

/// Writes the mutable fields of an item back to its row.
async fn update_item(
    tx: &mut Transaction<'_, Postgres>,
    project: &ProjectId,
    item: &AnnotationQueueItem,
) -> StoreResult<()> {
    let lock = item.lock.as_ref();
    sqlx::query(
        "UPDATE annotation_queue_items SET status = $3, locked_by_user_id = $4, locked_at = $5, \
         lock_expires_at = $6, annotator_user_id = $7, completed_at = $8, updated_at = $9 \
         WHERE project_id = $1 AND id = $2",
    )
    .bind(project.as_str())
    .bind(&item.id)
    .bind(item.status.as_str())
    .bind(lock.map(|lock| lock.user_id.as_str()))
    .bind(lock.map(|lock| lock.locked_at))
    .bind(lock.map(|lock| lock.expires_at))
    .bind(&item.annotator_user_id)
    .bind(item.completed_at)
    .bind(item.updated_at)
    .execute(&mut **tx)
    .await
    .map_err(internal)?;
    Ok(())
}

/// Changes one item's lock with `change` under its row lock.
async fn change_lock(
    store: &PgStore,
    project: &ProjectId,
    queue_id: &str,
    item_id: &str,
    change: impl FnOnce(&mut AnnotationQueueItem) -> Result<(), LockHeld>,
) -> StoreResult<ItemLockOutcome> {
    let mut tx = store.pool.begin().await.map_err(internal)?;
    let Some(mut item) = lock_item_row(&mut tx, project, queue_id, item_id).await? else {
        return Ok(ItemLockOutcome::NotFound);
    };
    match change(&mut item) {
        Ok(()) => {
            update_item(&mut tx, project, &item).await?;
            tx.commit().await.map_err(internal)?;
            Ok(ItemLockOutcome::Done(item))
        }
        Err(held) => Ok(ItemLockOutcome::Held(held)),
    }
}

/// The (object type, object id) pairs among `items` already queued in `queue_id`.
async fn queued_objects(
    tx: &mut Transaction<'_, Postgres>,
    project: &ProjectId,
    queue_id: &str,
    items: &[AnnotationQueueItem],
) -> StoreResult<HashSet<(String, String)>> {
    let types: Vec<&str> = items.iter().map(|item| item.object_type.as_str()).collect();
    let ids: Vec<&str> = items.iter().map(|item| item.object_id.as_str()).collect();
    let rows = sqlx::query(
        "SELECT object_type, object_id FROM annotation_queue_items \
         WHERE project_id = $1 AND queue_id = $2 \
         AND (object_type, object_id) IN (SELECT * FROM UNNEST($3::text[], $4::text[]))",
    )
    .bind(project.as_str())
    .bind(queue_id)
    .bind(types)
    .bind(ids)
    .fetch_all(&mut **tx)
    .await
    .map_err(internal)?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get("object_type").map_err(internal)?,
                row.try_get("object_id").map_err(internal)?,
            ))
        })
        .collect()
}

/// Inserts `items` (all of `queue_id`) in one statement; returns how many rows were new.
async fn insert_items(
    tx: &mut Transaction<'_, Postgres>,
    project: &ProjectId,
    queue_id: &str,
    items: &[AnnotationQueueItem],
) -> StoreResult<u64> {
    let column = |get: fn(&AnnotationQueueItem) -> Option<String>| -> Vec<Option<String>> {
        items.iter().map(get).collect()
    };
    let micros = |get: fn(&AnnotationQueueItem) -> Option<Micros>| -> Vec<Option<Micros>> {
        items.iter().map(get).collect()
    };
    let inserted = sqlx::query(
        "INSERT INTO annotation_queue_items (project_id, queue_id, id, object_id, object_type, \
         status, locked_by_user_id, locked_at, lock_expires_at, annotator_user_id, completed_at, \
         created_at, updated_at) \
         SELECT $1, $2, * FROM UNNEST($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
         $8::bigint[], $9::bigint[], $10::text[], $11::bigint[], $12::bigint[], $13::bigint[]) \
         ON CONFLICT (project_id, id) DO NOTHING",
    )
    .bind(project.as_str())
    .bind(queue_id)
    .bind(column(|item| Some(item.id.clone())))
    .bind(column(|item| Some(item.object_id.clone())))
    .bind(column(|item| Some(item.object_type.as_str().to_owned())))
    .bind(column(|item| Some(item.status.as_str().to_owned())))
    .bind(column(|item| {
        item.lock.as_ref().map(|lock| lock.user_id.clone())
    }))
    .bind(micros(|item| item.lock.as_ref().map(|lock| lock.locked_at)))
    .bind(micros(|item| {
        item.lock.as_ref().map(|lock| lock.expires_at)
    }))
    .bind(column(|item| item.annotator_user_id.clone()))
    .bind(micros(|item| item.completed_at))
    .bind(micros(|item| Some(item.created_at)))
    .bind(micros(|item| Some(item.updated_at)))
    .execute(&mut **tx)
    .await
    .map_err(internal)?;
    Ok(inserted.rows_affected())
}

#[async_trait]
impl AnnotationQueueStore for PgStore {
    async fn insert_annotation_queue(
        &self,
        project: &ProjectId,
        queue: AnnotationQueue,
    ) -> StoreResult<()> {
        let config_ids = serde_json::Value::from(queue.score_config_ids.clone()).to_string();
        // Both the id and the name are unique in the project: either taken is a conflict.
        let inserted = sqlx::query(
            "INSERT INTO annotation_queues (project_id, id, name, description, score_config_ids, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        )
        .bind(project.as_str())
        .bind(&queue.id)
        .bind(&queue.name)
        .bind(&queue.description)
        .bind(config_ids)
        .bind(queue.created_at)
        .bind(queue.updated_at)
        .execute(&self.pool)
        .await
        .map_err(internal)?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::Conflict(
                "A queue with this name already exists.".into(),
            ));
        }
        Ok(())
    }

    async fn get_annotation_queue(
        &self,
        project: &ProjectId,
        queue_id: &str,
    ) -> StoreResult<Option<AnnotationQueue>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            queue_columns!(),
            " FROM annotation_queues WHERE project_id = $1 AND id = $2"
        ))
        .bind(project.as_str())
        .bind(queue_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(internal)?;
        row.as_ref().map(queue_from_row).transpose()
    }

    async fn list_annotation_queues(
        &self,
        project: &ProjectId,
        page: PageRequest,
    ) -> StoreResult<Page<AnnotationQueue>> {
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM annotation_queues WHERE project_id = $1")
                .bind(project.as_str())
                .fetch_one(&self.pool)
                .await
                .map_err(internal)?;
        let rows = sqlx::query(concat!(
            "SELECT ",
            queue_columns!(),
            " FROM annotation_queues WHERE project_id = $1 \
             ORDER BY created_at DESC, id COLLATE \"C\" DESC LIMIT $2 OFFSET $3"
        ))
        .bind(project.as_str())
        .bind(i64::from(page.limit))
        .bind(offset(page))
        .fetch_all(&self.pool)
        .await
        .map_err(internal)?;
        Ok(Page {
            items: rows
                .iter()
                .map(queue_from_row)
                .collect::<StoreResult<_>>()?,
            total_items: total(count),
        })
    }

    async fn insert_queue_items(
        &self,
        project: &ProjectId,
        queue_id: &str,
        items: Vec<AnnotationQueueItem>,
        skip_existing: bool,
    ) -> StoreResult<QueueItemsInserted> {
        let mut tx = self.pool.begin().await.map_err(internal)?;
        if !queue_exists(&mut *tx, project, queue_id).await? {
            return Err(unknown_queue(queue_id));
        }
        let mut items = items;
        for item in &mut items {
            item.queue_id = queue_id.to_owned();
        }
        let offered = items.len() as u64;
        if skip_existing {
            // Serialises deduplicating inserts into this queue (any process) until commit;
            // a hash collision with another queue only makes them wait for each other.
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2, 4))")
                .bind(project.as_str())
                .bind(queue_id)
                .execute(&mut *tx)
                .await
                .map_err(internal)?;
            let mut seen = queued_objects(&mut tx, project, queue_id, &items).await?;
            items.retain(|item| {
                seen.insert((item.object_type.as_str().to_owned(), item.object_id.clone()))
            });
        }
        let fresh = items.len() as u64;
        if fresh > 0 {
            let inserted = insert_items(&mut tx, project, queue_id, &items).await?;
            if inserted != fresh {
                // Dropping `tx` rolls the whole batch back.
                return Err(StoreError::Conflict(
                    "an annotation queue item with one of these ids already exists".into(),
                ));
            }
        }
        tx.commit().await.map_err(internal)?;
        Ok(QueueItemsInserted {
            inserted: fresh,
            skipped: offered - fresh,
        })
    }

    async fn get_queue_item(
        &self,
        project: &ProjectId,
        queue_id: &str,
        item_id: &str,
    ) -> StoreResult<Option<AnnotationQueueItem>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            item_columns!(),
            " FROM annotation_queue_items WHERE project_id = $1 AND queue_id = $2 AND id = $3"
        ))
        .bind(project.as_str())
        .bind(queue_id)
        .bind(item_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(internal)?;
        row.as_ref().map(item_from_row).transpose()
    }

    async fn list_queue_items(
        &self,
        project: &ProjectId,
        queue_id: &str,
        status: Option<AnnotationQueueStatus>,
        page: PageRequest,
    ) -> StoreResult<Page<AnnotationQueueItem>> {
        let push_where = |builder: &mut QueryBuilder<Postgres>| {
            builder.push(" WHERE project_id = ");
            builder.push_bind(project.as_str().to_owned());
            builder.push(" AND queue_id = ");
            builder.push_bind(queue_id.to_owned());
            if let Some(status) = status {
                builder.push(" AND status = ");
                builder.push_bind(status.as_str());
            }
        };
        let mut count =
            QueryBuilder::<Postgres>::new("SELECT COUNT(*) FROM annotation_queue_items");
        push_where(&mut count);
        let count: i64 = count
            .build_query_scalar()
            .fetch_one(&self.pool)
            .await
            .map_err(internal)?;
        let mut select = QueryBuilder::<Postgres>::new(concat!(
            "SELECT ",
            item_columns!(),
            " FROM annotation_queue_items"
        ));
        push_where(&mut select);
        select.push(" ORDER BY created_at DESC, id COLLATE \"C\" DESC LIMIT ");
        select.push_bind(i64::from(page.limit));
        select.push(" OFFSET ");
        select.push_bind(offset(page));
        let rows = select
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(internal)?;
        Ok(Page {
            items: rows.iter().map(item_from_row).collect::<StoreResult<_>>()?,
            total_items: total(count),
        })
    }

    async fn set_queue_item_status(
        &self,
        project: &ProjectId,
        queue_id: &str,
        item_id: &str,
        status: AnnotationQueueStatus,
        now: Micros,
    ) -> StoreResult<Option<AnnotationQueueItem>> {
        let mut tx = self.pool.begin().await.map_err(internal)?;
        let Some(mut item) = lock_item_row(&mut tx, project, queue_id, item_id).await? else {
            return Ok(None);
        };
        item.set_status(status, now);
        update_item(&mut tx, project, &item).await?;
        tx.commit().await.map_err(internal)?;
        Ok(Some(item))
    }

    async fn delete_queue_item(
        &self,
        project: &ProjectId,
        queue_id: &str,
        item_id: &str,
    ) -> StoreResult<bool> {
        let deleted = sqlx::query(
            "DELETE FROM annotation_queue_items WHERE project_id = $1 AND queue_id = $2 AND id = $3",
        )
        .bind(project.as_str())
        .bind(queue_id)
        .bind(item_id)
        .execute(&self.pool)
        .await
        .map_err(internal)?;
        Ok(deleted.rows_affected() > 0)
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
        change_lock(self, project, queue_id, item_id, |item| {
            item.acquire_lock(user_id, now, seconds)
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
        change_lock(self, project, queue_id, item_id, |item| {
            item.release_lock(user_id, now).map(drop)
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
        let mut tx = self.pool.begin().await.map_err(internal)?;
        // An item this user already has open comes first.
        let mine = sqlx::query(concat!(
            "SELECT ",
            item_columns!(),
            " FROM annotation_queue_items WHERE project_id = $1 AND queue_id = $2 \
             AND status = 'PENDING' AND locked_by_user_id = $3 AND lock_expires_at > $4 \
             ORDER BY created_at ASC, id COLLATE \"C\" ASC LIMIT 1 FOR UPDATE"
        ))
        .bind(project.as_str())
        .bind(queue_id)
        .bind(user_id)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(internal)?;
        // Then the oldest free one; rows another transaction is claiming right now are
        // skipped, so concurrent callers get different items.
        let row = match mine {
            Some(row) => Some(row),
            None => sqlx::query(concat!(
                "SELECT ",
                item_columns!(),
                " FROM annotation_queue_items WHERE project_id = $1 AND queue_id = $2 \
                 AND status = 'PENDING' \
                 AND (lock_expires_at IS NULL OR lock_expires_at <= $4 OR locked_by_user_id = $3) \
                 ORDER BY created_at ASC, id COLLATE \"C\" ASC LIMIT 1 FOR UPDATE SKIP LOCKED"
            ))
            .bind(project.as_str())
            .bind(queue_id)
            .bind(user_id)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await
            .map_err(internal)?,
        };
        let Some(mut item) = row.as_ref().map(item_from_row).transpose()? else {
            return Ok(None);
        };
        item.acquire_lock(user_id, now, seconds).map_err(|held| {
            StoreError::Internal(format!(
                "picked an item locked by `{}` as free",
                held.user_id
            ))
        })?;
        update_item(&mut tx, project, &item).await?;
        tx.commit().await.map_err(internal)?;
        Ok(Some(item))
    }

    async fn upsert_queue_assignment(
        &self,
        project: &ProjectId,
        assignment: AnnotationQueueAssignment,
    ) -> StoreResult<AnnotationQueueAssignment> {
        if !queue_exists(&self.pool, project, &assignment.queue_id).await? {
            return Err(unknown_queue(&assignment.queue_id));
        }
        // The no-op update makes RETURNING hand back the row that was already there.
        let row = sqlx::query(
            "INSERT INTO annotation_queue_assignments (project_id, queue_id, user_id, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (project_id, queue_id, user_id) \
             DO UPDATE SET created_at = annotation_queue_assignments.created_at \
             RETURNING queue_id, user_id, created_at",
        )
        .bind(project.as_str())
        .bind(&assignment.queue_id)
        .bind(&assignment.user_id)
        .bind(assignment.created_at)
        .fetch_one(&self.pool)
        .await
        .map_err(internal)?;
        assignment_from_row(&row)
    }

    async fn delete_queue_assignment(
        &self,
        project: &ProjectId,
        queue_id: &str,
        user_id: &str,
    ) -> StoreResult<bool> {
        let deleted = sqlx::query(
            "DELETE FROM annotation_queue_assignments \
             WHERE project_id = $1 AND queue_id = $2 AND user_id = $3",
        )
        .bind(project.as_str())
        .bind(queue_id)
        .bind(user_id)
        .execute(&self.pool)
        .await
        .map_err(internal)?;
        Ok(deleted.rows_affected() > 0)
    }

    async fn list_queue_assignments(
        &self,
        project: &ProjectId,
        queue_id: &str,
    ) -> StoreResult<Vec<AnnotationQueueAssignment>> {
        let rows = sqlx::query(
            "SELECT queue_id, user_id, created_at FROM annotation_queue_assignments \
             WHERE project_id = $1 AND queue_id = $2 ORDER BY created_at ASC, user_id COLLATE \"C\" ASC",
        )
        .bind(project.as_str())
        .bind(queue_id)
        .fetch_all(&self.pool)
        .await
        .map_err(internal)?;
        rows.iter().map(assignment_from_row).collect()
    }
}

#[cfg(test)]
#[path = "annotation_queue_tests.rs"]
mod tests;
