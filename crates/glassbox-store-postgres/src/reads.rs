//! Read queries: traces (with their derived statistics), observations, sessions and
//! scores. The view resolvers and WHERE builders (`trace_where`, `observation_where`,
//! `score_where`) are `pub(crate)` so that other views (the web UI's trace table) filter
//! exactly as the public API does.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;

use glassbox_model::{Observation, ProjectId, Score, Session, Trace};
use glassbox_store::{
    ObservationCursor, ObservationQuery, ObservationStore, Page, PageRequest, ScoreCursor,
    ScoreQuery, ScoreStore, ScoreTraceInfo, ScoreWithTrace, SessionQuery, SessionStore,
    SortDirection, StoreResult, TraceCursor, TraceOrderColumn, TraceQuery, TraceStore,
    TraceWithStats, ValueComparison,
};

use crate::PgStore;
use crate::rows::{
    OBSERVATION_COLUMNS, SCORE_COLUMN_COUNT, SCORE_COLUMNS, SESSION_COLUMNS, TRACE_COLUMN_COUNT,
    TRACE_COLUMNS, observation_from_row, parse_strings, score_from_row, session_from_row,
    trace_from_row,
};
use crate::sql::{
    Arg, ColumnResolver, PagedSelect, Sql, Where, apply_filters, invalid_filter, json_number,
    select_page, sum_keys,
};

// ---------- traces ----------

/// Filter columns of the trace views, over `traces t`.
pub(crate) struct TraceColumns;

impl ColumnResolver for TraceColumns {
    fn expression(&self, column: &str) -> Option<String> {
        let observations =
            "FROM observations o WHERE o.project_id = t.project_id AND o.trace_id = t.id";
        Some(match column {
            "id" => "t.id".into(),
            "name" | "traceName" => "t.name".into(),
            "timestamp" => "t.timestamp".into(),
            "userId" => "t.user_id".into(),
            "sessionId" => "t.session_id".into(),
            "metadata" => "t.metadata".into(),
            "version" => "t.version".into(),
            "release" => "t.release".into(),
            "environment" => "t.environment".into(),
            "tags" | "traceTags" => "t.tags".into(),
            "bookmarked" => "t.bookmarked".into(),
            "public" => "t.public".into(),
            "level" => format!(
                "(SELECT CASE WHEN bool_or(o.level = 'ERROR') THEN 'ERROR' \
                 WHEN bool_or(o.level = 'WARNING') THEN 'WARNING' \
                 WHEN bool_or(o.level = 'DEFAULT') THEN 'DEFAULT' \
                 WHEN COUNT(*) > 0 THEN 'DEBUG' END {observations})"
            ),
            "errorCount" => format!("(SELECT COUNT(*) {observations} AND o.level = 'ERROR')"),
            "warningCount" => format!("(SELECT COUNT(*) {observations} AND o.level = 'WARNING')"),
            "defaultCount" => format!("(SELECT COUNT(*) {observations} AND o.level = 'DEFAULT')"),
            "debugCount" => format!("(SELECT COUNT(*) {observations} AND o.level = 'DEBUG')"),
            "latency" => format!("(SELECT {LATENCY_SECONDS} {observations})"),
            "totalCost" => format!("(SELECT COALESCE(SUM(o.total_cost), 0) {observations})"),
            "inputCost" => format!(
                "(SELECT COALESCE(SUM({}), 0) {observations})",
                sum_keys("o.cost_details", "input")
            ),
            "outputCost" => format!(
                "(SELECT COALESCE(SUM({}), 0) {observations})",
                sum_keys("o.cost_details", "output")
            ),
            "inputTokens" => format!(
                "(SELECT COALESCE(SUM({}), 0) {observations})",
                sum_keys("o.usage_details", "input")
            ),
            "outputTokens" => format!(
                "(SELECT COALESCE(SUM({}), 0) {observations})",
                sum_keys("o.usage_details", "output")
            ),
            "totalTokens" | "tokens" => format!(
                "(SELECT COALESCE(SUM({}), 0) {observations})",
                json_number("o.usage_details", "total")
            ),
            _ => return None,
        })
    }

    fn score_target(&self) -> Option<(&'static str, &'static str, &'static str)> {
        Some(("t.id", "t.project_id", "trace_id"))
    }
}

/// Seconds from the earliest to the latest time of the observations `o` (0 without any),
/// as `double precision`: an aggregate expression.
const LATENCY_SECONDS: &str = "COALESCE((MAX(GREATEST(o.start_time, COALESCE(o.end_time, o.start_time))) \
     - MIN(LEAST(o.start_time, COALESCE(o.end_time, o.start_time))))::float8 / 1e6::float8, 0::float8)";

/// Every condition of a trace query, over `traces t`.
pub(crate) fn trace_where(project: &ProjectId, query: &TraceQuery) -> StoreResult<Where> {
    let mut clauses = Where::in_project("t.project_id", project.as_str());
    clauses.eq_opt("t.user_id", &query.user_id);
    clauses.eq_opt("t.name", &query.name);
    clauses.eq_opt("t.session_id", &query.session_id);
    clauses.eq_opt("t.version", &query.version);
    clauses.eq_opt("t.release", &query.release);
    clauses.json_array_has_all("t.tags", &query.tags);
    clauses.any_of("t.environment", &query.environments);
    clauses.range("t.timestamp", query.from_timestamp, query.to_timestamp);
    apply_filters(&mut clauses, &query.filters, &TraceColumns).map_err(invalid_filter)?;
    Ok(clauses)
}

/// `ORDER BY` of a trace query, over `traces t`. Text columns sort by code point (as
/// the embedded backend does, whatever the database's collation) with NULLs lowest; ties
/// are broken by id. NOT NULL columns get no NULLS clause, so that the default order
/// (timestamp desc) walks the `traces_by_time` index.
pub(crate) fn trace_order(order: (TraceOrderColumn, SortDirection)) -> String {
    let (column, nullable) = match order.0 {
        TraceOrderColumn::Id => ("t.id COLLATE \"C\"", false),
        TraceOrderColumn::Timestamp => ("t.timestamp", false),
        TraceOrderColumn::Name => ("t.name COLLATE \"C\"", true),
        TraceOrderColumn::UserId => ("t.user_id COLLATE \"C\"", true),
        TraceOrderColumn::Release => ("t.release COLLATE \"C\"", true),
        TraceOrderColumn::Version => ("t.version COLLATE \"C\"", true),
        TraceOrderColumn::Public => ("t.public", false),
        TraceOrderColumn::Bookmarked => ("t.bookmarked", false),
        TraceOrderColumn::SessionId => ("t.session_id COLLATE \"C\"", true),
    };
    let (direction, nulls) = match order.1 {
        SortDirection::Asc => ("ASC", " NULLS FIRST"),
        SortDirection::Desc => ("DESC", " NULLS LAST"),
    };
    let nulls = if nullable { nulls } else { "" };
    format!("{column} {direction}{nulls}, t.id {direction}")
}

/// Wraps `inner` (a query answering whole `traces` rows) with every trace's statistics:
/// the columns are [`TRACE_COLUMNS`], then observation ids, total cost, latency and score
/// ids (see [`trace_with_stats`]). Append the outer `ORDER BY` when order matters.
fn with_trace_stats(inner: &Sql) -> Sql {
    let mut sql = Sql::new(format!(
        "SELECT {TRACE_COLUMNS}, st.observation_ids, st.total_cost, st.latency, sc.score_ids FROM ("
    ));
    sql.append(inner);
    sql.push(&format!(
        ") t LEFT JOIN LATERAL (SELECT array_agg(o.id ORDER BY o.start_time, o.id) AS observation_ids, \
         COALESCE(SUM(o.total_cost), 0)::float8 AS total_cost, {LATENCY_SECONDS} AS latency \
         FROM observations o WHERE o.project_id = t.project_id AND o.trace_id = t.id) st ON TRUE \
         LEFT JOIN LATERAL (SELECT array_agg(s.id ORDER BY s.timestamp DESC, s.id DESC) AS score_ids \
         FROM scores s WHERE s.project_id = t.project_id AND s.trace_id = t.id \
         AND s.data_type <> 'CORRECTION') sc ON TRUE"
    ));
    sql
}

fn trace_with_stats(row: &PgRow) -> Result<TraceWithStats, sqlx::Error> {
    let offset = TRACE_COLUMN_COUNT;
    Ok(TraceWithStats {
        trace: trace_from_row(row)?,
        observation_ids: row
            .try_get::<Option<Vec<String>>, _>(offset)?
            .unwrap_or_default(),
        total_cost: row.try_get::<Option<f64>, _>(offset + 1)?.unwrap_or(0.0),
        latency_seconds: row.try_get::<Option<f64>, _>(offset + 2)?.unwrap_or(0.0),
        score_ids: row
            .try_get::<Option<Vec<String>>, _>(offset + 3)?
            .unwrap_or_default(),
    })
}

#[async_trait]
impl TraceStore for PgStore {
    async fn list_traces(
        &self,
        project: &ProjectId,
        query: &TraceQuery,
        page: PageRequest,
    ) -> StoreResult<Page<TraceWithStats>> {
        let clauses = trace_where(project, query)?;
        let order = trace_order(query.order);
        let mut connection = self.pool.acquire().await.map_err(crate::internal)?;
        let mut count = Sql::new("SELECT COUNT(*) FROM traces t");
        count.push_where(&clauses);
        let total_items = count.fetch_count(&mut *connection).await?;
        let mut inner = Sql::new("SELECT t.* FROM traces t");
        inner
            .push_where(&clauses)
            .push(&format!(" ORDER BY {order}"))
            .push_page(page);
        let mut sql = with_trace_stats(&inner);
        sql.push(&format!(" ORDER BY {order}"));
        let items = sql.fetch_all(&mut *connection, trace_with_stats).await?;
        Ok(Page { items, total_items })
    }

    async fn get_trace(
        &self,
        project: &ProjectId,
        trace_id: &str,
    ) -> StoreResult<Option<TraceWithStats>> {
        let mut inner = Sql::new("SELECT t.* FROM traces t");
        inner.push_with(
            " WHERE t.project_id = ? AND t.id = ?",
            [Arg::from(project.as_str()), Arg::from(trace_id)],
        );
        with_trace_stats(&inner)
            .fetch_optional(&self.pool, trace_with_stats)
            .await
    }

    async fn list_trace_ids_after(
        &self,
        project: &ProjectId,
        query: &TraceQuery,
        cursor: Option<&TraceCursor>,
        limit: u32,
    ) -> StoreResult<Vec<TraceCursor>> {
        let mut clauses = trace_where(project, query)?;
        if let Some(cursor) = cursor {
            clauses.before_row(
                &["t.timestamp", "t.id"],
                vec![Arg::from(cursor.timestamp), Arg::from(&cursor.id)],
            );
        }
        let mut sql = Sql::new("SELECT t.timestamp, t.id FROM traces t");
        sql.push_where(&clauses)
            .push(" ORDER BY t.timestamp DESC, t.id DESC LIMIT ")
            .bind(limit);
        sql.fetch_all(&self.pool, |row| {
            Ok(TraceCursor {
                timestamp: row.try_get(0)?,
                id: row.try_get(1)?,
            })
        })
        .await
    }
}

// ---------- observations ----------

/// Filter columns of the observation views, over [`OBSERVATION_FROM`].
pub(crate) struct ObservationColumns;

impl ColumnResolver for ObservationColumns {
    fn expression(&self, column: &str) -> Option<String> {
        Some(match column {
            "id" => "o.id".into(),
            "type" => "o.type".into(),
            "name" => "o.name".into(),
            "traceId" => "o.trace_id".into(),
            "parentObservationId" => "o.parent_observation_id".into(),
            "environment" => "o.environment".into(),
            "startTime" => "o.start_time".into(),
            "endTime" => "o.end_time".into(),
            "timeToFirstToken" => {
                "((o.completion_start_time - o.start_time)::float8 / 1e6::float8)".into()
            }
            "latency" => "((o.end_time - o.start_time)::float8 / 1e6::float8)".into(),
            "inputCost" => sum_keys("o.cost_details", "input"),
            "outputCost" => sum_keys("o.cost_details", "output"),
            "totalCost" => "o.total_cost".into(),
            "level" => "o.level".into(),
            "statusMessage" => "o.status_message".into(),
            "model" | "providedModelName" => "o.model".into(),
            "inputTokens" => sum_keys("o.usage_details", "input"),
            "outputTokens" => sum_keys("o.usage_details", "output"),
            "totalTokens" | "tokens" => json_number("o.usage_details", "total"),
            "metadata" => "o.metadata".into(),
            "version" => "o.version".into(),
            "promptName" => "o.prompt_name".into(),
            "promptVersion" => "o.prompt_version".into(),
            "userId" => "t.user_id".into(),
            "sessionId" => "t.session_id".into(),
            "traceName" => "t.name".into(),
            "traceTags" => "t.tags".into(),
            "input" => "o.input".into(),
            "output" => "o.output".into(),
            _ => return None,
        })
    }

    fn score_target(&self) -> Option<(&'static str, &'static str, &'static str)> {
        Some(("o.id", "o.project_id", "observation_id"))
    }
}

/// Observations `o` with their trace `t` (for the trace columns of the filters).
pub(crate) const OBSERVATION_FROM: &str =
    "observations o LEFT JOIN traces t ON t.project_id = o.project_id AND t.id = o.trace_id";

/// Every condition of an observation query, over [`OBSERVATION_FROM`].
pub(crate) fn observation_where(
    project: &ProjectId,
    query: &ObservationQuery,
) -> StoreResult<Where> {
    let mut clauses = Where::in_project("o.project_id", project.as_str());
    clauses.eq_opt("o.type", &query.r#type);
    clauses.eq_opt("o.name", &query.name);
    clauses.eq_opt("t.user_id", &query.user_id);
    clauses.eq_opt("t.session_id", &query.session_id);
    clauses.eq_opt("o.level", &query.level);
    clauses.eq_opt("o.trace_id", &query.trace_id);
    clauses.eq_opt("o.version", &query.version);
    clauses.eq_opt("o.parent_observation_id", &query.parent_observation_id);
    clauses.any_of("o.environment", &query.environments);
    clauses.range("o.start_time", query.from_start_time, query.to_start_time);
    match query.is_root {
        Some(true) => clauses.push("(o.parent_observation_id IS NULL OR o.is_app_root = 1)", []),
        Some(false) => clauses.push(
            "(o.parent_observation_id IS NOT NULL AND o.is_app_root = 0)",
            [],
        ),
        None => {}
    }
    apply_filters(&mut clauses, &query.filters, &ObservationColumns).map_err(invalid_filter)?;
    Ok(clauses)
}

#[async_trait]
impl ObservationStore for PgStore {
    async fn list_observations(
        &self,
        project: &ProjectId,
        query: &ObservationQuery,
        page: PageRequest,
    ) -> StoreResult<Page<Observation>> {
        let clauses = observation_where(project, query)?;
        let select = PagedSelect {
            columns: OBSERVATION_COLUMNS,
            from: OBSERVATION_FROM,
            count_from: OBSERVATION_FROM,
            order: "o.start_time DESC, o.id DESC",
        };
        select_page(&self.pool, select, &clauses, page, observation_from_row).await
    }

    async fn list_observations_after(
        &self,
        project: &ProjectId,
        query: &ObservationQuery,
        cursor: Option<&ObservationCursor>,
        limit: u32,
    ) -> StoreResult<Vec<Observation>> {
        let mut clauses = observation_where(project, query)?;
        if let Some(cursor) = cursor {
            clauses.before_row(
                &["o.start_time", "o.trace_id", "o.id"],
                vec![
                    Arg::from(cursor.start_time),
                    Arg::from(&cursor.trace_id),
                    Arg::from(&cursor.id),
                ],
            );
        }
        let mut sql = Sql::new(format!(
            "SELECT {OBSERVATION_COLUMNS} FROM {OBSERVATION_FROM}"
        ));
        sql.push_where(&clauses)
            .push(" ORDER BY o.start_time DESC, o.trace_id DESC, o.id DESC LIMIT ")
            .bind(limit);
        sql.fetch_all(&self.pool, observation_from_row).await
    }

    async fn get_observation(
        &self,
        project: &ProjectId,
        observation_id: &str,
    ) -> StoreResult<Option<Observation>> {
        let mut sql = Sql::new(format!("SELECT {OBSERVATION_COLUMNS} FROM observations o"));
        sql.push_with(
            " WHERE o.project_id = ? AND o.id = ?",
            [Arg::from(project.as_str()), Arg::from(observation_id)],
        );
        sql.fetch_optional(&self.pool, observation_from_row).await
    }

    async fn observations_of_trace(
        &self,
        project: &ProjectId,
        trace_id: &str,
    ) -> StoreResult<Vec<Observation>> {
        let mut sql = Sql::new(format!("SELECT {OBSERVATION_COLUMNS} FROM observations o"));
        sql.push_with(
            " WHERE o.project_id = ? AND o.trace_id = ? ORDER BY o.start_time, o.id",
            [Arg::from(project.as_str()), Arg::from(trace_id)],
        );
        sql.fetch_all(&self.pool, observation_from_row).await
    }
}

// ---------- sessions ----------

#[async_trait]
impl SessionStore for PgStore {
    async fn list_sessions(
        &self,
        project: &ProjectId,
        query: &SessionQuery,
        page: PageRequest,
    ) -> StoreResult<Page<Session>> {
        let mut clauses = Where::in_project("project_id", project.as_str());
        clauses.range("created_at", query.from_timestamp, query.to_timestamp);
        clauses.any_of("environment", &query.environments);
        let select = PagedSelect {
            columns: SESSION_COLUMNS,
            from: "sessions",
            count_from: "sessions",
            order: "created_at DESC, id DESC",
        };
        select_page(&self.pool, select, &clauses, page, session_from_row).await
    }

    async fn get_session(
        &self,
        project: &ProjectId,
        session_id: &str,
    ) -> StoreResult<Option<Session>> {
        let mut sql = Sql::new(format!("SELECT {SESSION_COLUMNS} FROM sessions"));
        sql.push_with(
            " WHERE project_id = ? AND id = ?",
            [Arg::from(project.as_str()), Arg::from(session_id)],
        );
        sql.fetch_optional(&self.pool, session_from_row).await
    }

    async fn traces_of_session(
        &self,
        project: &ProjectId,
        session_id: &str,
    ) -> StoreResult<Vec<Trace>> {
        let mut sql = Sql::new(format!("SELECT {TRACE_COLUMNS} FROM traces t"));
        sql.push_with(
            " WHERE t.project_id = ? AND t.session_id = ? ORDER BY t.timestamp, t.id",
            [Arg::from(project.as_str()), Arg::from(session_id)],
        );
        sql.fetch_all(&self.pool, trace_from_row).await
    }
}

// ---------- scores ----------

/// Filter columns of the score views, over [`SCORE_FROM`].
pub(crate) struct ScoreColumns;

impl ColumnResolver for ScoreColumns {
    fn expression(&self, column: &str) -> Option<String> {
        Some(
            match column {
                "id" => "s.id",
                "timestamp" => "s.timestamp",
                "environment" => "s.environment",
                "traceId" => "s.trace_id",
                "observationId" => "s.observation_id",
                "sessionId" => "s.session_id",
                "name" => "s.name",
                "value" => "s.value",
                // Only BOOLEAN scores have a boolean value; others never match.
                "booleanValue" => "(CASE WHEN s.data_type = 'BOOLEAN' THEN s.value END)",
                // Glassbox runs no evaluators yet: no score has an evaluator id.
                "evaluatorId" => "NULL::text",
                "source" => "s.source",
                "comment" => "s.comment",
                "authorUserId" => "s.author_user_id",
                "dataType" => "s.data_type",
                "stringValue" => "s.string_value",
                "metadata" => "s.metadata",
                "traceName" => "t.name",
                "userId" => "t.user_id",
                "trace_tags" => "t.tags",
                _ => return None,
            }
            .to_owned(),
        )
    }

    fn score_target(&self) -> Option<(&'static str, &'static str, &'static str)> {
        None
    }
}

/// Scores `s` with their trace `t`.
pub(crate) const SCORE_FROM: &str =
    "scores s LEFT JOIN traces t ON t.project_id = s.project_id AND t.id = s.trace_id";
const SCORE_TRACE_COLUMNS: &str = "t.id, t.user_id, t.session_id, t.tags, t.environment, t.name";

/// Every condition of a score query, over [`SCORE_FROM`].
pub(crate) fn score_where(project: &ProjectId, query: &ScoreQuery) -> StoreResult<Where> {
    let mut clauses = Where::in_project("s.project_id", project.as_str());
    clauses.any_of("s.id", &query.ids);
    clauses.any_of("s.name", &query.names);
    clauses.eq_opt("t.user_id", &query.user_id);
    clauses.range("s.timestamp", query.from_timestamp, query.to_timestamp);
    clauses.any_of("s.environment", &query.environments);
    clauses.any_of("s.source", &query.sources);
    let data_types: Vec<String> = query
        .data_types
        .iter()
        .map(|data_type| data_type.as_str().to_owned())
        .collect();
    clauses.any_of("s.data_type", &data_types);
    for comparison in &query.value {
        let (operator, number) = match *comparison {
            ValueComparison::Lt(n) => ("<", n),
            ValueComparison::Gt(n) => (">", n),
            ValueComparison::Lte(n) => ("<=", n),
            ValueComparison::Gte(n) => (">=", n),
            ValueComparison::Eq(n) => ("=", n),
            ValueComparison::NotEq(n) => ("<>", n),
        };
        clauses.push(format!("s.value {operator} ?"), [Arg::from(number)]);
    }
    clauses.any_of("s.string_value", &query.string_values);
    clauses.any_of("s.config_id", &query.config_ids);
    clauses.any_of("s.queue_id", &query.queue_ids);
    clauses.any_of("s.author_user_id", &query.author_user_ids);
    clauses.json_array_has_all("t.tags", &query.trace_tags);
    clauses.any_of("s.trace_id", &query.trace_ids);
    clauses.any_of("s.observation_id", &query.observation_ids);
    clauses.any_of("s.session_id", &query.session_ids);
    clauses.any_of("s.dataset_run_id", &query.dataset_run_ids);
    if query.only_trace_targets {
        clauses.push("s.trace_id IS NOT NULL AND s.data_type <> 'CORRECTION'", []);
    }
    apply_filters(&mut clauses, &query.filters, &ScoreColumns).map_err(invalid_filter)?;
    Ok(clauses)
}

fn score_with_trace(row: &PgRow) -> Result<ScoreWithTrace, sqlx::Error> {
    let score = score_from_row(row)?;
    let offset = SCORE_COLUMN_COUNT;
    let trace_id: Option<String> = row.try_get(offset)?;
    let trace = match trace_id {
        Some(_) => Some(ScoreTraceInfo {
            user_id: row.try_get(offset + 1)?,
            session_id: row.try_get(offset + 2)?,
            tags: parse_strings(row.try_get(offset + 3)?),
            environment: row.try_get(offset + 4)?,
            name: row.try_get(offset + 5)?,
        }),
        None => None,
    };
    Ok(ScoreWithTrace { score, trace })
}

#[async_trait]
impl ScoreStore for PgStore {
    async fn list_scores(
        &self,
        project: &ProjectId,
        query: &ScoreQuery,
        page: PageRequest,
    ) -> StoreResult<Page<ScoreWithTrace>> {
        let clauses = score_where(project, query)?;
        let select = PagedSelect {
            columns: &format!("{SCORE_COLUMNS}, {SCORE_TRACE_COLUMNS}"),
            from: SCORE_FROM,
            count_from: SCORE_FROM,
            order: "s.timestamp DESC, s.id DESC",
        };
        select_page(&self.pool, select, &clauses, page, score_with_trace).await
    }

    async fn list_scores_after(
        &self,
        project: &ProjectId,
        query: &ScoreQuery,
        cursor: Option<&ScoreCursor>,
        limit: u32,
    ) -> StoreResult<Vec<ScoreWithTrace>> {
        let mut clauses = score_where(project, query)?;
        if let Some(cursor) = cursor {
            clauses.before_row(
                &["s.timestamp", "s.id"],
                vec![Arg::from(cursor.timestamp), Arg::from(&cursor.id)],
            );
        }
        let mut sql = Sql::new(format!(
            "SELECT {SCORE_COLUMNS}, {SCORE_TRACE_COLUMNS} FROM {SCORE_FROM}"
        ));
        sql.push_where(&clauses)
            .push(" ORDER BY s.timestamp DESC, s.id DESC LIMIT ")
            .bind(limit);
        sql.fetch_all(&self.pool, score_with_trace).await
    }

    async fn get_score(
        &self,
        project: &ProjectId,
        score_id: &str,
    ) -> StoreResult<Option<ScoreWithTrace>> {
        let mut sql = Sql::new(format!(
            "SELECT {SCORE_COLUMNS}, {SCORE_TRACE_COLUMNS} FROM {SCORE_FROM}"
        ));
        sql.push_with(
            " WHERE s.project_id = ? AND s.id = ?",
            [Arg::from(project.as_str()), Arg::from(score_id)],
        );
        sql.fetch_optional(&self.pool, score_with_trace).await
    }

    async fn scores_of_trace(
        &self,
        project: &ProjectId,
        trace_id: &str,
    ) -> StoreResult<Vec<Score>> {
        let mut sql = Sql::new(format!("SELECT {SCORE_COLUMNS} FROM scores s"));
        sql.push_with(
            " WHERE s.project_id = ? AND s.trace_id = ? AND s.data_type <> 'CORRECTION' \
             ORDER BY s.timestamp DESC, s.id DESC",
            [Arg::from(project.as_str()), Arg::from(trace_id)],
        );
        sql.fetch_all(&self.pool, score_from_row).await
    }
}

#[cfg(test)]
#[path = "reads_tests.rs"]
mod tests;
