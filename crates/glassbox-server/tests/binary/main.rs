//! Black-box tests of the real `glassbox` binary: each test starts the built executable
//! on a temporary data directory and a free loopback port, and talks to it over HTTP the
//! way an SDK would. The PostgreSQL tests (`postgres.rs`, `migrate_data.rs`) use the
//! server named by `GLASSBOX_TEST_DATABASE_URL`, each in a schema of its own.
//!
//! No test asserts tight timings: waits poll with generous deadlines so that a loaded
//! two-core machine does not make them flaky.

mod credentials;
mod durability;
mod durability_otlp;
mod migrate_data;
mod otlp_grpc;
mod postgres;
mod startup;
mod support;
