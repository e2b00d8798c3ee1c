//! The merged rows the write path stores (traces, sessions, observations, scores), each
//! kind written with one multi-row upsert, and the score config a score is checked
//! against. JSON goes in as the text the embedded backend stores.

use serde_json::Value;
use sqlx::{PgConnection, Row};

use glassbox_model::{
    JsonObject, Observation, ProjectId, Score, ScoreCategory, ScoreConfig, ScoreDataType, Trace,
};
use glassbox_store::StoreResult;

use crate::event_log::db_error;

/// The object as JSON text (what `Value::Object(..).to_string()` gives, without a copy).
fn object_text(object: &JsonObject) -> String {
    serde_json::to_string(object).unwrap_or_else(|_| "{}".into())
}

fn json_text(value: &Option<Value>) -> Option<String> {
    value.as_ref().map(Value::to_string)
}

/// Writes (inserts or replaces) the traces, then the sessions they name.
pub(crate) async fn upsert_traces(
    connection: &mut PgConnection,
    project: &ProjectId,
    traces: &[Trace],
) -> StoreResult<()> {
    if traces.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = traces.iter().map(|t| t.id.as_str()).collect();
    let timestamps: Vec<i64> = traces.iter().map(|t| t.timestamp).collect();
    let names: Vec<Option<&str>> = traces.iter().map(|t| t.name.as_deref()).collect();
    let user_ids: Vec<Option<&str>> = traces.iter().map(|t| t.user_id.as_deref()).collect();
    let session_ids: Vec<Option<&str>> = traces.iter().map(|t| t.session_id.as_deref()).collect();
    let releases: Vec<Option<&str>> = traces.iter().map(|t| t.release.as_deref()).collect();
    let versions: Vec<Option<&str>> = traces.iter().map(|t| t.version.as_deref()).collect();
    let environments: Vec<&str> = traces.iter().map(|t| t.environment.as_str()).collect();
    let metadata: Vec<String> = traces.iter().map(|t| object_text(&t.metadata)).collect();
    let tags: Vec<String> = traces
        .iter()
        .map(|t| serde_json::to_string(&t.tags).unwrap_or_else(|_| "[]".into()))
        .collect();
    let public: Vec<i64> = traces.iter().map(|t| i64::from(t.public)).collect();
    let bookmarked: Vec<i64> = traces.iter().map(|t| i64::from(t.bookmarked)).collect();
    let inputs: Vec<Option<String>> = traces.iter().map(|t| json_text(&t.input)).collect();
    let outputs: Vec<Option<String>> = traces.iter().map(|t| json_text(&t.output)).collect();
    let created: Vec<i64> = traces.iter().map(|t| t.created_at).collect();
    let updated: Vec<i64> = traces.iter().map(|t| t.updated_at).collect();
    sqlx::query(
        "INSERT INTO traces (project_id, id, timestamp, name, user_id, session_id, release, version, \
         environment, metadata, tags, public, bookmarked, input, output, created_at, updated_at) \
         SELECT $1, r.* FROM UNNEST($2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], \
         $8::text[], $9::text[], $10::text[], $11::text[], $12::bigint[], $13::bigint[], $14::text[], \
         $15::text[], $16::bigint[], $17::bigint[]) AS r \
         ON CONFLICT (project_id, id) DO UPDATE SET timestamp = EXCLUDED.timestamp, name = EXCLUDED.name, \
         user_id = EXCLUDED.user_id, session_id = EXCLUDED.session_id, release = EXCLUDED.release, \
         version = EXCLUDED.version, environment = EXCLUDED.environment, metadata = EXCLUDED.metadata, \
         tags = EXCLUDED.tags, public = EXCLUDED.public, bookmarked = EXCLUDED.bookmarked, \
         input = EXCLUDED.input, output = EXCLUDED.output, created_at = EXCLUDED.created_at, \
         updated_at = EXCLUDED.updated_at",
    )
    .bind(project.as_str())
    .bind(&ids)
    .bind(&timestamps)
    .bind(&names)
    .bind(&user_ids)
    .bind(&session_ids)
    .bind(&releases)
    .bind(&versions)
    .bind(&environments)
    .bind(&metadata)
    .bind(&tags)
    .bind(&public)
    .bind(&bookmarked)
    .bind(&inputs)
    .bind(&outputs)
    .bind(&created)
    .bind(&updated)
    .execute(&mut *connection)
    .await
    .map_err(db_error)?;
    insert_sessions(connection, project, traces).await
}

/// A session exists from the first trace that names it: the first trace's environment
/// and creation time stay. Rows go in id order, so that two writers inserting the same
/// new sessions wait on each other in one order only.
async fn insert_sessions(
    connection: &mut PgConnection,
    project: &ProjectId,
    traces: &[Trace],
) -> StoreResult<()> {
    let mut sessions: Vec<(&str, &str, i64)> = Vec::new();
    for trace in traces {
        if let Some(session_id) = trace.session_id.as_deref()
            && !sessions.iter().any(|(id, _, _)| *id == session_id)
        {
            sessions.push((session_id, trace.environment.as_str(), trace.created_at));
        }
    }
    if sessions.is_empty() {
        return Ok(());
    }
    sessions.sort_by(|a, b| a.0.cmp(b.0));
    let ids: Vec<&str> = sessions.iter().map(|s| s.0).collect();
    let environments: Vec<&str> = sessions.iter().map(|s| s.1).collect();
    let created: Vec<i64> = sessions.iter().map(|s| s.2).collect();
    sqlx::query(
        "INSERT INTO sessions (project_id, id, environment, created_at) \
         SELECT $1, s.* FROM UNNEST($2::text[], $3::text[], $4::bigint[]) AS s \
         ON CONFLICT (project_id, id) DO NOTHING",
    )
    .bind(project.as_str())
    .bind(&ids)
    .bind(&environments)
    .bind(&created)
    .execute(connection)
    .await
    .map(drop)
    .map_err(db_error)
}

/// Writes (inserts or replaces) the observations.
pub(crate) async fn upsert_observations(
    connection: &mut PgConnection,
    project: &ProjectId,
    observations: &[Observation],
) -> StoreResult<()> {
    if observations.is_empty() {
        return Ok(());
    }
    let o = observations;
    let text = |field: fn(&Observation) -> Option<&str>| -> Vec<Option<&str>> {
        o.iter().map(field).collect()
    };
    let ids: Vec<&str> = o.iter().map(|x| x.id.as_str()).collect();
    let trace_ids: Vec<&str> = o.iter().map(|x| x.trace_id.as_str()).collect();
    let parents = text(|x| x.parent_observation_id.as_deref());
    let types: Vec<&str> = o.iter().map(|x| x.r#type.as_str()).collect();
    let names = text(|x| x.name.as_deref());
    let starts: Vec<i64> = o.iter().map(|x| x.start_time).collect();
    let ends: Vec<Option<i64>> = o.iter().map(|x| x.end_time).collect();
    let first_tokens: Vec<Option<i64>> = o.iter().map(|x| x.completion_start_time).collect();
    let environments: Vec<&str> = o.iter().map(|x| x.environment.as_str()).collect();
    let metadata: Vec<String> = o.iter().map(|x| object_text(&x.metadata)).collect();
    let levels: Vec<&str> = o.iter().map(|x| x.level.as_str()).collect();
    let status_messages = text(|x| x.status_message.as_deref());
    let versions = text(|x| x.version.as_deref());
    let inputs: Vec<Option<String>> = o.iter().map(|x| json_text(&x.input)).collect();
    let outputs: Vec<Option<String>> = o.iter().map(|x| json_text(&x.output)).collect();
    let models = text(|x| x.model.as_deref());
    let internal_models = text(|x| x.internal_model_id.as_deref());
    let parameters: Vec<Option<String>> =
        o.iter().map(|x| json_text(&x.model_parameters)).collect();
    let provided_usage: Vec<String> = o
        .iter()
        .map(|x| object_text(&x.provided_usage_details))
        .collect();
    let usage: Vec<String> = o.iter().map(|x| object_text(&x.usage_details)).collect();
    let provided_cost: Vec<String> = o
        .iter()
        .map(|x| object_text(&x.provided_cost_details))
        .collect();
    let cost: Vec<String> = o.iter().map(|x| object_text(&x.cost_details)).collect();
    let total_costs: Vec<Option<f64>> = o.iter().map(|x| x.total_cost).collect();
    let prompt_ids = text(|x| x.prompt_id.as_deref());
    let prompt_names = text(|x| x.prompt_name.as_deref());
    let prompt_versions: Vec<Option<i64>> = o.iter().map(|x| x.prompt_version).collect();
    let created: Vec<i64> = o.iter().map(|x| x.created_at).collect();
    let updated: Vec<i64> = o.iter().map(|x| x.updated_at).collect();
    let app_roots: Vec<i64> = o.iter().map(|x| i64::from(x.is_app_root)).collect();
    sqlx::query(
        "INSERT INTO observations (project_id, id, trace_id, parent_observation_id, type, name, start_time, \
         end_time, completion_start_time, environment, metadata, level, status_message, version, input, output, \
         model, internal_model_id, model_parameters, provided_usage_details, usage_details, \
         provided_cost_details, cost_details, total_cost, prompt_id, prompt_name, prompt_version, created_at, \
         updated_at, is_app_root) \
         SELECT $1, r.* FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], \
         $8::bigint[], $9::bigint[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], \
         $15::text[], $16::text[], $17::text[], $18::text[], $19::text[], $20::text[], $21::text[], \
         $22::text[], $23::text[], $24::float8[], $25::text[], $26::text[], $27::bigint[], $28::bigint[], \
         $29::bigint[], $30::bigint[]) AS r \
         ON CONFLICT (project_id, id) DO UPDATE SET trace_id = EXCLUDED.trace_id, \
         parent_observation_id = EXCLUDED.parent_observation_id, type = EXCLUDED.type, name = EXCLUDED.name, \
         start_time = EXCLUDED.start_time, end_time = EXCLUDED.end_time, \
         completion_start_time = EXCLUDED.completion_start_time, environment = EXCLUDED.environment, \
         metadata = EXCLUDED.metadata, level = EXCLUDED.level, status_message = EXCLUDED.status_message, \
         version = EXCLUDED.version, input = EXCLUDED.input, output = EXCLUDED.output, model = EXCLUDED.model, \
         internal_model_id = EXCLUDED.internal_model_id, model_parameters = EXCLUDED.model_parameters, \
         provided_usage_details = EXCLUDED.provided_usage_details, usage_details = EXCLUDED.usage_details, \
         provided_cost_details = EXCLUDED.provided_cost_details, cost_details = EXCLUDED.cost_details, \
         total_cost = EXCLUDED.total_cost, prompt_id = EXCLUDED.prompt_id, prompt_name = EXCLUDED.prompt_name, \
         prompt_version = EXCLUDED.prompt_version, created_at = EXCLUDED.created_at, \
         updated_at = EXCLUDED.updated_at, is_app_root = EXCLUDED.is_app_root",
    )
    .bind(project.as_str())
    .bind(&ids)
    .bind(&trace_ids)
    .bind(&parents)
    .bind(&types)
    .bind(&names)
    .bind(&starts)
    .bind(&ends)
    .bind(&first_tokens)
    .bind(&environments)
    .bind(&metadata)
    .bind(&levels)
    .bind(&status_messages)
    .bind(&versions)
    .bind(&inputs)
    .bind(&outputs)
    .bind(&models)
    .bind(&internal_models)
    .bind(&parameters)
    .bind(&provided_usage)
    .bind(&usage)
    .bind(&provided_cost)
    .bind(&cost)
    .bind(&total_costs)
    .bind(&prompt_ids)
    .bind(&prompt_names)
    .bind(&prompt_versions)
    .bind(&created)
    .bind(&updated)
    .bind(&app_roots)
    .execute(connection)
    .await
    .map(drop)
    .map_err(db_error)
}

/// Writes (inserts or replaces) the scores.
pub(crate) async fn upsert_scores(
    connection: &mut PgConnection,
    project: &ProjectId,
    scores: &[Score],
) -> StoreResult<()> {
    if scores.is_empty() {
        return Ok(());
    }
    let s = scores;
    let text =
        |field: fn(&Score) -> Option<&str>| -> Vec<Option<&str>> { s.iter().map(field).collect() };
    let ids: Vec<&str> = s.iter().map(|x| x.id.as_str()).collect();
    let timestamps: Vec<i64> = s.iter().map(|x| x.timestamp).collect();
    let names: Vec<&str> = s.iter().map(|x| x.name.as_str()).collect();
    let values: Vec<f64> = s.iter().map(|x| x.value).collect();
    let string_values = text(|x| x.string_value.as_deref());
    let data_types: Vec<&str> = s.iter().map(|x| x.data_type.as_str()).collect();
    let sources: Vec<&str> = s.iter().map(|x| x.source.as_str()).collect();
    let comments = text(|x| x.comment.as_deref());
    let metadata: Vec<String> = s.iter().map(|x| object_text(&x.metadata)).collect();
    let config_ids = text(|x| x.config_id.as_deref());
    let queue_ids = text(|x| x.queue_id.as_deref());
    let authors = text(|x| x.author_user_id.as_deref());
    let execution_traces = text(|x| x.execution_trace_id.as_deref());
    let trace_ids = text(|x| x.trace_id.as_deref());
    let observation_ids = text(|x| x.observation_id.as_deref());
    let session_ids = text(|x| x.session_id.as_deref());
    let run_ids = text(|x| x.dataset_run_id.as_deref());
    let environments: Vec<&str> = s.iter().map(|x| x.environment.as_str()).collect();
    let created: Vec<i64> = s.iter().map(|x| x.created_at).collect();
    let updated: Vec<i64> = s.iter().map(|x| x.updated_at).collect();
    sqlx::query(
        "INSERT INTO scores (project_id, id, timestamp, name, value, string_value, data_type, source, comment, \
         metadata, config_id, queue_id, author_user_id, execution_trace_id, trace_id, observation_id, \
         session_id, dataset_run_id, environment, created_at, updated_at) \
         SELECT $1, r.* FROM UNNEST($2::text[], $3::bigint[], $4::text[], $5::float8[], $6::text[], \
         $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], \
         $15::text[], $16::text[], $17::text[], $18::text[], $19::text[], $20::bigint[], $21::bigint[]) AS r \
         ON CONFLICT (project_id, id) DO UPDATE SET timestamp = EXCLUDED.timestamp, name = EXCLUDED.name, \
         value = EXCLUDED.value, string_value = EXCLUDED.string_value, data_type = EXCLUDED.data_type, \
         source = EXCLUDED.source, comment = EXCLUDED.comment, metadata = EXCLUDED.metadata, \
         config_id = EXCLUDED.config_id, queue_id = EXCLUDED.queue_id, author_user_id = EXCLUDED.author_user_id, \
         execution_trace_id = EXCLUDED.execution_trace_id, trace_id = EXCLUDED.trace_id, \
         observation_id = EXCLUDED.observation_id, session_id = EXCLUDED.session_id, \
         dataset_run_id = EXCLUDED.dataset_run_id, environment = EXCLUDED.environment, \
         created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at",
    )
    .bind(project.as_str())
    .bind(&ids)
    .bind(&timestamps)
    .bind(&names)
    .bind(&values)
    .bind(&string_values)
    .bind(&data_types)
    .bind(&sources)
    .bind(&comments)
    .bind(&metadata)
    .bind(&config_ids)
    .bind(&queue_ids)
    .bind(&authors)
    .bind(&execution_traces)
    .bind(&trace_ids)
    .bind(&observation_ids)
    .bind(&session_ids)
    .bind(&run_ids)
    .bind(&environments)
    .bind(&created)
    .bind(&updated)
    .execute(connection)
    .await
    .map(drop)
    .map_err(db_error)
}

/// The project's score config `id`, if it exists.
pub(crate) async fn get_score_config(
    connection: &mut PgConnection,
    project: &ProjectId,
    id: &str,
) -> StoreResult<Option<ScoreConfig>> {
    let row = sqlx::query(
        "SELECT id, name, data_type, is_archived, min_value, max_value, categories, description, \
         created_at, updated_at FROM score_configs WHERE project_id = $1 AND id = $2",
    )
    .bind(project.as_str())
    .bind(id)
    .fetch_optional(connection)
    .await
    .map_err(db_error)?;
    let Some(row) = row else {
        return Ok(None);
    };
    let read = || -> Result<ScoreConfig, sqlx::Error> {
        let data_type: String = row.try_get(2)?;
        let archived: i64 = row.try_get(3)?;
        let categories: Option<String> = row.try_get(6)?;
        Ok(ScoreConfig {
            id: row.try_get(0)?,
            name: row.try_get(1)?,
            data_type: ScoreDataType::parse(&data_type).unwrap_or(ScoreDataType::Numeric),
            is_archived: archived != 0,
            min_value: row.try_get(4)?,
            max_value: row.try_get(5)?,
            categories: categories.map(|text| categories_from_text(&text)),
            description: row.try_get(7)?,
            created_at: row.try_get(8)?,
            updated_at: row.try_get(9)?,
        })
    };
    read().map(Some).map_err(db_error)
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
