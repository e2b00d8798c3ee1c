//! First-start set-up: headless initialisation through `LANGFUSE_INIT_*`, or, on an
//! empty data directory without them, a default organization, project and key pair whose
//! credentials are printed once.

use anyhow::Context;
use argon2::password_hash::PasswordHasher;

use glassbox_model::time::now_micros;
use glassbox_model::{ApiKey, Organization, Project, ProjectId, Role, User};
use glassbox_store::Stores;

use crate::keys::new_key_pair;

fn env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

pub async fn run(stores: &Stores, salt: &str, host_url: &str) -> anyhow::Result<()> {
    match env("LANGFUSE_INIT_ORG_ID") {
        Some(org_id) => headless(stores, salt, &org_id).await,
        None => {
            if stores.admin.is_empty().await? {
                first_start(stores, salt, host_url).await
            } else {
                Ok(())
            }
        }
    }
}

async fn headless(stores: &Stores, salt: &str, org_id: &str) -> anyhow::Result<()> {
    let now = now_micros();
    let org_name = env("LANGFUSE_INIT_ORG_NAME").unwrap_or_else(|| "Provisioned Org".into());
    stores
        .admin
        .ensure_organization(Organization {
            id: org_id.to_owned(),
            name: org_name,
            created_at: now,
        })
        .await?;
    if let Some(project_id) = env("LANGFUSE_INIT_PROJECT_ID") {
        let project_name =
            env("LANGFUSE_INIT_PROJECT_NAME").unwrap_or_else(|| "Provisioned Project".into());
        let retention_days = env("LANGFUSE_INIT_PROJECT_RETENTION")
            .and_then(|days| days.parse::<i64>().ok())
            .filter(|days| *days >= 3);
        let project = ProjectId(project_id);
        stores
            .admin
            .ensure_project(Project {
                id: project.clone(),
                org_id: org_id.to_owned(),
                name: project_name,
                retention_days,
                metadata: Default::default(),
                created_at: now,
            })
            .await?;
        match (
            env("LANGFUSE_INIT_PROJECT_PUBLIC_KEY"),
            env("LANGFUSE_INIT_PROJECT_SECRET_KEY"),
        ) {
            (Some(public_key), Some(secret_key)) => {
                let existing = stores.admin.find_api_key_by_public_key(&public_key).await?;
                let keep = existing
                    .as_ref()
                    .is_some_and(|key| key.project_id == project);
                if !keep {
                    if existing.is_some() {
                        stores.admin.delete_api_key(&public_key).await?;
                    }
                    let key = api_key(
                        &project,
                        &public_key,
                        &secret_key,
                        salt,
                        Some("Provisioned API Key"),
                    );
                    stores
                        .admin
                        .insert_api_key(key)
                        .await
                        .context("creating the LANGFUSE_INIT_PROJECT key")?;
                }
            }
            (None, None) => {}
            _ => tracing::warn!(
                "set both LANGFUSE_INIT_PROJECT_PUBLIC_KEY and LANGFUSE_INIT_PROJECT_SECRET_KEY to create a key"
            ),
        }
    } else if env("LANGFUSE_INIT_PROJECT_PUBLIC_KEY").is_some() {
        tracing::warn!("LANGFUSE_INIT_PROJECT_PUBLIC_KEY needs LANGFUSE_INIT_PROJECT_ID");
    }
    match (
        env("LANGFUSE_INIT_USER_EMAIL"),
        env("LANGFUSE_INIT_USER_PASSWORD"),
    ) {
        (Some(email), Some(password)) => {
            let name = env("LANGFUSE_INIT_USER_NAME").unwrap_or_else(|| "Provisioned User".into());
            let user = stores
                .admin
                .ensure_user(new_user(&email, &name, &password)?)
                .await?;
            stores
                .admin
                .set_organization_role(org_id, &user.id, Role::Owner)
                .await?;
        }
        (None, None) => {}
        _ => tracing::warn!(
            "set both LANGFUSE_INIT_USER_EMAIL and LANGFUSE_INIT_USER_PASSWORD to create a user"
        ),
    }
    Ok(())
}

fn new_user(email: &str, name: &str, password: &str) -> anyhow::Result<User> {
    let hash = argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .map_err(|error| anyhow::anyhow!("hashing the password failed: {error}"))?;
    Ok(User {
        id: uuid::Uuid::new_v4().to_string(),
        email: email.to_lowercase(),
        name: name.to_owned(),
        password_hash: hash.to_string(),
        created_at: now_micros(),
    })
}

pub fn api_key(
    project: &ProjectId,
    public_key: &str,
    secret_key: &str,
    salt: &str,
    note: Option<&str>,
) -> ApiKey {
    let display = format!(
        "{}...{}",
        secret_key.chars().take(6).collect::<String>(),
        secret_key
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<String>()
    );
    ApiKey {
        id: uuid::Uuid::new_v4().to_string(),
        project_id: project.clone(),
        public_key: public_key.to_owned(),
        hashed_secret_key: glassbox_http::hash_secret_key(secret_key, salt),
        display_secret_key: display,
        note: note.map(str::to_owned),
        created_at: now_micros(),
        last_used_at: None,
    }
}

async fn first_start(stores: &Stores, salt: &str, host_url: &str) -> anyhow::Result<()> {
    let now = now_micros();
    let org_id = uuid::Uuid::new_v4().to_string();
    stores
        .admin
        .ensure_organization(Organization {
            id: org_id.clone(),
            name: "Default Organization".into(),
            created_at: now,
        })
        .await?;
    let project = ProjectId(uuid::Uuid::new_v4().to_string());
    stores
        .admin
        .ensure_project(Project {
            id: project.clone(),
            org_id,
            name: "Default Project".into(),
            retention_days: None,
            metadata: Default::default(),
            created_at: now,
        })
        .await?;
    let (public_key, secret_key) = new_key_pair();
    stores
        .admin
        .insert_api_key(api_key(
            &project,
            &public_key,
            &secret_key,
            salt,
            Some("Created at first start"),
        ))
        .await?;
    println!("glassbox created a default project with an API key. The secret is shown only now:\n");
    println!("LANGFUSE_HOST={host_url}");
    println!("LANGFUSE_PUBLIC_KEY={public_key}");
    println!("LANGFUSE_SECRET_KEY={secret_key}\n");
    Ok(())
}
