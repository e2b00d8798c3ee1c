//! `/api/public/models`: list (project definitions and built-ins), get, create, delete,
//! and `GET /models/{id}/recompute` (progress of the cost recompute a change queued).

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};

use glassbox_model::models::{ModelDefinition, parse_new_model};
use glassbox_model::time::now_micros;

use crate::AppState;
use crate::auth::ProjectAuth;
use crate::body::read_json;
use crate::error::{ApiError, ApiResult};
use crate::models_wire::{model_object, recompute_object};
use crate::params::{QueryParams, page_response};

pub async fn models_list(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let page = QueryParams::parse(query.as_deref()).page(50, 100)?;
    let result = state
        .stores
        .models
        .list_models(&auth.project_id, page)
        .await?;
    Ok(page_response(page, &result, |model| model_object(model)))
}

pub async fn models_get(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    Path(model_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let model = state
        .stores
        .models
        .get_model(&auth.project_id, &model_id)
        .await?
        .ok_or_else(|| ApiError::not_found_in_project("Model"))?;
    Ok(Json(model_object(&model)))
}

pub async fn models_create(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let body = read_json(&headers, body, state.config.max_body_bytes).await?;
    let model = definition(&auth, uuid::Uuid::new_v4().to_string(), &body)?;
    state
        .stores
        .models
        .create_model(&auth.project_id, model.clone())
        .await?;
    Ok(Json(model_object(&model)))
}

/// A project definition from a create/upsert body, with tier ids derived from `id`.
fn definition(auth: &crate::auth::ApiAuth, id: String, body: &Value) -> ApiResult<ModelDefinition> {
    let new = parse_new_model(body)
        .map_err(|message| ApiError::InvalidRequest(format!("Invalid request data: {message}")))?;
    let now = now_micros();
    let mut tiers = new.pricing_tiers;
    for (index, tier) in tiers.iter_mut().enumerate() {
        tier.id = if tier.is_default {
            format!("{id}_tier_default")
        } else {
            format!("{id}_tier_{index}")
        };
    }
    Ok(ModelDefinition {
        id,
        project_id: Some(auth.project_id.clone()),
        model_name: new.model_name,
        match_pattern: new.match_pattern,
        start_date: new.start_date,
        unit: new.unit,
        tokenizer_id: new.tokenizer_id,
        tokenizer_config: new.tokenizer_config,
        pricing_tiers: tiers,
        created_at: now,
        updated_at: now,
    })
}

pub async fn models_delete(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    Path(model_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let deleted = state
        .stores
        .models
        .delete_model(&auth.project_id, &model_id)
        .await?;
    if deleted.is_none() {
        let builtin = glassbox_model::models::builtin_models()
            .iter()
            .any(|model| model.id == model_id);
        return Err(ApiError::NotFound(if builtin {
            "Model not found within authorized project. You cannot delete built-in models, override them with a model with the same name.".into()
        } else {
            "Model not found within authorized project".into()
        }));
    }
    Ok(Json(json!({"message": "Model successfully deleted"})))
}

/// Progress of the latest cost recompute queued by a change of this model (glassbox only).
pub async fn models_recompute_get(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    Path(model_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let job = state
        .stores
        .models
        .recompute_status(&auth.project_id, &model_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("No recompute for this model".into()))?;
    Ok(Json(recompute_object(&job)))
}

/// `PUT /api/public/models/{id}` (Python SDK 5 `api.models.upsert`): creates or replaces a
/// project definition; built-ins cannot be changed (override them by name instead).
pub async fn models_upsert(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    Path(model_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    if glassbox_model::models::builtin_models()
        .iter()
        .any(|model| model.id == model_id)
    {
        return Err(ApiError::InvalidRequest(
            "Built-in models cannot be modified; create a model with the same modelName to override it".into(),
        ));
    }
    if model_id.is_empty() || model_id.chars().count() > 255 {
        return Err(ApiError::InvalidRequest(
            "Invalid request data: id must have 1 to 255 characters".into(),
        ));
    }
    let body = read_json(&headers, body, state.config.max_body_bytes).await?;
    let model = definition(&auth, model_id, &body)?;
    let (stored, _job) = state
        .stores
        .models
        .upsert_model(&auth.project_id, model)
        .await?;
    Ok(Json(model_object(&stored)))
}
