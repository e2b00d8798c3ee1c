//! Score configs: insert, get, list, and atomic updates through the model's rules.

use async_trait::async_trait;
use rusqlite::{Connection, params};

use glassbox_model::score_configs::{ScoreConfigPatch, update_score_config};
use glassbox_model::{Micros, ProjectId, ScoreConfig};
use glassbox_store::{
    Page, PageRequest, ScoreConfigStore, ScoreConfigUpdate, StoreError, StoreResult,
};

use crate::SqliteStore;
use crate::connection::internal;
use crate::rows::{
    SCORE_CONFIG_COLUMNS, categories_to_text, get_score_config, score_config_from_row,
};
use crate::sql::{PagedSelect, Where, select_page};

fn write_config(
    connection: &Connection,
    project: &ProjectId,
    config: &ScoreConfig,
) -> StoreResult<()> {
    connection
        .prepare_cached(
            "INSERT OR REPLACE INTO score_configs (project_id, id, name, data_type, is_archived, min_value, \
             max_value, categories, description, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )
        .and_then(|mut statement| {
            statement.execute(params![
                project.as_str(),
                config.id,
                config.name,
                config.data_type.as_str(),
                config.is_archived,
                config.min_value,
                config.max_value,
                config.categories.as_deref().map(categories_to_text),
                config.description,
                config.created_at,
                config.updated_at
            ])
        })
        .map(drop)
        .map_err(internal)
}

#[async_trait]
impl ScoreConfigStore for SqliteStore {
    async fn insert_score_config(
        &self,
        project: &ProjectId,
        config: ScoreConfig,
    ) -> StoreResult<()> {
        let project = project.clone();
        self.writer
            .write(move |connection| {
                if get_score_config(connection, &project, &config.id)?.is_some() {
                    return Err(StoreError::Conflict(format!(
                        "score config `{}` already exists",
                        config.id
                    )));
                }
                write_config(connection, &project, &config)
            })
            .await
    }

    async fn get_score_config(
        &self,
        project: &ProjectId,
        config_id: &str,
    ) -> StoreResult<Option<ScoreConfig>> {
        let (project, id) = (project.clone(), config_id.to_owned());
        self.readers
            .read(move |connection| get_score_config(connection, &project, &id))
            .await
    }

    async fn list_score_configs(
        &self,
        project: &ProjectId,
        page: PageRequest,
    ) -> StoreResult<Page<ScoreConfig>> {
        let project = project.clone();
        self.readers
            .read(move |connection| {
                let select = PagedSelect {
                    columns: SCORE_CONFIG_COLUMNS,
                    from: "score_configs",
                    count_from: "score_configs",
                    order: "created_at DESC, id ASC",
                };
                let clauses = Where::in_project("project_id", project.as_str());
                select_page(connection, select, &clauses, page, score_config_from_row)
            })
            .await
    }

    async fn update_score_config(
        &self,
        project: &ProjectId,
        config_id: &str,
        patch: ScoreConfigPatch,
        now: Micros,
    ) -> StoreResult<ScoreConfigUpdate> {
        let (project, id) = (project.clone(), config_id.to_owned());
        self.writer
            .write(move |connection| {
                let Some(existing) = get_score_config(connection, &project, &id)? else {
                    return Ok(ScoreConfigUpdate::NotFound);
                };
                match update_score_config(&existing, &patch, now) {
                    Ok(updated) => {
                        write_config(connection, &project, &updated)?;
                        Ok(ScoreConfigUpdate::Updated(updated))
                    }
                    Err(reason) => Ok(ScoreConfigUpdate::Rejected(reason)),
                }
            })
            .await
    }
}
