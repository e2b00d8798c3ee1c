//! Decoding PostgreSQL rows into model entities. Each column list lives next to the
//! function that reads it (by position), so the two cannot drift apart; a list may be
//! followed by more columns, which the decoder ignores.

use serde_json::Value;
use sqlx::Row;
use sqlx::postgres::PgRow;

use glassbox_model::{JsonObject, Observation, Score, ScoreDataType, Session, Trace};

/// A JSON object stored as text; anything else (or NULL) reads as an empty object.
pub(crate) fn parse_object(text: Option<String>) -> JsonObject {
    text.and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .and_then(|value| match value {
            Value::Object(object) => Some(object),
            _ => None,
        })
        .unwrap_or_default()
}

/// Any JSON value stored as text; NULL or unparsable text reads as `None`.
pub(crate) fn parse_json(text: Option<String>) -> Option<Value> {
    text.and_then(|text| serde_json::from_str(&text).ok())
}

/// A JSON array of strings stored as text (tags); NULL or anything else reads as empty.
pub(crate) fn parse_strings(text: Option<String>) -> Vec<String> {
    text.and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

/// A BIGINT 0/1 flag.
fn flag(row: &PgRow, index: usize) -> Result<bool, sqlx::Error> {
    Ok(row.try_get::<i64, _>(index)? != 0)
}

/// Columns of [`trace_from_row`], over `traces t`.
pub(crate) const TRACE_COLUMNS: &str = "t.id, t.timestamp, t.name, t.user_id, t.session_id, t.release, t.version, \
    t.environment, t.metadata, t.tags, t.public, t.bookmarked, t.input, t.output, t.created_at, t.updated_at";

/// How many columns [`TRACE_COLUMNS`] has (the offset of any that follow).
pub(crate) const TRACE_COLUMN_COUNT: usize = 16;

pub(crate) fn trace_from_row(row: &PgRow) -> Result<Trace, sqlx::Error> {
    Ok(Trace {
        id: row.try_get(0)?,
        timestamp: row.try_get(1)?,
        name: row.try_get(2)?,
        user_id: row.try_get(3)?,
        session_id: row.try_get(4)?,
        release: row.try_get(5)?,
        version: row.try_get(6)?,
        environment: row.try_get(7)?,
        metadata: parse_object(row.try_get(8)?),
        tags: parse_strings(row.try_get(9)?),
        public: flag(row, 10)?,
        bookmarked: flag(row, 11)?,
        input: parse_json(row.try_get(12)?),
        output: parse_json(row.try_get(13)?),
        created_at: row.try_get(14)?,
        updated_at: row.try_get(15)?,
    })
}

/// Columns of [`observation_from_row`], over `observations o`.
pub(crate) const OBSERVATION_COLUMNS: &str = "o.id, o.trace_id, o.parent_observation_id, o.type, o.name, o.start_time, \
    o.end_time, o.completion_start_time, o.environment, o.metadata, o.level, o.status_message, o.version, o.input, \
    o.output, o.model, o.internal_model_id, o.model_parameters, o.provided_usage_details, o.usage_details, \
    o.provided_cost_details, o.cost_details, o.total_cost, o.prompt_id, o.prompt_name, o.prompt_version, \
    o.created_at, o.updated_at, o.is_app_root";

pub(crate) fn observation_from_row(row: &PgRow) -> Result<Observation, sqlx::Error> {
    Ok(Observation {
        id: row.try_get(0)?,
        trace_id: row.try_get(1)?,
        parent_observation_id: row.try_get(2)?,
        r#type: row.try_get(3)?,
        name: row.try_get(4)?,
        start_time: row.try_get(5)?,
        end_time: row.try_get(6)?,
        completion_start_time: row.try_get(7)?,
        environment: row.try_get(8)?,
        metadata: parse_object(row.try_get(9)?),
        level: row.try_get(10)?,
        status_message: row.try_get(11)?,
        version: row.try_get(12)?,
        input: parse_json(row.try_get(13)?),
        output: parse_json(row.try_get(14)?),
        model: row.try_get(15)?,
        internal_model_id: row.try_get(16)?,
        model_parameters: parse_json(row.try_get(17)?),
        provided_usage_details: parse_object(row.try_get(18)?),
        usage_details: parse_object(row.try_get(19)?),
        provided_cost_details: parse_object(row.try_get(20)?),
        cost_details: parse_object(row.try_get(21)?),
        total_cost: row.try_get(22)?,
        prompt_id: row.try_get(23)?,
        prompt_name: row.try_get(24)?,
        prompt_version: row.try_get(25)?,
        created_at: row.try_get(26)?,
        updated_at: row.try_get(27)?,
        is_app_root: flag(row, 28)?,
    })
}

/// Columns of [`score_from_row`], over `scores s`.
pub(crate) const SCORE_COLUMNS: &str = "s.id, s.timestamp, s.name, s.value, s.string_value, s.data_type, s.source, \
    s.comment, s.metadata, s.config_id, s.queue_id, s.author_user_id, s.execution_trace_id, s.trace_id, \
    s.observation_id, s.session_id, s.dataset_run_id, s.environment, s.created_at, s.updated_at";

/// How many columns [`SCORE_COLUMNS`] has (the offset of any that follow).
pub(crate) const SCORE_COLUMN_COUNT: usize = 20;

pub(crate) fn score_from_row(row: &PgRow) -> Result<Score, sqlx::Error> {
    let data_type: String = row.try_get(5)?;
    Ok(Score {
        id: row.try_get(0)?,
        timestamp: row.try_get(1)?,
        name: row.try_get(2)?,
        value: row.try_get(3)?,
        string_value: row.try_get(4)?,
        data_type: ScoreDataType::parse(&data_type).unwrap_or(ScoreDataType::Numeric),
        source: row.try_get(6)?,
        comment: row.try_get(7)?,
        metadata: parse_object(row.try_get(8)?),
        config_id: row.try_get(9)?,
        queue_id: row.try_get(10)?,
        author_user_id: row.try_get(11)?,
        execution_trace_id: row.try_get(12)?,
        trace_id: row.try_get(13)?,
        observation_id: row.try_get(14)?,
        session_id: row.try_get(15)?,
        dataset_run_id: row.try_get(16)?,
        environment: row.try_get(17)?,
        created_at: row.try_get(18)?,
        updated_at: row.try_get(19)?,
    })
}

/// Columns of [`session_from_row`], over `sessions` (no alias).
pub(crate) const SESSION_COLUMNS: &str = "id, environment, created_at";

pub(crate) fn session_from_row(row: &PgRow) -> Result<Session, sqlx::Error> {
    Ok(Session {
        id: row.try_get(0)?,
        environment: row.try_get(1)?,
        created_at: row.try_get(2)?,
    })
}
