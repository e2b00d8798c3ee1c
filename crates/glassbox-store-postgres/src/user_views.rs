//! The users view of the web UI on PostgreSQL: traces grouped by `user_id`, with the
//! tokens and cost of their observations computed from the observation rows (the
//! embedded backend reads the measure columns it keeps in its `observations`).

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;

use glassbox_model::ProjectId;
use glassbox_store::{
    Page, PageRequest, StoreResult, UserOrder, UserQuery, UserSession, UserSummary, UserViewStore,
};

use crate::usage_sql::{key_sum_tokens, total_tokens};
use crate::{PgStore, internal};

/// A parameter of the dynamic queries, bound in placeholder order.
enum Param {
    Text(String),
    Int(i64),
}

/// The conditions on the user's traces (`t`), with their parameters after `$1` (project).
fn trace_conditions(query: &UserQuery, params: &mut Vec<Param>) -> String {
    let mut conditions = String::from("t.project_id = $1 AND t.user_id IS NOT NULL");
    if let Some(from) = query.from_timestamp {
        params.push(Param::Int(from));
        conditions.push_str(&format!(" AND t.timestamp >= ${}", params.len() + 1));
    }
    if let Some(to) = query.to_timestamp {
        params.push(Param::Int(to));
        conditions.push_str(&format!(" AND t.timestamp < ${}", params.len() + 1));
    }
    if let Some(search) = query.search.as_ref().filter(|text| !text.is_empty()) {
        params.push(Param::Text(search.clone()));
        conditions.push_str(&format!(
            " AND strpos(t.user_id, ${}) > 0",
            params.len() + 1
        ));
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
         usage AS (SELECT t.user_id AS user_id, SUM({input})::float8 AS input_tokens, \
         SUM({output})::float8 AS output_tokens, SUM({total})::float8 AS total_tokens, \
         SUM(COALESCE(o.total_cost, 0)) AS total_cost FROM traces t JOIN observations o \
         ON o.project_id = t.project_id AND o.trace_id = t.id WHERE {conditions} GROUP BY t.user_id) ",
        input = key_sum_tokens("o.usage_details", "input"),
        output = key_sum_tokens("o.usage_details", "output"),
        total = total_tokens("o.usage_details"),
    )
}

const SELECT_SUMMARY: &str = "SELECT u.user_id, u.traces, u.sessions, \
    COALESCE(s.input_tokens, 0::float8), COALESCE(s.output_tokens, 0::float8), \
    COALESCE(s.total_tokens, 0::float8), COALESCE(s.total_cost, 0::float8), u.first_seen, u.last_seen \
    FROM users u LEFT JOIN usage s ON s.user_id = u.user_id";

fn summary(row: &PgRow) -> Result<UserSummary, sqlx::Error> {
    let traces: i64 = row.try_get(1)?;
    let sessions: i64 = row.try_get(2)?;
    Ok(UserSummary {
        user_id: row.try_get(0)?,
        trace_count: u64::try_from(traces).unwrap_or(0),
        session_count: u64::try_from(sessions).unwrap_or(0),
        input_tokens: row.try_get(3)?,
        output_tokens: row.try_get(4)?,
        total_tokens: row.try_get(5)?,
        total_cost: row.try_get(6)?,
        first_seen: row.try_get(7)?,
        last_seen: row.try_get(8)?,
    })
}

fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    project: &'q str,
    params: &'q [Param],
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    query = query.bind(project);
    for param in params {
        query = match param {
            Param::Text(text) => query.bind(text.as_str()),
            Param::Int(number) => query.bind(*number),
        };
    }
    query
}

#[async_trait]
impl UserViewStore for PgStore {
    async fn list_users(
        &self,
        project: &ProjectId,
        query: &UserQuery,
        page: PageRequest,
    ) -> StoreResult<Page<UserSummary>> {
        let mut params = Vec::new();
        let conditions = trace_conditions(query, &mut params);
        let order = match query.order {
            UserOrder::LastSeenDesc => "u.last_seen DESC",
            UserOrder::LastSeenAsc => "u.last_seen ASC",
            UserOrder::TotalCostDesc => "COALESCE(s.total_cost, 0) DESC",
            UserOrder::TotalCostAsc => "COALESCE(s.total_cost, 0) ASC",
        };
        let list = format!(
            "{}{SELECT_SUMMARY} ORDER BY {order}, u.user_id COLLATE \"C\" ASC LIMIT {} OFFSET {}",
            with_users(&conditions),
            page.limit,
            page.offset()
        );
        let count = format!("SELECT COUNT(DISTINCT t.user_id) FROM traces t WHERE {conditions}");
        let rows = bind_all(
            sqlx::query(sqlx::AssertSqlSafe(list)),
            project.as_str(),
            &params,
        )
        .fetch_all(&self.pool)
        .await
        .map_err(internal)?;
        let items = rows
            .iter()
            .map(summary)
            .collect::<Result<Vec<_>, _>>()
            .map_err(internal)?;
        let total: i64 = bind_all(
            sqlx::query(sqlx::AssertSqlSafe(count)),
            project.as_str(),
            &params,
        )
        .fetch_one(&self.pool)
        .await
        .and_then(|row| row.try_get(0))
        .map_err(internal)?;
        Ok(Page {
            items,
            total_items: u64::try_from(total).unwrap_or(0),
        })
    }

    async fn get_user(
        &self,
        project: &ProjectId,
        user_id: &str,
    ) -> StoreResult<Option<UserSummary>> {
        let sql = format!(
            "{}{SELECT_SUMMARY}",
            with_users("t.project_id = $1 AND t.user_id = $2")
        );
        let params = [Param::Text(user_id.to_owned())];
        let row = bind_all(
            sqlx::query(sqlx::AssertSqlSafe(sql)),
            project.as_str(),
            &params,
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(internal)?;
        row.as_ref().map(summary).transpose().map_err(internal)
    }

    async fn sessions_of_user(
        &self,
        project: &ProjectId,
        user_id: &str,
        limit: u32,
    ) -> StoreResult<Vec<UserSession>> {
        let rows = sqlx::query(
            "SELECT session_id, COUNT(*), MIN(timestamp), MAX(timestamp) FROM traces \
             WHERE project_id = $1 AND user_id = $2 AND session_id IS NOT NULL \
             GROUP BY session_id ORDER BY MAX(timestamp) DESC, session_id COLLATE \"C\" ASC LIMIT $3",
        )
        .bind(project.as_str())
        .bind(user_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(internal)?;
        rows.iter()
            .map(|row| -> Result<UserSession, sqlx::Error> {
                let traces: i64 = row.try_get(1)?;
                Ok(UserSession {
                    session_id: row.try_get(0)?,
                    trace_count: u64::try_from(traces).unwrap_or(0),
                    first_seen: row.try_get(2)?,
                    last_seen: row.try_get(3)?,
                })
            })
            .collect::<Result<_, _>>()
            .map_err(internal)
    }
}
