//! Metrics engine benchmark: generates N observations (default 1,000,000) over 30 days in
//! the embedded store through the real ingest path (cost inference, measures and rollups
//! included), then times three dashboard questions three ways:
//!
//! - `engine`: the metrics engine as the API runs it (rollups where the query fits);
//! - `facts`: the engine without rollups (streaming the observation rows of the range);
//! - `full scan`: the same answer computed from a plain scan of the `observations` table.
//!
//! Usage: `cargo run --release -p glassbox-bench-metrics -- [--observations N]
//! [--data-dir DIR] [--reuse] [--runs R]` (see bench/metrics/README.md).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, params};
use serde_json::{Value, json};

use glassbox_ingest::validate_batch;
use glassbox_model::metrics::{
    ApiVersion, MetricsQuery, ResultRow, exact_quantile, parse_query_value,
};
use glassbox_model::time::format_iso;
use glassbox_model::{AccessLevel, Organization, Project, ProjectId};
use glassbox_store::{MetricsOptions, Stores};
use glassbox_store_sqlite::{DATABASE_FILE, SqliteStore};

const PROJECT: &str = "bench-project";
const DAY: i64 = 86_400_000_000;
const START: i64 = 1_767_225_600_000_000; // 2026-01-01T00:00:00Z
const NAMES: [&str; 20] = [
    "agent",
    "plan",
    "retrieve",
    "embed-query",
    "vector-search",
    "rerank",
    "generate",
    "summarize",
    "classify",
    "extract",
    "tool-call",
    "web-search",
    "parse",
    "validate",
    "guardrail",
    "format",
    "translate",
    "critique",
    "refine",
    "respond",
];
const MODELS: [&str; 8] = [
    "gpt-4o",
    "gpt-4o-mini",
    "claude-3-5-haiku-20241022",
    "gemini-2.5-flash",
    "o3",
    "gpt-4.1",
    "claude-sonnet-4-5-20250929",
    "text-embedding-3-small",
];

struct Args {
    observations: usize,
    data_dir: PathBuf,
    reuse: bool,
    runs: usize,
}

fn args() -> Args {
    let mut parsed = Args {
        observations: 1_000_000,
        data_dir: PathBuf::from("target/bench-metrics-data"),
        reuse: false,
        runs: 5,
    };
    let mut items = std::env::args().skip(1);
    while let Some(item) = items.next() {
        match item.as_str() {
            "--observations" => {
                parsed.observations = items
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--observations N")
            }
            "--data-dir" => parsed.data_dir = PathBuf::from(items.next().expect("--data-dir DIR")),
            "--reuse" => parsed.reuse = true,
            "--runs" => parsed.runs = items.next().and_then(|v| v.parse().ok()).expect("--runs R"),
            other => panic!("unknown argument {other}"),
        }
    }
    parsed
}

/// xorshift: deterministic data without a dependency.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Skewed pick: small indexes are much more frequent (a few heavy users).
    fn skewed(&mut self, n: u64) -> u64 {
        let u = (self.next() % 1_000_000) as f64 / 1_000_000.0;
        ((u * u * u) * n as f64) as u64
    }

    /// Milliseconds with a long tail.
    fn latency_ms(&mut self) -> i64 {
        let u = (self.next() % 1_000_000) as f64 / 1_000_000.0 + 1e-6;
        (50.0 + (-u.ln()) * 800.0 + if self.below(50) == 0 { 20_000.0 } else { 0.0 }) as i64
    }
}

async fn generate(stores: &Stores, project: &ProjectId, observations: usize) -> Duration {
    let traces = observations.div_ceil(10);
    let mut random = Random(0x9E37_79B9_7F4A_7C15);
    let started = Instant::now();
    let mut batch: Vec<Value> = Vec::with_capacity(1_100);
    let mut written = 0usize;
    let mut sequence = 0u64;
    let span = 30 * DAY;
    for t in 0..traces {
        let timestamp =
            START + (t as i64) * (span / traces as i64) + random.below(1_000_000) as i64;
        let trace_id = format!("trace-{t:08}");
        let user = format!("user-{:04}", random.skewed(2_000));
        let environment = if random.below(10) == 0 {
            "staging"
        } else {
            "production"
        };
        let mut envelope = |kind: &str, at: i64, body: Value| {
            sequence += 1;
            json!({"id": format!("ev-{sequence}"), "type": kind, "timestamp": format_iso(at), "body": body})
        };
        batch.push(envelope(
            "trace-create",
            timestamp,
            json!({"id": trace_id, "timestamp": format_iso(timestamp), "name": format!("flow-{}", t % 12),
                   "userId": user, "sessionId": format!("session-{}", t / 4), "environment": environment,
                   "tags": [format!("team-{}", t % 5)]}),
        ));
        let mut offset = 0i64;
        for j in 0..10 {
            if written >= observations {
                break;
            }
            written += 1;
            let start = timestamp + offset * 1_000;
            let latency = random.latency_ms();
            offset += latency / 3 + 1;
            let name = NAMES[(random.skewed(20) as usize + j) % 20];
            let id = format!("obs-{t:08}-{j}");
            let generation = j % 10 >= 6;
            let mut body = json!({"id": id, "traceId": trace_id, "name": name, "environment": environment,
                "startTime": format_iso(start), "endTime": format_iso(start + latency * 1_000),
                "input": {"query": "what is the weather in a city that has a long name"},
                "output": "a short answer of a few words"});
            if j > 0 {
                body["parentObservationId"] = json!(format!("obs-{t:08}-0"));
            }
            let kind = if generation {
                let model = MODELS[random.skewed(8) as usize];
                body["model"] = json!(model);
                body["completionStartTime"] = json!(format_iso(start + latency * 300));
                body["usageDetails"] =
                    json!({"input": 200 + random.below(4_000), "output": 20 + random.below(800)});
                "generation-create"
            } else {
                "span-create"
            };
            batch.push(envelope(kind, start, body));
        }
        if batch.len() >= 1_000 || t + 1 == traces {
            let validated = validate_batch(
                &json!({"batch": std::mem::take(&mut batch)}),
                AccessLevel::Project,
            )
            .expect("valid batch");
            assert!(validated.errors.is_empty(), "{:?}", validated.errors);
            stores
                .ingest
                .ingest(project, validated.events)
                .await
                .expect("ingest");
            if t % 10_000 < 100 {
                eprint!(
                    "\r  {written} observations, {:.0} per second   ",
                    written as f64 / started.elapsed().as_secs_f64()
                );
            }
        }
    }
    eprintln!();
    started.elapsed()
}

fn query(body: Value) -> MetricsQuery {
    parse_query_value(&body, ApiVersion::V1).expect("valid query")
}

/// The three questions, over the 30 days.
fn questions() -> Vec<(&'static str, MetricsQuery)> {
    let range = |mut body: Value| {
        body["fromTimestamp"] = json!(format_iso(START));
        body["toTimestamp"] = json!(format_iso(START + 30 * DAY));
        query(body)
    };
    vec![
        (
            "cost per model per day (30 days)",
            range(
                json!({"view": "observations", "dimensions": [{"field": "providedModelName"}],
                "metrics": [{"measure": "totalCost", "aggregation": "sum"}], "timeDimension": {"granularity": "day"}}),
            ),
        ),
        (
            "p95 latency by observation name",
            range(
                json!({"view": "observations", "dimensions": [{"field": "name"}],
                "metrics": [{"measure": "latency", "aggregation": "p95"}]}),
            ),
        ),
        (
            "top 20 users by cost",
            range(
                json!({"view": "observations", "dimensions": [{"field": "userId"}],
                "metrics": [{"measure": "totalCost", "aggregation": "sum"}],
                "orderBy": [{"field": "sum_totalCost", "direction": "desc"}], "config": {"row_limit": 20}}),
            ),
        ),
    ]
}

/// The same answers from a plain scan of the observations table (no rollups).
fn full_scan(connection: &Connection, index: usize) -> HashMap<String, f64> {
    let mut answer: HashMap<String, f64> = HashMap::new();
    let (from, to) = (START, START + 30 * DAY);
    match index {
        0 => {
            let mut statement = connection
                .prepare("SELECT model, start_time, total_cost FROM observations WHERE project_id = ?1 AND start_time >= ?2 AND start_time < ?3")
                .unwrap();
            let mut rows = statement.query(params![PROJECT, from, to]).unwrap();
            while let Some(row) = rows.next().unwrap() {
                let model: Option<String> = row.get(0).unwrap();
                let start: i64 = row.get(1).unwrap();
                let cost: Option<f64> = row.get(2).unwrap();
                let key = format!("{model:?}/{}", start.div_euclid(DAY));
                *answer.entry(key).or_default() += cost.unwrap_or(0.0);
            }
        }
        1 => {
            let mut statement = connection
                .prepare("SELECT name, end_time - start_time FROM observations WHERE project_id = ?1 AND start_time >= ?2 AND start_time < ?3")
                .unwrap();
            let mut rows = statement.query(params![PROJECT, from, to]).unwrap();
            let mut values: HashMap<String, Vec<f64>> = HashMap::new();
            while let Some(row) = rows.next().unwrap() {
                let name: Option<String> = row.get(0).unwrap();
                if let Some(latency) = row.get::<_, Option<i64>>(1).unwrap() {
                    values
                        .entry(format!("{name:?}"))
                        .or_default()
                        .push(latency as f64 / 1000.0);
                }
            }
            for (name, mut latencies) in values {
                answer.insert(name, exact_quantile(&mut latencies, 0.95).unwrap());
            }
        }
        _ => {
            let mut statement = connection
                .prepare("SELECT t.user_id, o.total_cost FROM observations o LEFT JOIN traces t ON t.project_id = o.project_id AND t.id = o.trace_id \
                          WHERE o.project_id = ?1 AND o.start_time >= ?2 AND o.start_time < ?3")
                .unwrap();
            let mut rows = statement.query(params![PROJECT, from, to]).unwrap();
            while let Some(row) = rows.next().unwrap() {
                let user: Option<String> = row.get(0).unwrap();
                let cost: Option<f64> = row.get(1).unwrap();
                *answer.entry(format!("{user:?}")).or_default() += cost.unwrap_or(0.0);
            }
        }
    }
    answer
}

fn engine_answer(index: usize, rows: &[ResultRow]) -> HashMap<String, f64> {
    rows.iter()
        .map(|row| {
            let dimension = row.dimensions[0].as_str().map(str::to_owned);
            let key = match index {
                0 => format!(
                    "{dimension:?}/{}",
                    row.time_bucket.unwrap_or_default().div_euclid(DAY)
                ),
                _ => format!("{dimension:?}"),
            };
            (key, row.metrics[0].as_f64().unwrap_or(0.0))
        })
        .collect()
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = args();
    if !args.reuse && args.data_dir.exists() {
        std::fs::remove_dir_all(&args.data_dir).expect("clearing the data directory");
    }
    let store: Arc<SqliteStore> = SqliteStore::open(&args.data_dir).expect("open store");
    let stores = Stores::from_backend(store.clone());
    let project = ProjectId(PROJECT.into());
    stores
        .admin
        .ensure_organization(Organization {
            id: "bench".into(),
            name: "bench".into(),
            created_at: 0,
        })
        .await
        .unwrap();
    stores
        .admin
        .ensure_project(Project {
            id: project.clone(),
            org_id: "bench".into(),
            name: "bench".into(),
            retention_days: None,
            metadata: Default::default(),
            created_at: 0,
        })
        .await
        .unwrap();
    let path = args.data_dir.join(DATABASE_FILE);
    let connection = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let existing: i64 = connection
        .query_row(
            "SELECT COUNT(*) FROM observations WHERE project_id = ?1",
            params![PROJECT],
            |row| row.get(0),
        )
        .unwrap();
    if existing == 0 {
        eprintln!(
            "generating {} observations over 30 days ...",
            args.observations
        );
        let took = generate(&stores, &project, args.observations).await;
        println!(
            "ingest: {} observations (+{} traces) in {:.1} s = {:.0} observations/s (batches of ~1,000 events, cost inference, measures and rollups included)",
            args.observations,
            args.observations.div_ceil(10),
            took.as_secs_f64(),
            args.observations as f64 / took.as_secs_f64()
        );
    }
    let count: i64 = connection
        .query_row(
            "SELECT COUNT(*) FROM observations WHERE project_id = ?1",
            params![PROJECT],
            |row| row.get(0),
        )
        .unwrap();
    let bytes = std::fs::metadata(&path).map(|meta| meta.len()).unwrap_or(0);
    println!(
        "data: {count} observations, database {:.0} MiB",
        bytes as f64 / 1_048_576.0
    );
    println!("each time is the median of {} runs\n", args.runs);
    println!(
        "| question | engine | engine without rollups | full scan of observations | full scan / engine | largest difference |"
    );
    println!("|---|---|---|---|---|---|");
    for (index, (title, query)) in questions().into_iter().enumerate() {
        let timed = |options: MetricsOptions| {
            let stores = stores.clone();
            let project = project.clone();
            let query = query.clone();
            async move {
                let mut times = Vec::new();
                let mut rows = Vec::new();
                for _ in 0..args.runs {
                    let started = Instant::now();
                    rows = stores
                        .metrics
                        .query_metrics(&project, &query, options)
                        .await
                        .unwrap();
                    times.push(started.elapsed());
                }
                (median(times), rows)
            }
        };
        let (engine, rows) = timed(MetricsOptions { use_rollups: true }).await;
        let (facts, _) = timed(MetricsOptions { use_rollups: false }).await;
        let mut scan_times = Vec::new();
        let mut truth = HashMap::new();
        for _ in 0..args.runs {
            let started = Instant::now();
            truth = full_scan(&connection, index);
            scan_times.push(started.elapsed());
        }
        let scan = median(scan_times);
        let answer = engine_answer(index, &rows);
        let difference = answer
            .iter()
            .map(|(key, value)| {
                let expected = truth.get(key).copied().unwrap_or(f64::NAN);
                ((value - expected) / expected.abs().max(1e-12)).abs()
            })
            .fold(0.0f64, f64::max);
        println!(
            "| {title} | {} | {} | {} | {:.0}x | {:.2e} (relative, {} rows) |",
            ms(engine),
            ms(facts),
            ms(scan),
            scan.as_secs_f64() / engine.as_secs_f64(),
            difference,
            rows.len()
        );
    }
    store.shutdown();
}
