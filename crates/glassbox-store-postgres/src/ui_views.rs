//! View-shaped reads of the web UI on PostgreSQL: the trace table's per-row tokens,
//! level, observation count and score averages, for one page of traces in two queries.

use std::collections::HashMap;

use async_trait::async_trait;
use sqlx::Row;

use glassbox_model::ProjectId;
use glassbox_store::{StoreResult, TraceRowStats, UiViewStore};

use crate::usage_sql::{key_sum, total_number};
use crate::{PgStore, internal};

#[async_trait]
impl UiViewStore for PgStore {
    async fn trace_row_stats(
        &self,
        project: &ProjectId,
        trace_ids: &[String],
    ) -> StoreResult<HashMap<String, TraceRowStats>> {
        if trace_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let observations = format!(
            "SELECT o.trace_id, COALESCE(SUM({input}), 0::float8), COALESCE(SUM({output}), 0::float8), \
             COALESCE(SUM({total}), 0::float8), \
             CASE WHEN bool_or(o.level = 'ERROR') THEN 'ERROR' WHEN bool_or(o.level = 'WARNING') THEN 'WARNING' \
             WHEN bool_or(o.level = 'DEFAULT') THEN 'DEFAULT' ELSE 'DEBUG' END, COUNT(*) \
             FROM observations o WHERE o.project_id = $1 AND o.trace_id = ANY($2) GROUP BY o.trace_id",
            input = key_sum("o.usage_details", "input"),
            output = key_sum("o.usage_details", "output"),
            total = total_number("o.usage_details"),
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(observations))
            .bind(project.as_str())
            .bind(trace_ids)
            .fetch_all(&self.pool)
            .await
            .map_err(internal)?;
        let mut stats: HashMap<String, TraceRowStats> = HashMap::with_capacity(rows.len());
        for row in rows {
            let count: i64 = row.try_get(5).map_err(internal)?;
            stats.insert(
                row.try_get(0).map_err(internal)?,
                TraceRowStats {
                    input_tokens: row.try_get(1).map_err(internal)?,
                    output_tokens: row.try_get(2).map_err(internal)?,
                    total_tokens: row.try_get(3).map_err(internal)?,
                    level: row.try_get(4).map_err(internal)?,
                    observation_count: u64::try_from(count).unwrap_or(0),
                    scores: Vec::new(),
                },
            );
        }
        let scores = sqlx::query(
            "SELECT s.trace_id, s.name, AVG(s.value) FROM scores s WHERE s.project_id = $1 \
             AND s.trace_id = ANY($2) AND s.data_type IN ('NUMERIC', 'BOOLEAN') \
             GROUP BY s.trace_id, s.name ORDER BY s.trace_id COLLATE \"C\", s.name COLLATE \"C\"",
        )
        .bind(project.as_str())
        .bind(trace_ids)
        .fetch_all(&self.pool)
        .await
        .map_err(internal)?;
        for row in scores {
            let trace_id: String = row.try_get(0).map_err(internal)?;
            let name: String = row.try_get(1).map_err(internal)?;
            let value: f64 = row.try_get(2).map_err(internal)?;
            stats
                .entry(trace_id)
                .or_default()
                .scores
                .push((name, value));
        }
        Ok(stats)
    }
}
