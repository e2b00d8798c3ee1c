//! The prompt link of generations at fold time: an observation that names
//! `promptName`/`promptVersion` gets that version's `prompt_id` (none when the version
//! does not exist, yet: creating it links such generations later, see the lock below).

use std::collections::HashMap;

use sqlx::{PgConnection, Row};

use glassbox_model::{Observation, ProjectId};
use glassbox_store::StoreResult;

use crate::event_log::db_error;

/// Sets `prompt_id` of every observation, with one query for all of them.
pub(crate) async fn link_prompts(
    connection: &mut PgConnection,
    project: &ProjectId,
    observations: &mut [Observation],
) -> StoreResult<()> {
    let mut names: Vec<&str> = Vec::new();
    let mut versions: Vec<i64> = Vec::new();
    for observation in observations.iter() {
        if let (Some(name), Some(version)) = (&observation.prompt_name, observation.prompt_version)
        {
            names.push(name);
            versions.push(version);
        }
    }
    let mut found: HashMap<(String, i64), String> = HashMap::new();
    if !names.is_empty() {
        // Shared with every ingest, exclusive for prompt writes (prompt_writes.rs): a
        // version created concurrently either commits before this read (and is linked
        // here) or waits for this commit (and its back-fill sees these generations).
        sqlx::query("SELECT pg_advisory_xact_lock_shared(hashtextextended($1, 0))")
            .bind(format!("glassbox_prompts:{}", project.as_str()))
            .execute(&mut *connection)
            .await
            .map_err(db_error)?;
        let rows = sqlx::query(
            "SELECT name, version, id FROM prompts WHERE project_id = $1 \
             AND (name, version) IN (SELECT * FROM UNNEST($2::text[], $3::bigint[]))",
        )
        .bind(project.as_str())
        .bind(&names)
        .bind(&versions)
        .fetch_all(&mut *connection)
        .await
        .map_err(db_error)?;
        for row in rows {
            let name: String = row.try_get(0).map_err(db_error)?;
            let version: i64 = row.try_get(1).map_err(db_error)?;
            let id: String = row.try_get(2).map_err(db_error)?;
            found.insert((name, version), id);
        }
    }
    for observation in observations.iter_mut() {
        observation.prompt_id = match (&observation.prompt_name, observation.prompt_version) {
            (Some(name), Some(version)) => found.get(&(name.clone(), version)).cloned(),
            _ => None,
        };
    }
    Ok(())
}
