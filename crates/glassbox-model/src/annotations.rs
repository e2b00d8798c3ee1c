//! Annotation queues: queues of traces, observations and sessions that people score by
//! hand, their items' status and the soft lock an annotator takes while an item is open.
//!
//! Locks expire by themselves (Langfuse's UI: five minutes), so a closed browser tab never
//! blocks an item for good. A lock only keeps other annotators away; it never stops the
//! public API from changing or deleting the item.

use crate::Micros;

/// Lock duration when the caller names none (Langfuse's UI: 5 minutes).
pub const DEFAULT_LOCK_SECONDS: i64 = 300;
/// Longest lock one request may take.
pub const MAX_LOCK_SECONDS: i64 = 3_600;
/// Most score configs one queue offers.
pub const MAX_QUEUE_SCORE_CONFIGS: usize = 100;
/// Longest queue name and description.
pub const MAX_QUEUE_NAME_CHARS: usize = 1_000;
pub const MAX_QUEUE_DESCRIPTION_CHARS: usize = 5_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnnotationObjectType {
    Trace,
    Observation,
    Session,
}

impl AnnotationObjectType {
    pub const ALL: [AnnotationObjectType; 3] = [
        AnnotationObjectType::Trace,
        AnnotationObjectType::Observation,
        AnnotationObjectType::Session,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AnnotationObjectType::Trace => "TRACE",
            AnnotationObjectType::Observation => "OBSERVATION",
            AnnotationObjectType::Session => "SESSION",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnnotationQueueStatus {
    Pending,
    Completed,
}

impl AnnotationQueueStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AnnotationQueueStatus::Pending => "PENDING",
            AnnotationQueueStatus::Completed => "COMPLETED",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "PENDING" => Some(AnnotationQueueStatus::Pending),
            "COMPLETED" => Some(AnnotationQueueStatus::Completed),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AnnotationQueue {
    pub id: String,
    /// Unique within the project.
    pub name: String,
    pub description: Option<String>,
    /// The score configs annotators fill in (at least one).
    pub score_config_ids: Vec<String>,
    pub created_at: Micros,
    pub updated_at: Micros,
}

/// Who has an item open, since when and until when.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemLock {
    pub user_id: String,
    pub locked_at: Micros,
    pub expires_at: Micros,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AnnotationQueueItem {
    pub id: String,
    pub queue_id: String,
    pub object_id: String,
    pub object_type: AnnotationObjectType,
    pub status: AnnotationQueueStatus,
    /// The last lock taken; it may have expired (see [`AnnotationQueueItem::active_lock`]).
    pub lock: Option<ItemLock>,
    /// Who completed the item: the holder of the lock when it was completed.
    pub annotator_user_id: Option<String>,
    pub completed_at: Option<Micros>,
    pub created_at: Micros,
    pub updated_at: Micros,
}

/// Another user holds an unexpired lock.
#[derive(Debug, Clone, PartialEq)]
pub struct LockHeld {
    pub user_id: String,
    pub expires_at: Micros,
}

impl AnnotationQueueItem {
    /// A new item, PENDING unless `status` says otherwise.
    pub fn new(
        id: String,
        queue_id: String,
        object_type: AnnotationObjectType,
        object_id: String,
        status: AnnotationQueueStatus,
        now: Micros,
    ) -> AnnotationQueueItem {
        AnnotationQueueItem {
            id,
            queue_id,
            object_id,
            object_type,
            status,
            lock: None,
            annotator_user_id: None,
            completed_at: (status == AnnotationQueueStatus::Completed).then_some(now),
            created_at: now,
            updated_at: now,
        }
    }

    /// The lock if it has not expired at `now`.
    pub fn active_lock(&self, now: Micros) -> Option<&ItemLock> {
        self.lock.as_ref().filter(|lock| lock.expires_at > now)
    }

    /// True when `user_id` may open the item now: nobody else holds an active lock.
    pub fn is_free_for(&self, user_id: &str, now: Micros) -> bool {
        self.active_lock(now)
            .is_none_or(|lock| lock.user_id == user_id)
    }

    /// Takes (or renews) the lock for `user_id` for `seconds` from `now`, unless another
    /// user holds an active lock.
    pub fn acquire_lock(
        &mut self,
        user_id: &str,
        now: Micros,
        seconds: i64,
    ) -> Result<(), LockHeld> {
        if let Some(lock) = self.active_lock(now)
            && lock.user_id != user_id
        {
            return Err(LockHeld {
                user_id: lock.user_id.clone(),
                expires_at: lock.expires_at,
            });
        }
        let seconds = seconds.clamp(1, MAX_LOCK_SECONDS);
        self.lock = Some(ItemLock {
            user_id: user_id.to_owned(),
            locked_at: now,
            expires_at: now.saturating_add(seconds * 1_000_000),
        });
        Ok(())
    }

    /// Releases the lock of `user_id`. Returns whether there was an active lock of that
    /// user; another user's active lock is an error and stays.
    pub fn release_lock(&mut self, user_id: &str, now: Micros) -> Result<bool, LockHeld> {
        match self.active_lock(now) {
            Some(lock) if lock.user_id != user_id => Err(LockHeld {
                user_id: lock.user_id.clone(),
                expires_at: lock.expires_at,
            }),
            Some(_) => {
                self.lock = None;
                Ok(true)
            }
            None => {
                self.lock = None;
                Ok(false)
            }
        }
    }

    /// Sets the status. Completing stamps `completed_at` (once), records the holder of
    /// the active lock as the annotator and releases the lock; going back to PENDING
    /// clears `completed_at`.
    pub fn set_status(&mut self, status: AnnotationQueueStatus, now: Micros) {
        match status {
            AnnotationQueueStatus::Completed => {
                if self.status != AnnotationQueueStatus::Completed || self.completed_at.is_none() {
                    self.completed_at = Some(now);
                }
                if let Some(lock) = self.active_lock(now) {
                    self.annotator_user_id = Some(lock.user_id.clone());
                }
                self.lock = None;
            }
            AnnotationQueueStatus::Pending => {
                self.completed_at = None;
            }
        }
        if self.status != status {
            self.updated_at = now.max(self.updated_at);
        }
        self.status = status;
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AnnotationQueueAssignment {
    pub queue_id: String,
    pub user_id: String,
    pub created_at: Micros,
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Micros = 1_000_000;

    fn item() -> AnnotationQueueItem {
        AnnotationQueueItem::new(
            "i".into(),
            "q".into(),
            AnnotationObjectType::Trace,
            "t".into(),
            AnnotationQueueStatus::Pending,
            0,
        )
    }

    #[test]
    fn a_lock_keeps_others_out_until_it_expires() {
        let mut item = item();
        item.acquire_lock("ann", 10 * SECOND, 300).unwrap();
        let lock = item.active_lock(10 * SECOND).unwrap();
        assert_eq!(lock.expires_at, 310 * SECOND);
        let held = item.acquire_lock("bob", 309 * SECOND, 300).unwrap_err();
        assert_eq!(held.user_id, "ann");
        assert_eq!(held.expires_at, 310 * SECOND);
        assert!(!item.is_free_for("bob", 309 * SECOND));
        assert!(item.is_free_for("ann", 309 * SECOND));
        // The holder renews; expiry frees it for others.
        item.acquire_lock("ann", 100 * SECOND, 60).unwrap();
        assert_eq!(item.lock.as_ref().unwrap().expires_at, 160 * SECOND);
        assert!(item.is_free_for("bob", 160 * SECOND));
        item.acquire_lock("bob", 160 * SECOND, 300).unwrap();
        assert_eq!(item.lock.as_ref().unwrap().user_id, "bob");
    }

    #[test]
    fn only_the_holder_releases_an_active_lock() {
        let mut item = item();
        item.acquire_lock("ann", 0, 300).unwrap();
        assert!(item.release_lock("bob", SECOND).is_err());
        assert!(item.lock.is_some());
        assert_eq!(item.release_lock("ann", SECOND), Ok(true));
        assert_eq!(item.lock, None);
        assert_eq!(item.release_lock("ann", SECOND), Ok(false));
        item.acquire_lock("ann", 0, 1).unwrap();
        assert_eq!(item.release_lock("bob", 5 * SECOND), Ok(false), "expired");
    }

    #[test]
    fn lock_durations_are_bounded() {
        let mut item = item();
        item.acquire_lock("ann", 0, 10 * MAX_LOCK_SECONDS).unwrap();
        assert_eq!(
            item.lock.as_ref().unwrap().expires_at,
            MAX_LOCK_SECONDS * SECOND
        );
        item.acquire_lock("ann", 0, -5).unwrap();
        assert_eq!(item.lock.as_ref().unwrap().expires_at, SECOND);
    }

    #[test]
    fn completing_stamps_once_and_records_the_annotator() {
        let mut item = item();
        item.acquire_lock("ann", 5 * SECOND, 300).unwrap();
        item.set_status(AnnotationQueueStatus::Completed, 7 * SECOND);
        assert_eq!(item.status, AnnotationQueueStatus::Completed);
        assert_eq!(item.completed_at, Some(7 * SECOND));
        assert_eq!(item.annotator_user_id.as_deref(), Some("ann"));
        assert_eq!(item.lock, None);
        assert_eq!(item.updated_at, 7 * SECOND);
        item.set_status(AnnotationQueueStatus::Completed, 9 * SECOND);
        assert_eq!(
            item.completed_at,
            Some(7 * SECOND),
            "completing again keeps the time"
        );
        item.set_status(AnnotationQueueStatus::Pending, 11 * SECOND);
        assert_eq!(item.completed_at, None);
        assert_eq!(item.updated_at, 11 * SECOND);
        let created = AnnotationQueueItem::new(
            "j".into(),
            "q".into(),
            AnnotationObjectType::Session,
            "s".into(),
            AnnotationQueueStatus::Completed,
            3,
        );
        assert_eq!(created.completed_at, Some(3));
    }
}
