//! Web UI accounts on PostgreSQL: users, browser sessions (token hashes), organizations
//! and the projects a user may see.
//!
//! Several processes may sign up at once: sign-ups take one transaction-scoped advisory
//! lock (the first user of the database adopts the member-less organizations), and a
//! unique index on `lower(email)` keeps one user per email whatever happens.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use glassbox_model::time::Micros;
use glassbox_model::{Organization, Project, ProjectId, Role, User};
use glassbox_store::{AccountStore, OrganizationMembership, StoreError, StoreResult, UiSession};

use crate::{PgStore, internal};

/// Serialises sign-ups between processes (`pg_advisory_xact_lock` key).
const SIGN_UP_LOCK: &str = "glassbox:sign-up";

fn user_from_row(row: &PgRow) -> Result<User, sqlx::Error> {
    Ok(User {
        id: row.try_get(0)?,
        email: row.try_get(1)?,
        name: row.try_get(2)?,
        password_hash: row.try_get(3)?,
        created_at: row.try_get(4)?,
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

fn membership_from_row(row: &PgRow) -> Result<OrganizationMembership, sqlx::Error> {
    let role: String = row.try_get(3)?;
    Ok(OrganizationMembership {
        organization: Organization {
            id: row.try_get(0)?,
            name: row.try_get(1)?,
            created_at: row.try_get(2)?,
        },
        role: role_from_text(&role),
    })
}

/// Ordered as SQLite orders text (bytewise), whatever the database's collation.
const MEMBERSHIPS: &str = "SELECT o.id, o.name, o.created_at, m.role FROM organization_memberships m \
     JOIN organizations o ON o.id = m.org_id WHERE m.user_id = $1 \
     ORDER BY o.name COLLATE \"C\", o.id COLLATE \"C\"";

async fn memberships(
    connection: &mut PgConnection,
    user_id: &str,
) -> StoreResult<Vec<OrganizationMembership>> {
    let rows = sqlx::query(MEMBERSHIPS)
        .bind(user_id)
        .fetch_all(&mut *connection)
        .await
        .map_err(internal)?;
    rows.iter()
        .map(membership_from_row)
        .collect::<Result<_, _>>()
        .map_err(internal)
}

/// Creates the organization and the user's owner membership (inside the caller's
/// transaction). An organization id that exists is a conflict.
async fn insert_owned_organization(
    connection: &mut PgConnection,
    organization: &Organization,
    user_id: &str,
) -> StoreResult<()> {
    let inserted = sqlx::query(
        "INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(&organization.id)
    .bind(&organization.name)
    .bind(organization.created_at)
    .execute(&mut *connection)
    .await
    .map_err(internal)?
    .rows_affected();
    if inserted == 0 {
        return Err(StoreError::Conflict(format!(
            "organization `{}` already exists",
            organization.id
        )));
    }
    sqlx::query("INSERT INTO organization_memberships (org_id, user_id, role) VALUES ($1, $2, $3)")
        .bind(&organization.id)
        .bind(user_id)
        .bind(Role::Owner.as_str())
        .execute(&mut *connection)
        .await
        .map(drop)
        .map_err(internal)
}

fn project_from_row(row: &PgRow) -> Result<Project, sqlx::Error> {
    let metadata: String = row.try_get(4)?;
    Ok(Project {
        id: ProjectId(row.try_get(0)?),
        org_id: row.try_get(1)?,
        name: row.try_get(2)?,
        retention_days: row.try_get(3)?,
        metadata: serde_json::from_str(&metadata).unwrap_or_default(),
        created_at: row.try_get(5)?,
    })
}

#[async_trait]
impl AccountStore for PgStore {
    async fn sign_up(
        &self,
        user: User,
        organization: Organization,
    ) -> StoreResult<Vec<OrganizationMembership>> {
        let email = user.email.to_lowercase();
        let mut transaction = self.pool.begin().await.map_err(internal)?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(SIGN_UP_LOCK)
            .execute(&mut *transaction)
            .await
            .map_err(internal)?;
        let first_user: bool = sqlx::query_scalar("SELECT NOT EXISTS (SELECT 1 FROM users)")
            .fetch_one(&mut *transaction)
            .await
            .map_err(internal)?;
        let inserted = sqlx::query(
            "INSERT INTO users (id, email, name, password_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT ((lower(email))) DO NOTHING",
        )
        .bind(&user.id)
        .bind(&email)
        .bind(&user.name)
        .bind(&user.password_hash)
        .bind(user.created_at)
        .execute(&mut *transaction)
        .await
        .map_err(internal)?
        .rows_affected();
        if inserted == 0 {
            return Err(StoreError::Conflict("a user with this email exists".into()));
        }
        let adopted = if first_user {
            sqlx::query(
                "INSERT INTO organization_memberships (org_id, user_id, role) \
                 SELECT o.id, $1, $2 FROM organizations o WHERE NOT EXISTS \
                 (SELECT 1 FROM organization_memberships m WHERE m.org_id = o.id) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(&user.id)
            .bind(Role::Owner.as_str())
            .execute(&mut *transaction)
            .await
            .map_err(internal)?
            .rows_affected()
        } else {
            0
        };
        if adopted == 0 {
            insert_owned_organization(&mut transaction, &organization, &user.id).await?;
        }
        let owned = memberships(&mut transaction, &user.id).await?;
        transaction.commit().await.map_err(internal)?;
        Ok(owned)
    }

    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        const SQL: &str = "SELECT id, email, name, password_hash, created_at FROM users \
                           WHERE lower(email) = $1";
        let row = sqlx::query(SQL)
            .bind(email.to_lowercase())
            .fetch_optional(&self.pool)
            .await
            .map_err(internal)?;
        row.as_ref()
            .map(user_from_row)
            .transpose()
            .map_err(internal)
    }

    async fn get_user(&self, user_id: &str) -> StoreResult<Option<User>> {
        const SQL: &str = "SELECT id, email, name, password_hash, created_at FROM users \
                           WHERE id = $1";
        let row = sqlx::query(SQL)
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(internal)?;
        row.as_ref()
            .map(user_from_row)
            .transpose()
            .map_err(internal)
    }

    async fn create_ui_session(&self, session: UiSession) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO ui_sessions (token_hash, user_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&session.token_hash)
        .bind(&session.user_id)
        .bind(session.created_at)
        .bind(session.expires_at)
        .execute(&self.pool)
        .await
        .map(drop)
        .map_err(internal)
    }

    async fn find_ui_session(
        &self,
        token_hash: &str,
        now: Micros,
    ) -> StoreResult<Option<UiSession>> {
        let row = sqlx::query(
            "SELECT token_hash, user_id, created_at, expires_at FROM ui_sessions \
             WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(internal)?;
        row.map(|row| {
            Ok(UiSession {
                token_hash: row.try_get(0)?,
                user_id: row.try_get(1)?,
                created_at: row.try_get(2)?,
                expires_at: row.try_get(3)?,
            })
        })
        .transpose()
        .map_err(internal)
    }

    async fn delete_ui_session(&self, token_hash: &str, now: Micros) -> StoreResult<()> {
        sqlx::query("DELETE FROM ui_sessions WHERE token_hash = $1 OR expires_at <= $2")
            .bind(token_hash)
            .bind(now)
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(internal)
    }

    async fn organizations_of_user(
        &self,
        user_id: &str,
    ) -> StoreResult<Vec<OrganizationMembership>> {
        let mut connection = self.pool.acquire().await.map_err(internal)?;
        memberships(&mut connection, user_id).await
    }

    async fn projects_of_user(&self, user_id: &str) -> StoreResult<Vec<Project>> {
        let rows = sqlx::query(
            "SELECT p.id, p.org_id, p.name, p.retention_days, p.metadata, p.created_at \
             FROM projects p JOIN organization_memberships m ON m.org_id = p.org_id \
             WHERE m.user_id = $1 ORDER BY p.name COLLATE \"C\", p.id COLLATE \"C\"",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(internal)?;
        rows.iter()
            .map(project_from_row)
            .collect::<Result<_, _>>()
            .map_err(internal)
    }

    async fn project_role(&self, project: &ProjectId, user_id: &str) -> StoreResult<Option<Role>> {
        let role: Option<String> = sqlx::query_scalar(
            "SELECT m.role FROM projects p JOIN organization_memberships m \
             ON m.org_id = p.org_id WHERE p.id = $1 AND m.user_id = $2",
        )
        .bind(project.as_str())
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(internal)?;
        Ok(role.as_deref().map(role_from_text))
    }

    async fn create_organization(
        &self,
        organization: Organization,
        owner_user_id: &str,
    ) -> StoreResult<()> {
        let mut transaction = self.pool.begin().await.map_err(internal)?;
        insert_owned_organization(&mut transaction, &organization, owner_user_id).await?;
        transaction.commit().await.map_err(internal)
    }
}

#[cfg(test)]
mod tests;
