//! View-shaped reads of traces, observations and sessions for the web UI.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use serde_json::{Map, Value, json};

use glassbox_model::filter::{FilterCondition, FilterValue, Operator, TRACE_COLUMNS};
use glassbox_model::{Observation, ProjectId, Role};
use glassbox_store::{SessionQuery, TraceQuery, TraceRowStats, TraceWithStats};

use super::session::{UiUser, require_project_role};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::params::{QueryParams, page_meta, page_response};
use crate::routes::traces::parse_order;
use crate::wire::{observation_v1, score_object, session, trace_core};

fn micros_to_ms(micros: i64) -> f64 {
    micros as f64 / 1_000.0
}

fn trace_row(item: &TraceWithStats, stats: Option<&TraceRowStats>) -> Value {
    let trace = &item.trace;
    let default_stats = TraceRowStats::default();
    let stats = stats.unwrap_or(&default_stats);
    let scores: Map<String, Value> = stats
        .scores
        .iter()
        .map(|(name, value)| (name.clone(), json!(value)))
        .collect();
    json!({
        "id": trace.id,
        "timestamp": micros_to_ms(trace.timestamp),
        "name": trace.name,
        "userId": trace.user_id,
        "sessionId": trace.session_id,
        "tags": trace.tags,
        "environment": trace.environment,
        "release": trace.release,
        "version": trace.version,
        "bookmarked": trace.bookmarked,
        "level": stats.level,
        "latency": item.latency_seconds,
        "totalCost": item.total_cost,
        "inputTokens": stats.input_tokens,
        "outputTokens": stats.output_tokens,
        "totalTokens": stats.total_tokens,
        "observationCount": stats.observation_count,
        "scores": scores,
    })
}

async fn rows(
    state: &AppState,
    project: &ProjectId,
    items: &[TraceWithStats],
) -> ApiResult<Vec<Value>> {
    let ids: Vec<String> = items.iter().map(|item| item.trace.id.clone()).collect();
    let stats = state.stores.ui_views.trace_row_stats(project, &ids).await?;
    Ok(items
        .iter()
        .map(|item| trace_row(item, stats.get(&item.trace.id)))
        .collect())
}

/// `GET /projects/{project_id}/traces`: the traces table. Parameters: `page`, `limit`
/// (≤ 100), `orderBy` (`timestamp.desc`...), `name`, `userId`, `sessionId`, `tags`,
/// `environment` (repeated or comma-separated), `fromTimestamp`, `toTimestamp`,
/// `search` (id or name contains), `filter` (the advanced filter JSON of the public API:
/// level, metadata, scores, tokens, cost...).
pub async fn traces_list(
    State(state): State<AppState>,
    user: UiUser,
    Path(project_id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let project = ProjectId(project_id);
    require_project_role(&state, &user, &project, Role::Viewer).await?;
    let params = QueryParams::parse(query.as_deref());
    let page = params.page(50, 100)?;
    let mut filters = params.filter(TRACE_COLUMNS)?;
    if let Some(search) = params
        .string("search")
        .filter(|text| !text.trim().is_empty())
    {
        let search = search.trim().to_owned();
        let column = if params.string("searchType").as_deref() == Some("id") {
            "id"
        } else {
            "name"
        };
        filters.push(FilterCondition {
            column,
            operator: Operator::Contains,
            value: FilterValue::String(search),
        });
    }
    let trace_query = TraceQuery {
        user_id: params.string("userId"),
        name: params.string("name"),
        session_id: params.string("sessionId"),
        tags: params.list("tags"),
        environments: params.list("environment"),
        from_timestamp: params.lenient_datetime("fromTimestamp")?,
        to_timestamp: params.lenient_datetime("toTimestamp")?,
        order: match params.string("orderBy") {
            Some(text) => parse_order(&text)?,
            None => Default::default(),
        },
        filters,
        ..Default::default()
    };
    let result = state
        .stores
        .traces
        .list_traces(&project, &trace_query, page)
        .await?;
    let data = rows(&state, &project, &result.items).await?;
    Ok(Json(
        json!({"data": data, "meta": page_meta(page, result.total_items)}),
    ))
}

/// An observation without input, output and metadata: what the tree and the timeline
/// need for every node. Times are epoch milliseconds.
fn observation_node(observation: &Observation) -> Value {
    json!({
        "id": observation.id,
        "parentId": observation.parent_observation_id,
        "type": observation.r#type,
        "name": observation.name,
        "startTime": micros_to_ms(observation.start_time),
        "endTime": observation.end_time.map(micros_to_ms),
        "completionStartTime": observation.completion_start_time.map(micros_to_ms),
        "level": observation.level,
        "model": observation.model,
        "totalCost": observation.total_cost,
        "totalTokens": observation.usage_details.get("total"),
    })
}

/// `GET /projects/{project_id}/traces/{trace_id}`: the trace with its input/output, every
/// observation as a compact node, and its scores.
pub async fn trace_detail(
    State(state): State<AppState>,
    user: UiUser,
    Path((project_id, trace_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let project = ProjectId(project_id);
    require_project_role(&state, &user, &project, Role::Viewer).await?;
    let found = state
        .stores
        .traces
        .get_trace(&project, &trace_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("Trace not found".into()))?;
    let observations = state
        .stores
        .observations
        .observations_of_trace(&project, &trace_id)
        .await?;
    let scores = state
        .stores
        .scores
        .scores_of_trace(&project, &trace_id)
        .await?;
    let mut trace = trace_core(&project, &found.trace, true);
    trace.insert(
        "timestampMs".into(),
        json!(micros_to_ms(found.trace.timestamp)),
    );
    trace.insert("latency".into(), json!(found.latency_seconds));
    trace.insert("totalCost".into(), json!(found.total_cost));
    Ok(Json(json!({
        "trace": trace,
        "observations": observations.iter().map(observation_node).collect::<Vec<_>>(),
        "scores": scores.iter().map(|score| Value::Object(score_object(&project, score))).collect::<Vec<_>>(),
    })))
}

/// `GET /projects/{project_id}/observations/{observation_id}`: one observation in full
/// (the public API's v1 shape: input, output, usage, cost, latency, time to first token).
pub async fn observation_detail(
    State(state): State<AppState>,
    user: UiUser,
    Path((project_id, observation_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let project = ProjectId(project_id);
    require_project_role(&state, &user, &project, Role::Viewer).await?;
    let observation = state
        .stores
        .observations
        .get_observation(&project, &observation_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("Observation not found".into()))?;
    Ok(Json(observation_v1(&project, &observation)))
}

/// `GET /projects/{project_id}/sessions`: newest first.
pub async fn sessions_list(
    State(state): State<AppState>,
    user: UiUser,
    Path(project_id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let project = ProjectId(project_id);
    require_project_role(&state, &user, &project, Role::Viewer).await?;
    let params = QueryParams::parse(query.as_deref());
    let page = params.page(50, 100)?;
    let session_query = SessionQuery {
        from_timestamp: params.lenient_datetime("fromTimestamp")?,
        to_timestamp: params.lenient_datetime("toTimestamp")?,
        environments: params.list("environment"),
    };
    let result = state
        .stores
        .sessions
        .list_sessions(&project, &session_query, page)
        .await?;
    Ok(page_response(page, &result, |item| {
        Value::Object(session(&project, item))
    }))
}

/// `GET /projects/{project_id}/sessions/{session_id}`: the session's traces, oldest first,
/// with their input and output (the conversation) and table statistics.
pub async fn session_detail(
    State(state): State<AppState>,
    user: UiUser,
    Path((project_id, session_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let project = ProjectId(project_id);
    require_project_role(&state, &user, &project, Role::Viewer).await?;
    let found = state
        .stores
        .sessions
        .get_session(&project, &session_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("Session not found".into()))?;
    let traces = state
        .stores
        .sessions
        .traces_of_session(&project, &session_id)
        .await?;
    let ids: Vec<String> = traces.iter().map(|trace| trace.id.clone()).collect();
    let stats = state
        .stores
        .ui_views
        .trace_row_stats(&project, &ids)
        .await?;
    let traces: Vec<Value> = traces
        .iter()
        .map(|trace| {
            let mut object = trace_core(&project, trace, true);
            object.insert("timestampMs".into(), json!(micros_to_ms(trace.timestamp)));
            if let Some(stats) = stats.get(&trace.id) {
                object.insert("totalTokens".into(), json!(stats.total_tokens));
                object.insert("level".into(), json!(stats.level));
            }
            Value::Object(object)
        })
        .collect();
    let mut object = session(&project, &found);
    object.insert("traces".into(), Value::Array(traces));
    Ok(Json(Value::Object(object)))
}
