//! Read queries: traces, observations, sessions and scores.

use async_trait::async_trait;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use glassbox_model::{Observation, ProjectId, Score, Session, Trace};
use glassbox_store::{
    ObservationCursor, ObservationQuery, ObservationStore, Page, PageRequest, ScoreCursor,
    ScoreQuery, ScoreStore, ScoreTraceInfo, ScoreWithTrace, SessionQuery, SessionStore,
    SortDirection, StoreError, StoreResult, TraceCursor, TraceOrderColumn, TraceQuery, TraceStore,
    TraceWithStats, ValueComparison,
};

use crate::SqliteStore;
use crate::connection::internal;
use crate::details::{COST_DETAILS_SQL, USAGE_DETAILS_SQL};
use crate::rows::{
    OBSERVATION_COLUMNS, SCORE_COLUMNS, TRACE_COLUMNS, observation_from_row, score_from_row,
    session_from_row, trace_from_row,
};
use crate::sql::{
    ColumnResolver, PagedSelect, Where, apply_filters, query_all, select_page, sum_keys,
};

fn invalid_filter(message: String) -> StoreError {
    // Filter columns were checked by the model's parser; what is left is a column this
    // endpoint cannot serve, which is the caller's mistake.
    StoreError::Conflict(format!("invalid filter: {message}"))
}

// ---------- traces ----------

struct TraceColumns;

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
            "metadata" => "gb_json(t.project_id, t.metadata)".into(),
            "version" => "t.version".into(),
            "release" => "t.release".into(),
            "environment" => "t.environment".into(),
            "tags" | "traceTags" => "t.tags".into(),
            "bookmarked" => "t.bookmarked".into(),
            "public" => "t.public".into(),
            "level" => format!(
                "(SELECT CASE WHEN SUM(o.level = 'ERROR') > 0 THEN 'ERROR' WHEN SUM(o.level = 'WARNING') > 0 THEN 'WARNING' \
                 WHEN SUM(o.level = 'DEFAULT') > 0 THEN 'DEFAULT' WHEN COUNT(*) > 0 THEN 'DEBUG' END {observations})"
            ),
            "errorCount" => format!("(SELECT COUNT(*) {observations} AND o.level = 'ERROR')"),
            "warningCount" => format!("(SELECT COUNT(*) {observations} AND o.level = 'WARNING')"),
            "defaultCount" => format!("(SELECT COUNT(*) {observations} AND o.level = 'DEFAULT')"),
            "debugCount" => format!("(SELECT COUNT(*) {observations} AND o.level = 'DEBUG')"),
            "latency" => format!(
                "(SELECT COALESCE((MAX(COALESCE(o.end_time, o.start_time)) - MIN(o.start_time)) / 1e6, 0) {observations})"
            ),
            "totalCost" => format!("(SELECT COALESCE(SUM(o.total_cost), 0) {observations})"),
            "inputCost" => format!(
                "(SELECT COALESCE(SUM({}), 0) {observations})",
                sum_keys(COST_DETAILS_SQL, "input")
            ),
            "outputCost" => format!(
                "(SELECT COALESCE(SUM({}), 0) {observations})",
                sum_keys(COST_DETAILS_SQL, "output")
            ),
            "inputTokens" => format!(
                "(SELECT COALESCE(SUM({}), 0) {observations})",
                sum_keys(USAGE_DETAILS_SQL, "input")
            ),
            "outputTokens" => format!(
                "(SELECT COALESCE(SUM({}), 0) {observations})",
                sum_keys(USAGE_DETAILS_SQL, "output")
            ),
            "totalTokens" | "tokens" => {
                format!(
                    "(SELECT COALESCE(SUM(json_extract({USAGE_DETAILS_SQL}, '$.total')), 0) {observations})"
                )
            }
            _ => return None,
        })
    }

    fn score_target(&self) -> Option<(&'static str, &'static str, &'static str)> {
        Some(("t.id", "t.project_id", "trace_id"))
    }
}

fn trace_where(project: &ProjectId, query: &TraceQuery) -> StoreResult<Where> {
    let mut clauses = Where::default();
    clauses.push(
        "t.project_id = ?",
        [SqlValue::from(project.as_str().to_owned())],
    );
    clauses.eq_opt("t.user_id", &query.user_id);
    clauses.eq_opt("t.name", &query.name);
    clauses.eq_opt("t.session_id", &query.session_id);
    clauses.eq_opt("t.version", &query.version);
    clauses.eq_opt("t.release", &query.release);
    clauses.all_tags("t.tags", &query.tags);
    clauses.any_of("t.environment", &query.environments);
    if let Some(from) = query.from_timestamp {
        clauses.push("t.timestamp >= ?", [SqlValue::from(from)]);
    }
    if let Some(to) = query.to_timestamp {
        clauses.push("t.timestamp < ?", [SqlValue::from(to)]);
    }
    apply_filters(&mut clauses, &query.filters, &TraceColumns).map_err(invalid_filter)?;
    Ok(clauses)
}

fn trace_order(order: (TraceOrderColumn, SortDirection)) -> String {
    let column = match order.0 {
        TraceOrderColumn::Id => "t.id",
        TraceOrderColumn::Timestamp => "t.timestamp",
        TraceOrderColumn::Name => "t.name",
        TraceOrderColumn::UserId => "t.user_id",
        TraceOrderColumn::Release => "t.release",
        TraceOrderColumn::Version => "t.version",
        TraceOrderColumn::Public => "t.public",
        TraceOrderColumn::Bookmarked => "t.bookmarked",
        TraceOrderColumn::SessionId => "t.session_id",
    };
    let direction = match order.1 {
        SortDirection::Asc => "ASC",
        SortDirection::Desc => "DESC",
    };
    format!("{column} {direction}, t.id {direction}")
}

fn trace_stats(
    connection: &Connection,
    project: &ProjectId,
    trace: Trace,
) -> StoreResult<TraceWithStats> {
    let mut statement = connection
        .prepare_cached(
            "SELECT id, start_time, COALESCE(end_time, start_time), total_cost FROM observations \
             WHERE project_id = ?1 AND trace_id = ?2 ORDER BY start_time, id",
        )
        .map_err(internal)?;
    let mut observation_ids = Vec::new();
    let (mut earliest, mut latest, mut total_cost) = (i64::MAX, i64::MIN, 0.0);
    let mut rows = statement
        .query(params![project.as_str(), trace.id])
        .map_err(internal)?;
    while let Some(row) = rows.next().map_err(internal)? {
        observation_ids.push(row.get::<_, String>(0).map_err(internal)?);
        let start: i64 = row.get(1).map_err(internal)?;
        let end: i64 = row.get(2).map_err(internal)?;
        earliest = earliest.min(start.min(end));
        latest = latest.max(start.max(end));
        total_cost += row
            .get::<_, Option<f64>>(3)
            .map_err(internal)?
            .unwrap_or(0.0);
    }
    let latency_seconds = if observation_ids.is_empty() {
        0.0
    } else {
        (latest - earliest) as f64 / 1e6
    };
    let mut statement = connection
        .prepare_cached(
            "SELECT id FROM scores WHERE project_id = ?1 AND trace_id = ?2 AND data_type <> 'CORRECTION' \
             ORDER BY timestamp DESC, id DESC",
        )
        .map_err(internal)?;
    let score_ids = statement
        .query_map(params![project.as_str(), trace.id], |row| {
            row.get::<_, String>(0)
        })
        .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
        .map_err(internal)?;
    Ok(TraceWithStats {
        trace,
        observation_ids,
        score_ids,
        total_cost,
        latency_seconds,
    })
}

#[async_trait]
impl TraceStore for SqliteStore {
    async fn list_traces(
        &self,
        project: &ProjectId,
        query: &TraceQuery,
        page: PageRequest,
    ) -> StoreResult<Page<TraceWithStats>> {
        let clauses = trace_where(project, query)?;
        let order = trace_order(query.order);
        let project = project.clone();
        self.readers
            .read(move |connection| {
                let select = PagedSelect {
                    columns: TRACE_COLUMNS,
                    from: "traces t",
                    count_from: "traces t",
                    order: &order,
                };
                let traces = select_page(connection, select, &clauses, page, trace_from_row)?;
                let items = traces
                    .items
                    .into_iter()
                    .map(|trace| trace_stats(connection, &project, trace))
                    .collect::<StoreResult<Vec<_>>>()?;
                Ok(Page {
                    items,
                    total_items: traces.total_items,
                })
            })
            .await
    }

    async fn get_trace(
        &self,
        project: &ProjectId,
        trace_id: &str,
    ) -> StoreResult<Option<TraceWithStats>> {
        let (project, trace_id) = (project.clone(), trace_id.to_owned());
        self.readers
            .read(move |connection| {
                let trace = connection
                    .query_row(
                        &format!("SELECT {TRACE_COLUMNS} FROM traces t WHERE t.project_id = ?1 AND t.id = ?2"),
                        params![project.as_str(), trace_id],
                        trace_from_row,
                    )
                    .optional()
                    .map_err(internal)?;
                trace.map(|trace| trace_stats(connection, &project, trace)).transpose()
            })
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
            clauses.push(
                "(t.timestamp, t.id) < (?, ?)",
                [
                    SqlValue::from(cursor.timestamp),
                    SqlValue::from(cursor.id.clone()),
                ],
            );
        }
        self.readers
            .read(move |connection| {
                let sql = format!(
                    "SELECT t.timestamp, t.id FROM traces t WHERE {} ORDER BY t.timestamp DESC, t.id DESC LIMIT {limit}",
                    clauses.sql()
                );
                connection
                    .prepare(&sql)
                    .and_then(|mut statement| {
                        statement
                            .query_map(params_from_iter(clauses.params.iter()), |row| {
                                Ok(TraceCursor { timestamp: row.get(0)?, id: row.get(1)? })
                            })?
                            .collect::<rusqlite::Result<Vec<_>>>()
                    })
                    .map_err(internal)
            })
            .await
    }
}

// ---------- observations ----------

struct ObservationColumns;

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
            "timeToFirstToken" => "((o.completion_start_time - o.start_time) / 1e6)".into(),
            "latency" => "((o.end_time - o.start_time) / 1e6)".into(),
            "inputCost" => sum_keys(COST_DETAILS_SQL, "input"),
            "outputCost" => sum_keys(COST_DETAILS_SQL, "output"),
            "totalCost" => "o.total_cost".into(),
            "level" => "o.level".into(),
            "statusMessage" => "o.status_message".into(),
            "model" | "providedModelName" => "o.model".into(),
            "inputTokens" => sum_keys(USAGE_DETAILS_SQL, "input"),
            "outputTokens" => sum_keys(USAGE_DETAILS_SQL, "output"),
            "totalTokens" | "tokens" => format!("json_extract({USAGE_DETAILS_SQL}, '$.total')"),
            "metadata" => "gb_json(o.project_id, o.metadata)".into(),
            "version" => "o.version".into(),
            "promptName" => "o.prompt_name".into(),
            "promptVersion" => "o.prompt_version".into(),
            "userId" => "t.user_id".into(),
            "sessionId" => "t.session_id".into(),
            "traceName" => "t.name".into(),
            "traceTags" => "t.tags".into(),
            "input" => "gb_json(o.project_id, o.input)".into(),
            "output" => "gb_json(o.project_id, o.output)".into(),
            _ => return None,
        })
    }

    fn score_target(&self) -> Option<(&'static str, &'static str, &'static str)> {
        Some(("o.id", "o.project_id", "observation_id"))
    }
}

const OBSERVATION_FROM: &str =
    "observations o LEFT JOIN traces t ON t.project_id = o.project_id AND t.id = o.trace_id";

/// Order of the observation list's pages (`observations_by_time`, then a sort of the
/// rows with an equal start time).
const OBSERVATION_PAGE_ORDER: &str = "o.start_time DESC, o.id DESC";

/// The observation list after a keyset cursor (pushed into `clauses`).
fn observations_after_sql(clauses: &Where, limit: u32) -> String {
    format!(
        "SELECT {OBSERVATION_COLUMNS} FROM {OBSERVATION_FROM} WHERE {} \
         ORDER BY o.start_time DESC, o.trace_id DESC, o.id DESC LIMIT {limit}",
        clauses.sql()
    )
}

fn observation_where(project: &ProjectId, query: &ObservationQuery) -> StoreResult<Where> {
    let mut clauses = Where::default();
    clauses.push(
        "o.project_id = ?",
        [SqlValue::from(project.as_str().to_owned())],
    );
    clauses.eq_opt("o.type", &query.r#type);
    clauses.eq_opt("o.name", &query.name);
    clauses.eq_opt("t.user_id", &query.user_id);
    clauses.eq_opt("t.session_id", &query.session_id);
    clauses.eq_opt("o.level", &query.level);
    clauses.eq_opt("o.trace_id", &query.trace_id);
    clauses.eq_opt("o.version", &query.version);
    clauses.eq_opt("o.parent_observation_id", &query.parent_observation_id);
    clauses.any_of("o.environment", &query.environments);
    if let Some(from) = query.from_start_time {
        clauses.push("o.start_time >= ?", [SqlValue::from(from)]);
    }
    if let Some(to) = query.to_start_time {
        clauses.push("o.start_time < ?", [SqlValue::from(to)]);
    }
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

fn query_observations(
    connection: &Connection,
    sql: &str,
    params: &[SqlValue],
) -> StoreResult<Vec<Observation>> {
    query_all(
        connection,
        sql,
        params_from_iter(params.iter()),
        observation_from_row,
    )
}

#[async_trait]
impl ObservationStore for SqliteStore {
    async fn list_observations(
        &self,
        project: &ProjectId,
        query: &ObservationQuery,
        page: PageRequest,
    ) -> StoreResult<Page<Observation>> {
        let clauses = observation_where(project, query)?;
        self.readers
            .read(move |connection| {
                let select = PagedSelect {
                    columns: OBSERVATION_COLUMNS,
                    from: OBSERVATION_FROM,
                    count_from: OBSERVATION_FROM,
                    order: OBSERVATION_PAGE_ORDER,
                };
                select_page(connection, select, &clauses, page, observation_from_row)
            })
            .await
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
            clauses.push(
                "(o.start_time, o.trace_id, o.id) < (?, ?, ?)",
                [
                    SqlValue::from(cursor.start_time),
                    SqlValue::from(cursor.trace_id.clone()),
                    SqlValue::from(cursor.id.clone()),
                ],
            );
        }
        self.readers
            .read(move |connection| {
                query_observations(
                    connection,
                    &observations_after_sql(&clauses, limit),
                    &clauses.params,
                )
            })
            .await
    }

    async fn get_observation(
        &self,
        project: &ProjectId,
        observation_id: &str,
    ) -> StoreResult<Option<Observation>> {
        let (project, id) = (project.clone(), observation_id.to_owned());
        self.readers
            .read(move |connection| {
                connection
                    .query_row(
                        &format!("SELECT {OBSERVATION_COLUMNS} FROM observations o WHERE o.project_id = ?1 AND o.id = ?2"),
                        params![project.as_str(), id],
                        observation_from_row,
                    )
                    .optional()
                    .map_err(internal)
            })
            .await
    }

    async fn observations_of_trace(
        &self,
        project: &ProjectId,
        trace_id: &str,
    ) -> StoreResult<Vec<Observation>> {
        let params = vec![
            SqlValue::from(project.as_str().to_owned()),
            SqlValue::from(trace_id.to_owned()),
        ];
        self.readers
            .read(move |connection| {
                query_observations(
                    connection,
                    &format!(
                        "SELECT {OBSERVATION_COLUMNS} FROM observations o WHERE o.project_id = ? AND o.trace_id = ? \
                         ORDER BY o.start_time, o.id"
                    ),
                    &params,
                )
            })
            .await
    }
}

// ---------- sessions ----------

#[async_trait]
impl SessionStore for SqliteStore {
    async fn list_sessions(
        &self,
        project: &ProjectId,
        query: &SessionQuery,
        page: PageRequest,
    ) -> StoreResult<Page<Session>> {
        let mut clauses = Where::default();
        clauses.push(
            "project_id = ?",
            [SqlValue::from(project.as_str().to_owned())],
        );
        if let Some(from) = query.from_timestamp {
            clauses.push("created_at >= ?", [SqlValue::from(from)]);
        }
        if let Some(to) = query.to_timestamp {
            clauses.push("created_at < ?", [SqlValue::from(to)]);
        }
        clauses.any_of("environment", &query.environments);
        self.readers
            .read(move |connection| {
                let select = PagedSelect {
                    columns: "id, environment, created_at",
                    from: "sessions",
                    count_from: "sessions",
                    order: "created_at DESC, id DESC",
                };
                select_page(connection, select, &clauses, page, session_from_row)
            })
            .await
    }

    async fn get_session(
        &self,
        project: &ProjectId,
        session_id: &str,
    ) -> StoreResult<Option<Session>> {
        let (project, id) = (project.clone(), session_id.to_owned());
        self.readers
            .read(move |connection| {
                connection
                    .query_row(
                        "SELECT id, environment, created_at FROM sessions WHERE project_id = ?1 AND id = ?2",
                        params![project.as_str(), id],
                        session_from_row,
                    )
                    .optional()
                    .map_err(internal)
            })
            .await
    }

    async fn traces_of_session(
        &self,
        project: &ProjectId,
        session_id: &str,
    ) -> StoreResult<Vec<Trace>> {
        let (project, id) = (project.clone(), session_id.to_owned());
        self.readers
            .read(move |connection| {
                connection
                    .prepare(&format!(
                        "SELECT {TRACE_COLUMNS} FROM traces t WHERE t.project_id = ?1 AND t.session_id = ?2 ORDER BY t.timestamp, t.id"
                    ))
                    .and_then(|mut statement| {
                        statement.query_map(params![project.as_str(), id], trace_from_row)?.collect::<rusqlite::Result<Vec<_>>>()
                    })
                    .map_err(internal)
            })
            .await
    }
}

// ---------- scores ----------

struct ScoreColumns;

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
                "evaluatorId" => "NULL",
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

const SCORE_FROM: &str =
    "scores s LEFT JOIN traces t ON t.project_id = s.project_id AND t.id = s.trace_id";
const SCORE_TRACE_COLUMNS: &str = "t.id, t.user_id, t.session_id, t.tags, t.environment, t.name";

fn score_where(project: &ProjectId, query: &ScoreQuery) -> StoreResult<Where> {
    let mut clauses = Where::default();
    clauses.push(
        "s.project_id = ?",
        [SqlValue::from(project.as_str().to_owned())],
    );
    clauses.any_of("s.id", &query.ids);
    clauses.any_of("s.name", &query.names);
    clauses.eq_opt("t.user_id", &query.user_id);
    if let Some(from) = query.from_timestamp {
        clauses.push("s.timestamp >= ?", [SqlValue::from(from)]);
    }
    if let Some(to) = query.to_timestamp {
        clauses.push("s.timestamp < ?", [SqlValue::from(to)]);
    }
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
        clauses.push(format!("s.value {operator} ?"), [SqlValue::from(number)]);
    }
    clauses.any_of("s.string_value", &query.string_values);
    clauses.any_of("s.config_id", &query.config_ids);
    clauses.any_of("s.queue_id", &query.queue_ids);
    clauses.any_of("s.author_user_id", &query.author_user_ids);
    clauses.all_tags("t.tags", &query.trace_tags);
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

fn score_with_trace(row: &rusqlite::Row<'_>) -> rusqlite::Result<ScoreWithTrace> {
    let score = score_from_row(row)?;
    let offset = 20;
    let trace_id: Option<String> = row.get(offset)?;
    let trace = match trace_id {
        Some(_) => Some(ScoreTraceInfo {
            user_id: row.get(offset + 1)?,
            session_id: row.get(offset + 2)?,
            tags: serde_json::from_str(&row.get::<_, String>(offset + 3)?).unwrap_or_default(),
            environment: row.get(offset + 4)?,
            name: row.get(offset + 5)?,
        }),
        None => None,
    };
    Ok(ScoreWithTrace { score, trace })
}

fn query_scores(
    connection: &Connection,
    sql: &str,
    params: &[SqlValue],
) -> StoreResult<Vec<ScoreWithTrace>> {
    query_all(
        connection,
        sql,
        params_from_iter(params.iter()),
        score_with_trace,
    )
}

#[async_trait]
impl ScoreStore for SqliteStore {
    async fn list_scores(
        &self,
        project: &ProjectId,
        query: &ScoreQuery,
        page: PageRequest,
    ) -> StoreResult<Page<ScoreWithTrace>> {
        let clauses = score_where(project, query)?;
        self.readers
            .read(move |connection| {
                let select = PagedSelect {
                    columns: &format!("{SCORE_COLUMNS}, {SCORE_TRACE_COLUMNS}"),
                    from: SCORE_FROM,
                    count_from: SCORE_FROM,
                    order: "s.timestamp DESC, s.id DESC",
                };
                select_page(connection, select, &clauses, page, score_with_trace)
            })
            .await
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
            clauses.push(
                "(s.timestamp, s.id) < (?, ?)",
                [
                    SqlValue::from(cursor.timestamp),
                    SqlValue::from(cursor.id.clone()),
                ],
            );
        }
        self.readers
            .read(move |connection| {
                let sql = format!(
                    "SELECT {SCORE_COLUMNS}, {SCORE_TRACE_COLUMNS} FROM {SCORE_FROM} WHERE {} \
                     ORDER BY s.timestamp DESC, s.id DESC LIMIT {limit}",
                    clauses.sql()
                );
                query_scores(connection, &sql, &clauses.params)
            })
            .await
    }

    async fn get_score(
        &self,
        project: &ProjectId,
        score_id: &str,
    ) -> StoreResult<Option<ScoreWithTrace>> {
        let params = vec![
            SqlValue::from(project.as_str().to_owned()),
            SqlValue::from(score_id.to_owned()),
        ];
        self.readers
            .read(move |connection| {
                let sql = format!("SELECT {SCORE_COLUMNS}, {SCORE_TRACE_COLUMNS} FROM {SCORE_FROM} WHERE s.project_id = ? AND s.id = ?");
                Ok(query_scores(connection, &sql, &params)?.into_iter().next())
            })
            .await
    }

    async fn scores_of_trace(
        &self,
        project: &ProjectId,
        trace_id: &str,
    ) -> StoreResult<Vec<Score>> {
        let (project, trace_id) = (project.clone(), trace_id.to_owned());
        self.readers
            .read(move |connection| {
                connection
                    .prepare(&format!(
                        "SELECT {SCORE_COLUMNS} FROM scores s WHERE s.project_id = ?1 AND s.trace_id = ?2 \
                         AND s.data_type <> 'CORRECTION' ORDER BY s.timestamp DESC, s.id DESC"
                    ))
                    .and_then(|mut statement| {
                        statement.query_map(params![project.as_str(), trace_id], score_from_row)?.collect::<rusqlite::Result<Vec<_>>>()
                    })
                    .map_err(internal)
            })
            .await
    }
}

#[cfg(test)]
mod plan_tests {
    use super::*;

    /// The details of SQLite's plan for `sql`.
    fn plan(connection: &Connection, sql: &str, params: &[SqlValue]) -> Vec<String> {
        let mut statement = connection
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        statement
            .query_map(params_from_iter(params.iter()), |row| {
                row.get::<_, String>(3)
            })
            .unwrap()
            .collect::<rusqlite::Result<Vec<_>>>()
            .unwrap()
    }

    /// `observations_by_time` holds the start time alone (migration 16), and the
    /// observation lists (first page, filtered, after a cursor) still walk it instead of
    /// scanning and sorting the project's observations. (Their order, ties included, is
    /// checked by the conformance suite: `observation_keyset_pagination_returns_every_row_once`.)
    #[test]
    fn observation_lists_walk_the_start_time_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(crate::DATABASE_FILE);
        let connection = crate::connection::open_writer(&path).unwrap();
        let columns: Vec<String> = connection
            .prepare("SELECT name FROM pragma_index_info('observations_by_time') ORDER BY seqno")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<rusqlite::Result<Vec<_>>>()
            .unwrap();
        assert_eq!(columns, ["project_id", "start_time"]);
        let project = ProjectId("p".into());
        let filtered = ObservationQuery {
            r#type: Some("GENERATION".into()),
            user_id: Some("u".into()),
            ..ObservationQuery::default()
        };
        let cursor = |mut clauses: Where| {
            clauses.push(
                "(o.start_time, o.trace_id, o.id) < (?, ?, ?)",
                [
                    SqlValue::from(5i64),
                    SqlValue::from("t".to_owned()),
                    SqlValue::from("o".to_owned()),
                ],
            );
            clauses
        };
        for query in [ObservationQuery::default(), filtered] {
            let clauses = observation_where(&project, &query).unwrap();
            let page = format!(
                "SELECT {OBSERVATION_COLUMNS} FROM {OBSERVATION_FROM} WHERE {} \
                 ORDER BY {OBSERVATION_PAGE_ORDER} LIMIT 50 OFFSET 450",
                clauses.sql()
            );
            let after = cursor(clauses.clone());
            for (sql, params) in [
                (page, &clauses.params),
                (observations_after_sql(&clauses, 50), &clauses.params),
                (observations_after_sql(&after, 50), &after.params),
            ] {
                let details = plan(&connection, &sql, params);
                assert!(
                    details
                        .iter()
                        .any(|detail| detail.contains("USING INDEX observations_by_time")),
                    "{sql}: {details:?}"
                );
                assert!(
                    !details.iter().any(|detail| detail.starts_with("SCAN o")
                        || detail == "USE TEMP B-TREE FOR ORDER BY"),
                    "{sql}: {details:?}"
                );
            }
        }
    }
}
