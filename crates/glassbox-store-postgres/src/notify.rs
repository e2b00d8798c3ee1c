//! Cross-process invalidation of the prompt cache: every prompt write runs
//! `pg_notify('glassbox_prompts', project_id)` in its transaction, so PostgreSQL tells
//! every listening process when it commits. One task per process `LISTEN`s on a
//! dedicated connection and drops the project's cached prompts.
//!
//! Notifications sent while the listener had no connection are lost, so after every
//! (re)connect, once `LISTEN` is in place again, the whole cache is dropped: nothing that
//! was cached before can be trusted, and anything read afterwards already sees the
//! missed writes. The cache's epochs make sure a read that was in flight across an
//! invalidation is not cached after it.

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};

use glassbox_model::ProjectId;
use glassbox_store::PromptCacheInvalidation;

use crate::PgStore;

/// The channel prompt writes notify; the payload is the project id.
pub const PROMPT_CHANNEL: &str = "glassbox_prompts";

/// Longest wait between two reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The running listener. It stops when the store's pool is closed
/// ([`PgStore::shutdown`]) or when this handle is dropped.
pub struct PromptListener {
    task: tokio::task::JoinHandle<()>,
    state: Arc<ListenerState>,
}

#[derive(Default)]
struct ListenerState {
    /// Completed `LISTEN`s (1 after the first connect, +1 per reconnect).
    connects: AtomicU64,
    /// Backend process id of the listening connection (0: none yet).
    backend_pid: AtomicI32,
}

impl PromptListener {
    /// How many times the listener has (re)connected and `LISTEN`ed; each one dropped
    /// the whole cache.
    pub fn connects(&self) -> u64 {
        self.state.connects.load(Ordering::SeqCst)
    }

    /// The PostgreSQL backend pid of the listening connection, once connected.
    pub fn backend_pid(&self) -> Option<i32> {
        match self.state.backend_pid.load(Ordering::SeqCst) {
            0 => None,
            pid => Some(pid),
        }
    }
}

impl Drop for PromptListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PgStore {
    /// Starts the task that drops `cache` entries when another process changes prompts.
    /// Must run inside a tokio runtime.
    pub fn listen_for_prompt_changes(
        &self,
        cache: Arc<dyn PromptCacheInvalidation>,
    ) -> PromptListener {
        let state = Arc::new(ListenerState::default());
        let task = tokio::spawn(run(self.pool.clone(), cache, Arc::clone(&state)));
        PromptListener { task, state }
    }
}

async fn run(pool: PgPool, cache: Arc<dyn PromptCacheInvalidation>, state: Arc<ListenerState>) {
    // A pool of its own: the listening connection is held for good and must not take a
    // slot of the request pool. Closing the store's pool stops this task.
    let listener_pool = PgPoolOptions::new()
        .max_connections(1)
        .max_lifetime(None)
        .idle_timeout(None)
        .connect_lazy_with((*pool.connect_options()).clone());
    let stopped = pool.close_event();
    tokio::select! {
        () = listen_forever(&listener_pool, cache.as_ref(), &state) => {}
        () = stopped => {}
    }
    listener_pool.close().await;
}

async fn listen_forever(
    listener_pool: &PgPool,
    cache: &dyn PromptCacheInvalidation,
    state: &ListenerState,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match listen_until_error(listener_pool, cache, state).await {
            Ok(()) => return,
            Err(error) => {
                tracing::warn!(%error, "prompt change listener lost its connection; reconnecting");
                state.backend_pid.store(0, Ordering::SeqCst);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Listens until the connection fails for good (`Err`) or the pool closes (`Ok`).
async fn listen_until_error(
    listener_pool: &PgPool,
    cache: &dyn PromptCacheInvalidation,
    state: &ListenerState,
) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(listener_pool).await?;
    listener.listen(PROMPT_CHANNEL).await?;
    connected(&mut listener, cache, state).await?;
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => {
                cache.invalidate_project(&ProjectId(notification.payload().to_owned()));
            }
            // The connection was lost and re-established with `LISTEN` (eager
            // reconnect): what was sent in between is gone.
            Ok(None) => connected(&mut listener, cache, state).await?,
            Err(sqlx::Error::PoolClosed) => return Ok(()),
            Err(error) => return Err(error),
        }
    }
}

/// `LISTEN` is in place on a new connection: drop everything cached before it.
async fn connected(
    listener: &mut PgListener,
    cache: &dyn PromptCacheInvalidation,
    state: &ListenerState,
) -> Result<(), sqlx::Error> {
    cache.invalidate_all();
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *listener)
        .await?;
    state.backend_pid.store(pid, Ordering::SeqCst);
    state.connects.fetch_add(1, Ordering::SeqCst);
    tracing::debug!(pid, "listening for prompt changes");
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Instant;

    use super::*;
    use crate::PgConfig;
    use crate::tests::test_database_url;

    async fn fresh_store() -> Arc<PgStore> {
        let mut config = PgConfig::new(test_database_url());
        config.schema = Some(format!("t_{}", uuid::Uuid::new_v4().simple()));
        config.pool_size = 2;
        PgStore::connect(config).await.expect("connect")
    }

    #[derive(Default)]
    struct Recorder {
        projects: Mutex<Vec<String>>,
        all: AtomicU64,
    }

    impl PromptCacheInvalidation for Recorder {
        fn invalidate_project(&self, project: &ProjectId) {
            self.projects
                .lock()
                .unwrap_or_else(|poison| poison.into_inner())
                .push(project.0.clone());
        }

        fn invalidate_all(&self) {
            self.all.fetch_add(1, Ordering::SeqCst);
        }
    }

    impl Recorder {
        fn saw(&self, project: &str) -> bool {
            self.projects
                .lock()
                .unwrap_or_else(|poison| poison.into_inner())
                .iter()
                .any(|seen| seen == project)
        }
    }

    async fn eventually(what: &str, condition: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !condition() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn notify(store: &PgStore, project: &str) {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(PROMPT_CHANNEL)
            .bind(project)
            .execute(store.pool())
            .await
            .expect("notify");
    }

    #[tokio::test]
    async fn notifications_invalidate_their_project_and_reconnects_everything() {
        let store = fresh_store().await;
        let recorder = Arc::new(Recorder::default());
        let listener = store.listen_for_prompt_changes(recorder.clone());
        eventually("the first LISTEN", || listener.connects() == 1).await;
        assert_eq!(recorder.all.load(Ordering::SeqCst), 1, "connect drops all");

        let project = format!("p-{}", uuid::Uuid::new_v4());
        notify(&store, &project).await;
        eventually("the notification", || recorder.saw(&project)).await;

        // Kill the listening backend: the listener reconnects, LISTENs again, and drops
        // the whole cache because notifications may have been missed meanwhile.
        let pid = listener.backend_pid().expect("connected");
        sqlx::query("SELECT pg_terminate_backend($1)")
            .bind(pid)
            .execute(store.pool())
            .await
            .expect("terminate");
        eventually("the reconnect", || listener.connects() >= 2).await;
        assert!(recorder.all.load(Ordering::SeqCst) >= 2);
        assert_ne!(listener.backend_pid(), Some(pid));

        let later = format!("p-{}", uuid::Uuid::new_v4());
        notify(&store, &later).await;
        eventually("a notification after the reconnect", || {
            recorder.saw(&later)
        })
        .await;

        // Closing the store's pool stops the task.
        store.shutdown().await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while !listener.task.is_finished() {
            assert!(Instant::now() < deadline, "listener did not stop");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
