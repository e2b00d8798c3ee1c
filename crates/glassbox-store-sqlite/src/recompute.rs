//! Background recompute of inferred costs after a model was created or deleted. Jobs are
//! rows of `model_recompute_jobs`, queued in the same commit as the model change. One
//! thread per store works through them in batches of [`BATCH`] observations, each batch
//! one closure in the writer's group commit, so ingestion keeps flowing between batches
//! and a restart resumes where the last committed batch stopped.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Mutex, Weak};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};

use glassbox_model::models::pattern_matches;
use glassbox_model::time::now_micros;
use glassbox_model::{Micros, Observation, ProjectId};
use glassbox_store::{RecomputeJob, StoreError, StoreResult};

use crate::connection::{Writer, internal};
use crate::derived::{observation_changed, price_observation};
use crate::rows::{STORED_OBSERVATION_COLUMNS, observation_from_stored_row, upsert_observation};
use crate::sql::{query_all, query_optional};

/// Observations re-priced per writer closure.
pub(crate) const BATCH: usize = 200;

pub(crate) const JOB_COLUMNS: &str =
    "id, model_id, status, total, processed, updated, created_at, finished_at, error";

pub(crate) fn job_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RecomputeJob> {
    Ok(RecomputeJob {
        id: row.get(0)?,
        model_id: row.get(1)?,
        status: row.get(2)?,
        total: row.get::<_, i64>(3)?.max(0) as u64,
        processed: row.get::<_, i64>(4)?.max(0) as u64,
        updated: row.get::<_, i64>(5)?.max(0) as u64,
        created_at: row.get(6)?,
        finished_at: row.get(7)?,
        error: row.get(8)?,
    })
}

/// Queues a job (inside the caller's write) and returns it.
pub(crate) fn queue_job(
    connection: &Connection,
    project: &ProjectId,
    model_id: &str,
    patterns: &[String],
) -> StoreResult<RecomputeJob> {
    let now = now_micros();
    let id = format!("recompute-{model_id}-{now}");
    connection
        .execute(
            "INSERT INTO model_recompute_jobs (project_id, id, model_id, patterns, status, created_at) \
             VALUES (?1, ?2, ?3, ?4, 'queued', ?5)",
            params![project.as_str(), id, model_id, json!(patterns).to_string(), now],
        )
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

/// Handle of the store's recompute thread. Dropping it stops the thread.
pub(crate) struct Recompute {
    notify: Mutex<Option<Sender<()>>>,
}

impl Recompute {
    pub(crate) fn start(writer: Weak<Writer>) -> Recompute {
        let (sender, receiver) = mpsc::channel();
        // Jobs left by a previous run are picked up at once.
        let _ = sender.send(());
        let spawned = std::thread::Builder::new()
            .name("glassbox-recompute".into())
            .spawn(move || run(writer, receiver));
        if let Err(error) = spawned {
            tracing::error!(%error, "could not start the cost recompute thread");
        }
        Recompute {
            notify: Mutex::new(Some(sender)),
        }
    }

    /// Wakes the thread: a job was queued.
    pub(crate) fn notify(&self) {
        if let Ok(sender) = self.notify.lock()
            && let Some(sender) = sender.as_ref()
        {
            let _ = sender.send(());
        }
    }
}

impl Drop for Recompute {
    fn drop(&mut self) {
        if let Ok(mut sender) = self.notify.lock() {
            sender.take();
        }
    }
}

fn run(writer: Weak<Writer>, receiver: Receiver<()>) {
    while receiver.recv().is_ok() {
        while receiver.try_recv().is_ok() {}
        loop {
            let Some(writer) = writer.upgrade() else {
                return;
            };
            let result = writer.write_blocking(process_batch);
            drop(writer);
            match result {
                Ok(true) => std::thread::sleep(Duration::from_millis(1)),
                Ok(false) => break,
                Err(StoreError::Overloaded) => std::thread::sleep(Duration::from_millis(50)),
                Err(StoreError::Unavailable(_)) => return,
                Err(error) => {
                    tracing::error!(%error, "cost recompute batch failed");
                    break;
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
    cursor: (usize, Option<Micros>, Option<String>),
}

fn open_job(connection: &Connection) -> StoreResult<Option<OpenJob>> {
    connection
        .query_row(
            "SELECT project_id, id, patterns, status, model_strings, cursor FROM model_recompute_jobs \
             WHERE status IN ('queued', 'running') ORDER BY created_at, id LIMIT 1",
            [],
            |row| {
                let patterns: String = row.get(2)?;
                let strings: Option<String> = row.get(4)?;
                let cursor: Option<String> = row.get(5)?;
                let cursor: Value = cursor
                    .and_then(|text| serde_json::from_str(&text).ok())
                    .unwrap_or(Value::Null);
                Ok(OpenJob {
                    project: ProjectId(row.get(0)?),
                    id: row.get(1)?,
                    patterns: serde_json::from_str(&patterns).unwrap_or_default(),
                    status: row.get(3)?,
                    model_strings: strings
                        .and_then(|text| serde_json::from_str(&text).ok())
                        .unwrap_or_default(),
                    cursor: (
                        cursor[0].as_u64().unwrap_or(0) as usize,
                        cursor[1].as_i64(),
                        cursor[2].as_str().map(str::to_owned),
                    ),
                })
            },
        )
        .optional()
        .map_err(internal)
}

/// Works on the oldest open job: starts it (finds the model strings it covers and counts
/// their observations) or re-prices the next batch. Returns whether a job was open.
pub(crate) fn process_batch(connection: &Connection) -> StoreResult<bool> {
    let Some(job) = open_job(connection)? else {
        return Ok(false);
    };
    connection
        .execute_batch("SAVEPOINT recompute")
        .map_err(internal)?;
    match advance(connection, &job) {
        Ok(()) => connection
            .execute_batch("RELEASE recompute")
            .map_err(internal)?,
        Err(error) => {
            connection
                .execute_batch("ROLLBACK TO recompute; RELEASE recompute")
                .map_err(internal)?;
            connection
                .execute(
                    "UPDATE model_recompute_jobs SET status = 'failed', error = ?3, finished_at = ?4 \
                     WHERE project_id = ?1 AND id = ?2",
                    params![job.project.as_str(), job.id, error.to_string(), now_micros()],
                )
                .map_err(internal)?;
        }
    }
    Ok(true)
}

fn advance(connection: &Connection, job: &OpenJob) -> StoreResult<()> {
    let project = job.project.as_str();
    if job.status == "queued" {
        let strings: Vec<String> = query_all(connection, "SELECT DISTINCT model FROM observations WHERE project_id = ?1 AND model IS NOT NULL ORDER BY model", params![project], |row| row.get::<_, String>(0))?
            .into_iter()
            .filter(|model| job.patterns.iter().any(|pattern| pattern_matches(pattern, model)))
            .collect();
        let mut total: i64 = 0;
        for model in &strings {
            total += connection
                .prepare_cached(
                    "SELECT COUNT(*) FROM observations WHERE project_id = ?1 AND model = ?2",
                )
                .and_then(|mut statement| {
                    statement.query_row(params![project, model], |row| row.get::<_, i64>(0))
                })
                .map_err(internal)?;
        }
        connection
            .execute(
                "UPDATE model_recompute_jobs SET status = 'running', model_strings = ?3, total = ?4, cursor = '[0]' \
                 WHERE project_id = ?1 AND id = ?2",
                params![project, job.id, json!(strings).to_string(), total],
            )
            .map_err(internal)?;
        return Ok(());
    }
    let (mut index, mut start, mut last_id) = job.cursor.clone();
    let (mut processed, mut updated) = (0usize, 0i64);
    while processed < BATCH && index < job.model_strings.len() {
        let model = &job.model_strings[index];
        let limit = (BATCH - processed) as i64;
        let observations: Vec<Observation> = query_all(
            connection,
            &format!(
                "SELECT {STORED_OBSERVATION_COLUMNS} FROM observations o WHERE o.project_id = ?1 AND o.model = ?2 \
                 AND (?3 IS NULL OR o.start_time > ?3 OR (o.start_time = ?3 AND o.id > ?4)) \
                 ORDER BY o.start_time, o.id LIMIT ?5"
            ),
            params![project, model, start, last_id, limit],
            |row| observation_from_stored_row(connection, project, row),
        )?;
        if observations.is_empty() {
            index += 1;
            start = None;
            last_id = None;
            continue;
        }
        for before in observations {
            let mut after = before.clone();
            price_observation(connection, &job.project, &mut after)?;
            if after != before {
                observation_changed(connection, &job.project, true, &after)?;
                let snapshot = crate::snapshots::stored_mark(connection, &job.project, &after.id)?
                    .and_then(|mark| mark.sequence);
                upsert_observation(connection, &job.project, &after, snapshot, None)?;
                updated += 1;
            }
            processed += 1;
            start = Some(before.start_time);
            last_id = Some(before.id);
        }
    }
    let done = index >= job.model_strings.len();
    connection
        .execute(
            "UPDATE model_recompute_jobs SET processed = processed + ?3, updated = updated + ?4, cursor = ?5, \
             status = CASE WHEN ?6 THEN 'done' ELSE status END, finished_at = CASE WHEN ?6 THEN ?7 END \
             WHERE project_id = ?1 AND id = ?2",
            params![
                project,
                job.id,
                processed as i64,
                updated,
                json!([index, start, last_id]).to_string(),
                done,
                now_micros()
            ],
        )
        .map_err(internal)?;
    Ok(())
}

/// The latest job queued by a change of `model_id`.
pub(crate) fn latest_job(
    connection: &Connection,
    project: &ProjectId,
    model_id: &str,
) -> StoreResult<Option<RecomputeJob>> {
    query_optional(
        connection,
        &format!(
            "SELECT {JOB_COLUMNS} FROM model_recompute_jobs WHERE project_id = ?1 AND model_id = ?2 \
             ORDER BY created_at DESC, id DESC LIMIT 1"
        ),
        params![project.as_str(), model_id],
        job_from_row,
    )
}
