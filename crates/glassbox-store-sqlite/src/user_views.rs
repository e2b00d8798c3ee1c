//! The users view of the web UI: traces grouped by `user_id`, with the tokens and cost of
//! their observations (the measure columns of `observations`).

use async_trait::async_trait;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, Row, params_from_iter};

use glassbox_model::ProjectId;
use glassbox_store::{
    Page, PageRequest, StoreResult, UserOrder, UserQuery, UserSession, UserSummary, UserViewStore,
};

use crate::SqliteStore;
use crate::connection::internal;

/// The conditions on the user's traces (`t`), with their parameters after `?1` (project).
fn trace_conditions(query: &UserQuery, values: &mut Vec<SqlValue>) -> String {
    let mut conditions = String::from("t.project_id = ?1 AND t.user_id IS NOT NULL");
    if let Some(from) = query.from_timestamp {
        values.push(SqlValue::Integer(from));
        conditions.push_str(&format!(" AND t.timestamp >= ?{}", values.len()));
    }
    if let Some(to) = query.to_timestamp {
        values.push(SqlValue::Integer(to));
        conditions.push_str(&format!(" AND t.timestamp < ?{}", values.len()));
    }
    if let Some(search) = query.search.as_ref().filter(|text| !text.is_empty()) {
        values.push(SqlValue::Text(search.clone()));
        conditions.push_str(&format!(" AND instr(t.user_id, ?{}) > 0", values.len()));
    }
    conditions
}

/// `WITH` clauses `users` (per user: traces, sessions, first/last seen) and `usage` (per
/// user: tokens and cost of the observations of those traces).
fn with_users(conditions: &str) -> String {
    format!(
        "WITH users AS (SELECT t.user_id AS user_id, COUNT(*) AS traces, \
         COUNT(DISTINCT t.session_id) AS sessions, MIN(t.timestamp) AS first_seen, \
         MAX(t.timestamp) AS last_seen FROM traces t WHERE {conditions} GROUP BY t.user_id), \
         usage AS (SELECT t.user_id AS user_id, SUM(f.input_tokens) AS input_tokens, \
         SUM(f.output_tokens) AS output_tokens, SUM(f.total_tokens) AS total_tokens, \
         SUM(COALESCE(f.total_cost, 0)) AS total_cost FROM traces t JOIN observations f \
         ON f.project_id = t.project_id AND f.trace_id = t.id WHERE {conditions} GROUP BY t.user_id) "
    )
}

const SELECT_SUMMARY: &str = "SELECT u.user_id, u.traces, u.sessions, \
    COALESCE(s.input_tokens, 0), COALESCE(s.output_tokens, 0), COALESCE(s.total_tokens, 0), \
    COALESCE(s.total_cost, 0), u.first_seen, u.last_seen \
    FROM users u LEFT JOIN usage s ON s.user_id = u.user_id";

fn summary(row: &Row<'_>) -> rusqlite::Result<UserSummary> {
    let traces: i64 = row.get(1)?;
    let sessions: i64 = row.get(2)?;
    Ok(UserSummary {
        user_id: row.get(0)?,
        trace_count: u64::try_from(traces).unwrap_or(0),
        session_count: u64::try_from(sessions).unwrap_or(0),
        input_tokens: row.get(3)?,
        output_tokens: row.get(4)?,
        total_tokens: row.get(5)?,
        total_cost: row.get(6)?,
        first_seen: row.get(7)?,
        last_seen: row.get(8)?,
    })
}

fn summaries(
    connection: &Connection,
    sql: &str,
    values: &[SqlValue],
) -> StoreResult<Vec<UserSummary>> {
    let mut statement = connection.prepare(sql).map_err(internal)?;
    let rows = statement
        .query_map(params_from_iter(values.iter()), summary)
        .map_err(internal)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(internal)
}

#[async_trait]
impl UserViewStore for SqliteStore {
    async fn list_users(
        &self,
        project: &ProjectId,
        query: &UserQuery,
        page: PageRequest,
    ) -> StoreResult<Page<UserSummary>> {
        let mut values = vec![SqlValue::Text(project.as_str().to_owned())];
        let conditions = trace_conditions(query, &mut values);
        let order = match query.order {
            UserOrder::LastSeenDesc => "u.last_seen DESC",
            UserOrder::LastSeenAsc => "u.last_seen ASC",
            UserOrder::TotalCostDesc => "COALESCE(s.total_cost, 0) DESC",
            UserOrder::TotalCostAsc => "COALESCE(s.total_cost, 0) ASC",
        };
        let list = format!(
            "{}{SELECT_SUMMARY} ORDER BY {order}, u.user_id ASC LIMIT {} OFFSET {}",
            with_users(&conditions),
            page.limit,
            page.offset()
        );
        let count = format!("SELECT COUNT(DISTINCT t.user_id) FROM traces t WHERE {conditions}");
        self.readers
            .read(move |connection| {
                let items = summaries(connection, &list, &values)?;
                let total: i64 = connection
                    .query_row(&count, params_from_iter(values.iter()), |row| row.get(0))
                    .map_err(internal)?;
                Ok(Page {
                    items,
                    total_items: u64::try_from(total).unwrap_or(0),
                })
            })
            .await
    }

    async fn get_user(
        &self,
        project: &ProjectId,
        user_id: &str,
    ) -> StoreResult<Option<UserSummary>> {
        let values = vec![
            SqlValue::Text(project.as_str().to_owned()),
            SqlValue::Text(user_id.to_owned()),
        ];
        let sql = format!(
            "{}{SELECT_SUMMARY}",
            with_users("t.project_id = ?1 AND t.user_id = ?2")
        );
        self.readers
            .read(move |connection| Ok(summaries(connection, &sql, &values)?.pop()))
            .await
    }

    async fn sessions_of_user(
        &self,
        project: &ProjectId,
        user_id: &str,
        limit: u32,
    ) -> StoreResult<Vec<UserSession>> {
        let project = project.as_str().to_owned();
        let user_id = user_id.to_owned();
        self.readers
            .read(move |connection| {
                let mut statement = connection
                    .prepare(
                        "SELECT session_id, COUNT(*), MIN(timestamp), MAX(timestamp) FROM traces \
                         WHERE project_id = ?1 AND user_id = ?2 AND session_id IS NOT NULL \
                         GROUP BY session_id ORDER BY MAX(timestamp) DESC, session_id ASC LIMIT ?3",
                    )
                    .map_err(internal)?;
                let rows = statement
                    .query_map(rusqlite::params![project, user_id, limit], |row| {
                        let traces: i64 = row.get(1)?;
                        Ok(UserSession {
                            session_id: row.get(0)?,
                            trace_count: u64::try_from(traces).unwrap_or(0),
                            first_seen: row.get(2)?,
                            last_seen: row.get(3)?,
                        })
                    })
                    .map_err(internal)?;
                rows.collect::<Result<Vec<_>, _>>().map_err(internal)
            })
            .await
    }
}
