//! What the write path derives from a folded observation, inside the writer's
//! transaction: its model, usage and cost (pricing), its fact row for the metrics engine,
//! and the rollup cells that row contributes to. A re-folded observation replaces its
//! previous fact and contribution (old subtracted, new added), so rollups never count an
//! observation twice; a trace that changes updates the copies of its fields in the facts
//! of its observations.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::Value;

use glassbox_model::metrics::{Granularity, LogSketch};
use glassbox_model::models::{ModelDefinition, builtin_models, select_model, tiers_from_json};
use glassbox_model::pricing::infer_usage_and_cost;
use glassbox_model::tokenize::count_tokens;
use glassbox_model::usage::sum_keys_containing;
use glassbox_model::{Micros, Observation, ProjectId, Trace};
use glassbox_store::StoreResult;

use crate::connection::internal;
use crate::sql::{query_all, query_optional};

// ---------------------------------------------------------------------------------------
// Pricing

pub(crate) const MODEL_COLUMNS: &str = "id, project_id, model_name, match_pattern, start_date, unit, tokenizer_id, \
    tokenizer_config, pricing_tiers, created_at, updated_at";

pub(crate) fn model_from_row(row: &Row<'_>) -> rusqlite::Result<ModelDefinition> {
    let tiers: String = row.get(8)?;
    let config: Option<String> = row.get(7)?;
    Ok(ModelDefinition {
        id: row.get(0)?,
        project_id: Some(ProjectId(row.get(1)?)),
        model_name: row.get(2)?,
        match_pattern: row.get(3)?,
        start_date: row.get(4)?,
        unit: row.get(5)?,
        tokenizer_id: row.get(6)?,
        tokenizer_config: config.and_then(|text| serde_json::from_str(&text).ok()),
        pricing_tiers: serde_json::from_str::<Value>(&tiers)
            .ok()
            .and_then(|value| tiers_from_json(&value).ok())
            .unwrap_or_default(),
        created_at: row.get(9)?,
        updated_at: row.get(10)?,
    })
}

/// The project's own definitions, parsed once per version of the set (cached by the ids
/// and update times of its rows, which differ between projects and databases).
pub(crate) fn project_models(
    connection: &Connection,
    project: &ProjectId,
) -> StoreResult<Arc<Vec<Arc<ModelDefinition>>>> {
    type Cache = Mutex<HashMap<String, Arc<Vec<Arc<ModelDefinition>>>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let mut statement = connection
        .prepare_cached("SELECT id, updated_at FROM models WHERE project_id = ?1 ORDER BY id")
        .map_err(internal)?;
    let mut fingerprint = String::new();
    let mut rows = statement
        .query(params![project.as_str()])
        .map_err(internal)?;
    while let Some(row) = rows.next().map_err(internal)? {
        let id: String = row.get(0).map_err(internal)?;
        let updated: i64 = row.get(1).map_err(internal)?;
        fingerprint.push_str(&format!("{id}:{updated};"));
    }
    if fingerprint.is_empty() {
        return Ok(Arc::new(Vec::new()));
    }
    let cache = CACHE.get_or_init(Default::default);
    let key = format!("{}\u{0}{fingerprint}", project.as_str());
    if let Some(found) = cache.lock().map_err(internal)?.get(&key) {
        return Ok(found.clone());
    }
    let models: Vec<Arc<ModelDefinition>> = connection
        .prepare_cached(&format!(
            "SELECT {MODEL_COLUMNS} FROM models WHERE project_id = ?1"
        ))
        .and_then(|mut statement| {
            statement
                .query_map(params![project.as_str()], model_from_row)?
                .map(|model| model.map(Arc::new))
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(internal)?;
    let models = Arc::new(models);
    let mut cache = cache.lock().map_err(internal)?;
    if cache.len() > 1_000 {
        cache.clear();
    }
    cache.insert(key, models.clone());
    Ok(models)
}

/// The built-in definition for a model string (built-ins have no start date, so the
/// choice depends on the string alone and is cached).
fn builtin_for(model: &str) -> Option<Arc<ModelDefinition>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Option<Arc<ModelDefinition>>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(found) = cache.lock().ok().and_then(|map| map.get(model).cloned()) {
        return found;
    }
    let found = select_model(builtin_models().iter(), model, 0).cloned();
    if let Ok(mut map) = cache.lock() {
        if map.len() > 10_000 {
            map.clear();
        }
        map.insert(model.to_owned(), found.clone());
    }
    found
}

/// The definition pricing `model` at `at`: the project's first, then the built-ins.
pub(crate) fn match_model(
    connection: &Connection,
    project: &ProjectId,
    model: &str,
    at: Micros,
) -> StoreResult<Option<Arc<ModelDefinition>>> {
    let own = project_models(connection, project)?;
    if let Some(found) = select_model(own.iter(), model, at) {
        return Ok(Some(found.clone()));
    }
    Ok(builtin_for(model))
}

/// Sets the observation's matched model, usage and cost (ingestion spec §1.8).
pub(crate) fn price_observation(
    connection: &Connection,
    project: &ProjectId,
    observation: &mut Observation,
) -> StoreResult<()> {
    let model = match observation
        .model
        .as_deref()
        .filter(|model| !model.is_empty())
    {
        Some(model) => match_model(connection, project, model, observation.start_time)?,
        None => None,
    };
    infer_usage_and_cost(observation, model.as_deref(), &count_tokens);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Facts

pub(crate) const FACT_COLUMNS: &str = "start_time, id, trace_id, type, name, environment, level, version, model, \
    prompt_name, prompt_version, parent_observation_id, is_root, end_time, completion_start_time, input_tokens, \
    output_tokens, total_tokens, input_cost, output_cost, total_cost, user_id, session_id, trace_name, \
    trace_release, trace_version, trace_tags";

/// The trace fields copied into the facts of its observations.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct TraceDims {
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub name: Option<String>,
    pub release: Option<String>,
    pub version: Option<String>,
    /// JSON array text.
    pub tags: String,
}

impl TraceDims {
    fn of(trace: &Trace) -> TraceDims {
        TraceDims {
            user_id: trace.user_id.clone(),
            session_id: trace.session_id.clone(),
            name: trace.name.clone(),
            release: trace.release.clone(),
            version: trace.version.clone(),
            tags: serde_json::to_string(&trace.tags).unwrap_or_else(|_| "[]".into()),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fact {
    pub start_time: Micros,
    pub id: String,
    pub trace_id: String,
    pub r#type: String,
    pub name: Option<String>,
    pub environment: String,
    pub level: String,
    pub version: Option<String>,
    pub model: Option<String>,
    pub prompt_name: Option<String>,
    pub prompt_version: Option<i64>,
    pub parent_observation_id: Option<String>,
    pub is_root: bool,
    pub end_time: Option<Micros>,
    pub completion_start_time: Option<Micros>,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub total_tokens: i64,
    pub input_cost: f64,
    pub output_cost: f64,
    pub total_cost: Option<f64>,
    pub trace: TraceDims,
}

impl Fact {
    fn of(observation: &Observation, trace: TraceDims) -> Fact {
        let usage = &observation.usage_details;
        let tokens = |needle| sum_keys_containing(usage, needle).unwrap_or(0.0) as i64;
        Fact {
            start_time: observation.start_time,
            id: observation.id.clone(),
            trace_id: observation.trace_id.clone(),
            r#type: observation.r#type.clone(),
            name: observation.name.clone(),
            environment: observation.environment.clone(),
            level: observation.level.clone(),
            version: observation.version.clone(),
            model: observation.model.clone(),
            prompt_name: observation.prompt_name.clone(),
            prompt_version: observation.prompt_version,
            parent_observation_id: observation.parent_observation_id.clone(),
            is_root: observation.parent_observation_id.is_none() || observation.is_app_root,
            end_time: observation.end_time,
            completion_start_time: observation.completion_start_time,
            input_tokens: tokens("input"),
            output_tokens: tokens("output"),
            total_tokens: usage.get("total").and_then(Value::as_i64).unwrap_or(0),
            input_cost: sum_keys_containing(&observation.cost_details, "input").unwrap_or(0.0),
            output_cost: sum_keys_containing(&observation.cost_details, "output").unwrap_or(0.0),
            total_cost: observation.total_cost,
            trace,
        }
    }

    fn from_row(row: &Row<'_>) -> rusqlite::Result<Fact> {
        Ok(Fact {
            start_time: row.get(0)?,
            id: row.get(1)?,
            trace_id: row.get(2)?,
            r#type: row.get(3)?,
            name: row.get(4)?,
            environment: row.get(5)?,
            level: row.get(6)?,
            version: row.get(7)?,
            model: row.get(8)?,
            prompt_name: row.get(9)?,
            prompt_version: row.get(10)?,
            parent_observation_id: row.get(11)?,
            is_root: row.get(12)?,
            end_time: row.get(13)?,
            completion_start_time: row.get(14)?,
            input_tokens: row.get(15)?,
            output_tokens: row.get(16)?,
            total_tokens: row.get(17)?,
            input_cost: row.get(18)?,
            output_cost: row.get(19)?,
            total_cost: row.get(20)?,
            trace: TraceDims {
                user_id: row.get(21)?,
                session_id: row.get(22)?,
                name: row.get(23)?,
                release: row.get(24)?,
                version: row.get(25)?,
                tags: row.get(26)?,
            },
        })
    }

    fn latency_ms(&self) -> Option<f64> {
        self.end_time
            .map(|end| (end - self.start_time) as f64 / 1_000.0)
    }

    fn ttft_ms(&self) -> Option<f64> {
        self.completion_start_time
            .map(|first| (first - self.start_time) as f64 / 1_000.0)
    }
}

fn trace_dims(
    connection: &Connection,
    project: &ProjectId,
    trace_id: &str,
) -> StoreResult<TraceDims> {
    connection
        .prepare_cached(
            "SELECT user_id, session_id, name, release, version, tags FROM traces WHERE project_id = ?1 AND id = ?2",
        )
        .and_then(|mut statement| {
            statement
                .query_row(params![project.as_str(), trace_id], |row| {
                    Ok(TraceDims {
                        user_id: row.get(0)?,
                        session_id: row.get(1)?,
                        name: row.get(2)?,
                        release: row.get(3)?,
                        version: row.get(4)?,
                        tags: row.get(5)?,
                    })
                })
                .optional()
        })
        .map(|found| {
            found.unwrap_or_else(|| TraceDims {
                tags: "[]".into(),
                ..TraceDims::default()
            })
        })
        .map_err(internal)
}

fn load_fact(
    connection: &Connection,
    project: &ProjectId,
    start_time: Micros,
    id: &str,
) -> StoreResult<Option<Fact>> {
    query_optional(
        connection,
        &format!(
            "SELECT {FACT_COLUMNS} FROM observation_facts WHERE project_id = ?1 AND start_time = ?2 AND id = ?3"
        ),
        params![project.as_str(), start_time, id],
        Fact::from_row,
    )
}

/// `INDEXED BY`: without statistics SQLite would scan the whole project through the
/// primary key's `project_id` prefix instead.
fn facts_of_trace(
    connection: &Connection,
    project: &ProjectId,
    trace_id: &str,
) -> StoreResult<Vec<Fact>> {
    query_all(
        connection,
        &format!(
            "SELECT {FACT_COLUMNS} FROM observation_facts INDEXED BY observation_facts_by_trace \
             WHERE project_id = ?1 AND trace_id = ?2"
        ),
        params![project.as_str(), trace_id],
        Fact::from_row,
    )
}

fn delete_fact(connection: &Connection, project: &ProjectId, fact: &Fact) -> StoreResult<()> {
    connection
        .prepare_cached(
            "DELETE FROM observation_facts WHERE project_id = ?1 AND start_time = ?2 AND id = ?3",
        )
        .and_then(|mut statement| {
            statement.execute(params![project.as_str(), fact.start_time, fact.id])
        })
        .map(drop)
        .map_err(internal)
}

fn insert_fact(connection: &Connection, project: &ProjectId, fact: &Fact) -> StoreResult<()> {
    let values: Vec<SqlValue> = vec![
        project.as_str().to_owned().into(),
        fact.start_time.into(),
        fact.id.clone().into(),
        fact.trace_id.clone().into(),
        fact.r#type.clone().into(),
        fact.name.clone().into(),
        fact.environment.clone().into(),
        fact.level.clone().into(),
        fact.version.clone().into(),
        fact.model.clone().into(),
        fact.prompt_name.clone().into(),
        fact.prompt_version.into(),
        fact.parent_observation_id.clone().into(),
        i64::from(fact.is_root).into(),
        fact.end_time.into(),
        fact.completion_start_time.into(),
        fact.input_tokens.into(),
        fact.output_tokens.into(),
        fact.total_tokens.into(),
        fact.input_cost.into(),
        fact.output_cost.into(),
        fact.total_cost.into(),
        fact.trace.user_id.clone().into(),
        fact.trace.session_id.clone().into(),
        fact.trace.name.clone().into(),
        fact.trace.release.clone().into(),
        fact.trace.version.clone().into(),
        fact.trace.tags.clone().into(),
    ];
    connection
        .prepare_cached(&format!(
            "INSERT OR REPLACE INTO observation_facts (project_id, {FACT_COLUMNS}) VALUES ({})",
            crate::sql::placeholders(values.len())
        ))
        .and_then(|mut statement| statement.execute(rusqlite::params_from_iter(values)))
        .map(drop)
        .map_err(internal)
}

// ---------------------------------------------------------------------------------------
// Rollups

/// A rollup table: its time unit and the fact columns it groups by.
pub(crate) struct Rollup {
    pub table: &'static str,
    pub unit: Granularity,
    pub columns: &'static [&'static str],
}

pub(crate) const ROLLUPS: [Rollup; 2] = [
    Rollup {
        table: "rollup_observations_daily",
        unit: Granularity::Day,
        columns: &["environment", "type", "name", "model", "level"],
    },
    Rollup {
        table: "rollup_users_daily",
        unit: Granularity::Day,
        columns: &["environment", "user_id"],
    },
];

/// The measure columns of every rollup table, in this order.
pub(crate) const CELL_COLUMNS: &str = "rows, latency_n, latency_sum, ttft_n, ttft_sum, input_tokens, \
    output_tokens, total_tokens, input_cost, output_cost, total_cost_n, total_cost, latency_sketch";

#[derive(Debug, Clone, Default)]
pub(crate) struct Cell {
    pub rows: i64,
    pub latency_n: i64,
    pub latency_sum: f64,
    pub ttft_n: i64,
    pub ttft_sum: f64,
    pub input_tokens: f64,
    pub output_tokens: f64,
    pub total_tokens: f64,
    pub input_cost: f64,
    pub output_cost: f64,
    pub total_cost_n: i64,
    pub total_cost: f64,
    pub latency_sketch: LogSketch,
}

impl Cell {
    /// Reads the measure columns starting at `first`.
    pub(crate) fn from_row(
        row: &Row<'_>,
        first: usize,
        with_sketch: bool,
    ) -> rusqlite::Result<Cell> {
        let sketch = if with_sketch {
            LogSketch::from_bytes(&row.get::<_, Vec<u8>>(first + 12)?)
        } else {
            LogSketch::default()
        };
        Ok(Cell {
            rows: row.get(first)?,
            latency_n: row.get(first + 1)?,
            latency_sum: row.get(first + 2)?,
            ttft_n: row.get(first + 3)?,
            ttft_sum: row.get(first + 4)?,
            input_tokens: row.get(first + 5)?,
            output_tokens: row.get(first + 6)?,
            total_tokens: row.get(first + 7)?,
            input_cost: row.get(first + 8)?,
            output_cost: row.get(first + 9)?,
            total_cost_n: row.get(first + 10)?,
            total_cost: row.get(first + 11)?,
            latency_sketch: sketch,
        })
    }

    fn add(&mut self, fact: &Fact, sign: i64) {
        let s = sign as f64;
        self.rows += sign;
        if let Some(latency) = fact.latency_ms() {
            self.latency_n += sign;
            self.latency_sum += s * latency;
            self.latency_sketch.add(latency, sign);
        }
        if let Some(ttft) = fact.ttft_ms() {
            self.ttft_n += sign;
            self.ttft_sum += s * ttft;
        }
        self.input_tokens += s * fact.input_tokens as f64;
        self.output_tokens += s * fact.output_tokens as f64;
        self.total_tokens += s * fact.total_tokens as f64;
        self.input_cost += s * fact.input_cost;
        self.output_cost += s * fact.output_cost;
        if let Some(cost) = fact.total_cost {
            self.total_cost_n += sign;
            self.total_cost += s * cost;
        }
    }
}

fn fact_column(fact: &Fact, column: &str) -> Option<String> {
    match column {
        "environment" => Some(fact.environment.clone()),
        "type" => Some(fact.r#type.clone()),
        "name" => fact.name.clone(),
        "model" => fact.model.clone(),
        "level" => Some(fact.level.clone()),
        "user_id" => fact.trace.user_id.clone(),
        _ => None,
    }
}

fn cell_address(rollup: &Rollup, fact: &Fact) -> (Micros, Vec<Option<String>>) {
    let values = rollup
        .columns
        .iter()
        .map(|column| fact_column(fact, column))
        .collect();
    (rollup.unit.bucket(fact.start_time), values)
}

/// Rollup changes of the current write, grouped by cell: (rollup index, project,
/// address) → (fact, sign) changes, applied once per cell by [`batched`].
type PendingCells = HashMap<(usize, String, (Micros, Vec<Option<String>>)), Vec<(Fact, i64)>>;

/// Writes the facts of a request's observations, gathered by [`observation_changed`]:
/// after every fold of the request, so each takes its trace's final fields (read once
/// per trace) and is written once, in key order; a fact its trace's fold rewrote in the
/// meantime is the `old` one replaced here.
fn write_facts(
    connection: &Connection,
    mut facts: Vec<(ProjectId, Option<Micros>, Fact)>,
) -> StoreResult<()> {
    facts.sort_by(|a, b| (&a.0.0, a.2.start_time, &a.2.id).cmp(&(&b.0.0, b.2.start_time, &b.2.id)));
    let mut dims: HashMap<(String, String), TraceDims> = HashMap::new();
    for (project, previous_start, mut fact) in facts {
        let key = (project.as_str().to_owned(), fact.trace_id.clone());
        fact.trace = match dims.get(&key) {
            Some(found) => found.clone(),
            None => {
                let found = trace_dims(connection, &project, &fact.trace_id)?;
                dims.insert(key, found.clone());
                found
            }
        };
        let old = match previous_start {
            Some(start) => load_fact(connection, &project, start, &fact.id)?,
            None => None,
        };
        replace_fact(connection, &project, old.as_ref(), Some(&fact))?;
    }
    Ok(())
}

/// A request's observation facts waiting for [`write_facts`]: (project, start of the
/// stored row before the fold, fact without its trace fields).
type PendingFacts = Vec<(ProjectId, Option<Micros>, Fact)>;

thread_local! {
    /// Set while the writer thread runs [`batched`]: facts wait here.
    static PENDING_FACTS: std::cell::RefCell<Option<PendingFacts>> = const { std::cell::RefCell::new(None) };
    /// Set while the writer thread runs [`batched`]: cell changes wait here.
    static PENDING: std::cell::RefCell<Option<PendingCells>> = const { std::cell::RefCell::new(None) };
}

/// Runs `work` (one write request on the writer thread) with rollup cell updates
/// gathered and applied once per cell at its end: a request's observations share their
/// day, environment, model and user cells. Cell sums and sketches add up in any order,
/// so the result is the one of applying them one by one. Nothing is applied when `work`
/// fails (its savepoint is rolled back anyway).
pub(crate) fn batched<T>(
    connection: &Connection,
    work: impl FnOnce() -> StoreResult<T>,
) -> StoreResult<T> {
    PENDING.with(|pending| *pending.borrow_mut() = Some(HashMap::new()));
    PENDING_FACTS.with(|pending| *pending.borrow_mut() = Some(Vec::new()));
    let result = work();
    let facts = PENDING_FACTS
        .with(|pending| pending.borrow_mut().take())
        .unwrap_or_default();
    let result = result.and_then(|value| {
        crate::profile::time(crate::profile::Phase::Derived, || {
            write_facts(connection, facts)
        })?;
        Ok(value)
    });
    let cells = PENDING
        .with(|pending| pending.borrow_mut().take())
        .unwrap_or_default();
    let value = result?;
    crate::profile::time(crate::profile::Phase::Derived, || {
        for ((index, project, address), changes) in cells {
            let changes: Vec<(&Fact, i64)> =
                changes.iter().map(|(fact, sign)| (fact, *sign)).collect();
            apply_cell(
                connection,
                &ProjectId(project),
                &ROLLUPS[index],
                &address,
                &changes,
            )?;
        }
        Ok::<(), glassbox_store::StoreError>(())
    })?;
    Ok(value)
}

fn update_cell(
    connection: &Connection,
    project: &ProjectId,
    rollup: &Rollup,
    address: &(Micros, Vec<Option<String>>),
    changes: &[(&Fact, i64)],
) -> StoreResult<()> {
    let index = ROLLUPS
        .iter()
        .position(|known| known.table == rollup.table)
        .unwrap_or(0);
    let deferred = PENDING.with(|pending| {
        let mut pending = pending.borrow_mut();
        let Some(cells) = pending.as_mut() else {
            return false;
        };
        cells
            .entry((index, project.as_str().to_owned(), address.clone()))
            .or_default()
            .extend(changes.iter().map(|(fact, sign)| ((*fact).clone(), *sign)));
        true
    });
    if deferred {
        return Ok(());
    }
    apply_cell(connection, project, rollup, address, changes)
}

fn apply_cell(
    connection: &Connection,
    project: &ProjectId,
    rollup: &Rollup,
    (bucket, values): &(Micros, Vec<Option<String>>),
    changes: &[(&Fact, i64)],
) -> StoreResult<()> {
    let key = serde_json::to_string(values).map_err(internal)?;
    let mut cell = query_optional(
        connection,
        &format!(
            "SELECT {CELL_COLUMNS} FROM {} WHERE project_id = ?1 AND bucket = ?2 AND key = ?3",
            rollup.table
        ),
        params![project.as_str(), bucket, key],
        |row| Cell::from_row(row, 0, true),
    )?
    .unwrap_or_default();
    for (fact, sign) in changes {
        cell.add(fact, *sign);
    }
    if cell.rows <= 0 {
        return connection
            .prepare_cached(&format!(
                "DELETE FROM {} WHERE project_id = ?1 AND bucket = ?2 AND key = ?3",
                rollup.table
            ))
            .and_then(|mut statement| statement.execute(params![project.as_str(), bucket, key]))
            .map(drop)
            .map_err(internal);
    }
    let mut row: Vec<SqlValue> = vec![
        project.as_str().to_owned().into(),
        (*bucket).into(),
        key.into(),
    ];
    row.extend(values.iter().map(|value| SqlValue::from(value.clone())));
    row.extend([
        cell.rows.into(),
        cell.latency_n.into(),
        cell.latency_sum.into(),
        cell.ttft_n.into(),
        cell.ttft_sum.into(),
        cell.input_tokens.into(),
        cell.output_tokens.into(),
        cell.total_tokens.into(),
        cell.input_cost.into(),
        cell.output_cost.into(),
        cell.total_cost_n.into(),
        cell.total_cost.into(),
        SqlValue::Blob(cell.latency_sketch.to_bytes()),
    ]);
    connection
        .prepare_cached(&format!(
            "INSERT OR REPLACE INTO {} (project_id, bucket, key, {}, {CELL_COLUMNS}) VALUES ({})",
            rollup.table,
            rollup.columns.join(", "),
            crate::sql::placeholders(row.len())
        ))
        .and_then(|mut statement| statement.execute(rusqlite::params_from_iter(row)))
        .map(drop)
        .map_err(internal)
}

/// Replaces `old` by `new` (either may be absent): the fact row and every rollup cell.
fn replace_fact(
    connection: &Connection,
    project: &ProjectId,
    old: Option<&Fact>,
    new: Option<&Fact>,
) -> StoreResult<()> {
    if old.is_some() && old == new {
        return Ok(());
    }
    if let Some(old) = old {
        delete_fact(connection, project, old)?;
    }
    if let Some(new) = new {
        insert_fact(connection, project, new)?;
    }
    for rollup in &ROLLUPS {
        let old_address = old.map(|fact| cell_address(rollup, fact));
        let new_address = new.map(|fact| cell_address(rollup, fact));
        match (old, new, &new_address) {
            (Some(old), Some(new), Some(address)) if old_address.as_ref() == Some(address) => {
                update_cell(connection, project, rollup, address, &[(old, -1), (new, 1)])?;
            }
            _ => {
                if let (Some(old), Some(address)) = (old, &old_address) {
                    update_cell(connection, project, rollup, address, &[(old, -1)])?;
                }
                if let (Some(new), Some(address)) = (new, &new_address) {
                    update_cell(connection, project, rollup, address, &[(new, 1)])?;
                }
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Hooks of the write path

/// After the fold of an observation, before its row is written: prices it and replaces
/// its fact and rollup contribution.
pub(crate) fn observation_folded(
    connection: &Connection,
    project: &ProjectId,
    observation: &mut Observation,
) -> StoreResult<()> {
    let previous_start: Option<Micros> = query_optional(
        connection,
        "SELECT start_time FROM observations WHERE project_id = ?1 AND id = ?2",
        params![project.as_str(), observation.id],
        |row| row.get(0),
    )?;
    observation_folded_after(connection, project, observation, previous_start)
}

/// [`observation_folded`] when the caller knows the stored row's start (`None`: no row).
pub(crate) fn observation_folded_after(
    connection: &Connection,
    project: &ProjectId,
    observation: &mut Observation,
    previous_start: Option<Micros>,
) -> StoreResult<()> {
    price_observation(connection, project, observation)?;
    observation_changed(connection, project, previous_start, observation)
}

/// Replaces the fact of an observation whose stored row had `previous_start` (if any).
/// Inside [`batched`] the fact waits for the end of the request (see [`PENDING_FACTS`]).
pub(crate) fn observation_changed(
    connection: &Connection,
    project: &ProjectId,
    previous_start: Option<Micros>,
    observation: &Observation,
) -> StoreResult<()> {
    let deferred = PENDING_FACTS.with(|pending| {
        let mut pending = pending.borrow_mut();
        let Some(facts) = pending.as_mut() else {
            return false;
        };
        let fact = Fact::of(observation, TraceDims::default());
        facts.push((project.clone(), previous_start, fact));
        true
    });
    if deferred {
        return Ok(());
    }
    let old = match previous_start {
        Some(start) => load_fact(connection, project, start, &observation.id)?,
        None => None,
    };
    let dims = trace_dims(connection, project, &observation.trace_id)?;
    let new = Fact::of(observation, dims);
    replace_fact(connection, project, old.as_ref(), Some(&new))
}

/// After the fold of a trace: its fields in the facts of its observations follow it.
pub(crate) fn trace_folded(
    connection: &Connection,
    project: &ProjectId,
    trace: &Trace,
) -> StoreResult<()> {
    let dims = TraceDims::of(trace);
    for old in facts_of_trace(connection, project, &trace.id)? {
        if old.trace != dims {
            let mut new = old.clone();
            new.trace = dims.clone();
            replace_fact(connection, project, Some(&old), Some(&new))?;
        }
    }
    Ok(())
}

/// Before a trace's observations are deleted: their facts and contributions go.
pub(crate) fn trace_deleted(
    connection: &Connection,
    project: &ProjectId,
    trace_id: &str,
) -> StoreResult<()> {
    for old in facts_of_trace(connection, project, trace_id)? {
        replace_fact(connection, project, Some(&old), None)?;
    }
    Ok(())
}

/// Builds the facts and rollups of observations stored before they existed (once, at
/// start-up after the upgrade that added them).
pub(crate) fn rebuild_if_needed(connection: &Connection) -> Result<(), String> {
    let needed: bool = connection
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM derived_state WHERE name = 'rebuild_metrics' AND value = 1)",
            [],
            |row| row.get(0),
        )
        .map_err(|error| format!("reading derived state: {error}"))?;
    if !needed {
        return Ok(());
    }
    tracing::info!("building metrics facts and rollups of stored observations");
    let work = || -> StoreResult<()> {
        connection
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(internal)?;
        for table in [
            "observation_facts",
            "rollup_observations_daily",
            "rollup_users_daily",
        ] {
            connection
                .execute(&format!("DELETE FROM {table}"), [])
                .map_err(internal)?;
        }
        let mut statement = connection
            .prepare(&format!(
                "SELECT {}, o.project_id FROM observations o",
                crate::rows::STORED_OBSERVATION_COLUMNS
            ))
            .map_err(internal)?;
        let last = statement.column_count() - 1;
        let mut rows = statement.query([]).map_err(internal)?;
        while let Some(row) = rows.next().map_err(internal)? {
            let project = ProjectId(row.get(last).map_err(internal)?);
            let observation =
                crate::rows::observation_from_stored_row(connection, project.as_str(), row)
                    .map_err(internal)?;
            let dims = trace_dims(connection, &project, &observation.trace_id)?;
            replace_fact(
                connection,
                &project,
                None,
                Some(&Fact::of(&observation, dims)),
            )?;
        }
        connection
            .execute(
                "UPDATE derived_state SET value = 0 WHERE name = 'rebuild_metrics'",
                [],
            )
            .map_err(internal)?;
        connection.execute_batch("COMMIT").map_err(internal)
    };
    work().map_err(|error| {
        let _ = connection.execute_batch("ROLLBACK");
        format!("building metrics facts failed: {error}")
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use glassbox_model::ingest::{EntityKind, IngestEvent};
    use glassbox_model::metrics::{ApiVersion, parse_query_value};
    use glassbox_model::{JsonObject, ProjectId};
    use glassbox_store::{IngestStore, MetricsOptions, MetricsStore};

    use crate::SqliteStore;

    fn generation(index: i64) -> IngestEvent {
        let start = 1_740_823_200_000_000 + index * 600_000_000; // 2025-03-01T10:00Z + 10 min steps
        let body: JsonObject =
            json!({"id": format!("g{index}"), "traceId": format!("t{}", index % 4),
            "type": "GENERATION", "name": format!("n{}", index % 3), "model": "gpt-4o",
            "startTime": start, "endTime": start + (index + 1) * 1_000,
            "providedUsageDetails": {"input": 100 * index, "output": 10}})
            .as_object()
            .unwrap()
            .clone();
        IngestEvent {
            event_id: format!("e{index}"),
            event_type: "generation-create".into(),
            timestamp: start,
            kind: EntityKind::Observation,
            entity_id: format!("g{index}"),
            body,
            snapshot: false,
        }
    }

    async fn answer(store: &Arc<SqliteStore>) -> Vec<glassbox_model::metrics::ResultRow> {
        let query = parse_query_value(
            &json!({"view": "observations", "dimensions": [{"field": "name"}],
                "metrics": [{"measure": "totalCost", "aggregation": "sum"}, {"measure": "latency", "aggregation": "p50"}],
                "fromTimestamp": "2025-03-01T00:00:00Z", "toTimestamp": "2025-03-03T00:00:00Z"}),
            ApiVersion::V1,
        )
        .unwrap();
        store
            .query_metrics(&ProjectId("p".into()), &query, MetricsOptions::default())
            .await
            .unwrap()
    }

    fn trace(id: &str, user: &str, number: i64) -> IngestEvent {
        IngestEvent {
            event_id: format!("{id}-{user}-{number}"),
            event_type: "trace-create".into(),
            timestamp: 1_740_823_200_000_000 + number,
            kind: EntityKind::Trace,
            entity_id: id.into(),
            body: json!({"id": id, "userId": user, "name": format!("trace-{user}")})
                .as_object()
                .unwrap()
                .clone(),
            snapshot: false,
        }
    }

    fn dump(dir: &std::path::Path, sql: &str) -> Vec<String> {
        let connection = rusqlite::Connection::open(dir.join(crate::DATABASE_FILE)).unwrap();
        let mut statement = connection.prepare(sql).unwrap();
        let width = statement.column_count();
        statement
            .query_map([], |row| {
                let values: Vec<String> = (0..width)
                    .map(|index| match row.get_ref(index).unwrap() {
                        rusqlite::types::ValueRef::Text(text) => {
                            String::from_utf8_lossy(text).into_owned()
                        }
                        // Costs are compared to 12 digits: the rebuild prices again.
                        rusqlite::types::ValueRef::Real(real) => format!("{real:.12e}"),
                        other => format!("{other:?}"),
                    })
                    .collect();
                Ok(values.join("|"))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// Facts are written at the end of each request (after its traces are folded): they
    /// match the ones rebuilt from the stored rows, whatever the order of trace and
    /// observation events within and across requests.
    #[tokio::test]
    async fn facts_written_per_request_follow_their_traces() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let project = ProjectId("p".into());
        let mut first: Vec<IngestEvent> = (0..12).map(generation).collect();
        first.insert(3, trace("t1", "alice", 1));
        first.push(trace("t0", "bob", 2));
        first.push(trace("t1", "carol", 3));
        store.ingest(&project, first).await.unwrap();
        let mut second = vec![trace("t2", "dave", 4)];
        second.extend((8..16).map(generation));
        second.push(trace("t0", "erin", 5));
        store.ingest(&project, second).await.unwrap();
        store
            .ingest(&project, vec![trace("t3", "frank", 6)])
            .await
            .unwrap();
        let facts_sql = "SELECT * FROM observation_facts ORDER BY project_id, start_time, id";
        let users_sql = "SELECT project_id, bucket, environment, user_id, rows, input_tokens \
                         FROM rollup_users_daily ORDER BY 1, 2, 3, 4";
        let facts = dump(dir.path(), facts_sql);
        assert_eq!(facts.len(), 16);
        assert!(facts.iter().any(|fact| fact.contains("erin")));
        let users = dump(dir.path(), users_sql);
        store.shutdown();
        drop(store);
        let connection = rusqlite::Connection::open(dir.path().join(crate::DATABASE_FILE)).unwrap();
        connection
            .execute_batch(
                "DELETE FROM observation_facts; DELETE FROM rollup_observations_daily; DELETE FROM rollup_users_daily; \
                 INSERT OR REPLACE INTO derived_state (name, value) VALUES ('rebuild_metrics', 1);",
            )
            .unwrap();
        drop(connection);
        SqliteStore::open(dir.path()).unwrap().shutdown();
        assert_eq!(dump(dir.path(), facts_sql), facts);
        assert_eq!(dump(dir.path(), users_sql), users);
    }

    #[tokio::test]
    async fn facts_and_rollups_are_rebuilt_for_stored_observations() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let events: Vec<IngestEvent> = (0..40).map(generation).collect();
        store.ingest(&ProjectId("p".into()), events).await.unwrap();
        let before = answer(&store).await;
        assert_eq!(before.len(), 3);
        store.shutdown();
        drop(store);
        // As after an upgrade from a version without the derived tables.
        let connection = rusqlite::Connection::open(dir.path().join(crate::DATABASE_FILE)).unwrap();
        connection
            .execute_batch(
                "DELETE FROM observation_facts; DELETE FROM rollup_observations_daily; DELETE FROM rollup_users_daily; \
                 INSERT OR REPLACE INTO derived_state (name, value) VALUES ('rebuild_metrics', 1);",
            )
            .unwrap();
        drop(connection);
        let store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(answer(&store).await, before);
    }
}
