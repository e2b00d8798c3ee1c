//! The WAL syncer: answers the writer's commits once an fsync of the WAL covers them, so
//! that the writer goes on with the next group meanwhile (see [`Syncer`]).

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

use rusqlite::Connection;

use glassbox_store::StoreError;

use crate::connection::{Completion, answer};
use crate::profile::{self, Phase};

/// Most commits waiting for their WAL sync; beyond it the writer waits for the syncer.
const SYNC_QUEUE_CAPACITY: usize = 64;

/// Answers committed writes once the WAL that holds them is on disk.
///
/// With `synchronous = FULL`, every COMMIT waits for an fsync of the WAL on the writer
/// thread (measured at ~15 % of a 10k-trace ingest). Instead the writer connection runs
/// with `synchronous = NORMAL`, where a COMMIT writes its WAL frames without syncing them
/// (SQLite still syncs the WAL before every checkpoint copies from it), and hands the
/// commit's completions to this thread. It fsyncs the WAL file and only then answers
/// every commit that was made before the fsync began, so an acknowledged write survives
/// a power cut as before, while the writer runs the next group during the fsync, and one
/// fsync covers all commits made meanwhile. Once an fsync fails, no later commit is
/// acknowledged: the writes stay committed, but their clients are told to retry.
pub(crate) struct Syncer {
    sender: SyncSender<Vec<Completion>>,
    thread: JoinHandle<()>,
}

impl Syncer {
    /// Switches `connection` (the writer's) to unsynced commits and starts the thread
    /// that syncs `database`'s WAL. `None` (commits keep syncing themselves) if either
    /// fails.
    pub(crate) fn start(connection: &Connection, database: &Path) -> Option<Syncer> {
        let wal = PathBuf::from(format!("{}-wal", database.display()));
        let (sender, receiver) = mpsc::sync_channel::<Vec<Completion>>(SYNC_QUEUE_CAPACITY);
        let thread = std::thread::Builder::new()
            .name("glassbox-sqlite-sync".into())
            .spawn(move || sync_loop(receiver, || sync_file(&wal)));
        let thread = match thread {
            Ok(thread) => thread,
            Err(error) => {
                tracing::warn!(%error, "no WAL syncer thread; commits sync themselves");
                return None;
            }
        };
        let syncer = Syncer { sender, thread };
        if let Err(error) = connection.execute_batch("PRAGMA synchronous = NORMAL") {
            tracing::warn!(%error, "writer kept synchronous = FULL");
            syncer.stop();
            return None;
        }
        Some(syncer)
    }

    /// Answers the completions of a commit that succeeded once it is on disk. Blocks
    /// while [`SYNC_QUEUE_CAPACITY`] commits are waiting.
    pub(crate) fn acknowledge(&self, completions: Vec<Completion>) {
        if let Err(mpsc::SendError(completions)) = self.sender.send(completions) {
            // The thread is gone: nothing can confirm the commit, so nothing is confirmed.
            answer(completions, || {
                Err(StoreError::Unavailable(
                    "the WAL syncer stopped; retry".into(),
                ))
            });
        }
    }

    /// Answers what is queued and stops the thread.
    pub(crate) fn stop(self) {
        drop(self.sender);
        let _ = self.thread.join();
    }
}

/// fsyncs the file at `path`; Linux syncs a file's pages whichever descriptor wrote them.
fn sync_file(path: &Path) -> std::io::Result<()> {
    std::fs::File::open(path)?.sync_data()
}

/// The syncer thread: fsync, then answer what was committed before it, until `receiver`
/// closes.
fn sync_loop(receiver: Receiver<Vec<Completion>>, sync: impl Fn() -> std::io::Result<()>) {
    let mut failed: Option<String> = None;
    while let Ok(first) = receiver.recv() {
        let mut commits = vec![first];
        commits.extend(receiver.try_iter());
        if failed.is_none() {
            if let Err(error) = profile::time(Phase::Sync, &sync) {
                tracing::error!(%error, "fsync of the sqlite WAL failed; writes are no longer acknowledged");
                failed = Some(format!(
                    "the database could not be synced to disk ({error}); retry"
                ));
            }
        }
        answer(commits.into_iter().flatten().collect(), || match &failed {
            None => Ok(()),
            Some(message) => Err(StoreError::Unavailable(message.clone())),
        });
    }
}

#[cfg(test)]
mod sync_tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use glassbox_store::StoreResult;

    use super::*;

    /// A completion that records, when answered, its outcome and how many syncs had run.
    fn completion(
        syncs: &Arc<AtomicUsize>,
        answers: &Arc<Mutex<Vec<(bool, usize)>>>,
    ) -> Completion {
        let (syncs, answers) = (Arc::clone(syncs), Arc::clone(answers));
        Box::new(move |outcome: StoreResult<()>| {
            let synced = syncs.load(Ordering::SeqCst);
            answers
                .lock()
                .expect("lock")
                .push((outcome.is_ok(), synced));
        })
    }

    /// Runs the syncer over `commits` (completions per commit), queued before it starts,
    /// with a sync that fails from the `fail_from`-th call on; returns each answer.
    fn sync_commits(commits: &[usize], fail_from: usize) -> (Vec<(bool, usize)>, usize) {
        let syncs = Arc::new(AtomicUsize::new(0));
        let answers = Arc::new(Mutex::new(Vec::new()));
        let (sender, receiver) = mpsc::sync_channel::<Vec<Completion>>(commits.len());
        for &count in commits {
            let batch = (0..count).map(|_| completion(&syncs, &answers)).collect();
            sender.send(batch).expect("queued");
        }
        drop(sender);
        let counter = Arc::clone(&syncs);
        sync_loop(receiver, move || {
            let call = counter.fetch_add(1, Ordering::SeqCst) + 1;
            if call >= fail_from {
                return Err(std::io::Error::other("disk gone"));
            }
            Ok(())
        });
        let answers = answers.lock().expect("lock").clone();
        (answers, syncs.load(Ordering::SeqCst))
    }

    #[test]
    fn commits_are_answered_after_one_fsync_that_covers_them_all() {
        let (answers, syncs) = sync_commits(&[2, 1, 3], usize::MAX);
        assert_eq!(syncs, 1, "the three queued commits share one fsync");
        assert_eq!(
            answers,
            vec![(true, 1); 6],
            "every write answered after the fsync"
        );
    }

    #[test]
    fn after_a_failed_fsync_no_commit_is_acknowledged() {
        let (answers, syncs) = sync_commits(&[1, 2], 1);
        assert_eq!(syncs, 1);
        assert_eq!(answers, vec![(false, 1); 3]);
    }
}
