//! Prompt management: `/api/public/v2/prompts` (create, fetch by label or version, list,
//! label update, delete), the legacy v1 `/api/public/prompts`, and glassbox's own UI
//! routes (`ui.rs`): usage statistics per version and protected labels.
//!
//! Names are percent-encoded in paths (`folder%2Fname`); axum decodes the segment.
//! Fetches go through the store's in-memory cache of resolved prompts.

mod ui;
mod wire;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, patch};
use axum::{Json, Router};
use serde_json::{Map, Value, json};

use glassbox_model::prompts::{CREATED_BY_API, PRODUCTION_LABEL, PromptSelector, PromptType};
use glassbox_store::{NewPromptVersion, PromptActor, PromptDeletion, PromptError, PromptListQuery};

use crate::AppState;
use crate::auth::ProjectAuth;
use crate::body::read_json;
use crate::error::{ApiError, ApiResult, invalid};
use crate::params::{QueryParams, page_meta};
use wire::{IsActive, prompt_meta, prompt_object};

/// `/api/public`: prompt management (v2, and the legacy v1 used by SDK v1).
pub fn public_routes() -> Router<AppState> {
    Router::new()
        .route("/v2/prompts", get(prompts_list).post(prompts_create))
        .route(
            "/v2/prompts/{prompt_name}",
            get(prompts_get).delete(prompts_delete),
        )
        .route(
            "/v2/prompts/{prompt_name}/versions/{version}",
            patch(prompt_version_update),
        )
        .route("/prompts", get(prompts_get_v1).post(prompts_create_v1))
}

/// `/api/ui/v1`: usage statistics and protected labels (`docs/api.md`).
pub fn ui_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/prompts/protected-labels",
            get(ui::protected_labels_get_with_key),
        )
        .route("/prompts/{prompt_name}/usage", get(ui::usage_get_with_key))
        .route(
            "/projects/{project_id}/prompts/protected-labels",
            get(ui::protected_labels_get).put(ui::protected_labels_put),
        )
        .route(
            "/projects/{project_id}/prompts/{prompt_name}/usage",
            get(ui::usage_get),
        )
}

impl From<PromptError> for ApiError {
    fn from(error: PromptError) -> Self {
        match error {
            PromptError::Invalid(message) => ApiError::InvalidRequest(message),
            PromptError::NotFound(message) => ApiError::NotFound(message),
            PromptError::Forbidden(message) => ApiError::Forbidden(message),
            PromptError::Store(error) => error.into(),
        }
    }
}

/// A path parameter, with a Langfuse error body when it cannot be decoded.
pub(crate) fn path_name<T>(path: Result<Path<T>, PathRejection>) -> ApiResult<T> {
    path.map(|Path(value)| value)
        .map_err(|rejection| invalid(format!("bad path parameter: {}", rejection.body_text())))
}

fn optional_strings(object: &Map<String, Value>, key: &str) -> ApiResult<Option<Vec<String>>> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| invalid(format!("{key}: expected an array of strings")))
            })
            .collect::<ApiResult<Vec<String>>>()
            .map(Some),
        Some(_) => Err(invalid(format!("{key}: expected an array of strings"))),
    }
}

/// The body of a create (v2, or v1 with `isActive`).
fn new_version(body: Value, legacy: bool) -> ApiResult<NewPromptVersion> {
    let Value::Object(mut object) = body else {
        return Err(invalid("the body must be a JSON object"));
    };
    let name = match object.get("name") {
        Some(Value::String(name)) => name.clone(),
        _ => return Err(invalid("name: expected a string")),
    };
    let prompt_type = match object.get("type") {
        None | Some(Value::Null) => PromptType::Text,
        Some(Value::String(text)) => {
            PromptType::parse(text).ok_or_else(|| invalid("type: expected \"text\" or \"chat\""))?
        }
        Some(_) => return Err(invalid("type: expected \"text\" or \"chat\"")),
    };
    let prompt = match object.remove("prompt") {
        None | Some(Value::Null) => return Err(invalid("prompt: required")),
        Some(prompt) => prompt,
    };
    let mut labels = optional_strings(&object, "labels")?.unwrap_or_default();
    if legacy && object.get("isActive") == Some(&Value::Bool(true)) {
        labels.push(PRODUCTION_LABEL.to_owned());
    }
    let commit_message = match object.get("commitMessage") {
        None | Some(Value::Null) => None,
        Some(Value::String(message)) => Some(message.clone()),
        Some(_) => return Err(invalid("commitMessage: expected a string")),
    };
    Ok(NewPromptVersion {
        id: uuid::Uuid::new_v4().to_string(),
        name,
        r#type: prompt_type,
        prompt,
        config: object.remove("config").unwrap_or(Value::Null),
        labels,
        tags: optional_strings(&object, "tags")?,
        commit_message,
        created_by: CREATED_BY_API.to_owned(),
    })
}

async fn create(
    auth: ProjectAuth,
    state: AppState,
    headers: HeaderMap,
    body: Body,
    legacy: bool,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let ProjectAuth(auth) = auth;
    let body = read_json(&headers, body, state.config.max_body_bytes).await?;
    let new = new_version(body, legacy)?;
    let created = state
        .stores
        .prompts
        .create_prompt_version(&auth.project_id, new, PromptActor::ApiKey)
        .await?;
    let is_active = if legacy {
        IsActive::FromProductionLabel
    } else {
        IsActive::Null
    };
    Ok((
        StatusCode::CREATED,
        Json(prompt_object(&auth.project_id, &created, None, is_active)),
    ))
}

/// `POST /api/public/v2/prompts`.
pub async fn prompts_create(
    auth: ProjectAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    create(auth, state, headers, body, false).await
}

/// `version` or `label` (not both); neither means `production`.
fn selector(params: &QueryParams) -> ApiResult<PromptSelector> {
    let version = params.integer("version")?;
    let label = params.string("label");
    match (version, label) {
        (Some(_), Some(_)) => Err(ApiError::InvalidRequest(
            "Cannot specify both version and label".into(),
        )),
        (Some(version), None) => Ok(PromptSelector::Version(version)),
        (None, Some(label)) => Ok(PromptSelector::Label(label)),
        (None, None) => Ok(PromptSelector::Label(PRODUCTION_LABEL.to_owned())),
    }
}

/// `GET /api/public/v2/prompts/{promptName}?version=&label=&resolve=`.
pub async fn prompts_get(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let name = path_name(path)?;
    let params = QueryParams::parse(query.as_deref());
    let selector = selector(&params)?;
    let not_found = || {
        ApiError::NotFound(format!(
            "Prompt not found: '{name}' {}",
            selector.describe()
        ))
    };
    let prompts = &state.stores.prompts;
    if params.boolean("resolve")? == Some(false) {
        let version = prompts
            .get_prompt_version(&auth.project_id, &name, &selector)
            .await?
            .ok_or_else(not_found)?;
        return Ok(Json(prompt_object(
            &auth.project_id,
            &version,
            None,
            IsActive::Null,
        )));
    }
    let resolved = prompts
        .resolve_prompt(&auth.project_id, &name, &selector)
        .await?
        .ok_or_else(not_found)?;
    Ok(Json(prompt_object(
        &auth.project_id,
        &resolved.version,
        resolved.graph.as_ref(),
        IsActive::Null,
    )))
}

/// `GET /api/public/v2/prompts`: prompt names with their versions and labels.
pub async fn prompts_list(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let params = QueryParams::parse(query.as_deref());
    let page = params.page(10, 100)?;
    let query = PromptListQuery {
        name: params.string("name"),
        label: params.string("label"),
        tag: params.string("tag"),
        version: params.integer("version")?,
        from_updated_at: params.datetime("fromUpdatedAt")?,
        to_updated_at: params.datetime("toUpdatedAt")?,
    };
    let result = state
        .stores
        .prompts
        .list_prompts(&auth.project_id, &query, page)
        .await?;
    let meta = page_meta(page, result.total_items);
    let data: Vec<Value> = result.items.iter().map(prompt_meta).collect();
    // `pagination` repeats `meta` for older clients, as Langfuse does.
    Ok(Json(
        json!({"data": data, "meta": meta, "pagination": meta}),
    ))
}

/// `PATCH /api/public/v2/prompts/{name}/versions/{version}` with `{newLabels}`.
pub async fn prompt_version_update(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let (name, version) = path_name(path)?;
    let version: i64 = version
        .parse()
        .map_err(|_| invalid("version must be an integer"))?;
    let body = read_json(&headers, body, state.config.max_body_bytes).await?;
    let Value::Object(body) = body else {
        return Err(invalid("the body must be a JSON object"));
    };
    let labels = optional_strings(&body, "newLabels")?
        .ok_or_else(|| invalid("newLabels: required (an array of labels)"))?;
    let updated = state
        .stores
        .prompts
        .add_prompt_labels(
            &auth.project_id,
            &name,
            version,
            labels,
            PromptActor::ApiKey,
        )
        .await?;
    Ok(Json(prompt_object(
        &auth.project_id,
        &updated,
        None,
        IsActive::Null,
    )))
}

/// `DELETE /api/public/v2/prompts/{promptName}?version=&label=`.
pub async fn prompts_delete(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> ApiResult<StatusCode> {
    let name = path_name(path)?;
    let params = QueryParams::parse(query.as_deref());
    let deletion = PromptDeletion {
        version: params.integer("version")?,
        label: params.string("label"),
    };
    state
        .stores
        .prompts
        .delete_prompt_versions(&auth.project_id, &name, &deletion, PromptActor::ApiKey)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Legacy `GET /api/public/prompts?name=&version=` (SDK v1): `production` by default.
pub async fn prompts_get_v1(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let params = QueryParams::parse(query.as_deref());
    let name = params
        .string("name")
        .ok_or_else(|| invalid("name: required"))?;
    let selector = match params.integer("version")? {
        Some(version) => PromptSelector::Version(version),
        None => PromptSelector::Label(PRODUCTION_LABEL.to_owned()),
    };
    let resolved = state
        .stores
        .prompts
        .resolve_prompt(&auth.project_id, &name, &selector)
        .await?
        .ok_or_else(|| ApiError::NotFound("Prompt not found".into()))?;
    Ok(Json(prompt_object(
        &auth.project_id,
        &resolved.version,
        resolved.graph.as_ref(),
        IsActive::FromProductionLabel,
    )))
}

/// Legacy `POST /api/public/prompts` (SDK v1): `isActive: true` adds `production`.
pub async fn prompts_create_v1(
    auth: ProjectAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    create(auth, state, headers, body, true).await
}
