//! An in-memory cache of resolved prompts in front of any [`PromptStore`]. SDKs fetch
//! prompts on the hot path of their users' requests, so `resolve_prompt` (fetch by
//! label or version, references resolved) is answered from memory after the first time.
//!
//! Every write through this wrapper (create, label moves, deletes) drops the cached
//! entries of its project, as Langfuse does, because one write can change what other
//! prompts resolve to (a moved label under a reference). A per-project epoch keeps a
//! read that raced with a write from putting stale data back: a result is cached only if
//! no write of its project finished while it was being read. Not-found results are
//! cached too (SDKs retry missing prompts), and dropped the same way.
//!
//! Scope: one process. Writes that do not go through this wrapper (another glassbox
//! process on a shared PostgreSQL database, someone editing the database) are not seen
//! until the entry is dropped by a local write. A multi-process deployment needs a
//! shared invalidation signal (for example a per-project epoch row checked on read, or
//! PostgreSQL `LISTEN/NOTIFY`); see `docs/api.md`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;

use glassbox_model::ProjectId;
use glassbox_model::prompts::{PromptSelector, PromptVersion, PromptVersionUsage, ResolvedPrompt};

use crate::prompts::*;
use crate::{Page, PageRequest};

/// Entries kept per project; beyond it the project's entries are dropped and refilled.
const MAX_ENTRIES_PER_PROJECT: usize = 50_000;

type Key = (String, PromptSelector);

#[derive(Default)]
struct ProjectEntries {
    /// Bumped by every write of the project.
    epoch: u64,
    entries: HashMap<Key, Option<ResolvedPrompt>>,
}

/// Wraps a prompt store with the cache of resolved prompts.
pub struct CachedPromptStore {
    inner: Arc<dyn PromptStore>,
    projects: RwLock<HashMap<ProjectId, ProjectEntries>>,
}

impl CachedPromptStore {
    pub fn new(inner: Arc<dyn PromptStore>) -> CachedPromptStore {
        CachedPromptStore {
            inner,
            projects: RwLock::new(HashMap::new()),
        }
    }

    /// The cached answer, or the project's epoch to hand to [`Self::remember`].
    fn lookup(&self, project: &ProjectId, key: &Key) -> Result<Option<ResolvedPrompt>, u64> {
        let projects = self
            .projects
            .read()
            .unwrap_or_else(|poison| poison.into_inner());
        match projects.get(project) {
            Some(cached) => match cached.entries.get(key) {
                Some(found) => Ok(found.clone()),
                None => Err(cached.epoch),
            },
            None => Err(0),
        }
    }

    fn remember(&self, project: &ProjectId, key: Key, epoch: u64, value: Option<ResolvedPrompt>) {
        let mut projects = self
            .projects
            .write()
            .unwrap_or_else(|poison| poison.into_inner());
        let cached = projects.entry(project.clone()).or_default();
        if cached.epoch != epoch {
            return;
        }
        if cached.entries.len() >= MAX_ENTRIES_PER_PROJECT {
            cached.entries.clear();
        }
        cached.entries.insert(key, value);
    }

    /// Drops the project's entries; called after every write, whatever its outcome.
    fn invalidate(&self, project: &ProjectId) {
        let mut projects = self
            .projects
            .write()
            .unwrap_or_else(|poison| poison.into_inner());
        let cached = projects.entry(project.clone()).or_default();
        cached.epoch += 1;
        cached.entries.clear();
    }

    /// Number of cached entries of a project (tests and diagnostics).
    pub fn cached_entries(&self, project: &ProjectId) -> usize {
        let projects = self
            .projects
            .read()
            .unwrap_or_else(|poison| poison.into_inner());
        projects
            .get(project)
            .map_or(0, |cached| cached.entries.len())
    }
}

#[async_trait]
impl PromptStore for CachedPromptStore {
    async fn create_prompt_version(
        &self,
        project: &ProjectId,
        new: NewPromptVersion,
        actor: PromptActor,
    ) -> PromptResult<PromptVersion> {
        let result = self.inner.create_prompt_version(project, new, actor).await;
        self.invalidate(project);
        result
    }

    async fn get_prompt_version(
        &self,
        project: &ProjectId,
        name: &str,
        selector: &PromptSelector,
    ) -> PromptResult<Option<PromptVersion>> {
        self.inner.get_prompt_version(project, name, selector).await
    }

    async fn resolve_prompt(
        &self,
        project: &ProjectId,
        name: &str,
        selector: &PromptSelector,
    ) -> PromptResult<Option<ResolvedPrompt>> {
        let key: Key = (name.to_owned(), selector.clone());
        let epoch = match self.lookup(project, &key) {
            Ok(cached) => return Ok(cached),
            Err(epoch) => epoch,
        };
        let resolved = self.inner.resolve_prompt(project, name, selector).await?;
        self.remember(project, key, epoch, resolved.clone());
        Ok(resolved)
    }

    async fn list_prompts(
        &self,
        project: &ProjectId,
        query: &PromptListQuery,
        page: PageRequest,
    ) -> PromptResult<Page<PromptMeta>> {
        self.inner.list_prompts(project, query, page).await
    }

    async fn add_prompt_labels(
        &self,
        project: &ProjectId,
        name: &str,
        version: i64,
        labels: Vec<String>,
        actor: PromptActor,
    ) -> PromptResult<PromptVersion> {
        let result = self
            .inner
            .add_prompt_labels(project, name, version, labels, actor)
            .await;
        self.invalidate(project);
        result
    }

    async fn delete_prompt_versions(
        &self,
        project: &ProjectId,
        name: &str,
        deletion: &PromptDeletion,
        actor: PromptActor,
    ) -> PromptResult<u64> {
        let result = self
            .inner
            .delete_prompt_versions(project, name, deletion, actor)
            .await;
        self.invalidate(project);
        result
    }

    async fn protected_prompt_labels(&self, project: &ProjectId) -> PromptResult<Vec<String>> {
        self.inner.protected_prompt_labels(project).await
    }

    async fn set_protected_prompt_labels(
        &self,
        project: &ProjectId,
        labels: Vec<String>,
    ) -> PromptResult<Vec<String>> {
        self.inner
            .set_protected_prompt_labels(project, labels)
            .await
    }

    async fn prompt_usage(
        &self,
        project: &ProjectId,
        name: &str,
        query: &PromptUsageQuery,
    ) -> PromptResult<Vec<PromptVersionUsage>> {
        self.inner.prompt_usage(project, name, query).await
    }
}
