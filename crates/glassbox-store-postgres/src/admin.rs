//! PostgreSQL implementation of AdminStore.

use async_trait::async_trait;

use glassbox_model::ingest::IngestEvent;
use glassbox_model::{
    ApiKey, Observation, Organization, Project, ProjectId, Role, Score, Session, Trace, User,
};
use glassbox_store::*;

use crate::PgStore;

#[async_trait]
impl AdminStore for PgStore {
    async fn is_empty(&self) -> StoreResult<bool> {
        Err(crate::pending().into())
    }
    async fn ensure_organization(&self, _organization: Organization) -> StoreResult<()> {
        Err(crate::pending().into())
    }
    async fn ensure_project(&self, _project: Project) -> StoreResult<()> {
        Err(crate::pending().into())
    }
    async fn get_project(
        &self,
        _project: &ProjectId,
    ) -> StoreResult<Option<(Project, Organization)>> {
        Err(crate::pending().into())
    }
    async fn insert_api_key(&self, _key: ApiKey) -> StoreResult<()> {
        Err(crate::pending().into())
    }
    async fn delete_api_key(&self, _id_or_public_key: &str) -> StoreResult<bool> {
        Err(crate::pending().into())
    }
    async fn list_api_keys(&self, _project: &ProjectId) -> StoreResult<Vec<ApiKey>> {
        Err(crate::pending().into())
    }
    async fn find_api_key_by_public_key(&self, _public_key: &str) -> StoreResult<Option<ApiKey>> {
        Err(crate::pending().into())
    }
    async fn find_api_key_by_secret_hash(
        &self,
        _hashed_secret: &str,
    ) -> StoreResult<Option<ApiKey>> {
        Err(crate::pending().into())
    }
    async fn ensure_user(&self, _user: User) -> StoreResult<User> {
        Err(crate::pending().into())
    }
    async fn set_organization_role(
        &self,
        _org_id: &str,
        _user_id: &str,
        _role: Role,
    ) -> StoreResult<()> {
        Err(crate::pending().into())
    }
    async fn is_project_member(&self, _project: &ProjectId, _user_id: &str) -> StoreResult<bool> {
        Err(crate::pending().into())
    }
}
