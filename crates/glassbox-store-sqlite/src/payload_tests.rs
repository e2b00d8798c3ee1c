//! The store with content-addressed payloads, end to end: large inputs, outputs and
//! metadata read back equal (also after a fold of logged events), filter in SQL, are
//! stored once, and go with their rows when deleted.

use std::sync::Arc;

use serde_json::{Value, json};

use glassbox_model::filter::{OBSERVATION_COLUMNS, parse_filter};
use glassbox_model::ingest::{EntityKind, IngestEvent};
use glassbox_model::{JsonObject, ProjectId};
use glassbox_store::{IngestStore, ObservationQuery, ObservationStore, PageRequest, TraceStore};

use crate::SqliteStore;

fn event(id: &str, kind: EntityKind, entity: &str, event_type: &str, body: Value) -> IngestEvent {
    let body: JsonObject = body.as_object().cloned().unwrap_or_default();
    IngestEvent {
        event_id: id.into(),
        event_type: event_type.into(),
        timestamp: 1_740_823_200_000_000,
        kind,
        entity_id: entity.into(),
        body,
        snapshot: false,
    }
}

fn messages(turns: usize) -> Value {
    let mut items = vec![json!({"role": "system", "content": "You are terse. ".repeat(40)})];
    for turn in 0..turns {
        items.push(json!({"role": "user", "content": format!("question {turn} ").repeat(30)}));
        items.push(json!({"role": "assistant", "content": format!("answer {turn} ").repeat(30)}));
    }
    Value::Array(items)
}

fn payload_count(dir: &std::path::Path) -> i64 {
    let connection = rusqlite::Connection::open(dir.join(crate::DATABASE_FILE)).unwrap();
    connection
        .query_row("SELECT COUNT(*) FROM payloads", [], |row| row.get(0))
        .unwrap()
}

#[tokio::test]
async fn large_values_round_trip_dedupe_filter_and_go_with_their_rows() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<SqliteStore> = SqliteStore::open(dir.path()).unwrap();
    let project = ProjectId("p".into());
    let metadata = json!({"step": "answer", "notes": "n ".repeat(300)});
    let start = 1_740_823_200_000_000i64;
    let mut batch = vec![event(
        "t-1",
        EntityKind::Trace,
        "t",
        "trace-create",
        json!({"id": "t", "timestamp": start, "input": {"question": "why? ".repeat(100)}}),
    )];
    for call in 0..3 {
        batch.push(event(
            &format!("g-{call}"),
            EntityKind::Observation,
            &format!("g{call}"),
            "generation-create",
            json!({"id": format!("g{call}"), "traceId": "t", "type": "GENERATION", "startTime": start + call as i64,
                   "input": messages(call + 1), "metadata": metadata}),
        ));
    }
    store.ingest(&project, batch).await.unwrap();
    // A later update: the fold reads the create back from the log.
    store
        .ingest(
            &project,
            vec![event(
                "g-2-end",
                EntityKind::Observation,
                "g2",
                "generation-update",
                json!({"id": "g2", "traceId": "t", "output": {"role": "assistant", "content": "done ".repeat(100)}}),
            )],
        )
        .await
        .unwrap();
    let g2 = store
        .get_observation(&project, "g2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(g2.input, Some(messages(3)));
    assert_eq!(
        g2.output,
        Some(json!({"role": "assistant", "content": "done ".repeat(100)}))
    );
    assert_eq!(Value::Object(g2.metadata.clone()), metadata);
    let trace = store.get_trace(&project, "t").await.unwrap().unwrap();
    assert_eq!(
        trace.trace.input,
        Some(json!({"question": "why? ".repeat(100)}))
    );
    // system + 3 user + 3 assistant messages, metadata, trace input, g2 output: the
    // re-sent histories and the repeated metadata are stored once.
    assert_eq!(payload_count(dir.path()), 10);
    let filtered = store
        .list_observations(
            &project,
            &ObservationQuery {
                filters: parse_filter(
                    r#"[{"column":"metadata","type":"stringObject","key":"step","operator":"=","value":"answer"}]"#,
                    OBSERVATION_COLUMNS,
                )
                .unwrap(),
                ..ObservationQuery::default()
            },
            PageRequest { page: 1, limit: 50 },
        )
        .await
        .unwrap();
    assert_eq!(filtered.items.len(), 3);
    store
        .delete_traces(&project, &["t".to_owned()])
        .await
        .unwrap();
    assert_eq!(payload_count(dir.path()), 0);
}

/// Chat messages of `count` words drawn from a small vocabulary (distinct per seed).
fn chat(seed: u64, messages: usize) -> Value {
    const WORDS: [&str; 24] = [
        "the",
        "agent",
        "calls",
        "search",
        "tool",
        "with",
        "query",
        "returns",
        "result",
        "answer",
        "user",
        "asked",
        "about",
        "weather",
        "in",
        "paris",
        "tomorrow",
        "rain",
        "forecast",
        "temperature",
        "degrees",
        "celsius",
        "summary",
        "because",
    ];
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as usize
    };
    let items = (0..messages)
        .map(|index| {
            let text: Vec<&str> = (0..30).map(|_| WORDS[next() % WORDS.len()]).collect();
            let role = if index % 2 == 0 { "user" } else { "assistant" };
            json!({"role": role, "content": text.join(" ")})
        })
        .collect();
    Value::Array(items)
}

fn generation(trace: usize) -> Vec<IngestEvent> {
    let id = format!("g{trace}");
    vec![event(
        &format!("e-{trace}"),
        EntityKind::Observation,
        &id,
        "generation-create",
        json!({"id": id, "traceId": format!("t{trace}"), "type": "GENERATION",
               "startTime": 1_740_823_200_000_000i64 + trace as i64, "input": chat(trace as u64, 10),
               "output": short_output(trace)}),
    )]
}

/// A value short enough to stay in its row.
fn short_output(trace: usize) -> Value {
    json!({"role": "assistant", "content": format!("the forecast for paris says rain, summary {trace}")})
}

/// Every generation of `traces` reads back the input [`generation`] sent.
async fn assert_inputs_read_back(
    store: &SqliteStore,
    project: &ProjectId,
    traces: std::ops::Range<usize>,
) {
    for trace in traces {
        let stored = store
            .get_observation(project, &format!("g{trace}"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.input, Some(chat(trace as u64, 10)));
        assert_eq!(stored.output, Some(short_output(trace)));
    }
}

fn count(dir: &std::path::Path, sql: &str) -> i64 {
    let connection = rusqlite::Connection::open(dir.join(crate::DATABASE_FILE)).unwrap();
    connection.query_row(sql, [], |row| row.get(0)).unwrap()
}

/// A project's parts are compressed with its trained dictionary once it is stored, read
/// back equal, and when a delete removes a part the dictionary was trained on, the parts
/// are stored again without it and the dictionary is deleted.
#[tokio::test]
async fn dictionary_compresses_parts_and_is_retired_when_a_sample_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<SqliteStore> = SqliteStore::open(dir.path()).unwrap();
    // Parts stored before the dictionary stay as they are (compared below).
    store.dictionaries.hold_reencoding();
    let project = ProjectId("p".into());
    // 10 parts per trace: the first 30 traces give the 300 training samples.
    for trace in 0..40 {
        store.ingest(&project, generation(trace)).await.unwrap();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while store.dictionaries.current(&project).is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "no dictionary was trained"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        count(dir.path(), "SELECT COUNT(*) FROM payload_dictionaries"),
        1
    );
    // The project's first dictionary gets id 1 (one byte in each frame header).
    let dictionary: Vec<u8> = rusqlite::Connection::open(dir.path().join(crate::DATABASE_FILE))
        .and_then(|connection| {
            connection.query_row("SELECT dict FROM payload_dictionaries", [], |row| {
                row.get(0)
            })
        })
        .expect("the dictionary");
    assert_eq!(dictionary[4..8], 1u32.to_le_bytes());
    for trace in 40..60 {
        store.ingest(&project, generation(trace)).await.unwrap();
    }
    let with_dictionary = "SELECT COUNT(*) FROM payloads WHERE substr(data, 1, 1) = x'04'";
    // Traces 40..60 at least (training may finish before traces 30..40 are written).
    assert!(count(dir.path(), with_dictionary) >= 200);
    // Their short outputs are compressed in their rows, with the same dictionary.
    let compressed_outputs = "SELECT COUNT(*) FROM observations WHERE typeof(output) = 'blob' AND substr(output, 1, 1) = x'5A'";
    assert!(count(dir.path(), compressed_outputs) >= 20);
    // And so is the rest of their logged events' bodies.
    let compressed_bodies = "SELECT COUNT(*) FROM ingest_events \
        WHERE typeof(body) = 'blob' AND substr(body, 9, 1) = x'04'";
    assert!(count(dir.path(), compressed_bodies) >= 20);
    assert_bodies_read_back(dir.path(), 60);
    assert!(
        count(
            dir.path(),
            "SELECT MAX(length(output)) FROM observations WHERE typeof(output) = 'blob'"
        ) < short_output(59).to_string().len() as i64
    );
    let plain_bytes = count(
        dir.path(),
        "SELECT CAST(AVG(length(data)) AS INTEGER) FROM payloads WHERE substr(data, 1, 1) <> x'04'",
    );
    let dictionary_bytes = count(
        dir.path(),
        "SELECT CAST(AVG(length(data)) AS INTEGER) FROM payloads WHERE substr(data, 1, 1) = x'04'",
    );
    assert!(
        dictionary_bytes < plain_bytes,
        "{dictionary_bytes} vs {plain_bytes}"
    );
    assert_inputs_read_back(&store, &project, 0..60).await;
    // Every other part into the earlier codec 3 (the dictionary's hash, then the whole
    // frame), as a database written before codec 4 holds them: both read back.
    let codec_3 = rusqlite::Connection::open(dir.path().join(crate::DATABASE_FILE))
        .unwrap()
        .execute(
            "UPDATE payload_parts SET data = CAST(x'03' || (SELECT hash FROM payload_dictionaries) \
             || x'28B52FFD' || substr(data, 2) AS BLOB) WHERE substr(data, 1, 1) = x'04' AND id % 2 = 0",
            [],
        )
        .unwrap();
    assert!(codec_3 >= 100, "{codec_3}");
    assert_inputs_read_back(&store, &project, 0..60).await;

    // Trace 0's parts were samples of the dictionary.
    store
        .delete_traces(&project, &["t0".to_owned()])
        .await
        .unwrap();
    assert_eq!(
        count(dir.path(), "SELECT COUNT(*) FROM payload_dictionaries"),
        0
    );
    assert_eq!(count(dir.path(), with_dictionary), 0);
    assert_eq!(count(dir.path(), compressed_outputs), 0);
    assert_eq!(count(dir.path(), compressed_bodies), 0);
    assert_bodies_read_back(dir.path(), 59);
    assert_eq!(
        count(
            dir.path(),
            "SELECT COUNT(*) FROM payloads WHERE substr(data, 1, 1) = x'03'"
        ),
        0
    );
    assert!(store.dictionaries.current(&project).is_none());
    assert_eq!(count(dir.path(), "SELECT COUNT(*) FROM payloads"), 590);
    assert_inputs_read_back(&store, &project, 1..60).await;
    // Parts and short values written after the retirement are stored without it.
    store.ingest(&project, generation(60)).await.unwrap();
    assert_eq!(count(dir.path(), with_dictionary), 0);
    assert_eq!(count(dir.path(), compressed_outputs), 0);
    assert_eq!(count(dir.path(), compressed_bodies), 0);
}

/// Every logged event body of project `p` decodes to its event's JSON.
fn assert_bodies_read_back(dir: &std::path::Path, events: usize) {
    let connection = rusqlite::Connection::open(dir.join(crate::DATABASE_FILE)).expect("database");
    let bodies: Vec<(String, Vec<u8>)> = connection
        .prepare("SELECT entity_id, body FROM ingest_events WHERE project_id = 'p' AND typeof(body) = 'blob'")
        .and_then(|mut statement| {
            statement
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<rusqlite::Result<_>>()
        })
        .expect("event bodies");
    assert_eq!(bodies.len(), events);
    for (entity, blob) in bodies {
        let text =
            crate::payloads::body_text(&connection, "p", rusqlite::types::ValueRef::Blob(&blob))
                .expect("a decodable body");
        let body: Value = serde_json::from_str(&text).expect("a JSON body");
        assert_eq!(body["id"], json!(entity));
        assert_eq!(
            body["output"],
            short_output(entity[1..].parse().expect("g<number>"))
        );
    }
}

async fn wait_for_dictionary(store: &SqliteStore, project: &ProjectId) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while store.dictionaries.current(project).is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "no dictionary was trained"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// (address, stored data) of a project's parts, in address order.
fn stored_parts(dir: &std::path::Path, project: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    let connection = rusqlite::Connection::open(dir.join(crate::DATABASE_FILE)).unwrap();
    let mut statement = connection
        .prepare("SELECT hash, data FROM payloads WHERE project_id = ?1 ORDER BY hash")
        .unwrap();
    statement
        .query_map([project], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<Vec<_>>>()
        .unwrap()
}

/// Parts stored before the project's dictionary was trained are stored again compressed
/// with it, in the background, and read back equal; a re-encoding cut short (here: held
/// back, then the store closed) is resumed by the next start; other projects' parts are
/// left as they are.
#[tokio::test]
async fn parts_stored_before_the_dictionary_are_reencoded_with_it_after_a_restart_too() {
    let dir = tempfile::tempdir().unwrap();
    let project = ProjectId("p".into());
    let other = ProjectId("q".into());
    let with_dictionary =
        "SELECT COUNT(*) FROM payloads WHERE project_id = 'p' AND substr(data, 1, 1) = x'04'";
    let without_dictionary =
        "SELECT COUNT(*) FROM payloads WHERE project_id = 'p' AND substr(data, 1, 1) <> x'04'";
    let stored_bytes = "SELECT SUM(length(data)) FROM payloads WHERE project_id = 'p'";
    {
        let store: Arc<SqliteStore> = SqliteStore::open(dir.path()).unwrap();
        store.dictionaries.hold_reencoding();
        for trace in 0..40 {
            store.ingest(&project, generation(trace)).await.unwrap();
        }
        // Too few parts for a dictionary of its own.
        for trace in 100..105 {
            store.ingest(&other, generation(trace)).await.unwrap();
        }
        wait_for_dictionary(&store, &project).await;
        for trace in 40..60 {
            store.ingest(&project, generation(trace)).await.unwrap();
        }
        store.shutdown();
    }
    // The 300 samples at least were stored before the dictionary, none after.
    assert!(count(dir.path(), without_dictionary) >= 300);
    assert!(count(dir.path(), with_dictionary) >= 200);
    assert_eq!(
        count(dir.path(), "SELECT reencoded FROM payload_dictionaries"),
        0
    );
    let other_before = stored_parts(dir.path(), "q");
    assert_eq!(other_before.len(), 50);
    let bytes_before = count(dir.path(), stored_bytes);

    let store: Arc<SqliteStore> = SqliteStore::open(dir.path()).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while count(dir.path(), "SELECT reencoded FROM payload_dictionaries") != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the re-encoding did not finish"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(count(dir.path(), without_dictionary), 0);
    assert_eq!(count(dir.path(), with_dictionary), 600);
    let bytes_after = count(dir.path(), stored_bytes);
    assert!(
        bytes_after < bytes_before * 9 / 10,
        "{bytes_before} -> {bytes_after}"
    );
    assert_inputs_read_back(&store, &project, 0..60).await;
    assert_eq!(stored_parts(dir.path(), "q"), other_before);
    assert_inputs_read_back(&store, &other, 100..105).await;
}

/// A re-encoding step read while the dictionary was live is not stored once a delete has
/// retired the dictionary (its parts would name a deleted dictionary), and a step never
/// stores again a part deleted since it was read; every part stays readable throughout.
#[tokio::test]
async fn a_retire_or_a_delete_during_reencoding_leaves_every_part_decodable() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<SqliteStore> = SqliteStore::open(dir.path()).unwrap();
    store.dictionaries.hold_reencoding();
    let project = ProjectId("p".into());
    for trace in 0..29 {
        store.ingest(&project, generation(trace)).await.unwrap();
    }
    // Trace 29's parts complete the 300 samples; traces 30..35 are not samples.
    let batch: Vec<IngestEvent> = (29..35).flat_map(generation).collect();
    store.ingest(&project, batch).await.unwrap();
    wait_for_dictionary(&store, &project).await;
    for trace in 35..45 {
        store.ingest(&project, generation(trace)).await.unwrap();
    }
    let dictionary = store.dictionaries.current(&project).unwrap();
    // As `payload_dictionaries::reencode` does first: every address into the index.
    store
        .writer
        .write(crate::recent_addresses::flush_in_transaction)
        .await
        .unwrap();
    let reader = crate::connection::open_reader(&dir.path().join(crate::DATABASE_FILE)).unwrap();
    let first =
        crate::payloads::reencode_candidates(&reader, &project, &[], 100, &dictionary).unwrap();
    assert_eq!(first.parts.len(), 100);
    let after = first.next.clone().unwrap();
    let second =
        crate::payloads::reencode_candidates(&reader, &project, &after, 10_000, &dictionary)
            .unwrap();
    assert_eq!(second.parts.len(), 250);
    assert_eq!(second.next, None);
    let step = |parts| {
        crate::payload_dictionaries::reencode_step(
            Arc::clone(&store.dictionaries),
            project.clone(),
            dictionary.hash,
            parts,
        )
    };

    // A part deleted after the step was read is not stored again.
    store
        .delete_traces(&project, &["t33".to_owned()])
        .await
        .unwrap();
    assert!(store.dictionaries.current(&project).is_some());
    assert_eq!(count(dir.path(), "SELECT COUNT(*) FROM payloads"), 440);
    let replaced = store.writer.write(step(first.parts)).await.unwrap();
    let replaced = replaced.unwrap();
    assert!((90..=100).contains(&replaced), "{replaced}");
    assert_eq!(count(dir.path(), "SELECT COUNT(*) FROM payloads"), 440);
    let with_dictionary = "SELECT COUNT(*) FROM payloads WHERE substr(data, 1, 1) = x'04'";
    assert_eq!(count(dir.path(), with_dictionary), 100 + replaced as i64);
    assert_inputs_read_back(&store, &project, 0..33).await;
    assert_inputs_read_back(&store, &project, 34..45).await;

    // Trace 0's parts were samples: the delete retires the dictionary, and the step read
    // before it is not stored.
    store
        .delete_traces(&project, &["t0".to_owned()])
        .await
        .unwrap();
    assert!(store.dictionaries.current(&project).is_none());
    assert_eq!(store.writer.write(step(second.parts)).await.unwrap(), None);
    assert_eq!(count(dir.path(), with_dictionary), 0);
    assert_eq!(
        count(dir.path(), "SELECT COUNT(*) FROM payload_dictionaries"),
        0
    );
    assert_eq!(count(dir.path(), "SELECT COUNT(*) FROM payloads"), 430);
    assert_inputs_read_back(&store, &project, 1..33).await;
    assert_inputs_read_back(&store, &project, 34..45).await;
}

fn recent_and_indexed(dir: &std::path::Path) -> (i64, i64, i64) {
    (
        count(dir, "SELECT COUNT(*) FROM payload_recent_addresses"),
        count(dir, "SELECT COUNT(*) FROM payload_addresses"),
        count(dir, "SELECT COUNT(*) FROM payload_parts"),
    )
}

/// Parts stored since the last move of addresses are found through the recent addresses
/// (the map, or the table after a restart), and once moved, through the index: reads,
/// dedup and deletes work in both states.
#[tokio::test]
async fn recent_part_addresses_serve_reads_dedup_and_deletes_before_and_after_their_move() {
    let dir = tempfile::tempdir().unwrap();
    let project = ProjectId("p".into());
    let store: Arc<SqliteStore> = SqliteStore::open(dir.path()).unwrap();
    for trace in 0..5 {
        store.ingest(&project, generation(trace)).await.unwrap();
    }
    let (recent, indexed, parts) = recent_and_indexed(dir.path());
    assert!(recent >= 5 * 10, "{recent} recent addresses");
    assert_eq!((indexed, parts), (0, recent), "every new address is recent");
    assert_inputs_read_back(&store, &project, 0..5).await;
    // The same content again is not stored again.
    for trace in 0..5 {
        store.ingest(&project, generation(trace)).await.unwrap();
    }
    assert_eq!(recent_and_indexed(dir.path()), (recent, 0, parts));

    // A crash (the writer never shuts down: a clean one moves every address into the
    // index, below): the next process rebuilds the map from the table.
    std::mem::forget(store);
    let database = rusqlite::Connection::open(dir.path().join(crate::DATABASE_FILE)).unwrap();
    crate::recent_addresses::of(&database).unwrap().forget();
    let store: Arc<SqliteStore> = SqliteStore::open(dir.path()).unwrap();
    for trace in 0..5 {
        store.ingest(&project, generation(trace)).await.unwrap();
    }
    assert_eq!(recent_and_indexed(dir.path()), (recent, 0, parts));
    assert_inputs_read_back(&store, &project, 0..5).await;

    // Moved into the index: still read, still deduplicated.
    store
        .writer
        .write(crate::recent_addresses::flush_in_transaction)
        .await
        .unwrap();
    assert_eq!(recent_and_indexed(dir.path()), (0, recent, parts));
    store.ingest(&project, generation(0)).await.unwrap();
    assert_eq!(recent_and_indexed(dir.path()), (0, recent, parts));
    for trace in 5..8 {
        store.ingest(&project, generation(trace)).await.unwrap();
    }
    let (new_recent, _, all_parts) = recent_and_indexed(dir.path());
    assert!(new_recent >= 3 * 10 && all_parts == parts + new_recent);
    assert_inputs_read_back(&store, &project, 0..8).await;

    // A delete sweeps parts from either table: trace 1's are indexed, trace 6's recent.
    store
        .delete_traces(&project, &["t1".to_owned(), "t6".to_owned()])
        .await
        .unwrap();
    let (left_recent, left_indexed, left_parts) = recent_and_indexed(dir.path());
    assert!(left_recent < new_recent && left_indexed < recent);
    assert_eq!(left_parts, left_recent + left_indexed);
    for trace in [0, 2, 3, 4, 5, 7] {
        assert_inputs_read_back(&store, &project, trace..trace + 1).await;
    }

    // A clean shutdown leaves every address in the index.
    store.shutdown();
    assert_eq!(
        recent_and_indexed(dir.path()),
        (0, left_recent + left_indexed, left_parts)
    );
}

/// A write that stored parts and then failed leaves no address behind, whether its
/// savepoint or its whole transaction was rolled back: the same content stored later is
/// stored again and reads back.
#[tokio::test]
async fn a_rolled_back_part_leaves_no_address_behind() {
    let dir = tempfile::tempdir().unwrap();
    let project = ProjectId("p".into());
    let store: Arc<SqliteStore> = SqliteStore::open(dir.path()).unwrap();
    let store_then_fail = |trace: u64| {
        let (project, value) = (project.clone(), chat(trace, 10));
        move |connection: &rusqlite::Connection| {
            crate::payloads::store_value(connection, &project, &value)?;
            Err::<(), _>(glassbox_store::StoreError::Internal("fails".into()))
        }
    };
    // A savepoint rolled back (a write of its own)...
    assert!(store.writer.write(store_then_fail(7)).await.is_err());
    assert_eq!(recent_and_indexed(dir.path()), (0, 0, 0));
    store.ingest(&project, generation(7)).await.unwrap();
    let (recent, _, parts) = recent_and_indexed(dir.path());
    assert!(recent >= 10 && parts == recent, "{recent} / {parts}");
    // ...and a whole transaction (a write without a savepoint).
    assert!(
        store
            .writer
            .write_unisolated(store_then_fail(8))
            .await
            .is_err()
    );
    assert_eq!(recent_and_indexed(dir.path()), (recent, 0, parts));
    store.ingest(&project, generation(8)).await.unwrap();
    let (recent, _, parts) = recent_and_indexed(dir.path());
    assert!(recent >= 2 * 10 && parts == recent, "{recent} / {parts}");
    assert_inputs_read_back(&store, &project, 7..9).await;
}
