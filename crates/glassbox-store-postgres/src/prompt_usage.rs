//! Usage statistics of prompt versions: the generations linked to each version
//! (`observations.prompt_id`) aggregated in SQL, one row per version (percentiles with
//! `percentile_cont`, the interpolation `glassbox_model::prompts::Distribution` uses), and
//! score averages grouped in SQL.

use std::collections::HashMap;

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use glassbox_model::ProjectId;
use glassbox_model::prompts::{Distribution, PromptVersion, PromptVersionUsage, ScoreAverage};
use glassbox_store::{PromptUsageQuery, StoreResult};

use crate::internal;

/// The linked generations `o`: `$1` project, `$2` version ids, `$3`/`$4` the window.
macro_rules! linked {
    () => {
        "o.project_id = $1 AND o.prompt_id = ANY($2) \
         AND ($3::bigint IS NULL OR o.start_time >= $3) AND ($4::bigint IS NULL OR o.start_time < $4)"
    };
}

/// Count, sum, min, max and the p50/p90/p95/p99 array of one measured column.
macro_rules! stats {
    ($column:ident) => {
        concat!(
            "COUNT(",
            stringify!($column),
            ") AS ",
            stringify!($column),
            "_n, SUM(",
            stringify!($column),
            ") AS ",
            stringify!($column),
            "_sum, MIN(",
            stringify!($column),
            ") AS ",
            stringify!($column),
            "_min, MAX(",
            stringify!($column),
            ") AS ",
            stringify!($column),
            "_max, percentile_cont(ARRAY[0.5, 0.9, 0.95, 0.99]) WITHIN GROUP (ORDER BY ",
            stringify!($column),
            ") AS ",
            stringify!($column),
            "_p"
        )
    };
}

/// Per linked generation: latency in seconds (ended ones), token counts (those that
/// reported usage: the keys containing `input` / `output`, and `total` or their sum) and
/// the cost; then the statistics of each per version.
const USAGE_SQL: &str = concat!(
    "WITH linked AS (\
       SELECT o.prompt_id, o.start_time, \
         CASE WHEN o.end_time IS NOT NULL THEN (o.end_time - o.start_time)::float8 / 1e6 END AS latency, \
         NULLIF(o.total_cost, 'NaN'::float8) AS cost, u.usage \
       FROM observations o CROSS JOIN LATERAL (SELECT o.usage_details::jsonb AS usage) u \
       WHERE ",
    linked!(),
    "), measured AS (\
       SELECT l.prompt_id, l.start_time, l.latency, l.cost, \
         CASE WHEN l.usage <> '{}'::jsonb THEN t.input END AS input, \
         CASE WHEN l.usage <> '{}'::jsonb THEN t.output END AS output, \
         CASE WHEN l.usage <> '{}'::jsonb THEN COALESCE(\
           CASE WHEN jsonb_typeof(l.usage -> 'total') = 'number' THEN (l.usage ->> 'total')::float8 END, \
           t.input + t.output) END AS total \
       FROM linked l CROSS JOIN LATERAL (\
         SELECT COALESCE(SUM(e.value::text::float8) FILTER (WHERE lower(e.key) LIKE '%input%'), 0) AS input, \
                COALESCE(SUM(e.value::text::float8) FILTER (WHERE lower(e.key) LIKE '%output%'), 0) AS output \
         FROM jsonb_each(CASE WHEN jsonb_typeof(l.usage) = 'object' THEN l.usage ELSE '{}'::jsonb END) e \
         WHERE jsonb_typeof(e.value) = 'number') t\
     ) \
     SELECT prompt_id, COUNT(*) AS generations, MIN(start_time) AS first_used, MAX(start_time) AS last_used, ",
    stats!(latency),
    ", ",
    stats!(input),
    ", ",
    stats!(output),
    ", ",
    stats!(total),
    ", ",
    stats!(cost),
    " FROM measured GROUP BY prompt_id"
);

#[derive(Default)]
struct Usage {
    generations: u64,
    first: Option<i64>,
    last: Option<i64>,
    latency: Option<Distribution>,
    input: Option<Distribution>,
    output: Option<Distribution>,
    total: Option<Distribution>,
    cost: Option<Distribution>,
}

fn distribution(row: &PgRow, column: &str) -> StoreResult<Option<Distribution>> {
    let count: i64 = row
        .try_get(format!("{column}_n").as_str())
        .map_err(internal)?;
    if count <= 0 {
        return Ok(None);
    }
    let sum: Option<f64> = row
        .try_get(format!("{column}_sum").as_str())
        .map_err(internal)?;
    let min: Option<f64> = row
        .try_get(format!("{column}_min").as_str())
        .map_err(internal)?;
    let max: Option<f64> = row
        .try_get(format!("{column}_max").as_str())
        .map_err(internal)?;
    let percentiles: Option<Vec<f64>> = row
        .try_get(format!("{column}_p").as_str())
        .map_err(internal)?;
    let (Some(sum), Some(min), Some(max), Some(percentiles)) = (sum, min, max, percentiles) else {
        return Ok(None);
    };
    let [p50, p90, p95, p99] = percentiles[..] else {
        return Err(glassbox_store::StoreError::Internal(
            "percentile_cont returned an unexpected number of values".into(),
        ));
    };
    Ok(Some(Distribution {
        count: count as u64,
        sum,
        mean: sum / count as f64,
        min,
        max,
        p50,
        p90,
        p95,
        p99,
    }))
}

fn usage_from_row(row: &PgRow) -> StoreResult<Usage> {
    let generations: i64 = row.try_get("generations").map_err(internal)?;
    Ok(Usage {
        generations: generations.max(0) as u64,
        first: row.try_get("first_used").map_err(internal)?,
        last: row.try_get("last_used").map_err(internal)?,
        latency: distribution(row, "latency")?,
        input: distribution(row, "input")?,
        output: distribution(row, "output")?,
        total: distribution(row, "total")?,
        cost: distribution(row, "cost")?,
    })
}

/// Averages of numeric and boolean scores of the linked generations themselves.
const GENERATION_SCORES_SQL: &str = concat!(
    "SELECT o.prompt_id, s.name, s.data_type, COUNT(*) AS n, AVG(s.value) AS average \
     FROM observations o JOIN scores s ON s.project_id = o.project_id AND s.trace_id = o.trace_id \
     AND s.observation_id = o.id WHERE ",
    linked!(),
    " AND s.data_type IN ('NUMERIC', 'BOOLEAN') \
     GROUP BY o.prompt_id, s.name, s.data_type ORDER BY s.name COLLATE \"C\", s.data_type COLLATE \"C\""
);

/// Averages of the trace-level scores of the traces that contain a linked generation.
const TRACE_SCORES_SQL: &str = concat!(
    "SELECT t.prompt_id, s.name, s.data_type, COUNT(*) AS n, AVG(s.value) AS average \
     FROM (SELECT DISTINCT o.prompt_id, o.trace_id FROM observations o WHERE ",
    linked!(),
    ") t JOIN scores s ON s.project_id = $1 AND s.trace_id = t.trace_id AND s.observation_id IS NULL \
     WHERE s.data_type IN ('NUMERIC', 'BOOLEAN') \
     GROUP BY t.prompt_id, s.name, s.data_type ORDER BY s.name COLLATE \"C\", s.data_type COLLATE \"C\""
);

async fn score_averages(
    connection: &mut PgConnection,
    sql: &'static str,
    project: &ProjectId,
    ids: &[String],
    query: &PromptUsageQuery,
) -> StoreResult<HashMap<String, Vec<ScoreAverage>>> {
    let rows = sqlx::query(sql)
        .bind(project.as_str())
        .bind(ids)
        .bind(query.from_start_time)
        .bind(query.to_start_time)
        .fetch_all(connection)
        .await
        .map_err(internal)?;
    let mut by_version: HashMap<String, Vec<ScoreAverage>> = HashMap::new();
    for row in rows {
        let prompt_id: String = row.try_get("prompt_id").map_err(internal)?;
        let count: i64 = row.try_get("n").map_err(internal)?;
        by_version.entry(prompt_id).or_default().push(ScoreAverage {
            name: row.try_get("name").map_err(internal)?,
            data_type: row.try_get("data_type").map_err(internal)?,
            count: count.max(0) as u64,
            average: row.try_get("average").map_err(internal)?,
        });
    }
    Ok(by_version)
}

/// Usage of each of `versions` (all versions of one prompt), highest version first.
pub(crate) async fn usage(
    connection: &mut PgConnection,
    project: &ProjectId,
    mut versions: Vec<PromptVersion>,
    query: &PromptUsageQuery,
) -> StoreResult<Vec<PromptVersionUsage>> {
    let ids: Vec<String> = versions.iter().map(|version| version.id.clone()).collect();
    let rows = sqlx::query(USAGE_SQL)
        .bind(project.as_str())
        .bind(&ids)
        .bind(query.from_start_time)
        .bind(query.to_start_time)
        .fetch_all(&mut *connection)
        .await
        .map_err(internal)?;
    let mut usage: HashMap<String, Usage> = HashMap::new();
    for row in &rows {
        let prompt_id: String = row.try_get("prompt_id").map_err(internal)?;
        usage.insert(prompt_id, usage_from_row(row)?);
    }
    let mut generation_scores =
        score_averages(connection, GENERATION_SCORES_SQL, project, &ids, query).await?;
    let mut trace_scores =
        score_averages(connection, TRACE_SCORES_SQL, project, &ids, query).await?;
    versions.sort_by_key(|version| std::cmp::Reverse(version.version));
    Ok(versions
        .into_iter()
        .map(|version| {
            let usage = usage.remove(&version.id).unwrap_or_default();
            PromptVersionUsage {
                generation_scores: generation_scores.remove(&version.id).unwrap_or_default(),
                trace_scores: trace_scores.remove(&version.id).unwrap_or_default(),
                prompt_id: version.id,
                version: version.version,
                labels: version.labels,
                generation_count: usage.generations,
                first_used_at: usage.first,
                last_used_at: usage.last,
                latency_seconds: usage.latency,
                input_tokens: usage.input,
                output_tokens: usage.output,
                total_tokens: usage.total,
                cost: usage.cost,
            }
        })
        .collect())
}
