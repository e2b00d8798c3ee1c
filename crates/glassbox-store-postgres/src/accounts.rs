//! PostgreSQL implementation of AccountStore.

use async_trait::async_trait;

use glassbox_model::time::Micros;
use glassbox_model::{Organization, Project, ProjectId, Role, User};
use glassbox_store::StoreResult;
use glassbox_store::*;

use crate::PgStore;

#[async_trait]
impl AccountStore for PgStore {
    async fn sign_up(
        &self,
        _user: User,
        _organization: Organization,
    ) -> StoreResult<Vec<OrganizationMembership>> {
        Err(crate::pending().into())
    }
    async fn find_user_by_email(&self, _email: &str) -> StoreResult<Option<User>> {
        Err(crate::pending().into())
    }
    async fn get_user(&self, _user_id: &str) -> StoreResult<Option<User>> {
        Err(crate::pending().into())
    }
    async fn create_ui_session(&self, _session: UiSession) -> StoreResult<()> {
        Err(crate::pending().into())
    }
    async fn find_ui_session(
        &self,
        _token_hash: &str,
        _now: Micros,
    ) -> StoreResult<Option<UiSession>> {
        Err(crate::pending().into())
    }
    async fn delete_ui_session(&self, _token_hash: &str, _now: Micros) -> StoreResult<()> {
        Err(crate::pending().into())
    }
    async fn organizations_of_user(
        &self,
        _user_id: &str,
    ) -> StoreResult<Vec<OrganizationMembership>> {
        Err(crate::pending().into())
    }
    async fn projects_of_user(&self, _user_id: &str) -> StoreResult<Vec<Project>> {
        Err(crate::pending().into())
    }
    async fn project_role(
        &self,
        _project: &ProjectId,
        _user_id: &str,
    ) -> StoreResult<Option<Role>> {
        Err(crate::pending().into())
    }
    async fn create_organization(
        &self,
        _organization: Organization,
        _owner_user_id: &str,
    ) -> StoreResult<()> {
        Err(crate::pending().into())
    }
}
