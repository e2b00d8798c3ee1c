//! `glassbox migrate-data --from <data-dir> --to postgres://...`: copies an embedded
//! install into PostgreSQL, table by table, in chunks in primary-key order, then the
//! media blob files into the database, then moves sequences past the copied values.
//!
//! Resumable: every chunk commits together with the table's progress (the last copied
//! key) in the target, so running the command again after an interruption continues
//! after the last committed chunk. Stop the embedded server first: rows it writes after
//! a table was copied are not copied.
//!
//! The embedded side is read through `glassbox_store_sqlite::export` (the one place that
//! knows the embedded schema), the PostgreSQL side through `glassbox_store_postgres`'s
//! `Importer`; this module only moves rows between them.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use glassbox_store::copy::{CopyChunk, CopyValue};
use glassbox_store_postgres::{Importer, PgStore};
use glassbox_store_sqlite::export::{ExportTable, SqliteExport};
use glassbox_store_sqlite::{DATABASE_FILE, SqliteStore};

use crate::backend::postgres_config;

/// The progress row of the media blobs (their rows live in `media_chunks`).
const MEDIA_BLOBS: &str = "media_chunks";

/// Tables of the PostgreSQL schema with no embedded counterpart, and who fills them.
const TARGET_ONLY: &[&str] = &[
    // The media blob files, copied after the tables.
    MEDIA_BLOBS,
    // This command's own progress.
    "glassbox_copy_progress",
    // sqlx's migration bookkeeping.
    "_sqlx_migrations",
];

#[derive(Args)]
pub struct MigrateDataArgs {
    /// The data directory of the embedded install (the server must be stopped).
    #[arg(long)]
    from: PathBuf,
    /// The PostgreSQL database: `postgres://user:password@host:5432/database` (the
    /// `DATABASE_URL` that `serve` will use; from the environment keeps the password off
    /// the command line).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    to: String,
    /// PostgreSQL schema to copy into (created when missing); default: `search_path`.
    #[arg(long, env = "GLASSBOX_DATABASE_SCHEMA")]
    to_schema: Option<String>,
    /// Rows per chunk (one transaction each).
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(1..=50_000))]
    chunk_rows: u32,
    /// Copy into a database that already has projects of its own.
    #[arg(long)]
    allow_non_empty: bool,
    /// Stop (with an error) once this many rows were copied in this run: simulates an
    /// interruption (tests of the resume).
    #[arg(long, hide = true)]
    stop_after_rows: Option<u64>,
}

/// Copied or skipped rows, for the summary and the stop-after limit.
struct Counter {
    copied: u64,
    new: u64,
    stop_after: Option<u64>,
}

impl Counter {
    fn add(&mut self, copied: u64, new: u64) -> anyhow::Result<()> {
        self.copied += copied;
        self.new += new;
        if let Some(limit) = self.stop_after
            && self.copied >= limit
        {
            bail!(
                "stopped after {} rows (--stop-after-rows); run the command again to resume",
                self.copied
            );
        }
        Ok(())
    }
}

pub async fn run(args: MigrateDataArgs) -> anyhow::Result<()> {
    if !args.from.join(DATABASE_FILE).is_file() {
        bail!(
            "{} is not a glassbox data directory (no {DATABASE_FILE})",
            args.from.display()
        );
    }
    // Bring the embedded database to this binary's schema version first.
    SqliteStore::open(&args.from)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("opening {}", args.from.display()))?
        .shutdown();
    let export = SqliteExport::open(&args.from).map_err(anyhow::Error::msg)?;
    let target = PgStore::connect(postgres_config(&args.to, args.to_schema.as_deref()))
        .await
        .map_err(anyhow::Error::msg)
        .context("opening the PostgreSQL database (--to)")?;
    let result = copy_all(&args, &export, &target).await;
    target.shutdown().await;
    result
}

async fn copy_all(
    args: &MigrateDataArgs,
    export: &SqliteExport,
    target: &PgStore,
) -> anyhow::Result<()> {
    let importer = target.importer().await.map_err(anyhow::Error::msg)?;
    if importer
        .has_foreign_data()
        .await
        .map_err(anyhow::Error::msg)?
        && !args.allow_non_empty
    {
        bail!(
            "the PostgreSQL database already has projects that no earlier migrate-data run \
             copied; pass --allow-non-empty to copy into it anyway"
        );
    }
    let tables = export.tables().map_err(anyhow::Error::msg)?;
    // A table of the PostgreSQL schema that nothing fills would stay empty: refuse.
    let unfilled: Vec<String> = importer
        .tables()
        .await
        .map_err(anyhow::Error::msg)?
        .into_iter()
        .filter(|name| {
            !tables.iter().any(|table| table.name == name) && !TARGET_ONLY.contains(&name.as_str())
        })
        .collect();
    if !unfilled.is_empty() {
        bail!(
            "the PostgreSQL schema has tables migrate-data does not fill: {} (the embedded \
             export, crates/glassbox-store-sqlite/src/export.rs, and this command must learn them)",
            unfilled.join(", ")
        );
    }
    let media = tables
        .iter()
        .find(|table| table.name == "media")
        .context("the export has no media table")?
        .clone();
    let total: u64 = tables.iter().map(|table| table.rows).sum::<u64>() + media.rows;
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:28} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} rows ({eta})",
        )
        .context("progress bar template")?,
    );
    let mut counter = Counter {
        copied: 0,
        new: 0,
        stop_after: args.stop_after_rows,
    };
    for table in &tables {
        bar.set_message(table.name);
        copy_table(args, export, &importer, table, &bar, &mut counter).await?;
    }
    bar.set_message("media blobs");
    copy_media_blobs(export, &importer, &media, &bar, &mut counter).await?;
    importer.finish().await.map_err(anyhow::Error::msg)?;
    bar.finish_with_message("done");
    println!(
        "copied {} rows ({} new) from {} tables and the media blobs into PostgreSQL",
        counter.copied,
        counter.new,
        tables.len()
    );
    Ok(())
}

async fn copy_table(
    args: &MigrateDataArgs,
    export: &SqliteExport,
    importer: &Importer<'_>,
    table: &ExportTable,
    bar: &ProgressBar,
    counter: &mut Counter,
) -> anyhow::Result<()> {
    let progress = importer
        .progress(table.name)
        .await
        .map_err(anyhow::Error::msg)?;
    let mut after: Option<Vec<CopyValue>> = None;
    if let Some(progress) = progress {
        bar.inc(progress.rows_copied.min(table.rows));
        if progress.finished {
            return Ok(());
        }
        after = (!progress.last_key.is_empty()).then_some(progress.last_key);
    }
    while let Some(chunk) = export
        .chunk_after(table, after.as_deref(), args.chunk_rows)
        .map_err(anyhow::Error::msg)?
    {
        let new = importer
            .insert_chunk(table.name, &table.columns, &chunk)
            .await
            .map_err(anyhow::Error::msg)?;
        let rows = chunk.rows.len() as u64;
        bar.inc(rows);
        after = Some(chunk.last_key);
        counter.add(rows, new)?;
    }
    importer
        .finish_table(table.name)
        .await
        .map_err(anyhow::Error::msg)
}

/// The blob of every uploaded media record, in the media table's key order.
async fn copy_media_blobs(
    export: &SqliteExport,
    importer: &Importer<'_>,
    media: &ExportTable,
    bar: &ProgressBar,
    counter: &mut Counter,
) -> anyhow::Result<()> {
    let progress = importer
        .progress(MEDIA_BLOBS)
        .await
        .map_err(anyhow::Error::msg)?;
    let mut after: Option<Vec<CopyValue>> = None;
    if let Some(progress) = progress {
        if progress.finished {
            bar.inc(media.rows);
            return Ok(());
        }
        bar.inc(progress.rows_copied.min(media.rows));
        after = (!progress.last_key.is_empty()).then_some(progress.last_key);
    }
    let column = |name: &str| {
        media
            .columns
            .iter()
            .position(|column| column == name)
            .with_context(|| format!("the media table has no {name} column"))
    };
    let (project_at, id_at, uploaded_at) =
        (column("project_id")?, column("id")?, column("uploaded_at")?);
    let key_at: Vec<usize> = media
        .key_columns
        .iter()
        .map(|key| column(key))
        .collect::<anyhow::Result<_>>()?;
    while let Some(CopyChunk { rows, last_key }) = export
        .chunk_after(media, after.as_deref(), 100)
        .map_err(anyhow::Error::msg)?
    {
        for row in &rows {
            bar.inc(1);
            let (Some(CopyValue::Text(project)), Some(CopyValue::Text(id))) =
                (row.get(project_at), row.get(id_at))
            else {
                continue;
            };
            if matches!(row.get(uploaded_at), None | Some(CopyValue::Null)) {
                continue;
            }
            let Some(path) = export.media_blob_path(project, id) else {
                tracing::warn!(
                    project,
                    media = id,
                    "uploaded media has no blob file; skipped"
                );
                continue;
            };
            let file = std::fs::File::open(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let key: Vec<CopyValue> = key_at
                .iter()
                .map(|at| row.get(*at).cloned().unwrap_or(CopyValue::Null))
                .collect();
            importer
                .insert_media_blob(
                    project,
                    id,
                    std::io::BufReader::new(file),
                    MEDIA_BLOBS,
                    &key,
                )
                .await
                .map_err(anyhow::Error::msg)?;
            counter.add(1, 1)?;
        }
        after = Some(last_key);
    }
    importer
        .finish_table(MEDIA_BLOBS)
        .await
        .map_err(anyhow::Error::msg)
}
