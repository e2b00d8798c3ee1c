//! `ModelStore` on PostgreSQL: project definitions in `models` (0005_models.sql),
//! built-ins from the binary, and a recompute job queued in the same transaction as every
//! change (processed by [`crate::recompute`]). Pricing with the definitions (at ingest
//! and in the recompute) is [`crate::cost`].

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use glassbox_model::ProjectId;
use glassbox_model::models::{ModelDefinition, builtin_models, tiers_from_json, tiers_json};
use glassbox_store::{
    MAX_PROJECT_MODELS, ModelStore, Page, PageRequest, RecomputeJob, StoreError, StoreResult,
};

use crate::recompute::{latest_job, queue_job};
use crate::{PgStore, internal};

/// The columns [`model_from_row`] reads, as a literal for `concat!`.
macro_rules! model_columns {
    () => {
        "id, project_id, model_name, match_pattern, start_date, unit, tokenizer_id, \
         tokenizer_config, pricing_tiers, created_at, updated_at"
    };
}

fn model_from_row(row: &PgRow) -> StoreResult<ModelDefinition> {
    let tiers: String = row.try_get("pricing_tiers").map_err(internal)?;
    let config: Option<String> = row.try_get("tokenizer_config").map_err(internal)?;
    let id: String = row.try_get("id").map_err(internal)?;
    // Stored by this backend after validation; an unreadable row prices nothing rather
    // than failing every write of the project (as the embedded backend).
    let tiers = serde_json::from_str::<Value>(&tiers)
        .map_err(|error| error.to_string())
        .and_then(|value| tiers_from_json(&value))
        .unwrap_or_else(|error| {
            tracing::warn!(model = %id, %error, "unreadable stored pricing tiers");
            Vec::new()
        });
    Ok(ModelDefinition {
        id,
        project_id: Some(ProjectId(row.try_get("project_id").map_err(internal)?)),
        model_name: row.try_get("model_name").map_err(internal)?,
        match_pattern: row.try_get("match_pattern").map_err(internal)?,
        start_date: row.try_get("start_date").map_err(internal)?,
        unit: row.try_get("unit").map_err(internal)?,
        tokenizer_id: row.try_get("tokenizer_id").map_err(internal)?,
        tokenizer_config: config.and_then(|text| serde_json::from_str(&text).ok()),
        pricing_tiers: tiers,
        created_at: row.try_get("created_at").map_err(internal)?,
        updated_at: row.try_get("updated_at").map_err(internal)?,
    })
}

/// Serializes the model changes of a project across processes (until commit), so the
/// limit check counts what is there. Key: `glassbox_models:<project>`; a reader that
/// must not interleave with a change may take it shared.
async fn lock_models_exclusive(
    connection: &mut PgConnection,
    project: &ProjectId,
) -> StoreResult<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("glassbox_models:{}", project.as_str()))
        .execute(connection)
        .await
        .map(drop)
        .map_err(internal)
}

fn sort_key(model: &ModelDefinition) -> (String, String, i64, String) {
    (
        model.model_name.clone(),
        model.unit.clone().unwrap_or_default(),
        // Newest start date first, none last.
        model.start_date.map_or(i64::MAX, |start| -start),
        model.id.clone(),
    )
}

fn check_project(project: &ProjectId, model: &ModelDefinition) -> StoreResult<()> {
    if model.project_id.as_ref() != Some(project) {
        return Err(StoreError::Internal("model of another project".into()));
    }
    Ok(())
}

/// Inserts a project definition (inside the caller's transaction, under the models lock);
/// the (name, start date, unit) identity and the per-project limit are conflicts.
async fn insert_model(
    connection: &mut PgConnection,
    project: &ProjectId,
    model: &ModelDefinition,
) -> StoreResult<()> {
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM models WHERE project_id = $1")
        .bind(project.as_str())
        .fetch_one(&mut *connection)
        .await
        .map_err(internal)?;
    if count.max(0) as usize >= MAX_PROJECT_MODELS {
        return Err(StoreError::Conflict(format!(
            "a project may have at most {MAX_PROJECT_MODELS} model definitions"
        )));
    }
    let inserted = sqlx::query(
        "INSERT INTO models (project_id, id, model_name, match_pattern, start_date, unit, tokenizer_id, \
         tokenizer_config, pricing_tiers, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(project.as_str())
    .bind(&model.id)
    .bind(&model.model_name)
    .bind(&model.match_pattern)
    .bind(model.start_date)
    .bind(&model.unit)
    .bind(&model.tokenizer_id)
    .bind(
        model
            .tokenizer_config
            .as_ref()
            .map(|config| config.to_string()),
    )
    .bind(tiers_json(&model.pricing_tiers).to_string())
    .bind(model.created_at)
    .bind(model.updated_at)
    .execute(connection)
    .await;
    match inserted {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
            Err(StoreError::Conflict(
                "a model with this modelName, startDate and unit already exists in the project"
                    .into(),
            ))
        }
        Err(error) => Err(internal(error)),
    }
}

/// The stored match pattern and creation time of a project definition, locked.
async fn stored_model(
    connection: &mut PgConnection,
    project: &ProjectId,
    model_id: &str,
) -> StoreResult<Option<(String, i64)>> {
    let row = sqlx::query(
        "SELECT match_pattern, created_at FROM models WHERE project_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(project.as_str())
    .bind(model_id)
    .fetch_optional(connection)
    .await
    .map_err(internal)?;
    row.map(|row| {
        Ok((
            row.try_get("match_pattern").map_err(internal)?,
            row.try_get("created_at").map_err(internal)?,
        ))
    })
    .transpose()
}

async fn delete_row(
    connection: &mut PgConnection,
    project: &ProjectId,
    model_id: &str,
) -> StoreResult<()> {
    sqlx::query("DELETE FROM models WHERE project_id = $1 AND id = $2")
        .bind(project.as_str())
        .bind(model_id)
        .execute(connection)
        .await
        .map(drop)
        .map_err(internal)
}

#[async_trait]
impl ModelStore for PgStore {
    async fn list_models(
        &self,
        project: &ProjectId,
        page: PageRequest,
    ) -> StoreResult<Page<Arc<ModelDefinition>>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            model_columns!(),
            " FROM models WHERE project_id = $1"
        ))
        .bind(project.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(internal)?;
        let mut all = rows
            .iter()
            .map(|row| model_from_row(row).map(Arc::new))
            .collect::<StoreResult<Vec<_>>>()?;
        all.extend(builtin_models().iter().cloned());
        all.sort_by_cached_key(|model| sort_key(model));
        let total_items = all.len() as u64;
        let items = all
            .into_iter()
            .skip(usize::try_from(page.offset()).unwrap_or(usize::MAX))
            .take(page.limit as usize)
            .collect();
        Ok(Page { items, total_items })
    }

    async fn get_model(
        &self,
        project: &ProjectId,
        model_id: &str,
    ) -> StoreResult<Option<Arc<ModelDefinition>>> {
        if let Some(builtin) = builtin_models().iter().find(|model| model.id == model_id) {
            return Ok(Some(builtin.clone()));
        }
        let row = sqlx::query(concat!(
            "SELECT ",
            model_columns!(),
            " FROM models WHERE project_id = $1 AND id = $2"
        ))
        .bind(project.as_str())
        .bind(model_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(internal)?;
        row.map(|row| model_from_row(&row).map(Arc::new))
            .transpose()
    }

    async fn create_model(
        &self,
        project: &ProjectId,
        model: ModelDefinition,
    ) -> StoreResult<RecomputeJob> {
        check_project(project, &model)?;
        let mut tx = self.pool.begin().await.map_err(internal)?;
        lock_models_exclusive(&mut tx, project).await?;
        insert_model(&mut tx, project, &model).await?;
        let job = queue_job(
            &mut tx,
            project,
            &model.id,
            std::slice::from_ref(&model.match_pattern),
        )
        .await?;
        tx.commit().await.map_err(internal)?;
        Ok(job)
    }

    async fn upsert_model(
        &self,
        project: &ProjectId,
        model: ModelDefinition,
    ) -> StoreResult<(ModelDefinition, RecomputeJob)> {
        check_project(project, &model)?;
        let mut tx = self.pool.begin().await.map_err(internal)?;
        lock_models_exclusive(&mut tx, project).await?;
        let mut model = model;
        let mut patterns = vec![model.match_pattern.clone()];
        if let Some((pattern, created_at)) = stored_model(&mut tx, project, &model.id).await? {
            delete_row(&mut tx, project, &model.id).await?;
            model.created_at = created_at;
            if pattern != model.match_pattern {
                patterns.push(pattern);
            }
        }
        insert_model(&mut tx, project, &model).await?;
        let job = queue_job(&mut tx, project, &model.id, &patterns).await?;
        tx.commit().await.map_err(internal)?;
        Ok((model, job))
    }

    async fn delete_model(
        &self,
        project: &ProjectId,
        model_id: &str,
    ) -> StoreResult<Option<RecomputeJob>> {
        let mut tx = self.pool.begin().await.map_err(internal)?;
        lock_models_exclusive(&mut tx, project).await?;
        let Some((pattern, _)) = stored_model(&mut tx, project, model_id).await? else {
            return Ok(None);
        };
        delete_row(&mut tx, project, model_id).await?;
        let job = queue_job(&mut tx, project, model_id, &[pattern]).await?;
        tx.commit().await.map_err(internal)?;
        Ok(Some(job))
    }

    async fn recompute_status(
        &self,
        project: &ProjectId,
        model_id: &str,
    ) -> StoreResult<Option<RecomputeJob>> {
        let mut connection = self.pool.acquire().await.map_err(internal)?;
        latest_job(&mut connection, project, model_id).await
    }
}
