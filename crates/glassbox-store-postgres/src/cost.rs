//! Model matching, usage and cost of folded observations, before their rows are written
//! (ingestion spec §1.8): the project's model definitions first, then the built-ins.
//! Tokenising inputs and outputs is CPU work, so it runs on the blocking pool.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use glassbox_model::models::{ModelDefinition, builtin_models, select_model, tiers_from_json};
use glassbox_model::pricing::infer_usage_and_cost;
use glassbox_model::tokenize::count_tokens;
use glassbox_model::{Observation, ProjectId};
use glassbox_store::{StoreError, StoreResult};

use crate::event_log::db_error;

fn model_from_row(row: &PgRow) -> Result<ModelDefinition, sqlx::Error> {
    let config: Option<String> = row.try_get(7)?;
    let tiers: String = row.try_get(8)?;
    Ok(ModelDefinition {
        id: row.try_get(0)?,
        project_id: Some(ProjectId(row.try_get(1)?)),
        model_name: row.try_get(2)?,
        match_pattern: row.try_get(3)?,
        start_date: row.try_get(4)?,
        unit: row.try_get(5)?,
        tokenizer_id: row.try_get(6)?,
        tokenizer_config: config.and_then(|text| serde_json::from_str(&text).ok()),
        pricing_tiers: serde_json::from_str::<Value>(&tiers)
            .ok()
            .and_then(|value| tiers_from_json(&value).ok())
            .unwrap_or_default(),
        created_at: row.try_get(9)?,
        updated_at: row.try_get(10)?,
    })
}

/// The project's own model definitions, read in the caller's transaction (another
/// process may have changed them, so they are not cached here).
pub(crate) async fn project_models(
    connection: &mut PgConnection,
    project: &ProjectId,
) -> StoreResult<Vec<Arc<ModelDefinition>>> {
    let rows = sqlx::query(
        "SELECT id, project_id, model_name, match_pattern, start_date, unit, tokenizer_id, \
         tokenizer_config, pricing_tiers, created_at, updated_at FROM models WHERE project_id = $1",
    )
    .bind(project.as_str())
    .fetch_all(connection)
    .await
    .map_err(db_error)?;
    rows.iter()
        .map(|row| model_from_row(row).map(Arc::new))
        .collect::<Result<_, _>>()
        .map_err(db_error)
}

/// Takes the project's model lock shared until commit: model changes (which take it
/// exclusively and queue a cost recompute) wait for this transaction, or finished before
/// it read the prices.
pub(crate) async fn lock_models_shared(
    connection: &mut PgConnection,
    project: &ProjectId,
) -> StoreResult<()> {
    sqlx::query("SELECT pg_advisory_xact_lock_shared(hashtextextended($1, 0))")
        .bind(format!("glassbox_models:{}", project.as_str()))
        .execute(connection)
        .await
        .map(drop)
        .map_err(db_error)
}

/// The built-in definition for a model string (built-ins have no start date, so the
/// choice depends on the string alone and is cached).
fn builtin_for(model: &str) -> Option<Arc<ModelDefinition>> {
    type Cache = Mutex<HashMap<String, Option<Arc<ModelDefinition>>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(found) = cache.lock().ok().and_then(|map| map.get(model).cloned()) {
        return found;
    }
    let found = select_model(builtin_models().iter(), model, 0).cloned();
    if let Ok(mut map) = cache.lock() {
        if map.len() > 10_000 {
            map.clear();
        }
        map.insert(model.to_owned(), found.clone());
    }
    found
}

/// The definition pricing `model` at `at` among `own` (the project's) and the built-ins.
pub(crate) fn match_model(
    own: &[Arc<ModelDefinition>],
    model: &str,
    at: i64,
) -> Option<Arc<ModelDefinition>> {
    select_model(own.iter(), model, at)
        .cloned()
        .or_else(|| builtin_for(model))
}

fn price(observations: &mut [Observation], own: &[Arc<ModelDefinition>]) {
    for observation in observations {
        let model = observation
            .model
            .as_deref()
            .filter(|model| !model.is_empty())
            .and_then(|model| match_model(own, model, observation.start_time));
        infer_usage_and_cost(observation, model.as_deref(), &count_tokens);
    }
}

/// Sets every observation's matched model, usage and cost.
pub(crate) async fn price_observations(
    connection: &mut PgConnection,
    project: &ProjectId,
    mut observations: Vec<Observation>,
) -> StoreResult<Vec<Observation>> {
    let any_model = observations
        .iter()
        .any(|observation| observation.model.as_deref().is_some_and(|m| !m.is_empty()));
    if !any_model {
        price(&mut observations, &[]);
        return Ok(observations);
    }
    let own = project_models(connection, project).await?;
    tokio::task::spawn_blocking(move || {
        price(&mut observations, &own);
        observations
    })
    .await
    .map_err(|error| StoreError::Internal(format!("pricing observations: {error}")))
}
