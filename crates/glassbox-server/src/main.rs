//! The `glassbox` binary: parses the command line, opens the store (embedded SQLite, or
//! PostgreSQL when `DATABASE_URL` is set), bootstraps the first organization/project/key,
//! and serves HTTP (and OTLP/gRPC) until SIGINT or SIGTERM.
//!
//! Invariant: this is the only crate that reads the environment and names backends.

mod backend;
mod bootstrap;
mod keys;
mod migrate;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use glassbox_http::{AppState, HttpConfig, router, serve_otlp_grpc};

use crate::backend::open_stores;

#[derive(Parser)]
#[command(
    name = "glassbox",
    version,
    about = "Open-source observability for LLM applications, Langfuse-compatible, in one binary"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Create, list and revoke API keys of a project.
    Keys(keys::KeysArgs),
    /// Copy an embedded install (a data directory) into PostgreSQL. Resumable: run it
    /// again after an interruption and it continues where it stopped.
    MigrateData(migrate::MigrateDataArgs),
}

/// Global so that `glassbox keys create --project p --data-dir d` works: without it clap
/// only accepts these before the `keys` action (`glassbox keys --data-dir d create`).
#[derive(Args, Clone)]
pub struct StorageArgs {
    /// Where the embedded database and the media files live. Not used when
    /// --database-url is set: PostgreSQL then holds everything, media included.
    #[arg(
        long,
        global = true,
        env = "GLASSBOX_DATA_DIR",
        default_value = "./glassbox-data"
    )]
    data_dir: PathBuf,
    /// Use PostgreSQL instead of the embedded database:
    /// `postgres://user:password@host:5432/database` (`?sslmode=require` for TLS). Several
    /// glassbox processes may share one database.
    #[arg(long, global = true, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// PostgreSQL schema for glassbox's tables (created when missing); default: the
    /// user's `search_path`.
    #[arg(long, global = true, env = "GLASSBOX_DATABASE_SCHEMA")]
    database_schema: Option<String>,
    /// Salt of the API key hashes (Langfuse's `SALT`). Changing it invalidates every key.
    #[arg(
        long,
        global = true,
        env = "SALT",
        default_value = "",
        hide_env_values = true
    )]
    salt: String,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to bind. Loopback by default; use 0.0.0.0 to accept remote clients.
    #[arg(long, env = "GLASSBOX_HOST", default_value = "127.0.0.1")]
    host: String,
    #[arg(long, env = "GLASSBOX_PORT", default_value_t = 3000)]
    port: u16,
    /// Port of the OTLP/gRPC trace receiver (`TraceService/Export`), on the same --host.
    #[arg(long, env = "GLASSBOX_OTLP_GRPC_PORT", default_value_t = 4317)]
    otlp_grpc_port: u16,
    /// Do not start the OTLP/gRPC receiver (OTLP/HTTP on --port is unaffected).
    #[arg(
        long,
        env = "GLASSBOX_OTLP_GRPC_DISABLED",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    no_otlp_grpc: bool,
    /// URL clients reach glassbox at (`https://glassbox.example.com`, behind a proxy or
    /// TLS terminator). Used in media upload/download URLs; default: `http://` + the
    /// request's Host header.
    #[arg(long, env = "GLASSBOX_PUBLIC_URL")]
    public_url: Option<String>,
    /// Largest media upload in bytes (Langfuse: 1 GB).
    #[arg(long, env = "GLASSBOX_MEDIA_MAX_BYTES", default_value_t = HttpConfig::default().max_media_bytes)]
    media_max_bytes: u64,
    #[command(flatten)]
    storage: StorageArgs,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("GLASSBOX_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::Keys(args) => keys::run(args).await,
            Command::MigrateData(args) => migrate::run(args).await,
        }
    })
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let public_url = match args.public_url.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
            Some(url.trim_end_matches('/').to_owned())
        }
        Some(url) => {
            anyhow::bail!("GLASSBOX_PUBLIC_URL must start with http:// or https://, got `{url}`")
        }
    };
    let (backend, stores) = open_stores(&args.storage, true).await?;
    let address: SocketAddr = format!("{}:{}", args.host, args.port)
        .parse()
        .with_context(|| format!("invalid --host/--port: {}:{}", args.host, args.port))?;
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("binding {address}"))?;
    let public_host = if args.host == "0.0.0.0" {
        "localhost".to_owned()
    } else {
        args.host.clone()
    };
    // Bound before anything is served, so a busy port fails the start-up, not a request.
    let grpc_listener = if args.no_otlp_grpc {
        None
    } else {
        let grpc_address = SocketAddr::new(address.ip(), args.otlp_grpc_port);
        let grpc_listener = tokio::net::TcpListener::bind(grpc_address)
            .await
            .with_context(|| {
                format!(
                    "binding the OTLP/gRPC receiver to {grpc_address}: choose another \
                     --otlp-grpc-port (GLASSBOX_OTLP_GRPC_PORT) or disable it with \
                     --no-otlp-grpc (GLASSBOX_OTLP_GRPC_DISABLED=true)"
                )
            })?;
        Some(grpc_listener)
    };
    let host_url = format!("http://{public_host}:{}", listener.local_addr()?.port());
    // Processes starting together on one database bootstrap one after the other.
    let startup_lock = backend.lock_startup().await?;
    bootstrap::run(&stores, &args.storage.salt, &host_url).await?;
    if let Some(lock) = startup_lock {
        lock.release().await;
    }
    let config = HttpConfig {
        salt: args.storage.salt.clone(),
        max_media_bytes: args.media_max_bytes,
        public_url,
        ..HttpConfig::default()
    };
    let state = AppState {
        stores,
        config: Arc::new(config),
    };
    let app = router(state.clone());
    tracing::info!(%address, storage = %backend.describe(), "glassbox is listening");
    // One signal stops both servers: each stops accepting and drains its in-flight calls.
    let (signalled, on_signal) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = signalled.send(true);
    });
    let stopping = move || {
        let mut on_signal = on_signal.clone();
        async move {
            // An error means the sender is gone; nothing can signal any more, so stop.
            let _ = on_signal.wait_for(|signalled| *signalled).await;
        }
    };
    let http = async {
        axum::serve(listener, app)
            .with_graceful_shutdown(stopping())
            .await
            .context("serving HTTP")
    };
    let grpc = async {
        let Some(grpc_listener) = grpc_listener else {
            return Ok(());
        };
        let grpc_address = grpc_listener.local_addr()?;
        tracing::info!(%grpc_address, "OTLP/gRPC receiver is listening");
        serve_otlp_grpc(grpc_listener, state, stopping())
            .await
            .context("serving OTLP/gRPC")
    };
    let serving = async { tokio::try_join!(http, grpc).map(|_| ()) };
    // A client that stalls mid-request (a partial head or body) would hold the graceful
    // shutdown open forever; after the signal, in-flight requests get DRAIN_DEADLINE.
    let drain_expired = {
        let stopped = stopping();
        async move {
            stopped.await;
            tokio::time::sleep(DRAIN_DEADLINE).await;
        }
    };
    tokio::select! {
        served = serving => served?,
        () = drain_expired => tracing::warn!(
            "requests still in flight {}s after the signal; stopping without them",
            DRAIN_DEADLINE.as_secs()
        ),
    }
    // In-flight requests have finished (or timed out); commit what is queued and stop
    // the writer (embedded) or close the pool (PostgreSQL). Nothing acknowledged is lost:
    // a 2xx is only sent after its commit.
    backend.shutdown().await;
    tracing::info!("glassbox stopped");
    Ok(())
}

/// How long a SIGTERM/SIGINT waits for in-flight requests before stopping anyway.
const DRAIN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
