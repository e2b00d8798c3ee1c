//! Experiments (Langfuse v4): `GET /experiments` and `GET /experiment-items`, cursor
//! pages over the dataset runs and run items, whichever path created them (OTLP span
//! attributes or `POST /dataset-run-items`). An item's times, level, environment and
//! input/output come from the observation it links to (the item's root span).

use axum::Json;
use axum::extract::{RawQuery, State};
use base64::Engine;
use serde_json::{Map, Value, json};

use glassbox_model::datasets::{EXPERIMENT_COLUMNS, EXPERIMENT_ITEM_COLUMNS};
use glassbox_model::time::{format_iso, parse_iso_with_offset};
use glassbox_model::{Micros, ProjectId, Score};
use glassbox_store::{
    ExperimentCursor, ExperimentItemCursor, ExperimentQuery, PageRequest, ScoreQuery,
};

use crate::AppState;
use crate::auth::ProjectAuth;
use crate::error::{ApiError, ApiResult};
use crate::json_fields::invalid;
use crate::params::QueryParams;
use crate::wire_datasets::{ExperimentItemFields, experiment, experiment_item};

/// Most values in one comma-separated filter list.
const MAX_LIST_VALUES: usize = 100;

fn encode_cursor(cursor: Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(cursor.to_string())
}

fn decode_cursor(text: &str) -> ApiResult<Map<String, Value>> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim().trim_end_matches('='))
        .map_err(|_| invalid("cursor is not valid"))?;
    let cursor: Map<String, Value> =
        serde_json::from_slice(&bytes).map_err(|_| invalid("cursor is not valid"))?;
    if cursor.get("v") != Some(&json!(1)) {
        return Err(invalid("cursor is not valid"));
    }
    Ok(cursor)
}

fn cursor_text(cursor: &Map<String, Value>, key: &str) -> ApiResult<String> {
    cursor
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| invalid("cursor is not valid"))
}

fn cursor_time(cursor: &Map<String, Value>) -> ApiResult<Micros> {
    cursor
        .get("lastTimeMicros")
        .and_then(Value::as_i64)
        .or_else(|| {
            cursor
                .get("lastTime")
                .and_then(Value::as_str)
                .and_then(parse_iso_with_offset)
        })
        .ok_or_else(|| invalid("cursor is not valid"))
}

fn bounded_list(params: &QueryParams, key: &str) -> ApiResult<Vec<String>> {
    let values = params.list(key);
    if values.len() > MAX_LIST_VALUES {
        return Err(invalid(format!(
            "{key} may list at most {MAX_LIST_VALUES} values"
        )));
    }
    Ok(values)
}

/// `limit` (1..=100, 50) and `scoreLimit` (1..=50, 50).
fn limits(params: &QueryParams) -> ApiResult<(u32, u32)> {
    let limit = params.integer("limit")?.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(invalid("limit must be between 1 and 100"));
    }
    let score_limit = params.integer("scoreLimit")?.unwrap_or(50);
    if !(1..=50).contains(&score_limit) {
        return Err(invalid("scoreLimit must be between 1 and 50"));
    }
    Ok((limit as u32, score_limit as u32))
}

fn time_range(params: &QueryParams) -> ApiResult<(Micros, Option<Micros>)> {
    let from = params
        .datetime("fromStartTime")?
        .ok_or_else(|| invalid("fromStartTime is required"))?;
    Ok((from, params.datetime("toStartTime")?))
}

fn field_groups(
    params: &QueryParams,
    allowed: &[&str],
    default: &[&str],
) -> ApiResult<Vec<String>> {
    let groups = params.list("fields");
    if groups.is_empty() {
        return Ok(default.iter().map(|group| (*group).to_owned()).collect());
    }
    if let Some(unknown) = groups
        .iter()
        .find(|group| !allowed.contains(&group.as_str()))
    {
        return Err(invalid(format!("unknown field group `{unknown}`")));
    }
    Ok(groups)
}

async fn run_scores(
    state: &AppState,
    project: &ProjectId,
    run_id: &str,
    limit: u32,
) -> ApiResult<Vec<Score>> {
    let query = ScoreQuery {
        dataset_run_ids: vec![run_id.to_owned()],
        ..ScoreQuery::default()
    };
    Ok(state
        .stores
        .scores
        .list_scores(project, &query, PageRequest { page: 1, limit })
        .await?
        .items
        .into_iter()
        .map(|item| item.score)
        .collect())
}

pub async fn experiments_list(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let params = QueryParams::parse(query.as_deref());
    let (limit, score_limit) = limits(&params)?;
    let (from_start_time, to_start_time) = time_range(&params)?;
    let groups = field_groups(&params, &["core", "metadata", "scores"], &["core"])?;
    let experiment_query = ExperimentQuery {
        from_start_time,
        to_start_time,
        experiment_ids: bounded_list(&params, "id")?,
        experiment_names: bounded_list(&params, "name")?,
        dataset_ids: bounded_list(&params, "datasetId")?,
        filters: params.filter(EXPERIMENT_COLUMNS)?,
        ..ExperimentQuery::default()
    };
    let cursor = params
        .string("cursor")
        .map(|text| {
            let cursor = decode_cursor(&text)?;
            Ok::<_, ApiError>(ExperimentCursor {
                end_time: cursor_time(&cursor)?,
                id: cursor_text(&cursor, "lastExperimentId")?,
            })
        })
        .transpose()?;
    let mut rows = state
        .stores
        .dataset_runs
        .list_experiments(
            &auth.project_id,
            &experiment_query,
            cursor.as_ref(),
            limit + 1,
        )
        .await?;
    let has_more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let with_metadata = groups.iter().any(|group| group == "metadata");
    let with_scores = groups.iter().any(|group| group == "scores");
    let mut data = Vec::with_capacity(rows.len());
    for row in &rows {
        let scores = if with_scores {
            Some(run_scores(&state, &auth.project_id, &row.run.id, score_limit).await?)
        } else {
            None
        };
        data.push(experiment(
            &auth.project_id,
            row,
            with_metadata,
            scores.as_deref(),
        ));
    }
    let mut meta = json!({});
    if has_more && let Some(last) = rows.last() {
        meta["cursor"] = json!(encode_cursor(json!({
            "v": 1,
            "lastTime": format_iso(last.end_time),
            "lastTimeMicros": last.end_time,
            "lastExperimentId": last.run.id,
        })));
    }
    Ok(Json(json!({"data": data, "meta": meta})))
}

pub async fn experiments_list_items(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let params = QueryParams::parse(query.as_deref());
    let (limit, score_limit) = limits(&params)?;
    let (from_start_time, to_start_time) = time_range(&params)?;
    let groups = field_groups(
        &params,
        &[
            "core",
            "dataset",
            "io",
            "metadata",
            "itemMetadata",
            "experimentMetadata",
            "scores",
        ],
        &["core", "dataset"],
    )?;
    let has = |name: &str| groups.iter().any(|group| group == name);
    let fields = ExperimentItemFields {
        dataset: has("dataset"),
        io: has("io"),
        metadata: has("metadata"),
        item_metadata: has("itemMetadata"),
        experiment_metadata: has("experimentMetadata"),
        scores: has("scores"),
    };
    let experiment_query = ExperimentQuery {
        from_start_time,
        to_start_time,
        experiment_ids: bounded_list(&params, "experimentId")?,
        experiment_names: bounded_list(&params, "experimentName")?,
        dataset_ids: bounded_list(&params, "datasetId")?,
        item_ids: bounded_list(&params, "experimentItemId")?,
        filters: params.filter(EXPERIMENT_ITEM_COLUMNS)?,
    };
    let cursor = params
        .string("cursor")
        .map(|text| {
            let cursor = decode_cursor(&text)?;
            Ok::<_, ApiError>(ExperimentItemCursor {
                start_time: cursor_time(&cursor)?,
                trace_id: cursor_text(&cursor, "lastTraceId")?,
                id: cursor_text(&cursor, "lastId")?,
            })
        })
        .transpose()?;
    let mut rows = state
        .stores
        .dataset_runs
        .list_experiment_items(
            &auth.project_id,
            &experiment_query,
            cursor.as_ref(),
            limit + 1,
        )
        .await?;
    let has_more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let mut data = Vec::with_capacity(rows.len());
    for row in &rows {
        let scores = if fields.scores {
            let mut scores = state
                .stores
                .scores
                .scores_of_trace(&auth.project_id, &row.run_item.trace_id)
                .await?;
            scores.truncate(score_limit as usize);
            Some(scores)
        } else {
            None
        };
        data.push(experiment_item(
            &auth.project_id,
            row,
            fields,
            scores.as_deref(),
        ));
    }
    let mut meta = json!({});
    if has_more && let Some(last) = rows.last() {
        meta["cursor"] = json!(encode_cursor(json!({
            "v": 1,
            "lastTime": format_iso(last.start_time),
            "lastTimeMicros": last.start_time,
            "lastTraceId": last.run_item.trace_id,
            "lastId": last.run_item.id,
        })));
    }
    Ok(Json(json!({"data": data, "meta": meta})))
}
