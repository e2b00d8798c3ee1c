//! The backend conformance suite of `glassbox-store`, run against PostgreSQL: every test
//! gets a fresh schema in the database named by `GLASSBOX_TEST_DATABASE_URL`
//! (`scripts/postgres-test-cluster.sh start` prints one).

use glassbox_store::Stores;

use crate::{PgConfig, PgStore};

/// Keeps the test's store open; the schema stays behind (the test cluster is thrown away).
pub(crate) struct SchemaGuard;

pub(crate) fn test_database_url() -> String {
    std::env::var("GLASSBOX_TEST_DATABASE_URL").expect(
        "GLASSBOX_TEST_DATABASE_URL must name a PostgreSQL server for the PostgreSQL backend's \
         tests: run `scripts/postgres-test-cluster.sh start` and export the URL it prints",
    )
}

/// The configuration of a new schema; stores connected with it share that schema (as
/// several processes share one database).
pub(crate) fn fresh_config() -> PgConfig {
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut config = PgConfig::new(test_database_url());
    config.schema = Some(schema);
    config.pool_size = 4;
    config
}

/// A new, empty backend in its own schema.
pub(crate) async fn fresh_backend() -> (Stores, SchemaGuard) {
    let store = PgStore::connect(fresh_config())
        .await
        .expect("connect to the test database");
    (Stores::from_backend(store), SchemaGuard)
}

glassbox_store::conformance_suite!(fresh_backend());
glassbox_store::prompt_conformance_suite!(fresh_backend());
glassbox_store::user_conformance_suite!(fresh_backend());
