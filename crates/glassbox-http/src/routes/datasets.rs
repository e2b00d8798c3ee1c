//! Datasets: `POST|GET /v2/datasets`, `GET /v2/datasets/{name}`, the legacy v1
//! `GET|POST /datasets` and `GET /datasets/{name}` (with item ids / items and run names),
//! and the runs of a dataset: list, get by name with its items, delete.
//!
//! Dataset names may contain `/` (folders); clients percent-encode it (`%2F`) in paths.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};

use glassbox_model::ProjectId;
use glassbox_model::datasets::{Dataset, DatasetRun, check_dataset_name};
use glassbox_model::time::now_micros;
use glassbox_store::{DatasetItemQuery, DatasetUpsert, PageRequest};

use crate::AppState;
use crate::auth::ProjectAuth;
use crate::body::read_json;
use crate::error::{ApiError, ApiResult};
use crate::json_fields::{JsonFields, invalid};
use crate::params::{QueryParams, page_meta, page_response};
use crate::wire_datasets::{dataset, dataset_item, dataset_run, dataset_run_item};

/// Longest dataset description.
const MAX_DESCRIPTION_CHARS: usize = 100_000;
/// Most item ids / items / run names / run items embedded in one legacy response.
pub const MAX_EMBEDDED: u32 = 10_000;
const EMBEDDED: PageRequest = PageRequest {
    page: 1,
    limit: MAX_EMBEDDED,
};

/// A JSON Schema: an object (or a boolean schema), or absent/null.
fn schema(fields: &JsonFields<'_>, key: &str) -> ApiResult<Option<Value>> {
    match fields.value(key) {
        None => Ok(None),
        Some(value @ (Value::Object(_) | Value::Bool(_))) => Ok(Some(value.clone())),
        Some(_) => Err(invalid(format!("{key} must be a JSON Schema object"))),
    }
}

async fn upsert_from_body(
    state: &AppState,
    project: &ProjectId,
    headers: &HeaderMap,
    body: Body,
) -> ApiResult<Dataset> {
    let body = read_json(headers, body, state.config.max_body_bytes).await?;
    let fields = JsonFields::of(&body)?;
    let name = fields.required_string("name", glassbox_model::datasets::MAX_DATASET_NAME_CHARS)?;
    check_dataset_name(&name).map_err(invalid)?;
    let upsert = DatasetUpsert {
        id: uuid::Uuid::new_v4().to_string(),
        name,
        description: fields.optional_string("description", MAX_DESCRIPTION_CHARS)?,
        metadata: fields.value("metadata").cloned(),
        input_schema: schema(&fields, "inputSchema")?,
        expected_output_schema: schema(&fields, "expectedOutputSchema")?,
        now: now_micros(),
    };
    Ok(state
        .stores
        .datasets
        .upsert_dataset(project, upsert)
        .await?)
}

pub(crate) async fn dataset_by_name(
    state: &AppState,
    project: &ProjectId,
    name: &str,
) -> ApiResult<Dataset> {
    state
        .stores
        .datasets
        .get_dataset_by_name(project, name)
        .await?
        .ok_or_else(|| ApiError::NotFound("Dataset not found".into()))
}

pub async fn datasets_create(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let created = upsert_from_body(&state, &auth.project_id, &headers, body).await?;
    Ok(Json(Value::Object(dataset(&auth.project_id, &created))))
}

pub async fn datasets_list(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let page = QueryParams::parse(query.as_deref()).page(50, 100)?;
    let result = state
        .stores
        .datasets
        .list_datasets(&auth.project_id, page)
        .await?;
    Ok(page_response(page, &result, |item| {
        Value::Object(dataset(&auth.project_id, item))
    }))
}

pub async fn datasets_get(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    Path(dataset_name): Path<String>,
) -> ApiResult<Json<Value>> {
    let found = dataset_by_name(&state, &auth.project_id, &dataset_name).await?;
    Ok(Json(Value::Object(dataset(&auth.project_id, &found))))
}

/// The legacy dataset shape: the dataset plus its active items (ids, or whole items)
/// and the names of its runs.
async fn legacy_dataset(
    state: &AppState,
    project: &ProjectId,
    found: &Dataset,
    full_items: bool,
) -> ApiResult<Value> {
    let items = state
        .stores
        .datasets
        .list_dataset_items(
            project,
            &DatasetItemQuery {
                dataset_id: Some(found.id.clone()),
                ..DatasetItemQuery::default()
            },
            EMBEDDED,
        )
        .await?
        .items;
    let runs = state
        .stores
        .dataset_runs
        .list_runs(project, &found.id, EMBEDDED)
        .await?
        .items;
    let mut object = dataset(project, found);
    object.insert(
        "items".into(),
        Value::Array(
            items
                .iter()
                .map(|item| {
                    if full_items {
                        dataset_item(item)
                    } else {
                        json!(item.id)
                    }
                })
                .collect(),
        ),
    );
    object.insert(
        "runs".into(),
        Value::Array(runs.iter().map(|run| json!(run.name)).collect()),
    );
    Ok(Value::Object(object))
}

pub async fn datasets_create_v1(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let created = upsert_from_body(&state, &auth.project_id, &headers, body).await?;
    Ok(Json(
        legacy_dataset(&state, &auth.project_id, &created, false).await?,
    ))
}

pub async fn datasets_list_v1(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let params = QueryParams::parse(query.as_deref());
    // v1 accepts page 0 (as the first page).
    let page_number = params.integer("page")?.unwrap_or(1);
    let limit = params.integer("limit")?.unwrap_or(50);
    if !(0..=1_000_000).contains(&page_number) {
        return Err(invalid("page must be at least 0"));
    }
    if !(1..=100).contains(&limit) {
        return Err(invalid("limit must be between 1 and 100"));
    }
    let page = PageRequest {
        page: page_number.max(1) as u32,
        limit: limit as u32,
    };
    let result = state
        .stores
        .datasets
        .list_datasets(&auth.project_id, page)
        .await?;
    let mut data = Vec::with_capacity(result.items.len());
    for found in &result.items {
        data.push(legacy_dataset(&state, &auth.project_id, found, false).await?);
    }
    Ok(Json(
        json!({"data": data, "meta": page_meta(page, result.total_items)}),
    ))
}

pub async fn datasets_get_v1(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    Path(dataset_name): Path<String>,
) -> ApiResult<Json<Value>> {
    let found = dataset_by_name(&state, &auth.project_id, &dataset_name).await?;
    Ok(Json(
        legacy_dataset(&state, &auth.project_id, &found, true).await?,
    ))
}

async fn run_by_name(
    state: &AppState,
    project: &ProjectId,
    dataset_name: &str,
    run_name: &str,
) -> ApiResult<DatasetRun> {
    let found = dataset_by_name(state, project, dataset_name).await?;
    state
        .stores
        .dataset_runs
        .get_run_by_name(project, &found.id, run_name)
        .await?
        .ok_or_else(|| ApiError::NotFound("Dataset run not found".into()))
}

pub async fn datasets_get_runs(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    Path(dataset_name): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let page = QueryParams::parse(query.as_deref()).page(50, 100)?;
    let found = dataset_by_name(&state, &auth.project_id, &dataset_name).await?;
    let result = state
        .stores
        .dataset_runs
        .list_runs(&auth.project_id, &found.id, page)
        .await?;
    Ok(page_response(page, &result, |run| {
        Value::Object(dataset_run(run))
    }))
}

pub async fn datasets_get_run(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    Path((dataset_name, run_name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let run = run_by_name(&state, &auth.project_id, &dataset_name, &run_name).await?;
    let items = state
        .stores
        .dataset_runs
        .list_run_items(&auth.project_id, &run.id, EMBEDDED)
        .await?
        .items;
    let mut object = dataset_run(&run);
    object.insert(
        "datasetRunItems".into(),
        Value::Array(items.iter().map(dataset_run_item).collect()),
    );
    Ok(Json(Value::Object(object)))
}

pub async fn datasets_delete_run(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    Path((dataset_name, run_name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let run = run_by_name(&state, &auth.project_id, &dataset_name, &run_name).await?;
    state
        .stores
        .dataset_runs
        .delete_run(&auth.project_id, &run.id)
        .await?;
    Ok(Json(json!({"message": "Dataset run successfully deleted"})))
}
