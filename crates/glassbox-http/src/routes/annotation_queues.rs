//! Annotation queues: Langfuse's queues, items and assignments API, plus glassbox's
//! additions (docs/api.md):
//! - `POST /annotation-queues/{id}/items/bulk` queues up to 10,000 given objects, or
//!   every trace matching a filter (up to 100,000), in batches of 1,000: memory stays
//!   bounded however many traces match, and objects already in the queue are skipped;
//! - `POST|DELETE /annotation-queues/{id}/items/{itemId}/lock` and
//!   `POST /annotation-queues/{id}/items/next`: the soft lock an annotator takes while
//!   an item is open (5 minutes unless `lockSeconds` says otherwise).

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};

use glassbox_model::annotations::{
    AnnotationObjectType, AnnotationQueue, AnnotationQueueAssignment, AnnotationQueueItem,
    AnnotationQueueStatus, DEFAULT_LOCK_SECONDS, LockHeld, MAX_LOCK_SECONDS,
    MAX_QUEUE_DESCRIPTION_CHARS, MAX_QUEUE_NAME_CHARS, MAX_QUEUE_SCORE_CONFIGS,
};
use glassbox_model::filter::{TRACE_COLUMNS, parse_filter};
use glassbox_model::time::{format_iso, now_micros, parse_iso_with_offset};
use glassbox_model::{Micros, ProjectId};
use glassbox_store::{ItemLockOutcome, TraceCursor, TraceQuery};

use crate::AppState;
use crate::auth::ProjectAuth;
use crate::body::read_json;
use crate::error::{ApiError, ApiResult};
use crate::json_fields::{JsonFields, invalid};
use crate::params::{QueryParams, page_response};
use crate::wire_annotations::{annotation_queue, annotation_queue_item};

/// Longest object and user ids (as everywhere in the API).
const MAX_ID_CHARS: usize = 800;
/// Most object ids one bulk request may list.
const MAX_BULK_OBJECT_IDS: usize = 10_000;
/// Most traces one bulk request may queue through a filter.
const MAX_BULK_FILTER_ITEMS: u64 = 100_000;
/// Items written per store call (one durable commit each).
const BULK_BATCH: usize = 1_000;

fn queue_not_found() -> ApiError {
    ApiError::NotFound("Annotation queue not found".into())
}

fn item_not_found() -> ApiError {
    ApiError::NotFound("Annotation queue item not found".into())
}

fn object_type(text: &str) -> ApiResult<AnnotationObjectType> {
    AnnotationObjectType::parse(text)
        .ok_or_else(|| invalid("objectType must be TRACE, OBSERVATION or SESSION"))
}

fn status(text: &str) -> ApiResult<AnnotationQueueStatus> {
    AnnotationQueueStatus::parse(text).ok_or_else(|| invalid("status must be PENDING or COMPLETED"))
}

/// Item ids: time-ordered, so items created in one request list in insertion order.
fn new_item_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

async fn body_json(state: &AppState, headers: &HeaderMap, body: Body) -> ApiResult<Value> {
    read_json(headers, body, state.config.max_body_bytes).await
}

async fn require_queue(
    state: &AppState,
    project: &ProjectId,
    queue_id: &str,
) -> ApiResult<AnnotationQueue> {
    state
        .stores
        .annotation_queues
        .get_annotation_queue(project, queue_id)
        .await?
        .ok_or_else(queue_not_found)
}

/// A `userId` of the body that must belong to the project's organization.
async fn member_user_id(
    state: &AppState,
    project: &ProjectId,
    fields: &JsonFields<'_>,
) -> ApiResult<String> {
    let user_id = fields.required_string("userId", MAX_ID_CHARS)?;
    if !state
        .stores
        .admin
        .is_project_member(project, &user_id)
        .await?
    {
        return Err(invalid(format!(
            "userId `{user_id}` is not a member of this project's organization"
        )));
    }
    Ok(user_id)
}

// ---------------------------------------------------------------------------------------
// Queues
// ---------------------------------------------------------------------------------------

pub async fn annotation_queues_list_queues(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let params = QueryParams::parse(query.as_deref());
    let page = params.page(50, 100)?;
    let result = state
        .stores
        .annotation_queues
        .list_annotation_queues(&auth.project_id, page)
        .await?;
    Ok(page_response(page, &result, annotation_queue))
}

pub async fn annotation_queues_create_queue(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let body = body_json(&state, &headers, body).await?;
    let fields = JsonFields::of(&body)?;
    let project = &auth.project_id;
    let name = fields.required_string("name", MAX_QUEUE_NAME_CHARS)?;
    if name.trim().is_empty() {
        return Err(invalid("name must not be blank"));
    }
    let description = fields.optional_string("description", MAX_QUEUE_DESCRIPTION_CHARS)?;
    let mut config_ids = fields
        .string_list("scoreConfigIds", MAX_QUEUE_SCORE_CONFIGS, MAX_ID_CHARS)?
        .ok_or_else(|| invalid("scoreConfigIds is required"))?;
    let mut seen = std::collections::HashSet::new();
    config_ids.retain(|id| seen.insert(id.clone()));
    if config_ids.is_empty() {
        return Err(invalid("scoreConfigIds needs at least one score config id"));
    }
    for config_id in &config_ids {
        let found = state
            .stores
            .score_configs
            .get_score_config(project, config_id)
            .await?;
        if found.is_none() {
            return Err(invalid(format!(
                "score config `{config_id}` does not exist in this project"
            )));
        }
    }
    let now = now_micros();
    let queue = AnnotationQueue {
        id: uuid::Uuid::new_v4().to_string(),
        name,
        description,
        score_config_ids: config_ids,
        created_at: now,
        updated_at: now,
    };
    state
        .stores
        .annotation_queues
        .insert_annotation_queue(project, queue.clone())
        .await?;
    Ok(Json(annotation_queue(&queue)))
}

pub async fn annotation_queues_get_queue(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    Path(queue_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let queue = require_queue(&state, &auth.project_id, &queue_id).await?;
    Ok(Json(annotation_queue(&queue)))
}

// ---------------------------------------------------------------------------------------
// Items
// ---------------------------------------------------------------------------------------

pub async fn annotation_queues_list_queue_items(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    Path(queue_id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let params = QueryParams::parse(query.as_deref());
    let page = params.page(50, 100)?;
    let wanted = params.string("status").as_deref().map(status).transpose()?;
    require_queue(&state, &auth.project_id, &queue_id).await?;
    let result = state
        .stores
        .annotation_queues
        .list_queue_items(&auth.project_id, &queue_id, wanted, page)
        .await?;
    let now = now_micros();
    Ok(page_response(page, &result, |item| {
        annotation_queue_item(item, now)
    }))
}

pub async fn annotation_queues_create_queue_item(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    Path(queue_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let body = body_json(&state, &headers, body).await?;
    let fields = JsonFields::of(&body)?;
    let object_id = fields.required_string("objectId", MAX_ID_CHARS)?;
    let kind = object_type(&fields.required_string("objectType", 32)?)?;
    let initial = fields
        .optional_string("status", 32)?
        .as_deref()
        .map(status)
        .transpose()?
        .unwrap_or(AnnotationQueueStatus::Pending);
    let now = now_micros();
    let item = AnnotationQueueItem::new(
        new_item_id(),
        queue_id.clone(),
        kind,
        object_id,
        initial,
        now,
    );
    state
        .stores
        .annotation_queues
        .insert_queue_items(&auth.project_id, &queue_id, vec![item.clone()], false)
        .await
        .map_err(|error| match error {
            glassbox_store::StoreError::NotFound { .. } => queue_not_found(),
            other => other.into(),
        })?;
    Ok(Json(annotation_queue_item(&item, now)))
}

pub async fn annotation_queues_get_queue_item(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    Path((queue_id, item_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let item = state
        .stores
        .annotation_queues
        .get_queue_item(&auth.project_id, &queue_id, &item_id)
        .await?
        .ok_or_else(item_not_found)?;
    Ok(Json(annotation_queue_item(&item, now_micros())))
}

pub async fn annotation_queues_update_queue_item(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    Path((queue_id, item_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let body = body_json(&state, &headers, body).await?;
    let fields = JsonFields::of(&body)?;
    let wanted = fields
        .optional_string("status", 32)?
        .as_deref()
        .map(status)
        .transpose()?;
    let store = &state.stores.annotation_queues;
    let now = now_micros();
    let item = match wanted {
        Some(wanted) => {
            store
                .set_queue_item_status(&auth.project_id, &queue_id, &item_id, wanted, now)
                .await?
        }
        None => {
            store
                .get_queue_item(&auth.project_id, &queue_id, &item_id)
                .await?
        }
    }
    .ok_or_else(item_not_found)?;
    Ok(Json(annotation_queue_item(&item, now)))
}

pub async fn annotation_queues_delete_queue_item(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    Path((queue_id, item_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let deleted = state
        .stores
        .annotation_queues
        .delete_queue_item(&auth.project_id, &queue_id, &item_id)
        .await?;
    if !deleted {
        return Err(item_not_found());
    }
    Ok(Json(
        json!({"success": true, "message": "Item removed from the annotation queue"}),
    ))
}

// ---------------------------------------------------------------------------------------
// Bulk (glassbox)
// ---------------------------------------------------------------------------------------

/// The trace filter of a bulk request: the simple filters of `GET /traces` plus the
/// advanced `filter` (a JSON array, or its text).
fn trace_query(filter: &Value) -> ApiResult<TraceQuery> {
    let fields = JsonFields::of(filter).map_err(|_| invalid("traceFilter must be an object"))?;
    let known = [
        "userId",
        "name",
        "sessionId",
        "version",
        "release",
        "tags",
        "environment",
        "fromTimestamp",
        "toTimestamp",
        "filter",
    ];
    if let Some(unknown) = fields.keys().find(|key| !known.contains(key)) {
        return Err(invalid(format!(
            "traceFilter has an unknown key `{unknown}`"
        )));
    }
    let timestamp = |key: &str| -> ApiResult<Option<Micros>> {
        fields
            .optional_string(key, 64)?
            .map(|text| {
                parse_iso_with_offset(&text).ok_or_else(|| {
                    invalid(format!(
                        "traceFilter.{key} must be an ISO-8601 datetime with an offset"
                    ))
                })
            })
            .transpose()
    };
    let environments = match fields.value("environment") {
        Some(Value::String(one)) => vec![one.clone()],
        _ => fields
            .string_list("environment", 100, MAX_ID_CHARS)?
            .unwrap_or_default(),
    };
    let filters = match fields.value("filter") {
        None => Vec::new(),
        Some(Value::String(text)) => parse_filter(text, TRACE_COLUMNS).map_err(invalid)?,
        Some(conditions @ Value::Array(_)) => {
            parse_filter(&conditions.to_string(), TRACE_COLUMNS).map_err(invalid)?
        }
        Some(_) => return Err(invalid("traceFilter.filter must be an array of conditions")),
    };
    Ok(TraceQuery {
        user_id: fields.optional_string("userId", MAX_ID_CHARS)?,
        name: fields.optional_string("name", MAX_ID_CHARS)?,
        session_id: fields.optional_string("sessionId", MAX_ID_CHARS)?,
        version: fields.optional_string("version", MAX_ID_CHARS)?,
        release: fields.optional_string("release", MAX_ID_CHARS)?,
        tags: fields
            .string_list("tags", 100, MAX_ID_CHARS)?
            .unwrap_or_default(),
        environments,
        from_timestamp: timestamp("fromTimestamp")?,
        to_timestamp: timestamp("toTimestamp")?,
        filters,
        ..TraceQuery::default()
    })
}

#[derive(Default)]
struct BulkTally {
    created: u64,
    skipped: u64,
}

async fn add_batch(
    state: &AppState,
    project: &ProjectId,
    queue_id: &str,
    kind: AnnotationObjectType,
    object_ids: impl Iterator<Item = String>,
    tally: &mut BulkTally,
) -> ApiResult<()> {
    let now = now_micros();
    let items: Vec<AnnotationQueueItem> = object_ids
        .map(|object_id| {
            AnnotationQueueItem::new(
                new_item_id(),
                queue_id.to_owned(),
                kind,
                object_id,
                AnnotationQueueStatus::Pending,
                now,
            )
        })
        .collect();
    let outcome = state
        .stores
        .annotation_queues
        .insert_queue_items(project, queue_id, items, true)
        .await?;
    tally.created += outcome.inserted;
    tally.skipped += outcome.skipped;
    Ok(())
}

pub async fn annotation_queues_bulk_create_queue_items(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    Path(queue_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let body = body_json(&state, &headers, body).await?;
    let fields = JsonFields::of(&body)?;
    let project = &auth.project_id;
    let object_ids = fields.string_list("objectIds", MAX_BULK_OBJECT_IDS, MAX_ID_CHARS)?;
    let filter = fields.value("traceFilter");
    let max_items = fields
        .optional_integer("maxItems", 1..=MAX_BULK_FILTER_ITEMS as i64)?
        .map_or(MAX_BULK_FILTER_ITEMS, |max| max as u64);
    require_queue(&state, project, &queue_id).await?;
    let mut tally = BulkTally::default();
    let mut truncated = false;
    match (object_ids, filter) {
        (Some(object_ids), None) => {
            let kind = object_type(&fields.required_string("objectType", 32)?)?;
            for chunk in object_ids.chunks(BULK_BATCH) {
                add_batch(
                    &state,
                    project,
                    &queue_id,
                    kind,
                    chunk.iter().cloned(),
                    &mut tally,
                )
                .await?;
            }
        }
        (None, Some(filter)) => {
            if let Some(kind) = fields.optional_string("objectType", 32)?
                && kind != "TRACE"
            {
                return Err(invalid(
                    "traceFilter queues traces: objectType must be TRACE",
                ));
            }
            let query = trace_query(filter)?;
            let mut cursor: Option<TraceCursor> = None;
            let mut visited: u64 = 0;
            while visited < max_items {
                let limit = (max_items - visited).min(BULK_BATCH as u64) as u32;
                let batch = state
                    .stores
                    .traces
                    .list_trace_ids_after(project, &query, cursor.as_ref(), limit)
                    .await?;
                let Some(last) = batch.last().cloned() else {
                    break;
                };
                visited += batch.len() as u64;
                let full = batch.len() == limit as usize;
                add_batch(
                    &state,
                    project,
                    &queue_id,
                    AnnotationObjectType::Trace,
                    batch.into_iter().map(|trace| trace.id),
                    &mut tally,
                )
                .await?;
                cursor = Some(last);
                if !full {
                    break;
                }
            }
            if visited >= max_items {
                truncated = !state
                    .stores
                    .traces
                    .list_trace_ids_after(project, &query, cursor.as_ref(), 1)
                    .await?
                    .is_empty();
            }
        }
        _ => return Err(invalid("give exactly one of objectIds and traceFilter")),
    }
    Ok(Json(json!({
        "queueId": queue_id,
        "created": tally.created,
        "skipped": tally.skipped,
        "truncated": truncated,
    })))
}

// ---------------------------------------------------------------------------------------
// Locks (glassbox)
// ---------------------------------------------------------------------------------------

fn held_error(held: LockHeld) -> ApiError {
    ApiError::Conflict(format!(
        "The item is locked by user `{}` until {}",
        held.user_id,
        format_iso(held.expires_at)
    ))
}

fn lock_seconds(fields: &JsonFields<'_>) -> ApiResult<i64> {
    Ok(fields
        .optional_integer("lockSeconds", 1..=MAX_LOCK_SECONDS)?
        .unwrap_or(DEFAULT_LOCK_SECONDS))
}

fn lock_response(outcome: ItemLockOutcome, now: Micros) -> ApiResult<Json<Value>> {
    match outcome {
        ItemLockOutcome::Done(item) => Ok(Json(annotation_queue_item(&item, now))),
        ItemLockOutcome::Held(held) => Err(held_error(held)),
        ItemLockOutcome::NotFound => Err(item_not_found()),
    }
}

pub async fn annotation_queues_lock_queue_item(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    Path((queue_id, item_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let body = body_json(&state, &headers, body).await?;
    let fields = JsonFields::of(&body)?;
    let seconds = lock_seconds(&fields)?;
    let user_id = member_user_id(&state, &auth.project_id, &fields).await?;
    let now = now_micros();
    let outcome = state
        .stores
        .annotation_queues
        .lock_queue_item(
            &auth.project_id,
            &queue_id,
            &item_id,
            &user_id,
            now,
            seconds,
        )
        .await?;
    lock_response(outcome, now)
}

pub async fn annotation_queues_unlock_queue_item(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    Path((queue_id, item_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let body = body_json(&state, &headers, body).await?;
    let fields = JsonFields::of(&body)?;
    let user_id = fields.required_string("userId", MAX_ID_CHARS)?;
    let now = now_micros();
    let outcome = state
        .stores
        .annotation_queues
        .unlock_queue_item(&auth.project_id, &queue_id, &item_id, &user_id, now)
        .await?;
    lock_response(outcome, now)
}

pub async fn annotation_queues_lock_next_queue_item(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    Path(queue_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let body = body_json(&state, &headers, body).await?;
    let fields = JsonFields::of(&body)?;
    let seconds = lock_seconds(&fields)?;
    let user_id = member_user_id(&state, &auth.project_id, &fields).await?;
    require_queue(&state, &auth.project_id, &queue_id).await?;
    let now = now_micros();
    let item = state
        .stores
        .annotation_queues
        .lock_next_queue_item(&auth.project_id, &queue_id, &user_id, now, seconds)
        .await?;
    Ok(Json(json!({
        "item": item.map(|item| annotation_queue_item(&item, now)),
    })))
}

// ---------------------------------------------------------------------------------------
// Assignments
// ---------------------------------------------------------------------------------------

pub async fn annotation_queues_create_queue_assignment(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    Path(queue_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let body = body_json(&state, &headers, body).await?;
    let fields = JsonFields::of(&body)?;
    let project = &auth.project_id;
    require_queue(&state, project, &queue_id).await?;
    let user_id = member_user_id(&state, project, &fields).await?;
    let assignment = state
        .stores
        .annotation_queues
        .upsert_queue_assignment(
            project,
            AnnotationQueueAssignment {
                queue_id: queue_id.clone(),
                user_id,
                created_at: now_micros(),
            },
        )
        .await?;
    Ok(Json(json!({
        "userId": assignment.user_id,
        "projectId": project.as_str(),
        "queueId": assignment.queue_id,
    })))
}

pub async fn annotation_queues_delete_queue_assignment(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    Path(queue_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let body = body_json(&state, &headers, body).await?;
    let fields = JsonFields::of(&body)?;
    let user_id = fields.required_string("userId", MAX_ID_CHARS)?;
    require_queue(&state, &auth.project_id, &queue_id).await?;
    state
        .stores
        .annotation_queues
        .delete_queue_assignment(&auth.project_id, &queue_id, &user_id)
        .await?;
    Ok(Json(json!({"success": true})))
}
