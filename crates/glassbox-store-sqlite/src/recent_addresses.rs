//! Addresses of recently stored payload parts, kept out of the `payload_addresses` index
//! until there are enough of them to move over in one sorted batch.
//!
//! Why: a part's address is a content hash, so inserting it into the `(project, hash)`
//! index writes to a random leaf page, and every commit then writes each page it dirtied
//! to the WAL. On the 10k-trace bench that index was 31 % of all WAL frames (~650 pages
//! of 4 KB per commit of ~450 spans), more than any other table. Instead the writer
//! appends a new part's address to `payload_recent_addresses` (keyed by part id, so it
//! fills pages in order) and to an in-memory map that the writer and every reader of the
//! same database consult first. Once the table holds [`FLUSH_AT`] addresses, the writer
//! moves them into `payload_addresses` in key order, one transaction touching each leaf
//! page at most once, and empties the table.
//!
//! The tables are the truth; the map only makes lookups fast:
//! - Addresses are added to the map while the transaction that stores their part runs. A
//!   reader only looks up addresses that a committed row names, so it never meets one
//!   whose part is not committed; if the transaction rolls back, the writer rebuilds the
//!   map from the table ([`after_rollback`]).
//! - A lookup that misses the map (a part stored before this process started and already
//!   moved, or one the map has lost) reads `payload_addresses` and then scans
//!   `payload_recent_addresses` (at most [`FLUSH_AT`] rows).
//! - At open, the writer loads the map from the table, so nothing is lost by a crash.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, RwLock};

use rusqlite::{Connection, params};

use glassbox_store::StoreResult;

use crate::connection::internal;

/// Recent addresses at which the writer moves them into `payload_addresses`. The map then
/// holds at most this many entries (~40 bytes each).
pub(crate) const FLUSH_AT: usize = 100_000;

type Hash = [u8; 16];

/// The in-memory map of one database's recent addresses.
pub(crate) struct RecentAddresses {
    /// project → address → part id.
    parts: RwLock<HashMap<String, HashMap<Hash, i64>>>,
    /// Entries in `parts`.
    count: AtomicU64,
    /// Bumped by every change, so that a rollback knows whether the map must be rebuilt.
    changes: AtomicU64,
}

/// One map per database file, shared by its writer and readers.
static BY_DATABASE: LazyLock<Mutex<HashMap<String, Arc<RecentAddresses>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The map of `connection`'s database (`None` for a database without a file).
pub(crate) fn of(connection: &Connection) -> Option<Arc<RecentAddresses>> {
    let path = connection.path().filter(|path| !path.is_empty())?;
    let mut maps = BY_DATABASE.lock().ok()?;
    Some(Arc::clone(maps.entry(path.to_owned()).or_insert_with(
        || {
            Arc::new(RecentAddresses {
                parts: RwLock::new(HashMap::new()),
                count: AtomicU64::new(0),
                changes: AtomicU64::new(0),
            })
        },
    )))
}

impl RecentAddresses {
    /// The id of the part at `hash` in `project`, if the map has it.
    pub(crate) fn get(&self, project: &str, hash: &[u8]) -> Option<i64> {
        let hash: &Hash = hash.try_into().ok()?;
        let parts = self.parts.read().ok()?;
        parts.get(project)?.get(hash).copied()
    }

    fn insert(&self, project: &str, hash: Hash, part_id: i64) {
        if let Ok(mut parts) = self.parts.write() {
            let previous = match parts.get_mut(project) {
                Some(addresses) => addresses.insert(hash, part_id),
                None => parts
                    .entry(project.to_owned())
                    .or_default()
                    .insert(hash, part_id),
            };
            if previous.is_none() {
                self.count.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.changes.fetch_add(1, Ordering::Relaxed);
    }

    /// Forgets addresses (their parts were deleted).
    pub(crate) fn remove<'a>(&self, project: &str, hashes: impl Iterator<Item = &'a [u8]>) {
        if let Ok(mut parts) = self.parts.write()
            && let Some(addresses) = parts.get_mut(project)
        {
            for hash in hashes {
                let removed = <&Hash>::try_from(hash)
                    .ok()
                    .and_then(|hash| addresses.remove(hash));
                if removed.is_some() {
                    self.count.fetch_sub(1, Ordering::Relaxed);
                }
            }
        }
        self.changes.fetch_add(1, Ordering::Relaxed);
    }

    /// A mark to compare with [`RecentAddresses::changed_since`].
    pub(crate) fn mark(&self) -> u64 {
        self.changes.load(Ordering::Relaxed)
    }

    fn changed_since(&self, mark: u64) -> bool {
        self.changes.load(Ordering::Relaxed) != mark
    }

    fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed) as usize
    }

    /// Replaces the map with the content of `payload_recent_addresses` as `connection`
    /// sees it.
    pub(crate) fn reload(&self, connection: &Connection) -> rusqlite::Result<()> {
        let mut loaded: HashMap<String, HashMap<Hash, i64>> = HashMap::new();
        let mut count = 0u64;
        let mut statement = connection.prepare(
            "SELECT n.project_id, r.hash, r.part_id FROM payload_recent_addresses r \
                 JOIN payload_projects n ON n.number = r.project",
        )?;
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            let project: String = row.get(0)?;
            let hash: Vec<u8> = row.get(1)?;
            let Ok(hash) = Hash::try_from(hash.as_slice()) else {
                continue;
            };
            if loaded
                .entry(project)
                .or_default()
                .insert(hash, row.get(2)?)
                .is_none()
            {
                count += 1;
            }
        }
        if let Ok(mut parts) = self.parts.write() {
            *parts = loaded;
            self.count.store(count, Ordering::Relaxed);
        }
        self.changes.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Records, inside the writer's transaction, that part `part_id` is stored at `hash`.
pub(crate) fn record(
    connection: &Connection,
    project: &str,
    hash: &[u8],
    part_id: i64,
) -> StoreResult<()> {
    let insert = || {
        connection
            .prepare_cached(
                "INSERT INTO payload_recent_addresses (part_id, project, hash) \
                 SELECT ?1, number, ?3 FROM payload_projects WHERE project_id = ?2",
            )
            .and_then(|mut statement| statement.execute(params![part_id, project, hash]))
            .map_err(internal)
    };
    // A project's first part numbers it.
    if insert()? == 0 {
        connection
            .prepare_cached("INSERT OR IGNORE INTO payload_projects (project_id) VALUES (?1)")
            .and_then(|mut statement| statement.execute(params![project]))
            .map_err(internal)?;
        insert()?;
    }
    if let (Some(map), Ok(hash)) = (of(connection), Hash::try_from(hash)) {
        map.insert(project, hash, part_id);
    }
    Ok(())
}

/// On the writer: the id of the part at `hash` in `project`, by the map, then by
/// `payload_addresses`. The writer's map holds exactly the recent table (its own
/// transaction's additions included; rebuilt after a rollback), so it needs no scan.
pub(crate) fn writer_part_id(
    connection: &Connection,
    project: &str,
    hash: &[u8],
) -> rusqlite::Result<Option<i64>> {
    match of(connection).and_then(|map| map.get(project, hash)) {
        Some(id) => Ok(Some(id)),
        None => part_id_in(connection, INDEXED, project, hash),
    }
}

/// The id of the part at `hash` in `project` by `payload_addresses`, then by a scan of
/// `payload_recent_addresses`.
pub(crate) fn part_id_in_tables(
    connection: &Connection,
    project: &str,
    hash: &[u8],
) -> rusqlite::Result<Option<i64>> {
    match part_id_in(connection, INDEXED, project, hash)? {
        Some(id) => Ok(Some(id)),
        None => part_id_in(connection, RECENT, project, hash),
    }
}

/// The part id of an address, by the index and by the recent table.
const INDEXED: &str = "SELECT part_id FROM payload_addresses \
    WHERE project = (SELECT number FROM payload_projects WHERE project_id = ?1) AND hash = ?2";
const RECENT: &str = "SELECT part_id FROM payload_recent_addresses \
    WHERE project = (SELECT number FROM payload_projects WHERE project_id = ?1) AND hash = ?2";

/// The id of the part at `hash` in `project` by one of [`INDEXED`] and [`RECENT`].
fn part_id_in(
    connection: &Connection,
    sql: &str,
    project: &str,
    hash: &[u8],
) -> rusqlite::Result<Option<i64>> {
    use rusqlite::OptionalExtension;
    connection
        .prepare_cached(sql)?
        .query_row(params![project, hash], |row| row.get(0))
        .optional()
}

/// The map's mark before a transaction or savepoint (`None` without a map).
pub(crate) fn mark(connection: &Connection) -> Option<u64> {
    of(connection).map(|map| map.mark())
}

/// After a rollback (of a transaction, or to a savepoint) that began at `mark`: if the
/// map changed since, rebuilds it from the table, which the rollback restored.
pub(crate) fn after_rollback(connection: &Connection, mark: Option<u64>) {
    let (Some(map), Some(mark)) = (of(connection), mark) else {
        return;
    };
    if map.changed_since(mark)
        && let Err(error) = map.reload(connection)
    {
        // Lookups then fall back to the tables.
        tracing::error!(%error, "reloading the recent payload addresses failed");
    }
}

/// Loads the map at open (the writer's connection, before any write).
pub(crate) fn load(connection: &Connection) -> Result<(), String> {
    if let Some(map) = of(connection) {
        map.reload(connection)
            .map_err(|error| format!("loading recent payload addresses: {error}"))?;
    }
    Ok(())
}

/// On the writer, outside any transaction: once [`FLUSH_AT`] addresses are recent, moves
/// them into `payload_addresses` in key order and empties the table, in one transaction,
/// then empties the map.
pub(crate) fn flush_if_full(connection: &Connection) {
    flush_from(connection, FLUSH_AT);
}

/// At shutdown, on the writer outside any transaction: moves every recent address into
/// the index, so that the database at rest needs neither the map nor a scan (as for
/// `glassbox migrate-data`, which reads it without a writer).
pub(crate) fn flush_at_shutdown(connection: &Connection) {
    flush_from(connection, 1);
}

/// Moves the recent addresses into the index once there are at least `count`.
fn flush_from(connection: &Connection, count: usize) {
    let Some(map) = of(connection) else {
        return;
    };
    if map.len() < count {
        return;
    }
    if let Err(error) = flush(connection, &map) {
        tracing::error!(%error, "moving recent payload addresses into their index failed");
        let _ = connection.execute_batch("ROLLBACK");
        // The map must match the table again.
        if let Err(error) = map.reload(connection) {
            tracing::error!(%error, "reloading the recent payload addresses failed");
        }
    }
}

/// Moves every recent address into `payload_addresses` (in key order) and empties the
/// table.
const MOVE: &str = "INSERT OR IGNORE INTO payload_addresses (project, hash, part_id)
         SELECT project, hash, part_id FROM payload_recent_addresses
         ORDER BY project, hash;
     DELETE FROM payload_recent_addresses;";

fn flush(connection: &Connection, map: &RecentAddresses) -> rusqlite::Result<()> {
    connection.execute_batch(&format!("BEGIN IMMEDIATE; {MOVE} COMMIT;"))?;
    // Lookups that miss the emptied map now find the addresses in the index.
    map.reload(connection)
}

/// Inside the writer's transaction: moves every recent address into `payload_addresses`
/// now (so that a scan of the index sees every part, as re-encoding needs). Until the
/// commit, readers find these addresses by the slower scan of the recent table.
pub(crate) fn flush_in_transaction(connection: &Connection) -> StoreResult<()> {
    connection.execute_batch(MOVE).map_err(internal)?;
    if let Some(map) = of(connection) {
        map.reload(connection).map_err(internal)?;
    }
    Ok(())
}

#[cfg(test)]
impl RecentAddresses {
    /// Empties the map, as a new process starts with (tests of [`load`]).
    pub(crate) fn forget(&self) {
        if let Ok(mut parts) = self.parts.write() {
            parts.clear();
            self.count.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flush_moves_the_recent_addresses_into_the_index_and_empties_the_map() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let connection =
            crate::connection::open_writer(&directory.path().join("flush.sqlite")).expect("open");
        load(&connection).expect("load");
        let map = of(&connection).expect("a map for a database file");
        connection.execute_batch("BEGIN").expect("begin");
        for (part_id, hash) in [(1, [1u8; 16]), (2, [2u8; 16]), (3, [0u8; 16])] {
            record(&connection, "p", &hash, part_id).expect("record");
        }
        connection.execute_batch("COMMIT").expect("commit");
        assert_eq!((map.len(), map.get("p", &[2u8; 16])), (3, Some(2)));
        flush_if_full(&connection); // far below FLUSH_AT: nothing moves
        assert_eq!(map.len(), 3);
        flush(&connection, &map).expect("flush");
        assert_eq!((map.len(), map.get("p", &[2u8; 16])), (0, None));
        let moved: Vec<(Vec<u8>, i64)> = connection
            .prepare("SELECT hash, part_id FROM payload_addresses ORDER BY hash")
            .and_then(|mut statement| {
                statement
                    .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                    .collect()
            })
            .expect("addresses");
        assert_eq!(
            moved,
            vec![(vec![0u8; 16], 3), (vec![1u8; 16], 1), (vec![2u8; 16], 2)]
        );
        let left: i64 = connection
            .query_row("SELECT COUNT(*) FROM payload_recent_addresses", [], |row| {
                row.get(0)
            })
            .expect("count");
        assert_eq!(left, 0);
        assert_eq!(
            part_id_in_tables(&connection, "p", &[1u8; 16]).expect("lookup"),
            Some(1)
        );
    }
}
