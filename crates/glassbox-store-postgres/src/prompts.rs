//! `PromptStore` on PostgreSQL (0003_prompts.sql): versions in `prompts`, labels in
//! `prompt_labels` (one version per label and prompt, by primary key), composition
//! references in `prompt_dependencies`, protected labels in `prompt_protected_labels`.
//!
//! Reads and composition live here; the write transactions in [`crate::prompt_writes`],
//! the usage statistics in [`crate::prompt_usage`].

use std::collections::HashMap;

use async_trait::async_trait;
use serde_json::Value;
use sqlx::postgres::{PgRow, Postgres};
use sqlx::{PgConnection, QueryBuilder, Row, Transaction};

use glassbox_model::ProjectId;
use glassbox_model::prompts::{
    ComposeError, PromptReference, PromptSelector, PromptType, PromptVersion, PromptVersionUsage,
    ResolvedPrompt, resolve_prompt,
};
use glassbox_store::{
    NewPromptVersion, Page, PageRequest, PromptActor, PromptDeletion, PromptError, PromptListQuery,
    PromptMeta, PromptResult, PromptStore, PromptUsageQuery, StoreError, StoreResult,
};

use crate::{PgStore, internal, prompt_writes};

/// The columns [`prompt_from_row`] reads (on `prompts p`), the labels of the version in
/// their order included; a literal for `concat!`.
macro_rules! prompt_columns {
    () => {
        "p.id, p.name, p.version, p.type, p.prompt, p.config, p.tags, p.commit_message, \
         p.created_by, p.created_at, p.updated_at, \
         COALESCE((SELECT array_agg(l.label ORDER BY l.position) FROM prompt_labels l \
         WHERE l.project_id = p.project_id AND l.prompt_id = p.id), ARRAY[]::text[]) AS labels"
    };
}

fn parse_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

pub(crate) fn tags_text(tags: &[String]) -> String {
    Value::from(tags.to_vec()).to_string()
}

pub(crate) fn prompt_from_row(row: &PgRow) -> StoreResult<PromptVersion> {
    let prompt_type: String = row.try_get("type").map_err(internal)?;
    let prompt: String = row.try_get("prompt").map_err(internal)?;
    let config: String = row.try_get("config").map_err(internal)?;
    let tags: String = row.try_get("tags").map_err(internal)?;
    Ok(PromptVersion {
        id: row.try_get("id").map_err(internal)?,
        name: row.try_get("name").map_err(internal)?,
        version: row.try_get("version").map_err(internal)?,
        r#type: PromptType::parse(&prompt_type).unwrap_or(PromptType::Text),
        prompt: parse_json(&prompt),
        config: parse_json(&config),
        labels: row.try_get("labels").map_err(internal)?,
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        commit_message: row.try_get("commit_message").map_err(internal)?,
        created_by: row.try_get("created_by").map_err(internal)?,
        created_at: row.try_get("created_at").map_err(internal)?,
        updated_at: row.try_get("updated_at").map_err(internal)?,
    })
}

/// The version a selector chooses, with its labels.
pub(crate) async fn find_version(
    connection: &mut PgConnection,
    project: &ProjectId,
    name: &str,
    selector: &PromptSelector,
) -> StoreResult<Option<PromptVersion>> {
    let row = match selector {
        PromptSelector::Version(version) => {
            sqlx::query(concat!(
                "SELECT ",
                prompt_columns!(),
                " FROM prompts p WHERE p.project_id = $1 AND p.name = $2 AND p.version = $3"
            ))
            .bind(project.as_str())
            .bind(name)
            .bind(*version)
            .fetch_optional(connection)
            .await
        }
        PromptSelector::Label(label) => {
            sqlx::query(concat!(
                "SELECT ",
                prompt_columns!(),
                " FROM prompt_labels pl JOIN prompts p \
                 ON p.project_id = pl.project_id AND p.id = pl.prompt_id \
                 WHERE pl.project_id = $1 AND pl.prompt_name = $2 AND pl.label = $3"
            ))
            .bind(project.as_str())
            .bind(name)
            .bind(label)
            .fetch_optional(connection)
            .await
        }
    }
    .map_err(internal)?;
    row.map(|row| prompt_from_row(&row)).transpose()
}

/// Every version of a prompt with its labels, by version ascending.
pub(crate) async fn versions_of(
    connection: &mut PgConnection,
    project: &ProjectId,
    name: &str,
) -> StoreResult<Vec<PromptVersion>> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        prompt_columns!(),
        " FROM prompts p WHERE p.project_id = $1 AND p.name = $2 ORDER BY p.version"
    ))
    .bind(project.as_str())
    .bind(name)
    .fetch_all(connection)
    .await
    .map_err(internal)?;
    rows.iter().map(prompt_from_row).collect()
}

/// The project's protected labels, in byte order.
pub(crate) async fn protected_labels(
    connection: &mut PgConnection,
    project: &ProjectId,
) -> StoreResult<Vec<String>> {
    sqlx::query_scalar(
        "SELECT label FROM prompt_protected_labels WHERE project_id = $1 ORDER BY label COLLATE \"C\"",
    )
    .bind(project.as_str())
    .fetch_all(connection)
    .await
    .map_err(internal)
}

/// A lookup the pure resolver asked for that is not loaded yet.
struct Missing(PromptReference);

/// Resolves `root` through the prompts of the project as `connection` sees them. The
/// resolver is synchronous: it runs on what is loaded, and each reference it asks for
/// that is not loaded yet is fetched and the resolution repeated (references are few).
pub(crate) async fn resolve_in(
    connection: &mut PgConnection,
    project: &ProjectId,
    root: &PromptVersion,
) -> Result<ResolvedPrompt, ComposeError<StoreError>> {
    let mut loaded: HashMap<PromptReference, Option<PromptVersion>> = HashMap::new();
    loop {
        let attempt = resolve_prompt(root, |reference| match loaded.get(reference) {
            Some(found) => Ok(found.clone()),
            None => Err(Missing(reference.clone())),
        });
        let error = match attempt {
            Ok(resolved) => return Ok(resolved),
            Err(ComposeError::Lookup(Missing(reference))) => {
                let found = find_version(connection, project, &reference.name, &reference.selector)
                    .await
                    .map_err(ComposeError::Lookup)?;
                loaded.insert(reference, found);
                continue;
            }
            Err(ComposeError::NotFound(reference)) => ComposeError::NotFound(reference),
            Err(ComposeError::NotText(reference)) => ComposeError::NotText(reference),
            Err(ComposeError::Circular(chain)) => ComposeError::Circular(chain),
            Err(ComposeError::TooDeep) => ComposeError::TooDeep,
        };
        return Err(error);
    }
}

pub(crate) fn compose_error(error: ComposeError<StoreError>) -> PromptError {
    match error {
        ComposeError::Lookup(store) => PromptError::Store(store),
        other => PromptError::Invalid(other.to_string()),
    }
}

/// Appends the conditions (on `prompts p`) of the list filters, after ` WHERE `.
fn push_filters(
    builder: &mut QueryBuilder<Postgres>,
    project: &ProjectId,
    query: &PromptListQuery,
) {
    builder.push("p.project_id = ");
    builder.push_bind(project.as_str().to_owned());
    if let Some(name) = &query.name {
        builder.push(" AND p.name = ");
        builder.push_bind(name.clone());
    }
    if let Some(version) = query.version {
        builder.push(" AND p.version = ");
        builder.push_bind(version);
    }
    if let Some(label) = &query.label {
        builder.push(
            " AND EXISTS (SELECT 1 FROM prompt_labels l WHERE l.project_id = p.project_id \
             AND l.prompt_id = p.id AND l.label = ",
        );
        builder.push_bind(label.clone());
        builder.push(")");
    }
    if let Some(tag) = &query.tag {
        builder.push(" AND p.tags::jsonb @> jsonb_build_array(");
        builder.push_bind(tag.clone());
        builder.push("::text)");
    }
    if let Some(from) = query.from_updated_at {
        builder.push(" AND p.updated_at >= ");
        builder.push_bind(from);
    }
    if let Some(to) = query.to_updated_at {
        builder.push(" AND p.updated_at < ");
        builder.push_bind(to);
    }
}

async fn list(
    connection: &mut PgConnection,
    project: &ProjectId,
    query: &PromptListQuery,
    page: PageRequest,
) -> StoreResult<Page<PromptMeta>> {
    let mut count =
        QueryBuilder::<Postgres>::new("SELECT COUNT(DISTINCT p.name) FROM prompts p WHERE ");
    push_filters(&mut count, project, query);
    let total_items: i64 = count
        .build_query_scalar()
        .fetch_one(&mut *connection)
        .await
        .map_err(internal)?;

    let mut names = QueryBuilder::<Postgres>::new("SELECT p.name FROM prompts p WHERE ");
    push_filters(&mut names, project, query);
    names.push(" GROUP BY p.name ORDER BY p.name COLLATE \"C\" LIMIT ");
    names.push_bind(i64::from(page.limit));
    names.push(" OFFSET ");
    names.push_bind(i64::try_from(page.offset()).unwrap_or(i64::MAX));
    let names: Vec<String> = names
        .build_query_scalar()
        .fetch_all(&mut *connection)
        .await
        .map_err(internal)?;
    if names.is_empty() {
        return Ok(Page {
            items: Vec::new(),
            total_items: total_items.max(0) as u64,
        });
    }

    let mut versions = QueryBuilder::<Postgres>::new(concat!(
        "SELECT ",
        prompt_columns!(),
        " FROM prompts p WHERE "
    ));
    push_filters(&mut versions, project, query);
    versions.push(" AND p.name = ANY(");
    versions.push_bind(names.clone());
    versions.push(") ORDER BY p.version");
    let rows = versions
        .build()
        .fetch_all(&mut *connection)
        .await
        .map_err(internal)?;
    let mut by_name: HashMap<String, Vec<PromptVersion>> = HashMap::new();
    for row in &rows {
        let version = prompt_from_row(row)?;
        by_name
            .entry(version.name.clone())
            .or_default()
            .push(version);
    }
    let items = names
        .into_iter()
        .filter_map(|name| {
            let versions = by_name.remove(&name)?;
            let last = versions.last()?;
            let mut labels: Vec<String> = versions
                .iter()
                .flat_map(|version| version.labels.iter().cloned())
                .collect();
            labels.sort();
            labels.dedup();
            Some(PromptMeta {
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
                name,
            })
        })
        .collect();
    Ok(Page {
        items,
        total_items: total_items.max(0) as u64,
    })
}

impl PgStore {
    /// A read-only transaction on one snapshot (several queries that must agree).
    async fn read_snapshot(&self) -> StoreResult<Transaction<'static, Postgres>> {
        self.pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(internal)
    }
}

#[async_trait]
impl PromptStore for PgStore {
    async fn create_prompt_version(
        &self,
        project: &ProjectId,
        new: NewPromptVersion,
        actor: PromptActor,
    ) -> PromptResult<PromptVersion> {
        prompt_writes::create_version(&self.pool, project, new, actor).await
    }

    async fn get_prompt_version(
        &self,
        project: &ProjectId,
        name: &str,
        selector: &PromptSelector,
    ) -> PromptResult<Option<PromptVersion>> {
        let mut connection = self.pool.acquire().await.map_err(internal)?;
        Ok(find_version(&mut connection, project, name, selector).await?)
    }

    async fn resolve_prompt(
        &self,
        project: &ProjectId,
        name: &str,
        selector: &PromptSelector,
    ) -> PromptResult<Option<ResolvedPrompt>> {
        // One snapshot for the version and its references.
        let mut tx = self.read_snapshot().await?;
        let Some(root) = find_version(&mut tx, project, name, selector).await? else {
            return Ok(None);
        };
        let resolved = resolve_in(&mut tx, project, &root)
            .await
            .map_err(compose_error)?;
        tx.commit().await.map_err(internal)?;
        Ok(Some(resolved))
    }

    async fn list_prompts(
        &self,
        project: &ProjectId,
        query: &PromptListQuery,
        page: PageRequest,
    ) -> PromptResult<Page<PromptMeta>> {
        let mut tx = self.read_snapshot().await?;
        let page = list(&mut tx, project, query, page).await?;
        tx.commit().await.map_err(internal)?;
        Ok(page)
    }

    async fn add_prompt_labels(
        &self,
        project: &ProjectId,
        name: &str,
        version: i64,
        labels: Vec<String>,
        actor: PromptActor,
    ) -> PromptResult<PromptVersion> {
        prompt_writes::add_labels(&self.pool, project, name, version, labels, actor).await
    }

    async fn delete_prompt_versions(
        &self,
        project: &ProjectId,
        name: &str,
        deletion: &PromptDeletion,
        actor: PromptActor,
    ) -> PromptResult<u64> {
        prompt_writes::delete_versions(&self.pool, project, name, deletion, actor).await
    }

    async fn protected_prompt_labels(&self, project: &ProjectId) -> PromptResult<Vec<String>> {
        let mut connection = self.pool.acquire().await.map_err(internal)?;
        Ok(protected_labels(&mut connection, project).await?)
    }

    async fn set_protected_prompt_labels(
        &self,
        project: &ProjectId,
        labels: Vec<String>,
    ) -> PromptResult<Vec<String>> {
        prompt_writes::set_protected(&self.pool, project, labels).await
    }

    async fn prompt_usage(
        &self,
        project: &ProjectId,
        name: &str,
        query: &PromptUsageQuery,
    ) -> PromptResult<Vec<PromptVersionUsage>> {
        let mut tx = self.read_snapshot().await?;
        let versions = versions_of(&mut tx, project, name).await?;
        if versions.is_empty() {
            return Err(PromptError::NotFound(format!("Prompt not found: '{name}'")));
        }
        let usage = crate::prompt_usage::usage(&mut tx, project, versions, query).await?;
        tx.commit().await.map_err(internal)?;
        Ok(usage)
    }
}
