//! Building WHERE clauses with anonymous `?` parameters, and translating the checked
//! advanced filter conditions of the model into SQL for each view.

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Params, Row, params_from_iter};

use glassbox_model::filter::{FilterCondition, FilterValue, Operator};
use glassbox_store::{Page, PageRequest, StoreResult};

use crate::connection::internal;

/// A growing list of AND-ed clauses and their parameters, in placeholder order.
#[derive(Clone, Default)]
pub(crate) struct Where {
    clauses: Vec<String>,
    pub(crate) params: Vec<SqlValue>,
}

impl Where {
    /// Starts with `{project_column} = ?`: every query is scoped by project.
    pub(crate) fn in_project(project_column: &str, project: &str) -> Where {
        let mut clauses = Where::default();
        clauses.push(
            format!("{project_column} = ?"),
            [SqlValue::from(project.to_owned())],
        );
        clauses
    }

    pub(crate) fn push(
        &mut self,
        clause: impl Into<String>,
        params: impl IntoIterator<Item = SqlValue>,
    ) {
        self.clauses.push(clause.into());
        self.params.extend(params);
    }

    pub(crate) fn eq_opt(&mut self, column: &str, value: &Option<String>) {
        if let Some(value) = value {
            self.push(format!("{column} = ?"), [SqlValue::from(value.clone())]);
        }
    }

    pub(crate) fn any_of(&mut self, column: &str, values: &[String]) {
        if !values.is_empty() {
            self.push(
                format!("{column} IN ({})", placeholders(values.len())),
                values.iter().cloned().map(SqlValue::from),
            );
        }
    }

    pub(crate) fn all_tags(&mut self, column: &str, tags: &[String]) {
        for tag in tags {
            self.push(
                format!("EXISTS (SELECT 1 FROM json_each({column}) WHERE value = ?)"),
                [SqlValue::from(tag.clone())],
            );
        }
    }

    pub(crate) fn sql(&self) -> String {
        if self.clauses.is_empty() {
            "1 = 1".to_owned()
        } else {
            self.clauses.join(" AND ")
        }
    }
}

/// The single number a `SELECT COUNT(*) ...` answers.
pub(crate) fn count_rows(
    connection: &Connection,
    sql: &str,
    params: &[SqlValue],
) -> StoreResult<u64> {
    connection
        .query_row(sql, params_from_iter(params.iter()), |row| {
            row.get::<_, i64>(0)
        })
        .map(|count| count.max(0) as u64)
        .map_err(internal)
}

/// What a page-based list reads: `SELECT {columns} FROM {from}`, ordered by `order`,
/// counted over `count_from` (the same rows without the joins the columns need).
pub(crate) struct PagedSelect<'a> {
    pub(crate) columns: &'a str,
    pub(crate) from: &'a str,
    pub(crate) count_from: &'a str,
    pub(crate) order: &'a str,
}

/// One page of the rows `clauses` matches (LIMIT/OFFSET from `page`) and how many it
/// matches in all, with the same WHERE for both.
pub(crate) fn select_page<T>(
    connection: &Connection,
    select: PagedSelect<'_>,
    clauses: &Where,
    page: PageRequest,
    item_from_row: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> StoreResult<Page<T>> {
    let sql_where = clauses.sql();
    let total_items = count_rows(
        connection,
        &format!(
            "SELECT COUNT(*) FROM {} WHERE {sql_where}",
            select.count_from
        ),
        &clauses.params,
    )?;
    let sql = format!(
        "SELECT {} FROM {} WHERE {sql_where} ORDER BY {} LIMIT ? OFFSET ?",
        select.columns, select.from, select.order,
    );
    let page_params = [
        SqlValue::from(i64::from(page.limit)),
        SqlValue::from(page.offset() as i64),
    ];
    let items = query_all(
        connection,
        &sql,
        params_from_iter(clauses.params.iter().chain(page_params.iter())),
        item_from_row,
    )?;
    Ok(Page { items, total_items })
}

/// Runs one write statement; true when it changed (deleted, updated) at least one row.
pub(crate) fn execute_changes_any(
    connection: &Connection,
    sql: &str,
    params: impl Params,
) -> StoreResult<bool> {
    connection
        .execute(sql, params)
        .map(|changed| changed > 0)
        .map_err(internal)
}

/// The row `sql` selects, if there is one (a cached statement).
pub(crate) fn query_optional<T>(
    connection: &Connection,
    sql: &str,
    params: impl Params,
    item_from_row: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
) -> StoreResult<Option<T>> {
    connection
        .prepare_cached(sql)
        .and_then(|mut statement| statement.query_row(params, item_from_row).optional())
        .map_err(internal)
}

/// Every row `sql` selects, in its order (a cached statement).
pub(crate) fn query_all<T>(
    connection: &Connection,
    sql: &str,
    params: impl Params,
    item_from_row: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> StoreResult<Vec<T>> {
    connection
        .prepare_cached(sql)
        .and_then(|mut statement| {
            statement
                .query_map(params, item_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(internal)
}

pub(crate) fn placeholders(count: usize) -> String {
    vec!["?"; count].join(", ")
}

/// How a view resolves a filter column to SQL.
pub(crate) trait ColumnResolver {
    /// SQL expression of a plain column.
    fn expression(&self, column: &str) -> Option<String>;
    /// `(target id, project id, score column)`: what scores of this view point at, e.g.
    /// `("t.id", "t.project_id", "trace_id")` for traces.
    fn score_target(&self) -> Option<(&'static str, &'static str, &'static str)>;
}

/// Adds every condition to `clauses`. Columns were checked by the model's parser; a
/// column the view cannot translate is an error for the client.
pub(crate) fn apply_filters(
    clauses: &mut Where,
    conditions: &[FilterCondition],
    resolver: &dyn ColumnResolver,
) -> Result<(), String> {
    for condition in conditions {
        translate(clauses, condition, resolver)?;
    }
    Ok(())
}

fn translate(
    clauses: &mut Where,
    condition: &FilterCondition,
    resolver: &dyn ColumnResolver,
) -> Result<(), String> {
    let column = condition.column;
    if matches!(column, "scores_avg" | "score_categories" | "score_booleans") {
        return translate_score_column(clauses, condition, resolver);
    }
    let expression = resolver
        .expression(column)
        .ok_or_else(|| format!("filter column `{column}` is not supported on this endpoint"))?;
    match &condition.value {
        FilterValue::Keyed { key, value } => {
            let FilterValue::String(text) = value.as_ref() else {
                return Err(format!("filter column `{column}` takes string values"));
            };
            let keyed = format!(
                "(SELECT CASE j.type WHEN 'text' THEN j.value ELSE j.atom END FROM json_each({expression}) j WHERE j.key = ?)"
            );
            let (clause, params) = string_clause(&keyed, condition.operator, text);
            let mut ordered = vec![SqlValue::from(key.clone())];
            ordered.extend(params);
            clauses.push(clause, ordered);
        }
        FilterValue::String(text) => {
            let (clause, params) = string_clause(&expression, condition.operator, text);
            clauses.push(clause, params);
        }
        FilterValue::Number(number) => {
            clauses.push(
                format!("{expression} {} ?", comparison(condition.operator)?),
                [SqlValue::from(*number)],
            );
        }
        FilterValue::Datetime(micros) => {
            clauses.push(
                format!("{expression} {} ?", comparison(condition.operator)?),
                [SqlValue::from(*micros)],
            );
        }
        FilterValue::Boolean(flag) => {
            let operator = if condition.operator == Operator::NotEq {
                "<>"
            } else {
                "="
            };
            clauses.push(
                format!("{expression} {operator} ?"),
                [SqlValue::from(i64::from(*flag))],
            );
        }
        FilterValue::Null => {
            let operator = if condition.operator == Operator::IsNull {
                "IS NULL"
            } else {
                "IS NOT NULL"
            };
            clauses.push(format!("{expression} {operator}"), []);
        }
        FilterValue::Options(options) => {
            let values = options.iter().cloned().map(SqlValue::from);
            let list = placeholders(options.len());
            let is_array = column.to_lowercase().contains("tags");
            let clause = match (is_array, condition.operator) {
                (true, Operator::AnyOf) => format!(
                    "EXISTS (SELECT 1 FROM json_each({expression}) WHERE value IN ({list}))"
                ),
                (true, Operator::NoneOf) => format!(
                    "NOT EXISTS (SELECT 1 FROM json_each({expression}) WHERE value IN ({list}))"
                ),
                (true, _) => format!(
                    "(SELECT COUNT(DISTINCT value) FROM json_each({expression}) WHERE value IN ({list})) = {}",
                    distinct_count(options)
                ),
                (false, Operator::NoneOf) => format!("COALESCE({expression} NOT IN ({list}), 1)"),
                (false, _) => format!("{expression} IN ({list})"),
            };
            clauses.push(clause, values);
        }
    }
    Ok(())
}

fn distinct_count(options: &[String]) -> usize {
    let mut unique: Vec<&String> = options.iter().collect();
    unique.sort();
    unique.dedup();
    unique.len()
}

fn comparison(operator: Operator) -> Result<&'static str, String> {
    Ok(match operator {
        Operator::Eq => "=",
        Operator::NotEq => "<>",
        Operator::Gt => ">",
        Operator::Lt => "<",
        Operator::Gte => ">=",
        Operator::Lte => "<=",
        _ => return Err("operator does not compare numbers or dates".to_owned()),
    })
}

/// Case-sensitive string matching, as Langfuse does it. `expression` appears once, before
/// the returned parameters.
fn string_clause(expression: &str, operator: Operator, text: &str) -> (String, Vec<SqlValue>) {
    let value = || SqlValue::from(text.to_owned());
    let length = SqlValue::from(text.chars().count() as i64);
    match operator {
        Operator::Contains => (format!("instr({expression}, ?) > 0"), vec![value()]),
        Operator::DoesNotContain => (
            format!("COALESCE(instr({expression}, ?), 0) = 0"),
            vec![value()],
        ),
        Operator::StartsWith | Operator::EndsWith if text.is_empty() => {
            ("1 = 1".to_owned(), vec![])
        }
        Operator::StartsWith => (
            format!("substr({expression}, 1, ?) = ?"),
            vec![length, value()],
        ),
        Operator::EndsWith => (
            format!("substr({expression}, -?) = ?"),
            vec![length, value()],
        ),
        _ => (format!("{expression} = ?"), vec![value()]),
    }
}

fn translate_score_column(
    clauses: &mut Where,
    condition: &FilterCondition,
    resolver: &dyn ColumnResolver,
) -> Result<(), String> {
    let (target, project, score_column) = resolver.score_target().ok_or_else(|| {
        format!(
            "filter column `{}` is not supported on this endpoint",
            condition.column
        )
    })?;
    let FilterValue::Keyed { key, value } = &condition.value else {
        return Err(format!(
            "filter column `{}` needs a key (the score name)",
            condition.column
        ));
    };
    let base = format!(
        "FROM scores s2 WHERE s2.project_id = {project} AND s2.{score_column} = {target} AND s2.name = ?"
    );
    let name = SqlValue::from(key.clone());
    match (condition.column, value.as_ref()) {
        ("scores_avg", FilterValue::Number(number)) => {
            let operator = comparison(condition.operator)?;
            clauses.push(
                format!("(SELECT AVG(s2.value) {base} AND s2.data_type IN ('NUMERIC', 'BOOLEAN')) {operator} ?"),
                [name, SqlValue::from(*number)],
            );
        }
        ("score_categories", FilterValue::Options(options)) => {
            let exists = if condition.operator == Operator::NoneOf {
                "NOT EXISTS"
            } else {
                "EXISTS"
            };
            let mut params = vec![name];
            params.extend(options.iter().cloned().map(SqlValue::from));
            clauses.push(
                format!(
                    "{exists} (SELECT 1 {base} AND s2.string_value IN ({}))",
                    placeholders(options.len())
                ),
                params,
            );
        }
        ("score_booleans", FilterValue::Boolean(flag)) => {
            let wanted = if condition.operator == Operator::NotEq {
                !*flag
            } else {
                *flag
            };
            clauses.push(
                format!("EXISTS (SELECT 1 {base} AND s2.data_type = 'BOOLEAN' AND s2.value = ?)"),
                [name, SqlValue::from(if wanted { 1.0 } else { 0.0 })],
            );
        }
        _ => {
            return Err(format!(
                "filter column `{}` does not take this value type",
                condition.column
            ));
        }
    }
    Ok(())
}

/// Sum of the JSON map's values whose key contains `needle`.
pub(crate) fn sum_keys(map_column: &str, needle: &str) -> String {
    format!(
        "(SELECT COALESCE(SUM(j.value), 0) FROM json_each({map_column}) j WHERE instr(lower(j.key), '{needle}') > 0)"
    )
}
