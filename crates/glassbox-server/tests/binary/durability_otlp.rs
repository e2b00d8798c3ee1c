//! OTLP under `kill -9`: several exporters send spans concurrently, the server dies in the
//! middle, and after a restart (and the retries a real exporter makes of the exports that
//! got no answer) every acknowledged span is stored exactly once.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Api, Server};

const PUBLIC_KEY: &str = "pk-lf-otlp-durability";
const SECRET_KEY: &str = "sk-lf-otlp-durability-secret";
const TRACES_PER_EXPORT: u64 = 4;
const SPANS_PER_TRACE: u64 = 5;
/// Deadline for the load phase (not an assertion on speed).
const LOAD_DEADLINE: Duration = Duration::from_secs(600);

fn init_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("LANGFUSE_INIT_ORG_ID", "otlp-durability-org"),
        ("LANGFUSE_INIT_PROJECT_ID", "otlp-durability-project"),
        ("LANGFUSE_INIT_PROJECT_PUBLIC_KEY", PUBLIC_KEY),
        ("LANGFUSE_INIT_PROJECT_SECRET_KEY", SECRET_KEY),
    ]
}

/// One OTLP/JSON export and the spans it carries, by trace id.
#[derive(Clone)]
struct Export {
    body: Value,
    spans: BTreeMap<String, BTreeSet<String>>,
}

fn attribute(key: &str, value: &str) -> Value {
    json!({"key": key, "value": {"stringValue": value}})
}

/// Export `number` of `worker`: `TRACES_PER_EXPORT` traces of a root span with
/// `SPANS_PER_TRACE - 1` children (one of them a generation), ids unique per export.
fn export(worker: u64, number: u64) -> Export {
    let start: u64 = 1_740_823_200_000_000_000;
    let mut spans_json = Vec::new();
    let mut spans = BTreeMap::new();
    for trace in 0..TRACES_PER_EXPORT {
        let trace_id = format!("{:08x}{:08x}{:016x}", worker + 1, number + 1, trace + 1);
        let root = format!("{:04x}{:04x}{:04x}0000", worker + 1, number + 1, trace + 1);
        let mut ids = BTreeSet::new();
        for span in 0..SPANS_PER_TRACE {
            let span_id = format!(
                "{:04x}{:04x}{:04x}{:04x}",
                worker + 1,
                number + 1,
                trace + 1,
                span
            );
            let mut attributes = vec![attribute("langfuse.trace.name", "otlp durability")];
            if span == 1 {
                attributes.push(attribute("langfuse.observation.type", "generation"));
                attributes.push(attribute("gen_ai.request.model", "gpt-4o"));
            }
            let mut value = json!({
                "traceId": trace_id,
                "spanId": span_id,
                "name": format!("span {span}"),
                "kind": 1,
                "startTimeUnixNano": (start + span * 1_000_000).to_string(),
                "endTimeUnixNano": (start + span * 1_000_000 + 500_000).to_string(),
                "attributes": attributes,
            });
            if span > 0 {
                value["parentSpanId"] = json!(root);
            }
            spans_json.push(value);
            ids.insert(span_id);
        }
        spans.insert(trace_id, ids);
    }
    Export {
        body: json!({"resourceSpans": [{
            "resource": {"attributes": [attribute("service.name", "durability")]},
            "scopeSpans": [{"scope": {"name": "durability-test"}, "spans": spans_json}],
        }]}),
        spans,
    }
}

const OTLP_PATH: &str = "/api/public/otel/v1/traces";

/// Sends exports from `workers` threads until the server stops answering. Returns the
/// acknowledged exports and the ones in flight when the connection broke.
struct Load {
    stopping: Arc<AtomicBool>,
    acknowledged: Arc<Mutex<Vec<Export>>>,
    unanswered: Arc<Mutex<Vec<Export>>>,
    failures: Arc<Mutex<Vec<String>>>,
    acks: mpsc::Receiver<()>,
    handles: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(port: u16, workers: u64, max_exports: u64) -> Load {
        let stopping = Arc::new(AtomicBool::new(false));
        let acknowledged = Arc::new(Mutex::new(Vec::new()));
        let unanswered = Arc::new(Mutex::new(Vec::new()));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let (ack, acks) = mpsc::channel();
        let handles = (0..workers)
            .map(|worker| {
                let (stopping, acknowledged, unanswered, failures, ack) = (
                    Arc::clone(&stopping),
                    Arc::clone(&acknowledged),
                    Arc::clone(&unanswered),
                    Arc::clone(&failures),
                    ack.clone(),
                );
                std::thread::spawn(move || {
                    let api = Api::with_key(port, PUBLIC_KEY, SECRET_KEY);
                    for number in 0..max_exports {
                        let export = export(worker, number);
                        match api.post_json(OTLP_PATH, &export.body) {
                            Ok(reply) if reply.status == 200 => {
                                acknowledged.lock().unwrap().push(export);
                                let _ = ack.send(());
                            }
                            // Overload answers are retried by exporters; so do we.
                            Ok(reply) if reply.status == 429 || reply.status == 503 => {
                                unanswered.lock().unwrap().push(export);
                            }
                            Ok(reply) => {
                                failures.lock().unwrap().push(format!(
                                    "export {worker}/{number}: {} {}",
                                    reply.status, reply.body
                                ));
                                return;
                            }
                            Err(error) => {
                                if !stopping.load(Ordering::SeqCst) {
                                    failures
                                        .lock()
                                        .unwrap()
                                        .push(format!("export {worker}/{number}: {error}"));
                                }
                                unanswered.lock().unwrap().push(export);
                                return;
                            }
                        }
                    }
                })
            })
            .collect();
        Load {
            stopping,
            acknowledged,
            unanswered,
            failures,
            acks,
            handles,
        }
    }

    fn wait_for_acks(&self, count: usize) {
        let started = Instant::now();
        let mut seen = 0;
        while seen < count {
            if self.acks.recv_timeout(Duration::from_millis(200)).is_ok() {
                seen += 1;
            }
            let failures = self.failures.lock().unwrap().clone();
            assert!(failures.is_empty(), "load failed: {failures:#?}");
            assert!(
                started.elapsed() < LOAD_DEADLINE,
                "only {seen} of {count} exports acknowledged within {LOAD_DEADLINE:?}"
            );
        }
    }

    fn join(self) -> (Vec<Export>, Vec<Export>, Vec<String>) {
        for handle in self.handles {
            handle.join().expect("an exporter thread panicked");
        }
        let take = |list: &Arc<Mutex<Vec<Export>>>| std::mem::take(&mut *list.lock().unwrap());
        let failures = std::mem::take(&mut *self.failures.lock().unwrap());
        (take(&self.acknowledged), take(&self.unanswered), failures)
    }
}

/// Observation ids of a trace as the read API returns them, with repeats kept.
fn stored_observation_ids(api: &Api, trace_id: &str) -> Result<Vec<String>, String> {
    let reply = api
        .get(&format!("/api/public/traces/{trace_id}"))
        .map_err(|error| format!("trace {trace_id}: {error}"))?;
    if reply.status != 200 {
        return Err(format!("trace {trace_id}: {} {}", reply.status, reply.body));
    }
    let body = reply.json();
    Ok(body["observations"]
        .as_array()
        .map(|observations| {
            observations
                .iter()
                .filter_map(|observation| observation["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default())
}

#[test]
fn acknowledged_spans_survive_kill_9_once_each() {
    let data_dir = tempfile::tempdir().unwrap();
    let env = init_env();
    let mut server = Server::start(data_dir.path(), &env);
    let workers = 6;
    let load = Load::start(server.port, workers, 400);
    load.wait_for_acks(150);
    load.stopping.store(true, Ordering::SeqCst);
    server.kill();
    let (acknowledged, unanswered, failures) = load.join();
    assert!(failures.is_empty(), "load failed: {failures:#?}");
    assert!(acknowledged.len() >= 150);

    // After the restart, exporters retry what got no answer, and some acknowledged
    // exports are sent again (an answer lost on the way back looks like no answer).
    let server = Server::start(data_dir.path(), &env);
    let api = Api::with_key(server.port, PUBLIC_KEY, SECRET_KEY);
    let replays: Vec<&Export> = unanswered
        .iter()
        .chain(acknowledged.iter().step_by(10))
        .collect();
    for export in &replays {
        let reply = api
            .post_json(OTLP_PATH, &export.body)
            .expect("retry after restart");
        assert_eq!(reply.status, 200, "retry after restart: {}", reply.body);
    }

    let mut expected: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for export in acknowledged.iter().chain(unanswered.iter()) {
        for (trace_id, spans) in &export.spans {
            expected.insert(trace_id.clone(), spans.clone());
        }
    }
    let mut problems = Vec::new();
    for (trace_id, spans) in &expected {
        match stored_observation_ids(&api, trace_id) {
            Ok(stored) => {
                let unique: BTreeSet<String> = stored.iter().cloned().collect();
                if stored.len() != unique.len() {
                    problems.push(format!(
                        "trace {trace_id}: duplicated observations {stored:?}"
                    ));
                } else if &unique != spans {
                    problems.push(format!(
                        "trace {trace_id}: stored {unique:?}, sent {spans:?}"
                    ));
                }
            }
            Err(problem) => problems.push(problem),
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {} traces wrong after kill -9 and restart, e.g. {:#?}",
        problems.len(),
        expected.len(),
        &problems[..problems.len().min(10)]
    );

    // No stray rows either: the project holds exactly the spans that were sent.
    let reply = api
        .get("/api/public/observations?limit=1")
        .expect("observation count");
    let total = reply.json()["meta"]["totalItems"].as_u64();
    let sent: usize = expected.values().map(BTreeSet::len).sum();
    assert_eq!(
        total,
        Some(sent as u64),
        "observations stored vs spans sent"
    );
}
