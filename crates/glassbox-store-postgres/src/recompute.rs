//! Background recompute of inferred costs after a model was created, replaced or deleted.
//!
//! Jobs are rows of `model_recompute_jobs`, queued in the same transaction as the model
//! change (which also sends `pg_notify('glassbox_recompute', project)`). Every process runs
//! one worker ([`start`]): it claims the oldest open job with `FOR UPDATE SKIP LOCKED`,
//! re-prices the next [`BATCH`] observations of it and saves the cursor in the same
//! transaction, then repeats. So a batch is never done twice, two processes work on
//! different jobs, and a crash resumes after the last committed batch. The worker wakes on
//! the notification and, should one be missed, every [`POLL`].

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use sqlx::postgres::{PgListener, PgRow};
use sqlx::{PgConnection, PgPool, Row};
use tokio::sync::Notify;

use glassbox_model::models::pattern_matches;
use glassbox_model::time::now_micros;
use glassbox_model::{Micros, Observation, ProjectId};
use glassbox_store::{RecomputeJob, StoreError, StoreResult};

use crate::cost::price_observations;
use crate::internal;

/// Observations re-priced per transaction.
pub(crate) const BATCH: usize = 200;
/// The notification channel of queued jobs (payload: the project id).
const CHANNEL: &str = "glassbox_recompute";
/// How often an idle worker looks for jobs without a notification.
const POLL: Duration = Duration::from_secs(5);

/// The columns [`job_from_row`] reads, as a literal for `concat!`.
macro_rules! job_columns {
    () => {
        "id, model_id, status, total, processed, updated, created_at, finished_at, error"
    };
}

/// The observation columns pricing reads and writes ([`priced_from_row`]).
macro_rules! priced_columns {
    () => {
        "id, start_time, level, input, output, model, internal_model_id, model_parameters, \
         metadata, provided_usage_details, usage_details, provided_cost_details, cost_details, \
         total_cost"
    };
}

fn job_from_row(row: &PgRow) -> StoreResult<RecomputeJob> {
    let count = |column: &str| -> StoreResult<u64> {
        let value: i64 = row.try_get(column).map_err(internal)?;
        Ok(value.max(0) as u64)
    };
    Ok(RecomputeJob {
        id: row.try_get("id").map_err(internal)?,
        model_id: row.try_get("model_id").map_err(internal)?,
        status: row.try_get("status").map_err(internal)?,
        total: count("total")?,
        processed: count("processed")?,
        updated: count("updated")?,
        created_at: row.try_get("created_at").map_err(internal)?,
        finished_at: row.try_get("finished_at").map_err(internal)?,
        error: row.try_get("error").map_err(internal)?,
    })
}

/// Queues a job inside the caller's transaction (the workers hear of it at commit).
pub(crate) async fn queue_job(
    connection: &mut PgConnection,
    project: &ProjectId,
    model_id: &str,
    patterns: &[String],
) -> StoreResult<RecomputeJob> {
    let now = now_micros();
    let id = format!("recompute-{model_id}-{}", uuid::Uuid::new_v4().simple());
    sqlx::query(
        "INSERT INTO model_recompute_jobs (project_id, id, model_id, patterns, status, created_at) \
         VALUES ($1, $2, $3, $4, 'queued', $5)",
    )
    .bind(project.as_str())
    .bind(&id)
    .bind(model_id)
    .bind(json!(patterns).to_string())
    .bind(now)
    .execute(&mut *connection)
    .await
    .map_err(internal)?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(project.as_str())
        .execute(&mut *connection)
        .await
        .map_err(internal)?;
    Ok(RecomputeJob {
        id,
        model_id: model_id.to_owned(),
        status: "queued".into(),
        total: 0,
        processed: 0,
        updated: 0,
        created_at: now,
        finished_at: None,
        error: None,
    })
}

/// The latest job queued by a change of `model_id`.
pub(crate) async fn latest_job(
    connection: &mut PgConnection,
    project: &ProjectId,
    model_id: &str,
) -> StoreResult<Option<RecomputeJob>> {
    let row = sqlx::query(concat!(
        "SELECT ",
        job_columns!(),
        " FROM model_recompute_jobs WHERE project_id = $1 AND model_id = $2 \
         ORDER BY created_at DESC, id DESC LIMIT 1"
    ))
    .bind(project.as_str())
    .bind(model_id)
    .fetch_optional(connection)
    .await
    .map_err(internal)?;
    row.map(|row| job_from_row(&row)).transpose()
}

/// Starts this process's recompute worker and its listener on the job channel. Both
/// stop when the pool is closed (or the runtime shuts down).
pub(crate) fn start(pool: PgPool) {
    let wake = Arc::new(Notify::new());
    // Jobs left by a previous run are picked up at once.
    wake.notify_one();
    tokio::spawn(listen(pool.clone(), wake.clone()));
    tokio::spawn(work(pool, wake));
}

/// Forwards notifications of queued jobs to the worker; reconnects after failures.
async fn listen(pool: PgPool, wake: Arc<Notify>) {
    while !pool.is_closed() {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(error) => {
                if !pool.is_closed() {
                    tracing::warn!(%error, "recompute: cannot listen for jobs, polling");
                    tokio::time::sleep(POLL).await;
                }
                continue;
            }
        };
        if let Err(error) = listener.listen(CHANNEL).await {
            tracing::warn!(%error, "recompute: LISTEN failed, polling");
            tokio::time::sleep(POLL).await;
            continue;
        }
        loop {
            match listener.recv().await {
                Ok(_) => wake.notify_one(),
                Err(sqlx::Error::PoolClosed) => return,
                Err(error) => {
                    tracing::warn!(%error, "recompute: lost the job listener");
                    // Jobs queued while it was down are found by the next poll.
                    wake.notify_one();
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    break;
                }
            }
        }
    }
}

async fn work(pool: PgPool, wake: Arc<Notify>) {
    loop {
        tokio::select! {
            _ = tokio::time::timeout(POLL, wake.notified()) => {}
            () = pool.close_event() => return,
        }
        loop {
            if pool.is_closed() {
                return;
            }
            match process_batch(&pool).await {
                Ok(true) => tokio::task::yield_now().await,
                Ok(false) => break,
                Err(error) => {
                    if pool.is_closed() {
                        return;
                    }
                    tracing::warn!(%error, "recompute batch failed, retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
}

struct OpenJob {
    project: ProjectId,
    id: String,
    patterns: Vec<String>,
    status: String,
    model_strings: Vec<String>,
    /// Index into `model_strings`, then (start_time, id) of the last processed row.
    cursor: (usize, Option<Micros>, Option<String>),
}

fn open_job_from_row(row: &PgRow) -> StoreResult<OpenJob> {
    let patterns: String = row.try_get("patterns").map_err(internal)?;
    let strings: Option<String> = row.try_get("model_strings").map_err(internal)?;
    let cursor: Option<String> = row.try_get("cursor").map_err(internal)?;
    let cursor: Value = cursor
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or(Value::Null);
    Ok(OpenJob {
        project: ProjectId(row.try_get("project_id").map_err(internal)?),
        id: row.try_get("id").map_err(internal)?,
        patterns: serde_json::from_str(&patterns).unwrap_or_default(),
        status: row.try_get("status").map_err(internal)?,
        model_strings: strings
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default(),
        cursor: (
            cursor[0].as_u64().unwrap_or(0) as usize,
            cursor[1].as_i64(),
            cursor[2].as_str().map(str::to_owned),
        ),
    })
}

/// Failures worth retrying later rather than failing the job: lost connections, pool
/// trouble, serialization failures and deadlocks (class 40), shutdowns (class 57).
fn retryable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(database) => database
            .code()
            .is_some_and(|code| code.starts_with("40") || code.starts_with("57")),
        _ => false,
    }
}

/// Claims the oldest open job no other process holds and advances it by one batch, in
/// one transaction. Returns whether a job was claimed.
pub(crate) async fn process_batch(pool: &PgPool) -> StoreResult<bool> {
    let mut tx = pool.begin().await.map_err(internal)?;
    let row = sqlx::query(
        "SELECT project_id, id, patterns, status, model_strings, cursor FROM model_recompute_jobs \
         WHERE status IN ('queued', 'running') ORDER BY created_at, id LIMIT 1 \
         FOR UPDATE SKIP LOCKED",
    )
    .fetch_optional(&mut *tx)
    .await
    .map_err(internal)?;
    let Some(row) = row else {
        return Ok(false);
    };
    let job = open_job_from_row(&row)?;
    let mut step = sqlx::Acquire::begin(&mut tx).await.map_err(internal)?;
    match advance(&mut step, &job).await {
        Ok(()) => step.commit().await.map_err(internal)?,
        Err(Failure::Database(error)) if retryable(&error) => return Err(internal(error)),
        Err(failure) => {
            step.rollback().await.map_err(internal)?;
            let message = match failure {
                Failure::Database(error) => error.to_string(),
                Failure::Store(error) => error.to_string(),
            };
            tracing::error!(job = %job.id, error = %message, "cost recompute failed");
            sqlx::query(
                "UPDATE model_recompute_jobs SET status = 'failed', error = $3, finished_at = $4 \
                 WHERE project_id = $1 AND id = $2",
            )
            .bind(job.project.as_str())
            .bind(&job.id)
            .bind(message)
            .bind(now_micros())
            .execute(&mut *tx)
            .await
            .map_err(internal)?;
        }
    }
    tx.commit().await.map_err(internal)?;
    Ok(true)
}

enum Failure {
    Database(sqlx::Error),
    Store(StoreError),
}

impl From<sqlx::Error> for Failure {
    fn from(error: sqlx::Error) -> Failure {
        Failure::Database(error)
    }
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Failure {
        Failure::Store(error)
    }
}

/// Starts the job (finds the model strings it covers and counts their observations) or
/// re-prices its next batch.
async fn advance(connection: &mut PgConnection, job: &OpenJob) -> Result<(), Failure> {
    let project = job.project.as_str();
    if job.status == "queued" {
        let models: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT model FROM observations WHERE project_id = $1 AND model IS NOT NULL \
             ORDER BY model",
        )
        .bind(project)
        .fetch_all(&mut *connection)
        .await?;
        let strings: Vec<String> = models
            .into_iter()
            .filter(|model| {
                job.patterns
                    .iter()
                    .any(|pattern| pattern_matches(pattern, model))
            })
            .collect();
        let total: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM observations WHERE project_id = $1 AND model = ANY($2)",
        )
        .bind(project)
        .bind(&strings)
        .fetch_one(&mut *connection)
        .await?;
        sqlx::query(
            "UPDATE model_recompute_jobs SET status = 'running', model_strings = $3, total = $4, \
             cursor = '[0]' WHERE project_id = $1 AND id = $2",
        )
        .bind(project)
        .bind(&job.id)
        .bind(json!(strings).to_string())
        .bind(total)
        .execute(&mut *connection)
        .await?;
        return Ok(());
    }
    let (mut index, mut start, mut last_id) = job.cursor.clone();
    let (mut processed, mut changed) = (0usize, Vec::<Observation>::new());
    while processed < BATCH && index < job.model_strings.len() {
        let model = &job.model_strings[index];
        let limit = (BATCH - processed) as i64;
        let rows = match (start, &last_id) {
            (Some(start), Some(last_id)) => {
                sqlx::query(concat!(
                    "SELECT ",
                    priced_columns!(),
                    " FROM observations WHERE project_id = $1 AND model = $2 \
                     AND (start_time, id) > ($3, $4) ORDER BY start_time, id LIMIT $5 FOR UPDATE"
                ))
                .bind(project)
                .bind(model)
                .bind(start)
                .bind(last_id)
                .bind(limit)
                .fetch_all(&mut *connection)
                .await?
            }
            _ => {
                sqlx::query(concat!(
                    "SELECT ",
                    priced_columns!(),
                    " FROM observations WHERE project_id = $1 AND model = $2 \
                     ORDER BY start_time, id LIMIT $3 FOR UPDATE"
                ))
                .bind(project)
                .bind(model)
                .bind(limit)
                .fetch_all(&mut *connection)
                .await?
            }
        };
        if rows.is_empty() {
            index += 1;
            start = None;
            last_id = None;
            continue;
        }
        let before = rows
            .iter()
            .map(priced_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(last) = before.last() {
            start = Some(last.start_time);
            last_id = Some(last.id.clone());
        }
        processed += before.len();
        let after = price_observations(connection, &job.project, before.clone()).await?;
        changed.extend(
            before
                .iter()
                .zip(after)
                .filter(|(before, after)| *before != after)
                .map(|(_, after)| after),
        );
    }
    save_prices(connection, &job.project, &changed).await?;
    let done = index >= job.model_strings.len();
    sqlx::query(
        "UPDATE model_recompute_jobs SET processed = processed + $3, updated = updated + $4, \
         cursor = $5, status = CASE WHEN $6 THEN 'done' ELSE status END, \
         finished_at = CASE WHEN $6 THEN $7 END WHERE project_id = $1 AND id = $2",
    )
    .bind(project)
    .bind(&job.id)
    .bind(processed as i64)
    .bind(changed.len() as i64)
    .bind(json!([index, start, last_id]).to_string())
    .bind(done)
    .bind(now_micros())
    .execute(&mut *connection)
    .await?;
    Ok(())
}

fn object(text: Option<String>) -> Map<String, Value> {
    match text.and_then(|text| serde_json::from_str::<Value>(&text).ok()) {
        Some(Value::Object(object)) => object,
        _ => Map::new(),
    }
}

fn json_value(text: Option<String>) -> Option<Value> {
    text.and_then(|text| serde_json::from_str(&text).ok())
}

/// An observation with the fields pricing reads and writes; the others stay empty (they
/// are neither read by pricing nor written back).
fn priced_from_row(row: &PgRow) -> Result<Observation, sqlx::Error> {
    Ok(Observation {
        id: row.try_get("id")?,
        trace_id: String::new(),
        parent_observation_id: None,
        is_app_root: false,
        r#type: String::new(),
        name: None,
        start_time: row.try_get("start_time")?,
        end_time: None,
        completion_start_time: None,
        environment: String::new(),
        metadata: object(row.try_get("metadata")?),
        level: row.try_get("level")?,
        status_message: None,
        version: None,
        input: json_value(row.try_get("input")?),
        output: json_value(row.try_get("output")?),
        model: row.try_get("model")?,
        internal_model_id: row.try_get("internal_model_id")?,
        model_parameters: json_value(row.try_get("model_parameters")?),
        provided_usage_details: object(row.try_get("provided_usage_details")?),
        usage_details: object(row.try_get("usage_details")?),
        provided_cost_details: object(row.try_get("provided_cost_details")?),
        cost_details: object(row.try_get("cost_details")?),
        total_cost: row.try_get("total_cost")?,
        prompt_id: None,
        prompt_name: None,
        prompt_version: None,
        created_at: 0,
        updated_at: 0,
    })
}

/// Writes the model, usage and cost of re-priced observations in one statement.
async fn save_prices(
    connection: &mut PgConnection,
    project: &ProjectId,
    observations: &[Observation],
) -> Result<(), sqlx::Error> {
    if observations.is_empty() {
        return Ok(());
    }
    let text = |map: &Map<String, Value>| Value::Object(map.clone()).to_string();
    let ids: Vec<&str> = observations.iter().map(|o| o.id.as_str()).collect();
    let models: Vec<Option<&str>> = observations
        .iter()
        .map(|o| o.internal_model_id.as_deref())
        .collect();
    let usage: Vec<String> = observations
        .iter()
        .map(|o| text(&o.usage_details))
        .collect();
    let cost: Vec<String> = observations.iter().map(|o| text(&o.cost_details)).collect();
    let totals: Vec<Option<f64>> = observations.iter().map(|o| o.total_cost).collect();
    sqlx::query(
        "UPDATE observations o SET internal_model_id = u.internal_model_id, \
         usage_details = u.usage_details, cost_details = u.cost_details, total_cost = u.total_cost \
         FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::float8[]) \
         AS u(id, internal_model_id, usage_details, cost_details, total_cost) \
         WHERE o.project_id = $1 AND o.id = u.id",
    )
    .bind(project.as_str())
    .bind(ids)
    .bind(models)
    .bind(usage)
    .bind(cost)
    .bind(totals)
    .execute(connection)
    .await
    .map(drop)
}
