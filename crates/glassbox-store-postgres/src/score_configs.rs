//! Score configs in `score_configs` (0001_core.sql): insert, get, list, and updates
//! through the model's rules under a row lock, so concurrent patches never lose one.
//!
//! Categories are stored as the JSON text the embedded backend writes
//! (`[{"label":..,"value":..}]`), so both backends answer the same bytes.
//! [`load_score_config`] is shared with the write path that checks scores.

use async_trait::async_trait;
use serde_json::{Map, Value};
use sqlx::Row;
use sqlx::postgres::PgRow;

use glassbox_model::score_configs::{ScoreConfigPatch, update_score_config};
use glassbox_model::{Micros, ProjectId, ScoreCategory, ScoreConfig, ScoreDataType};
use glassbox_store::{
    Page, PageRequest, ScoreConfigStore, ScoreConfigUpdate, StoreError, StoreResult,
};

use crate::{PgStore, internal};

/// The columns [`score_config_from_row`] reads, as a literal for `concat!`.
macro_rules! config_columns {
    () => {
        "id, name, data_type, is_archived, min_value, max_value, categories, description, \
         created_at, updated_at"
    };
}

/// A row of `config_columns!()` as a config.
pub(crate) fn score_config_from_row(row: &PgRow) -> StoreResult<ScoreConfig> {
    let data_type: String = row.try_get("data_type").map_err(internal)?;
    let is_archived: i64 = row.try_get("is_archived").map_err(internal)?;
    let categories: Option<String> = row.try_get("categories").map_err(internal)?;
    Ok(ScoreConfig {
        id: row.try_get("id").map_err(internal)?,
        name: row.try_get("name").map_err(internal)?,
        data_type: ScoreDataType::parse(&data_type).ok_or_else(|| {
            StoreError::Internal(format!("unknown score config data type `{data_type}`"))
        })?,
        is_archived: is_archived != 0,
        min_value: row.try_get("min_value").map_err(internal)?,
        max_value: row.try_get("max_value").map_err(internal)?,
        categories: categories.map(|text| categories_from_text(&text)),
        description: row.try_get("description").map_err(internal)?,
        created_at: row.try_get("created_at").map_err(internal)?,
        updated_at: row.try_get("updated_at").map_err(internal)?,
    })
}

/// The project's config `id`, read through `executor` (the pool or a transaction).
pub(crate) async fn load_score_config<'e, E>(
    executor: E,
    project: &ProjectId,
    id: &str,
) -> StoreResult<Option<ScoreConfig>>
where
    E: sqlx::PgExecutor<'e>,
{
    let row = sqlx::query(concat!(
        "SELECT ",
        config_columns!(),
        " FROM score_configs WHERE project_id = $1 AND id = $2"
    ))
    .bind(project.as_str())
    .bind(id)
    .fetch_optional(executor)
    .await
    .map_err(internal)?;
    row.as_ref().map(score_config_from_row).transpose()
}

fn categories_from_text(text: &str) -> Vec<ScoreCategory> {
    serde_json::from_str::<Vec<Value>>(text)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|item| {
            Some(ScoreCategory {
                label: item.get("label")?.as_str()?.to_owned(),
                value: item.get("value")?.as_f64()?,
            })
        })
        .collect()
}

fn categories_to_text(categories: &[ScoreCategory]) -> String {
    let items: Vec<Value> = categories
        .iter()
        .map(|category| {
            let mut item = Map::new();
            item.insert("label".into(), Value::String(category.label.clone()));
            item.insert("value".into(), serde_json::json!(category.value));
            Value::Object(item)
        })
        .collect();
    Value::Array(items).to_string()
}

#[async_trait]
impl ScoreConfigStore for PgStore {
    async fn insert_score_config(
        &self,
        project: &ProjectId,
        config: ScoreConfig,
    ) -> StoreResult<()> {
        let inserted = sqlx::query(
            "INSERT INTO score_configs (project_id, id, name, data_type, is_archived, min_value, \
             max_value, categories, description, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (project_id, id) DO NOTHING",
        )
        .bind(project.as_str())
        .bind(&config.id)
        .bind(&config.name)
        .bind(config.data_type.as_str())
        .bind(i64::from(config.is_archived))
        .bind(config.min_value)
        .bind(config.max_value)
        .bind(config.categories.as_deref().map(categories_to_text))
        .bind(&config.description)
        .bind(config.created_at)
        .bind(config.updated_at)
        .execute(&self.pool)
        .await
        .map_err(internal)?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "score config `{}` already exists",
                config.id
            )));
        }
        Ok(())
    }

    async fn get_score_config(
        &self,
        project: &ProjectId,
        config_id: &str,
    ) -> StoreResult<Option<ScoreConfig>> {
        load_score_config(&self.pool, project, config_id).await
    }

    async fn list_score_configs(
        &self,
        project: &ProjectId,
        page: PageRequest,
    ) -> StoreResult<Page<ScoreConfig>> {
        let total: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM score_configs WHERE project_id = $1")
                .bind(project.as_str())
                .fetch_one(&self.pool)
                .await
                .map_err(internal)?;
        let rows = sqlx::query(concat!(
            "SELECT ",
            config_columns!(),
            " FROM score_configs WHERE project_id = $1 \
                 ORDER BY created_at DESC, id COLLATE \"C\" ASC LIMIT $2 OFFSET $3"
        ))
        .bind(project.as_str())
        .bind(i64::from(page.limit))
        .bind(i64::try_from(page.offset()).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(internal)?;
        Ok(Page {
            items: rows
                .iter()
                .map(score_config_from_row)
                .collect::<StoreResult<_>>()?,
            total_items: u64::try_from(total).unwrap_or(0),
        })
    }

    async fn update_score_config(
        &self,
        project: &ProjectId,
        config_id: &str,
        patch: ScoreConfigPatch,
        now: Micros,
    ) -> StoreResult<ScoreConfigUpdate> {
        let mut tx = self.pool.begin().await.map_err(internal)?;
        let row = sqlx::query(concat!(
            "SELECT ",
            config_columns!(),
            " FROM score_configs WHERE project_id = $1 AND id = $2 FOR UPDATE"
        ))
        .bind(project.as_str())
        .bind(config_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(internal)?;
        let Some(existing) = row.as_ref().map(score_config_from_row).transpose()? else {
            return Ok(ScoreConfigUpdate::NotFound);
        };
        let updated = match update_score_config(&existing, &patch, now) {
            Ok(updated) => updated,
            Err(reason) => return Ok(ScoreConfigUpdate::Rejected(reason)),
        };
        sqlx::query(
            "UPDATE score_configs SET name = $3, data_type = $4, is_archived = $5, min_value = $6, \
             max_value = $7, categories = $8, description = $9, created_at = $10, updated_at = $11 \
             WHERE project_id = $1 AND id = $2",
        )
        .bind(project.as_str())
        .bind(config_id)
        .bind(&updated.name)
        .bind(updated.data_type.as_str())
        .bind(i64::from(updated.is_archived))
        .bind(updated.min_value)
        .bind(updated.max_value)
        .bind(updated.categories.as_deref().map(categories_to_text))
        .bind(&updated.description)
        .bind(updated.created_at)
        .bind(updated.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(internal)?;
        tx.commit().await.map_err(internal)?;
        Ok(ScoreConfigUpdate::Updated(updated))
    }
}
