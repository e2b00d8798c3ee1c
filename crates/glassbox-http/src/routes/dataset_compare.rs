//! `GET /api/ui/v1/datasets/{datasetId}/compare?runIds=a,b[,…]` (glassbox's UI API,
//! documented in `docs/api.md`): runs of one dataset side by side, item by item (output,
//! latency, cost, scores of each run's latest run item for the item), with per-run
//! aggregates (average latency, total and average cost, average or distribution of each
//! score name, item count) and each run's run-level scores.

use std::collections::{BTreeSet, HashMap};

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use serde_json::{Map, Value, json};

use glassbox_model::datasets::{RunItemResult, aggregate_run};
use glassbox_store::{DatasetItemQuery, PageRequest, ScoreQuery};

use crate::AppState;
use crate::auth::ProjectAuth;
use crate::error::{ApiError, ApiResult};
use crate::json_fields::invalid;
use crate::params::{QueryParams, page_meta};
use crate::wire_datasets::{dataset_run, run_aggregate, run_item_result};

/// Most runs compared at once.
const MAX_RUNS: usize = 10;
/// Dataset items looked up per query.
const ITEM_CHUNK: usize = 500;
/// Run-level scores returned per run.
const MAX_RUN_SCORES: u32 = 100;

pub async fn datasets_compare_runs(
    ProjectAuth(auth): ProjectAuth,
    State(state): State<AppState>,
    Path(dataset_id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    let params = QueryParams::parse(query.as_deref());
    let page = params.page(50, 100)?;
    let mut run_ids: Vec<String> = Vec::new();
    for id in params.list("runIds") {
        if !run_ids.contains(&id) {
            run_ids.push(id);
        }
    }
    if run_ids.is_empty() || run_ids.len() > MAX_RUNS {
        return Err(invalid(format!(
            "runIds must list 1 to {MAX_RUNS} run ids (comma-separated)"
        )));
    }
    let project = &auth.project_id;
    let stores = &state.stores;
    let dataset = stores
        .datasets
        .get_dataset(project, &dataset_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("Dataset not found".into()))?;
    let mut runs = Vec::with_capacity(run_ids.len());
    for run_id in &run_ids {
        let run = stores
            .dataset_runs
            .get_run(project, run_id)
            .await?
            .filter(|run| run.dataset_id.as_deref() == Some(dataset.id.as_str()))
            .ok_or_else(|| ApiError::NotFound(format!("Dataset run {run_id} not found")))?;
        runs.push(run);
    }

    let results = stores
        .dataset_runs
        .run_item_results(project, &run_ids)
        .await?;
    let mut by_run: HashMap<&str, Vec<&RunItemResult>> = HashMap::new();
    let mut by_item: HashMap<(&str, &str), &RunItemResult> = HashMap::new();
    let mut item_ids: BTreeSet<&str> = BTreeSet::new();
    for result in &results {
        let run_item = &result.run_item;
        by_run
            .entry(run_item.run_id.as_str())
            .or_default()
            .push(result);
        by_item.insert(
            (run_item.run_id.as_str(), run_item.dataset_item_id.as_str()),
            result,
        );
        item_ids.insert(run_item.dataset_item_id.as_str());
    }

    let mut run_values = Vec::with_capacity(runs.len());
    for run in &runs {
        let aggregate = aggregate_run(by_run.get(run.id.as_str()).into_iter().flatten().copied());
        let run_scores: Vec<_> = stores
            .scores
            .list_scores(
                project,
                &ScoreQuery {
                    dataset_run_ids: vec![run.id.clone()],
                    ..ScoreQuery::default()
                },
                PageRequest {
                    page: 1,
                    limit: MAX_RUN_SCORES,
                },
            )
            .await?
            .items
            .into_iter()
            .map(|item| item.score)
            .collect();
        let mut object = dataset_run(run);
        object.insert(
            "aggregates".into(),
            run_aggregate(&aggregate, &run_scores, project),
        );
        run_values.push(Value::Object(object));
    }

    // The dataset items any of the runs ran, newest item first (the dataset's order);
    // items no longer in the dataset (deleted) come last, by id.
    let ids: Vec<String> = item_ids.iter().map(|id| (*id).to_owned()).collect();
    let mut known = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(ITEM_CHUNK) {
        let found = stores
            .datasets
            .list_dataset_items(
                project,
                &DatasetItemQuery {
                    dataset_id: Some(dataset.id.clone()),
                    ids: chunk.to_vec(),
                    include_archived: true,
                    ..DatasetItemQuery::default()
                },
                PageRequest {
                    page: 1,
                    limit: ITEM_CHUNK as u32,
                },
            )
            .await?;
        known.extend(found.items);
    }
    known.sort_by(|a, b| {
        b.created_at
            .cmp(&a.created_at)
            .then_with(|| a.id.cmp(&b.id))
    });
    let mut ordered: Vec<(String, Option<&glassbox_model::datasets::DatasetItem>)> = known
        .iter()
        .map(|item| (item.id.clone(), Some(item)))
        .collect();
    for id in &ids {
        if !known.iter().any(|item| &item.id == id) {
            ordered.push((id.clone(), None));
        }
    }
    let total_items = ordered.len() as u64;
    let items: Vec<Value> = ordered
        .iter()
        .skip(page.offset() as usize)
        .take(page.limit as usize)
        .map(|(item_id, item)| {
            let mut per_run = Map::new();
            for run in &runs {
                let value = by_item
                    .get(&(run.id.as_str(), item_id.as_str()))
                    .map(|result| run_item_result(project, result))
                    .unwrap_or(Value::Null);
                per_run.insert(run.id.clone(), value);
            }
            json!({
                "datasetItemId": item_id,
                "status": item.map(|item| item.status.as_str()),
                "input": item.and_then(|item| item.input.clone()),
                "expectedOutput": item.and_then(|item| item.expected_output.clone()),
                "metadata": item.and_then(|item| item.metadata.clone()),
                "runs": per_run,
            })
        })
        .collect();
    Ok(Json(json!({
        "datasetId": dataset.id,
        "datasetName": dataset.name,
        "runs": run_values,
        "items": items,
        "meta": page_meta(page, total_items),
    })))
}
