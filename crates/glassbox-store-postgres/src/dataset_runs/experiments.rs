//! The experiments reads (`GET /api/public/experiments`, `/experiment-items`): run items
//! joined with their run and the observation and trace they link to, in keyset pages.

use std::collections::HashMap;

use sqlx::PgPool;
use sqlx::Row;

use glassbox_model::Observation;
use glassbox_store::{
    ExperimentCursor, ExperimentItem, ExperimentItemCursor, ExperimentQuery, ExperimentSummary,
    StoreResult,
};

use super::{
    RUN_COLUMNS, RUN_ITEM_COLUMNS, RUN_ITEM_WIDTH, RUN_WIDTH, run_from_row, run_item_from_row,
};
use crate::rows::{OBSERVATION_COLUMNS, observation_from_row};
use crate::sql::{Arg, ColumnResolver, Sql, Where, apply_filters, invalid_filter};

/// The start of an experiment item: its observation's start, else its trace's
/// timestamp, else (nothing arrived yet) the run item's creation.
const ITEM_START: &str = "COALESCE(o.start_time, t.timestamp, ri.created_at)";
const ITEM_END: &str = "COALESCE(o.end_time, o.start_time, t.timestamp, ri.created_at)";
const EXPERIMENT_ITEMS_FROM: &str = "dataset_run_items ri \
    JOIN dataset_runs r ON r.project_id = ri.project_id AND r.id = ri.run_id \
    LEFT JOIN datasets d ON d.project_id = r.project_id AND d.id = r.dataset_id \
    LEFT JOIN observations o ON o.project_id = ri.project_id AND o.id = ri.observation_id \
    LEFT JOIN traces t ON t.project_id = ri.project_id AND t.id = ri.trace_id";

/// Filter columns of both reads.
struct ExperimentColumns;

impl ColumnResolver for ExperimentColumns {
    fn expression(&self, column: &str) -> Option<String> {
        Some(
            match column {
                "id" | "experimentId" => "r.id",
                "name" | "experimentName" => "r.name",
                "datasetId" => "r.dataset_id",
                "experimentItemId" => "ri.dataset_item_id",
                _ => return None,
            }
            .to_owned(),
        )
    }

    fn score_target(&self) -> Option<(&'static str, &'static str, &'static str)> {
        None
    }
}

fn experiment_where(project: &str, query: &ExperimentQuery) -> StoreResult<Where> {
    let mut clauses = Where::in_project("ri.project_id", project);
    clauses.range(ITEM_START, Some(query.from_start_time), query.to_start_time);
    clauses.any_of("r.id", &query.experiment_ids);
    clauses.any_of("r.name", &query.experiment_names);
    clauses.any_of("r.dataset_id", &query.dataset_ids);
    clauses.any_of("ri.dataset_item_id", &query.item_ids);
    apply_filters(&mut clauses, &query.filters, &ExperimentColumns).map_err(invalid_filter)?;
    Ok(clauses)
}

pub(super) async fn list_experiments(
    pool: &PgPool,
    project: &str,
    query: &ExperimentQuery,
    cursor: Option<&ExperimentCursor>,
    limit: u32,
) -> StoreResult<Vec<ExperimentSummary>> {
    let clauses = experiment_where(project, query)?;
    let mut select = Sql::new(format!(
        "SELECT {RUN_COLUMNS}, MIN({ITEM_START}), MAX({ITEM_END}), COUNT(*) FROM {EXPERIMENT_ITEMS_FROM}"
    ));
    select
        .push_where(&clauses)
        .push(" GROUP BY r.project_id, r.id, d.name");
    if let Some(cursor) = cursor {
        select.push_with(
            &format!(" HAVING (MAX({ITEM_END}), r.id COLLATE \"C\") < (?, ? COLLATE \"C\")"),
            [Arg::from(cursor.end_time), Arg::from(&cursor.id)],
        );
    }
    select
        .push(&format!(
            " ORDER BY MAX({ITEM_END}) DESC, r.id COLLATE \"C\" DESC LIMIT "
        ))
        .bind(limit);
    select
        .fetch_all(pool, |row| {
            Ok(ExperimentSummary {
                run: run_from_row(row, 0)?,
                start_time: row.try_get(RUN_WIDTH)?,
                end_time: row.try_get(RUN_WIDTH + 1)?,
                item_count: u64::try_from(row.try_get::<i64, _>(RUN_WIDTH + 2)?).unwrap_or(0),
            })
        })
        .await
}

pub(super) async fn list_experiment_items(
    pool: &PgPool,
    project: &str,
    query: &ExperimentQuery,
    cursor: Option<&ExperimentItemCursor>,
    limit: u32,
) -> StoreResult<Vec<ExperimentItem>> {
    let mut clauses = experiment_where(project, query)?;
    if let Some(cursor) = cursor {
        clauses.push(
            format!(
                "({ITEM_START}, ri.trace_id COLLATE \"C\", ri.id COLLATE \"C\") \
                 < (?, ? COLLATE \"C\", ? COLLATE \"C\")"
            ),
            [
                Arg::from(cursor.start_time),
                Arg::from(&cursor.trace_id),
                Arg::from(&cursor.id),
            ],
        );
    }
    let mut select = Sql::new(format!(
        "SELECT {RUN_ITEM_COLUMNS}, {RUN_COLUMNS}, {ITEM_START} FROM {EXPERIMENT_ITEMS_FROM}"
    ));
    select
        .push_where(&clauses)
        .push(&format!(
            " ORDER BY {ITEM_START} DESC, ri.trace_id COLLATE \"C\" DESC, ri.id COLLATE \"C\" DESC LIMIT "
        ))
        .bind(limit);
    let rows = select
        .fetch_all(pool, |row| {
            Ok((
                run_item_from_row(row)?,
                run_from_row(row, RUN_ITEM_WIDTH)?,
                row.try_get::<i64, _>(RUN_ITEM_WIDTH + RUN_WIDTH)?,
            ))
        })
        .await?;
    let linked: Vec<String> = rows
        .iter()
        .filter_map(|(run_item, _, _)| run_item.observation_id.clone())
        .collect();
    let observations = observations_by_id(pool, project, linked).await?;
    Ok(rows
        .into_iter()
        .map(|(run_item, run, start_time)| ExperimentItem {
            observation: run_item
                .observation_id
                .as_ref()
                .and_then(|id| observations.get(id).cloned()),
            run_item,
            run,
            start_time,
        })
        .collect())
}

/// The observations of the project with these ids, in one query.
async fn observations_by_id(
    pool: &PgPool,
    project: &str,
    ids: Vec<String>,
) -> StoreResult<HashMap<String, Observation>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut clauses = Where::in_project("o.project_id", project);
    clauses.push("o.id = ANY(?)", [Arg::from(ids)]);
    let mut select = Sql::new(format!("SELECT {OBSERVATION_COLUMNS} FROM observations o"));
    select.push_where(&clauses);
    let observations = select.fetch_all(pool, observation_from_row).await?;
    Ok(observations
        .into_iter()
        .map(|observation| (observation.id.clone(), observation))
        .collect())
}
