//! Usage and cost maps that the row's measure columns already hold (issue 8: bytes on
//! disk per span).
//!
//! Most generations carry usage `{"input":…,"output":…,"total":…}`, the same map as
//! provided usage, and cost `{"input":…,"output":…,"total":…}`; the row also keeps each of
//! those numbers in its measure columns (`input_tokens`, …, `input_cost`, `output_cost`,
//! `total_cost`). Such a map is stored as [`FROM_MEASURES`] (`=`): in `usage_details` and
//! `cost_details` it means "the map of the measure columns", in `provided_usage_details`
//! "the same map as `usage_details`". Any other map is stored as JSON text, as before.
//!
//! SQL reads the maps through [`USAGE_DETAILS_SQL`], [`COST_DETAILS_SQL`] and
//! [`PROVIDED_USAGE_DETAILS_SQL`] (table alias `o`), which give the JSON text either way.

use rusqlite::functions::FunctionFlags;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, Error};
use serde_json::{Map, Number, Value};

use glassbox_model::JsonObject;

use crate::derived::Measures;

/// A map stored as what the row's other columns say.
pub(crate) const FROM_MEASURES: &str = "=";

/// The keys, in this order, of a map that can be stored as [`FROM_MEASURES`].
const KEYS: [&str; 3] = ["input", "output", "total"];

/// The literal SQL of the three expressions, for `concat!` in column lists.
macro_rules! usage_details_sql {
    () => {
        "gb_usage(o.usage_details, o.input_tokens, o.output_tokens, o.total_tokens)"
    };
}
macro_rules! cost_details_sql {
    () => {
        "gb_cost(o.cost_details, o.input_cost, o.output_cost, o.total_cost)"
    };
}
macro_rules! provided_usage_details_sql {
    () => {
        concat!(
            "CASE o.provided_usage_details WHEN '=' THEN ",
            usage_details_sql!(),
            " ELSE o.provided_usage_details END"
        )
    };
}
pub(crate) use {cost_details_sql, provided_usage_details_sql, usage_details_sql};

/// `o.usage_details` as JSON text.
pub(crate) const USAGE_DETAILS_SQL: &str = usage_details_sql!();
/// `o.cost_details` as JSON text.
pub(crate) const COST_DETAILS_SQL: &str = cost_details_sql!();
/// `o.provided_usage_details` as JSON text.
pub(crate) const PROVIDED_USAGE_DETAILS_SQL: &str = provided_usage_details_sql!();

/// The three values of `map` when its keys are exactly [`KEYS`], in that order.
fn three_values(map: &JsonObject) -> Option<[&Number; 3]> {
    if map.len() != KEYS.len() || !map.keys().zip(KEYS).all(|(key, wanted)| key == wanted) {
        return None;
    }
    let number = |key: &str| match map.get(key) {
        Some(Value::Number(number)) => Some(number),
        _ => None,
    };
    Some([number("input")?, number("output")?, number("total")?])
}

/// What to store in `usage_details`.
pub(crate) fn stored_usage(usage: &JsonObject, measures: &Measures) -> String {
    let from_measures = three_values(usage).is_some_and(|numbers| {
        let wanted = [
            measures.input_tokens,
            measures.output_tokens,
            measures.total_tokens,
        ];
        numbers
            .iter()
            .zip(wanted)
            .all(|(number, wanted)| !number.is_f64() && number.as_i64() == Some(wanted))
    });
    if from_measures {
        FROM_MEASURES.to_owned()
    } else {
        object_text(usage)
    }
}

/// What to store in `provided_usage_details`, given the (non-provided) usage map.
pub(crate) fn stored_provided_usage(provided: &JsonObject, usage: &JsonObject) -> String {
    if !provided.is_empty() && provided == usage && provided.keys().eq(usage.keys()) {
        FROM_MEASURES.to_owned()
    } else {
        object_text(provided)
    }
}

/// What to store in `cost_details`. A negative zero is kept as text: a REAL column reads
/// it back as a positive one.
pub(crate) fn stored_cost(cost: &JsonObject, measures: &Measures, total: Option<f64>) -> String {
    let from_measures = three_values(cost).is_some_and(|numbers| {
        let Some(total) = total else { return false };
        let wanted = [measures.input_cost, measures.output_cost, total];
        numbers.iter().zip(wanted).all(|(number, wanted)| {
            number.is_f64()
                && number.as_f64().map(f64::to_bits) == Some(wanted.to_bits())
                && (wanted != 0.0 || wanted.is_sign_positive())
        })
    });
    if from_measures {
        FROM_MEASURES.to_owned()
    } else {
        object_text(cost)
    }
}

fn object_text(object: &JsonObject) -> String {
    Value::Object(object.clone()).to_string()
}

/// The map [`FROM_MEASURES`] stands for.
fn measures_map(values: [Value; 3]) -> String {
    let map: Map<String, Value> = KEYS.iter().map(|key| key.to_string()).zip(values).collect();
    Value::Object(map).to_string()
}

/// Registers `gb_usage(text, input_tokens, output_tokens, total_tokens)` and
/// `gb_cost(text, input_cost, output_cost, total_cost)`: the stored text, or the map
/// [`FROM_MEASURES`] stands for.
pub(crate) fn register(connection: &Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8
        | FunctionFlags::SQLITE_DETERMINISTIC
        | FunctionFlags::SQLITE_DIRECTONLY;
    connection.create_scalar_function("gb_usage", 4, flags, |context| {
        if !stands_for_measures(context.get_raw(0)) {
            return Ok(context.get::<Option<String>>(0)?);
        }
        let value = |index: usize| context.get::<i64>(index).map(Value::from);
        Ok(Some(measures_map([value(1)?, value(2)?, value(3)?])))
    })?;
    connection.create_scalar_function("gb_cost", 4, flags, |context| {
        if !stands_for_measures(context.get_raw(0)) {
            return Ok(context.get::<Option<String>>(0)?);
        }
        let value = |index: usize| -> rusqlite::Result<Value> {
            let number = context.get::<f64>(index)?;
            Number::from_f64(number)
                .map(Value::Number)
                .ok_or_else(|| Error::UserFunctionError("a cost that is not finite".into()))
        };
        Ok(Some(measures_map([value(1)?, value(2)?, value(3)?])))
    })
}

fn stands_for_measures(stored: ValueRef<'_>) -> bool {
    matches!(stored, ValueRef::Text(text) if text == FROM_MEASURES.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> JsonObject {
        match value {
            Value::Object(object) => object,
            _ => panic!("not an object"),
        }
    }

    fn measures(usage: &JsonObject, cost: &JsonObject) -> Measures {
        Measures::of_maps(usage, cost)
    }

    /// What SQL reads back for a row written with these maps.
    fn read_back(
        usage: &JsonObject,
        provided: &JsonObject,
        cost: &JsonObject,
        total: Option<f64>,
    ) -> [String; 3] {
        let connection = Connection::open_in_memory().expect("in-memory database");
        register(&connection).expect("functions");
        connection
            .execute_batch(
                "CREATE TABLE observations (provided_usage_details TEXT, usage_details TEXT, cost_details TEXT, \
                 input_tokens INTEGER, output_tokens INTEGER, total_tokens INTEGER, input_cost REAL, \
                 output_cost REAL, total_cost REAL)",
            )
            .expect("table");
        let m = measures(usage, cost);
        connection
            .execute(
                "INSERT INTO observations VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                rusqlite::params![
                    stored_provided_usage(provided, usage),
                    stored_usage(usage, &m),
                    stored_cost(cost, &m, total),
                    m.input_tokens,
                    m.output_tokens,
                    m.total_tokens,
                    m.input_cost,
                    m.output_cost,
                    total,
                ],
            )
            .expect("insert");
        connection
            .query_row(
                &format!(
                    "SELECT {PROVIDED_USAGE_DETAILS_SQL}, {USAGE_DETAILS_SQL}, {COST_DETAILS_SQL} FROM observations o"
                ),
                [],
                |row| Ok([row.get(0)?, row.get(1)?, row.get(2)?]),
            )
            .expect("read")
    }

    #[test]
    fn the_common_maps_are_stored_as_the_measure_columns_and_read_back_unchanged() {
        let usage = object(json!({"input": 90, "output": 161, "total": 251}));
        let cost = object(
            json!({"input": 0.0000135, "output": 0.00009659999999999999, "total": 0.00011009999999999999}),
        );
        let m = measures(&usage, &cost);
        assert_eq!(stored_usage(&usage, &m), FROM_MEASURES);
        assert_eq!(stored_provided_usage(&usage, &usage), FROM_MEASURES);
        assert_eq!(
            stored_cost(&cost, &m, Some(0.00011009999999999999)),
            FROM_MEASURES
        );
        let [provided_text, usage_text, cost_text] =
            read_back(&usage, &usage, &cost, Some(0.00011009999999999999));
        assert_eq!(provided_text, object_text(&usage));
        assert_eq!(usage_text, object_text(&usage));
        assert_eq!(cost_text, object_text(&cost));
    }

    /// Ingests one event of observation `g` in project `p` and reads `g` back.
    async fn write_and_read(
        store: &crate::SqliteStore,
        event_type: &str,
        body: JsonObject,
    ) -> glassbox_model::Observation {
        use glassbox_model::ProjectId;
        use glassbox_model::ingest::{EntityKind, IngestEvent};
        use glassbox_store::{IngestStore, ObservationStore};

        let project = ProjectId("p".into());
        let event = IngestEvent {
            event_id: format!("{event_type}-e"),
            event_type: event_type.into(),
            timestamp: 1_740_823_200_000_000,
            kind: EntityKind::Observation,
            entity_id: "g".into(),
            body,
            snapshot: false,
        };
        store.ingest(&project, vec![event]).await.expect("ingest");
        store
            .get_observation(&project, "g")
            .await
            .expect("read")
            .expect("the generation")
    }

    /// Through the store: a generation priced from the default price table is stored with
    /// its three maps as `=` and reads back with them (and its `updated_at` as 0 until a
    /// later write).
    #[tokio::test]
    async fn a_priced_generation_keeps_its_maps_in_the_measure_columns() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = crate::SqliteStore::open(dir.path()).expect("store");
        let body = object(
            json!({"id": "g", "traceId": "t", "type": "GENERATION", "model": "gpt-4o",
            "startTime": 1_740_823_200_000_000i64, "providedUsageDetails": {"input": 90, "output": 161, "total": 251}}),
        );
        let read = write_and_read(&store, "generation-create", body).await;
        assert_eq!(
            read.usage_details,
            object(json!({"input": 90, "output": 161, "total": 251}))
        );
        assert_eq!(read.provided_usage_details, read.usage_details);
        assert_eq!(
            read.cost_details.keys().collect::<Vec<_>>(),
            ["input", "output", "total"]
        );
        assert!(read.total_cost.is_some_and(|total| total > 0.0));
        store.shutdown();
        let connection = Connection::open(dir.path().join(crate::DATABASE_FILE)).expect("database");
        let stored: (String, String, String) = connection
            .query_row(
                "SELECT provided_usage_details, usage_details, cost_details FROM observations",
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .expect("row");
        assert_eq!(stored, ("=".into(), "=".into(), "=".into()));
        // Written once, its `updated_at` is `created_at`, stored as 0 (`rows.rs`).
        let updated_at: i64 = connection
            .query_row("SELECT updated_at FROM observations", [], |row| row.get(0))
            .expect("row");
        assert_eq!(updated_at, 0);
        assert_eq!(read.updated_at, read.created_at);
        drop(connection);

        // Written again later, it keeps its own `updated_at`.
        let store = crate::SqliteStore::open(dir.path()).expect("store");
        let body = object(json!({"id": "g", "name": "renamed"}));
        let read = write_and_read(&store, "generation-update", body).await;
        assert_eq!(read.name.as_deref(), Some("renamed"));
        assert!(read.updated_at > read.created_at);
        store.shutdown();
        let updated_at: i64 = Connection::open(dir.path().join(crate::DATABASE_FILE))
            .expect("database")
            .query_row("SELECT updated_at FROM observations", [], |row| row.get(0))
            .expect("row");
        assert_eq!(updated_at, read.updated_at);
    }

    #[test]
    fn other_maps_are_stored_as_text() {
        let cases = [
            // Another key, another order, a fractional count, a missing key.
            json!({"input": 1, "output": 2, "input_cached_tokens": 3, "total": 6}),
            json!({"output": 2, "input": 1, "total": 3}),
            json!({"input": 1.5, "output": 2, "total": 3.5}),
            json!({"input": 1, "output": 2}),
            json!({}),
        ];
        for usage in cases {
            let usage = object(usage);
            let cost = object(json!({"input": 0, "output": -0.0, "total": 0.5}));
            let m = measures(&usage, &cost);
            if !usage.is_empty() {
                assert_ne!(stored_usage(&usage, &m), FROM_MEASURES, "{usage:?}");
            }
            // Integers, and a negative zero, in a cost map stay text.
            assert_ne!(stored_cost(&cost, &m, Some(0.5)), FROM_MEASURES);
            let provided = object(json!({"input": 7}));
            let [provided_text, usage_text, cost_text] =
                read_back(&usage, &provided, &cost, Some(0.5));
            assert_eq!(provided_text, object_text(&provided));
            assert_eq!(usage_text, object_text(&usage));
            assert_eq!(cost_text, object_text(&cost));
        }
        // A cost map whose total is not the row's total cost stays text.
        let cost = object(json!({"input": 0.25, "output": 0.25, "total": 0.5}));
        let usage = object(json!({}));
        assert_ne!(
            stored_cost(&cost, &measures(&usage, &cost), Some(0.75)),
            FROM_MEASURES
        );
        assert_ne!(
            stored_cost(&cost, &measures(&usage, &cost), None),
            FROM_MEASURES
        );
        let [_, _, cost_text] = read_back(&usage, &usage, &cost, Some(0.75));
        assert_eq!(cost_text, object_text(&cost));
    }
}
