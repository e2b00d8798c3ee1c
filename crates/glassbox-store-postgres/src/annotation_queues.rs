//! PostgreSQL implementation of AnnotationQueueStore.

use async_trait::async_trait;

use glassbox_model::annotations::{
    AnnotationQueue, AnnotationQueueAssignment, AnnotationQueueItem, AnnotationQueueStatus,
    LockHeld,
};
use glassbox_model::{Micros, ProjectId};
use glassbox_store::*;
use glassbox_store::{Page, PageRequest, StoreResult};

use crate::PgStore;

#[async_trait]
impl AnnotationQueueStore for PgStore {
    async fn insert_annotation_queue(
        &self,
        _project: &ProjectId,
        _queue: AnnotationQueue,
    ) -> StoreResult<()> {
        Err(crate::pending().into())
    }
    async fn get_annotation_queue(
        &self,
        _project: &ProjectId,
        _queue_id: &str,
    ) -> StoreResult<Option<AnnotationQueue>> {
        Err(crate::pending().into())
    }
    async fn list_annotation_queues(
        &self,
        _project: &ProjectId,
        _page: PageRequest,
    ) -> StoreResult<Page<AnnotationQueue>> {
        Err(crate::pending().into())
    }
    async fn insert_queue_items(
        &self,
        _project: &ProjectId,
        _queue_id: &str,
        _items: Vec<AnnotationQueueItem>,
        _skip_existing: bool,
    ) -> StoreResult<QueueItemsInserted> {
        Err(crate::pending().into())
    }
    async fn get_queue_item(
        &self,
        _project: &ProjectId,
        _queue_id: &str,
        _item_id: &str,
    ) -> StoreResult<Option<AnnotationQueueItem>> {
        Err(crate::pending().into())
    }
    async fn list_queue_items(
        &self,
        _project: &ProjectId,
        _queue_id: &str,
        _status: Option<AnnotationQueueStatus>,
        _page: PageRequest,
    ) -> StoreResult<Page<AnnotationQueueItem>> {
        Err(crate::pending().into())
    }
    async fn set_queue_item_status(
        &self,
        _project: &ProjectId,
        _queue_id: &str,
        _item_id: &str,
        _status: AnnotationQueueStatus,
        _now: Micros,
    ) -> StoreResult<Option<AnnotationQueueItem>> {
        Err(crate::pending().into())
    }
    async fn delete_queue_item(
        &self,
        _project: &ProjectId,
        _queue_id: &str,
        _item_id: &str,
    ) -> StoreResult<bool> {
        Err(crate::pending().into())
    }
    async fn lock_queue_item(
        &self,
        _project: &ProjectId,
        _queue_id: &str,
        _item_id: &str,
        _user_id: &str,
        _now: Micros,
        _seconds: i64,
    ) -> StoreResult<ItemLockOutcome> {
        Err(crate::pending().into())
    }
    async fn unlock_queue_item(
        &self,
        _project: &ProjectId,
        _queue_id: &str,
        _item_id: &str,
        _user_id: &str,
        _now: Micros,
    ) -> StoreResult<ItemLockOutcome> {
        Err(crate::pending().into())
    }
    async fn lock_next_queue_item(
        &self,
        _project: &ProjectId,
        _queue_id: &str,
        _user_id: &str,
        _now: Micros,
        _seconds: i64,
    ) -> StoreResult<Option<AnnotationQueueItem>> {
        Err(crate::pending().into())
    }
    async fn upsert_queue_assignment(
        &self,
        _project: &ProjectId,
        _assignment: AnnotationQueueAssignment,
    ) -> StoreResult<AnnotationQueueAssignment> {
        Err(crate::pending().into())
    }
    async fn delete_queue_assignment(
        &self,
        _project: &ProjectId,
        _queue_id: &str,
        _user_id: &str,
    ) -> StoreResult<bool> {
        Err(crate::pending().into())
    }
    async fn list_queue_assignments(
        &self,
        _project: &ProjectId,
        _queue_id: &str,
    ) -> StoreResult<Vec<AnnotationQueueAssignment>> {
        Err(crate::pending().into())
    }
}
