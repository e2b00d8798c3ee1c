//! The numbers of a run comparison: per run item its output, latency, cost and the
//! scores of its trace. Set-based: one query each for the run items and for the
//! observations, outputs and scores of their traces, however many items are compared.

use std::collections::{HashMap, HashSet};

use serde_json::Value;
use sqlx::{PgPool, Row};

use glassbox_model::Score;
use glassbox_model::datasets::{DatasetRunItem, RunItemResult};
use glassbox_store::StoreResult;

use super::{RUN_ITEM_COLUMNS, RUN_ITEM_FROM, run_item_from_row};
use crate::rows::{SCORE_COLUMNS, score_from_row};
use crate::sql::{Arg, Sql, Where};

/// What a comparison needs of one observation.
struct ObservationTimes {
    id: String,
    parent: Option<String>,
    start: i64,
    end: Option<i64>,
    cost: f64,
}

/// The observations of one trace, with children by parent id.
#[derive(Default)]
struct TraceTree {
    observations: Vec<ObservationTimes>,
    by_id: HashMap<String, usize>,
    children: HashMap<String, Vec<usize>>,
}

impl TraceTree {
    fn push(&mut self, observation: ObservationTimes) {
        let index = self.observations.len();
        self.by_id.insert(observation.id.clone(), index);
        if let Some(parent) = &observation.parent {
            self.children.entry(parent.clone()).or_default().push(index);
        }
        self.observations.push(observation);
    }

    /// Latency (seconds) of the observation and the total cost of it and its descendants.
    fn subtree(&self, root: usize) -> (Option<f64>, f64) {
        let Some(observation) = self.observations.get(root) else {
            return (None, 0.0);
        };
        let latency = observation
            .end
            .map(|end| (end - observation.start) as f64 / 1e6);
        let mut cost = 0.0;
        let mut seen: HashSet<usize> = HashSet::new();
        let mut stack = vec![root];
        while let Some(index) = stack.pop() {
            if !seen.insert(index) {
                continue;
            }
            let Some(node) = self.observations.get(index) else {
                continue;
            };
            cost += node.cost;
            if let Some(children) = self.children.get(&node.id) {
                stack.extend(children.iter().copied());
            }
        }
        (latency, cost)
    }

    /// Latency (seconds, first start to last end) and total cost of the whole trace;
    /// `None`s without observations.
    fn whole(&self) -> (Option<f64>, Option<f64>) {
        let Some(first) = self.observations.iter().map(|o| o.start).min() else {
            return (None, None);
        };
        let last = self
            .observations
            .iter()
            .map(|o| o.end.unwrap_or(o.start))
            .max()
            .unwrap_or(first);
        let cost = self.observations.iter().map(|o| o.cost).sum();
        (Some((last - first) as f64 / 1e6), Some(cost))
    }
}

fn parse_output(text: Option<String>) -> Option<Value> {
    text.and_then(|text| serde_json::from_str(&text).ok())
}

/// `(id, output text)` of the rows of `table alias` with these ids.
async fn outputs_by_id(
    pool: &PgPool,
    project: &str,
    from: &str,
    alias: &str,
    ids: Vec<String>,
) -> StoreResult<HashMap<String, Option<String>>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut clauses = Where::in_project(&format!("{alias}.project_id"), project);
    clauses.push(format!("{alias}.id = ANY(?)"), [Arg::from(ids)]);
    let mut select = Sql::new(format!("SELECT {alias}.id, {alias}.output FROM {from}"));
    select.push_where(&clauses);
    let rows = select
        .fetch_all(pool, |row| {
            Ok((
                row.try_get::<String, _>(0)?,
                row.try_get::<Option<String>, _>(1)?,
            ))
        })
        .await?;
    Ok(rows.into_iter().collect())
}

pub(super) async fn run_item_results(
    pool: &PgPool,
    project: &str,
    run_ids: &[String],
) -> StoreResult<Vec<RunItemResult>> {
    if run_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut clauses = Where::in_project("ri.project_id", project);
    clauses.any_of("ri.run_id", run_ids);
    let mut select = Sql::new(format!("SELECT {RUN_ITEM_COLUMNS} FROM {RUN_ITEM_FROM}"));
    select
        .push_where(&clauses)
        .push(" ORDER BY ri.created_at DESC, ri.id COLLATE \"C\" DESC");
    let mut seen: HashSet<(String, String)> = HashSet::new();
    let items: Vec<DatasetRunItem> = select
        .fetch_all(pool, run_item_from_row)
        .await?
        .into_iter()
        // Newest first: the first row of a (run, dataset item) is the one compared.
        .filter(|item| seen.insert((item.run_id.clone(), item.dataset_item_id.clone())))
        .collect();
    if items.is_empty() {
        return Ok(Vec::new());
    }
    let trace_ids: Vec<String> = items
        .iter()
        .map(|item| item.trace_id.clone())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let linked_ids: Vec<String> = items
        .iter()
        .filter_map(|item| item.observation_id.clone())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();

    let mut in_traces = Where::in_project("o.project_id", project);
    in_traces.push("o.trace_id = ANY(?)", [Arg::from(trace_ids.clone())]);
    let mut select = Sql::new(
        "SELECT o.id, o.trace_id, o.parent_observation_id, o.start_time, o.end_time, o.total_cost \
         FROM observations o",
    );
    select.push_where(&in_traces);
    let observations = select
        .fetch_all(pool, |row| {
            Ok((
                row.try_get::<String, _>(1)?,
                ObservationTimes {
                    id: row.try_get(0)?,
                    parent: row.try_get(2)?,
                    start: row.try_get(3)?,
                    end: row.try_get(4)?,
                    cost: row.try_get::<Option<f64>, _>(5)?.unwrap_or(0.0),
                },
            ))
        })
        .await?;
    let mut trees: HashMap<String, TraceTree> = HashMap::new();
    for (trace_id, observation) in observations {
        trees.entry(trace_id).or_default().push(observation);
    }

    let linked_outputs = outputs_by_id(pool, project, "observations o", "o", linked_ids).await?;
    let trace_outputs = outputs_by_id(pool, project, "traces t", "t", trace_ids.clone()).await?;

    let mut of_traces = Where::in_project("s.project_id", project);
    of_traces.push("s.trace_id = ANY(?)", [Arg::from(trace_ids)]);
    let mut select = Sql::new(format!("SELECT {SCORE_COLUMNS} FROM scores s"));
    select
        .push_where(&of_traces)
        .push(" ORDER BY s.timestamp DESC, s.id COLLATE \"C\" DESC");
    let mut scores: HashMap<String, Vec<Score>> = HashMap::new();
    for score in select.fetch_all(pool, score_from_row).await? {
        if let Some(trace_id) = score.trace_id.clone() {
            scores.entry(trace_id).or_default().push(score);
        }
    }

    let empty = TraceTree::default();
    Ok(items
        .into_iter()
        .map(|run_item| {
            let tree = trees.get(&run_item.trace_id).unwrap_or(&empty);
            let linked = run_item
                .observation_id
                .as_ref()
                .and_then(|id| tree.by_id.get(id).copied());
            let (output, latency_seconds, total_cost) = match linked {
                Some(index) => {
                    let (latency, cost) = tree.subtree(index);
                    let output = tree
                        .observations
                        .get(index)
                        .and_then(|observation| linked_outputs.get(&observation.id))
                        .cloned()
                        .flatten();
                    (parse_output(output), latency, Some(cost))
                }
                None => {
                    let (latency, cost) = tree.whole();
                    let output = trace_outputs.get(&run_item.trace_id).cloned().flatten();
                    (parse_output(output), latency, cost)
                }
            };
            let scores = scores.get(&run_item.trace_id).cloned().unwrap_or_default();
            RunItemResult {
                run_item,
                output,
                latency_seconds,
                total_cost,
                scores,
            }
        })
        .collect())
}
