//! `ModelStore` on SQLite: project definitions in `models`, built-ins from the binary,
//! recompute jobs queued in the same commit as a change.

use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use glassbox_model::ProjectId;
use glassbox_model::models::{ModelDefinition, builtin_models, tiers_json};
use glassbox_store::{
    MAX_PROJECT_MODELS, ModelStore, Page, PageRequest, RecomputeJob, StoreError, StoreResult,
};

use crate::SqliteStore;
use crate::connection::internal;
use crate::derived::{MODEL_COLUMNS, model_from_row, project_models};
use crate::recompute::{latest_job, queue_job};
use crate::sql::query_optional;

fn sort_key(model: &ModelDefinition) -> (String, String, i64, String) {
    (
        model.model_name.clone(),
        model.unit.clone().unwrap_or_default(),
        // Newest start date first, none last.
        model.start_date.map_or(i64::MAX, |start| -start),
        model.id.clone(),
    )
}

#[async_trait]
impl ModelStore for SqliteStore {
    async fn list_models(
        &self,
        project: &ProjectId,
        page: PageRequest,
    ) -> StoreResult<Page<Arc<ModelDefinition>>> {
        let project = project.clone();
        let own = self
            .readers
            .read(move |connection| project_models(connection, &project))
            .await?;
        let mut all: Vec<Arc<ModelDefinition>> = own
            .iter()
            .cloned()
            .chain(builtin_models().iter().cloned())
            .collect();
        all.sort_by_cached_key(|model| sort_key(model));
        let total_items = all.len() as u64;
        let items = all
            .into_iter()
            .skip(page.offset() as usize)
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
        let project = project.clone();
        let model_id = model_id.to_owned();
        self.readers
            .read(move |connection| {
                let found = query_optional(
                    connection,
                    &format!(
                        "SELECT {MODEL_COLUMNS} FROM models WHERE project_id = ?1 AND id = ?2"
                    ),
                    params![project.as_str(), model_id],
                    model_from_row,
                )?;
                Ok(found.map(Arc::new))
            })
            .await
    }

    async fn create_model(
        &self,
        project: &ProjectId,
        model: ModelDefinition,
    ) -> StoreResult<RecomputeJob> {
        if model.project_id.as_ref() != Some(project) {
            return Err(StoreError::Internal("model of another project".into()));
        }
        let project = project.clone();
        let job = self
            .writer
            .write(move |connection| {
                insert_model(connection, &project, &model)?;
                queue_job(
                    connection,
                    &project,
                    &model.id,
                    std::slice::from_ref(&model.match_pattern),
                )
            })
            .await?;
        self.recompute.notify();
        Ok(job)
    }

    async fn upsert_model(
        &self,
        project: &ProjectId,
        model: ModelDefinition,
    ) -> StoreResult<(ModelDefinition, RecomputeJob)> {
        if model.project_id.as_ref() != Some(project) {
            return Err(StoreError::Internal("model of another project".into()));
        }
        let project = project.clone();
        let result = self
            .writer
            .write(move |connection| {
                let previous: Option<(String, i64)> = connection
                    .query_row(
                        "SELECT match_pattern, created_at FROM models WHERE project_id = ?1 AND id = ?2",
                        params![project.as_str(), model.id],
                        |row| Ok((row.get(0)?, row.get(1)?)),
                    )
                    .optional()
                    .map_err(internal)?;
                let mut model = model;
                let mut patterns = vec![model.match_pattern.clone()];
                if let Some((pattern, created_at)) = previous {
                    connection
                        .execute(
                            "DELETE FROM models WHERE project_id = ?1 AND id = ?2",
                            params![project.as_str(), model.id],
                        )
                        .map_err(internal)?;
                    model.created_at = created_at;
                    if pattern != model.match_pattern {
                        patterns.push(pattern);
                    }
                }
                insert_model(connection, &project, &model)?;
                let job = queue_job(connection, &project, &model.id, &patterns)?;
                Ok((model, job))
            })
            .await?;
        self.recompute.notify();
        Ok(result)
    }

    async fn delete_model(
        &self,
        project: &ProjectId,
        model_id: &str,
    ) -> StoreResult<Option<RecomputeJob>> {
        self.delete_model_now(project, model_id).await
    }

    async fn recompute_status(
        &self,
        project: &ProjectId,
        model_id: &str,
    ) -> StoreResult<Option<RecomputeJob>> {
        let project = project.clone();
        let model_id = model_id.to_owned();
        self.readers
            .read(move |connection| latest_job(connection, &project, &model_id))
            .await
    }
}

/// Inserts a project definition (inside a write); the (name, start date, unit) identity
/// and the per-project limit are conflicts.
fn insert_model(
    connection: &rusqlite::Connection,
    project: &ProjectId,
    model: &ModelDefinition,
) -> StoreResult<()> {
    let count: i64 = connection
        .query_row(
            "SELECT COUNT(*) FROM models WHERE project_id = ?1",
            params![project.as_str()],
            |row| row.get(0),
        )
        .map_err(internal)?;
    if count as usize >= MAX_PROJECT_MODELS {
        return Err(StoreError::Conflict(format!(
            "a project may have at most {MAX_PROJECT_MODELS} model definitions"
        )));
    }
    let inserted = connection.execute(
        "INSERT INTO models (project_id, id, model_name, match_pattern, start_date, unit, tokenizer_id, \
         tokenizer_config, pricing_tiers, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            project.as_str(),
            model.id,
            model.model_name,
            model.match_pattern,
            model.start_date,
            model.unit,
            model.tokenizer_id,
            model.tokenizer_config.as_ref().map(|config| config.to_string()),
            tiers_json(&model.pricing_tiers).to_string(),
            model.created_at,
            model.updated_at,
        ],
    );
    match inserted {
        Ok(_) => Ok(()),
        Err(rusqlite::Error::SqliteFailure(failure, _))
            if failure.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            Err(StoreError::Conflict(
                "a model with this modelName, startDate and unit already exists in the project"
                    .into(),
            ))
        }
        Err(error) => Err(internal(error)),
    }
}

impl SqliteStore {
    async fn delete_model_now(
        &self,
        project: &ProjectId,
        model_id: &str,
    ) -> StoreResult<Option<RecomputeJob>> {
        let project = project.clone();
        let model_id = model_id.to_owned();
        let job = self
            .writer
            .write(move |connection| {
                let pattern: Option<String> = connection
                    .query_row(
                        "SELECT match_pattern FROM models WHERE project_id = ?1 AND id = ?2",
                        params![project.as_str(), model_id],
                        |row| row.get(0),
                    )
                    .optional()
                    .map_err(internal)?;
                let Some(pattern) = pattern else {
                    return Ok(None);
                };
                connection
                    .execute(
                        "DELETE FROM models WHERE project_id = ?1 AND id = ?2",
                        params![project.as_str(), model_id],
                    )
                    .map_err(internal)?;
                queue_job(connection, &project, &model_id, &[pattern]).map(Some)
            })
            .await?;
        if job.is_some() {
            self.recompute.notify();
        }
        Ok(job)
    }
}
