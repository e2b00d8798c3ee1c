//! Comments: `POST /comments`, `GET /comments` (strict filters), `GET /comments/{id}`.
//! A comment must point at an object of the project (404 otherwise) and its author, when
//! given, must belong to the project's organization (400).

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};

use glassbox_model::ProjectId;
use glassbox_model::comments::{Comment, CommentObjectType, MAX_COMMENT_CHARS, comment_content};
use glassbox_model::time::now_micros;
use glassbox_store::CommentQuery;

use crate::AppState;
use crate::auth::ProjectAuth;
use crate::body::read_json;
use crate::error::{ApiError, ApiResult};
use crate::json_fields::{JsonFields, invalid};
use crate::params::{QueryParams, page_response};
use crate::wire_annotations::comment;

/// Longest object and user ids (as everywhere in the API).
const MAX_ID_CHARS: usize = 800;
/// The raw content read before trimming (whitespace around 5,000 characters).
const MAX_RAW_CONTENT_CHARS: usize = 2 * MAX_COMMENT_CHARS;
const LIST_PARAMS: &[&str] = &["page", "limit", "objectType", "objectId", "authorUserId"];

fn object_type(text: &str) -> ApiResult<CommentObjectType> {
    CommentObjectType::parse(text)
        .ok_or_else(|| invalid("objectType must be TRACE, OBSERVATION, SESSION or PROMPT"))
}

/// Whether the commented object exists in the project. Prompts are not stored by
/// glassbox yet: a PROMPT comment is accepted for any id.
async fn object_exists(
    state: &AppState,
    project: &ProjectId,
    kind: CommentObjectType,
    object_id: &str,
) -> ApiResult<bool> {
    let stores = &state.stores;
    Ok(match kind {
        CommentObjectType::Trace => stores.traces.get_trace(project, object_id).await?.is_some(),
        CommentObjectType::Observation => stores
            .observations
            .get_observation(project, object_id)
            .await?
            .is_some(),
        CommentObjectType::Session => stores
            .sessions
            .get_session(project, object_id)
            .await?
            .is_some(),
        CommentObjectType::Prompt => true,
    })
}

fn kind_name(kind: CommentObjectType) -> &'static str {
    match kind {
        CommentObjectType::Trace => "Trace",
        CommentObjectType::Observation => "Observation",
        CommentObjectType::Session => "Session",
        CommentObjectType::Prompt => "Prompt",
    }
}

pub async fn comments_create(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let body = read_json(&headers, body, state.config.max_body_bytes).await?;
    let fields = JsonFields::of(&body)?;
    let project = &auth.project_id;
    if let Some(given) = fields.optional_string("projectId", MAX_ID_CHARS)?
        && given != project.as_str()
    {
        return Err(invalid(
            "projectId does not match the project of the API key",
        ));
    }
    let kind = object_type(&fields.required_string("objectType", 32)?)?;
    let object_id = fields.required_string("objectId", MAX_ID_CHARS)?;
    let content = comment_content(&fields.required_string("content", MAX_RAW_CONTENT_CHARS)?)
        .map_err(invalid)?;
    let author_user_id = fields.optional_string("authorUserId", MAX_ID_CHARS)?;
    if let Some(author) = &author_user_id
        && !state
            .stores
            .admin
            .is_project_member(project, author)
            .await?
    {
        return Err(invalid(format!(
            "authorUserId `{author}` is not a member of this project's organization"
        )));
    }
    if !object_exists(&state, project, kind, &object_id).await? {
        return Err(ApiError::NotFound(format!(
            "{} `{object_id}` not found within authorized project",
            kind_name(kind)
        )));
    }
    let now = now_micros();
    let created = Comment {
        id: uuid::Uuid::new_v4().to_string(),
        object_type: kind,
        object_id,
        content,
        author_user_id,
        created_at: now,
        updated_at: now,
    };
    let id = created.id.clone();
    state
        .stores
        .comments
        .insert_comment(project, created)
        .await?;
    Ok(Json(json!({ "id": id })))
}

pub async fn comments_get(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let params = QueryParams::parse(query.as_deref());
    if let Some(unknown) = params.keys().find(|key| !LIST_PARAMS.contains(key)) {
        return Err(invalid(format!("unknown query parameter `{unknown}`")));
    }
    let page = params.page(50, 100)?;
    let query = CommentQuery {
        object_type: params
            .string("objectType")
            .as_deref()
            .map(object_type)
            .transpose()?,
        object_id: params.string("objectId"),
        author_user_id: params.string("authorUserId"),
    };
    if query.object_id.is_some() && query.object_type.is_none() {
        return Err(invalid("objectId requires objectType"));
    }
    let result = state
        .stores
        .comments
        .list_comments(&auth.project_id, &query, page)
        .await?;
    Ok(page_response(page, &result, |item| {
        comment(&auth.project_id, item)
    }))
}

pub async fn comments_get_by_id(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    Path(comment_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let found = state
        .stores
        .comments
        .get_comment(&auth.project_id, &comment_id)
        .await?
        .ok_or_else(|| ApiError::not_found_in_project("Comment"))?;
    Ok(Json(comment(&auth.project_id, &found)))
}
