//! View-shaped reads of the web UI.

use std::collections::HashMap;

use async_trait::async_trait;
use rusqlite::params_from_iter;

use glassbox_model::ProjectId;
use glassbox_store::{StoreResult, TraceRowStats, UiViewStore};

use crate::SqliteStore;
use crate::connection::internal;
use crate::details::USAGE_DETAILS_SQL;
use crate::sql::sum_keys;

#[async_trait]
impl UiViewStore for SqliteStore {
    async fn trace_row_stats(
        &self,
        project: &ProjectId,
        trace_ids: &[String],
    ) -> StoreResult<HashMap<String, TraceRowStats>> {
        if trace_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let mut values: Vec<String> = Vec::with_capacity(trace_ids.len() + 1);
        values.push(project.as_str().to_owned());
        values.extend(trace_ids.iter().cloned());
        self.readers
            .read(move |connection| {
                let placeholders = vec!["?"; values.len() - 1].join(", ");
                let mut stats: HashMap<String, TraceRowStats> = HashMap::new();
                let observations = format!(
                    "SELECT o.trace_id, COALESCE(SUM({input}), 0), COALESCE(SUM({output}), 0), \
                     COALESCE(SUM(json_extract({USAGE_DETAILS_SQL}, '$.total')), 0), \
                     CASE WHEN SUM(o.level = 'ERROR') > 0 THEN 'ERROR' WHEN SUM(o.level = 'WARNING') > 0 THEN 'WARNING' \
                     WHEN SUM(o.level = 'DEFAULT') > 0 THEN 'DEFAULT' ELSE 'DEBUG' END, COUNT(*) \
                     FROM observations o WHERE o.project_id = ?1 AND o.trace_id IN ({placeholders}) GROUP BY o.trace_id",
                    input = sum_keys(USAGE_DETAILS_SQL, "input"),
                    output = sum_keys(USAGE_DETAILS_SQL, "output"),
                );
                let mut statement = connection.prepare(&observations).map_err(internal)?;
                let mut rows = statement.query(params_from_iter(values.iter())).map_err(internal)?;
                while let Some(row) = rows.next().map_err(internal)? {
                    let trace_id: String = row.get(0).map_err(internal)?;
                    let count: i64 = row.get(5).map_err(internal)?;
                    stats.insert(
                        trace_id,
                        TraceRowStats {
                            input_tokens: row.get(1).map_err(internal)?,
                            output_tokens: row.get(2).map_err(internal)?,
                            total_tokens: row.get(3).map_err(internal)?,
                            level: row.get(4).map_err(internal)?,
                            observation_count: u64::try_from(count).unwrap_or(0),
                            scores: Vec::new(),
                        },
                    );
                }
                let scores = format!(
                    "SELECT s.trace_id, s.name, AVG(s.value) FROM scores s WHERE s.project_id = ?1 \
                     AND s.trace_id IN ({placeholders}) AND s.data_type IN ('NUMERIC', 'BOOLEAN') \
                     GROUP BY s.trace_id, s.name ORDER BY s.trace_id, s.name"
                );
                let mut statement = connection.prepare(&scores).map_err(internal)?;
                let mut rows = statement.query(params_from_iter(values.iter())).map_err(internal)?;
                while let Some(row) = rows.next().map_err(internal)? {
                    let trace_id: String = row.get(0).map_err(internal)?;
                    let name: String = row.get(1).map_err(internal)?;
                    let value: f64 = row.get(2).map_err(internal)?;
                    stats.entry(trace_id).or_default().scores.push((name, value));
                }
                Ok(stats)
            })
            .await
    }
}
