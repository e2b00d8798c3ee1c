//! Sign-up, sign-in, sign-out, the current session, organizations and projects.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use glassbox_model::time::now_micros;
use glassbox_model::{Organization, Project, ProjectId, Role, User};
use glassbox_store::{StoreError, UiSession};

use super::session::{
    SESSION_SECONDS, UiUser, check_origin, new_token, session_cookies, token_hash,
};
use crate::AppState;
use crate::body::read_json;
use crate::error::{ApiError, ApiResult};

const MIN_PASSWORD_CHARS: usize = 8;
const MAX_PASSWORD_BYTES: usize = 1_024;
const MAX_NAME_CHARS: usize = 200;

fn field<'a>(body: &'a Value, name: &str) -> Option<&'a str> {
    body.get(name)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|value| !value.is_empty())
}

fn required<'a>(body: &'a Value, name: &str) -> ApiResult<&'a str> {
    field(body, name).ok_or_else(|| ApiError::InvalidRequest(format!("`{name}` is required")))
}

fn checked_name(body: &Value, key: &str) -> ApiResult<String> {
    let name = required(body, key)?;
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::InvalidRequest(format!(
            "`{key}` is longer than {MAX_NAME_CHARS} characters"
        )));
    }
    Ok(name.to_owned())
}

fn checked_email(body: &Value) -> ApiResult<String> {
    let email = required(body, "email")?.to_lowercase();
    let valid = email.len() <= 320
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
    if !valid {
        return Err(ApiError::InvalidRequest(
            "`email` is not an email address".into(),
        ));
    }
    Ok(email)
}

/// The raw password (not trimmed: spaces are part of it).
fn password(body: &Value) -> ApiResult<String> {
    let password = body
        .get("password")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::InvalidRequest("`password` is required".into()))?;
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::InvalidRequest("`password` is too long".into()));
    }
    Ok(password.to_owned())
}

/// argon2id in the blocking pool (tens of milliseconds of CPU and ~19 MiB each).
async fn hash_password(password: String) -> ApiResult<String> {
    tokio::task::spawn_blocking(move || {
        argon2::Argon2::default()
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|error| ApiError::Internal(format!("hashing a password failed: {error}")))
    })
    .await
    .map_err(|error| ApiError::Internal(error.to_string()))?
}

async fn verify_password(password: String, hash: String) -> ApiResult<bool> {
    tokio::task::spawn_blocking(move || {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), hash.as_str())
            .is_ok()
    })
    .await
    .map_err(|error| ApiError::Internal(error.to_string()))
}

/// Compared against when the email is unknown, so that both cases take as long.
fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        argon2::Argon2::default()
            .hash_password(b"glassbox-no-such-user")
            .map(|hash| hash.to_string())
            .unwrap_or_default()
    })
}

/// Starts a session: stores the token's hash, sets the cookies, answers the session.
async fn start_session(state: &AppState, headers: &HeaderMap, user: User) -> ApiResult<Response> {
    let token = new_token();
    let now = now_micros();
    state
        .stores
        .accounts
        .create_ui_session(UiSession {
            token_hash: token_hash(&token),
            user_id: user.id.clone(),
            created_at: now,
            expires_at: now + SESSION_SECONDS * 1_000_000,
        })
        .await?;
    let body = session_body(state, &user, &super::session::csrf_token(&token)).await?;
    Ok((session_cookies(state, headers, Some(&token)), Json(body)).into_response())
}

/// `{user, csrfToken, organizations: [{id, name, role, projects: [{id, name}]}]}`.
async fn session_body(state: &AppState, user: &User, csrf: &str) -> ApiResult<Value> {
    let memberships = state
        .stores
        .accounts
        .organizations_of_user(&user.id)
        .await?;
    let projects = state.stores.accounts.projects_of_user(&user.id).await?;
    let organizations: Vec<Value> = memberships
        .iter()
        .map(|membership| {
            let org = &membership.organization;
            let projects: Vec<Value> = projects
                .iter()
                .filter(|project| project.org_id == org.id)
                .map(|project| json!({"id": project.id.as_str(), "name": project.name}))
                .collect();
            json!({"id": org.id, "name": org.name, "role": membership.role.as_str(), "projects": projects})
        })
        .collect();
    Ok(json!({
        "user": {"id": user.id, "email": user.email, "name": user.name},
        "csrfToken": csrf,
        "organizations": organizations,
    }))
}

/// `POST /auth/sign-up {email, name, password}`.
pub async fn auth_sign_up(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    check_origin(&headers)?;
    let body = read_json(&headers, body, state.config.max_body_bytes).await?;
    let email = checked_email(&body)?;
    let name = field(&body, "name").map_or_else(
        || email.split('@').next().unwrap_or_default().to_owned(),
        str::to_owned,
    );
    let password = password(&body)?;
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ApiError::InvalidRequest(format!(
            "the password needs at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    let now = now_micros();
    let user = User {
        id: uuid::Uuid::new_v4().to_string(),
        email,
        name: name.chars().take(MAX_NAME_CHARS).collect(),
        password_hash: hash_password(password).await?,
        created_at: now,
    };
    let organization = Organization {
        id: uuid::Uuid::new_v4().to_string(),
        name: format!("{}'s organization", user.name),
        created_at: now,
    };
    match state
        .stores
        .accounts
        .sign_up(user.clone(), organization)
        .await
    {
        Ok(_) => start_session(&state, &headers, user).await,
        Err(StoreError::Conflict(_)) => Err(ApiError::Conflict(
            "an account with this email exists; sign in instead".into(),
        )),
        Err(error) => Err(error.into()),
    }
}

/// `POST /auth/sign-in {email, password}`. Unknown email and wrong password answer alike.
pub async fn auth_sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    check_origin(&headers)?;
    let body = read_json(&headers, body, state.config.max_body_bytes).await?;
    let email = required(&body, "email")?.to_lowercase();
    let password = password(&body)?;
    let user = state.stores.accounts.find_user_by_email(&email).await?;
    let hash = user.as_ref().map_or_else(
        || dummy_hash().to_owned(),
        |user| user.password_hash.clone(),
    );
    let verified = verify_password(password, hash).await?;
    match user {
        Some(user) if verified => start_session(&state, &headers, user).await,
        _ => Err(ApiError::Unauthorized("Invalid email or password".into())),
    }
}

/// `POST /auth/sign-out`: deletes the session and clears the cookies. Without a valid
/// session it only clears the cookies; a session cookie without the CSRF token is 403.
pub async fn auth_sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: Result<UiUser, ApiError>,
) -> ApiResult<Response> {
    check_origin(&headers)?;
    match user {
        Ok(user) => {
            state
                .stores
                .accounts
                .delete_ui_session(&user.token_hash, now_micros())
                .await?
        }
        Err(ApiError::Forbidden(message)) => return Err(ApiError::Forbidden(message)),
        Err(_) => {}
    }
    Ok((
        StatusCode::OK,
        session_cookies(&state, &headers, None),
        Json(json!({"signedOut": true})),
    )
        .into_response())
}

/// `GET /auth/session`: the signed-in user with their organizations and projects.
pub async fn auth_session(State(state): State<AppState>, user: UiUser) -> ApiResult<Json<Value>> {
    Ok(Json(
        session_body(&state, &user.user, &user.csrf_token).await?,
    ))
}

/// `POST /organizations {name}`: a new organization owned by the caller.
pub async fn organizations_create(
    State(state): State<AppState>,
    user: UiUser,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let body = read_json(&headers, body, state.config.max_body_bytes).await?;
    let organization = Organization {
        id: uuid::Uuid::new_v4().to_string(),
        name: checked_name(&body, "name")?,
        created_at: now_micros(),
    };
    state
        .stores
        .accounts
        .create_organization(organization.clone(), &user.user.id)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({"id": organization.id, "name": organization.name, "role": Role::Owner.as_str(), "projects": []}),
        ),
    ))
}

/// `POST /organizations/{org_id}/projects {name}`: owners and admins only.
pub async fn projects_create(
    State(state): State<AppState>,
    user: UiUser,
    Path(org_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let body = read_json(&headers, body, state.config.max_body_bytes).await?;
    let name = checked_name(&body, "name")?;
    let memberships = state
        .stores
        .accounts
        .organizations_of_user(&user.user.id)
        .await?;
    let role = memberships
        .iter()
        .find(|membership| membership.organization.id == org_id)
        .map(|membership| membership.role)
        .ok_or_else(|| ApiError::NotFound("Organization not found".into()))?;
    if !matches!(role, Role::Owner | Role::Admin) {
        return Err(ApiError::Forbidden(
            "only owners and admins create projects".into(),
        ));
    }
    let project = Project {
        id: ProjectId(uuid::Uuid::new_v4().to_string()),
        org_id,
        name,
        retention_days: None,
        metadata: Default::default(),
        created_at: now_micros(),
    };
    state.stores.admin.ensure_project(project.clone()).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": project.id.as_str(), "name": project.name, "orgId": project.org_id})),
    ))
}
