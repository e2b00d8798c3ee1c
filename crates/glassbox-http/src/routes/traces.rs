//! `GET /api/public/traces`, `GET/DELETE /traces/{id}`, bulk `DELETE /traces`.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};

use glassbox_model::filter::TRACE_COLUMNS;
use glassbox_store::{SortDirection, TraceOrderColumn, TraceQuery};

use crate::AppState;
use crate::auth::ProjectAuth;
use crate::body::read_json;
use crate::error::{ApiError, ApiResult};
use crate::params::{QueryParams, page_response};
use crate::wire::{TraceFields, observation_v1, score_object, trace_core, trace_list_item};

pub(crate) fn parse_order(text: &str) -> ApiResult<(TraceOrderColumn, SortDirection)> {
    let (column, direction) = text.rsplit_once('.').ok_or_else(|| {
        ApiError::InvalidRequest(
            "Invalid request data: orderBy must look like `timestamp.desc`".into(),
        )
    })?;
    let column = match column {
        "id" => TraceOrderColumn::Id,
        "timestamp" => TraceOrderColumn::Timestamp,
        "name" => TraceOrderColumn::Name,
        "userId" => TraceOrderColumn::UserId,
        "release" => TraceOrderColumn::Release,
        "version" => TraceOrderColumn::Version,
        "public" => TraceOrderColumn::Public,
        "bookmarked" => TraceOrderColumn::Bookmarked,
        "sessionId" => TraceOrderColumn::SessionId,
        other => {
            return Err(ApiError::InvalidRequest(format!(
                "Invalid request data: cannot order by `{other}`"
            )));
        }
    };
    let direction = match direction {
        "asc" => SortDirection::Asc,
        "desc" => SortDirection::Desc,
        other => {
            return Err(ApiError::InvalidRequest(format!(
                "Invalid request data: unknown direction `{other}`"
            )));
        }
    };
    Ok((column, direction))
}

pub async fn trace_list(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let params = QueryParams::parse(query.as_deref());
    let page = params.page(50, 100)?;
    let order = match params.string("orderBy") {
        Some(text) => parse_order(&text)?,
        None => (TraceOrderColumn::Timestamp, SortDirection::Desc),
    };
    let query = TraceQuery {
        user_id: params.string("userId"),
        name: params.string("name"),
        session_id: params.string("sessionId"),
        version: params.string("version"),
        release: params.string("release"),
        tags: params.repeated("tags"),
        environments: params.repeated("environment"),
        from_timestamp: params.datetime("fromTimestamp")?,
        to_timestamp: params.datetime("toTimestamp")?,
        order,
        filters: params.filter(TRACE_COLUMNS)?,
    };
    let fields = TraceFields::parse(params.string("fields").as_deref());
    let result = state
        .stores
        .traces
        .list_traces(&auth.project_id, &query, page)
        .await?;
    Ok(page_response(page, &result, |item| {
        trace_list_item(&auth.project_id, item, fields)
    }))
}

pub async fn trace_get(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    Path(trace_id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let params = QueryParams::parse(query.as_deref());
    let fields = TraceFields::parse(params.string("fields").as_deref());
    let project = &auth.project_id;
    let stats = state
        .stores
        .traces
        .get_trace(project, &trace_id)
        .await?
        .ok_or_else(|| ApiError::not_found_in_project(&format!("Trace {trace_id}")))?;
    let mut object = trace_core(project, &stats.trace, fields.io);
    let observations: Vec<Value> = if fields.observations {
        let rows = state
            .stores
            .observations
            .observations_of_trace(project, &trace_id)
            .await?;
        rows.iter()
            .map(|observation| observation_v1(project, observation))
            .collect()
    } else {
        Vec::new()
    };
    let scores: Vec<Value> = if fields.scores {
        let rows = state
            .stores
            .scores
            .scores_of_trace(project, &trace_id)
            .await?;
        rows.iter()
            .map(|score| Value::Object(score_object(project, score)))
            .collect()
    } else {
        Vec::new()
    };
    object.insert("observations".into(), json!(observations));
    object.insert("scores".into(), json!(scores));
    let (total_cost, latency) = if fields.metrics {
        (stats.total_cost, stats.latency_seconds)
    } else {
        (-1.0, -1.0)
    };
    object.insert("totalCost".into(), json!(total_cost));
    object.insert("latency".into(), json!(latency));
    Ok(Json(Value::Object(object)))
}

pub async fn trace_delete(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    Path(trace_id): Path<String>,
) -> ApiResult<Json<Value>> {
    state
        .stores
        .ingest
        .delete_traces(&auth.project_id, &[trace_id])
        .await?;
    Ok(Json(json!({"message": "Trace deleted successfully"})))
}

pub async fn trace_delete_multiple(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let body = read_json(&headers, body, state.config.max_body_bytes).await?;
    let ids: Vec<String> = body
        .get("traceIds")
        .and_then(Value::as_array)
        .filter(|ids| !ids.is_empty() && ids.len() <= 1_000)
        .and_then(|ids| {
            ids.iter()
                .map(|id| id.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or_else(|| {
            ApiError::InvalidRequest(
                "Invalid request data: traceIds must be an array of 1 to 1000 strings".into(),
            )
        })?;
    state
        .stores
        .ingest
        .delete_traces(&auth.project_id, &ids)
        .await?;
    Ok(Json(json!({"message": "Traces deleted successfully"})))
}
