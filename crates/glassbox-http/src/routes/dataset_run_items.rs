//! Dataset run items: `POST /dataset-run-items` links a trace (or observation) to a
//! dataset item in a named run, creating the run on first use, and answers the run's id
//! (the JS SDK uses it as the experiment id); `GET /dataset-run-items?datasetId&runName`.
//!
//! A new run gets the id Python SDK 5 derives for the same dataset and run name, so runs
//! from both SDKs (REST here, span attributes in OTLP) meet.

use axum::Json;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};

use glassbox_model::datasets::{MAX_DATASET_NAME_CHARS, experiment_id};
use glassbox_model::time::{format_iso, now_micros, parse_iso_with_offset};
use glassbox_store::{NewRunItem, StoreError};

use crate::AppState;
use crate::auth::ProjectAuth;
use crate::body::read_json;
use crate::error::{ApiError, ApiResult};
use crate::json_fields::{JsonFields, invalid};
use crate::params::{QueryParams, page_response};
use crate::wire_datasets::dataset_run_item;

const MAX_ID_CHARS: usize = 800;
const MAX_DESCRIPTION_CHARS: usize = 100_000;
const BODY_KEYS: &[&str] = &[
    "runName",
    "runDescription",
    "metadata",
    "datasetItemId",
    "observationId",
    "traceId",
    "datasetVersion",
    "createdAt",
];

fn datetime(fields: &JsonFields<'_>, key: &str) -> ApiResult<Option<i64>> {
    fields
        .optional_string(key, 64)?
        .map(|text| {
            parse_iso_with_offset(&text).ok_or_else(|| {
                invalid(format!("{key} must be an ISO-8601 datetime with an offset"))
            })
        })
        .transpose()
}

fn item_not_found() -> ApiError {
    ApiError::NotFound("Dataset item not found".into())
}

pub async fn dataset_run_items_create(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let body = read_json(&headers, body, state.config.max_body_bytes).await?;
    let fields = JsonFields::of(&body)?;
    if let Some(unknown) = fields.keys().find(|key| !BODY_KEYS.contains(key)) {
        return Err(invalid(format!("unknown field `{unknown}`")));
    }
    let project = &auth.project_id;
    let run_name = fields.required_string("runName", MAX_DATASET_NAME_CHARS)?;
    let dataset_item_id = fields.required_string("datasetItemId", MAX_ID_CHARS)?;
    let observation_id = fields.optional_string("observationId", MAX_ID_CHARS)?;
    let dataset_version = datetime(&fields, "datasetVersion")?;
    let created_at = datetime(&fields, "createdAt")?.unwrap_or_else(now_micros);
    let mut run_metadata = fields.value("metadata").cloned();
    if let Some(version) = dataset_version {
        // Langfuse records the pinned dataset version in the new run's metadata.
        match &mut run_metadata {
            Some(Value::Object(object)) => {
                object.insert("dataset_version".into(), json!(format_iso(version)));
            }
            None => run_metadata = Some(json!({"dataset_version": format_iso(version)})),
            Some(_) => {}
        }
    }
    let trace_id = match fields.optional_string("traceId", MAX_ID_CHARS)? {
        Some(trace_id) => trace_id,
        None => {
            let observation = observation_id
                .as_deref()
                .ok_or_else(|| invalid("traceId or observationId is required"))?;
            state
                .stores
                .observations
                .get_observation(project, observation)
                .await?
                .ok_or_else(|| ApiError::NotFound("Observation not found".into()))?
                .trace_id
        }
    };
    let item = state
        .stores
        .datasets
        .get_dataset_item(project, &dataset_item_id)
        .await?
        .ok_or_else(item_not_found)?;
    let new = NewRunItem {
        id: uuid::Uuid::new_v4().to_string(),
        run_id: experiment_id(project.as_str(), &item.dataset_id, &run_name),
        run_name,
        run_description: fields.optional_string("runDescription", MAX_DESCRIPTION_CHARS)?,
        run_metadata,
        dataset_item_id,
        trace_id,
        observation_id,
        dataset_version,
        created_at,
    };
    let stored = state
        .stores
        .dataset_runs
        .create_run_item(project, new)
        .await
        .map_err(|error| match error {
            StoreError::NotFound { .. } => item_not_found(),
            other => other.into(),
        })?;
    Ok(Json(dataset_run_item(&stored)))
}

pub async fn dataset_run_items_list(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let params = QueryParams::parse(query.as_deref());
    let page = params.page(50, 100)?;
    let dataset_id = params
        .string("datasetId")
        .ok_or_else(|| invalid("datasetId is required"))?;
    let run_name = params
        .string("runName")
        .ok_or_else(|| invalid("runName is required"))?;
    let run = state
        .stores
        .dataset_runs
        .get_run_by_name(&auth.project_id, &dataset_id, &run_name)
        .await?
        .ok_or_else(|| ApiError::NotFound("Dataset run not found".into()))?;
    let result = state
        .stores
        .dataset_runs
        .list_run_items(&auth.project_id, &run.id, page)
        .await?;
    Ok(page_response(page, &result, dataset_run_item))
}
