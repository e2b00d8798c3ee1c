//! Prompt management on SQLite: versions in `prompts`, labels in `prompt_labels` (one
//! version per label and prompt, by primary key), composition references in
//! `prompt_dependencies`, protected labels in `prompt_protected_labels`.
//!
//! Every write runs in the writer's transaction and checks everything before it changes
//! anything, so a refused request leaves no trace. It also holds [`link_prompt`], the
//! prompt link of an observation at ingest.

use std::collections::HashSet;

use async_trait::async_trait;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};
use serde_json::Value;

use glassbox_model::prompts::{
    ComposeError, LATEST_LABEL, PromptSelector, PromptType, PromptVersion, PromptVersionUsage,
    ResolvedPrompt, check_protected_labels, dedup_labels, dependency_references,
    new_version_labels, resolve_prompt, validate_commit_message, validate_moved_labels,
    validate_prompt_content, validate_prompt_name,
};
use glassbox_model::time::now_micros;
use glassbox_model::{Observation, ProjectId};
use glassbox_store::{
    NewPromptVersion, Page, PageRequest, PromptActor, PromptDeletion, PromptError, PromptListQuery,
    PromptMeta, PromptResult, PromptStore, PromptUsageQuery, StoreResult,
};

use crate::SqliteStore;
use crate::connection::internal;
use crate::sql::query_optional;

const PROMPT_COLUMNS: &str = "p.id, p.name, p.version, p.type, p.prompt, p.config, p.tags, \
    p.commit_message, p.created_by, p.created_at, p.updated_at";

fn parse_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

fn parse_tags(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

fn tags_text(tags: &[String]) -> String {
    Value::from(tags.to_vec()).to_string()
}

/// A version without its labels (see [`with_labels`]).
fn prompt_from_row(row: &Row<'_>) -> rusqlite::Result<PromptVersion> {
    let prompt_type: String = row.get(3)?;
    Ok(PromptVersion {
        id: row.get(0)?,
        name: row.get(1)?,
        version: row.get(2)?,
        r#type: PromptType::parse(&prompt_type).unwrap_or(PromptType::Text),
        prompt: parse_json(&row.get::<_, String>(4)?),
        config: parse_json(&row.get::<_, String>(5)?),
        labels: Vec::new(),
        tags: parse_tags(&row.get::<_, String>(6)?),
        commit_message: row.get(7)?,
        created_by: row.get(8)?,
        created_at: row.get(9)?,
        updated_at: row.get(10)?,
    })
}

fn labels_of(
    connection: &Connection,
    project: &ProjectId,
    prompt_id: &str,
) -> StoreResult<Vec<String>> {
    connection
        .prepare_cached(
            "SELECT label FROM prompt_labels WHERE project_id = ?1 AND prompt_id = ?2 ORDER BY position",
        )
        .and_then(|mut statement| {
            statement
                .query_map(params![project.as_str(), prompt_id], |row| row.get(0))?
                .collect()
        })
        .map_err(internal)
}

fn with_labels(
    connection: &Connection,
    project: &ProjectId,
    mut version: PromptVersion,
) -> StoreResult<PromptVersion> {
    version.labels = labels_of(connection, project, &version.id)?;
    Ok(version)
}

/// The version a selector chooses, with its labels.
pub(crate) fn find_version(
    connection: &Connection,
    project: &ProjectId,
    name: &str,
    selector: &PromptSelector,
) -> StoreResult<Option<PromptVersion>> {
    let found = match selector {
        PromptSelector::Version(version) => connection
            .prepare_cached(&format!(
                "SELECT {PROMPT_COLUMNS} FROM prompts p WHERE p.project_id = ?1 AND p.name = ?2 AND p.version = ?3"
            ))
            .and_then(|mut statement| {
                statement
                    .query_row(params![project.as_str(), name, version], prompt_from_row)
                    .optional()
            }),
        PromptSelector::Label(label) => connection
            .prepare_cached(&format!(
                "SELECT {PROMPT_COLUMNS} FROM prompt_labels l JOIN prompts p \
                 ON p.project_id = l.project_id AND p.id = l.prompt_id \
                 WHERE l.project_id = ?1 AND l.prompt_name = ?2 AND l.label = ?3"
            ))
            .and_then(|mut statement| {
                statement
                    .query_row(params![project.as_str(), name, label], prompt_from_row)
                    .optional()
            }),
    }
    .map_err(internal)?;
    found
        .map(|version| with_labels(connection, project, version))
        .transpose()
}

/// Every version of a prompt with its labels, by version ascending.
pub(crate) fn versions_of(
    connection: &Connection,
    project: &ProjectId,
    name: &str,
) -> StoreResult<Vec<PromptVersion>> {
    let versions: Vec<PromptVersion> = connection
        .prepare_cached(&format!(
            "SELECT {PROMPT_COLUMNS} FROM prompts p WHERE p.project_id = ?1 AND p.name = ?2 ORDER BY p.version"
        ))
        .and_then(|mut statement| {
            statement
                .query_map(params![project.as_str(), name], prompt_from_row)?
                .collect()
        })
        .map_err(internal)?;
    versions
        .into_iter()
        .map(|version| with_labels(connection, project, version))
        .collect()
}

fn protected_labels(connection: &Connection, project: &ProjectId) -> StoreResult<Vec<String>> {
    connection
        .prepare_cached(
            "SELECT label FROM prompt_protected_labels WHERE project_id = ?1 ORDER BY label",
        )
        .and_then(|mut statement| {
            statement
                .query_map(params![project.as_str()], |row| row.get(0))?
                .collect()
        })
        .map_err(internal)
}

/// Refuses a change of `touched` labels when the actor may not touch protected ones.
fn guard_protected<'a>(
    connection: &Connection,
    project: &ProjectId,
    actor: PromptActor,
    touched: impl IntoIterator<Item = &'a str>,
) -> PromptResult<()> {
    if actor.may_change_protected_labels() {
        return Ok(());
    }
    let protected = protected_labels(connection, project)?;
    if protected.is_empty() {
        return Ok(());
    }
    check_protected_labels(touched, &protected).map_err(PromptError::Forbidden)
}

/// Resolves `root` through the prompts of the project as `connection` sees them.
fn resolve_in(
    connection: &Connection,
    project: &ProjectId,
    root: &PromptVersion,
) -> Result<ResolvedPrompt, ComposeError<glassbox_store::StoreError>> {
    resolve_prompt(root, |reference| {
        find_version(connection, project, &reference.name, &reference.selector)
    })
}

fn compose_error(error: ComposeError<glassbox_store::StoreError>) -> PromptError {
    match error {
        ComposeError::Lookup(store) => PromptError::Store(store),
        other => PromptError::Invalid(other.to_string()),
    }
}

/// The outcome of a write for the writer: a store failure rolls the work back (it may
/// have written part of it); a refusal is returned as is (refusals happen before any
/// change).
fn in_transaction<T>(result: PromptResult<T>) -> StoreResult<PromptResult<T>> {
    match result {
        Err(PromptError::Store(error)) => Err(error),
        other => Ok(other),
    }
}

fn touch(
    connection: &Connection,
    project: &ProjectId,
    prompt_id: &str,
    now: i64,
) -> StoreResult<()> {
    connection
        .prepare_cached("UPDATE prompts SET updated_at = ?3 WHERE project_id = ?1 AND id = ?2")
        .and_then(|mut statement| statement.execute(params![project.as_str(), prompt_id, now]))
        .map(drop)
        .map_err(internal)
}

/// Puts `label` on `prompt_id` (after its other labels), taking it from the version of
/// the same prompt that had it; that version's `updated_at` moves to `now`.
fn put_label(
    connection: &Connection,
    project: &ProjectId,
    name: &str,
    label: &str,
    prompt_id: &str,
    now: i64,
) -> StoreResult<()> {
    let holder: Option<String> = query_optional(
        connection,
        "SELECT prompt_id FROM prompt_labels WHERE project_id = ?1 AND prompt_name = ?2 AND label = ?3",
        params![project.as_str(), name, label],
        |row| row.get(0),
    )?;
    if holder.as_deref() == Some(prompt_id) {
        return Ok(());
    }
    if let Some(holder) = holder {
        touch(connection, project, &holder, now)?;
    }
    connection
        .prepare_cached(
            "INSERT OR REPLACE INTO prompt_labels (project_id, prompt_name, label, prompt_id, position) \
             VALUES (?1, ?2, ?3, ?4, (SELECT COALESCE(MAX(position), 0) + 1 FROM prompt_labels \
             WHERE project_id = ?1 AND prompt_id = ?4))",
        )
        .and_then(|mut statement| statement.execute(params![project.as_str(), name, label, prompt_id]))
        .map(drop)
        .map_err(internal)
}

fn create_version(
    connection: &Connection,
    project: &ProjectId,
    new: NewPromptVersion,
    actor: PromptActor,
) -> PromptResult<PromptVersion> {
    validate_prompt_name(&new.name).map_err(PromptError::Invalid)?;
    validate_prompt_content(new.r#type, &new.prompt).map_err(PromptError::Invalid)?;
    validate_commit_message(new.commit_message.as_deref()).map_err(PromptError::Invalid)?;
    let labels = new_version_labels(&new.labels).map_err(PromptError::Invalid)?;
    let existing = versions_of(connection, project, &new.name)?;
    if let Some(previous) = existing.last()
        && previous.r#type != new.r#type
    {
        return Err(PromptError::Invalid(
            "Previous versions have different prompt type. Create a new prompt with a different name."
                .to_owned(),
        ));
    }
    guard_protected(
        connection,
        project,
        actor,
        labels
            .iter()
            .map(String::as_str)
            .filter(|label| *label != LATEST_LABEL),
    )?;
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
    resolve_in(connection, project, &created).map_err(compose_error)?;

    connection
        .prepare_cached(
            "INSERT INTO prompts (project_id, id, name, version, type, prompt, config, tags, commit_message, \
             created_by, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )
        .and_then(|mut statement| {
            statement.execute(params![
                project.as_str(),
                created.id,
                created.name,
                created.version,
                created.r#type.as_str(),
                created.prompt.to_string(),
                created.config.to_string(),
                tags_text(&created.tags),
                created.commit_message,
                created.created_by,
                created.created_at,
                created.updated_at,
            ])
        })
        .map_err(internal)?;
    for label in &created.labels {
        put_label(connection, project, &created.name, label, &created.id, now)?;
    }
    if existing.iter().any(|version| version.tags != created.tags) {
        connection
            .prepare_cached(
                "UPDATE prompts SET tags = ?3, updated_at = ?4 WHERE project_id = ?1 AND name = ?2 AND tags <> ?3",
            )
            .and_then(|mut statement| {
                statement.execute(params![project.as_str(), created.name, tags_text(&created.tags), now])
            })
            .map_err(internal)?;
    }
    for reference in dependency_references(&created.prompt) {
        let (child_version, child_label) = match &reference.selector {
            PromptSelector::Version(version) => (Some(*version), None),
            PromptSelector::Label(label) => (None, Some(label.clone())),
        };
        connection
            .prepare_cached(
                "INSERT INTO prompt_dependencies (project_id, parent_id, child_name, child_version, child_label) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut statement| {
                statement.execute(params![
                    project.as_str(),
                    created.id,
                    reference.name,
                    child_version,
                    child_label
                ])
            })
            .map_err(internal)?;
    }
    // Generations that named this version before it existed now link to it.
    connection
        .prepare_cached(
            "UPDATE observations SET prompt_id = ?4 WHERE project_id = ?1 AND prompt_name = ?2 \
             AND prompt_version = ?3 AND prompt_id IS NULL",
        )
        .and_then(|mut statement| {
            statement.execute(params![
                project.as_str(),
                created.name,
                created.version,
                created.id
            ])
        })
        .map_err(internal)?;
    Ok(created)
}

fn add_labels(
    connection: &Connection,
    project: &ProjectId,
    name: &str,
    version: i64,
    labels: Vec<String>,
    actor: PromptActor,
) -> PromptResult<PromptVersion> {
    let labels = validate_moved_labels(&labels).map_err(PromptError::Invalid)?;
    let selector = PromptSelector::Version(version);
    let target = find_version(connection, project, name, &selector)?.ok_or_else(|| {
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
        connection,
        project,
        actor,
        added.iter().map(|label| label.as_str()),
    )?;
    // A label moved onto this version could close a cycle: some prompt reachable from it
    // references this prompt by that label. Walking from the version finds it (a
    // reference back to its own name is a cycle whatever it selects).
    if let Err(error @ ComposeError::Circular(_)) = resolve_in(connection, project, &target) {
        return Err(compose_error(error));
    }
    let now = now_micros();
    for label in &added {
        put_label(connection, project, name, label, &target.id, now)?;
    }
    touch(connection, project, &target.id, now)?;
    let updated = find_version(connection, project, name, &selector)?;
    updated.ok_or_else(|| internal("the relabelled version disappeared").into())
}

/// A reference to the prompt being deleted: (parent name, parent version, referenced
/// version or label, parent id).
type Dependent = (String, i64, Option<i64>, Option<String>, String);

fn delete_versions(
    connection: &Connection,
    project: &ProjectId,
    name: &str,
    deletion: &PromptDeletion,
    actor: PromptActor,
) -> PromptResult<u64> {
    let versions = versions_of(connection, project, name)?;
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
        connection,
        project,
        actor,
        doomed
            .iter()
            .flat_map(|version| version.labels.iter().map(String::as_str))
            .filter(|label| *label != LATEST_LABEL),
    )?;
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
    let dependents: Vec<Dependent> = connection
        .prepare_cached(
            "SELECT p.name, p.version, d.child_version, d.child_label, d.parent_id FROM prompt_dependencies d \
             JOIN prompts p ON p.project_id = d.project_id AND p.id = d.parent_id \
             WHERE d.project_id = ?1 AND d.child_name = ?2 ORDER BY p.name, p.version",
        )
        .and_then(|mut statement| {
            statement
                .query_map(params![project.as_str(), name], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?))
                })?
                .collect()
        })
        .map_err(internal)?;
    let mut blocking: Vec<String> = Vec::new();
    for (parent_name, parent_version, child_version, child_label, parent_id) in dependents {
        if doomed_ids.contains(parent_id.as_str()) {
            continue;
        }
        let broken = match (child_version, child_label) {
            (Some(version), _) => doomed_numbers.contains(&version),
            (None, Some(label)) => !label_survives(&label),
            (None, None) => false,
        };
        let described = format!("'{parent_name}' (version {parent_version})");
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
    for version in &doomed {
        connection
            .prepare_cached("DELETE FROM prompts WHERE project_id = ?1 AND id = ?2")
            .and_then(|mut statement| statement.execute(params![project.as_str(), version.id]))
            .map_err(internal)?;
    }
    if latest_deleted && let Some(highest) = remaining.iter().max_by_key(|version| version.version)
    {
        let now = now_micros();
        put_label(connection, project, name, LATEST_LABEL, &highest.id, now)?;
        touch(connection, project, &highest.id, now)?;
    }
    Ok(doomed.len() as u64)
}

fn set_protected(
    connection: &Connection,
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
    connection
        .execute(
            "DELETE FROM prompt_protected_labels WHERE project_id = ?1",
            params![project.as_str()],
        )
        .map_err(internal)?;
    let now = now_micros();
    for label in &labels {
        connection
            .prepare_cached(
                "INSERT INTO prompt_protected_labels (project_id, label, created_at) VALUES (?1, ?2, ?3)",
            )
            .and_then(|mut statement| statement.execute(params![project.as_str(), label, now]))
            .map_err(internal)?;
    }
    Ok(labels)
}

/// WHERE conditions (on `prompts p`) and their parameters for the list filters; `?1` is
/// the project.
fn list_filters(project: &ProjectId, query: &PromptListQuery) -> (String, Vec<SqlValue>) {
    let mut conditions = vec!["p.project_id = ?1".to_owned()];
    let mut values: Vec<SqlValue> = vec![SqlValue::Text(project.as_str().to_owned())];
    let mut add = |condition: &str, value: SqlValue| {
        values.push(value);
        conditions.push(condition.replace('#', &format!("?{}", values.len())));
    };
    if let Some(name) = &query.name {
        add("p.name = #", SqlValue::Text(name.clone()));
    }
    if let Some(version) = query.version {
        add("p.version = #", SqlValue::Integer(version));
    }
    if let Some(label) = &query.label {
        add(
            "EXISTS (SELECT 1 FROM prompt_labels l WHERE l.project_id = p.project_id AND l.prompt_id = p.id AND l.label = #)",
            SqlValue::Text(label.clone()),
        );
    }
    if let Some(tag) = &query.tag {
        add(
            "EXISTS (SELECT 1 FROM json_each(p.tags) WHERE json_each.value = #)",
            SqlValue::Text(tag.clone()),
        );
    }
    if let Some(from) = query.from_updated_at {
        add("p.updated_at >= #", SqlValue::Integer(from));
    }
    if let Some(to) = query.to_updated_at {
        add("p.updated_at < #", SqlValue::Integer(to));
    }
    (conditions.join(" AND "), values)
}

fn list(
    connection: &Connection,
    project: &ProjectId,
    query: &PromptListQuery,
    page: PageRequest,
) -> StoreResult<Page<PromptMeta>> {
    let (conditions, values) = list_filters(project, query);
    let total_items: i64 = connection
        .query_row(
            &format!("SELECT COUNT(DISTINCT p.name) FROM prompts p WHERE {conditions}"),
            params_from_iter(values.iter()),
            |row| row.get(0),
        )
        .map_err(internal)?;
    let mut page_values = values.clone();
    page_values.push(SqlValue::Integer(i64::from(page.limit)));
    page_values.push(SqlValue::Integer(page.offset() as i64));
    let names: Vec<String> = connection
        .prepare(&format!(
            "SELECT p.name FROM prompts p WHERE {conditions} GROUP BY p.name ORDER BY p.name LIMIT ?{} OFFSET ?{}",
            values.len() + 1,
            values.len() + 2
        ))
        .and_then(|mut statement| {
            statement
                .query_map(params_from_iter(page_values.iter()), |row| row.get(0))?
                .collect()
        })
        .map_err(internal)?;
    let mut items = Vec::with_capacity(names.len());
    let versions_sql = format!(
        "SELECT {PROMPT_COLUMNS} FROM prompts p WHERE {conditions} AND p.name = ?{} ORDER BY p.version",
        values.len() + 1
    );
    for name in names {
        let mut name_values = values.clone();
        name_values.push(SqlValue::Text(name.clone()));
        let versions: Vec<PromptVersion> = connection
            .prepare_cached(&versions_sql)
            .and_then(|mut statement| {
                statement
                    .query_map(params_from_iter(name_values.iter()), prompt_from_row)?
                    .collect()
            })
            .map_err(internal)?;
        let Some(last) = versions.last() else {
            continue;
        };
        let mut labels: Vec<String> = Vec::new();
        for version in &versions {
            labels.extend(labels_of(connection, project, &version.id)?);
        }
        labels.sort();
        labels.dedup();
        items.push(PromptMeta {
            name,
            r#type: last.r#type,
            versions: versions.iter().map(|version| version.version).collect(),
            labels,
            tags: last.tags.clone(),
            last_updated_at: versions
                .iter()
                .map(|version| version.updated_at)
                .max()
                .unwrap_or(0),
            last_config: last.config.clone(),
        });
    }
    Ok(Page {
        items,
        total_items: total_items.max(0) as u64,
    })
}

/// The prompt link of an observation: the id of the version its `prompt_name` and
/// `prompt_version` name in the project, or none. Called at every re-fold, so that the
/// link follows the version that exists when the generation is (re)written.
pub(crate) fn link_prompt(
    connection: &Connection,
    project: &ProjectId,
    observation: &mut Observation,
) -> StoreResult<()> {
    observation.prompt_id = match (&observation.prompt_name, observation.prompt_version) {
        (Some(name), Some(version)) => query_optional(
            connection,
            "SELECT id FROM prompts WHERE project_id = ?1 AND name = ?2 AND version = ?3",
            params![project.as_str(), name, version],
            |row| row.get(0),
        )?,
        _ => None,
    };
    Ok(())
}

#[async_trait]
impl PromptStore for SqliteStore {
    async fn create_prompt_version(
        &self,
        project: &ProjectId,
        new: NewPromptVersion,
        actor: PromptActor,
    ) -> PromptResult<PromptVersion> {
        let project = project.clone();
        self.writer
            .write(move |connection| {
                in_transaction(create_version(connection, &project, new, actor))
            })
            .await?
    }

    async fn get_prompt_version(
        &self,
        project: &ProjectId,
        name: &str,
        selector: &PromptSelector,
    ) -> PromptResult<Option<PromptVersion>> {
        let (project, name, selector) = (project.clone(), name.to_owned(), selector.clone());
        Ok(self
            .readers
            .read(move |connection| find_version(connection, &project, &name, &selector))
            .await?)
    }

    async fn resolve_prompt(
        &self,
        project: &ProjectId,
        name: &str,
        selector: &PromptSelector,
    ) -> PromptResult<Option<ResolvedPrompt>> {
        let (project, name, selector) = (project.clone(), name.to_owned(), selector.clone());
        self.readers
            .read(move |connection| {
                let Some(root) = find_version(connection, &project, &name, &selector)? else {
                    return Ok(Ok(None));
                };
                Ok(resolve_in(connection, &project, &root)
                    .map(Some)
                    .map_err(compose_error))
            })
            .await?
    }

    async fn list_prompts(
        &self,
        project: &ProjectId,
        query: &PromptListQuery,
        page: PageRequest,
    ) -> PromptResult<Page<PromptMeta>> {
        let (project, query) = (project.clone(), query.clone());
        Ok(self
            .readers
            .read(move |connection| list(connection, &project, &query, page))
            .await?)
    }

    async fn add_prompt_labels(
        &self,
        project: &ProjectId,
        name: &str,
        version: i64,
        labels: Vec<String>,
        actor: PromptActor,
    ) -> PromptResult<PromptVersion> {
        let (project, name) = (project.clone(), name.to_owned());
        self.writer
            .write(move |connection| {
                in_transaction(add_labels(
                    connection, &project, &name, version, labels, actor,
                ))
            })
            .await?
    }

    async fn delete_prompt_versions(
        &self,
        project: &ProjectId,
        name: &str,
        deletion: &PromptDeletion,
        actor: PromptActor,
    ) -> PromptResult<u64> {
        let (project, name, deletion) = (project.clone(), name.to_owned(), deletion.clone());
        self.writer
            .write(move |connection| {
                in_transaction(delete_versions(
                    connection, &project, &name, &deletion, actor,
                ))
            })
            .await?
    }

    async fn protected_prompt_labels(&self, project: &ProjectId) -> PromptResult<Vec<String>> {
        let project = project.clone();
        Ok(self
            .readers
            .read(move |connection| protected_labels(connection, &project))
            .await?)
    }

    async fn set_protected_prompt_labels(
        &self,
        project: &ProjectId,
        labels: Vec<String>,
    ) -> PromptResult<Vec<String>> {
        let project = project.clone();
        self.writer
            .write(move |connection| in_transaction(set_protected(connection, &project, labels)))
            .await?
    }

    async fn prompt_usage(
        &self,
        project: &ProjectId,
        name: &str,
        query: &PromptUsageQuery,
    ) -> PromptResult<Vec<PromptVersionUsage>> {
        let (project, name, query) = (project.clone(), name.to_owned(), *query);
        self.readers
            .read(move |connection| {
                let versions = versions_of(connection, &project, &name)?;
                if versions.is_empty() {
                    return Ok(Err(PromptError::NotFound(format!(
                        "Prompt not found: '{name}'"
                    ))));
                }
                crate::prompt_usage::usage(connection, &project, versions, &query).map(Ok)
            })
            .await?
    }
}
