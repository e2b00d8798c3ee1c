//! The PostgreSQL side of `glassbox migrate-data`: inserts chunks of exported rows
//! (same table and column names as the embedded schema), records per table how far the
//! copy got, and afterwards moves sequences past the copied values.
//!
//! Resumable: each chunk is inserted together with its progress row in one transaction
//! (`glassbox_copy_progress`: table, last copied key, rows copied), so an interrupted
//! copy continues after the last committed chunk. Inserts are `ON CONFLICT DO NOTHING`
//! besides, so copying a row twice is harmless.

use std::collections::HashMap;
use std::io::Read;

use sqlx::Row;
use tokio::sync::Mutex;

use glassbox_store::copy::{CopyChunk, CopyValue, key_from_json, key_to_json};

use crate::PgStore;

/// Progress of an interrupted or finished copy of one table.
#[derive(Debug, Clone, PartialEq)]
pub struct CopyProgress {
    pub last_key: Vec<CopyValue>,
    pub rows_copied: u64,
    pub finished: bool,
}

/// Sequences that hand out values of a column without being owned by it (the column
/// has no default); [`Importer::finish`] moves each past the column's largest value.
const FREE_SEQUENCES: &[(&str, &str, &str)] =
    &[("ingest_event_sequence", "ingest_events", "sequence")];

/// Bytes per row of `media_chunks` (the media store's chunk size).
pub const MEDIA_CHUNK_BYTES: usize = 1024 * 1024;

/// Copies rows into one database. Cheap to create; caches the column types it reads.
pub struct Importer<'a> {
    store: &'a PgStore,
    /// Table → (column → PostgreSQL type name).
    types: Mutex<HashMap<String, HashMap<String, String>>>,
}

fn failed(context: &str) -> impl Fn(sqlx::Error) -> String + '_ {
    move |error| format!("{context}: {error}")
}

fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

impl PgStore {
    /// Starts a copy into this database (creates the progress table when missing).
    pub async fn importer(&self) -> Result<Importer<'_>, String> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS glassbox_copy_progress (
                table_name TEXT PRIMARY KEY,
                last_key TEXT NOT NULL,
                rows_copied BIGINT NOT NULL,
                finished BIGINT NOT NULL DEFAULT 0
            )",
        )
        .execute(&self.pool)
        .await
        .map_err(failed("creating glassbox_copy_progress"))?;
        Ok(Importer {
            store: self,
            types: Mutex::new(HashMap::new()),
        })
    }
}

impl Importer<'_> {
    /// True when the database holds projects that no earlier copy brought (a database
    /// already in use): copying into it could mix two installs.
    pub async fn has_foreign_data(&self) -> Result<bool, String> {
        let started: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM glassbox_copy_progress")
            .fetch_one(&self.store.pool)
            .await
            .map_err(failed("reading glassbox_copy_progress"))?;
        if started > 0 {
            return Ok(false);
        }
        let projects: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM projects")
            .fetch_one(&self.store.pool)
            .await
            .map_err(failed("counting projects"))?;
        Ok(projects > 0)
    }

    /// The tables of the target schema.
    pub async fn tables(&self) -> Result<Vec<String>, String> {
        sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
             ORDER BY table_name",
        )
        .fetch_all(&self.store.pool)
        .await
        .map_err(failed("listing the target's tables"))
    }

    pub async fn progress(&self, table: &str) -> Result<Option<CopyProgress>, String> {
        let row = sqlx::query(
            "SELECT last_key, rows_copied, finished FROM glassbox_copy_progress
             WHERE table_name = $1",
        )
        .bind(table)
        .fetch_optional(&self.store.pool)
        .await
        .map_err(failed("reading glassbox_copy_progress"))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let context = "reading glassbox_copy_progress";
        let last_key: String = row.try_get(0).map_err(failed(context))?;
        let rows_copied: i64 = row.try_get(1).map_err(failed(context))?;
        let finished: i64 = row.try_get(2).map_err(failed(context))?;
        Ok(Some(CopyProgress {
            last_key: key_from_json(&last_key)?,
            rows_copied: u64::try_from(rows_copied).unwrap_or(0),
            finished: finished != 0,
        }))
    }

    async fn column_types(&self, table: &str) -> Result<HashMap<String, String>, String> {
        let mut types = self.types.lock().await;
        if let Some(known) = types.get(table) {
            return Ok(known.clone());
        }
        let rows = sqlx::query(
            "SELECT column_name::text, data_type::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = $1",
        )
        .bind(table)
        .fetch_all(&self.store.pool)
        .await
        .map_err(failed("reading the target's columns"))?;
        let mut columns = HashMap::new();
        for row in rows {
            let name: String = row.try_get(0).map_err(failed("reading columns"))?;
            let data_type: String = row.try_get(1).map_err(failed("reading columns"))?;
            columns.insert(name, data_type);
        }
        if columns.is_empty() {
            return Err(format!("the PostgreSQL schema has no table {table}"));
        }
        types.insert(table.to_owned(), columns.clone());
        Ok(columns)
    }

    /// Inserts the chunk's rows (existing rows are kept) and records `chunk.last_key` as
    /// the table's progress, in one transaction. Returns how many rows were new.
    pub async fn insert_chunk(
        &self,
        table: &str,
        columns: &[String],
        chunk: &CopyChunk,
    ) -> Result<u64, String> {
        let types = self.column_types(table).await?;
        let mut casts = Vec::with_capacity(columns.len());
        for column in columns {
            let Some(data_type) = types.get(column) else {
                return Err(format!(
                    "column {table}.{column} of the embedded database has no counterpart in PostgreSQL"
                ));
            };
            casts.push(array_cast(table, column, data_type)?);
        }
        let sql = format!(
            "INSERT INTO {} ({}) SELECT * FROM UNNEST({}) ON CONFLICT DO NOTHING",
            quote(table),
            columns
                .iter()
                .map(|column| quote(column))
                .collect::<Vec<_>>()
                .join(", "),
            casts
                .iter()
                .enumerate()
                .map(|(index, cast)| format!("${}::{cast}[]", index + 1))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (index, (column, cast)) in columns.iter().zip(&casts).enumerate() {
            let values = chunk.rows.iter().map(|row| row.get(index));
            let context =
                |value: &CopyValue| format!("{table}.{column}: cannot store {value:?} as {cast}");
            query = match *cast {
                "text" => query.bind(
                    values
                        .map(|value| match value {
                            None | Some(CopyValue::Null) => Ok(None),
                            Some(CopyValue::Text(text)) => Ok(Some(text.clone())),
                            Some(other) => Err(context(other)),
                        })
                        .collect::<Result<Vec<Option<String>>, String>>()?,
                ),
                "int8" => query.bind(
                    values
                        .map(|value| match value {
                            None | Some(CopyValue::Null) => Ok(None),
                            Some(CopyValue::Integer(number)) => Ok(Some(*number)),
                            Some(other) => Err(context(other)),
                        })
                        .collect::<Result<Vec<Option<i64>>, String>>()?,
                ),
                "float8" => query.bind(
                    values
                        .map(|value| match value {
                            None | Some(CopyValue::Null) => Ok(None),
                            // SQLite stores integral REALs as given; both mean a number.
                            Some(CopyValue::Integer(number)) => Ok(Some(*number as f64)),
                            Some(CopyValue::Real(number)) => Ok(Some(*number)),
                            Some(other) => Err(context(other)),
                        })
                        .collect::<Result<Vec<Option<f64>>, String>>()?,
                ),
                "bytea" => query.bind(
                    values
                        .map(|value| match value {
                            None | Some(CopyValue::Null) => Ok(None),
                            Some(CopyValue::Blob(bytes)) => Ok(Some(bytes.clone())),
                            Some(other) => Err(context(other)),
                        })
                        .collect::<Result<Vec<Option<Vec<u8>>>, String>>()?,
                ),
                _ => query.bind(
                    values
                        .map(|value| match value {
                            None | Some(CopyValue::Null) => Ok(None),
                            Some(CopyValue::Integer(number)) => Ok(Some(*number != 0)),
                            Some(other) => Err(context(other)),
                        })
                        .collect::<Result<Vec<Option<bool>>, String>>()?,
                ),
            };
        }
        let context = format!("copying into {table}");
        let mut transaction = self.store.pool.begin().await.map_err(failed(&context))?;
        let inserted = query
            .execute(&mut *transaction)
            .await
            .map_err(failed(&context))?
            .rows_affected();
        record_progress(
            &mut transaction,
            table,
            &chunk.last_key,
            chunk.rows.len() as u64,
        )
        .await?;
        transaction.commit().await.map_err(failed(&context))?;
        Ok(inserted)
    }

    /// Marks the table as copied completely.
    pub async fn finish_table(&self, table: &str) -> Result<(), String> {
        sqlx::query(
            "INSERT INTO glassbox_copy_progress (table_name, last_key, rows_copied, finished)
             VALUES ($1, '[]', 0, 1)
             ON CONFLICT (table_name) DO UPDATE SET finished = 1",
        )
        .bind(table)
        .execute(&self.store.pool)
        .await
        .map_err(failed("recording progress"))?;
        Ok(())
    }

    /// Stores the bytes of an uploaded media record in `media_chunks` and records
    /// `progress_key` as the progress of `progress_table`, in one transaction.
    pub async fn insert_media_blob(
        &self,
        project_id: &str,
        media_id: &str,
        mut reader: impl std::io::Read,
        progress_table: &str,
        progress_key: &[CopyValue],
    ) -> Result<(), String> {
        let context = format!("copying the blob of media {media_id}");
        let mut transaction = self.store.pool.begin().await.map_err(failed(&context))?;
        let mut chunk_no: i64 = 0;
        loop {
            let mut bytes = Vec::with_capacity(MEDIA_CHUNK_BYTES);
            (&mut reader)
                .take(MEDIA_CHUNK_BYTES as u64)
                .read_to_end(&mut bytes)
                .map_err(|error| format!("{context}: {error}"))?;
            if bytes.is_empty() {
                break;
            }
            let last = bytes.len() < MEDIA_CHUNK_BYTES;
            sqlx::query(
                "INSERT INTO media_chunks (project_id, media_id, chunk_no, bytes)
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(project_id)
            .bind(media_id)
            .bind(chunk_no)
            .bind(bytes)
            .execute(&mut *transaction)
            .await
            .map_err(failed(&context))?;
            chunk_no += 1;
            if last {
                break;
            }
        }
        record_progress(&mut transaction, progress_table, progress_key, 1).await?;
        transaction.commit().await.map_err(failed(&context))?;
        Ok(())
    }

    /// After every table: moves sequences past the values the copy brought, so new rows
    /// get larger values than copied ones.
    pub async fn finish(&self) -> Result<(), String> {
        // Sequences owned by a column (serial / identity columns).
        let owned = sqlx::query(
            "SELECT seq.relname::text, tab.relname::text, col.attname::text
             FROM pg_depend dep
             JOIN pg_class seq ON seq.oid = dep.objid AND seq.relkind = 'S'
             JOIN pg_class tab ON tab.oid = dep.refobjid
             JOIN pg_attribute col ON col.attrelid = tab.oid AND col.attnum = dep.refobjsubid
             WHERE seq.relnamespace = current_schema()::regnamespace
               AND dep.deptype IN ('a', 'i')",
        )
        .fetch_all(&self.store.pool)
        .await
        .map_err(failed("listing sequences"))?;
        let mut sequences: Vec<(String, String, String)> = Vec::new();
        for row in owned {
            let context = "listing sequences";
            sequences.push((
                row.try_get(0).map_err(failed(context))?,
                row.try_get(1).map_err(failed(context))?,
                row.try_get(2).map_err(failed(context))?,
            ));
        }
        for (sequence, table, column) in FREE_SEQUENCES {
            sequences.push(((*sequence).into(), (*table).into(), (*column).into()));
        }
        for (sequence, table, column) in sequences {
            let sql = format!(
                "SELECT setval($1::regclass, GREATEST(
                     (SELECT MAX({}) FROM {}),
                     (SELECT last_value FROM {})), true)
                 WHERE (SELECT MAX({}) FROM {}) IS NOT NULL",
                quote(&column),
                quote(&table),
                quote(&sequence),
                quote(&column),
                quote(&table),
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(&sequence)
                .execute(&self.store.pool)
                .await
                .map_err(failed(&format!("advancing {sequence}")))?;
        }
        Ok(())
    }
}

async fn record_progress(
    transaction: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    table: &str,
    last_key: &[CopyValue],
    rows: u64,
) -> Result<(), String> {
    sqlx::query(
        "INSERT INTO glassbox_copy_progress (table_name, last_key, rows_copied, finished)
         VALUES ($1, $2, $3, 0)
         ON CONFLICT (table_name) DO UPDATE SET last_key = excluded.last_key,
             rows_copied = glassbox_copy_progress.rows_copied + excluded.rows_copied",
    )
    .bind(table)
    .bind(key_to_json(last_key))
    .bind(i64::try_from(rows).unwrap_or(i64::MAX))
    .execute(&mut **transaction)
    .await
    .map_err(failed("recording progress"))?;
    Ok(())
}

/// The array element type a column's values are bound as.
fn array_cast(table: &str, column: &str, data_type: &str) -> Result<&'static str, String> {
    Ok(match data_type {
        "text" | "character varying" => "text",
        "bigint" | "integer" | "smallint" => "int8",
        "double precision" | "real" | "numeric" => "float8",
        "bytea" => "bytea",
        "boolean" => "bool",
        other => {
            return Err(format!(
                "{table}.{column} has PostgreSQL type {other}, which migrate-data cannot fill"
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::PgConfig;
    use crate::tests::test_database_url;

    async fn fresh_store() -> Arc<PgStore> {
        let mut config = PgConfig::new(test_database_url());
        config.schema = Some(format!("t_{}", uuid::Uuid::new_v4().simple()));
        config.pool_size = 2;
        PgStore::connect(config).await.expect("connect")
    }

    fn text(value: &str) -> CopyValue {
        CopyValue::Text(value.to_owned())
    }

    fn organization(id: &str) -> Vec<CopyValue> {
        vec![text(id), text("name"), CopyValue::Integer(1)]
    }

    #[tokio::test]
    async fn chunks_record_progress_skip_existing_rows_and_sequences_move_on() {
        let store = fresh_store().await;
        let importer = store.importer().await.unwrap();
        assert!(!importer.has_foreign_data().await.unwrap());
        let columns: Vec<String> = ["id", "name", "created_at"].map(String::from).to_vec();
        let first = CopyChunk {
            last_key: vec![text("o2")],
            rows: vec![organization("o1"), organization("o2")],
        };
        assert_eq!(
            importer
                .insert_chunk("organizations", &columns, &first)
                .await,
            Ok(2)
        );
        let progress = importer.progress("organizations").await.unwrap().unwrap();
        assert_eq!(progress.last_key, vec![text("o2")]);
        assert_eq!((progress.rows_copied, progress.finished), (2, false));
        // A chunk copied again (an interruption between commit and the next read) adds
        // only what is missing.
        let again = CopyChunk {
            last_key: vec![text("o3")],
            rows: vec![organization("o2"), organization("o3")],
        };
        assert_eq!(
            importer
                .insert_chunk("organizations", &columns, &again)
                .await,
            Ok(1)
        );
        importer.finish_table("organizations").await.unwrap();
        assert!(
            importer
                .progress("organizations")
                .await
                .unwrap()
                .unwrap()
                .finished
        );

        // A value of the wrong kind and a column PostgreSQL lacks are refused.
        let wrong = CopyChunk {
            last_key: vec![text("o4")],
            rows: vec![vec![text("o4"), text("name"), text("not a number")]],
        };
        assert!(
            importer
                .insert_chunk("organizations", &columns, &wrong)
                .await
                .is_err()
        );
        let unknown = vec!["id".to_owned(), "color".to_owned()];
        assert!(
            importer
                .insert_chunk("organizations", &unknown, &wrong)
                .await
                .is_err()
        );

        // The event sequence moves past the copied events.
        let event_columns: Vec<String> = [
            "project_id",
            "entity_kind",
            "entity_id",
            "event_id",
            "event_type",
            "timestamp",
            "received_at",
            "sequence",
            "body",
        ]
        .map(String::from)
        .to_vec();
        let event = vec![
            text("p"),
            text("trace"),
            text("t"),
            text("e"),
            text("trace-create"),
            CopyValue::Integer(1),
            CopyValue::Integer(1),
            CopyValue::Integer(500),
            text("{}"),
        ];
        let events = CopyChunk {
            last_key: vec![text("p"), text("trace"), text("t"), text("e")],
            rows: vec![event],
        };
        importer
            .insert_chunk("ingest_events", &event_columns, &events)
            .await
            .unwrap();
        importer.finish().await.unwrap();
        let next: i64 = sqlx::query_scalar("SELECT nextval('ingest_event_sequence')")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert!(next > 500, "{next}");
    }
}
