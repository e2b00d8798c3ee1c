//! Read-only export of an embedded install, for `glassbox migrate-data` (embedded →
//! PostgreSQL): the tables to copy, their rows in primary-key order in chunks, as plain
//! [`CopyValue`]s, and the media blob files.
//!
//! This is the one place that knows how to read *logical* rows out of the embedded
//! schema. Any schema change (a new table or column, a migration 0009+, a changed
//! storage form such as compressed input/output) must update it: a new table goes into
//! [`EXPORTED`] (in an order that respects foreign keys) or, when it only holds data
//! derived from other tables that PostgreSQL computes its own way, into [`SQLITE_ONLY`];
//! a column stored in another form than its logical value is decoded in
//! [`logical_value`] (today: the content-addressed payloads of `payloads.rs`, whose
//! manifests stand in for large input/output/metadata values and event bodies) or read
//! through an SQL expression in [`EXPANDED_COLUMNS`] (the usage and cost maps that
//! `details.rs` keeps as the measure columns, an observation's `updated_at` kept as 0).
//! [`SqliteExport::open`] refuses a database with a table it does not know, and a test
//! checks that the current schema has none.

use std::path::{Path, PathBuf};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, params_from_iter};

use glassbox_store::copy::{CopyChunk, CopyValue};

use crate::DATABASE_FILE;
use crate::details;
use crate::media::{MEDIA_DIR, project_dir_name};
use crate::migrations::LATEST_VERSION;
use crate::payloads;

/// Tables copied, in an order that inserts referenced rows first.
pub const EXPORTED: &[&str] = &[
    "organizations",
    "projects",
    "api_keys",
    "users",
    "organization_memberships",
    "ui_sessions",
    "ingest_events",
    "traces",
    "observations",
    "scores",
    "sessions",
    "score_configs",
    "media",
    "prompts",
    "prompt_labels",
    "prompt_dependencies",
    "prompt_protected_labels",
    "comments",
    "annotation_queues",
    "annotation_queue_items",
    "annotation_queue_assignments",
    "models",
    "model_recompute_jobs",
    "datasets",
    "dataset_items",
    "dataset_runs",
    "dataset_run_items",
];

/// Tables of the embedded backend's own derived state (metrics rollups); the
/// PostgreSQL backend does not copy them.
pub const SQLITE_ONLY: &[&str] = &[
    "rollup_observations_daily",
    "rollup_users_daily",
    "derived_state",
    // Storage of large values; the exported rows carry the values themselves.
    "payload_parts",
    "payload_addresses",
    "payload_recent_addresses",
    "payload_projects",
    "payload_dictionaries",
];

/// Columns that may hold a payload manifest (BLOB) instead of their JSON text.
const PAYLOAD_COLUMNS: &[(&str, &str)] = &[
    ("traces", "input"),
    ("traces", "output"),
    ("traces", "metadata"),
    ("observations", "input"),
    ("observations", "output"),
    ("observations", "metadata"),
];

/// Columns read through an SQL expression (table alias `o`) that gives their logical
/// value (`details.rs`, `rows.rs`).
const EXPANDED_COLUMNS: &[(&str, &str, &str)] = &[
    (
        "observations",
        "provided_usage_details",
        details::PROVIDED_USAGE_DETAILS_SQL,
    ),
    ("observations", "usage_details", details::USAGE_DETAILS_SQL),
    ("observations", "cost_details", details::COST_DETAILS_SQL),
    (
        "observations",
        "updated_at",
        crate::rows::OBSERVATION_UPDATED_AT_SQL,
    ),
];

/// The event log's body, which may be stored as a body blob (`payloads::store_body`).
const EVENT_BODY: (&str, &str) = ("ingest_events", "body");

/// Columns of the embedded schema's own bookkeeping, not copied. The measure columns of
/// observations (`derived::Measures`) are derived from their usage and cost maps, which
/// PostgreSQL sums in SQL (`usage_sql.rs`).
const SQLITE_ONLY_COLUMNS: &[(&str, &str)] = &[
    ("observations", "snapshot_sequence"),
    ("observations", "input_tokens"),
    ("observations", "output_tokens"),
    ("observations", "total_tokens"),
    ("observations", "input_cost"),
    ("observations", "output_cost"),
];

/// The event-log rows that observations kept as their row alone stand for (an OTLP span
/// not logged, `snapshots.rs`): the PostgreSQL backend folds from its log, so the copy of
/// `ingest_events` carries them as logged events; `body` is rebuilt from the row in Rust
/// (`gb_snapshot` names the observation). The event id is
/// `glassbox_model::ingest::otlp_observation_event_id`, in SQL so that it orders the copy.
const SNAPSHOT_EVENTS: &str = "SELECT project_id, 'observation' AS entity_kind, id AS entity_id, \
    'otel:' || trace_id || ':' || id AS event_id, 'observation-create' AS event_type, \
    start_time AS timestamp, created_at AS received_at, snapshot_sequence AS sequence, \
    NULL AS body, id AS gb_snapshot FROM observations WHERE snapshot_sequence IS NOT NULL";

/// The columns of `ingest_events` that [`SNAPSHOT_EVENTS`] gives, in its order.
const EVENT_COLUMNS: [&str; 9] = [
    "project_id",
    "entity_kind",
    "entity_id",
    "event_id",
    "event_type",
    "timestamp",
    "received_at",
    "sequence",
    "body",
];

/// The rows of one chunk of `ingest_events` after `after`: the logged events and the
/// events of observations kept as their row alone ([`SNAPSHOT_EVENTS`]), each side
/// bounded and limited through its own key index so that a chunk does not sort the rest
/// of the log. The caller filters and orders the union by the full key.
fn event_chunk_source(
    after: Option<&[CopyValue]>,
    limit: u32,
    bound: &mut Vec<rusqlite::types::Value>,
) -> String {
    let key = "project_id, entity_kind, entity_id, event_id";
    let mut logged = format!(
        "SELECT {}, NULL AS gb_snapshot FROM ingest_events",
        EVENT_COLUMNS.join(", ")
    );
    let mut kept = SNAPSHOT_EVENTS.to_owned();
    if let Some([project, kind, entity, _]) = after {
        logged.push_str(&format!(" WHERE ({key}) > (?, ?, ?, ?)"));
        bound.extend(after.into_iter().flatten().map(to_sqlite));
        // Observations sort by (project_id, id) among the events of their project.
        match kind {
            CopyValue::Text(kind) if kind.as_str() < "observation" => {
                kept.push_str(" AND project_id >= ?");
                bound.push(to_sqlite(project));
            }
            CopyValue::Text(kind) if kind.as_str() == "observation" => {
                kept.push_str(" AND (project_id, id) >= (?, ?)");
                bound.push(to_sqlite(project));
                bound.push(to_sqlite(entity));
            }
            _ => {
                kept.push_str(" AND project_id > ?");
                bound.push(to_sqlite(project));
            }
        }
    }
    format!(
        "(SELECT * FROM ({logged} ORDER BY {key} LIMIT {limit}) UNION ALL \
         SELECT * FROM ({kept} ORDER BY project_id, id LIMIT {}))",
        u64::from(limit) + 1
    )
}

/// A table to copy.
#[derive(Debug, Clone)]
pub struct ExportTable {
    pub name: &'static str,
    /// Column names, as in the PostgreSQL schema.
    pub columns: Vec<String>,
    /// The columns that order and resume the copy: the primary key, or SQLite's `rowid`
    /// for a table without one (its values are then not among `columns`).
    pub key_columns: Vec<String>,
    pub rows: u64,
}

/// A read-only connection to an embedded database.
pub struct SqliteExport {
    connection: Connection,
    media_dir: PathBuf,
}

fn failed(context: &str) -> impl Fn(rusqlite::Error) -> String + '_ {
    move |error| format!("{context}: {error}")
}

fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

impl SqliteExport {
    /// Opens `<data_dir>/glassbox.sqlite` read-only. The database must be at this
    /// binary's schema version (start `glassbox serve` on it once to upgrade it) and
    /// hold only tables this module knows.
    pub fn open(data_dir: &Path) -> Result<SqliteExport, String> {
        let path = data_dir.join(DATABASE_FILE);
        if !path.is_file() {
            return Err(format!("{} does not exist", path.display()));
        }
        let connection = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|error| format!("opening {}: {error}", path.display()))?;
        connection
            .busy_timeout(std::time::Duration::from_secs(10))
            .map_err(failed("setting the busy timeout"))?;
        details::register(&connection).map_err(failed("registering functions"))?;
        let version: i64 = connection
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(failed("reading the schema version"))?;
        if version != LATEST_VERSION {
            return Err(format!(
                "the embedded database has schema version {version}, this binary knows \
                 {LATEST_VERSION}: run this glassbox version's `serve` on it once first"
            ));
        }
        let export = SqliteExport {
            connection,
            media_dir: data_dir.join(MEDIA_DIR),
        };
        let unknown: Vec<String> = export
            .stored_tables()?
            .into_iter()
            .filter(|name| {
                !EXPORTED.contains(&name.as_str()) && !SQLITE_ONLY.contains(&name.as_str())
            })
            .collect();
        if !unknown.is_empty() {
            return Err(format!(
                "the embedded database has tables the exporter does not know: {} \
                 (crates/glassbox-store-sqlite/src/export.rs must list them)",
                unknown.join(", ")
            ));
        }
        Ok(export)
    }

    fn stored_tables(&self) -> Result<Vec<String>, String> {
        let mut statement = self
            .connection
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
            )
            .map_err(failed("listing tables"))?;
        let names = statement
            .query_map([], |row| row.get::<_, String>(0))
            .map_err(failed("listing tables"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(failed("listing tables"))?;
        Ok(names)
    }

    /// Every table to copy, in copy order, with its row count.
    pub fn tables(&self) -> Result<Vec<ExportTable>, String> {
        EXPORTED.iter().map(|name| self.table(name)).collect()
    }

    fn table(&self, name: &'static str) -> Result<ExportTable, String> {
        let context = format!("reading the columns of {name}");
        let mut statement = self
            .connection
            .prepare(&format!("PRAGMA table_info({})", quote(name)))
            .map_err(failed(&context))?;
        // (name, position in the primary key; 0 = not in it)
        let info = statement
            .query_map([], |row| {
                Ok((row.get::<_, String>(1)?, row.get::<_, i64>(5)?))
            })
            .map_err(failed(&context))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(failed(&context))?;
        if info.is_empty() {
            return Err(format!("the embedded database has no table {name}"));
        }
        let columns: Vec<String> = info
            .iter()
            .map(|(column, _)| column.clone())
            .filter(|column| !SQLITE_ONLY_COLUMNS.contains(&(name, column.as_str())))
            .collect();
        if name == "ingest_events" && columns != EVENT_COLUMNS {
            return Err("ingest_events has other columns than the exporter knows".to_owned());
        }
        let mut key: Vec<(i64, String)> = info
            .iter()
            .filter(|(_, position)| *position > 0)
            .map(|(column, position)| (*position, column.clone()))
            .collect();
        key.sort();
        let key_columns = if key.is_empty() {
            vec!["rowid".to_owned()]
        } else {
            key.into_iter().map(|(_, column)| column).collect()
        };
        let rows: i64 = self
            .connection
            .query_row(
                &format!("SELECT COUNT(*) FROM {}", self.source(name)),
                [],
                |row| row.get(0),
            )
            .map_err(failed(&format!("counting the rows of {name}")))?;
        Ok(ExportTable {
            name,
            columns,
            key_columns,
            rows: u64::try_from(rows).unwrap_or(0),
        })
    }

    /// What a table's rows are read from: the table, and for the event log also the
    /// events of observations kept as their row alone.
    fn source(&self, name: &str) -> String {
        if name == "ingest_events" {
            format!(
                "(SELECT {}, NULL AS gb_snapshot FROM ingest_events UNION ALL {SNAPSHOT_EVENTS})",
                EVENT_COLUMNS.join(", ")
            )
        } else {
            quote(name)
        }
    }

    /// The body of the snapshot event an observation row stands for, as JSON text.
    fn snapshot_body(&self, project: &str, id: &str, sequence: i64) -> Result<CopyValue, String> {
        let project = glassbox_model::ProjectId(project.to_owned());
        let event = crate::snapshots::logged_event(&self.connection, &project, id, sequence)
            .map_err(|error| format!("rebuilding the span event of observation {id}: {error:?}"))?
            .ok_or_else(|| format!("observation {id} went away during the export"))?;
        Ok(CopyValue::Text(
            serde_json::Value::Object(event.event.body).to_string(),
        ))
    }

    /// Up to `limit` rows of the table strictly after `after` (a key returned by an
    /// earlier chunk; `None`: from the start), in key order. `None` when there are none.
    pub fn chunk_after(
        &self,
        table: &ExportTable,
        after: Option<&[CopyValue]>,
        limit: u32,
    ) -> Result<Option<CopyChunk>, String> {
        let key_list = table
            .key_columns
            .iter()
            .map(|column| quote(column))
            .collect::<Vec<_>>()
            .join(", ");
        let column_list = table
            .columns
            .iter()
            .map(|column| {
                EXPANDED_COLUMNS
                    .iter()
                    .find(|(name, expanded, _)| *name == table.name && expanded == column)
                    .map_or_else(
                        || quote(column),
                        |(_, _, expression)| (*expression).to_owned(),
                    )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let snapshots = table.name == "ingest_events";
        if after.is_some_and(|after| after.len() != table.key_columns.len()) {
            return Err(format!("resume key of {} has the wrong length", table.name));
        }
        let mut bound: Vec<rusqlite::types::Value> = Vec::new();
        let source = if snapshots {
            event_chunk_source(after, limit, &mut bound)
        } else {
            format!("{} AS o", quote(table.name))
        };
        let mut sql = format!(
            "SELECT {key_list}, {column_list}{} FROM {source}",
            if snapshots { ", gb_snapshot" } else { "" },
        );
        if let Some(after) = after {
            let placeholders = vec!["?"; after.len()].join(", ");
            sql.push_str(&format!(" WHERE ({key_list}) > ({placeholders})"));
            bound.extend(after.iter().map(to_sqlite));
        }
        sql.push_str(&format!(" ORDER BY {key_list} LIMIT {limit}"));
        let context = format!("reading {}", table.name);
        let mut statement = self.connection.prepare(&sql).map_err(failed(&context))?;
        let key_width = table.key_columns.len();
        let project_at = table
            .columns
            .iter()
            .position(|column| column == "project_id");
        let mut rows = statement
            .query(params_from_iter(bound))
            .map_err(failed(&context))?;
        let mut chunk = CopyChunk {
            last_key: Vec::new(),
            rows: Vec::new(),
        };
        while let Some(row) = rows.next().map_err(failed(&context))? {
            let mut key = Vec::with_capacity(key_width);
            for index in 0..key_width {
                key.push(plain_value(
                    row.get_ref(index).map_err(failed(&context))?,
                    &context,
                )?);
            }
            let project = match project_at {
                Some(at) => Some(
                    row.get_ref(key_width + at)
                        .map_err(failed(&context))?
                        .as_str()
                        .map_err(|error| format!("{context}: project_id: {error}"))?
                        .to_owned(),
                ),
                None => None,
            };
            let snapshot: Option<String> = if snapshots {
                row.get(key_width + table.columns.len())
                    .map_err(failed(&context))?
            } else {
                None
            };
            let mut values = Vec::with_capacity(table.columns.len());
            for (offset, column) in table.columns.iter().enumerate() {
                let stored = row.get_ref(key_width + offset).map_err(failed(&context))?;
                if let (Some(id), "body", Some(project)) = (&snapshot, column.as_str(), &project) {
                    let sequence: i64 = row.get(key_width + 7).map_err(failed(&context))?;
                    values.push(self.snapshot_body(project, id, sequence)?);
                    continue;
                }
                values.push(self.logical_value(table.name, column, project.as_deref(), stored)?);
            }
            chunk.last_key = key;
            chunk.rows.push(values);
        }
        Ok((!chunk.rows.is_empty()).then_some(chunk))
    }

    /// The blob file of an uploaded media record, when it is there.
    pub fn media_blob_path(&self, project_id: &str, media_id: &str) -> Option<PathBuf> {
        let safe = !media_id.is_empty()
            && media_id
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
        if !safe {
            return None;
        }
        let path = self
            .media_dir
            .join(project_dir_name(project_id))
            .join(media_id);
        path.is_file().then_some(path)
    }
}

impl SqliteExport {
    /// The logical value of a stored column: what the store's reads would make of it.
    fn logical_value(
        &self,
        table: &str,
        column: &str,
        project: Option<&str>,
        stored: ValueRef<'_>,
    ) -> Result<CopyValue, String> {
        let context = format!("reading {table}.{column}");
        let ValueRef::Blob(_) = stored else {
            return plain_value(stored, &context);
        };
        let project = project.ok_or_else(|| format!("{context}: a blob outside a project"))?;
        if (table, column) == EVENT_BODY {
            let text = payloads::body_text(&self.connection, project, stored)
                .map_err(|error| format!("{context}: {error}"))?;
            return Ok(CopyValue::Text(text));
        }
        if PAYLOAD_COLUMNS.contains(&(table, column)) {
            let text = payloads::read_text(&self.connection, project, stored)
                .map_err(|error| format!("{context}: {error}"))?;
            return Ok(text.map_or(CopyValue::Null, CopyValue::Text));
        }
        plain_value(stored, &context)
    }
}

fn plain_value(value: ValueRef<'_>, context: &str) -> Result<CopyValue, String> {
    Ok(match value {
        ValueRef::Null => CopyValue::Null,
        ValueRef::Integer(number) => CopyValue::Integer(number),
        ValueRef::Real(number) => CopyValue::Real(number),
        ValueRef::Text(bytes) => CopyValue::Text(
            String::from_utf8(bytes.to_vec())
                .map_err(|_| format!("{context}: a text value is not UTF-8"))?,
        ),
        ValueRef::Blob(bytes) => CopyValue::Blob(bytes.to_vec()),
    })
}

fn to_sqlite(value: &CopyValue) -> rusqlite::types::Value {
    use rusqlite::types::Value;
    match value {
        CopyValue::Null => Value::Null,
        CopyValue::Integer(number) => Value::Integer(*number),
        CopyValue::Real(number) => Value::Real(*number),
        CopyValue::Text(text) => Value::Text(text.clone()),
        CopyValue::Blob(bytes) => Value::Blob(bytes.clone()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::SqliteStore;

    /// Large values stored as payload manifests come out as their JSON text.
    #[test]
    fn payload_manifests_are_exported_as_their_values() {
        let dir = tempfile::tempdir().expect("temp dir");
        SqliteStore::open(dir.path()).expect("open").shutdown();
        let writer = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
        let project = glassbox_model::ProjectId("p".to_owned());
        let input = json!([{"role": "system", "content": "s".repeat(300)},
                           {"role": "user", "content": "u".repeat(2_000)}]);
        let output = json!("o".repeat(5_000));
        let body = json!({"id": "t", "input": input, "name": "n"});
        let stored_input = payloads::store_value(&writer, &project, &input).unwrap();
        let stored_output = payloads::store_value(&writer, &project, &output).unwrap();
        let stored_body =
            payloads::store_body(&writer, &project, body.as_object().unwrap()).unwrap();
        assert!(matches!(stored_input, rusqlite::types::Value::Blob(_)));
        assert!(matches!(stored_body, rusqlite::types::Value::Blob(_)));
        writer
            .execute(
                "INSERT INTO traces (project_id, id, timestamp, environment, metadata, tags, \
                 public, bookmarked, input, output, created_at, updated_at) \
                 VALUES ('p', 't', 1, 'default', '{}', '[]', 0, 0, ?1, ?2, 1, 1)",
                rusqlite::params![stored_input, stored_output],
            )
            .unwrap();
        writer
            .execute(
                "INSERT INTO ingest_events (project_id, entity_kind, entity_id, event_id, \
                 event_type, timestamp, received_at, sequence, body) \
                 VALUES ('p', 'trace', 't', 'e', 'trace-create', 1, 1, 1, ?1)",
                rusqlite::params![stored_body],
            )
            .unwrap();

        let export = SqliteExport::open(dir.path()).expect("export");
        let text_of = |table: &'static str, column: &str| -> String {
            let table = export.table(table).unwrap();
            let at = table
                .columns
                .iter()
                .position(|name| name == column)
                .unwrap();
            let chunk = export.chunk_after(&table, None, 10).unwrap().unwrap();
            match &chunk.rows[0][at] {
                CopyValue::Text(text) => text.clone(),
                other => panic!("{column}: {other:?}"),
            }
        };
        assert_eq!(text_of("traces", "input"), input.to_string());
        assert_eq!(text_of("traces", "output"), output.to_string());
        let exported_body: serde_json::Value =
            serde_json::from_str(&text_of("ingest_events", "body")).unwrap();
        assert_eq!(exported_body, body);
    }

    /// An OTLP span kept as its row alone is exported as the event it stands for, in
    /// key order among the logged events, and the row without its bookkeeping column.
    #[tokio::test]
    async fn spans_kept_as_rows_are_exported_as_their_events() {
        use glassbox_model::ingest::{EntityKind, IngestEvent, otlp_observation_event_id};
        use glassbox_store::IngestStore;

        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(dir.path()).expect("open");
        let project = glassbox_model::ProjectId("p".to_owned());
        let body = json!({"traceId": "t", "type": "SPAN", "name": "n", "startTime": 5,
                          "endTime": 9, "environment": "default", "level": "DEFAULT",
                          "input": "i".repeat(2_000), "metadata": {"k": "v"}});
        let event = |trace_id: &str, span_id: &str, snapshot: bool| IngestEvent {
            event_id: otlp_observation_event_id(trace_id, span_id),
            event_type: "observation-create".into(),
            timestamp: 5,
            kind: EntityKind::Observation,
            entity_id: span_id.into(),
            body: body.as_object().unwrap().clone(),
            snapshot,
        };
        // "a" and "c" kept as rows, "b" and the trace event logged: the copy interleaves
        // them in key order, across chunks of two.
        let mut trace = event("t", "t", false);
        trace.kind = EntityKind::Trace;
        trace.event_type = "trace-create".into();
        trace.event_id = "trace-event".into();
        let events = vec![
            event("t", "a", true),
            event("t", "b", false),
            trace,
            event("t", "c", true),
        ];
        store.ingest(&project, events).await.unwrap();
        store.shutdown();

        let export = SqliteExport::open(dir.path()).expect("export");
        let observations = export.table("observations").unwrap();
        assert!(
            !observations
                .columns
                .contains(&"snapshot_sequence".to_owned())
        );
        let log = export.table("ingest_events").unwrap();
        assert_eq!(log.rows, 4);
        let mut rows = Vec::new();
        let mut after = None;
        while let Some(chunk) = export.chunk_after(&log, after.as_deref(), 2).unwrap() {
            rows.extend(chunk.rows);
            after = Some(chunk.last_key);
        }
        let column = |name: &str| {
            log.columns
                .iter()
                .position(|column| column == name)
                .unwrap()
        };
        let ids: Vec<&CopyValue> = rows.iter().map(|row| &row[column("event_id")]).collect();
        assert_eq!(
            ids,
            ["otel:t:a", "otel:t:b", "otel:t:c", "trace-event"]
                .map(|id| CopyValue::Text(id.into()))
                .iter()
                .collect::<Vec<_>>()
        );
        let CopyValue::Text(exported) = &rows[0][column("body")] else {
            panic!("body: {:?}", rows[0][column("body")]);
        };
        let exported: serde_json::Value = serde_json::from_str(exported).unwrap();
        assert_eq!(exported, body);
        assert_eq!(
            rows[0][column("event_type")],
            CopyValue::Text("observation-create".into())
        );
        assert_eq!(rows[0][column("timestamp")], CopyValue::Integer(5));
        assert_eq!(rows[0][column("sequence")], CopyValue::Integer(1));
        assert_eq!(rows[2][column("sequence")], CopyValue::Integer(4));
    }

    #[test]
    fn every_table_of_the_schema_is_exported_or_skipped_and_chunks_resume() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(dir.path()).expect("open");
        store.shutdown();
        // open() fails on a table the lists do not name.
        let export = SqliteExport::open(dir.path()).expect("export");
        let tables = export.tables().expect("tables");
        assert_eq!(tables.len(), EXPORTED.len());
        let traces = tables.iter().find(|table| table.name == "traces").unwrap();
        assert_eq!(traces.key_columns, ["project_id", "id"]);
        let dependencies = tables
            .iter()
            .find(|table| table.name == "prompt_dependencies")
            .unwrap();
        assert_eq!(dependencies.key_columns, ["rowid"]);
        assert!(!dependencies.columns.contains(&"rowid".to_owned()));

        // Chunks walk the key order and resume strictly after the last key.
        let writer = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
        writer
            .execute_batch(
                "INSERT INTO organizations (id, name, created_at) VALUES \
                 ('o3', 'c', 3), ('o1', 'a', 1), ('o2', 'b', 2);",
            )
            .unwrap();
        let organizations = export.table("organizations").unwrap();
        assert_eq!(organizations.rows, 3);
        let first = export
            .chunk_after(&organizations, None, 2)
            .unwrap()
            .unwrap();
        assert_eq!(first.last_key, [CopyValue::Text("o2".into())]);
        assert_eq!(
            first.rows[0],
            [
                CopyValue::Text("o1".into()),
                CopyValue::Text("a".into()),
                CopyValue::Integer(1)
            ]
        );
        let second = export
            .chunk_after(&organizations, Some(&first.last_key), 2)
            .unwrap()
            .unwrap();
        assert_eq!(second.rows.len(), 1);
        assert_eq!(second.last_key, [CopyValue::Text("o3".into())]);
        assert!(
            export
                .chunk_after(&organizations, Some(&second.last_key), 2)
                .unwrap()
                .is_none()
        );
    }
}
