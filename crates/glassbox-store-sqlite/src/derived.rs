//! What the write path derives from a folded observation, inside the writer's
//! transaction: its model, usage and cost (pricing), the measure columns of its row
//! ([`Measures`]), and the rollup cells it contributes to. A re-folded observation
//! replaces its previous contribution (computed from its stored row before the row is
//! overwritten: old subtracted, new added), so rollups never count an observation twice;
//! a trace whose user changes moves the contributions of its observations.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::{Arc, Mutex, OnceLock};

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::Value;

use glassbox_model::metrics::{Granularity, LogSketch};
use glassbox_model::models::{ModelDefinition, builtin_models, select_model, tiers_from_json};
use glassbox_model::pricing::infer_usage_and_cost;
use glassbox_model::tokenize::count_tokens;
use glassbox_model::usage::sum_keys_containing;
use glassbox_model::{JsonObject, Micros, Observation, ProjectId, Trace};
use glassbox_store::StoreResult;

use crate::connection::internal;
use crate::details::{COST_DETAILS_SQL, USAGE_DETAILS_SQL};
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
// Measures and facts

/// The numbers of an observation that metrics sum and that SQL cannot cheaply take from
/// its usage and cost maps: kept in columns of its row (`input_tokens`, `output_tokens`,
/// `total_tokens`, `input_cost`, `output_cost`), computed when the row is written.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Measures {
    /// Sum of the usage keys containing "input".
    pub input_tokens: i64,
    /// Sum of the usage keys containing "output".
    pub output_tokens: i64,
    /// Usage `total`.
    pub total_tokens: i64,
    /// Sum of the cost keys containing "input".
    pub input_cost: f64,
    /// Sum of the cost keys containing "output".
    pub output_cost: f64,
}

impl Measures {
    pub(crate) fn of(observation: &Observation) -> Measures {
        Measures::of_maps(&observation.usage_details, &observation.cost_details)
    }

    pub(crate) fn of_maps(usage: &JsonObject, cost: &JsonObject) -> Measures {
        let tokens = |needle| sum_keys_containing(usage, needle).unwrap_or(0.0) as i64;
        Measures {
            input_tokens: tokens("input"),
            output_tokens: tokens("output"),
            total_tokens: usage.get("total").and_then(Value::as_i64).unwrap_or(0),
            input_cost: sum_keys_containing(cost, "input").unwrap_or(0.0),
            output_cost: sum_keys_containing(cost, "output").unwrap_or(0.0),
        }
    }
}

/// The columns of an observation row [`Fact::from_row`] reads (unqualified).
const FACT_COLUMNS: [&str; 15] = [
    "start_time",
    "trace_id",
    "type",
    "name",
    "environment",
    "level",
    "model",
    "end_time",
    "completion_start_time",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "input_cost",
    "output_cost",
    "total_cost",
];

/// [`FACT_COLUMNS`] qualified by `alias`, comma-separated.
fn fact_columns(alias: &str) -> String {
    FACT_COLUMNS
        .iter()
        .map(|column| format!("{alias}.{column}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What an observation contributes to the rollups: the cells it is counted in (its
/// day and dimensions, its trace's user) and the values it adds there. Built from the
/// folded observation, or from its stored row and its trace's stored user; never stored.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fact {
    pub start_time: Micros,
    pub trace_id: String,
    pub r#type: String,
    pub name: Option<String>,
    pub environment: String,
    pub level: String,
    pub model: Option<String>,
    pub end_time: Option<Micros>,
    pub completion_start_time: Option<Micros>,
    pub measures: Measures,
    pub total_cost: Option<f64>,
    /// The user of the observation's trace (`None` also when there is no trace row).
    pub user_id: Option<String>,
}

impl Fact {
    fn of(observation: &Observation, user_id: Option<String>) -> Fact {
        Fact {
            start_time: observation.start_time,
            trace_id: observation.trace_id.clone(),
            r#type: observation.r#type.clone(),
            name: observation.name.clone(),
            environment: observation.environment.clone(),
            level: observation.level.clone(),
            model: observation.model.clone(),
            end_time: observation.end_time,
            completion_start_time: observation.completion_start_time,
            measures: Measures::of(observation),
            total_cost: observation.total_cost,
            user_id,
        }
    }

    /// Reads [`FACT_COLUMNS`] starting at `first`; the user is the caller's.
    fn from_row(row: &Row<'_>, first: usize, user_id: Option<String>) -> rusqlite::Result<Fact> {
        Ok(Fact {
            start_time: row.get(first)?,
            trace_id: row.get(first + 1)?,
            r#type: row.get(first + 2)?,
            name: row.get(first + 3)?,
            environment: row.get(first + 4)?,
            level: row.get(first + 5)?,
            model: row.get(first + 6)?,
            end_time: row.get(first + 7)?,
            completion_start_time: row.get(first + 8)?,
            measures: Measures {
                input_tokens: row.get(first + 9)?,
                output_tokens: row.get(first + 10)?,
                total_tokens: row.get(first + 11)?,
                input_cost: row.get(first + 12)?,
                output_cost: row.get(first + 13)?,
            },
            total_cost: row.get(first + 14)?,
            user_id,
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

/// The stored user of a trace (`None` without a trace row). Inside [`batched`] it is read
/// once per request and trace, and follows the trace's folds and deletion.
fn trace_user(
    connection: &Connection,
    project: &ProjectId,
    trace_id: &str,
) -> StoreResult<Option<String>> {
    let key = (project.as_str().to_owned(), trace_id.to_owned());
    let cached = PENDING.with(|pending| {
        pending
            .borrow()
            .as_ref()
            .and_then(|pending| pending.users.get(&key).cloned())
    });
    if let Some(user) = cached {
        return Ok(user);
    }
    let user: Option<String> = connection
        .prepare_cached("SELECT user_id FROM traces WHERE project_id = ?1 AND id = ?2")
        .and_then(|mut statement| {
            statement
                .query_row(params![project.as_str(), trace_id], |row| row.get(0))
                .optional()
        })
        .map(Option::flatten)
        .map_err(internal)?;
    remember_user(key, user.clone());
    Ok(user)
}

/// Inside [`batched`]: the trace `key` has (or is about to have) `user`.
fn remember_user(key: (String, String), user: Option<String>) {
    PENDING.with(|pending| {
        if let Some(pending) = pending.borrow_mut().as_mut() {
            pending.users.insert(key, user);
        }
    });
}

/// The fact of the stored row of observation `id`, if there is one.
fn stored_fact(
    connection: &Connection,
    project: &ProjectId,
    id: &str,
) -> StoreResult<Option<Fact>> {
    let found = query_optional(
        connection,
        &format!(
            "SELECT {} FROM observations o WHERE o.project_id = ?1 AND o.id = ?2",
            fact_columns("o")
        ),
        params![project.as_str(), id],
        |row| Fact::from_row(row, 0, None),
    )?;
    match found {
        Some(mut fact) => {
            fact.user_id = trace_user(connection, project, &fact.trace_id)?;
            Ok(Some(fact))
        }
        None => Ok(None),
    }
}

/// The facts of the stored rows of a trace's observations, with `user_id` as its user.
/// `INDEXED BY`: without statistics SQLite may prefer another index's `project_id` prefix.
fn facts_of_trace(
    connection: &Connection,
    project: &ProjectId,
    trace_id: &str,
    user_id: &Option<String>,
) -> StoreResult<Vec<Fact>> {
    query_all(
        connection,
        &format!(
            "SELECT {} FROM observations o INDEXED BY observations_by_trace \
             WHERE o.project_id = ?1 AND o.trace_id = ?2",
            fact_columns("o")
        ),
        params![project.as_str(), trace_id],
        |row| Fact::from_row(row, 0, user_id.clone()),
    )
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
        self.input_tokens += s * fact.measures.input_tokens as f64;
        self.output_tokens += s * fact.measures.output_tokens as f64;
        self.total_tokens += s * fact.measures.total_tokens as f64;
        self.input_cost += s * fact.measures.input_cost;
        self.output_cost += s * fact.measures.output_cost;
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
        "user_id" => fact.user_id.clone(),
        _ => None,
    }
}

/// A cell of a rollup: its bucket and dimension values.
pub(crate) type Address = (Micros, Vec<Option<String>>);

fn cell_address(rollup: &Rollup, fact: &Fact) -> Address {
    let values = rollup
        .columns
        .iter()
        .map(|column| fact_column(fact, column))
        .collect();
    (rollup.unit.bucket(fact.start_time), values)
}

/// The derived-state work of the current write request, gathered by [`batched`].
#[derive(Default)]
struct Pending {
    /// Rollup changes grouped by cell: (rollup index, project, address) → (fact, sign)
    /// changes in the order they were made, applied once per cell. A fact is shared by
    /// the cells it changes (one per rollup), not copied.
    cells: crate::deferred_rollups::CellChanges,
    /// (project, trace id) → the trace's user as stored (or about to be).
    users: HashMap<(String, String), Option<String>>,
}

thread_local! {
    /// Set while the writer thread runs [`batched`].
    static PENDING: std::cell::RefCell<Option<Pending>> = const { std::cell::RefCell::new(None) };
}

/// Runs `work` (one write request on the writer thread) with rollup cell updates
/// gathered per cell and handed, once it succeeded, to [`crate::deferred_rollups`],
/// which writes them with a later commit: a request's observations share their day,
/// environment, model and user cells. Each change is computed from the rows as they are
/// when it is made (every hook runs just before its row is written), so the changes of
/// a cell add up to the ones of applying them one by one; they are applied in the order
/// they were made. Nothing is kept when `work` fails (its savepoint is rolled back
/// anyway).
pub(crate) fn batched<T>(work: impl FnOnce() -> StoreResult<T>) -> StoreResult<T> {
    PENDING.with(|pending| *pending.borrow_mut() = Some(Pending::default()));
    let result = work();
    let pending = PENDING
        .with(|pending| pending.borrow_mut().take())
        .unwrap_or_default();
    let value = result?;
    crate::deferred_rollups::stage(pending.cells);
    Ok(value)
}

fn update_cell(
    connection: &Connection,
    project: &ProjectId,
    index: usize,
    address: Address,
    changes: &[(&Rc<Fact>, i64)],
) -> StoreResult<()> {
    let deferred = PENDING.with(|pending| pending.borrow().is_some());
    if !deferred {
        let changes: Vec<(&Fact, i64)> = changes
            .iter()
            .map(|(fact, sign)| (&***fact, *sign))
            .collect();
        return apply_cell(connection, project, &ROLLUPS[index], &address, &changes);
    }
    PENDING.with(|pending| {
        if let Some(pending) = pending.borrow_mut().as_mut() {
            pending
                .cells
                .entry((index, project.as_str().to_owned(), address))
                .or_default()
                .extend(changes.iter().map(|(fact, sign)| (Rc::clone(fact), *sign)));
        }
    });
    Ok(())
}

pub(crate) fn apply_cell(
    connection: &Connection,
    project: &ProjectId,
    rollup: &Rollup,
    address: &Address,
    changes: &[(&Fact, i64)],
) -> StoreResult<()> {
    let (bucket, values) = address;
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
    write_cell(connection, project, rollup, address, &cell)
}

/// Stores `cell` at `address`, or deletes it when it counts no row.
fn write_cell(
    connection: &Connection,
    project: &ProjectId,
    rollup: &Rollup,
    (bucket, values): &Address,
    cell: &Cell,
) -> StoreResult<()> {
    let key = serde_json::to_string(values).map_err(internal)?;
    // Zero rows: nothing left. Below zero, a direct change ran ahead of buffered ones
    // (`deferred_rollups`), which bring the cell back.
    if cell.rows == 0 {
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

/// Replaces the contribution `old` by `new` (either may be absent) in every rollup.
fn replace_fact(
    connection: &Connection,
    project: &ProjectId,
    old: Option<Fact>,
    new: Option<Fact>,
) -> StoreResult<()> {
    if old.is_some() && old == new {
        return Ok(());
    }
    let (old, new) = (old.map(Rc::new), new.map(Rc::new));
    for (index, rollup) in ROLLUPS.iter().enumerate() {
        let old_address = old.as_deref().map(|fact| cell_address(rollup, fact));
        let new_address = new.as_deref().map(|fact| cell_address(rollup, fact));
        match (&old, &new, old_address, new_address) {
            (Some(old), Some(new), Some(old_address), Some(address)) if old_address == address => {
                update_cell(connection, project, index, address, &[(old, -1), (new, 1)])?;
            }
            (old, new, old_address, new_address) => {
                if let (Some(old), Some(address)) = (old, old_address) {
                    update_cell(connection, project, index, address, &[(old, -1)])?;
                }
                if let (Some(new), Some(address)) = (new, new_address) {
                    update_cell(connection, project, index, address, &[(new, 1)])?;
                }
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Hooks of the write path. Each runs just before its row is written (or deleted): the
// old contribution is read from the stored rows, the new one from the folded entity.

/// After the fold of an observation, before its row is written: prices it and replaces
/// its rollup contribution.
pub(crate) fn observation_folded(
    connection: &Connection,
    project: &ProjectId,
    observation: &mut Observation,
) -> StoreResult<()> {
    price_observation(connection, project, observation)?;
    let old = stored_fact(connection, project, &observation.id)?;
    replace_observation(connection, project, old, observation)
}

/// [`observation_folded`] when the caller knows whether the observation has a stored row.
pub(crate) fn observation_folded_after(
    connection: &Connection,
    project: &ProjectId,
    observation: &mut Observation,
    has_row: bool,
) -> StoreResult<()> {
    price_observation(connection, project, observation)?;
    observation_changed(connection, project, has_row, observation)
}

/// Replaces the rollup contribution of an observation about to be written over its
/// stored row, if it `has_row` (without one, nothing is read).
pub(crate) fn observation_changed(
    connection: &Connection,
    project: &ProjectId,
    has_row: bool,
    observation: &Observation,
) -> StoreResult<()> {
    let old = if has_row {
        stored_fact(connection, project, &observation.id)?
    } else {
        None
    };
    replace_observation(connection, project, old, observation)
}

fn replace_observation(
    connection: &Connection,
    project: &ProjectId,
    old: Option<Fact>,
    observation: &Observation,
) -> StoreResult<()> {
    let user = trace_user(connection, project, &observation.trace_id)?;
    let new = Fact::of(observation, user);
    replace_fact(connection, project, old, Some(new))
}

/// After the fold of a trace, before its row is written: when its user changes, the
/// contributions of its stored observations move to the new user's cells.
pub(crate) fn trace_folded(
    connection: &Connection,
    project: &ProjectId,
    trace: &Trace,
) -> StoreResult<()> {
    let old_user = trace_user(connection, project, &trace.id)?;
    remember_user(
        (project.as_str().to_owned(), trace.id.clone()),
        trace.user_id.clone(),
    );
    if old_user == trace.user_id {
        return Ok(());
    }
    for old in facts_of_trace(connection, project, &trace.id, &old_user)? {
        let new = Fact {
            user_id: trace.user_id.clone(),
            ..old.clone()
        };
        replace_fact(connection, project, Some(old), Some(new))?;
    }
    Ok(())
}

/// Before a trace and its observations are deleted: their contributions go.
pub(crate) fn trace_deleted(
    connection: &Connection,
    project: &ProjectId,
    trace_id: &str,
) -> StoreResult<()> {
    let user = trace_user(connection, project, trace_id)?;
    remember_user((project.as_str().to_owned(), trace_id.to_owned()), None);
    for old in facts_of_trace(connection, project, trace_id, &user)? {
        replace_fact(connection, project, Some(old), None)?;
    }
    Ok(())
}

/// Rebuilds the rollups (and the measure columns) from the stored observation rows and
/// their traces, once at start-up when `derived_state` asks for it (after an upgrade
/// from a version without them).
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
    tracing::info!("building metrics rollups of stored observations");
    let work = || -> StoreResult<()> {
        connection
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(internal)?;
        for rollup in &ROLLUPS {
            connection
                .execute(&format!("DELETE FROM {}", rollup.table), [])
                .map_err(internal)?;
        }
        let mut cells: HashMap<(usize, String, Address), Cell> = HashMap::new();
        // Rows whose measure columns differ from their usage and cost maps (rows stored
        // before the columns existed), updated after the scan.
        let mut stale: Vec<(i64, Measures)> = Vec::new();
        {
            let first = 5;
            let mut statement = connection
                .prepare(&format!(
                    "SELECT o.rowid, o.project_id, {USAGE_DETAILS_SQL}, {COST_DETAILS_SQL}, t.user_id, {} \
                     FROM observations o LEFT JOIN traces t ON t.project_id = o.project_id AND t.id = o.trace_id",
                    fact_columns("o")
                ))
                .map_err(internal)?;
            let mut rows = statement.query([]).map_err(internal)?;
            while let Some(row) = rows.next().map_err(internal)? {
                let rowid: i64 = row.get(0).map_err(internal)?;
                let project: String = row.get(1).map_err(internal)?;
                let map = |index: usize| -> StoreResult<JsonObject> {
                    let text: String = row.get(index).map_err(internal)?;
                    Ok(serde_json::from_str(&text).unwrap_or_default())
                };
                let measures = Measures::of_maps(&map(2)?, &map(3)?);
                let user: Option<String> = row.get(4).map_err(internal)?;
                let mut fact = Fact::from_row(row, first, user).map_err(internal)?;
                if fact.measures != measures {
                    stale.push((rowid, measures));
                    fact.measures = measures;
                }
                for (index, rollup) in ROLLUPS.iter().enumerate() {
                    cells
                        .entry((index, project.clone(), cell_address(rollup, &fact)))
                        .or_default()
                        .add(&fact, 1);
                }
            }
        }
        for (rowid, measures) in stale {
            connection
                .prepare_cached(
                    "UPDATE observations SET input_tokens = ?2, output_tokens = ?3, total_tokens = ?4, \
                     input_cost = ?5, output_cost = ?6 WHERE rowid = ?1",
                )
                .and_then(|mut statement| {
                    statement.execute(params![
                        rowid,
                        measures.input_tokens,
                        measures.output_tokens,
                        measures.total_tokens,
                        measures.input_cost,
                        measures.output_cost
                    ])
                })
                .map_err(internal)?;
        }
        for ((index, project, address), cell) in cells {
            write_cell(
                connection,
                &ProjectId(project),
                &ROLLUPS[index],
                &address,
                &cell,
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
        format!("building metrics rollups failed: {error}")
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

    use super::Measures;
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
        crate::details::register(&connection).expect("SQL functions");
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

    fn update(index: i64, input: i64, output: i64) -> IngestEvent {
        let start = 1_740_823_200_000_000 + index * 600_000_000;
        let body: JsonObject =
            json!({"id": format!("g{index}"), "traceId": format!("t{}", index % 4),
            "type": "GENERATION", "endTime": start + 77_000,
            "providedUsageDetails": {"input": input, "output": output}})
            .as_object()
            .unwrap()
            .clone();
        IngestEvent {
            event_id: format!("u{index}-{input}"),
            event_type: "generation-update".into(),
            timestamp: start + 1,
            kind: EntityKind::Observation,
            entity_id: format!("g{index}"),
            body,
            snapshot: false,
        }
    }

    const MEASURES_SQL: &str = concat!(
        "SELECT o.project_id, o.id, o.input_tokens, o.output_tokens, o.total_tokens, o.input_cost, o.output_cost, ",
        crate::details::usage_details_sql!(),
        ", ",
        crate::details::cost_details_sql!(),
        " FROM observations o ORDER BY o.project_id, o.id"
    );
    const OBSERVATION_CELLS_SQL: &str =
        "SELECT * FROM rollup_observations_daily ORDER BY project_id, bucket, key";
    const USER_CELLS_SQL: &str =
        "SELECT * FROM rollup_users_daily ORDER BY project_id, bucket, key";

    /// Empties the rollups and the measure columns, as after an upgrade from a version
    /// without them (whose rows hold every usage and cost map as text), and asks for the
    /// rebuild at the next start.
    fn forget_derived(dir: &std::path::Path) {
        let connection = rusqlite::Connection::open(dir.join(crate::DATABASE_FILE)).unwrap();
        crate::details::register(&connection).expect("SQL functions");
        connection
            .execute_batch(&format!(
                "UPDATE observations AS o SET provided_usage_details = {}, usage_details = {}, cost_details = {}; \
                 DELETE FROM rollup_observations_daily; DELETE FROM rollup_users_daily; \
                 UPDATE observations SET input_tokens = 0, output_tokens = 0, total_tokens = 0, input_cost = 0, \
                 output_cost = 0; \
                 INSERT OR REPLACE INTO derived_state (name, value) VALUES ('rebuild_metrics', 1);",
                crate::details::PROVIDED_USAGE_DETAILS_SQL,
                crate::details::USAGE_DETAILS_SQL,
                crate::details::COST_DETAILS_SQL,
            ))
            .unwrap();
    }

    /// The measure columns of every stored row are the ones of its usage and cost maps.
    fn check_measures(dir: &std::path::Path) {
        let connection = rusqlite::Connection::open(dir.join(crate::DATABASE_FILE)).unwrap();
        crate::details::register(&connection).expect("SQL functions");
        let mut statement = connection.prepare(MEASURES_SQL).unwrap();
        let rows: Vec<(String, Measures, Measures)> = statement
            .query_map([], |row| {
                let stored = Measures {
                    input_tokens: row.get(2)?,
                    output_tokens: row.get(3)?,
                    total_tokens: row.get(4)?,
                    input_cost: row.get(5)?,
                    output_cost: row.get(6)?,
                };
                let usage: String = row.get(7)?;
                let cost: String = row.get(8)?;
                let derived = Measures::of_maps(
                    &serde_json::from_str(&usage).unwrap(),
                    &serde_json::from_str(&cost).unwrap(),
                );
                Ok((row.get(1)?, stored, derived))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(!rows.is_empty());
        for (id, stored, derived) in rows {
            assert_eq!(stored, derived, "measures of {id}");
        }
    }

    /// Rollups are maintained per request from the stored rows (old) and the folded
    /// entities (new): they match the ones rebuilt from the rows, whatever the order of
    /// trace and observation events within and across requests, with observations
    /// re-folded, traces whose user changes after their observations were written, and a
    /// deleted trace.
    #[tokio::test]
    async fn rollups_follow_their_traces_and_match_a_rebuild_from_rows() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let project = ProjectId("p".into());
        let mut first: Vec<IngestEvent> = (0..12).map(generation).collect();
        first.insert(3, trace("t1", "alice", 1));
        first.push(trace("t0", "bob", 2));
        first.push(trace("t1", "carol", 3));
        store.ingest(&project, first).await.unwrap();
        let mut second = vec![trace("t2", "dave", 4), update(5, 7, 70)];
        second.extend((8..16).map(generation));
        second.push(trace("t0", "erin", 5));
        second.push(update(1, 3, 30));
        store.ingest(&project, second).await.unwrap();
        store
            .ingest(&project, vec![trace("t3", "frank", 6), update(5, 9, 90)])
            .await
            .unwrap();
        store
            .ingest(&project, vec![trace("t3", "gina", 7)])
            .await
            .unwrap();
        store
            .delete_traces(&project, &["t3".to_owned()])
            .await
            .unwrap();
        store.shutdown();
        drop(store);

        check_measures(dir.path());
        let connection = rusqlite::Connection::open(dir.path().join(crate::DATABASE_FILE)).unwrap();
        let g5: (i64, i64, i64, f64) = connection
            .query_row(
                "SELECT input_tokens, output_tokens, total_tokens, output_cost FROM observations \
                 WHERE project_id = 'p' AND id = 'g5'",
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
            )
            .unwrap();
        assert_eq!((g5.0, g5.1, g5.2), (9, 90, 99));
        assert!(g5.3 > 0.0, "output cost of g5: {}", g5.3);
        // Per user: t0 (erin) g0 g4 g8 g12, t1 (carol) g1 g5 g9 g13, t2 (dave) g2 g6 g10
        // g14; t3 and its observations were deleted.
        let users: Vec<(Option<String>, i64, f64, f64)> = connection
            .prepare("SELECT user_id, rows, input_tokens, output_tokens FROM rollup_users_daily ORDER BY user_id")
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            users,
            vec![
                (
                    Some("carol".to_owned()),
                    4,
                    3.0 + 9.0 + 900.0 + 1300.0,
                    30.0 + 90.0 + 20.0
                ),
                (Some("dave".to_owned()), 4, 3200.0, 40.0),
                (Some("erin".to_owned()), 4, 2400.0, 40.0),
            ]
        );
        let observations: i64 = connection
            .query_row(
                "SELECT SUM(rows) FROM rollup_observations_daily",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(observations, 12);
        drop(connection);

        let cells = dump(dir.path(), OBSERVATION_CELLS_SQL);
        let users = dump(dir.path(), USER_CELLS_SQL);
        let measures = dump(dir.path(), MEASURES_SQL);
        forget_derived(dir.path());
        SqliteStore::open(dir.path()).unwrap().shutdown();
        check_measures(dir.path());
        assert_eq!(dump(dir.path(), MEASURES_SQL), measures);
        assert_eq!(dump(dir.path(), OBSERVATION_CELLS_SQL), cells);
        assert_eq!(dump(dir.path(), USER_CELLS_SQL), users);

        // A rollup answers a filter on the trace's user from its own column.
        let store = SqliteStore::open(dir.path()).unwrap();
        let query = parse_query_value(
            &json!({"view": "observations", "dimensions": [{"field": "userId"}],
                "filters": [{"column": "userId", "type": "string", "operator": "=", "value": "carol"}],
                "metrics": [{"measure": "inputTokens", "aggregation": "sum"}, {"measure": "count", "aggregation": "count"}],
                "fromTimestamp": "2025-03-01T00:00:00Z", "toTimestamp": "2025-03-02T00:00:00Z"}),
            ApiVersion::V1,
        )
        .unwrap();
        let mut rows = Vec::new();
        for use_rollups in [true, false] {
            rows.push(
                store
                    .query_metrics(&project, &query, MetricsOptions { use_rollups })
                    .await
                    .unwrap(),
            );
        }
        assert_eq!(rows[0], rows[1]);
        assert_eq!(rows[0].len(), 1);
        assert_eq!(rows[0][0].dimensions, vec![json!("carol")]);
        assert_eq!(rows[0][0].metrics, vec![json!(2212.0), json!(4)]);
    }

    #[tokio::test]
    async fn rollups_and_measures_are_rebuilt_for_stored_observations() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let events: Vec<IngestEvent> = (0..40).map(generation).collect();
        store.ingest(&ProjectId("p".into()), events).await.unwrap();
        // Rollup changes wait for a commit with nothing queued behind it (see
        // `deferred_rollups`): one more write, alone, is such a commit.
        store.writer.write(|_| Ok(())).await.expect("a lone write");
        let before = answer(&store).await;
        assert_eq!(before.len(), 3);
        store.shutdown();
        drop(store);
        forget_derived(dir.path());
        let store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(answer(&store).await, before);
        store.shutdown();
        check_measures(dir.path());
    }
}
