//! Shared SQL helpers of the PostgreSQL backend: statements written with anonymous `?`
//! placeholders (numbered `$1..$n` when they run, so pieces compose in any order), a
//! WHERE builder, page reads (LIMIT/OFFSET plus the total count), keyset conditions, and
//! the translation of the model's checked filter conditions
//! ([`glassbox_model::filter`]) into SQL for a view.
//!
//! How to use it:
//!
//! ```text
//! let mut clauses = Where::in_project("t.project_id", project.as_str());
//! clauses.eq_opt("t.user_id", &query.user_id);          // t.user_id = ?
//! clauses.any_of("t.environment", &query.environments); // t.environment = ANY(?)
//! clauses.json_array_has_all("t.tags", &query.tags);    // tags JSON text holds every tag
//! clauses.range("t.timestamp", from, to);               // >= from AND < to
//! apply_filters(&mut clauses, &query.filters, &MyViewColumns).map_err(invalid_filter)?;
//! let page = select_page(&self.pool, PagedSelect { .. }, &clauses, page, decode).await?;
//!
//! let mut sql = Sql::new("SELECT id FROM traces t");
//! sql.push_where(&clauses).push(" ORDER BY t.timestamp DESC LIMIT ").bind(limit);
//! let ids = sql.fetch_all(&self.pool, |row| row.try_get::<String, _>(0)).await?;
//! ```
//!
//! Placeholder rule: every `?` outside single- or double-quoted text is a placeholder.
//! Do not write PostgreSQL's jsonb `?`, `?|`, `?&` operators in this SQL: use `@>`,
//! `jsonb_exists(..)` or `jsonb_array_elements_text(..)` instead.
//!
//! Conventions the translation relies on: JSON columns are TEXT (read through [`jsonb`]
//! in the query), booleans are BIGINT 0/1, times are BIGINT microseconds.

use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::{Acquire, PgExecutor, Postgres};

use glassbox_model::filter::{FilterCondition, FilterValue, Operator};
use glassbox_store::{Page, PageRequest, StoreError, StoreResult};

use crate::error::storable;
use crate::internal;

// ---------------------------------------------------------------------------------------
// Bound values and statements
// ---------------------------------------------------------------------------------------

/// One value bound to a `?` placeholder. `None` binds a typed NULL.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg {
    Text(Option<String>),
    Int(Option<i64>),
    Float(Option<f64>),
    /// A `text[]` (for `= ANY(?)`).
    Texts(Vec<String>),
    /// A `bigint[]`.
    Ints(Vec<i64>),
}

// Text arguments go through `storable`: a NUL in a lookup value matches what ingest
// stored for it instead of failing the statement.
impl From<String> for Arg {
    fn from(value: String) -> Arg {
        Arg::Text(Some(storable(&value).into_owned()))
    }
}
impl From<&str> for Arg {
    fn from(value: &str) -> Arg {
        Arg::Text(Some(storable(value).into_owned()))
    }
}
impl From<&String> for Arg {
    fn from(value: &String) -> Arg {
        Arg::from(value.as_str())
    }
}
impl From<Option<String>> for Arg {
    fn from(value: Option<String>) -> Arg {
        Arg::Text(value.map(|text| storable(&text).into_owned()))
    }
}
impl From<i64> for Arg {
    fn from(value: i64) -> Arg {
        Arg::Int(Some(value))
    }
}
impl From<Option<i64>> for Arg {
    fn from(value: Option<i64>) -> Arg {
        Arg::Int(value)
    }
}
impl From<u32> for Arg {
    fn from(value: u32) -> Arg {
        Arg::Int(Some(i64::from(value)))
    }
}
/// Booleans are stored as BIGINT 0/1.
impl From<bool> for Arg {
    fn from(value: bool) -> Arg {
        Arg::Int(Some(i64::from(value)))
    }
}
impl From<f64> for Arg {
    fn from(value: f64) -> Arg {
        Arg::Float(Some(value))
    }
}
impl From<Option<f64>> for Arg {
    fn from(value: Option<f64>) -> Arg {
        Arg::Float(value)
    }
}
impl From<Vec<String>> for Arg {
    fn from(values: Vec<String>) -> Arg {
        Arg::from(values.as_slice())
    }
}
impl From<&[String]> for Arg {
    fn from(values: &[String]) -> Arg {
        Arg::Texts(
            values
                .iter()
                .map(|text| storable(text).into_owned())
                .collect(),
        )
    }
}
impl From<Vec<i64>> for Arg {
    fn from(values: Vec<i64>) -> Arg {
        Arg::Ints(values)
    }
}

/// A statement being built: SQL text with `?` placeholders and their values, in order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sql {
    text: String,
    args: Vec<Arg>,
}

impl Sql {
    pub(crate) fn new(text: impl Into<String>) -> Sql {
        Sql {
            text: text.into(),
            args: Vec::new(),
        }
    }

    /// Appends SQL text (its `?`s need values: use [`Sql::push_with`] for those).
    pub(crate) fn push(&mut self, text: &str) -> &mut Sql {
        self.text.push_str(text);
        self
    }

    /// Appends SQL text with `?` placeholders and their values.
    pub(crate) fn push_with(
        &mut self,
        text: &str,
        args: impl IntoIterator<Item = Arg>,
    ) -> &mut Sql {
        self.text.push_str(text);
        self.args.extend(args);
        self
    }

    /// Appends one placeholder and its value.
    pub(crate) fn bind(&mut self, arg: impl Into<Arg>) -> &mut Sql {
        self.text.push('?');
        self.args.push(arg.into());
        self
    }

    /// Appends ` WHERE {clauses}` (` WHERE TRUE` when there are none).
    pub(crate) fn push_where(&mut self, clauses: &Where) -> &mut Sql {
        self.text.push_str(" WHERE ");
        self.text.push_str(&clauses.sql());
        self.args.extend(clauses.args().iter().cloned());
        self
    }

    /// Appends ` LIMIT ? OFFSET ?` of a page.
    pub(crate) fn push_page(&mut self, page: PageRequest) -> &mut Sql {
        let offset = i64::try_from(page.offset()).unwrap_or(i64::MAX);
        self.push_with(
            " LIMIT ? OFFSET ?",
            [Arg::from(i64::from(page.limit)), Arg::from(offset)],
        )
    }

    /// Appends another statement (a subquery, a shared fragment) with its values.
    pub(crate) fn append(&mut self, other: &Sql) -> &mut Sql {
        self.text.push_str(&other.text);
        self.args.extend(other.args.iter().cloned());
        self
    }

    /// The sqlx query: placeholders numbered `$1..$n` and every value bound. Fails when
    /// the placeholders and values do not pair up (a bug in the calling code).
    pub(crate) fn query(&self) -> StoreResult<Query<'static, Postgres, PgArguments>> {
        let (text, count) = number_placeholders(&self.text);
        if count != self.args.len() {
            return Err(StoreError::Internal(format!(
                "SQL has {count} placeholders but {} values: {}",
                self.args.len(),
                self.text
            )));
        }
        let mut query = sqlx::query(sqlx::AssertSqlSafe(text));
        for arg in &self.args {
            query = match arg {
                Arg::Text(value) => query.bind(value.clone()),
                Arg::Int(value) => query.bind(*value),
                Arg::Float(value) => query.bind(*value),
                Arg::Texts(values) => query.bind(values.clone()),
                Arg::Ints(values) => query.bind(values.clone()),
            };
        }
        Ok(query)
    }

    /// Every row, decoded.
    pub(crate) async fn fetch_all<'c, T>(
        &self,
        db: impl PgExecutor<'c>,
        mut decode: impl FnMut(&PgRow) -> Result<T, sqlx::Error>,
    ) -> StoreResult<Vec<T>> {
        let rows = self.query()?.fetch_all(db).await.map_err(internal)?;
        rows.iter()
            .map(|row| decode(row).map_err(internal))
            .collect()
    }

    /// The first row, decoded, if there is one.
    pub(crate) async fn fetch_optional<'c, T>(
        &self,
        db: impl PgExecutor<'c>,
        decode: impl FnOnce(&PgRow) -> Result<T, sqlx::Error>,
    ) -> StoreResult<Option<T>> {
        let row = self.query()?.fetch_optional(db).await.map_err(internal)?;
        row.as_ref().map(decode).transpose().map_err(internal)
    }

    /// The single BIGINT a `SELECT COUNT(*) ...` answers.
    pub(crate) async fn fetch_count<'c>(&self, db: impl PgExecutor<'c>) -> StoreResult<u64> {
        let row = self.query()?.fetch_one(db).await.map_err(internal)?;
        let count: i64 = sqlx::Row::try_get(&row, 0).map_err(internal)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }
}

/// Replaces each `?` outside quoted text with `$1`, `$2`, ... and counts them.
fn number_placeholders(text: &str) -> (String, usize) {
    let mut out = String::with_capacity(text.len() + 16);
    let (mut count, mut in_single, mut in_double) = (0usize, false, false);
    for character in text.chars() {
        match character {
            '\'' if !in_double => in_single = !in_single,
            '"' if !in_single => in_double = !in_double,
            '?' if !in_single && !in_double => {
                count += 1;
                out.push('$');
                out.push_str(&count.to_string());
                continue;
            }
            _ => {}
        }
        out.push(character);
    }
    (out, count)
}

// ---------------------------------------------------------------------------------------
// WHERE clauses
// ---------------------------------------------------------------------------------------

/// A growing list of AND-ed clauses with `?` placeholders and their values, in order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Where {
    clauses: Vec<String>,
    args: Vec<Arg>,
}

impl Where {
    /// Starts with `{project_column} = ?`: every query is scoped by project.
    pub(crate) fn in_project(project_column: &str, project: &str) -> Where {
        let mut clauses = Where::default();
        clauses.push(format!("{project_column} = ?"), [Arg::from(project)]);
        clauses
    }

    /// Adds one clause; `args` fill its `?`s in order.
    pub(crate) fn push(&mut self, clause: impl Into<String>, args: impl IntoIterator<Item = Arg>) {
        self.clauses.push(clause.into());
        self.args.extend(args);
    }

    /// `{column} = ?` when the value is given.
    pub(crate) fn eq_opt(&mut self, column: &str, value: &Option<String>) {
        if let Some(value) = value {
            self.push(format!("{column} = ?"), [Arg::from(value)]);
        }
    }

    /// `{column} = ANY(?)` when the list is not empty (empty: no condition).
    pub(crate) fn any_of(&mut self, column: &str, values: &[String]) {
        if !values.is_empty() {
            self.push(format!("{column} = ANY(?)"), [Arg::from(values)]);
        }
    }

    /// The JSON array text in `column` holds every one of `values` (none given: no
    /// condition).
    pub(crate) fn json_array_has_all(&mut self, column: &str, values: &[String]) {
        if !values.is_empty() {
            self.push(
                format!("{} @> to_jsonb(?::text[])", jsonb(column)),
                [Arg::from(values)],
            );
        }
    }

    /// `{column} >= from` (inclusive) and `{column} < to` (exclusive), each when given.
    pub(crate) fn range(&mut self, column: &str, from: Option<i64>, to: Option<i64>) {
        if let Some(from) = from {
            self.push(format!("{column} >= ?"), [Arg::from(from)]);
        }
        if let Some(to) = to {
            self.push(format!("{column} < ?"), [Arg::from(to)]);
        }
    }

    /// Keyset condition "strictly after `values` in descending order of `columns`":
    /// `({columns}) < (?, ...)`. Pair it with `ORDER BY` the same columns `DESC`.
    pub(crate) fn before_row(&mut self, columns: &[&str], values: Vec<Arg>) {
        let placeholders = vec!["?"; values.len()].join(", ");
        self.push(
            format!("({}) < ({placeholders})", columns.join(", ")),
            values,
        );
    }

    /// The AND-ed clauses with `?` placeholders (`TRUE` when there are none).
    pub(crate) fn sql(&self) -> String {
        if self.clauses.is_empty() {
            "TRUE".to_owned()
        } else {
            self.clauses.join(" AND ")
        }
    }

    /// The values of [`Where::sql`]'s placeholders, in order.
    pub(crate) fn args(&self) -> &[Arg] {
        &self.args
    }
}

// ---------------------------------------------------------------------------------------
// Pages
// ---------------------------------------------------------------------------------------

/// What a page-based list reads: `SELECT {columns} FROM {from}`, ordered by `order`,
/// counted over `count_from` (the same rows without the joins only the columns need).
pub(crate) struct PagedSelect<'a> {
    pub(crate) columns: &'a str,
    pub(crate) from: &'a str,
    pub(crate) count_from: &'a str,
    pub(crate) order: &'a str,
}

/// One page of the rows `clauses` matches (LIMIT/OFFSET from `page`) and how many it
/// matches in all, with the same WHERE for both, on one connection.
pub(crate) async fn select_page<'c, T>(
    db: impl Acquire<'c, Database = Postgres>,
    select: PagedSelect<'_>,
    clauses: &Where,
    page: PageRequest,
    decode: impl FnMut(&PgRow) -> Result<T, sqlx::Error>,
) -> StoreResult<Page<T>> {
    let mut connection = db.acquire().await.map_err(internal)?;
    let mut count = Sql::new(format!("SELECT COUNT(*) FROM {}", select.count_from));
    count.push_where(clauses);
    let total_items = count.fetch_count(&mut *connection).await?;
    let mut rows = Sql::new(format!("SELECT {} FROM {}", select.columns, select.from));
    rows.push_where(clauses)
        .push(" ORDER BY ")
        .push(select.order)
        .push_page(page);
    let items = rows.fetch_all(&mut *connection, decode).await?;
    Ok(Page { items, total_items })
}

// ---------------------------------------------------------------------------------------
// The advanced filter language
// ---------------------------------------------------------------------------------------

/// A filter that the view cannot serve: the caller's mistake (columns were already
/// checked by the model's parser).
pub(crate) fn invalid_filter(message: String) -> StoreError {
    StoreError::Conflict(format!("invalid filter: {message}"))
}

/// How a view resolves a filter column (the canonical ids of
/// `glassbox_model::filter::*_COLUMNS`) to SQL.
pub(crate) trait ColumnResolver {
    /// SQL expression of a column, `None` when the view does not have it. Kinds:
    /// strings/options are `text`, numbers any numeric type, datetimes BIGINT
    /// microseconds, booleans BIGINT 0/1, objects (metadata) and arrays (columns whose id
    /// contains `tags`) JSON text.
    fn expression(&self, column: &str) -> Option<String>;
    /// `(target id, project id, score column)`: what scores of this view point at, e.g.
    /// `("t.id", "t.project_id", "trace_id")` for traces; `None` when the view has no
    /// score columns.
    fn score_target(&self) -> Option<(&'static str, &'static str, &'static str)>;
}

/// Adds every condition to `clauses`. A column the view cannot translate is an error
/// for the client (map it with [`invalid_filter`]).
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
            // `->>` answers a string's text and any other value's JSON text.
            let keyed = format!("({} ->> ?)", jsonb(&expression));
            let (clause, args) = string_clause(&keyed, condition.operator, text);
            let mut ordered = vec![Arg::from(key)];
            ordered.extend(args);
            clauses.push(clause, ordered);
        }
        FilterValue::String(text) => {
            let (clause, args) = string_clause(&expression, condition.operator, text);
            clauses.push(clause, args);
        }
        FilterValue::Number(number) => {
            clauses.push(
                format!("{expression} {} ?", comparison(condition.operator)?),
                [Arg::from(*number)],
            );
        }
        FilterValue::Datetime(micros) => {
            clauses.push(
                format!("{expression} {} ?", comparison(condition.operator)?),
                [Arg::from(*micros)],
            );
        }
        FilterValue::Boolean(flag) => {
            let operator = if condition.operator == Operator::NotEq {
                "<>"
            } else {
                "="
            };
            clauses.push(format!("{expression} {operator} ?"), [Arg::from(*flag)]);
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
            let is_array = column.to_lowercase().contains("tags");
            let elements = format!("jsonb_array_elements_text({}) AS e(v)", jsonb(&expression));
            let clause = match (is_array, condition.operator) {
                (true, Operator::AnyOf) => {
                    format!("EXISTS (SELECT 1 FROM {elements} WHERE e.v = ANY(?))")
                }
                (true, Operator::NoneOf) => {
                    format!("NOT EXISTS (SELECT 1 FROM {elements} WHERE e.v = ANY(?))")
                }
                (true, _) => format!("{} @> to_jsonb(?::text[])", jsonb(&expression)),
                (false, Operator::NoneOf) => {
                    format!("COALESCE(NOT ({expression} = ANY(?)), TRUE)")
                }
                (false, _) => format!("{expression} = ANY(?)"),
            };
            clauses.push(clause, [Arg::from(options.clone())]);
        }
    }
    Ok(())
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
/// the returned values.
fn string_clause(expression: &str, operator: Operator, text: &str) -> (String, Vec<Arg>) {
    let value = || Arg::from(text);
    match operator {
        Operator::Contains => (format!("strpos({expression}, ?) > 0"), vec![value()]),
        Operator::DoesNotContain => (
            format!("COALESCE(strpos({expression}, ?), 0) = 0"),
            vec![value()],
        ),
        Operator::StartsWith | Operator::EndsWith if text.is_empty() => ("TRUE".to_owned(), vec![]),
        Operator::StartsWith => (format!("starts_with({expression}, ?)"), vec![value()]),
        Operator::EndsWith => {
            let length = i64::try_from(text.chars().count()).unwrap_or(i64::MAX);
            (
                format!("right({expression}, ?::int4) = ?"),
                vec![Arg::from(length), value()],
            )
        }
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
    let name = Arg::from(key);
    match (condition.column, value.as_ref()) {
        ("scores_avg", FilterValue::Number(number)) => {
            let operator = comparison(condition.operator)?;
            clauses.push(
                format!(
                    "(SELECT AVG(s2.value) {base} AND s2.data_type IN ('NUMERIC', 'BOOLEAN')) {operator} ?"
                ),
                [name, Arg::from(*number)],
            );
        }
        ("score_categories", FilterValue::Options(options)) => {
            let exists = if condition.operator == Operator::NoneOf {
                "NOT EXISTS"
            } else {
                "EXISTS"
            };
            clauses.push(
                format!("{exists} (SELECT 1 {base} AND s2.string_value = ANY(?))"),
                [name, Arg::from(options.clone())],
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
                [name, Arg::from(if wanted { 1.0 } else { 0.0 })],
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

// ---------------------------------------------------------------------------------------
// JSON expressions
// ---------------------------------------------------------------------------------------

/// The JSON text in `expression` as `jsonb`. PostgreSQL refuses the escape `\u0000` in
/// `json`/`jsonb` (one such row would fail the whole query), so it becomes `\ufffd`
/// first: the text stays valid JSON and only a NUL character reads differently.
pub(crate) fn jsonb(expression: &str) -> String {
    format!("(replace({expression}, '\\u0000', '\\ufffd'))::jsonb")
}

/// Sum (`double precision`, 0 when none) of the numeric values of the JSON object text in
/// `map_column` whose key contains `needle` (lowercase, e.g. `"input"`), e.g. input tokens
/// of `o.usage_details`.
pub(crate) fn sum_keys(map_column: &str, needle: &'static str) -> String {
    format!(
        "(SELECT COALESCE(SUM(CASE WHEN jsonb_typeof(j.value) = 'number' THEN (j.value)::float8 END), 0) \
         FROM jsonb_each({}) AS j WHERE strpos(lower(j.key), '{needle}') > 0)",
        jsonb(map_column)
    )
}

/// The numeric value (`double precision`, NULL when absent or not a number) of `key` in
/// the JSON object text in `map_column`, e.g. `json_number("o.usage_details", "total")`.
pub(crate) fn json_number(map_column: &str, key: &'static str) -> String {
    let value = format!("({} -> '{key}')", jsonb(map_column));
    format!("(CASE WHEN jsonb_typeof({value}) = 'number' THEN {value}::float8 END)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_outside_quotes() {
        let (text, count) = number_placeholders("a = ? AND b = '?' AND \"c?\" = ? AND d <> ?");
        assert_eq!(text, "a = $1 AND b = '?' AND \"c?\" = $2 AND d <> $3");
        assert_eq!(count, 3);
    }

    #[test]
    fn where_joins_clauses_and_keeps_values_in_order() {
        let mut clauses = Where::in_project("t.project_id", "p");
        clauses.eq_opt("t.user_id", &Some("u".to_owned()));
        clauses.eq_opt("t.name", &None);
        clauses.any_of("t.environment", &[]);
        clauses.range("t.timestamp", Some(1), Some(2));
        assert_eq!(
            clauses.sql(),
            "t.project_id = ? AND t.user_id = ? AND t.timestamp >= ? AND t.timestamp < ?"
        );
        assert_eq!(
            clauses.args(),
            &[
                Arg::from("p"),
                Arg::from("u"),
                Arg::from(1i64),
                Arg::from(2i64)
            ]
        );
        assert_eq!(Where::default().sql(), "TRUE");
    }

    #[test]
    fn mismatched_values_are_an_internal_error() {
        let mut sql = Sql::new("SELECT ?, ?");
        sql.push_with("", [Arg::from(1i64)]);
        assert!(sql.query().is_err());
    }
}
