//! Web UI accounts: users, browser sessions, memberships.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};

use glassbox_model::time::Micros;
use glassbox_model::{Organization, Project, ProjectId, Role, User};
use glassbox_store::{AccountStore, OrganizationMembership, StoreError, StoreResult, UiSession};

use crate::SqliteStore;
use crate::connection::internal;

const USER_COLUMNS: &str = "id, email, name, password_hash, created_at";

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get(0)?,
        email: row.get(1)?,
        name: row.get(2)?,
        password_hash: row.get(3)?,
        created_at: row.get(4)?,
    })
}

fn role_from_text(text: &str) -> Role {
    match text {
        "OWNER" => Role::Owner,
        "ADMIN" => Role::Admin,
        "MEMBER" => Role::Member,
        // Unknown roles get the least privilege.
        _ => Role::Viewer,
    }
}

fn memberships(connection: &Connection, user_id: &str) -> StoreResult<Vec<OrganizationMembership>> {
    let mut statement = connection
        .prepare(
            "SELECT o.id, o.name, o.created_at, m.role FROM organization_memberships m \
             JOIN organizations o ON o.id = m.org_id WHERE m.user_id = ?1 ORDER BY o.name, o.id",
        )
        .map_err(internal)?;
    statement
        .query_map(params![user_id], |row| {
            let role: String = row.get(3)?;
            Ok(OrganizationMembership {
                organization: Organization {
                    id: row.get(0)?,
                    name: row.get(1)?,
                    created_at: row.get(2)?,
                },
                role: role_from_text(&role),
            })
        })
        .and_then(Iterator::collect)
        .map_err(internal)
}

fn insert_owned_organization(
    connection: &Connection,
    organization: &Organization,
    user_id: &str,
) -> StoreResult<()> {
    let inserted = connection
        .execute(
            "INSERT OR IGNORE INTO organizations (id, name, created_at) VALUES (?1, ?2, ?3)",
            params![organization.id, organization.name, organization.created_at],
        )
        .map_err(internal)?;
    if inserted == 0 {
        return Err(StoreError::Conflict(format!(
            "organization `{}` already exists",
            organization.id
        )));
    }
    connection
        .execute(
            "INSERT INTO organization_memberships (org_id, user_id, role) VALUES (?1, ?2, ?3)",
            params![organization.id, user_id, Role::Owner.as_str()],
        )
        .map(drop)
        .map_err(internal)
}

#[async_trait]
impl AccountStore for SqliteStore {
    async fn sign_up(
        &self,
        user: User,
        organization: Organization,
    ) -> StoreResult<Vec<OrganizationMembership>> {
        self.writer
            .write(move |connection| {
                let email = user.email.to_lowercase();
                let (email_taken, first_user): (bool, bool) = connection
                    .query_row(
                        "SELECT EXISTS (SELECT 1 FROM users WHERE email = ?1), NOT EXISTS (SELECT 1 FROM users)",
                        params![email],
                        |row| Ok((row.get(0)?, row.get(1)?)),
                    )
                    .map_err(internal)?;
                if email_taken {
                    return Err(StoreError::Conflict("a user with this email exists".into()));
                }
                connection
                    .execute(
                        &format!("INSERT INTO users ({USER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5)"),
                        params![user.id, email, user.name, user.password_hash, user.created_at],
                    )
                    .map_err(internal)?;
                let adopted = if first_user {
                    connection
                        .execute(
                            "INSERT INTO organization_memberships (org_id, user_id, role) \
                             SELECT o.id, ?1, ?2 FROM organizations o WHERE NOT EXISTS \
                             (SELECT 1 FROM organization_memberships m WHERE m.org_id = o.id)",
                            params![user.id, Role::Owner.as_str()],
                        )
                        .map_err(internal)?
                } else {
                    0
                };
                if adopted == 0 {
                    insert_owned_organization(connection, &organization, &user.id)?;
                }
                memberships(connection, &user.id)
            })
            .await
    }

    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let email = email.to_lowercase();
        self.readers
            .read(move |connection| {
                connection
                    .query_row(
                        &format!("SELECT {USER_COLUMNS} FROM users WHERE email = ?1"),
                        params![email],
                        user_from_row,
                    )
                    .optional()
                    .map_err(internal)
            })
            .await
    }

    async fn get_user(&self, user_id: &str) -> StoreResult<Option<User>> {
        let user_id = user_id.to_owned();
        self.readers
            .read(move |connection| {
                connection
                    .query_row(
                        &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"),
                        params![user_id],
                        user_from_row,
                    )
                    .optional()
                    .map_err(internal)
            })
            .await
    }

    async fn create_ui_session(&self, session: UiSession) -> StoreResult<()> {
        self.writer
            .write(move |connection| {
                connection
                    .execute(
                        "INSERT INTO ui_sessions (token_hash, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
                        params![session.token_hash, session.user_id, session.created_at, session.expires_at],
                    )
                    .map(drop)
                    .map_err(internal)
            })
            .await
    }

    async fn find_ui_session(
        &self,
        token_hash: &str,
        now: Micros,
    ) -> StoreResult<Option<UiSession>> {
        let token_hash = token_hash.to_owned();
        self.readers
            .read(move |connection| {
                connection
                    .query_row(
                        "SELECT token_hash, user_id, created_at, expires_at FROM ui_sessions \
                         WHERE token_hash = ?1 AND expires_at > ?2",
                        params![token_hash, now],
                        |row| {
                            Ok(UiSession {
                                token_hash: row.get(0)?,
                                user_id: row.get(1)?,
                                created_at: row.get(2)?,
                                expires_at: row.get(3)?,
                            })
                        },
                    )
                    .optional()
                    .map_err(internal)
            })
            .await
    }

    async fn delete_ui_session(&self, token_hash: &str, now: Micros) -> StoreResult<()> {
        let token_hash = token_hash.to_owned();
        self.writer
            .write(move |connection| {
                connection
                    .execute(
                        "DELETE FROM ui_sessions WHERE token_hash = ?1 OR expires_at <= ?2",
                        params![token_hash, now],
                    )
                    .map(drop)
                    .map_err(internal)
            })
            .await
    }

    async fn organizations_of_user(
        &self,
        user_id: &str,
    ) -> StoreResult<Vec<OrganizationMembership>> {
        let user_id = user_id.to_owned();
        self.readers
            .read(move |connection| memberships(connection, &user_id))
            .await
    }

    async fn projects_of_user(&self, user_id: &str) -> StoreResult<Vec<Project>> {
        let user_id = user_id.to_owned();
        self.readers
            .read(move |connection| {
                let mut statement = connection
                    .prepare(
                        "SELECT p.id, p.org_id, p.name, p.retention_days, p.metadata, p.created_at \
                         FROM projects p JOIN organization_memberships m ON m.org_id = p.org_id \
                         WHERE m.user_id = ?1 ORDER BY p.name, p.id",
                    )
                    .map_err(internal)?;
                statement
                    .query_map(params![user_id], |row| {
                        let metadata: String = row.get(4)?;
                        Ok(Project {
                            id: ProjectId(row.get(0)?),
                            org_id: row.get(1)?,
                            name: row.get(2)?,
                            retention_days: row.get(3)?,
                            metadata: serde_json::from_str(&metadata).unwrap_or_default(),
                            created_at: row.get(5)?,
                        })
                    })
                    .and_then(Iterator::collect)
                    .map_err(internal)
            })
            .await
    }

    async fn project_role(&self, project: &ProjectId, user_id: &str) -> StoreResult<Option<Role>> {
        let (project, user_id) = (project.clone(), user_id.to_owned());
        self.readers
            .read(move |connection| {
                let role: Option<String> = connection
                    .query_row(
                        "SELECT m.role FROM projects p JOIN organization_memberships m \
                         ON m.org_id = p.org_id WHERE p.id = ?1 AND m.user_id = ?2",
                        params![project.as_str(), user_id],
                        |row| row.get(0),
                    )
                    .optional()
                    .map_err(internal)?;
                Ok(role.as_deref().map(role_from_text))
            })
            .await
    }

    async fn create_organization(
        &self,
        organization: Organization,
        owner_user_id: &str,
    ) -> StoreResult<()> {
        let owner = owner_user_id.to_owned();
        self.writer
            .write(move |connection| insert_owned_organization(connection, &organization, &owner))
            .await
    }
}
