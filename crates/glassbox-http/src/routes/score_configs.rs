//! Score configs: `POST/GET /score-configs`, `GET/PATCH /score-configs/{id}`. The rules
//! (name, range, categories, BOOLEAN's fixed categories) are the model's; archiving is a
//! PATCH with `isArchived`. Scores are checked against the config as it is when they
//! arrive, so a PATCH applies to every later score.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use serde_json::Value;

use glassbox_model::score_configs::{
    MAX_CATEGORIES, MAX_CONFIG_DESCRIPTION_CHARS, NewScoreConfig, ScoreConfigPatch,
    new_score_config,
};
use glassbox_model::time::now_micros;
use glassbox_model::{ScoreCategory, ScoreDataType};
use glassbox_store::ScoreConfigUpdate;

use crate::AppState;
use crate::auth::ProjectAuth;
use crate::body::read_json;
use crate::error::{ApiError, ApiResult};
use crate::json_fields::{JsonFields, invalid};
use crate::params::{QueryParams, page_response};
use crate::wire_annotations::score_config;

/// Longer names are rejected by the model's rule; this only bounds what is read.
const MAX_NAME_READ_CHARS: usize = 1_000;

fn not_found() -> ApiError {
    ApiError::NotFound("Score config not found".into())
}

fn categories(fields: &JsonFields<'_>) -> ApiResult<Option<Vec<ScoreCategory>>> {
    let Some(value) = fields.value("categories") else {
        return Ok(None);
    };
    let items = value
        .as_array()
        .ok_or_else(|| invalid("categories must be an array of {label, value}"))?;
    if items.len() > MAX_CATEGORIES {
        return Err(invalid(format!(
            "at most {MAX_CATEGORIES} categories are allowed"
        )));
    }
    items
        .iter()
        .map(|item| {
            let label = item.get("label").and_then(Value::as_str);
            let value = item.get("value").and_then(Value::as_f64);
            match (label, value) {
                (Some(label), Some(value)) => Ok(ScoreCategory {
                    label: label.to_owned(),
                    value,
                }),
                _ => Err(invalid(
                    "every category needs a string `label` and a numeric `value`",
                )),
            }
        })
        .collect::<ApiResult<Vec<_>>>()
        .map(Some)
}

pub async fn score_configs_create(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let body = read_json(&headers, body, state.config.max_body_bytes).await?;
    let fields = JsonFields::of(&body)?;
    let data_type_text = fields.required_string("dataType", 32)?;
    let data_type = ScoreDataType::parse(&data_type_text)
        .filter(|data_type| *data_type != ScoreDataType::Correction)
        .ok_or_else(|| invalid("dataType must be NUMERIC, CATEGORICAL, BOOLEAN or TEXT"))?;
    let input = NewScoreConfig {
        name: fields.required_string("name", MAX_NAME_READ_CHARS)?,
        data_type,
        categories: categories(&fields)?,
        min_value: fields.optional_number("minValue")?,
        max_value: fields.optional_number("maxValue")?,
        description: fields.optional_string("description", MAX_CONFIG_DESCRIPTION_CHARS)?,
    };
    let config =
        new_score_config(uuid::Uuid::new_v4().to_string(), input, now_micros()).map_err(invalid)?;
    state
        .stores
        .score_configs
        .insert_score_config(&auth.project_id, config.clone())
        .await?;
    Ok(Json(score_config(&auth.project_id, &config)))
}

pub async fn score_configs_get(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let params = QueryParams::parse(query.as_deref());
    let page = params.page(50, 100)?;
    let result = state
        .stores
        .score_configs
        .list_score_configs(&auth.project_id, page)
        .await?;
    Ok(page_response(page, &result, |config| {
        score_config(&auth.project_id, config)
    }))
}

pub async fn score_configs_get_by_id(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    Path(config_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let config = state
        .stores
        .score_configs
        .get_score_config(&auth.project_id, &config_id)
        .await?
        .ok_or_else(not_found)?;
    Ok(Json(score_config(&auth.project_id, &config)))
}

pub async fn score_configs_update(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    Path(config_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let body = read_json(&headers, body, state.config.max_body_bytes).await?;
    let fields = JsonFields::of(&body)?;
    if fields.has("dataType") {
        return Err(invalid(
            "dataType cannot be changed; create a new score config instead",
        ));
    }
    let patch = ScoreConfigPatch {
        is_archived: fields.optional_bool("isArchived")?,
        name: fields.optional_string("name", MAX_NAME_READ_CHARS)?,
        categories: categories(&fields)?,
        min_value: fields.nullable_number("minValue")?,
        max_value: fields.nullable_number("maxValue")?,
        description: fields.nullable_string("description", MAX_CONFIG_DESCRIPTION_CHARS)?,
    };
    if patch.is_empty() {
        return Err(invalid(
            "give at least one of isArchived, name, categories, minValue, maxValue, description",
        ));
    }
    match state
        .stores
        .score_configs
        .update_score_config(&auth.project_id, &config_id, patch, now_micros())
        .await?
    {
        ScoreConfigUpdate::Updated(config) => Ok(Json(score_config(&auth.project_id, &config))),
        ScoreConfigUpdate::NotFound => Err(not_found()),
        ScoreConfigUpdate::Rejected(reason) => Err(invalid(reason)),
    }
}
