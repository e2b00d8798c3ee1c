//! The backend conformance suite of `glassbox-store`, run against the embedded backend
//! (every test gets a fresh database in its own temporary directory), and what a clean
//! shutdown leaves in the data directory.

use glassbox_model::ProjectId;
use glassbox_model::ingest::{EntityKind, IngestEvent};
use glassbox_store::{IngestStore, Stores, TraceStore};
use tempfile::TempDir;

use crate::SqliteStore;

/// A new, empty backend. The directory lives as long as the test holds the tuple.
async fn fresh_backend() -> (Stores, TempDir) {
    let directory = tempfile::tempdir().expect("temporary directory");
    let store = SqliteStore::open(directory.path()).expect("open the embedded store");
    (Stores::from_backend(store), directory)
}

glassbox_store::conformance_suite!(fresh_backend());
glassbox_store::prompt_conformance_suite!(fresh_backend());
glassbox_store::user_conformance_suite!(fresh_backend());

/// A `trace-create` event of trace `id`.
fn trace_create(id: &str, body: serde_json::Value) -> IngestEvent {
    IngestEvent {
        event_id: format!("e-{id}"),
        event_type: "trace-create".into(),
        timestamp: 1_740_823_200_000_000,
        kind: EntityKind::Trace,
        entity_id: id.to_owned(),
        body: body.as_object().cloned().expect("an object"),
        snapshot: false,
    }
}

/// A clean shutdown closes every connection, the pooled readers' first, so SQLite
/// removes the `-wal` and `-shm` files with the last one and the database is one file
/// (the `-shm` index alone was ~2 MB after a 10k-trace bench run).
#[tokio::test]
async fn a_clean_shutdown_leaves_only_the_database_file() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let store = SqliteStore::open(directory.path()).expect("open the embedded store");
    let project = ProjectId("p".into());
    let event = trace_create("t", serde_json::json!({"id": "t", "name": "n"}));
    store.ingest(&project, vec![event]).await.expect("ingest");
    // Two concurrent reads: two pooled reader connections.
    let (first, second) = tokio::join!(
        store.get_trace(&project, "t"),
        store.get_trace(&project, "t")
    );
    assert!(first.expect("read").is_some() && second.expect("read").is_some());
    let files = |suffix: &str| {
        directory
            .path()
            .join(format!("{}{suffix}", crate::DATABASE_FILE))
    };
    assert!(
        files("-wal").exists(),
        "the WAL exists while the store is open"
    );
    store.shutdown();
    assert!(files("").exists());
    assert!(!files("-wal").exists(), "the WAL is removed at shutdown");
    assert!(
        !files("-shm").exists(),
        "the WAL index is removed at shutdown"
    );
}

/// A new database keeps a pointer map (`auto_vacuum = INCREMENTAL`), and a clean
/// shutdown gives the free pages back: after a delete, the stopped file has none.
#[tokio::test]
async fn a_clean_shutdown_returns_free_pages() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let store = SqliteStore::open(directory.path()).expect("open the embedded store");
    let project = ProjectId("p".into());
    let ids: Vec<String> = (0..200).map(|trace| format!("t{trace}")).collect();
    let events = ids
        .iter()
        .map(|id| {
            trace_create(
                id,
                serde_json::json!({"id": id, "input": format!("{id} ").repeat(2_000)}),
            )
        })
        .collect();
    store.ingest(&project, events).await.expect("ingest");
    store.delete_traces(&project, &ids).await.expect("delete");
    store.shutdown();
    let database = rusqlite::Connection::open(directory.path().join(crate::DATABASE_FILE))
        .expect("open the stopped database");
    let pragma = |name: &str| -> i64 {
        database
            .query_row(&format!("PRAGMA {name}"), [], |row| row.get(0))
            .expect("pragma")
    };
    assert_eq!(pragma("auto_vacuum"), 2, "incremental");
    assert_eq!(pragma("freelist_count"), 0);
}
