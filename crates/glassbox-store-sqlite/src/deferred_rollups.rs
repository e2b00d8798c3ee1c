//! Rollup cell changes of committed ingest requests, written to the rollup tables in
//! batches instead of by every commit.
//!
//! Why: the bench's traces spread over 30 days, so each request of 256 spans changes a
//! few hundred of the ~7,000 daily cells, and every commit rewrote ~250 of their pages
//! (17 % of the WAL frames after the payload addresses went). The writer now keeps the
//! changes of committed requests ([`derived::batched`](crate::derived::batched) stages
//! them here) and writes them in the transaction of a later group: when nothing else is
//! waiting (so an idle store is always exact and tests see their writes), when the
//! oldest is [`MAX_AGE`] old, or when [`MAX_CHANGES`] are waiting. Metrics are therefore
//! at most ~`MAX_AGE` behind under sustained ingestion.
//!
//! Changes are deltas (a re-folded observation's old fact subtracted, its new one added)
//! that add up in any order, so writing them later gives the same cells. A cell whose
//! rows drop to zero is deleted; one that a direct (unbuffered) change took below zero is
//! kept until the buffered changes bring it back.
//!
//! Durability: the buffer is lost in a crash. The transaction that first leaves changes
//! unwritten also sets `derived_state.rebuild_metrics`, and the one that writes them
//! clears it, so a start after a crash rebuilds the rollups from the rows
//! (`derived::rebuild_if_needed`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use glassbox_model::ProjectId;
use glassbox_store::StoreResult;

use crate::connection::internal;
use crate::derived::{Address, Fact, ROLLUPS, apply_cell};

/// Longest a committed change waits to be written.
pub(crate) const MAX_AGE: Duration = Duration::from_millis(500);
/// Most changes waiting (a change holds one shared fact).
const MAX_CHANGES: usize = 200_000;

/// A rollup cell: (rollup index, project, address).
pub(crate) type CellKey = (usize, String, Address);
/// Changes per cell, in the order they were made.
pub(crate) type CellChanges = HashMap<CellKey, Vec<(Rc<Fact>, i64)>>;

#[derive(Default)]
struct Buffer {
    /// Changes of committed transactions, not yet written.
    committed: CellChanges,
    /// Changes of the running transaction, one entry per request that succeeded.
    staged: Vec<CellChanges>,
    /// Changes in `committed` and `staged`.
    changes: usize,
    /// When the oldest unwritten change was staged.
    since: Option<Instant>,
    /// Whether the committed database says the rollups miss changes.
    marked: bool,
    /// What the running transaction did: wrote every change, or marked the rollups.
    transaction: Option<Outcome>,
}

#[derive(Clone, Copy, PartialEq)]
enum Outcome {
    Wrote,
    Marked,
}

/// Transactions that wrote the waiting changes (for the writer profile).
static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Transactions that wrote the waiting changes, since start.
pub(crate) fn writes() -> u64 {
    WRITES.load(std::sync::atomic::Ordering::Relaxed)
}

thread_local! {
    /// The writer thread's buffer.
    static BUFFER: RefCell<Buffer> = RefCell::new(Buffer::default());
}

/// Keeps the changes of a request that succeeded, until its transaction ends.
pub(crate) fn stage(changes: CellChanges) {
    if changes.is_empty() {
        return;
    }
    BUFFER.with(|buffer| {
        let mut buffer = buffer.borrow_mut();
        buffer.changes += count(&changes);
        buffer.since.get_or_insert_with(Instant::now);
        buffer.staged.push(changes);
    });
}

/// A mark to give [`discard_since`] when a savepoint rolls back.
pub(crate) fn mark() -> usize {
    BUFFER.with(|buffer| buffer.borrow().staged.len())
}

/// Drops what was staged since `mark` (its savepoint was rolled back).
pub(crate) fn discard_since(mark: usize) {
    BUFFER.with(|buffer| {
        let mut buffer = buffer.borrow_mut();
        let from = mark.min(buffer.staged.len());
        let dropped: usize = buffer
            .staged
            .drain(from..)
            .map(|changes| count(&changes))
            .sum();
        buffer.changes -= dropped;
    });
}

/// Just before the writer commits: writes every waiting change if `idle` (nothing else
/// is queued), if the oldest is [`MAX_AGE`] old or if too many wait; otherwise marks the
/// rollups as missing changes (once). An error fails the transaction.
pub(crate) fn before_commit(connection: &Connection, idle: bool) -> StoreResult<()> {
    BUFFER.with(|buffer| {
        let mut buffer = buffer.borrow_mut();
        let waiting = buffer.changes > 0;
        let due = buffer.since.is_some_and(|since| since.elapsed() >= MAX_AGE)
            || buffer.changes >= MAX_CHANGES;
        if waiting && (idle || due) {
            crate::profile::time(crate::profile::Phase::Derived, || {
                write(connection, &buffer.committed, &buffer.staged)
            })?;
            if buffer.marked {
                set_marker(connection, false)?;
            }
            buffer.transaction = Some(Outcome::Wrote);
            WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        } else if waiting && !buffer.marked && !buffer.staged.is_empty() {
            set_marker(connection, true)?;
            buffer.transaction = Some(Outcome::Marked);
        }
        Ok(())
    })
}

/// After the writer's transaction ended (`committed` or rolled back).
pub(crate) fn after_transaction(committed: bool) {
    BUFFER.with(|buffer| {
        let mut buffer = buffer.borrow_mut();
        let outcome = buffer.transaction.take();
        let staged = std::mem::take(&mut buffer.staged);
        if !committed {
            let dropped: usize = staged.iter().map(count).sum();
            buffer.changes -= dropped;
            if buffer.changes == 0 {
                buffer.since = None;
            }
            return;
        }
        match outcome {
            Some(Outcome::Wrote) => {
                buffer.committed.clear();
                buffer.changes = 0;
                buffer.since = None;
                buffer.marked = false;
            }
            other => {
                if other == Some(Outcome::Marked) {
                    buffer.marked = true;
                }
                for changes in staged {
                    for (key, list) in changes {
                        buffer.committed.entry(key).or_default().extend(list);
                    }
                }
            }
        }
    })
}

fn count(changes: &CellChanges) -> usize {
    changes.values().map(Vec::len).sum()
}

/// Whether changes wait to be written (for the writer's last transaction at shutdown).
pub(crate) fn waiting() -> bool {
    BUFFER.with(|buffer| buffer.borrow().changes > 0)
}

/// Writes the committed and the staged changes, each cell once.
fn write(
    connection: &Connection,
    committed: &CellChanges,
    staged: &[CellChanges],
) -> StoreResult<()> {
    let mut cells: HashMap<&CellKey, Vec<(&Fact, i64)>> = HashMap::new();
    for changes in std::iter::once(committed).chain(staged) {
        for (key, list) in changes {
            cells
                .entry(key)
                .or_default()
                .extend(list.iter().map(|(fact, sign)| (&**fact, *sign)));
        }
    }
    for ((index, project, address), changes) in cells {
        apply_cell(
            connection,
            &ProjectId(project.clone()),
            &ROLLUPS[*index],
            address,
            &changes,
        )?;
    }
    Ok(())
}

fn set_marker(connection: &Connection, missing: bool) -> StoreResult<()> {
    connection
        .prepare_cached(
            "INSERT INTO derived_state (name, value) VALUES ('rebuild_metrics', ?1) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .and_then(|mut statement| statement.execute([i64::from(missing)]))
        .map(drop)
        .map_err(internal)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicI64;

    use serde_json::json;

    use glassbox_model::ingest::{EntityKind, IngestEvent};

    use super::*;

    fn generations(count: i64) -> Vec<IngestEvent> {
        (0..count)
            .map(|index| {
                let start = 1_740_823_200_000_000 + index * 86_400_000_000; // one per day
                IngestEvent {
                    event_id: format!("e{index}"),
                    event_type: "generation-create".into(),
                    timestamp: start,
                    kind: EntityKind::Observation,
                    entity_id: format!("g{index}"),
                    body: json!({"id": format!("g{index}"), "traceId": format!("t{index}"),
                        "type": "GENERATION", "model": "gpt-4o", "startTime": start,
                        "endTime": start + 1_000_000,
                        "providedUsageDetails": {"input": 100 + index, "output": 10}})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
                    snapshot: false,
                }
            })
            .collect()
    }

    fn rollups(connection: &Connection) -> Vec<(String, i64, f64)> {
        connection
            .prepare(
                "SELECT key, rows, input_tokens FROM rollup_observations_daily \
                 ORDER BY bucket, key",
            )
            .and_then(|mut statement| {
                statement
                    .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
                    .collect()
            })
            .expect("rollups")
    }

    fn marked(connection: &Connection) -> bool {
        connection
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM derived_state WHERE name = 'rebuild_metrics' AND value = 1)",
                [],
                |row| row.get(0),
            )
            .expect("derived state")
    }

    /// One transaction as the writer runs it: `events` applied, then committed with
    /// `idle` telling whether other work waits.
    fn commit(connection: &Connection, events: Vec<IngestEvent>, idle: bool) {
        connection.execute_batch("BEGIN IMMEDIATE").expect("begin");
        if !events.is_empty() {
            let arrived = crate::apply::Arrived::new(events, 1_740_823_200_000_000);
            let project = ProjectId("p".into());
            crate::apply::apply_events(connection, &project, arrived, &AtomicI64::new(0))
                .expect("applied");
        }
        before_commit(connection, idle).expect("before commit");
        connection.execute_batch("COMMIT").expect("commit");
        after_transaction(true);
    }

    #[test]
    fn busy_commits_leave_rollups_for_later_and_a_crash_rebuilds_them() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let path = directory.path().join(crate::DATABASE_FILE);
        let connection = crate::connection::open_writer(&path).expect("open");

        // Other work waits: the changes stay in the buffer, the rollups are marked.
        commit(&connection, generations(3), false);
        assert!(rollups(&connection).is_empty());
        assert!(marked(&connection));
        // A rolled-back transaction's changes are dropped.
        connection.execute_batch("BEGIN IMMEDIATE").expect("begin");
        let arrived = crate::apply::Arrived::new(generations(5), 1_740_823_200_000_000);
        crate::apply::apply_events(
            &connection,
            &ProjectId("p".into()),
            arrived,
            &AtomicI64::new(10),
        )
        .expect("applied");
        connection.execute_batch("ROLLBACK").expect("rollback");
        after_transaction(false);
        // Idle: everything waiting is written, the mark cleared.
        commit(&connection, Vec::new(), true);
        let written = rollups(&connection);
        assert_eq!(written.len(), 3, "{written:?}");
        assert!(written.iter().all(|(_, rows, _)| *rows == 1));
        assert_eq!(
            written.iter().map(|(_, _, tokens)| tokens).sum::<f64>(),
            303.0
        );
        assert!(!marked(&connection));

        // A crash with changes in the buffer: the next start rebuilds them from the rows.
        commit(&connection, generations(4), false);
        assert!(marked(&connection));
        BUFFER.with(|buffer| *buffer.borrow_mut() = Buffer::default());
        drop(connection);
        let connection = crate::connection::open_writer(&path).expect("reopen");
        crate::derived::rebuild_if_needed(&connection).expect("rebuild");
        let rebuilt = rollups(&connection);
        assert_eq!(rebuilt.len(), 4, "{rebuilt:?}");
        assert_eq!(
            rebuilt.iter().map(|(_, _, tokens)| tokens).sum::<f64>(),
            406.0
        );
        assert!(!marked(&connection));
    }
}
