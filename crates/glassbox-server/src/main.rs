//! The `glassbox` binary: parses the command line, opens the store, bootstraps the first
//! organization/project/key, and serves HTTP until SIGINT or SIGTERM.
//!
//! Invariant: this is the only crate that reads the environment and names backends.

mod bootstrap;
mod keys;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use glassbox_http::{AppState, HttpConfig, router};
use glassbox_store::Stores;
use glassbox_store_sqlite::SqliteStore;

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
}

#[derive(Args, Clone)]
pub struct StorageArgs {
    /// Where the embedded database lives.
    #[arg(long, env = "GLASSBOX_DATA_DIR", default_value = "./glassbox-data")]
    data_dir: PathBuf,
    /// Salt of the API key hashes (Langfuse's `SALT`). Changing it invalidates every key.
    #[arg(long, env = "SALT", default_value = "", hide_env_values = true)]
    salt: String,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to bind. Loopback by default; use 0.0.0.0 to accept remote clients.
    #[arg(long, env = "GLASSBOX_HOST", default_value = "127.0.0.1")]
    host: String,
    #[arg(long, env = "GLASSBOX_PORT", default_value_t = 3000)]
    port: u16,
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
        }
    })
}

fn open_stores(storage: &StorageArgs) -> anyhow::Result<(Arc<SqliteStore>, Stores)> {
    let backend = SqliteStore::open(&storage.data_dir)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("opening the data directory {}", storage.data_dir.display()))?;
    let stores = Stores::from_backend(Arc::clone(&backend));
    Ok((backend, stores))
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let (backend, stores) = open_stores(&args.storage)?;
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
    let host_url = format!("http://{public_host}:{}", listener.local_addr()?.port());
    bootstrap::run(&stores, &args.storage.salt, &host_url).await?;
    let config = HttpConfig {
        salt: args.storage.salt.clone(),
        ..HttpConfig::default()
    };
    let app = router(AppState {
        stores,
        config: Arc::new(config),
    });
    tracing::info!(%address, data_dir = %args.storage.data_dir.display(), "glassbox is listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving HTTP")?;
    // In-flight requests have finished; commit what is queued and stop the writer.
    backend.shutdown();
    tracing::info!("glassbox stopped");
    Ok(())
}

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
