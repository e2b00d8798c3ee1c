//! Versioned schema migrations, applied at start-up. Each migration runs in one
//! transaction together with the bump of `PRAGMA user_version`, so a failure leaves the
//! database exactly at the previous version. Never edit an applied migration: add one.

use rusqlite::Connection;

/// (version, SQL) in order; versions are 1, 2, 3, ... without gaps (checked by a test), so a
/// database at version `n` has exactly the first `n` migrations.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_init.sql")),
    (2, include_str!("../migrations/0002_media.sql")),
    (
        3,
        include_str!("../migrations/0003_observation_app_root.sql"),
    ),
    (4, include_str!("../migrations/0004_prompts.sql")),
    (5, include_str!("../migrations/0005_annotations.sql")),
    (6, include_str!("../migrations/0006_models.sql")),
    (7, include_str!("../migrations/0007_datasets.sql")),
    (8, include_str!("../migrations/0008_ui_sessions.sql")),
    (9, include_str!("../migrations/0009_payloads.sql")),
    (
        10,
        include_str!("../migrations/0010_observation_snapshots.sql"),
    ),
    (
        11,
        include_str!("../migrations/0011_trace_lookup_indexes.sql"),
    ),
    (
        12,
        include_str!("../migrations/0012_payload_dictionaries.sql"),
    ),
];

/// The schema version this binary writes.
pub const LATEST_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

pub fn apply(connection: &mut Connection) -> Result<(), String> {
    apply_list(connection, MIGRATIONS)
}

fn apply_list(connection: &mut Connection, migrations: &[(i64, &str)]) -> Result<(), String> {
    let current: i64 = connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(|error| format!("reading the schema version failed: {error}"))?;
    let latest = migrations.last().map(|(version, _)| *version).unwrap_or(0);
    if current > latest {
        return Err(format!(
            "the data directory has schema version {current}, newer than this binary's {latest}; upgrade glassbox"
        ));
    }
    for (version, sql) in migrations.iter().filter(|(version, _)| *version > current) {
        let transaction = connection
            .transaction()
            .map_err(|error| format!("migration {version}: {error}"))?;
        transaction
            .execute_batch(sql)
            .and_then(|()| transaction.execute_batch(&format!("PRAGMA user_version = {version}")))
            .map_err(|error| format!("migration {version} failed and was rolled back: {error}"))?;
        transaction
            .commit()
            .map_err(|error| format!("migration {version}: commit failed: {error}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_migration_leaves_the_previous_version() {
        let mut connection = Connection::open_in_memory().unwrap();
        let migrations: &[(i64, &str)] = &[
            (1, "CREATE TABLE a (x INTEGER);"),
            (2, "CREATE TABLE b (y INTEGER); THIS IS NOT SQL;"),
        ];
        let error = apply_list(&mut connection, migrations).unwrap_err();
        assert!(error.contains("migration 2"), "{error}");
        let version: i64 = connection
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .unwrap();
        assert_eq!(version, 1);
        let has_b: i64 = connection
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'b'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(has_b, 0, "the half-applied migration must be rolled back");
    }

    #[test]
    fn applies_all_and_is_idempotent() {
        let mut connection = Connection::open_in_memory().unwrap();
        apply(&mut connection).unwrap();
        apply(&mut connection).unwrap();
        let version: i64 = connection
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .unwrap();
        assert_eq!(version, LATEST_VERSION);
    }

    #[test]
    fn versions_are_contiguous_from_one() {
        for (index, (version, _)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(
                *version,
                index as i64 + 1,
                "migration versions must be 1, 2, 3, ... without gaps"
            );
        }
    }

    #[test]
    fn refuses_a_newer_schema() {
        let mut connection = Connection::open_in_memory().unwrap();
        connection
            .execute_batch("PRAGMA user_version = 99")
            .unwrap();
        assert!(apply(&mut connection).unwrap_err().contains("newer"));
    }
}
