//! `glassbox keys create|list|revoke`: API key management from the command line.

use clap::{Args, Subcommand};

use glassbox_model::ProjectId;
use glassbox_model::time::format_iso;

use crate::StorageArgs;

#[derive(Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    action: KeysAction,
    #[command(flatten)]
    storage: StorageArgs,
}

#[derive(Subcommand)]
enum KeysAction {
    /// Create a key pair and print it (the secret is shown only once).
    Create {
        /// Project id.
        #[arg(long)]
        project: Option<String>,
        #[arg(long)]
        note: Option<String>,
    },
    /// List the keys of a project (secrets are never shown).
    List {
        #[arg(long)]
        project: Option<String>,
    },
    /// Revoke a key by its public key or id.
    Revoke { key: String },
}

/// `pk-lf-<uuid>` / `sk-lf-<uuid>`, as Langfuse generates them.
pub fn new_key_pair() -> (String, String) {
    (
        format!("pk-lf-{}", uuid::Uuid::new_v4()),
        format!("sk-lf-{}", uuid::Uuid::new_v4()),
    )
}

async fn resolve_project(
    stores: &glassbox_store::Stores,
    given: Option<String>,
) -> anyhow::Result<ProjectId> {
    let Some(project) = given else {
        anyhow::bail!("pass --project <project id>");
    };
    let project = ProjectId(project);
    if stores.admin.get_project(&project).await?.is_none() {
        anyhow::bail!("project `{project}` does not exist");
    }
    Ok(project)
}

pub async fn run(args: KeysArgs) -> anyhow::Result<()> {
    let (backend, stores) = crate::backend::open_stores(&args.storage, false).await?;
    match args.action {
        KeysAction::Create { project, note } => {
            let project = resolve_project(&stores, project).await?;
            let (public_key, secret_key) = new_key_pair();
            let key = crate::bootstrap::api_key(
                &project,
                &public_key,
                &secret_key,
                &args.storage.salt,
                note.as_deref(),
            );
            stores.admin.insert_api_key(key).await?;
            println!("LANGFUSE_PUBLIC_KEY={public_key}");
            println!("LANGFUSE_SECRET_KEY={secret_key}");
        }
        KeysAction::List { project } => {
            let project = resolve_project(&stores, project).await?;
            for key in stores.admin.list_api_keys(&project).await? {
                println!(
                    "{}\t{}\t{}\t{}",
                    key.public_key,
                    key.display_secret_key,
                    format_iso(key.created_at),
                    key.note.unwrap_or_default()
                );
            }
        }
        KeysAction::Revoke { key } => {
            if !stores.admin.delete_api_key(&key).await? {
                anyhow::bail!("no key `{key}`");
            }
            println!("revoked {key}");
        }
    }
    backend.shutdown().await;
    Ok(())
}
