//! The two ways to the database: one writer thread that groups concurrent writes into
//! shared commits (answered by a WAL syncer thread once they are on disk), and a bounded
//! pool of read-only connections used from tokio's blocking pool. None of them ever runs
//! on the async reactor.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::{Semaphore, oneshot};

use glassbox_store::{StoreError, StoreResult};

use crate::profile::{self, Phase};
use crate::wal_sync::Syncer;

/// Most write requests waiting for the writer; beyond it writes get `Overloaded`.
const WRITE_QUEUE_CAPACITY: usize = 1_024;
/// Most write requests folded into one commit.
const MAX_GROUP: usize = 512;
/// Concurrent readers.
const READERS: usize = 8;

pub(crate) fn internal(error: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(error.to_string())
}

/// Page size of a new database file. Against 4 KB, measured on the 100k-trace bench
/// (bench/README.md, round 8): 8 KB 1,637 → 1,589 bytes/span (fuller pages, fewer
/// interior pages and cell headers) at the same throughput and query latencies, peak
/// RSS 232 → 244 MB; 16 KB 1,558 bytes/span but peak RSS 316 MB (target < 300).
const PAGE_SIZE: u32 = 8192;

fn open(path: &Path, read_only: bool) -> rusqlite::Result<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let connection = Connection::open_with_flags(path, flags)?;
    connection.busy_timeout(std::time::Duration::from_secs(10))?;
    // Page cache: 32 MB for the writer; 8 MB for each of the (up to 8 pooled) readers,
    // whose caches otherwise fill to most of the process's peak RSS on large databases
    // (100k bench with 8 KB pages: 16 MB per reader 244-282 MB peak RSS, 8 MB 253 MB,
    // query latencies unchanged; bench/README.md, round 8).
    let cache_kib = if read_only { 8_192 } else { 32_768 };
    connection.execute_batch(&format!(
        "PRAGMA foreign_keys = ON; PRAGMA cache_size = -{cache_kib}; PRAGMA temp_store = MEMORY;"
    ))?;
    crate::payloads::register(&connection, path)?;
    crate::details::register(&connection)?;
    if !read_only {
        // A new database gets [`PAGE_SIZE`] pages and a pointer map that lets free pages
        // go back to the file system (see `return_free_pages`); an existing one keeps its
        // own settings.
        connection.execute_batch(&format!(
            "PRAGMA page_size = {PAGE_SIZE}; PRAGMA auto_vacuum = INCREMENTAL;"
        ))?;
        // FULL: a commit is on disk when it returns, so a 2xx survives a power cut too.
        // The writer thread switches its connection to NORMAL and syncs the WAL on its
        // own (see `Syncer`); start-up work and the checkpointer keep FULL.
        connection.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")?;
        // Checkpoints run on their own thread (see `checkpointer`), so that a commit only
        // appends to the WAL; the WAL file is cut back to this size after a checkpoint.
        // (A 128 MB writer page cache was measured slower and doubled peak RSS.)
        connection.execute_batch(
            "PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = 67108864;",
        )?;
    }
    Ok(connection)
}

/// A read-only connection for a background thread (outside the reader pool).
pub(crate) fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    open(path, true)
}

/// Opens the database file, applies migrations, and returns the writer connection.
pub(crate) fn open_writer(path: &Path) -> Result<Connection, String> {
    let mut connection =
        open(path, false).map_err(|error| format!("opening {}: {error}", path.display()))?;
    crate::migrations::apply(&mut connection)?;
    Ok(connection)
}

pub(crate) type Completion = Box<dyn FnOnce(StoreResult<()>) + Send>;
type Run = Box<dyn FnOnce(&Connection) -> (bool, Completion) + Send>;

/// A unit of write work: runs inside the shared transaction and returns whether it
/// succeeded plus what to do once the commit outcome is known.
struct WriteWork {
    run: Run,
    /// Runs in its own savepoint, so that its failure undoes only its own changes.
    /// Without one (ingestion, whose only failures are storage errors), a failure rolls
    /// the whole transaction back and the other requests of the group, already run, are
    /// answered with a retryable `Unavailable`: a savepoint makes SQLite copy every page
    /// the work changes into its sub-journal (measured at ~7 % of the writer's time).
    isolated: bool,
}

/// Handle to the writer thread. Dropping every handle stops the thread after it has
/// committed what was queued.
pub(crate) struct Writer {
    sender: Mutex<Option<SyncSender<WriteWork>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl WriteWork {
    /// `work` as a unit of write work, and where its result arrives once the outcome of
    /// its commit is known.
    fn new<T, F>(work: F, isolated: bool) -> (WriteWork, oneshot::Receiver<StoreResult<T>>)
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (reply, receive) = oneshot::channel::<StoreResult<T>>();
        let run: Run = Box::new(move |connection| {
            let result = work(connection);
            let ok = result.is_ok();
            let completion: Completion = Box::new(move |commit: StoreResult<()>| {
                let _ = reply.send(commit.and(result));
            });
            (ok, completion)
        });
        (WriteWork { run, isolated }, receive)
    }
}

impl Writer {
    pub(crate) fn start(connection: Connection) -> Writer {
        let (sender, receiver) = mpsc::sync_channel::<WriteWork>(WRITE_QUEUE_CAPACITY);
        let thread = std::thread::Builder::new()
            .name("glassbox-sqlite-writer".into())
            .spawn(move || writer_loop(connection, receiver))
            .expect("spawning the writer thread must succeed at start-up");
        Writer {
            sender: Mutex::new(Some(sender)),
            thread: Mutex::new(Some(thread)),
        }
    }

    /// Runs `work` in the next group commit, in its own savepoint, and resolves once it
    /// is durable.
    pub(crate) async fn write<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        self.enqueue(work, true)?
            .await
            .map_err(|_| StoreError::Unavailable("the writer stopped before committing".into()))?
    }

    /// [`Writer::write`] without a savepoint, for work that fails only on storage errors:
    /// its failure also fails (with a retryable `Unavailable`) the requests that shared
    /// its transaction.
    pub(crate) async fn write_unisolated<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        self.enqueue(work, false)?
            .await
            .map_err(|_| StoreError::Unavailable("the writer stopped before committing".into()))?
    }

    /// [`Writer::write`] for a plain thread (not a tokio worker): blocks until durable.
    /// A full queue is `Overloaded`, as for `write`.
    pub(crate) fn write_blocking<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        self.enqueue(work, true)?
            .blocking_recv()
            .map_err(|_| StoreError::Unavailable("the writer stopped before committing".into()))?
    }

    /// Queues `work` for the writer thread; the receiver gets its result once the commit
    /// that holds it is durable (or failed). A full queue is `Overloaded`.
    fn enqueue<T, F>(
        &self,
        work: F,
        isolated: bool,
    ) -> StoreResult<oneshot::Receiver<StoreResult<T>>>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (job, receive) = WriteWork::new(work, isolated);
        let sender = self
            .sender
            .lock()
            .map_err(internal)?
            .clone()
            .ok_or_else(|| StoreError::Unavailable("the store is shutting down".into()))?;
        match sender.try_send(job) {
            Ok(()) => Ok(receive),
            Err(TrySendError::Full(_)) => Err(StoreError::Overloaded),
            Err(TrySendError::Disconnected(_)) => {
                Err(StoreError::Unavailable("the writer has stopped".into()))
            }
        }
    }

    /// Stops accepting writes, lets the writer commit what is queued, and waits for it.
    pub(crate) fn shutdown(&self) {
        if let Ok(mut sender) = self.sender.lock() {
            sender.take();
        }
        let thread = self.thread.lock().ok().and_then(|mut thread| thread.take());
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Pause between two background checkpoints. Under sustained ingestion each commit
/// rewrites many of the same index pages; a checkpoint copies a page once however many
/// commits wrote it since the last one, so a longer pause copies less. Measured on the
/// 10k-trace bench (bench/README.md, round 3): 250 ms 5,850, 2 s 6,204, 5 s 6,615
/// spans/s, query latencies unchanged; the WAL stays bounded by [`bound_wal`]. Round 7,
/// with [`WAL_RESTART_BYTES`] 256 MB → 1 GB as well: 8,965 / 9,220 → 9,724 / 9,548.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Copies committed WAL frames into the database file on its own connection (PASSIVE:
/// never blocks the writer or readers), every [`CHECKPOINT_EVERY`] until `stop` closes.
fn checkpointer(path: PathBuf, stop: Receiver<()>) {
    let connection = match open(&path, false) {
        Ok(connection) => connection,
        Err(error) => {
            tracing::error!(%error, "sqlite checkpointer could not open the database");
            return;
        }
    };
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY) {
        if let Err(error) = connection.execute_batch("PRAGMA wal_checkpoint(PASSIVE)") {
            tracing::warn!(%error, "sqlite background checkpoint failed");
        }
    }
}

fn writer_loop(connection: Connection, receiver: Receiver<WriteWork>) {
    let (stop, stopped) = mpsc::sync_channel::<()>(0);
    let path = connection
        .path()
        .filter(|path| !path.is_empty())
        .map(PathBuf::from);
    let checkpoints = path.clone().and_then(|path| {
        std::thread::Builder::new()
            .name("glassbox-sqlite-checkpoint".into())
            .spawn(move || checkpointer(path, stopped))
            .ok()
    });
    let syncer = path.and_then(|path| Syncer::start(&connection, &path));
    run_writes(&connection, receiver, syncer.as_ref());
    write_deferred_rollups(&connection);
    crate::recent_addresses::flush_at_shutdown(&connection);
    return_free_pages(&connection);
    // Every commit answered before the WAL is checkpointed and emptied.
    if let Some(syncer) = syncer {
        syncer.stop();
    }
    drop(stop);
    if let Some(thread) = checkpoints {
        let _ = thread.join();
    }
    // Everything into the database file, and the WAL file emptied, before exit.
    if let Err(error) = connection.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)") {
        tracing::warn!(%error, "sqlite final checkpoint failed");
    }
}

/// Most free pages [`return_free_pages`] moves at shutdown (100 MB of 8 KB pages), so
/// that a stop after a large delete stays quick; the rest are reused by later writes.
const FREE_PAGES_RETURNED: u32 = 12_800;

/// At shutdown: gives free pages back to the file system (the file shrinks). They are
/// left by the moves of recent payload addresses (up to ~4.5 MB every 100,000 parts),
/// re-encodings and deletes, and are reused by later writes; a stopped database does
/// not need them. A no-op on a database created before `auto_vacuum` was set.
fn return_free_pages(connection: &Connection) {
    // Stepped to the end: the pragma frees one page per step (`execute_batch` steps
    // once).
    let returned = connection
        .prepare(&format!("PRAGMA incremental_vacuum({FREE_PAGES_RETURNED})"))
        .and_then(|mut statement| {
            let mut steps = statement.query([])?;
            while steps.next()?.is_some() {}
            Ok(())
        });
    if let Err(error) = returned {
        tracing::warn!(%error, "returning free pages at shutdown failed");
    }
}

/// At shutdown: writes the rollup changes still waiting (if it fails, the next start
/// rebuilds the rollups; see `deferred_rollups`).
fn write_deferred_rollups(connection: &Connection) {
    if !crate::deferred_rollups::waiting() {
        return;
    }
    let written = connection
        .execute_batch("BEGIN IMMEDIATE")
        .map_err(|error| error.to_string())
        .and_then(|()| {
            crate::deferred_rollups::before_commit(connection, true)
                .map_err(|error| error.to_string())
        })
        .and_then(|()| {
            connection
                .execute_batch("COMMIT")
                .map_err(|error| error.to_string())
        });
    crate::deferred_rollups::after_transaction(written.is_ok());
    if let Err(error) = written {
        tracing::warn!(%error, "writing the last rollup changes failed; they are rebuilt at the next start");
        let _ = connection.execute_batch("ROLLBACK");
    }
}

/// WAL size past which the writer makes the WAL start over (see [`bound_wal`]). Each
/// start-over is a checkpoint on the writer thread; at ~100 MB of WAL per second of
/// ingest, 256 MB made one every few seconds.
const WAL_RESTART_BYTES: u64 = 1024 * 1024 * 1024;

/// Keeps the WAL file from growing without bound. The background checkpointer's PASSIVE
/// checkpoints copy frames into the database but never make the WAL start over while
/// the writer keeps appending, so under sustained ingestion the file would grow with
/// every write. Past [`WAL_RESTART_BYTES`], the writer itself runs a RESTART
/// checkpoint (waiting for readers of old frames, within the busy timeout) and the next
/// commit writes from the start of the file, which `journal_size_limit` then trims.
fn bound_wal(connection: &Connection, wal: &std::path::Path, limit: u64) {
    let Ok(metadata) = std::fs::metadata(wal) else {
        return;
    };
    if metadata.len() < limit {
        return;
    }
    if let Err(error) = connection.execute_batch("PRAGMA wal_checkpoint(RESTART)") {
        tracing::warn!(%error, "sqlite WAL restart checkpoint failed");
    }
}

fn run_writes(connection: &Connection, receiver: Receiver<WriteWork>, syncer: Option<&Syncer>) {
    let wal = connection
        .path()
        .map(|path| std::path::PathBuf::from(format!("{path}-wal")));
    // A work taken from the queue to learn whether more are waiting: the next group's first.
    let next: std::cell::RefCell<Option<WriteWork>> = std::cell::RefCell::new(None);
    let more_waiting = || {
        let mut next = next.borrow_mut();
        if next.is_none() {
            *next = receiver.try_recv().ok();
        }
        next.is_some()
    };
    loop {
        let waiting = next.borrow_mut().take();
        let Some(first) = waiting.or_else(|| receiver.recv().ok()) else {
            break;
        };
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match receiver.try_recv() {
                Ok(work) => group.push(work),
                Err(_) => break,
            }
        }
        commit_group(
            connection,
            group,
            Hooks {
                committed: &|completions: Vec<Completion>| match syncer {
                    Some(syncer) => syncer.acknowledge(completions),
                    None => answer(completions, || Ok(())),
                },
                idle: &|| !more_waiting(),
            },
        );
        crate::recent_addresses::flush_if_full(connection);
        if let Some(wal) = &wal {
            profile::time(Phase::Commit, || {
                bound_wal(connection, wal, WAL_RESTART_BYTES)
            });
        }
    }
    if profile::enabled() {
        tracing::warn!(target: "glassbox::profile", "{}", profile::report());
    }
}

/// Runs `group` in shared transactions and commits them. Normally that is one
/// transaction; a failed work without a savepoint rolls its transaction back, and the
/// rest of the group goes on in a new one.
fn commit_group(connection: &Connection, group: Vec<WriteWork>, hooks: Hooks) {
    let started = std::time::Instant::now();
    let requests = group.len();
    let mut works = group.into_iter();
    while works.len() > 0 {
        commit_transaction(connection, &mut works, &hooks);
    }
    profile::committed(requests, started.elapsed());
}

/// One transaction over the next works of `works`: until they run out (then commits) or
/// until a work without a savepoint fails (then rolls back and returns, leaving the
/// rest in `works`).
fn commit_transaction(
    connection: &Connection,
    works: &mut std::vec::IntoIter<WriteWork>,
    hooks: &Hooks,
) {
    if let Err(error) = profile::time(Phase::Transaction, || {
        connection.execute_batch("BEGIN IMMEDIATE")
    }) {
        tracing::error!(%error, "sqlite writer could not begin a transaction");
        // Run nothing; every waiter learns that its write failed.
        works.for_each(drop);
        return;
    }
    // Rolling back also undoes addresses the recent-address map gained since this mark.
    let begun = crate::recent_addresses::mark(connection);
    let mut completions: Vec<Completion> = Vec::with_capacity(works.len());
    for work in works.by_ref() {
        if !work.isolated {
            let (ok, completion) = (work.run)(connection);
            if ok {
                completions.push(completion);
                continue;
            }
            // Its changes are mixed with those of the works before it: undo them all.
            if let Err(error) =
                profile::time(Phase::Transaction, || connection.execute_batch("ROLLBACK"))
            {
                tracing::error!(%error, "sqlite rollback failed");
            }
            crate::recent_addresses::after_rollback(connection, begun);
            crate::deferred_rollups::after_transaction(false);
            for done in completions {
                done(Err(StoreError::Unavailable(
                    "a write that shared this request's transaction failed; retry".into(),
                )));
            }
            // Its own result (an error) is what it reports.
            completion(Ok(()));
            return;
        }
        let savepoint_ok = profile::time(Phase::Transaction, || {
            connection.execute_batch("SAVEPOINT work")
        })
        .is_ok();
        let saved = crate::recent_addresses::mark(connection);
        let staged = crate::deferred_rollups::mark();
        let (ok, completion) = (work.run)(connection);
        if savepoint_ok {
            let end = if ok {
                "RELEASE work"
            } else {
                "ROLLBACK TO work; RELEASE work"
            };
            if let Err(error) = profile::time(Phase::Transaction, || connection.execute_batch(end))
            {
                tracing::error!(%error, "sqlite savepoint handling failed");
            }
            if !ok {
                crate::recent_addresses::after_rollback(connection, saved);
                crate::deferred_rollups::discard_since(staged);
            }
        }
        completions.push(completion);
    }
    let commit = crate::deferred_rollups::before_commit(connection, (hooks.idle)())
        .map_err(|error| error.to_string())
        .and_then(|()| {
            profile::time(Phase::Commit, || connection.execute_batch("COMMIT"))
                .map_err(|error| error.to_string())
        });
    crate::deferred_rollups::after_transaction(commit.is_ok());
    match commit {
        Ok(()) => (hooks.committed)(completions),
        Err(error) => {
            tracing::error!(%error, "sqlite commit failed");
            let _ = connection.execute_batch("ROLLBACK");
            crate::recent_addresses::after_rollback(connection, begun);
            answer(completions, || {
                Err(StoreError::Internal(format!("commit failed: {error}")))
            });
        }
    }
}

/// How the writer ends its transactions.
struct Hooks<'a> {
    /// Takes the completions of a transaction that committed.
    committed: &'a dyn Fn(Vec<Completion>),
    /// Whether no other work is waiting (asked just before a commit).
    idle: &'a dyn Fn() -> bool,
}

/// Answers every completion with `outcome()`.
pub(crate) fn answer(completions: Vec<Completion>, outcome: impl Fn() -> StoreResult<()>) {
    for completion in completions {
        completion(outcome());
    }
}

/// Read-only connections, opened lazily, at most [`READERS`] in use at once.
pub(crate) struct Readers {
    path: PathBuf,
    /// Idle connections; `None` once [`Readers::close`] ran (connections are then
    /// closed after use, not pooled).
    idle: Mutex<Option<Vec<Connection>>>,
    permits: Semaphore,
}

impl Readers {
    pub(crate) fn new(path: PathBuf) -> Arc<Readers> {
        Arc::new(Readers {
            path,
            idle: Mutex::new(Some(Vec::new())),
            permits: Semaphore::new(READERS),
        })
    }

    /// Closes the pooled connections (and later ones after their read), so that the
    /// writer's connection is the database's last: SQLite then removes the `-wal` and
    /// `-shm` files when it closes.
    pub(crate) fn close(&self) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.take();
        }
    }

    /// Runs `read` on a pooled connection in tokio's blocking pool.
    pub(crate) async fn read<T, F>(self: &Arc<Self>, read: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let _permit = self.permits.acquire().await.map_err(internal)?;
        let readers = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let pooled = readers
                .idle
                .lock()
                .map_err(internal)?
                .as_mut()
                .and_then(Vec::pop);
            let connection = match pooled {
                Some(connection) => connection,
                None => open(&readers.path, true).map_err(internal)?,
            };
            let result = read(&connection);
            if let Some(idle) = readers.idle.lock().map_err(internal)?.as_mut() {
                idle.push(connection);
            }
            result
        })
        .await
        .map_err(internal)?
    }
}

#[cfg(test)]
mod group_tests {
    use super::*;

    type Reply = oneshot::Receiver<StoreResult<()>>;

    /// A work that inserts `id` into `items`, then fails if `fail`.
    fn insert(id: i64, isolated: bool, fail: bool) -> (WriteWork, Reply) {
        WriteWork::new(
            move |connection: &Connection| {
                connection
                    .execute("INSERT INTO items (id) VALUES (?1)", [id])
                    .map_err(internal)?;
                if fail {
                    return Err(StoreError::Internal(format!("work {id} failed")));
                }
                Ok(())
            },
            isolated,
        )
    }

    fn run(group: Vec<(WriteWork, Reply)>) -> (Connection, Vec<StoreResult<()>>) {
        let directory = tempfile::tempdir().expect("temporary directory");
        let connection = open_writer(&directory.path().join("group.sqlite")).expect("open");
        connection
            .execute_batch("CREATE TABLE items (id INTEGER PRIMARY KEY)")
            .expect("table");
        let (works, mut replies): (Vec<WriteWork>, Vec<Reply>) = group.into_iter().unzip();
        commit_group(
            &connection,
            works,
            Hooks {
                committed: &|completions| answer(completions, || Ok(())),
                idle: &|| true,
            },
        );
        let results = replies
            .iter_mut()
            .map(|reply| reply.try_recv().expect("every work is answered"))
            .collect();
        (connection, results)
    }

    fn stored(connection: &Connection) -> Vec<i64> {
        let mut statement = connection
            .prepare("SELECT id FROM items ORDER BY id")
            .expect("prepare");
        statement
            .query_map([], |row| row.get(0))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows")
    }

    #[test]
    fn a_failed_isolated_work_undoes_only_its_own_changes() {
        let (connection, results) = run(vec![
            insert(1, false, false),
            insert(2, true, true),
            insert(3, false, false),
        ]);
        assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
        assert!(
            matches!(&results[1], Err(StoreError::Internal(message)) if message == "work 2 failed")
        );
        assert_eq!(stored(&connection), vec![1, 3]);
    }

    #[test]
    fn a_failed_unisolated_work_fails_its_transaction_and_the_rest_goes_on() {
        let (connection, results) = run(vec![
            insert(1, true, false),
            insert(2, false, false),
            insert(3, false, true),
            insert(4, true, false),
            insert(5, false, false),
        ]);
        // The works that shared the failed transaction are told to retry...
        for result in &results[..2] {
            assert!(
                matches!(result, Err(StoreError::Unavailable(_))),
                "{results:?}"
            );
        }
        // ...the failed one reports its own error...
        assert!(
            matches!(&results[2], Err(StoreError::Internal(message)) if message == "work 3 failed")
        );
        // ...and the works after it commit in a new transaction.
        assert!(results[3].is_ok() && results[4].is_ok(), "{results:?}");
        assert_eq!(stored(&connection), vec![4, 5]);
    }
}

#[cfg(test)]
mod wal_tests {
    use super::*;

    #[test]
    fn a_large_wal_starts_over_after_the_restart_checkpoint() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let path = directory.path().join("wal.sqlite");
        // The writer connection: no automatic checkpoints (the background thread's are
        // not running here), so only `bound_wal` can make the WAL start over.
        let connection = open_writer(&path).expect("open");
        connection
            .execute_batch("CREATE TABLE blobs (id INTEGER PRIMARY KEY, body BLOB)")
            .expect("table");
        let write = || {
            for id in 0..100 {
                connection
                    .execute(
                        "INSERT OR REPLACE INTO blobs (id, body) VALUES (?1, zeroblob(16384))",
                        [id],
                    )
                    .expect("insert");
            }
        };
        let wal = PathBuf::from(format!("{}-wal", path.display()));
        let wal_bytes = || std::fs::metadata(&wal).expect("wal file").len();
        write();
        let first = wal_bytes();
        // Below the limit nothing happens: more writes append to the WAL.
        bound_wal(&connection, &wal, u64::MAX);
        write();
        let grown = wal_bytes();
        assert!(
            grown > first,
            "the WAL grows without a restart: {first} -> {grown}"
        );
        // Above it, the next writes overwrite the WAL from its start instead of growing it.
        bound_wal(&connection, &wal, 1);
        write();
        assert_eq!(
            wal_bytes(),
            grown,
            "the WAL started over instead of growing"
        );
    }
}

#[cfg(test)]
mod sync_tests {
    use super::*;

    #[test]
    fn the_writer_connection_answers_through_the_syncer_after_its_commit() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let path = directory.path().join("synced.sqlite");
        let connection = open_writer(&path).expect("open");
        connection
            .execute_batch("CREATE TABLE items (id INTEGER PRIMARY KEY)")
            .expect("table");
        let syncer = Syncer::start(&connection, &path).expect("syncer");
        let synchronous: i64 = connection
            .query_row("PRAGMA synchronous", [], |row| row.get(0))
            .expect("pragma");
        assert_eq!(
            synchronous, 1,
            "the writer's commits no longer fsync themselves"
        );
        let (work, mut reply) = WriteWork::new(
            |connection: &Connection| {
                connection
                    .execute("INSERT INTO items (id) VALUES (7)", [])
                    .map(|_| ())
                    .map_err(internal)
            },
            false,
        );
        commit_group(
            &connection,
            vec![work],
            Hooks {
                committed: &|completions| syncer.acknowledge(completions),
                idle: &|| true,
            },
        );
        syncer.stop();
        assert!(matches!(reply.try_recv(), Ok(Ok(()))));
        let reader = open_reader(&path).expect("reader");
        let stored: i64 = reader
            .query_row("SELECT id FROM items", [], |row| row.get(0))
            .expect("row");
        assert_eq!(stored, 7);
    }
}
