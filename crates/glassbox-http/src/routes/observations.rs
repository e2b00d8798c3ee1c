//! `GET /api/public/observations` (v1, pages), `/observations/{id}`, and
//! `/v2/observations` (cursor, field groups).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use base64::Engine;
use serde_json::{Value, json};

use glassbox_model::filter::OBSERVATION_COLUMNS;
use glassbox_model::time::format_iso;
use glassbox_model::{LEVELS, OBSERVATION_TYPES, Observation, Trace};
use glassbox_store::{ObservationCursor, ObservationQuery};

use crate::AppState;
use crate::auth::ProjectAuth;
use crate::error::{ApiError, ApiResult, invalid};
use crate::params::{QueryParams, page_response};
use crate::wire::{ObservationFields, TraceContext, observation_v1, observation_v2};

fn common_query(params: &QueryParams, start_prefix: &str) -> ApiResult<ObservationQuery> {
    let r#type = params.string("type");
    if r#type
        .as_deref()
        .is_some_and(|value| !OBSERVATION_TYPES.contains(&value))
    {
        return Err(invalid("type must be an observation type"));
    }
    let level = params.string("level");
    if level
        .as_deref()
        .is_some_and(|value| !LEVELS.contains(&value))
    {
        return Err(invalid("level must be DEBUG, DEFAULT, WARNING or ERROR"));
    }
    Ok(ObservationQuery {
        r#type,
        name: params.string("name"),
        user_id: params.string("userId"),
        session_id: params.string("sessionId"),
        level,
        trace_id: params.string("traceId"),
        version: params.string("version"),
        parent_observation_id: params.string("parentObservationId"),
        environments: params.repeated("environment"),
        from_start_time: params.datetime(&format!("from{start_prefix}"))?,
        to_start_time: params.datetime(&format!("to{start_prefix}"))?,
        is_root: None,
        filters: params.filter(OBSERVATION_COLUMNS)?,
    })
}

pub async fn observations_get_many(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let params = QueryParams::parse(query.as_deref());
    let page = params.page(50, 100)?;
    let query = common_query(&params, "StartTime")?;
    let result = state
        .stores
        .observations
        .list_observations(&auth.project_id, &query, page)
        .await?;
    Ok(page_response(page, &result, |item| {
        observation_v1(&auth.project_id, item)
    }))
}

pub async fn observations_get(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    Path(observation_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let observation = state
        .stores
        .observations
        .get_observation(&auth.project_id, &observation_id)
        .await?
        .ok_or_else(|| ApiError::not_found_in_project("Observation"))?;
    Ok(Json(observation_v1(&auth.project_id, &observation)))
}

fn encode_cursor(last: &Observation) -> String {
    let cursor = json!({
        "lastStartTimeTo": format_iso(last.start_time),
        "lastStartTimeMicros": last.start_time,
        "lastTraceId": last.trace_id,
        "lastId": last.id,
    });
    base64::engine::general_purpose::STANDARD.encode(cursor.to_string())
}

fn decode_cursor(text: &str) -> ApiResult<ObservationCursor> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .or_else(|_| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(text.trim().trim_end_matches('='))
        })
        .map_err(|_| invalid("cursor is not valid"))?;
    let value: Value =
        serde_json::from_slice(&bytes).map_err(|_| invalid("cursor is not valid"))?;
    let start_time = value
        .get("lastStartTimeMicros")
        .and_then(Value::as_i64)
        .or_else(|| {
            value
                .get("lastStartTimeTo")
                .and_then(Value::as_str)
                .and_then(glassbox_model::time::parse_iso_with_offset)
        })
        .ok_or_else(|| invalid("cursor is not valid"))?;
    let text_field = |key: &str| {
        value
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| invalid("cursor is not valid"))
    };
    Ok(ObservationCursor {
        start_time,
        trace_id: text_field("lastTraceId")?,
        id: text_field("lastId")?,
    })
}

pub async fn observations_v2_get_many(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let params = QueryParams::parse(query.as_deref());
    let limit = params.integer("limit")?.unwrap_or(50);
    if !(0..=1_000).contains(&limit) {
        return Err(invalid("limit must be between 0 and 1000"));
    }
    if params.string("parseIoAsJson").as_deref() == Some("true") {
        return Err(invalid(
            "parseIoAsJson=true is not supported; parse the io fields on the client",
        ));
    }
    let mut query = common_query(&params, "StartTime")?;
    query.is_root = params.boolean("isRootObservation")?;
    let cursor = params
        .string("cursor")
        .map(|text| decode_cursor(&text))
        .transpose()?;
    let fields = ObservationFields::parse(params.string("fields").as_deref());
    let expand = params.list("expandMetadata");
    let project = &auth.project_id;
    let mut rows = state
        .stores
        .observations
        .list_observations_after(project, &query, cursor.as_ref(), limit as u32 + 1)
        .await?;
    let has_more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let mut traces: HashMap<String, Option<Trace>> = HashMap::new();
    if fields.basic || fields.trace_context {
        for row in &rows {
            if !traces.contains_key(&row.trace_id) {
                let trace = state
                    .stores
                    .traces
                    .get_trace(project, &row.trace_id)
                    .await?
                    .map(|stats| stats.trace);
                traces.insert(row.trace_id.clone(), trace);
            }
        }
    }
    let data: Vec<Value> = rows
        .iter()
        .map(|row| {
            let trace = traces.get(&row.trace_id).and_then(Option::as_ref);
            observation_v2(project, row, fields, &expand, TraceContext { trace })
        })
        .collect();
    let mut meta = json!({});
    if has_more {
        if let Some(last) = rows.last() {
            meta["cursor"] = json!(encode_cursor(last));
        }
    }
    Ok(Json(json!({"data": data, "meta": meta})))
}
