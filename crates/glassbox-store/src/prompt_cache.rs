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
//! Several processes (PostgreSQL backend): writes of another process reach this cache
//! through [`PromptCacheInvalidation`] (the backend's change listener calls it, for
//! example on PostgreSQL `NOTIFY`). A listener that lost its connection may have missed
//! notifications and calls [`PromptCacheInvalidation::invalidate_all`], which also bumps
//! a global epoch, so a read that started before it is not cached after it either.

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

/// Told by a backend's change listener that prompts changed in another process.
pub trait PromptCacheInvalidation: Send + Sync + 'static {
    /// Prompts of this project changed: drop what is cached for it.
    fn invalidate_project(&self, project: &ProjectId);
    /// Changes may have been missed (a lost listener connection): drop everything.
    fn invalidate_all(&self);
}

#[derive(Default)]
struct ProjectEntries {
    /// Bumped by every write of the project.
    epoch: u64,
    entries: HashMap<Key, Option<ResolvedPrompt>>,
}

#[derive(Default)]
struct Entries {
    /// Bumped by [`PromptCacheInvalidation::invalidate_all`].
    global_epoch: u64,
    projects: HashMap<ProjectId, ProjectEntries>,
}

/// The epochs a read saw before it went to the store: its result is cached only if
/// both are unchanged when it comes back.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Epochs {
    global: u64,
    project: u64,
}

/// Wraps a prompt store with the cache of resolved prompts.
pub struct CachedPromptStore {
    inner: Arc<dyn PromptStore>,
    entries: RwLock<Entries>,
}

impl CachedPromptStore {
    pub fn new(inner: Arc<dyn PromptStore>) -> CachedPromptStore {
        CachedPromptStore {
            inner,
            entries: RwLock::new(Entries::default()),
        }
    }

    /// The cached answer, or the epochs to hand to [`Self::remember`].
    fn lookup(&self, project: &ProjectId, key: &Key) -> Result<Option<ResolvedPrompt>, Epochs> {
        let entries = self
            .entries
            .read()
            .unwrap_or_else(|poison| poison.into_inner());
        let global = entries.global_epoch;
        match entries.projects.get(project) {
            Some(cached) => match cached.entries.get(key) {
                Some(found) => Ok(found.clone()),
                None => Err(Epochs {
                    global,
                    project: cached.epoch,
                }),
            },
            None => Err(Epochs { global, project: 0 }),
        }
    }

    fn remember(
        &self,
        project: &ProjectId,
        key: Key,
        epochs: Epochs,
        value: Option<ResolvedPrompt>,
    ) {
        let mut entries = self
            .entries
            .write()
            .unwrap_or_else(|poison| poison.into_inner());
        if entries.global_epoch != epochs.global {
            return;
        }
        let cached = entries.projects.entry(project.clone()).or_default();
        if cached.epoch != epochs.project {
            return;
        }
        if cached.entries.len() >= MAX_ENTRIES_PER_PROJECT {
            cached.entries.clear();
        }
        cached.entries.insert(key, value);
    }

    /// Drops the project's entries; called after every write, whatever its outcome, and
    /// by a change listener for writes of other processes.
    fn invalidate(&self, project: &ProjectId) {
        let mut entries = self
            .entries
            .write()
            .unwrap_or_else(|poison| poison.into_inner());
        // The entry stays (empty) so that its bumped epoch turns away in-flight reads.
        let cached = entries.projects.entry(project.clone()).or_default();
        cached.epoch += 1;
        cached.entries.clear();
    }

    /// Number of cached entries of a project (tests and diagnostics).
    pub fn cached_entries(&self, project: &ProjectId) -> usize {
        let entries = self
            .entries
            .read()
            .unwrap_or_else(|poison| poison.into_inner());
        entries
            .projects
            .get(project)
            .map_or(0, |cached| cached.entries.len())
    }
}

impl PromptCacheInvalidation for CachedPromptStore {
    fn invalidate_project(&self, project: &ProjectId) {
        self.invalidate(project);
    }

    fn invalidate_all(&self) {
        let mut entries = self
            .entries
            .write()
            .unwrap_or_else(|poison| poison.into_inner());
        // The global epoch turns away every read in flight, so the map can go whole.
        entries.global_epoch += 1;
        entries.projects.clear();
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
        let epochs = match self.lookup(project, &key) {
            Ok(cached) => return Ok(cached),
            Err(epochs) => epochs,
        };
        let resolved = self.inner.resolve_prompt(project, name, selector).await?;
        self.remember(project, key, epochs, resolved.clone());
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::sync::Notify;

    use super::*;

    /// Answers "not found" to every resolve, after `gate` lets it through when gated.
    struct SlowStore {
        gated: bool,
        gate: Notify,
        started: Notify,
        calls: AtomicUsize,
    }

    fn refused<T>() -> PromptResult<T> {
        Err(PromptError::Invalid("not used by these tests".into()))
    }

    #[async_trait]
    impl PromptStore for SlowStore {
        async fn create_prompt_version(
            &self,
            _: &ProjectId,
            _: NewPromptVersion,
            _: PromptActor,
        ) -> PromptResult<PromptVersion> {
            refused()
        }
        async fn get_prompt_version(
            &self,
            _: &ProjectId,
            _: &str,
            _: &PromptSelector,
        ) -> PromptResult<Option<PromptVersion>> {
            refused()
        }
        async fn resolve_prompt(
            &self,
            _: &ProjectId,
            _: &str,
            _: &PromptSelector,
        ) -> PromptResult<Option<ResolvedPrompt>> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.gated {
                self.started.notify_one();
                self.gate.notified().await;
            }
            Ok(None)
        }
        async fn list_prompts(
            &self,
            _: &ProjectId,
            _: &PromptListQuery,
            _: PageRequest,
        ) -> PromptResult<Page<PromptMeta>> {
            refused()
        }
        async fn add_prompt_labels(
            &self,
            _: &ProjectId,
            _: &str,
            _: i64,
            _: Vec<String>,
            _: PromptActor,
        ) -> PromptResult<PromptVersion> {
            refused()
        }
        async fn delete_prompt_versions(
            &self,
            _: &ProjectId,
            _: &str,
            _: &PromptDeletion,
            _: PromptActor,
        ) -> PromptResult<u64> {
            refused()
        }
        async fn protected_prompt_labels(&self, _: &ProjectId) -> PromptResult<Vec<String>> {
            refused()
        }
        async fn set_protected_prompt_labels(
            &self,
            _: &ProjectId,
            _: Vec<String>,
        ) -> PromptResult<Vec<String>> {
            refused()
        }
        async fn prompt_usage(
            &self,
            _: &ProjectId,
            _: &str,
            _: &PromptUsageQuery,
        ) -> PromptResult<Vec<PromptVersionUsage>> {
            refused()
        }
    }

    fn cache(gated: bool) -> (Arc<CachedPromptStore>, Arc<SlowStore>) {
        let inner = Arc::new(SlowStore {
            gated,
            gate: Notify::new(),
            started: Notify::new(),
            calls: AtomicUsize::new(0),
        });
        (Arc::new(CachedPromptStore::new(inner.clone())), inner)
    }

    fn project() -> ProjectId {
        ProjectId("p".to_owned())
    }

    fn label() -> PromptSelector {
        PromptSelector::Label("production".to_owned())
    }

    #[tokio::test]
    async fn invalidations_drop_cached_entries() {
        let (cache, inner) = cache(false);
        cache
            .resolve_prompt(&project(), "a", &label())
            .await
            .unwrap();
        cache
            .resolve_prompt(&project(), "a", &label())
            .await
            .unwrap();
        assert_eq!(
            inner.calls.load(Ordering::SeqCst),
            1,
            "second read is a hit"
        );
        assert_eq!(cache.cached_entries(&project()), 1);
        cache.invalidate_project(&ProjectId("other".to_owned()));
        assert_eq!(cache.cached_entries(&project()), 1, "other projects stay");
        cache.invalidate_project(&project());
        assert_eq!(cache.cached_entries(&project()), 0);
        cache
            .resolve_prompt(&project(), "a", &label())
            .await
            .unwrap();
        assert_eq!(cache.cached_entries(&project()), 1);
        cache.invalidate_all();
        assert_eq!(cache.cached_entries(&project()), 0);
        cache
            .resolve_prompt(&project(), "a", &label())
            .await
            .unwrap();
        assert_eq!(inner.calls.load(Ordering::SeqCst), 3);
    }

    /// A read that was in flight when an invalidation arrived must not be cached: its
    /// answer may predate the change the invalidation announces.
    async fn in_flight_read_is_not_cached(invalidate: impl Fn(&CachedPromptStore)) {
        let (cache, inner) = cache(true);
        let reader = {
            let cache = Arc::clone(&cache);
            tokio::spawn(async move { cache.resolve_prompt(&project(), "a", &label()).await })
        };
        inner.started.notified().await;
        invalidate(&cache);
        inner.gate.notify_one();
        reader.await.unwrap().unwrap();
        assert_eq!(cache.cached_entries(&project()), 0);
    }

    #[tokio::test]
    async fn a_project_invalidation_turns_away_an_in_flight_read() {
        in_flight_read_is_not_cached(|cache| cache.invalidate_project(&project())).await;
    }

    #[tokio::test]
    async fn a_global_invalidation_turns_away_an_in_flight_read() {
        // The project has no entry yet: only the global epoch can tell.
        in_flight_read_is_not_cached(|cache| cache.invalidate_all()).await;
    }
}
