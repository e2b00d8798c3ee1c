//! View-shaped reads of the web UI beyond traces and sessions: the users list and a
//! user's page, the generations table, and the dashboard's metrics (the public metrics
//! engine behind the cookie session).

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use serde_json::{Map, Value, json};

use glassbox_model::filter::{FilterCondition, FilterValue, OBSERVATION_COLUMNS, Operator};
use glassbox_model::metrics::{ApiVersion, parse_query_value};
use glassbox_model::{Observation, ProjectId, Role};
use glassbox_store::{
    MetricsOptions, ObservationQuery, UserOrder, UserQuery, UserSession, UserSummary,
};

use super::session::{UiUser, require_project_role};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::metrics_wire::metrics_rows;
use crate::params::{QueryParams, page_response};

fn invalid(message: String) -> ApiError {
    ApiError::InvalidRequest(format!("Invalid request data: {message}"))
}

fn micros_to_ms(micros: i64) -> f64 {
    micros as f64 / 1_000.0
}

fn user_row(user: &UserSummary) -> Value {
    json!({
        "userId": user.user_id,
        "traceCount": user.trace_count,
        "sessionCount": user.session_count,
        "inputTokens": user.input_tokens,
        "outputTokens": user.output_tokens,
        "totalTokens": user.total_tokens,
        "totalCost": user.total_cost,
        "firstSeen": micros_to_ms(user.first_seen),
        "lastSeen": micros_to_ms(user.last_seen),
    })
}

fn user_session(session: &UserSession) -> Value {
    json!({
        "sessionId": session.session_id,
        "traceCount": session.trace_count,
        "firstSeen": micros_to_ms(session.first_seen),
        "lastSeen": micros_to_ms(session.last_seen),
    })
}

/// `GET /projects/{project_id}/users`: `page`, `limit` (≤ 100), `orderBy`
/// (`lastSeen|totalCost` `.asc|.desc`, default `lastSeen.desc`), `search` (user id
/// contains), `fromTimestamp`, `toTimestamp` (on the traces' timestamps).
pub async fn users_list(
    State(state): State<AppState>,
    user: UiUser,
    Path(project_id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let project = ProjectId(project_id);
    require_project_role(&state, &user, &project, Role::Viewer).await?;
    let params = QueryParams::parse(query.as_deref());
    let page = params.page(50, 100)?;
    let order = match params.string("orderBy").as_deref() {
        None | Some("lastSeen.desc") => UserOrder::LastSeenDesc,
        Some("lastSeen.asc") => UserOrder::LastSeenAsc,
        Some("totalCost.desc") => UserOrder::TotalCostDesc,
        Some("totalCost.asc") => UserOrder::TotalCostAsc,
        Some(other) => {
            return Err(invalid(format!(
                "orderBy `{other}` must be lastSeen or totalCost with .asc or .desc"
            )));
        }
    };
    let user_query = UserQuery {
        from_timestamp: params.lenient_datetime("fromTimestamp")?,
        to_timestamp: params.lenient_datetime("toTimestamp")?,
        search: params
            .string("search")
            .map(|text| text.trim().to_owned())
            .filter(|text| !text.is_empty()),
        order,
    };
    let result = state
        .stores
        .user_views
        .list_users(&project, &user_query, page)
        .await?;
    Ok(page_response(page, &result, user_row))
}

/// `GET /projects/{project_id}/users/{user_id}`: the user's totals and their sessions (at
/// most 100, most recent first). Their traces: the traces table with `userId`.
pub async fn user_detail(
    State(state): State<AppState>,
    user: UiUser,
    Path((project_id, user_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let project = ProjectId(project_id);
    require_project_role(&state, &user, &project, Role::Viewer).await?;
    let found = state
        .stores
        .user_views
        .get_user(&project, &user_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("User not found".into()))?;
    let sessions = state
        .stores
        .user_views
        .sessions_of_user(&project, &user_id, 100)
        .await?;
    let mut object = match user_row(&found) {
        Value::Object(object) => object,
        _ => Map::new(),
    };
    object.insert(
        "sessions".into(),
        Value::Array(sessions.iter().map(user_session).collect()),
    );
    Ok(Json(Value::Object(object)))
}

/// Sum of the usage values whose key contains `part`.
fn usage_sum(observation: &Observation, part: &str) -> f64 {
    observation
        .usage_details
        .iter()
        .filter(|(key, _)| key.contains(part))
        .filter_map(|(_, value)| value.as_f64())
        .sum()
}

fn generation_row(observation: &Observation) -> Value {
    let input = usage_sum(observation, "input");
    let output = usage_sum(observation, "output");
    let total = observation
        .usage_details
        .get("total")
        .and_then(Value::as_f64)
        .unwrap_or(input + output);
    let seconds = |micros: i64| micros as f64 / 1_000_000.0;
    json!({
        "id": observation.id,
        "traceId": observation.trace_id,
        "type": observation.r#type,
        "name": observation.name,
        "model": observation.model,
        "startTime": micros_to_ms(observation.start_time),
        "latency": observation.end_time.map(|end| seconds(end - observation.start_time)),
        "timeToFirstToken": observation
            .completion_start_time
            .map(|first| seconds(first - observation.start_time)),
        "inputTokens": input,
        "outputTokens": output,
        "totalTokens": total,
        "totalCost": observation.total_cost,
        "level": observation.level,
        "environment": observation.environment,
        "promptName": observation.prompt_name,
        "promptVersion": observation.prompt_version,
    })
}

/// `GET /projects/{project_id}/generations`: generations newest first. `page`, `limit`
/// (≤ 100), `model` (any of; repeated or comma-separated), `name`, `level`,
/// `environment`, `fromTimestamp`, `toTimestamp` (on the start time), `filter` (the
/// public observations filter JSON).
pub async fn generations_list(
    State(state): State<AppState>,
    user: UiUser,
    Path(project_id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let project = ProjectId(project_id);
    require_project_role(&state, &user, &project, Role::Viewer).await?;
    let params = QueryParams::parse(query.as_deref());
    let page = params.page(50, 100)?;
    let mut filters = params.filter(OBSERVATION_COLUMNS)?;
    let models = params.list("model");
    if !models.is_empty() {
        filters.push(FilterCondition {
            column: "model",
            operator: Operator::AnyOf,
            value: FilterValue::Options(models),
        });
    }
    let observation_query = ObservationQuery {
        r#type: Some("GENERATION".into()),
        name: params.string("name"),
        level: params.string("level"),
        environments: params.list("environment"),
        from_start_time: params.lenient_datetime("fromTimestamp")?,
        to_start_time: params.lenient_datetime("toTimestamp")?,
        filters,
        ..Default::default()
    };
    let result = state
        .stores
        .observations
        .list_observations(&project, &observation_query, page)
        .await?;
    Ok(page_response(page, &result, generation_row))
}

/// `GET /projects/{project_id}/metrics?query=<JSON>`: the metrics engine of
/// `/api/public/v2/metrics` (same query and answer); the `traces` view is allowed too,
/// with the v1 query model.
pub async fn metrics_query(
    State(state): State<AppState>,
    user: UiUser,
    Path(project_id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let project = ProjectId(project_id);
    require_project_role(&state, &user, &project, Role::Viewer).await?;
    let params = QueryParams::parse(query.as_deref());
    let text = params
        .string("query")
        .ok_or_else(|| invalid("the query parameter is required".into()))?;
    let value: Value = serde_json::from_str(&text)
        .map_err(|error| invalid(format!("query is not JSON: {error}")))?;
    let version = if value.get("view").and_then(Value::as_str) == Some("traces") {
        ApiVersion::V1
    } else {
        ApiVersion::V2
    };
    let metrics = parse_query_value(&value, version).map_err(invalid)?;
    let rows = state
        .stores
        .metrics
        .query_metrics(&project, &metrics, MetricsOptions::default())
        .await?;
    Ok(Json(metrics_rows(&metrics, &rows)))
}
