//! PostgreSQL implementation of CommentStore.

use async_trait::async_trait;

use glassbox_model::ProjectId;
use glassbox_model::comments::{Comment, CommentObjectType};
use glassbox_store::*;
use glassbox_store::{Page, PageRequest, StoreResult};

use crate::PgStore;

#[async_trait]
impl CommentStore for PgStore {
    async fn insert_comment(&self, _project: &ProjectId, _comment: Comment) -> StoreResult<()> {
        Err(crate::pending().into())
    }
    async fn get_comment(
        &self,
        _project: &ProjectId,
        _comment_id: &str,
    ) -> StoreResult<Option<Comment>> {
        Err(crate::pending().into())
    }
    async fn list_comments(
        &self,
        _project: &ProjectId,
        _query: &CommentQuery,
        _page: PageRequest,
    ) -> StoreResult<Page<Comment>> {
        Err(crate::pending().into())
    }
}
