//! Organizations, projects, API keys, users (PostgreSQL implementation of AdminStore).

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;

use glassbox_model::{ApiKey, Organization, Project, ProjectId, Role, User};
use glassbox_store::{AdminStore, StoreError, StoreResult};

use crate::{PgStore, internal};

fn api_key_from_row(row: &PgRow) -> Result<ApiKey, sqlx::Error> {
    Ok(ApiKey {
        id: row.try_get(0)?,
        project_id: ProjectId(row.try_get(1)?),
        public_key: row.try_get(2)?,
        hashed_secret_key: row.try_get(3)?,
        display_secret_key: row.try_get(4)?,
        note: row.try_get(5)?,
        created_at: row.try_get(6)?,
        last_used_at: row.try_get(7)?,
    })
}

fn user_from_row(row: &PgRow) -> Result<User, sqlx::Error> {
    Ok(User {
        id: row.try_get(0)?,
        email: row.try_get(1)?,
        name: row.try_get(2)?,
        password_hash: row.try_get(3)?,
        created_at: row.try_get(4)?,
    })
}

#[async_trait]
impl AdminStore for PgStore {
    async fn is_empty(&self) -> StoreResult<bool> {
        sqlx::query_scalar("SELECT NOT EXISTS (SELECT 1 FROM organizations)")
            .fetch_one(&self.pool)
            .await
            .map_err(internal)
    }

    async fn ensure_organization(&self, organization: Organization) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&organization.id)
        .bind(&organization.name)
        .bind(organization.created_at)
        .execute(&self.pool)
        .await
        .map(drop)
        .map_err(internal)
    }

    async fn ensure_project(&self, project: Project) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO projects (id, org_id, name, retention_days, metadata, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
        )
        .bind(project.id.as_str())
        .bind(&project.org_id)
        .bind(&project.name)
        .bind(project.retention_days)
        .bind(serde_json::Value::Object(project.metadata.clone()).to_string())
        .bind(project.created_at)
        .execute(&self.pool)
        .await
        .map(drop)
        .map_err(internal)
    }

    async fn get_project(
        &self,
        project: &ProjectId,
    ) -> StoreResult<Option<(Project, Organization)>> {
        let row = sqlx::query(
            "SELECT p.id, p.org_id, p.name, p.retention_days, p.metadata, p.created_at, o.name, o.created_at \
             FROM projects p JOIN organizations o ON o.id = p.org_id WHERE p.id = $1",
        )
        .bind(project.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(internal)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let read = || -> Result<(Project, Organization), sqlx::Error> {
            let org_id: String = row.try_get(1)?;
            let metadata: String = row.try_get(4)?;
            Ok((
                Project {
                    id: ProjectId(row.try_get(0)?),
                    org_id: org_id.clone(),
                    name: row.try_get(2)?,
                    retention_days: row.try_get(3)?,
                    metadata: serde_json::from_str(&metadata).unwrap_or_default(),
                    created_at: row.try_get(5)?,
                },
                Organization {
                    id: org_id,
                    name: row.try_get(6)?,
                    created_at: row.try_get(7)?,
                },
            ))
        };
        read().map(Some).map_err(internal)
    }

    async fn insert_api_key(&self, key: ApiKey) -> StoreResult<()> {
        // Any unique key (id, public key, secret hash) already taken: nothing is inserted.
        let inserted = sqlx::query(
            "INSERT INTO api_keys (id, project_id, public_key, hashed_secret_key, display_secret_key, note, \
             created_at, last_used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        )
        .bind(&key.id)
        .bind(key.project_id.as_str())
        .bind(&key.public_key)
        .bind(&key.hashed_secret_key)
        .bind(&key.display_secret_key)
        .bind(&key.note)
        .bind(key.created_at)
        .bind(key.last_used_at)
        .execute(&self.pool)
        .await
        .map_err(internal)?
        .rows_affected();
        if inserted == 0 {
            return Err(StoreError::Conflict(format!(
                "API key `{}` already exists",
                key.public_key
            )));
        }
        Ok(())
    }

    async fn delete_api_key(&self, id_or_public_key: &str) -> StoreResult<bool> {
        let deleted = sqlx::query("DELETE FROM api_keys WHERE id = $1 OR public_key = $1")
            .bind(id_or_public_key)
            .execute(&self.pool)
            .await
            .map_err(internal)?
            .rows_affected();
        Ok(deleted > 0)
    }

    async fn list_api_keys(&self, project: &ProjectId) -> StoreResult<Vec<ApiKey>> {
        let rows = sqlx::query(
            "SELECT id, project_id, public_key, hashed_secret_key, display_secret_key, note, created_at, \
             last_used_at FROM api_keys WHERE project_id = $1 ORDER BY created_at, id",
        )
        .bind(project.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(internal)?;
        rows.iter()
            .map(api_key_from_row)
            .collect::<Result<_, _>>()
            .map_err(internal)
    }

    async fn find_api_key_by_public_key(&self, public_key: &str) -> StoreResult<Option<ApiKey>> {
        let row = sqlx::query(
            "SELECT id, project_id, public_key, hashed_secret_key, display_secret_key, note, created_at, \
             last_used_at FROM api_keys WHERE public_key = $1",
        )
        .bind(public_key)
        .fetch_optional(&self.pool)
        .await
        .map_err(internal)?;
        row.as_ref()
            .map(api_key_from_row)
            .transpose()
            .map_err(internal)
    }

    async fn find_api_key_by_secret_hash(
        &self,
        hashed_secret: &str,
    ) -> StoreResult<Option<ApiKey>> {
        let row = sqlx::query(
            "SELECT id, project_id, public_key, hashed_secret_key, display_secret_key, note, created_at, \
             last_used_at FROM api_keys WHERE hashed_secret_key = $1",
        )
        .bind(hashed_secret)
        .fetch_optional(&self.pool)
        .await
        .map_err(internal)?;
        row.as_ref()
            .map(api_key_from_row)
            .transpose()
            .map_err(internal)
    }

    async fn ensure_user(&self, user: User) -> StoreResult<User> {
        let email = user.email.to_lowercase();
        let mut tx = self.pool.begin().await.map_err(internal)?;
        sqlx::query(
            "INSERT INTO users (id, email, name, password_hash, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&user.id)
        .bind(&email)
        .bind(&user.name)
        .bind(&user.password_hash)
        .bind(user.created_at)
        .execute(&mut *tx)
        .await
        .map_err(internal)?;
        let row = sqlx::query(
            "SELECT id, email, name, password_hash, created_at FROM users WHERE email = $1",
        )
        .bind(&email)
        .fetch_one(&mut *tx)
        .await
        .map_err(internal)?;
        let stored = user_from_row(&row).map_err(internal)?;
        tx.commit().await.map_err(internal)?;
        Ok(stored)
    }

    async fn set_organization_role(
        &self,
        org_id: &str,
        user_id: &str,
        role: Role,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO organization_memberships (org_id, user_id, role) VALUES ($1, $2, $3) \
             ON CONFLICT (org_id, user_id) DO UPDATE SET role = EXCLUDED.role",
        )
        .bind(org_id)
        .bind(user_id)
        .bind(role.as_str())
        .execute(&self.pool)
        .await
        .map(drop)
        .map_err(internal)
    }

    async fn is_project_member(&self, project: &ProjectId, user_id: &str) -> StoreResult<bool> {
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM projects p JOIN organization_memberships m \
             ON m.org_id = p.org_id WHERE p.id = $1 AND m.user_id = $2)",
        )
        .bind(project.as_str())
        .bind(user_id)
        .fetch_one(&self.pool)
        .await
        .map_err(internal)
    }
}
