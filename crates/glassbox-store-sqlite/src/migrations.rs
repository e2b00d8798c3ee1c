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
    (
        13,
        include_str!("../migrations/0013_observation_measures.sql"),
    ),
    (
        14,
        include_str!("../migrations/0014_observations_by_model_partial.sql"),
    ),
    (
        15,
        include_str!("../migrations/0015_payload_dictionary_reencoded.sql"),
    ),
    (
        16,
        include_str!("../migrations/0016_observations_by_time_narrow.sql"),
    ),
    (17, include_str!("../migrations/0017_payload_parts.sql")),
    (
        18,
        include_str!("../migrations/0018_payload_recent_addresses.sql"),
    ),
    (
        19,
        include_str!("../migrations/0019_compact_latency_sketches.sql"),
    ),
    (
        20,
        include_str!("../migrations/0020_payload_project_numbers.sql"),
    ),
    (
        21,
        include_str!("../migrations/0021_observations_by_model_without_id.sql"),
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

    /// The measures migration fills the new columns of observations from their facts,
    /// asks for a rebuild when an observation has none, and drops the facts.
    #[test]
    fn observation_measures_come_from_the_facts() {
        let mut connection = Connection::open_in_memory().unwrap();
        let measures = MIGRATIONS
            .iter()
            .position(|(_, sql)| sql.contains("DROP TABLE observation_facts"))
            .unwrap();
        apply_list(&mut connection, &MIGRATIONS[..measures]).unwrap();
        connection
            .execute_batch(
                "INSERT INTO observations (project_id, id, trace_id, type, start_time, environment, metadata, level, \
                 provided_usage_details, usage_details, provided_cost_details, cost_details, created_at, updated_at) \
                 VALUES ('p', 'a', 't', 'GENERATION', 10, 'default', '{}', 'DEFAULT', '{}', '{}', '{}', '{}', 1, 1), \
                 ('p', 'b', 't', 'GENERATION', 20, 'default', '{}', 'DEFAULT', '{}', '{}', '{}', '{}', 1, 1); \
                 INSERT INTO observation_facts (project_id, start_time, id, trace_id, type, environment, level, is_root, \
                 input_tokens, output_tokens, total_tokens, input_cost, output_cost, trace_tags) \
                 VALUES ('p', 10, 'a', 't', 'GENERATION', 'default', 'DEFAULT', 1, 5, 6, 11, 0.5, 0.25, '[]');",
            )
            .unwrap();
        apply(&mut connection).unwrap();
        let measures = |id: &str| -> (i64, i64, i64, f64, f64) {
            connection
                .query_row(
                    "SELECT input_tokens, output_tokens, total_tokens, input_cost, output_cost FROM observations \
                     WHERE project_id = 'p' AND id = ?1",
                    [id],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?)),
                )
                .unwrap()
        };
        assert_eq!(measures("a"), (5, 6, 11, 0.5, 0.25));
        assert_eq!(measures("b"), (0, 0, 0, 0.0, 0.0));
        let rebuild: i64 = connection
            .query_row(
                "SELECT value FROM derived_state WHERE name = 'rebuild_metrics'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(
            rebuild, 1,
            "observation b has no fact: the rollups are rebuilt"
        );
        let facts: i64 = connection
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name LIKE 'observation_facts%'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(facts, 0);
    }

    /// The payload-parts migration keeps every part under its address, with the old
    /// rowid as its id, and new parts get ids after them; the project-number migration
    /// keeps them under their project.
    #[test]
    fn payload_parts_keep_their_addresses() {
        let mut connection = Connection::open_in_memory().unwrap();
        let split = MIGRATIONS
            .iter()
            .position(|(_, sql)| sql.contains("CREATE TABLE payload_parts"))
            .unwrap();
        apply_list(&mut connection, &MIGRATIONS[..split]).unwrap();
        connection
            .execute_batch(
                "INSERT INTO payloads (project_id, hash, data) VALUES \
                 ('p', x'01', x'0061'), ('q', x'01', x'0062'), ('p', x'02', x'0063');",
            )
            .unwrap();
        apply(&mut connection).unwrap();
        let parts: Vec<(String, Vec<u8>, i64, Vec<u8>)> = connection
            .prepare(
                "SELECT n.project_id, a.hash, a.part_id, p.data FROM payload_addresses a \
                 JOIN payload_projects n ON n.number = a.project \
                 JOIN payload_parts p ON p.id = a.part_id ORDER BY a.part_id",
            )
            .unwrap()
            .query_map([], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(
            parts,
            [
                ("p".to_owned(), vec![1], 1, vec![0, b'a']),
                ("q".to_owned(), vec![1], 2, vec![0, b'b']),
                ("p".to_owned(), vec![2], 3, vec![0, b'c']),
            ]
        );
        let viewed: i64 = connection
            .query_row(
                "SELECT count(*) FROM payloads WHERE project_id = 'p'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(viewed, 2);
        connection
            .execute("INSERT INTO payload_parts (data) VALUES (x'00')", [])
            .unwrap();
        assert_eq!(connection.last_insert_rowid(), 4);
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
