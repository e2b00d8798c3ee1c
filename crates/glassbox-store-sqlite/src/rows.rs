//! Conversions between SQLite rows and model entities. Column lists live next to the
//! functions that read them so that the two cannot drift apart.

use std::sync::LazyLock;

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, Row, params};
use serde_json::{Map, Value};

use glassbox_model::{
    JsonObject, Observation, ProjectId, Score, ScoreCategory, ScoreConfig, ScoreDataType, Session,
    Trace,
};
use glassbox_store::StoreResult;

use crate::connection::internal;
use crate::derived::Measures;
use crate::details::{self, cost_details_sql, provided_usage_details_sql, usage_details_sql};
use crate::payloads;
use crate::sql::query_optional;

pub(crate) fn json_text(value: &Value) -> String {
    value.to_string()
}

pub(crate) fn object_text(object: &JsonObject) -> String {
    Value::Object(object.clone()).to_string()
}

fn parse_object(text: Option<String>) -> JsonObject {
    text.and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .and_then(|value| match value {
            Value::Object(object) => Some(object),
            _ => None,
        })
        .unwrap_or_default()
}

fn parse_json(text: Option<String>) -> Option<Value> {
    text.and_then(|text| serde_json::from_str(&text).ok())
}

/// `metadata`, `input` and `output` may be payload manifests: `gb_json` reassembles them.
pub(crate) const TRACE_COLUMNS: &str = "t.id, t.timestamp, t.name, t.user_id, t.session_id, t.release, t.version, \
    t.environment, gb_json(t.project_id, t.metadata), t.tags, t.public, t.bookmarked, gb_json(t.project_id, t.input), \
    gb_json(t.project_id, t.output), t.created_at, t.updated_at";

pub(crate) fn trace_from_row(row: &Row<'_>) -> rusqlite::Result<Trace> {
    let tags: Vec<String> = serde_json::from_str(&row.get::<_, String>(9)?).unwrap_or_default();
    Ok(Trace {
        id: row.get(0)?,
        timestamp: row.get(1)?,
        name: row.get(2)?,
        user_id: row.get(3)?,
        session_id: row.get(4)?,
        release: row.get(5)?,
        version: row.get(6)?,
        environment: row.get(7)?,
        metadata: parse_object(row.get(8)?),
        tags,
        public: row.get(10)?,
        bookmarked: row.get(11)?,
        input: parse_json(row.get(12)?),
        output: parse_json(row.get(13)?),
        created_at: row.get(14)?,
        updated_at: row.get(15)?,
    })
}

/// `INSERT INTO table (columns) VALUES (?1, ...)`, updating a stored row with the same
/// `key` in place (every other column). Unlike `INSERT OR REPLACE`, which deletes the
/// row and inserts it again under a new rowid (rewriting every index entry and leaving
/// its old space behind), only the indexes whose columns change are written.
fn upsert_statement(table: &str, columns: &[&str], key: &[&str]) -> String {
    let placeholders: Vec<String> = (1..=columns.len()).map(|n| format!("?{n}")).collect();
    let updates: Vec<String> = columns
        .iter()
        .filter(|column| !key.contains(column))
        .map(|column| format!("{column} = excluded.{column}"))
        .collect();
    format!(
        "INSERT INTO {table} ({}) VALUES ({}) ON CONFLICT ({}) DO UPDATE SET {}",
        columns.join(", "),
        placeholders.join(", "),
        key.join(", "),
        updates.join(", ")
    )
}

static TRACE_UPSERT: LazyLock<String> = LazyLock::new(|| {
    upsert_statement(
        "traces",
        &[
            "project_id",
            "id",
            "timestamp",
            "name",
            "user_id",
            "session_id",
            "release",
            "version",
            "environment",
            "metadata",
            "tags",
            "public",
            "bookmarked",
            "input",
            "output",
            "created_at",
            "updated_at",
        ],
        &["project_id", "id"],
    )
});

static OBSERVATION_UPSERT: LazyLock<String> = LazyLock::new(|| {
    upsert_statement(
        "observations",
        &[
            "project_id",
            "id",
            "trace_id",
            "parent_observation_id",
            "type",
            "name",
            "start_time",
            "end_time",
            "completion_start_time",
            "environment",
            "metadata",
            "level",
            "status_message",
            "version",
            "input",
            "output",
            "model",
            "internal_model_id",
            "model_parameters",
            "provided_usage_details",
            "usage_details",
            "provided_cost_details",
            "cost_details",
            "total_cost",
            "prompt_id",
            "prompt_name",
            "prompt_version",
            "created_at",
            "updated_at",
            "is_app_root",
            "snapshot_sequence",
            "input_tokens",
            "output_tokens",
            "total_tokens",
            "input_cost",
            "output_cost",
        ],
        &["project_id", "id"],
    )
});

pub(crate) fn upsert_trace(
    connection: &Connection,
    project: &ProjectId,
    trace: &Trace,
) -> StoreResult<()> {
    let planned = |value| payloads::store_column(connection, project, value);
    let metadata = planned(payloads::plan_object(&trace.metadata))?;
    let input = planned(payloads::plan_optional(trace.input.as_ref()))?;
    let output = planned(payloads::plan_optional(trace.output.as_ref()))?;
    connection
        .prepare_cached(&TRACE_UPSERT)
        .and_then(|mut statement| {
            statement.execute(params![
                project.as_str(),
                trace.id,
                trace.timestamp,
                trace.name,
                trace.user_id,
                trace.session_id,
                trace.release,
                trace.version,
                trace.environment,
                metadata,
                serde_json::to_string(&trace.tags).unwrap_or_else(|_| "[]".into()),
                trace.public,
                trace.bookmarked,
                input,
                output,
                trace.created_at,
                trace.updated_at,
            ])
        })
        .map_err(internal)?;
    if let Some(session_id) = &trace.session_id {
        connection
            .prepare_cached(
                "INSERT OR IGNORE INTO sessions (project_id, id, environment, created_at) VALUES (?1, ?2, ?3, ?4)",
            )
            .and_then(|mut statement| {
                statement.execute(params![project.as_str(), session_id, trace.environment, trace.created_at])
            })
            .map_err(internal)?;
    }
    Ok(())
}

/// The literal SQL of an observation's `updated_at` (alias `o`), for `concat!`: stored
/// as 0 when it equals `created_at` (an OTLP span's row is written once), which SQLite
/// stores in no bytes instead of 8 (issue 8: bytes on disk).
macro_rules! observation_updated_at_sql {
    () => {
        "CASE o.updated_at WHEN 0 THEN o.created_at ELSE o.updated_at END"
    };
}
pub(crate) const OBSERVATION_UPDATED_AT_SQL: &str = observation_updated_at_sql!();

/// What an observation's `updated_at` column stores ([`OBSERVATION_UPDATED_AT_SQL`]).
fn stored_updated_at(observation: &Observation) -> i64 {
    if observation.updated_at == observation.created_at {
        0
    } else {
        observation.updated_at
    }
}

/// An observation's columns in the order [`observation_with`] reads them, with the
/// given SQL for `metadata`, `input` and `output`.
macro_rules! observation_columns {
    ($metadata:literal, $input:literal, $output:literal) => {
        concat!(
            "o.id, o.trace_id, o.parent_observation_id, o.type, o.name, o.start_time, o.end_time, \
             o.completion_start_time, o.environment, ",
            $metadata,
            ", o.level, o.status_message, o.version, ",
            $input,
            ", ",
            $output,
            ", o.model, o.internal_model_id, o.model_parameters, ",
            provided_usage_details_sql!(),
            ", ",
            usage_details_sql!(),
            ", o.provided_cost_details, ",
            cost_details_sql!(),
            ", o.total_cost, o.prompt_id, o.prompt_name, o.prompt_version, o.created_at, ",
            observation_updated_at_sql!(),
            ", o.is_app_root"
        )
    };
}

/// `metadata`, `input` and `output` may be payload manifests: `gb_json` reassembles them;
/// the usage and cost maps may be stored as the measure columns (`details.rs`).
pub(crate) const OBSERVATION_COLUMNS: &str = observation_columns!(
    "gb_json(o.project_id, o.metadata)",
    "gb_json(o.project_id, o.input)",
    "gb_json(o.project_id, o.output)"
);

/// [`OBSERVATION_COLUMNS`] with `metadata`, `input` and `output` as stored (for the
/// writer, which resolves them with [`observation_from_stored_row`]).
pub(crate) const STORED_OBSERVATION_COLUMNS: &str =
    observation_columns!("o.metadata", "o.input", "o.output");

/// An observation read with [`STORED_OBSERVATION_COLUMNS`] on `connection`.
pub(crate) fn observation_from_stored_row(
    connection: &Connection,
    project: &str,
    row: &Row<'_>,
) -> rusqlite::Result<Observation> {
    let text = |index: usize| -> rusqlite::Result<Option<String>> {
        payloads::read_text(connection, project, row.get_ref(index)?)
            .map_err(|error| rusqlite::Error::UserFunctionError(error.into()))
    };
    let mut observation = observation_with(row, |_| Ok(None))?;
    observation.metadata = parse_object(text(9)?);
    observation.input = parse_json(text(13)?);
    observation.output = parse_json(text(14)?);
    Ok(observation)
}

pub(crate) fn observation_from_row(row: &Row<'_>) -> rusqlite::Result<Observation> {
    observation_with(row, |index| row.get(index))
}

/// Reads an observation; `text` reads the columns that may hold payloads.
fn observation_with(
    row: &Row<'_>,
    text: impl Fn(usize) -> rusqlite::Result<Option<String>>,
) -> rusqlite::Result<Observation> {
    Ok(Observation {
        id: row.get(0)?,
        trace_id: row.get(1)?,
        parent_observation_id: row.get(2)?,
        r#type: row.get(3)?,
        name: row.get(4)?,
        start_time: row.get(5)?,
        end_time: row.get(6)?,
        completion_start_time: row.get(7)?,
        environment: row.get(8)?,
        metadata: parse_object(text(9)?),
        level: row.get(10)?,
        status_message: row.get(11)?,
        version: row.get(12)?,
        input: parse_json(text(13)?),
        output: parse_json(text(14)?),
        model: row.get(15)?,
        internal_model_id: row.get(16)?,
        model_parameters: parse_json(row.get(17)?),
        provided_usage_details: parse_object(row.get(18)?),
        usage_details: parse_object(row.get(19)?),
        provided_cost_details: parse_object(row.get(20)?),
        cost_details: parse_object(row.get(21)?),
        total_cost: row.get(22)?,
        prompt_id: row.get(23)?,
        prompt_name: row.get(24)?,
        prompt_version: row.get(25)?,
        created_at: row.get(26)?,
        updated_at: row.get(27)?,
        is_app_root: row.get(28)?,
    })
}

/// Writes the row, with its measure columns ([`Measures`]). `snapshot_sequence`: the row stands for an unlogged snapshot event
/// with that sequence (`snapshots.rs`); `None` when its events are logged.
/// An observation's payload columns (`metadata`, `input`, `output`) planned beside the
/// writer ([`payloads::plan_value`]): the writer then neither serialises nor hashes them.
/// They must have been planned from the values the row is written with.
pub(crate) struct PlannedColumns {
    metadata: payloads::PlannedValue,
    input: payloads::PlannedValue,
    output: payloads::PlannedValue,
}

impl PlannedColumns {
    /// The planned values (for `payloads::prepare`).
    pub(crate) fn values(&self) -> [&payloads::PlannedValue; 3] {
        [&self.metadata, &self.input, &self.output]
    }

    pub(crate) fn of(observation: &Observation) -> PlannedColumns {
        PlannedColumns {
            metadata: payloads::plan_object(&observation.metadata),
            input: payloads::plan_optional(observation.input.as_ref()),
            output: payloads::plan_optional(observation.output.as_ref()),
        }
    }
}

/// Writes an observation's row, with its payload columns as `planned` if given (else
/// planned here).
pub(crate) fn upsert_observation(
    connection: &Connection,
    project: &ProjectId,
    observation: &Observation,
    snapshot_sequence: Option<i64>,
    planned: Option<PlannedColumns>,
) -> StoreResult<()> {
    let planned = planned.unwrap_or_else(|| PlannedColumns::of(observation));
    let measures = Measures::of(observation);
    let values: Vec<SqlValue> = vec![
        project.as_str().to_owned().into(),
        observation.id.clone().into(),
        observation.trace_id.clone().into(),
        observation.parent_observation_id.clone().into(),
        observation.r#type.clone().into(),
        observation.name.clone().into(),
        observation.start_time.into(),
        observation.end_time.into(),
        observation.completion_start_time.into(),
        observation.environment.clone().into(),
        payloads::store_column(connection, project, planned.metadata)?,
        observation.level.clone().into(),
        observation.status_message.clone().into(),
        observation.version.clone().into(),
        payloads::store_column(connection, project, planned.input)?,
        payloads::store_column(connection, project, planned.output)?,
        observation.model.clone().into(),
        observation.internal_model_id.clone().into(),
        observation.model_parameters.as_ref().map(json_text).into(),
        details::stored_provided_usage(
            &observation.provided_usage_details,
            &observation.usage_details,
        )
        .into(),
        details::stored_usage(&observation.usage_details, &measures).into(),
        object_text(&observation.provided_cost_details).into(),
        details::stored_cost(&observation.cost_details, &measures, observation.total_cost).into(),
        observation.total_cost.into(),
        observation.prompt_id.clone().into(),
        observation.prompt_name.clone().into(),
        observation.prompt_version.into(),
        observation.created_at.into(),
        stored_updated_at(observation).into(),
        i64::from(observation.is_app_root).into(),
        snapshot_sequence.into(),
        measures.input_tokens.into(),
        measures.output_tokens.into(),
        measures.total_tokens.into(),
        measures.input_cost.into(),
        measures.output_cost.into(),
    ];
    connection
        .prepare_cached(&OBSERVATION_UPSERT)
        .and_then(|mut statement| statement.execute(rusqlite::params_from_iter(values)))
        .map_err(internal)?;
    Ok(())
}

pub(crate) const SCORE_COLUMNS: &str = "s.id, s.timestamp, s.name, s.value, s.string_value, s.data_type, s.source, \
    s.comment, s.metadata, s.config_id, s.queue_id, s.author_user_id, s.execution_trace_id, s.trace_id, \
    s.observation_id, s.session_id, s.dataset_run_id, s.environment, s.created_at, s.updated_at";

pub(crate) fn score_from_row(row: &Row<'_>) -> rusqlite::Result<Score> {
    let data_type: String = row.get(5)?;
    Ok(Score {
        id: row.get(0)?,
        timestamp: row.get(1)?,
        name: row.get(2)?,
        value: row.get(3)?,
        string_value: row.get(4)?,
        data_type: ScoreDataType::parse(&data_type).unwrap_or(ScoreDataType::Numeric),
        source: row.get(6)?,
        comment: row.get(7)?,
        metadata: parse_object(row.get(8)?),
        config_id: row.get(9)?,
        queue_id: row.get(10)?,
        author_user_id: row.get(11)?,
        execution_trace_id: row.get(12)?,
        trace_id: row.get(13)?,
        observation_id: row.get(14)?,
        session_id: row.get(15)?,
        dataset_run_id: row.get(16)?,
        environment: row.get(17)?,
        created_at: row.get(18)?,
        updated_at: row.get(19)?,
    })
}

pub(crate) fn upsert_score(
    connection: &Connection,
    project: &ProjectId,
    score: &Score,
) -> StoreResult<()> {
    let values: Vec<SqlValue> = vec![
        project.as_str().to_owned().into(),
        score.id.clone().into(),
        score.timestamp.into(),
        score.name.clone().into(),
        score.value.into(),
        score.string_value.clone().into(),
        score.data_type.as_str().to_owned().into(),
        score.source.clone().into(),
        score.comment.clone().into(),
        object_text(&score.metadata).into(),
        score.config_id.clone().into(),
        score.queue_id.clone().into(),
        score.author_user_id.clone().into(),
        score.execution_trace_id.clone().into(),
        score.trace_id.clone().into(),
        score.observation_id.clone().into(),
        score.session_id.clone().into(),
        score.dataset_run_id.clone().into(),
        score.environment.clone().into(),
        score.created_at.into(),
        score.updated_at.into(),
    ];
    connection
        .prepare_cached(
            "INSERT OR REPLACE INTO scores (project_id, id, timestamp, name, value, string_value, data_type, source, \
             comment, metadata, config_id, queue_id, author_user_id, execution_trace_id, trace_id, observation_id, \
             session_id, dataset_run_id, environment, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, \
             ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)",
        )
        .and_then(|mut statement| statement.execute(rusqlite::params_from_iter(values)))
        .map_err(internal)?;
    Ok(())
}

pub(crate) fn session_from_row(row: &Row<'_>) -> rusqlite::Result<Session> {
    Ok(Session {
        id: row.get(0)?,
        environment: row.get(1)?,
        created_at: row.get(2)?,
    })
}

pub(crate) const SCORE_CONFIG_COLUMNS: &str = "id, name, data_type, is_archived, min_value, max_value, categories, \
     description, created_at, updated_at";

pub(crate) fn score_config_from_row(row: &Row<'_>) -> rusqlite::Result<ScoreConfig> {
    let data_type: String = row.get(2)?;
    let categories: Option<String> = row.get(6)?;
    Ok(ScoreConfig {
        id: row.get(0)?,
        name: row.get(1)?,
        data_type: ScoreDataType::parse(&data_type).unwrap_or(ScoreDataType::Numeric),
        is_archived: row.get(3)?,
        min_value: row.get(4)?,
        max_value: row.get(5)?,
        categories: categories.map(|text| categories_from_text(&text)),
        description: row.get(7)?,
        created_at: row.get(8)?,
        updated_at: row.get(9)?,
    })
}

pub(crate) fn get_score_config(
    connection: &Connection,
    project: &ProjectId,
    id: &str,
) -> StoreResult<Option<ScoreConfig>> {
    query_optional(
        connection,
        &format!(
            "SELECT {SCORE_CONFIG_COLUMNS} FROM score_configs WHERE project_id = ?1 AND id = ?2"
        ),
        params![project.as_str(), id],
        score_config_from_row,
    )
}

fn categories_from_text(text: &str) -> Vec<ScoreCategory> {
    serde_json::from_str::<Vec<Value>>(text)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|item| {
            Some(ScoreCategory {
                label: item.get("label")?.as_str()?.to_owned(),
                value: item.get("value")?.as_f64()?,
            })
        })
        .collect()
}

pub(crate) fn categories_to_text(categories: &[ScoreCategory]) -> String {
    let items: Vec<Value> = categories
        .iter()
        .map(|category| {
            let mut item = Map::new();
            item.insert("label".into(), Value::String(category.label.clone()));
            item.insert("value".into(), serde_json::json!(category.value));
            Value::Object(item)
        })
        .collect();
    Value::Array(items).to_string()
}
