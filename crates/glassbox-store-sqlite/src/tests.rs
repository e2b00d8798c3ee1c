//! The backend conformance suite of `glassbox-store`, run against the embedded backend:
//! every test gets a fresh database in its own temporary directory.

use glassbox_store::Stores;
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
