//! Usage statistics of prompt versions: the generations linked to each version
//! (`observations.prompt_id`) are streamed and reduced in Rust (percentiles are sort-bound
//! in SQLite), score averages are grouped in SQL.

use std::collections::HashMap;

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, params_from_iter};
use serde_json::{Map, Value};

use glassbox_model::ProjectId;
use glassbox_model::prompts::{Distribution, PromptVersion, PromptVersionUsage, ScoreAverage};
use glassbox_model::usage::sum_keys_containing;
use glassbox_store::{PromptUsageQuery, StoreResult};

use crate::connection::internal;
use crate::details::USAGE_DETAILS_SQL;

#[derive(Default)]
struct Accumulator {
    count: u64,
    first: Option<i64>,
    last: Option<i64>,
    latencies: Vec<f64>,
    input_tokens: Vec<f64>,
    output_tokens: Vec<f64>,
    total_tokens: Vec<f64>,
    costs: Vec<f64>,
}

/// `?1` project, `?2..` the version ids, then the time window; the condition selects the
/// linked observations `o`.
fn linked_observations(
    project: &ProjectId,
    versions: &[PromptVersion],
    query: &PromptUsageQuery,
) -> (String, Vec<SqlValue>) {
    let mut values: Vec<SqlValue> = vec![SqlValue::Text(project.as_str().to_owned())];
    let mut placeholders = Vec::with_capacity(versions.len());
    for version in versions {
        values.push(SqlValue::Text(version.id.clone()));
        placeholders.push(format!("?{}", values.len()));
    }
    let mut condition = format!(
        "o.project_id = ?1 AND o.prompt_id IN ({})",
        placeholders.join(", ")
    );
    if let Some(from) = query.from_start_time {
        values.push(SqlValue::Integer(from));
        condition.push_str(&format!(" AND o.start_time >= ?{}", values.len()));
    }
    if let Some(to) = query.to_start_time {
        values.push(SqlValue::Integer(to));
        condition.push_str(&format!(" AND o.start_time < ?{}", values.len()));
    }
    (condition, values)
}

fn score_averages(
    connection: &Connection,
    sql: &str,
    values: &[SqlValue],
) -> StoreResult<HashMap<String, Vec<ScoreAverage>>> {
    let mut by_version: HashMap<String, Vec<ScoreAverage>> = HashMap::new();
    let mut statement = connection.prepare(sql).map_err(internal)?;
    let mut rows = statement
        .query(params_from_iter(values.iter()))
        .map_err(internal)?;
    while let Some(row) = rows.next().map_err(internal)? {
        let prompt_id: String = row.get(0).map_err(internal)?;
        let count: i64 = row.get(3).map_err(internal)?;
        by_version.entry(prompt_id).or_default().push(ScoreAverage {
            name: row.get(1).map_err(internal)?,
            data_type: row.get(2).map_err(internal)?,
            count: count.max(0) as u64,
            average: row.get(4).map_err(internal)?,
        });
    }
    Ok(by_version)
}

pub(crate) fn usage(
    connection: &Connection,
    project: &ProjectId,
    mut versions: Vec<PromptVersion>,
    query: &PromptUsageQuery,
) -> StoreResult<Vec<PromptVersionUsage>> {
    let (condition, values) = linked_observations(project, &versions, query);
    let mut accumulators: HashMap<String, Accumulator> = HashMap::new();
    {
        let mut statement = connection
            .prepare(&format!(
                "SELECT o.prompt_id, o.start_time, o.end_time, {USAGE_DETAILS_SQL}, o.total_cost \
                 FROM observations o WHERE {condition}"
            ))
            .map_err(internal)?;
        let mut rows = statement
            .query(params_from_iter(values.iter()))
            .map_err(internal)?;
        while let Some(row) = rows.next().map_err(internal)? {
            let prompt_id: String = row.get(0).map_err(internal)?;
            let start: i64 = row.get(1).map_err(internal)?;
            let end: Option<i64> = row.get(2).map_err(internal)?;
            let usage_text: String = row.get(3).map_err(internal)?;
            let cost: Option<f64> = row.get(4).map_err(internal)?;
            let entry = accumulators.entry(prompt_id).or_default();
            entry.count += 1;
            entry.first = Some(entry.first.map_or(start, |first| first.min(start)));
            entry.last = Some(entry.last.map_or(start, |last| last.max(start)));
            if let Some(end) = end {
                entry.latencies.push((end - start) as f64 / 1e6);
            }
            let usage: Map<String, Value> = serde_json::from_str(&usage_text).unwrap_or_default();
            if !usage.is_empty() {
                let input = sum_keys_containing(&usage, "input").unwrap_or(0.0);
                let output = sum_keys_containing(&usage, "output").unwrap_or(0.0);
                let total = usage
                    .get("total")
                    .and_then(Value::as_f64)
                    .unwrap_or(input + output);
                entry.input_tokens.push(input);
                entry.output_tokens.push(output);
                entry.total_tokens.push(total);
            }
            if let Some(cost) = cost {
                entry.costs.push(cost);
            }
        }
    }
    let mut generation_scores = score_averages(
        connection,
        &format!(
            "SELECT o.prompt_id, s.name, s.data_type, COUNT(*), AVG(s.value) FROM observations o \
             JOIN scores s ON s.project_id = o.project_id AND s.trace_id = o.trace_id AND s.observation_id = o.id \
             WHERE {condition} AND s.data_type IN ('NUMERIC', 'BOOLEAN') \
             GROUP BY o.prompt_id, s.name, s.data_type ORDER BY s.name, s.data_type"
        ),
        &values,
    )?;
    let mut trace_scores = score_averages(
        connection,
        &format!(
            "SELECT t.prompt_id, s.name, s.data_type, COUNT(*), AVG(s.value) \
             FROM (SELECT DISTINCT o.prompt_id, o.trace_id FROM observations o WHERE {condition}) t \
             JOIN scores s ON s.project_id = ?1 AND s.trace_id = t.trace_id AND s.observation_id IS NULL \
             WHERE s.data_type IN ('NUMERIC', 'BOOLEAN') \
             GROUP BY t.prompt_id, s.name, s.data_type ORDER BY s.name, s.data_type"
        ),
        &values,
    )?;
    versions.sort_by_key(|version| std::cmp::Reverse(version.version));
    Ok(versions
        .into_iter()
        .map(|version| {
            let accumulator = accumulators.remove(&version.id).unwrap_or_default();
            PromptVersionUsage {
                generation_scores: generation_scores.remove(&version.id).unwrap_or_default(),
                trace_scores: trace_scores.remove(&version.id).unwrap_or_default(),
                prompt_id: version.id,
                version: version.version,
                labels: version.labels,
                generation_count: accumulator.count,
                first_used_at: accumulator.first,
                last_used_at: accumulator.last,
                latency_seconds: Distribution::of(accumulator.latencies),
                input_tokens: Distribution::of(accumulator.input_tokens),
                output_tokens: Distribution::of(accumulator.output_tokens),
                total_tokens: Distribution::of(accumulator.total_tokens),
                cost: Distribution::of(accumulator.costs),
            }
        })
        .collect())
}
