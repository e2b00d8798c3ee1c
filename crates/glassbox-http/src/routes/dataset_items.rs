//! Dataset items: `POST /dataset-items` (upsert by id: a new version that merges omitted
//! fields from the previous one), `GET /dataset-items` (active items, optionally as of a
//! `version` instant), `GET /dataset-items/{id}` (current version, any status) and
//! `DELETE /dataset-items/{id}` (a tombstone version).

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};

use glassbox_model::datasets::{
    DatasetItemChange, DatasetItemStatus, FieldChange, MAX_DATASET_ITEM_ID_CHARS,
    MAX_DATASET_NAME_CHARS,
};
use glassbox_model::time::now_micros;
use glassbox_store::{DatasetItemQuery, StoreError};

use crate::AppState;
use crate::auth::ProjectAuth;
use crate::body::read_json;
use crate::error::{ApiError, ApiResult};
use crate::json_fields::{JsonFields, invalid};
use crate::params::{QueryParams, page_response};
use crate::routes::datasets::dataset_by_name;
use crate::wire_datasets::dataset_item;

/// Longest trace and observation id.
const MAX_ID_CHARS: usize = 800;

fn json_change(fields: &JsonFields<'_>, key: &str) -> FieldChange<Value> {
    if fields.has(key) {
        FieldChange::Set(fields.value(key).cloned())
    } else {
        FieldChange::Keep
    }
}

fn string_change(fields: &JsonFields<'_>, key: &str) -> ApiResult<FieldChange<String>> {
    Ok(match fields.nullable_string(key, MAX_ID_CHARS)? {
        None => FieldChange::Keep,
        Some(value) => FieldChange::Set(value),
    })
}

fn status(fields: &JsonFields<'_>) -> ApiResult<Option<DatasetItemStatus>> {
    fields
        .optional_string("status", 20)?
        .map(|text| {
            DatasetItemStatus::parse(&text)
                .ok_or_else(|| invalid("status must be ACTIVE or ARCHIVED"))
        })
        .transpose()
}

pub async fn dataset_items_create(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    // Items carry whole prompts and documents: the ingestion limit (4.5 MB), as Langfuse.
    let body = read_json(&headers, body, state.config.max_ingestion_body_bytes).await?;
    let fields = JsonFields::of(&body)?;
    let dataset_name = fields.required_string("datasetName", MAX_DATASET_NAME_CHARS)?;
    let item_id = fields
        .optional_string("id", MAX_DATASET_ITEM_ID_CHARS)?
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let change = DatasetItemChange {
        input: json_change(&fields, "input"),
        expected_output: json_change(&fields, "expectedOutput"),
        metadata: json_change(&fields, "metadata"),
        source_trace_id: string_change(&fields, "sourceTraceId")?,
        source_observation_id: string_change(&fields, "sourceObservationId")?,
        status: status(&fields)?,
    };
    let dataset = dataset_by_name(&state, &auth.project_id, &dataset_name).await?;
    let item = state
        .stores
        .datasets
        .upsert_dataset_item(
            &auth.project_id,
            &dataset.id,
            &item_id,
            change,
            now_micros(),
        )
        .await
        .map_err(|error| match error {
            StoreError::Conflict(message) => ApiError::Conflict(message),
            StoreError::NotFound { .. } => ApiError::NotFound("Dataset not found".into()),
            other => other.into(),
        })?;
    Ok(Json(dataset_item(&item)))
}

pub async fn dataset_items_list(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let params = QueryParams::parse(query.as_deref());
    let page = params.page(50, 100)?;
    let version = params.datetime("version")?;
    let dataset_name = params.string("datasetName");
    if version.is_some() && dataset_name.is_none() {
        return Err(invalid("version requires datasetName"));
    }
    let dataset_id = match &dataset_name {
        Some(name) => Some(dataset_by_name(&state, &auth.project_id, name).await?.id),
        None => None,
    };
    let item_query = DatasetItemQuery {
        dataset_id,
        source_trace_id: params.string("sourceTraceId"),
        source_observation_id: params.string("sourceObservationId"),
        version,
        ..DatasetItemQuery::default()
    };
    let result = state
        .stores
        .datasets
        .list_dataset_items(&auth.project_id, &item_query, page)
        .await?;
    Ok(page_response(page, &result, dataset_item))
}

pub async fn dataset_items_get(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let item = state
        .stores
        .datasets
        .get_dataset_item(&auth.project_id, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound("Dataset item not found".into()))?;
    Ok(Json(dataset_item(&item)))
}

pub async fn dataset_items_delete(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let deleted = state
        .stores
        .datasets
        .delete_dataset_item(&auth.project_id, &id, now_micros())
        .await?;
    if !deleted {
        return Err(ApiError::NotFound("Dataset item not found".into()));
    }
    Ok(Json(
        json!({"message": "Dataset item successfully deleted"}),
    ))
}
