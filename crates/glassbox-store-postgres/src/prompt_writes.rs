//! The prompt write transactions: create a version, move labels, delete versions, set
//! protected labels.
//!
//! Several processes share the database, so every write first takes the project's
//! prompt lock (`pg_advisory_xact_lock`, held until commit): version numbers, `latest`,
//! label moves, composition checks across names (cycles) and the dependents that block a
//! delete are then decided on a state no other writer changes meanwhile; the unique
//! constraints (`project_id` first) back this up. Everything is checked before anything
//! changes, and a refusal rolls the transaction back. Before commit each write runs
//! `pg_notify('glassbox_prompts', project)` so every process drops its cached prompts.

use std::collections::HashSet;

use serde_json::Value;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};

use glassbox_model::ProjectId;
use glassbox_model::prompts::{
    ComposeError, LATEST_LABEL, PromptSelector, PromptVersion, check_protected_labels,
    dedup_labels, dependency_references, new_version_labels, validate_commit_message,
    validate_moved_labels, validate_prompt_content, validate_prompt_name,
};
use glassbox_model::time::now_micros;
use glassbox_store::{
    NewPromptVersion, PromptActor, PromptDeletion, PromptError, PromptResult, StoreError,
};

use crate::internal;
use crate::prompts::{
    compose_error, find_version, protected_labels, resolve_in, tags_text, versions_of,
};

/// Starts a prompt write of the project: a transaction holding the project's prompt lock.
async fn begin_write(
    pool: &PgPool,
    project: &ProjectId,
) -> PromptResult<Transaction<'static, Postgres>> {
    let mut tx = pool.begin().await.map_err(internal)?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("glassbox_prompts:{}", project.as_str()))
        .execute(&mut *tx)
        .await
        .map_err(internal)?;
    Ok(tx)
}

/// Tells every process (at commit) that the project's prompts changed, then commits.
async fn notify_and_commit(
    mut tx: Transaction<'static, Postgres>,
    project: &ProjectId,
) -> PromptResult<()> {
    sqlx::query("SELECT pg_notify('glassbox_prompts', $1)")
        .bind(project.as_str())
        .execute(&mut *tx)
        .await
        .map_err(internal)?;
    tx.commit().await.map_err(internal)?;
    Ok(())
}

/// Refuses a change of `touched` labels when the actor may not touch protected ones.
async fn guard_protected<'a>(
    connection: &mut PgConnection,
    project: &ProjectId,
    actor: PromptActor,
    touched: impl IntoIterator<Item = &'a str>,
) -> PromptResult<()> {
    if actor.may_change_protected_labels() {
        return Ok(());
    }
    let protected = protected_labels(connection, project).await?;
    if protected.is_empty() {
        return Ok(());
    }
    check_protected_labels(touched, &protected).map_err(PromptError::Forbidden)
}

async fn touch(
    connection: &mut PgConnection,
    project: &ProjectId,
    prompt_id: &str,
    now: i64,
) -> PromptResult<()> {
    sqlx::query("UPDATE prompts SET updated_at = $3 WHERE project_id = $1 AND id = $2")
        .bind(project.as_str())
        .bind(prompt_id)
        .bind(now)
        .execute(connection)
        .await
        .map_err(internal)?;
    Ok(())
}

/// Puts `label` on `prompt_id` (after its other labels), taking it from the version of
/// the same prompt that had it; that version's `updated_at` moves to `now`.
async fn put_label(
    connection: &mut PgConnection,
    project: &ProjectId,
    name: &str,
    label: &str,
    prompt_id: &str,
    now: i64,
) -> PromptResult<()> {
    let holder: Option<String> = sqlx::query_scalar(
        "SELECT prompt_id FROM prompt_labels WHERE project_id = $1 AND prompt_name = $2 AND label = $3",
    )
    .bind(project.as_str())
    .bind(name)
    .bind(label)
    .fetch_optional(&mut *connection)
    .await
    .map_err(internal)?;
    if holder.as_deref() == Some(prompt_id) {
        return Ok(());
    }
    if let Some(holder) = holder {
        touch(connection, project, &holder, now).await?;
    }
    sqlx::query(
        "INSERT INTO prompt_labels (project_id, prompt_name, label, prompt_id, position) \
         VALUES ($1, $2, $3, $4, (SELECT COALESCE(MAX(position), 0) + 1 FROM prompt_labels \
         WHERE project_id = $1 AND prompt_id = $4)) \
         ON CONFLICT (project_id, prompt_name, label) \
         DO UPDATE SET prompt_id = EXCLUDED.prompt_id, position = EXCLUDED.position",
    )
    .bind(project.as_str())
    .bind(name)
    .bind(label)
    .bind(prompt_id)
    .execute(connection)
    .await
    .map_err(internal)?;
    Ok(())
}

pub(crate) async fn create_version(
    pool: &PgPool,
    project: &ProjectId,
    new: NewPromptVersion,
    actor: PromptActor,
) -> PromptResult<PromptVersion> {
    validate_prompt_name(&new.name).map_err(PromptError::Invalid)?;
    validate_prompt_content(new.r#type, &new.prompt).map_err(PromptError::Invalid)?;
    validate_commit_message(new.commit_message.as_deref()).map_err(PromptError::Invalid)?;
    let labels = new_version_labels(&new.labels).map_err(PromptError::Invalid)?;
    let mut tx = begin_write(pool, project).await?;
    let existing = versions_of(&mut tx, project, &new.name).await?;
    if let Some(previous) = existing.last()
        && previous.r#type != new.r#type
    {
        return Err(PromptError::Invalid(
            "Previous versions have different prompt type. Create a new prompt with a different name."
                .to_owned(),
        ));
    }
    guard_protected(
        &mut tx,
        project,
        actor,
        labels
            .iter()
            .map(String::as_str)
            .filter(|label| *label != LATEST_LABEL),
    )
    .await?;
    let now = now_micros();
    let mut tags: Vec<String> = Vec::new();
    for tag in new
        .tags
        .clone()
        .unwrap_or_else(|| existing.last().map(|v| v.tags.clone()).unwrap_or_default())
    {
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    let created = PromptVersion {
        id: new.id,
        name: new.name,
        version: existing.iter().map(|v| v.version).max().unwrap_or(0) + 1,
        r#type: new.r#type,
        prompt: new.prompt,
        config: if new.config.is_null() {
            Value::Object(Default::default())
        } else {
            new.config
        },
        labels,
        tags,
        commit_message: new.commit_message,
        created_by: new.created_by,
        created_at: now,
        updated_at: now,
    };
    // References must exist, be text and not lead back to this prompt. They are looked
    // up before the insert: a reference to this prompt's own name is refused whatever it
    // selects, so what the new labels would change does not matter.
    resolve_in(&mut tx, project, &created)
        .await
        .map_err(compose_error)?;

    let inserted = sqlx::query(
        "INSERT INTO prompts (project_id, id, name, version, type, prompt, config, tags, commit_message, \
         created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(project.as_str())
    .bind(&created.id)
    .bind(&created.name)
    .bind(created.version)
    .bind(created.r#type.as_str())
    .bind(created.prompt.to_string())
    .bind(created.config.to_string())
    .bind(tags_text(&created.tags))
    .bind(&created.commit_message)
    .bind(&created.created_by)
    .bind(created.created_at)
    .bind(created.updated_at)
    .execute(&mut *tx)
    .await;
    match inserted {
        Ok(_) => {}
        Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
            return Err(StoreError::Conflict(format!(
                "prompt version id `{}` or version {} of '{}' exists already",
                created.id, created.version, created.name
            ))
            .into());
        }
        Err(error) => return Err(internal(error).into()),
    }
    for label in &created.labels {
        put_label(&mut tx, project, &created.name, label, &created.id, now).await?;
    }
    if existing.iter().any(|version| version.tags != created.tags) {
        sqlx::query(
            "UPDATE prompts SET tags = $3, updated_at = $4 WHERE project_id = $1 AND name = $2 AND tags <> $3",
        )
        .bind(project.as_str())
        .bind(&created.name)
        .bind(tags_text(&created.tags))
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(internal)?;
    }
    let references = dependency_references(&created.prompt);
    if !references.is_empty() {
        let mut names = Vec::with_capacity(references.len());
        let mut versions = Vec::with_capacity(references.len());
        let mut labels = Vec::with_capacity(references.len());
        for reference in references {
            let (version, label) = match reference.selector {
                PromptSelector::Version(version) => (Some(version), None),
                PromptSelector::Label(label) => (None, Some(label)),
            };
            names.push(reference.name);
            versions.push(version);
            labels.push(label);
        }
        sqlx::query(
            "INSERT INTO prompt_dependencies (project_id, parent_id, child_name, child_version, child_label) \
             SELECT $1, $2, * FROM UNNEST($3::text[], $4::bigint[], $5::text[])",
        )
        .bind(project.as_str())
        .bind(&created.id)
        .bind(names)
        .bind(versions)
        .bind(labels)
        .execute(&mut *tx)
        .await
        .map_err(internal)?;
    }
    // Generations that named this version before it existed now link to it.
    sqlx::query(
        "UPDATE observations SET prompt_id = $4 WHERE project_id = $1 AND prompt_name = $2 \
         AND prompt_version = $3 AND prompt_id IS NULL",
    )
    .bind(project.as_str())
    .bind(&created.name)
    .bind(created.version)
    .bind(&created.id)
    .execute(&mut *tx)
    .await
    .map_err(internal)?;
    notify_and_commit(tx, project).await?;
    Ok(created)
}

pub(crate) async fn add_labels(
    pool: &PgPool,
    project: &ProjectId,
    name: &str,
    version: i64,
    labels: Vec<String>,
    actor: PromptActor,
) -> PromptResult<PromptVersion> {
    let labels = validate_moved_labels(&labels).map_err(PromptError::Invalid)?;
    let selector = PromptSelector::Version(version);
    let mut tx = begin_write(pool, project).await?;
    let target = find_version(&mut tx, project, name, &selector)
        .await?
        .ok_or_else(|| {
            PromptError::NotFound(format!(
                "Prompt not found: '{name}' {}",
                selector.describe()
            ))
        })?;
    let added: Vec<&String> = labels
        .iter()
        .filter(|label| !target.labels.contains(label))
        .collect();
    if added.is_empty() {
        return Ok(target);
    }
    guard_protected(
        &mut tx,
        project,
        actor,
        added.iter().map(|label| label.as_str()),
    )
    .await?;
    // A label moved onto this version could close a cycle: some prompt reachable from it
    // references this prompt by that label. Walking from the version finds it (a
    // reference back to its own name is a cycle whatever it selects).
    if let Err(error @ ComposeError::Circular(_)) = resolve_in(&mut tx, project, &target).await {
        return Err(compose_error(error));
    }
    let now = now_micros();
    for label in &added {
        put_label(&mut tx, project, name, label, &target.id, now).await?;
    }
    touch(&mut tx, project, &target.id, now).await?;
    let updated = find_version(&mut tx, project, name, &selector)
        .await?
        .ok_or_else(|| StoreError::Internal("the relabelled version disappeared".into()))?;
    notify_and_commit(tx, project).await?;
    Ok(updated)
}

/// A version of another prompt that references the one being deleted.
struct Dependent {
    parent_name: String,
    parent_version: i64,
    parent_id: String,
    child_version: Option<i64>,
    child_label: Option<String>,
}

/// (parent name, parent version, parent id, referenced version, referenced label).
type DependentRow = (String, i64, String, Option<i64>, Option<String>);

async fn dependents_of(
    connection: &mut PgConnection,
    project: &ProjectId,
    name: &str,
) -> PromptResult<Vec<Dependent>> {
    let rows: Vec<DependentRow> = sqlx::query_as(
        "SELECT p.name, p.version, d.parent_id, d.child_version, d.child_label \
         FROM prompt_dependencies d JOIN prompts p ON p.project_id = d.project_id AND p.id = d.parent_id \
         WHERE d.project_id = $1 AND d.child_name = $2 ORDER BY p.name COLLATE \"C\", p.version",
    )
    .bind(project.as_str())
    .bind(name)
    .fetch_all(connection)
    .await
    .map_err(internal)?;
    Ok(rows
        .into_iter()
        .map(
            |(parent_name, parent_version, parent_id, child_version, child_label)| Dependent {
                parent_name,
                parent_version,
                parent_id,
                child_version,
                child_label,
            },
        )
        .collect())
}

pub(crate) async fn delete_versions(
    pool: &PgPool,
    project: &ProjectId,
    name: &str,
    deletion: &PromptDeletion,
    actor: PromptActor,
) -> PromptResult<u64> {
    let mut tx = begin_write(pool, project).await?;
    let versions = versions_of(&mut tx, project, name).await?;
    let (doomed, remaining): (Vec<PromptVersion>, Vec<PromptVersion>) =
        versions.into_iter().partition(|version| {
            deletion
                .version
                .is_none_or(|wanted| version.version == wanted)
                && deletion
                    .label
                    .as_ref()
                    .is_none_or(|label| version.labels.contains(label))
        });
    if doomed.is_empty() {
        let mut message = format!("Prompt not found: '{name}'");
        if let Some(version) = deletion.version {
            message.push_str(&format!(" with version {version}"));
        }
        if let Some(label) = &deletion.label {
            message.push_str(&format!(" with label '{label}'"));
        }
        return Err(PromptError::NotFound(message));
    }
    guard_protected(
        &mut tx,
        project,
        actor,
        doomed
            .iter()
            .flat_map(|version| version.labels.iter().map(String::as_str))
            .filter(|label| *label != LATEST_LABEL),
    )
    .await?;
    let doomed_ids: HashSet<&str> = doomed.iter().map(|version| version.id.as_str()).collect();
    let doomed_numbers: HashSet<i64> = doomed.iter().map(|version| version.version).collect();
    let label_survives = |label: &str| {
        if label == LATEST_LABEL {
            !remaining.is_empty()
        } else {
            remaining
                .iter()
                .any(|version| version.labels.iter().any(|held| held == label))
        }
    };
    let mut blocking: Vec<String> = Vec::new();
    for dependent in dependents_of(&mut tx, project, name).await? {
        if doomed_ids.contains(dependent.parent_id.as_str()) {
            continue;
        }
        let broken = match (dependent.child_version, &dependent.child_label) {
            (Some(version), _) => doomed_numbers.contains(&version),
            (None, Some(label)) => !label_survives(label),
            (None, None) => false,
        };
        let described = format!(
            "'{}' (version {})",
            dependent.parent_name, dependent.parent_version
        );
        if broken && !blocking.contains(&described) {
            blocking.push(described);
        }
    }
    if !blocking.is_empty() {
        return Err(PromptError::Invalid(format!(
            "Other prompts are depending on the prompt versions you are trying to delete: {}. Remove their references first.",
            blocking.join(", ")
        )));
    }
    let latest_deleted = doomed
        .iter()
        .any(|version| version.labels.iter().any(|label| label == LATEST_LABEL));
    let ids: Vec<&str> = doomed.iter().map(|version| version.id.as_str()).collect();
    sqlx::query("DELETE FROM prompts WHERE project_id = $1 AND id = ANY($2)")
        .bind(project.as_str())
        .bind(&ids)
        .execute(&mut *tx)
        .await
        .map_err(internal)?;
    if latest_deleted && let Some(highest) = remaining.iter().max_by_key(|version| version.version)
    {
        let now = now_micros();
        put_label(&mut tx, project, name, LATEST_LABEL, &highest.id, now).await?;
        touch(&mut tx, project, &highest.id, now).await?;
    }
    notify_and_commit(tx, project).await?;
    Ok(doomed.len() as u64)
}

pub(crate) async fn set_protected(
    pool: &PgPool,
    project: &ProjectId,
    labels: Vec<String>,
) -> PromptResult<Vec<String>> {
    let mut labels = dedup_labels(&labels).map_err(PromptError::Invalid)?;
    if labels.iter().any(|label| label == LATEST_LABEL) {
        return Err(PromptError::Invalid(
            "'latest' cannot be protected: it moves to every new version".to_owned(),
        ));
    }
    labels.sort();
    let mut tx = begin_write(pool, project).await?;
    sqlx::query("DELETE FROM prompt_protected_labels WHERE project_id = $1")
        .bind(project.as_str())
        .execute(&mut *tx)
        .await
        .map_err(internal)?;
    sqlx::query(
        "INSERT INTO prompt_protected_labels (project_id, label, created_at) \
         SELECT $1, label, $3 FROM UNNEST($2::text[]) AS label",
    )
    .bind(project.as_str())
    .bind(&labels)
    .bind(now_micros())
    .execute(&mut *tx)
    .await
    .map_err(internal)?;
    notify_and_commit(tx, project).await?;
    Ok(labels)
}
