//! Scores: `POST /scores` (an object, or the JSON array Python SDK 5 sends), v1/v2 page
//! reads, v3 cursor reads, and delete.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use serde_json::{Map, Value, json};

use glassbox_model::ScoreDataType;
use glassbox_model::filter::SCORE_COLUMNS;
use glassbox_store::{ScoreCursor, ScoreQuery, ValueComparison};

use crate::AppState;
use crate::auth::ApiAuth;
use crate::auth::ProjectAuth;
use crate::body::read_json;
use crate::error::{ApiError, ApiResult, invalid};
use crate::params::{QueryParams, page_response};
use crate::routes::legacy_writes::ingest_single;
use crate::wire::{ScoreV3Fields, score_v3, score_with_trace};

/// Most scores accepted in one array request.
const MAX_SCORES_PER_REQUEST: usize = 1_000;

async fn create_one(state: &AppState, auth: &ApiAuth, score: Value) -> ApiResult<String> {
    let Value::Object(mut object) = score else {
        return Err(invalid("each score must be a JSON object"));
    };
    if let Some(source) = object.get("source").and_then(Value::as_str) {
        if source == "EVAL" {
            return Err(invalid("source must be API or ANNOTATION"));
        }
    }
    let has_id = object
        .get("id")
        .and_then(Value::as_str)
        .is_some_and(|id| !id.is_empty());
    if !has_id {
        object.insert("id".into(), json!(uuid::Uuid::new_v4().to_string()));
    }
    ingest_single(state, auth, "score-create", object).await
}

pub async fn score_create(
    auth: ApiAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let body = read_json(&headers, body, state.config.max_ingestion_body_bytes).await?;
    match body {
        Value::Array(items) => {
            if items.len() > MAX_SCORES_PER_REQUEST {
                return Err(invalid(format!(
                    "at most {MAX_SCORES_PER_REQUEST} scores per request"
                )));
            }
            let (mut accepted, mut errors) = (0, Vec::new());
            for item in items {
                match create_one(&state, &auth, item).await {
                    Ok(_) => accepted += 1,
                    Err(ApiError::InvalidRequest(message) | ApiError::Forbidden(message)) => {
                        errors.push(json!({"message": message}))
                    }
                    Err(other) => return Err(other),
                }
            }
            if errors.is_empty() {
                Ok((StatusCode::ACCEPTED, Json(json!({"message": "Accepted"}))))
            } else {
                let rejected = errors.len();
                Ok((
                    StatusCode::MULTI_STATUS,
                    Json(json!({"accepted": accepted, "rejected": rejected, "errors": errors})),
                ))
            }
        }
        object @ Value::Object(_) => {
            let id = create_one(&state, &auth, object).await?;
            Ok((StatusCode::OK, Json(json!({ "id": id }))))
        }
        _ => Err(invalid(
            "the body must be a score object or an array of scores",
        )),
    }
}

fn data_types(params: &QueryParams) -> ApiResult<Vec<ScoreDataType>> {
    params
        .list("dataType")
        .iter()
        .map(|text| {
            ScoreDataType::parse(text).ok_or_else(|| {
                invalid("dataType must be NUMERIC, CATEGORICAL, BOOLEAN, TEXT or CORRECTION")
            })
        })
        .collect()
}

fn value_comparison(params: &QueryParams) -> ApiResult<Vec<ValueComparison>> {
    let Some(value) = params.number("value")? else {
        return Ok(Vec::new());
    };
    let comparison = match params.string("operator").as_deref().unwrap_or("=") {
        "<" => ValueComparison::Lt(value),
        ">" => ValueComparison::Gt(value),
        "<=" => ValueComparison::Lte(value),
        ">=" => ValueComparison::Gte(value),
        "=" => ValueComparison::Eq(value),
        "!=" => ValueComparison::NotEq(value),
        _ => return Err(invalid("operator must be one of <, >, <=, >=, =, !=")),
    };
    Ok(vec![comparison])
}

fn sources(params: &QueryParams) -> ApiResult<Vec<String>> {
    params
        .list("source")
        .into_iter()
        .map(|source| {
            let upper = source.to_uppercase();
            if glassbox_model::SCORE_SOURCES.contains(&upper.as_str()) {
                Ok(upper)
            } else {
                Err(invalid("source must be API, EVAL or ANNOTATION"))
            }
        })
        .collect()
}

fn page_query(params: &QueryParams, v2: bool) -> ApiResult<ScoreQuery> {
    let mut query = ScoreQuery {
        ids: params.list("scoreIds"),
        names: params.repeated("name"),
        user_id: params.string("userId"),
        from_timestamp: params.datetime("fromTimestamp")?,
        to_timestamp: params.datetime("toTimestamp")?,
        environments: params.repeated("environment"),
        sources: sources(params)?,
        data_types: data_types(params)?,
        value: value_comparison(params)?,
        config_ids: params.repeated("configId"),
        queue_ids: params.repeated("queueId"),
        trace_tags: params.repeated("traceTags"),
        only_trace_targets: !v2,
        filters: params.filter(SCORE_COLUMNS)?,
        ..ScoreQuery::default()
    };
    if v2 {
        query.session_ids = params.list("sessionId");
        query.trace_ids = params.list("traceId");
        query.dataset_run_ids = params.list("datasetRunId");
        query.observation_ids = params.list("observationId");
    } else if query.data_types.contains(&ScoreDataType::Correction) {
        return Err(invalid(
            "CORRECTION scores are only available through /v2/scores",
        ));
    }
    Ok(query)
}

async fn list_pages(
    auth: ApiAuth,
    state: AppState,
    query: Option<String>,
    v2: bool,
) -> ApiResult<Json<Value>> {
    let params = QueryParams::parse(query.as_deref());
    let page = params.page(50, 100)?;
    let query = page_query(&params, v2)?;
    let include_trace = if v2 {
        match params.string("fields") {
            None => true,
            Some(fields) => {
                let has = |name: &str| fields.split(',').any(|item| item.trim() == name);
                if !has("score") {
                    return Err(invalid("fields must include `score`"));
                }
                has("trace")
            }
        }
    } else {
        true
    };
    if v2 && !include_trace && (query.user_id.is_some() || !query.trace_tags.is_empty()) {
        return Err(invalid("trace filters need the `trace` field group"));
    }
    let result = state
        .stores
        .scores
        .list_scores(&auth.project_id, &query, page)
        .await?;
    Ok(page_response(page, &result, |item| {
        score_with_trace(&auth.project_id, item, include_trace, v2)
    }))
}

pub async fn score_get_v1(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    list_pages(auth, state, query, false).await
}

pub async fn score_v2_get(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    list_pages(auth, state, query, true).await
}

async fn get_by_id(
    auth: ApiAuth,
    state: AppState,
    score_id: String,
    v2: bool,
) -> ApiResult<Json<Value>> {
    let found = state
        .stores
        .scores
        .get_score(&auth.project_id, &score_id)
        .await?
        .filter(|item| {
            v2 || (item.score.trace_id.is_some()
                && item.score.data_type != ScoreDataType::Correction)
        })
        .ok_or_else(|| ApiError::NotFound("Score not found".into()))?;
    Ok(Json(score_with_trace(&auth.project_id, &found, true, v2)))
}

pub async fn score_get_by_id_v1(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    Path(score_id): Path<String>,
) -> ApiResult<Json<Value>> {
    get_by_id(auth, state, score_id, false).await
}

pub async fn score_v2_get_by_id(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    Path(score_id): Path<String>,
) -> ApiResult<Json<Value>> {
    get_by_id(auth, state, score_id, true).await
}

pub async fn score_delete(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    Path(score_id): Path<String>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    state
        .stores
        .ingest
        .delete_score(&auth.project_id, &score_id)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"message": "Score deletion queued successfully"})),
    ))
}

const V3_PARAMS: &[&str] = &[
    "limit",
    "cursor",
    "fields",
    "id",
    "name",
    "source",
    "dataType",
    "environment",
    "configId",
    "queueId",
    "authorUserId",
    "value",
    "traceId",
    "sessionId",
    "observationId",
    "experimentId",
    "valueMin",
    "valueMax",
    "fromTimestamp",
    "toTimestamp",
];

fn v3_cursor_encode(timestamp: i64, id: &str) -> String {
    let cursor = json!({"v": 1, "lastTimestamp": glassbox_model::time::format_iso(timestamp), "lastTimestampMicros": timestamp, "lastId": id});
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(cursor.to_string())
}

fn v3_cursor_decode(text: &str) -> ApiResult<ScoreCursor> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim().trim_end_matches('='))
        .map_err(|_| invalid("cursor is not valid"))?;
    let value: Map<String, Value> =
        serde_json::from_slice(&bytes).map_err(|_| invalid("cursor is not valid"))?;
    let timestamp = value
        .get("lastTimestampMicros")
        .and_then(Value::as_i64)
        .or_else(|| {
            value
                .get("lastTimestamp")
                .and_then(Value::as_str)
                .and_then(glassbox_model::time::parse_iso_lenient)
        })
        .ok_or_else(|| invalid("cursor is not valid"))?;
    let id = value
        .get("lastId")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("cursor is not valid"))?;
    Ok(ScoreCursor {
        timestamp,
        id: id.to_owned(),
    })
}

pub async fn score_v3_get(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let params = QueryParams::parse(query.as_deref());
    if let Some(unknown) = params.keys().find(|key| !V3_PARAMS.contains(key)) {
        let hint = if matches!(unknown, "userId" | "traceTags") {
            "; use /api/public/v2/scores"
        } else {
            ""
        };
        return Err(invalid(format!(
            "unknown query parameter `{unknown}`{hint}"
        )));
    }
    let limit = params.integer("limit")?.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(invalid("limit must be between 1 and 100"));
    }
    let mut fields = ScoreV3Fields::default();
    for group in params.list("fields") {
        match group.as_str() {
            "core" => {}
            "details" => fields.details = true,
            "subject" => fields.subject = true,
            "annotation" => fields.annotation = true,
            other => return Err(invalid(format!("unknown field group `{other}`"))),
        }
    }
    let data_types = data_types(&params)?;
    let mut query = ScoreQuery {
        ids: params.list("id"),
        names: params.list("name"),
        sources: sources(&params)?,
        data_types: data_types.clone(),
        environments: params.list("environment"),
        config_ids: params.list("configId"),
        queue_ids: params.list("queueId"),
        author_user_ids: params.list("authorUserId"),
        trace_ids: params.list("traceId"),
        session_ids: params.list("sessionId"),
        observation_ids: params.list("observationId"),
        dataset_run_ids: params.list("experimentId"),
        from_timestamp: params.lenient_datetime("fromTimestamp")?,
        to_timestamp: params.lenient_datetime("toTimestamp")?,
        ..ScoreQuery::default()
    };
    let targets = [&query.trace_ids, &query.session_ids, &query.dataset_run_ids]
        .iter()
        .filter(|list| !list.is_empty())
        .count();
    if targets > 1 {
        return Err(invalid(
            "give at most one of traceId, sessionId and experimentId",
        ));
    }
    if !query.observation_ids.is_empty() && query.trace_ids.is_empty() {
        return Err(invalid("observationId requires traceId"));
    }
    let values = params.list("value");
    if !values.is_empty() {
        match data_types.as_slice() {
            [ScoreDataType::Numeric] => {
                for value in &values {
                    let number = value
                        .parse::<f64>()
                        .map_err(|_| invalid("value must be numeric for NUMERIC scores"))?;
                    query.value.push(ValueComparison::Eq(number));
                }
                if query.value.len() > 1 {
                    return Err(invalid(
                        "give one numeric value, or use valueMin and valueMax",
                    ));
                }
            }
            [ScoreDataType::Boolean] => {
                let flag = match values.as_slice() {
                    [only] if only == "true" => 1.0,
                    [only] if only == "false" => 0.0,
                    _ => return Err(invalid("value must be true or false for BOOLEAN scores")),
                };
                query.value.push(ValueComparison::Eq(flag));
            }
            [ScoreDataType::Categorical] => query.string_values = values,
            _ => {
                return Err(invalid(
                    "value requires exactly one dataType of NUMERIC, BOOLEAN or CATEGORICAL",
                ));
            }
        }
    }
    for (key, make) in [
        (
            "valueMin",
            ValueComparison::Gte as fn(f64) -> ValueComparison,
        ),
        ("valueMax", ValueComparison::Lte),
    ] {
        if let Some(bound) = params.number(key)? {
            if data_types.as_slice() != [ScoreDataType::Numeric] {
                return Err(invalid(format!("{key} requires dataType=NUMERIC")));
            }
            query.value.push(make(bound));
        }
    }
    let cursor = params
        .string("cursor")
        .map(|text| v3_cursor_decode(&text))
        .transpose()?;
    let mut rows = state
        .stores
        .scores
        .list_scores_after(&auth.project_id, &query, cursor.as_ref(), limit as u32 + 1)
        .await?;
    let has_more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let data: Vec<Value> = rows
        .iter()
        .map(|row| score_v3(&auth.project_id, &row.score, fields))
        .collect();
    let mut meta = json!({"limit": limit});
    if has_more {
        if let Some(last) = rows.last() {
            meta["cursor"] = json!(v3_cursor_encode(last.score.timestamp, &last.score.id));
        }
    }
    Ok(Json(json!({"data": data, "meta": meta})))
}
