//! Web UI accounts: sign-up, browser sessions, and what a user may see (the
//! organizations they belong to and the projects of those organizations).

use async_trait::async_trait;

use glassbox_model::time::Micros;
use glassbox_model::{Organization, Project, ProjectId, Role, User};

use crate::StoreResult;

/// A signed-in browser. Only the SHA-256 of the cookie's token is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct UiSession {
    /// Lowercase hex SHA-256 of the session token.
    pub token_hash: String,
    pub user_id: String,
    pub created_at: Micros,
    pub expires_at: Micros,
}

/// An organization as one of its members sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct OrganizationMembership {
    pub organization: Organization,
    pub role: Role,
}

#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    /// Creates a user (email lowercased) in one transaction with their organization:
    /// the very first user of the data directory becomes owner of every organization that
    /// has no member yet (the one made at first start), or of `organization` when there is
    /// none; any later user becomes owner of `organization`. An email that exists is a
    /// [`crate::StoreError::Conflict`]. Returns the organizations the user now owns.
    async fn sign_up(
        &self,
        user: User,
        organization: Organization,
    ) -> StoreResult<Vec<OrganizationMembership>>;
    /// By email, compared lowercased.
    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>>;
    async fn get_user(&self, user_id: &str) -> StoreResult<Option<User>>;

    async fn create_ui_session(&self, session: UiSession) -> StoreResult<()>;
    /// The session with this token hash if it expires after `now`.
    async fn find_ui_session(
        &self,
        token_hash: &str,
        now: Micros,
    ) -> StoreResult<Option<UiSession>>;
    /// Deletes the session (signing out). Unknown hashes are ignored. Expired sessions
    /// of every user are deleted on the way.
    async fn delete_ui_session(&self, token_hash: &str, now: Micros) -> StoreResult<()>;

    /// The user's organizations, by name.
    async fn organizations_of_user(
        &self,
        user_id: &str,
    ) -> StoreResult<Vec<OrganizationMembership>>;
    /// The projects of every organization the user belongs to, by name.
    async fn projects_of_user(&self, user_id: &str) -> StoreResult<Vec<Project>>;
    /// The user's role in the organization that owns the project; `None` when the user is
    /// not a member (or the project does not exist).
    async fn project_role(&self, project: &ProjectId, user_id: &str) -> StoreResult<Option<Role>>;
    /// Creates the organization with the user as its owner.
    async fn create_organization(
        &self,
        organization: Organization,
        owner_user_id: &str,
    ) -> StoreResult<()>;
}
