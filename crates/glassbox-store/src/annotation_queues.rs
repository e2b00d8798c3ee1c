//! Annotation queues, their items, the soft locks annotators take on items, and the
//! assignments of users to queues.
//!
//! Items are addressed by (queue, item id): an item id of another queue is "not found".
//! Lock, status and completion rules are the model's (`glassbox_model::annotations`);
//! a store applies them atomically, so two annotators never both get one item.

use async_trait::async_trait;

use glassbox_model::annotations::{
    AnnotationQueue, AnnotationQueueAssignment, AnnotationQueueItem, AnnotationQueueStatus,
    LockHeld,
};
use glassbox_model::{Micros, ProjectId};

use crate::{Page, PageRequest, StoreResult};

/// What [`AnnotationQueueStore::insert_queue_items`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueItemsInserted {
    pub inserted: u64,
    /// Items skipped because their object was already in the queue.
    pub skipped: u64,
}

/// What a lock or unlock request did.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemLockOutcome {
    /// The item after the change (locked by the caller, or released).
    Done(AnnotationQueueItem),
    /// Another user holds an unexpired lock; nothing changed.
    Held(LockHeld),
    /// No such item in this queue of this project.
    NotFound,
}

#[async_trait]
pub trait AnnotationQueueStore: Send + Sync + 'static {
    /// Stores a new queue. A queue of the project with the same name (or id) is a
    /// [`crate::StoreError::Conflict`].
    async fn insert_annotation_queue(
        &self,
        project: &ProjectId,
        queue: AnnotationQueue,
    ) -> StoreResult<()>;
    async fn get_annotation_queue(
        &self,
        project: &ProjectId,
        queue_id: &str,
    ) -> StoreResult<Option<AnnotationQueue>>;
    /// One page ordered by creation time descending, ties by id descending.
    async fn list_annotation_queues(
        &self,
        project: &ProjectId,
        page: PageRequest,
    ) -> StoreResult<Page<AnnotationQueue>>;

    /// Adds items (each with its own fresh id) to their queue in one durable write.
    /// With `skip_existing`, an item whose object (type and id) is already in the queue,
    /// or earlier in `items`, is skipped. Callers bound `items` (a batch); an unknown
    /// queue is [`crate::StoreError::NotFound`] and nothing is written.
    async fn insert_queue_items(
        &self,
        project: &ProjectId,
        queue_id: &str,
        items: Vec<AnnotationQueueItem>,
        skip_existing: bool,
    ) -> StoreResult<QueueItemsInserted>;
    async fn get_queue_item(
        &self,
        project: &ProjectId,
        queue_id: &str,
        item_id: &str,
    ) -> StoreResult<Option<AnnotationQueueItem>>;
    /// One page ordered by creation time descending, ties by id descending.
    async fn list_queue_items(
        &self,
        project: &ProjectId,
        queue_id: &str,
        status: Option<AnnotationQueueStatus>,
        page: PageRequest,
    ) -> StoreResult<Page<AnnotationQueueItem>>;
    /// Sets the status with `AnnotationQueueItem::set_status`; `None` when not found.
    async fn set_queue_item_status(
        &self,
        project: &ProjectId,
        queue_id: &str,
        item_id: &str,
        status: AnnotationQueueStatus,
        now: Micros,
    ) -> StoreResult<Option<AnnotationQueueItem>>;
    /// Returns whether the item existed.
    async fn delete_queue_item(
        &self,
        project: &ProjectId,
        queue_id: &str,
        item_id: &str,
    ) -> StoreResult<bool>;
    /// Locks (or renews the lock on) the item for `user_id` for `seconds`.
    async fn lock_queue_item(
        &self,
        project: &ProjectId,
        queue_id: &str,
        item_id: &str,
        user_id: &str,
        now: Micros,
        seconds: i64,
    ) -> StoreResult<ItemLockOutcome>;
    /// Releases `user_id`'s lock on the item (a no-op without one).
    async fn unlock_queue_item(
        &self,
        project: &ProjectId,
        queue_id: &str,
        item_id: &str,
        user_id: &str,
        now: Micros,
    ) -> StoreResult<ItemLockOutcome>;
    /// Locks the oldest PENDING item (creation time ascending, ties by id ascending) that
    /// no other user holds an active lock on, preferring one `user_id` already holds.
    /// `None` when every pending item is taken (or there is none).
    async fn lock_next_queue_item(
        &self,
        project: &ProjectId,
        queue_id: &str,
        user_id: &str,
        now: Micros,
        seconds: i64,
    ) -> StoreResult<Option<AnnotationQueueItem>>;

    /// Assigns a user to a queue; assigning again keeps the first assignment. An unknown
    /// queue is [`crate::StoreError::NotFound`].
    async fn upsert_queue_assignment(
        &self,
        project: &ProjectId,
        assignment: AnnotationQueueAssignment,
    ) -> StoreResult<AnnotationQueueAssignment>;
    /// Returns whether the assignment existed.
    async fn delete_queue_assignment(
        &self,
        project: &ProjectId,
        queue_id: &str,
        user_id: &str,
    ) -> StoreResult<bool>;
    /// The users assigned to a queue, oldest assignment first.
    async fn list_queue_assignments(
        &self,
        project: &ProjectId,
        queue_id: &str,
    ) -> StoreResult<Vec<AnnotationQueueAssignment>>;
}
