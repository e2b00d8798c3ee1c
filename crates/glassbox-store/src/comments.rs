//! Comments on traces, observations, sessions and prompts.

use async_trait::async_trait;

use glassbox_model::ProjectId;
use glassbox_model::comments::{Comment, CommentObjectType};

use crate::{Page, PageRequest, StoreResult};

/// Filters of the comment list; `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommentQuery {
    pub object_type: Option<CommentObjectType>,
    pub object_id: Option<String>,
    pub author_user_id: Option<String>,
}

#[async_trait]
pub trait CommentStore: Send + Sync + 'static {
    /// Stores a new comment; an existing id is a [`crate::StoreError::Conflict`]. The
    /// caller has checked that the commented object exists.
    async fn insert_comment(&self, project: &ProjectId, comment: Comment) -> StoreResult<()>;
    async fn get_comment(
        &self,
        project: &ProjectId,
        comment_id: &str,
    ) -> StoreResult<Option<Comment>>;
    /// One page ordered by creation time descending, ties by id descending.
    async fn list_comments(
        &self,
        project: &ProjectId,
        query: &CommentQuery,
        page: PageRequest,
    ) -> StoreResult<Page<Comment>>;
}
