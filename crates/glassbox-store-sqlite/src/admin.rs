//! Organizations, projects, API keys, users.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, params};

use glassbox_model::{ApiKey, Organization, Project, ProjectId, Role, User};
use glassbox_store::{AdminStore, StoreError, StoreResult};

use crate::SqliteStore;
use crate::connection::internal;
use crate::sql::execute_changes_any;

const API_KEY_COLUMNS: &str = "id, project_id, public_key, hashed_secret_key, display_secret_key, note, created_at, last_used_at";

fn api_key_from_row(row: &Row<'_>) -> rusqlite::Result<ApiKey> {
    Ok(ApiKey {
        id: row.get(0)?,
        project_id: ProjectId(row.get(1)?),
        public_key: row.get(2)?,
        hashed_secret_key: row.get(3)?,
        display_secret_key: row.get(4)?,
        note: row.get(5)?,
        created_at: row.get(6)?,
        last_used_at: row.get(7)?,
    })
}

#[async_trait]
impl AdminStore for SqliteStore {
    async fn is_empty(&self) -> StoreResult<bool> {
        self.readers
            .read(|connection| {
                connection
                    .query_row(
                        "SELECT NOT EXISTS (SELECT 1 FROM organizations)",
                        [],
                        |row| row.get(0),
                    )
                    .map_err(internal)
            })
            .await
    }

    async fn ensure_organization(&self, organization: Organization) -> StoreResult<()> {
        self.writer
            .write(move |connection| {
                connection
                    .execute(
                        "INSERT OR IGNORE INTO organizations (id, name, created_at) VALUES (?1, ?2, ?3)",
                        params![organization.id, organization.name, organization.created_at],
                    )
                    .map(drop)
                    .map_err(internal)
            })
            .await
    }

    async fn ensure_project(&self, project: Project) -> StoreResult<()> {
        self.writer
            .write(move |connection| {
                connection
                    .execute(
                        "INSERT OR IGNORE INTO projects (id, org_id, name, retention_days, metadata, created_at) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        params![
                            project.id.as_str(),
                            project.org_id,
                            project.name,
                            project.retention_days,
                            serde_json::Value::Object(project.metadata.clone()).to_string(),
                            project.created_at
                        ],
                    )
                    .map(drop)
                    .map_err(internal)
            })
            .await
    }

    async fn get_project(
        &self,
        project: &ProjectId,
    ) -> StoreResult<Option<(Project, Organization)>> {
        let project = project.clone();
        self.readers
            .read(move |connection| {
                connection
                    .query_row(
                        "SELECT p.id, p.org_id, p.name, p.retention_days, p.metadata, p.created_at, o.name, o.created_at \
                         FROM projects p JOIN organizations o ON o.id = p.org_id WHERE p.id = ?1",
                        params![project.as_str()],
                        |row| {
                            let metadata: String = row.get(4)?;
                            let org_id: String = row.get(1)?;
                            Ok((
                                Project {
                                    id: ProjectId(row.get(0)?),
                                    org_id: org_id.clone(),
                                    name: row.get(2)?,
                                    retention_days: row.get(3)?,
                                    metadata: serde_json::from_str(&metadata).unwrap_or_default(),
                                    created_at: row.get(5)?,
                                },
                                Organization { id: org_id, name: row.get(6)?, created_at: row.get(7)? },
                            ))
                        },
                    )
                    .optional()
                    .map_err(internal)
            })
            .await
    }

    async fn insert_api_key(&self, key: ApiKey) -> StoreResult<()> {
        self.writer
            .write(move |connection| {
                let exists: bool = connection
                    .query_row(
                        "SELECT EXISTS (SELECT 1 FROM api_keys WHERE public_key = ?1 OR hashed_secret_key = ?2)",
                        params![key.public_key, key.hashed_secret_key],
                        |row| row.get(0),
                    )
                    .map_err(internal)?;
                if exists {
                    return Err(StoreError::Conflict(format!("API key `{}` already exists", key.public_key)));
                }
                connection
                    .execute(
                        &format!("INSERT INTO api_keys ({API_KEY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
                        params![
                            key.id,
                            key.project_id.as_str(),
                            key.public_key,
                            key.hashed_secret_key,
                            key.display_secret_key,
                            key.note,
                            key.created_at,
                            key.last_used_at
                        ],
                    )
                    .map(drop)
                    .map_err(internal)
            })
            .await
    }

    async fn delete_api_key(&self, id_or_public_key: &str) -> StoreResult<bool> {
        let id = id_or_public_key.to_owned();
        self.writer
            .write(move |connection| {
                execute_changes_any(
                    connection,
                    "DELETE FROM api_keys WHERE id = ?1 OR public_key = ?1",
                    params![id],
                )
            })
            .await
    }

    async fn list_api_keys(&self, project: &ProjectId) -> StoreResult<Vec<ApiKey>> {
        let project = project.clone();
        self.readers
            .read(move |connection| {
                let mut statement = connection
                    .prepare(&format!(
                        "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE project_id = ?1 ORDER BY created_at, id"
                    ))
                    .map_err(internal)?;
                let keys = statement
                    .query_map(params![project.as_str()], api_key_from_row)
                    .and_then(Iterator::collect)
                    .map_err(internal)?;
                Ok(keys)
            })
            .await
    }

    async fn find_api_key_by_public_key(&self, public_key: &str) -> StoreResult<Option<ApiKey>> {
        let public_key = public_key.to_owned();
        self.readers
            .read(move |connection| {
                connection
                    .query_row(
                        &format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE public_key = ?1"),
                        params![public_key],
                        api_key_from_row,
                    )
                    .optional()
                    .map_err(internal)
            })
            .await
    }

    async fn find_api_key_by_secret_hash(
        &self,
        hashed_secret: &str,
    ) -> StoreResult<Option<ApiKey>> {
        let hashed_secret = hashed_secret.to_owned();
        self.readers
            .read(move |connection| {
                connection
                    .query_row(
                        &format!(
                            "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE hashed_secret_key = ?1"
                        ),
                        params![hashed_secret],
                        api_key_from_row,
                    )
                    .optional()
                    .map_err(internal)
            })
            .await
    }

    async fn ensure_user(&self, user: User) -> StoreResult<User> {
        self.writer
            .write(move |connection| {
                let email = user.email.to_lowercase();
                connection
                    .execute(
                        "INSERT OR IGNORE INTO users (id, email, name, password_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![user.id, email, user.name, user.password_hash, user.created_at],
                    )
                    .map_err(internal)?;
                connection
                    .query_row(
                        "SELECT id, email, name, password_hash, created_at FROM users WHERE email = ?1",
                        params![email],
                        |row| {
                            Ok(User {
                                id: row.get(0)?,
                                email: row.get(1)?,
                                name: row.get(2)?,
                                password_hash: row.get(3)?,
                                created_at: row.get(4)?,
                            })
                        },
                    )
                    .map_err(internal)
            })
            .await
    }

    async fn set_organization_role(
        &self,
        org_id: &str,
        user_id: &str,
        role: Role,
    ) -> StoreResult<()> {
        let (org_id, user_id) = (org_id.to_owned(), user_id.to_owned());
        self.writer
            .write(move |connection| {
                connection
                    .execute(
                        "INSERT INTO organization_memberships (org_id, user_id, role) VALUES (?1, ?2, ?3) \
                         ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role",
                        params![org_id, user_id, role.as_str()],
                    )
                    .map(drop)
                    .map_err(internal)
            })
            .await
    }

    async fn is_project_member(&self, project: &ProjectId, user_id: &str) -> StoreResult<bool> {
        let (project, user_id) = (project.clone(), user_id.to_owned());
        self.readers
            .read(move |connection| {
                connection
                    .query_row(
                        "SELECT EXISTS (SELECT 1 FROM projects p JOIN organization_memberships m \
                         ON m.org_id = p.org_id WHERE p.id = ?1 AND m.user_id = ?2)",
                        params![project.as_str(), user_id],
                        |row| row.get(0),
                    )
                    .map_err(internal)
            })
            .await
    }
}
