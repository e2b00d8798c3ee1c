//! PostgreSQL implementation of UserViewStore.

use async_trait::async_trait;

use glassbox_model::{Micros, ProjectId};
use glassbox_store::*;
use glassbox_store::{Page, PageRequest, StoreResult};

use crate::PgStore;

#[async_trait]
impl UserViewStore for PgStore {
    async fn list_users(
        &self,
        _project: &ProjectId,
        _query: &UserQuery,
        _page: PageRequest,
    ) -> StoreResult<Page<UserSummary>> {
        Err(crate::pending().into())
    }
    async fn get_user(
        &self,
        _project: &ProjectId,
        _user_id: &str,
    ) -> StoreResult<Option<UserSummary>> {
        Err(crate::pending().into())
    }
    async fn sessions_of_user(
        &self,
        _project: &ProjectId,
        _user_id: &str,
        _limit: u32,
    ) -> StoreResult<Vec<UserSession>> {
        Err(crate::pending().into())
    }
}
