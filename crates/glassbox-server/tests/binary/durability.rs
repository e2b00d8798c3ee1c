//! A 207 is a promise: whatever the server acknowledged is readable at once and survives
//! both `kill -9` and a graceful SIGTERM stop.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Api, Reply, Server};

const PUBLIC_KEY: &str = "pk-lf-durability-test";
const SECRET_KEY: &str = "sk-lf-durability-test-secret";
/// Traces per batch; each comes with two spans and one score: 4 events.
const TRACES_PER_BATCH: usize = 5;
/// Deadline for the whole load phase (not an assertion on speed).
const LOAD_DEADLINE: Duration = Duration::from_secs(600);

fn init_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("LANGFUSE_INIT_ORG_ID", "durability-org"),
        ("LANGFUSE_INIT_PROJECT_ID", "durability-project"),
        ("LANGFUSE_INIT_PROJECT_PUBLIC_KEY", PUBLIC_KEY),
        ("LANGFUSE_INIT_PROJECT_SECRET_KEY", SECRET_KEY),
    ]
}

/// What one acknowledged trace must look like when read back.
#[derive(Clone, Debug)]
struct ExpectedTrace {
    id: String,
    name: String,
    spans: BTreeSet<String>,
    score_id: String,
    score_value: f64,
}

/// One ingestion batch of `TRACES_PER_BATCH * 4` events: per trace a trace-create, two
/// span-creates and a score-create.
fn batch(worker: usize, number: usize) -> (Value, Vec<ExpectedTrace>) {
    let timestamp = "2025-03-01T10:00:00.000Z";
    let end = "2025-03-01T10:00:01.500Z";
    let mut events = Vec::new();
    let mut expected = Vec::new();
    for index in 0..TRACES_PER_BATCH {
        let tag = format!("w{worker}-b{number}-t{index}");
        let trace_id = format!("trace-{tag}");
        let name = format!("durable {tag}");
        let spans: Vec<String> = (0..2).map(|span| format!("span-{tag}-{span}")).collect();
        let score_id = format!("score-{tag}");
        let score_value = (worker * 1_000 + number * 10 + index) as f64 + 0.25;
        events.push(json!({
            "id": format!("event-{tag}-trace"),
            "type": "trace-create",
            "timestamp": timestamp,
            "body": {
                "id": trace_id,
                "name": name,
                "timestamp": timestamp,
                "userId": format!("user-{worker}"),
                "metadata": {"worker": worker, "batch": number},
            },
        }));
        for (position, span_id) in spans.iter().enumerate() {
            events.push(json!({
                "id": format!("event-{tag}-span-{position}"),
                "type": "span-create",
                "timestamp": timestamp,
                "body": {
                    "id": span_id,
                    "traceId": trace_id,
                    "name": format!("step {position}"),
                    "startTime": timestamp,
                    "endTime": end,
                    "input": {"position": position},
                },
            }));
        }
        events.push(json!({
            "id": format!("event-{tag}-score"),
            "type": "score-create",
            "timestamp": timestamp,
            "body": {
                "id": score_id,
                "traceId": trace_id,
                "name": "quality",
                "value": score_value,
            },
        }));
        expected.push(ExpectedTrace {
            id: trace_id,
            name,
            spans: spans.into_iter().collect(),
            score_id,
            score_value,
        });
    }
    (json!({ "batch": events }), expected)
}

fn event_ids(body: &Value) -> BTreeSet<String> {
    body["batch"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Checks a 207 answer: no errors, and every event of the batch among the successes.
fn check_multi_status(reply: &Reply, body: &Value) -> Result<(), String> {
    if reply.status != 207 {
        return Err(format!("status {} ({})", reply.status, reply.body));
    }
    let answer = reply.json();
    let errors = answer["errors"].as_array().map(Vec::len);
    if errors != Some(0) {
        return Err(format!("errors in 207: {}", reply.body));
    }
    let successes: BTreeSet<String> = answer["successes"]
        .as_array()
        .ok_or_else(|| format!("no successes array: {}", reply.body))?
        .iter()
        .map(|success| success["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    let sent = event_ids(body);
    if successes != sent {
        return Err(format!(
            "successes {} of {} sent events",
            successes.intersection(&sent).count(),
            sent.len()
        ));
    }
    Ok(())
}

/// Checks `GET /api/public/traces/{id}` against what was acknowledged.
fn check_trace(reply: &Reply, expected: &ExpectedTrace) -> Result<(), String> {
    let id = &expected.id;
    if reply.status != 200 {
        return Err(format!(
            "trace {id}: status {} ({})",
            reply.status, reply.body
        ));
    }
    let trace = reply.json();
    if trace["id"] != json!(id) || trace["name"] != json!(expected.name) {
        return Err(format!("trace {id}: wrong trace {}", reply.body));
    }
    let observations = trace["observations"]
        .as_array()
        .ok_or_else(|| format!("trace {id}: no observations array"))?;
    let spans: BTreeSet<String> = observations
        .iter()
        .map(|observation| observation["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    if spans != expected.spans || observations.len() != expected.spans.len() {
        return Err(format!(
            "trace {id}: observations {spans:?}, expected {:?}",
            expected.spans
        ));
    }
    for observation in observations {
        if observation["traceId"] != json!(id) || observation["type"] != json!("SPAN") {
            return Err(format!("trace {id}: bad observation {observation}"));
        }
    }
    let scores = trace["scores"]
        .as_array()
        .ok_or_else(|| format!("trace {id}: no scores array"))?;
    let [score] = scores.as_slice() else {
        return Err(format!("trace {id}: {} scores, expected 1", scores.len()));
    };
    if score["id"] != json!(expected.score_id)
        || score["value"].as_f64() != Some(expected.score_value)
    {
        return Err(format!("trace {id}: wrong score {score}"));
    }
    Ok(())
}

/// Concurrent writers. Each worker sends batches until a request fails (or it has sent
/// `max_batches`), reads one trace of every acknowledged batch back at once, and records
/// what was acknowledged. Transport errors are only acceptable once `stopping` is set.
struct Load {
    stopping: Arc<AtomicBool>,
    acknowledged: Arc<Mutex<Vec<ExpectedTrace>>>,
    failures: Arc<Mutex<Vec<String>>>,
    acks: Receiver<()>,
    workers: Vec<JoinHandle<()>>,
}

impl Load {
    fn start(port: u16, workers: usize, max_batches: usize) -> Load {
        let stopping = Arc::new(AtomicBool::new(false));
        let acknowledged = Arc::new(Mutex::new(Vec::new()));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let (ack, acks) = mpsc::channel();
        let workers = (0..workers)
            .map(|worker| {
                let stopping = Arc::clone(&stopping);
                let acknowledged = Arc::clone(&acknowledged);
                let failures = Arc::clone(&failures);
                let ack = ack.clone();
                std::thread::spawn(move || {
                    let api = Api::with_key(port, PUBLIC_KEY, SECRET_KEY);
                    let fail = |message: String| failures.lock().unwrap().push(message);
                    for number in 0..max_batches {
                        let (body, expected) = batch(worker, number);
                        let reply = match api.post_json("/api/public/ingestion", &body) {
                            Ok(reply) => reply,
                            Err(error) => {
                                if !stopping.load(Ordering::SeqCst) {
                                    fail(format!("batch {worker}/{number}: {error}"));
                                }
                                return;
                            }
                        };
                        if let Err(problem) = check_multi_status(&reply, &body) {
                            fail(format!("batch {worker}/{number}: {problem}"));
                            return;
                        }
                        acknowledged
                            .lock()
                            .unwrap()
                            .extend(expected.iter().cloned());
                        let _ = ack.send(());
                        // Readable at once: no sleep between the 207 and the read.
                        let first = &expected[0];
                        match api.get(&format!("/api/public/traces/{}", first.id)) {
                            Ok(reply) => {
                                if let Err(problem) = check_trace(&reply, first) {
                                    fail(format!("read right after its 207: {problem}"));
                                    return;
                                }
                            }
                            Err(error) => {
                                if !stopping.load(Ordering::SeqCst) {
                                    fail(format!("read right after its 207: {error}"));
                                }
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
            failures,
            acks,
            workers,
        }
    }

    /// Blocks until `count` batches have been acknowledged; fails on the first recorded
    /// failure or after [`LOAD_DEADLINE`].
    fn wait_for_acks(&self, count: usize) {
        let started = Instant::now();
        let mut seen = 0;
        while seen < count {
            match self.acks.recv_timeout(Duration::from_millis(200)) {
                Ok(()) => seen += 1,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    panic!(
                        "every worker stopped after {seen} of {count} batches: {:?}",
                        self.failures.lock().unwrap()
                    )
                }
            }
            // Copy before asserting: panicking with the lock held would poison it for
            // the workers still running.
            let failures = self.failures.lock().unwrap().clone();
            assert!(failures.is_empty(), "load failed: {failures:#?}");
            assert!(
                started.elapsed() < LOAD_DEADLINE,
                "only {seen} of {count} batches acknowledged within {LOAD_DEADLINE:?}"
            );
        }
    }

    /// From now on transport errors are expected (the server is being stopped).
    fn stopping(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// Waits for the workers; returns every acknowledged trace and the failures.
    fn join(self) -> (Vec<ExpectedTrace>, Vec<String>) {
        for worker in self.workers {
            worker.join().expect("a load worker panicked");
        }
        let acknowledged = std::mem::take(&mut *self.acknowledged.lock().unwrap());
        let failures = std::mem::take(&mut *self.failures.lock().unwrap());
        (acknowledged, failures)
    }
}

/// Reads every acknowledged trace back (with a few threads) and fails listing what is
/// missing or different.
fn verify_all(port: u16, expected: &[ExpectedTrace]) {
    let readers = 4;
    let chunk = expected.len().div_ceil(readers).max(1);
    let problems: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = expected
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    let api = Api::with_key(port, PUBLIC_KEY, SECRET_KEY);
                    let mut problems = Vec::new();
                    for trace in part {
                        let outcome = api
                            .get(&format!("/api/public/traces/{}", trace.id))
                            .map_err(|error| format!("trace {}: {error}", trace.id))
                            .and_then(|reply| check_trace(&reply, trace));
                        if let Err(problem) = outcome {
                            problems.push(problem);
                        }
                    }
                    problems
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().expect("a verifier panicked"))
            .collect()
    });
    assert!(
        problems.is_empty(),
        "{} of {} acknowledged traces are not intact after restart, e.g. {:#?}",
        problems.len(),
        expected.len(),
        &problems[..problems.len().min(10)]
    );
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    let data_dir = tempfile::tempdir().unwrap();
    let env = init_env();
    let mut server = Server::start(data_dir.path(), &env);
    let workers = 8;
    let batches = 50;
    // Workers may go past 50 batches each: whoever is still sending when the 400th
    // acknowledgement arrives is in flight when the process dies.
    let load = Load::start(server.port, workers, batches * 2);
    load.wait_for_acks(workers * batches);
    load.stopping();
    let exited = server.kill();
    let (acknowledged, failures) = load.join();
    assert!(failures.is_empty(), "load failed: {failures:#?}");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            exited.status.signal(),
            Some(9),
            "expected death by SIGKILL: {}",
            exited.status
        );
    }
    assert!(
        acknowledged.len() >= workers * batches * TRACES_PER_BATCH,
        "only {} traces acknowledged",
        acknowledged.len()
    );

    let server = Server::start(data_dir.path(), &env);
    verify_all(server.port, &acknowledged);
}

#[test]
fn sigterm_drains_in_flight_requests_and_exits_zero() {
    let data_dir = tempfile::tempdir().unwrap();
    let env = init_env();
    let mut server = Server::start(data_dir.path(), &env);
    // Workers keep sending after SIGTERM until the server refuses them: the signal lands
    // while requests are in flight, and new ones must not keep the server alive.
    let load = Load::start(server.port, 4, 2_000);
    load.wait_for_acks(40);
    load.stopping();
    let exited = server.terminate();
    let (acknowledged, failures) = load.join();
    assert_eq!(
        exited.status.code(),
        Some(0),
        "graceful stop must exit 0: {}\nstderr:\n{}",
        exited.status,
        exited.stderr
    );
    assert!(failures.is_empty(), "load failed: {failures:#?}");
    assert!(acknowledged.len() >= 40 * TRACES_PER_BATCH);

    let server = Server::start(data_dir.path(), &env);
    verify_all(server.port, &acknowledged);
}

#[test]
fn sigterm_does_not_wait_forever_for_stalled_clients() {
    use std::io::Write;
    use std::net::TcpStream;

    use base64::Engine;

    let data_dir = tempfile::tempdir().unwrap();
    let env = init_env();
    let mut server = Server::start(data_dir.path(), &env);
    let api = Api::with_key(server.port, PUBLIC_KEY, SECRET_KEY);
    let (body, expected) = batch(0, 0);
    let reply = api.post_json("/api/public/ingestion", &body).unwrap();
    check_multi_status(&reply, &body).unwrap();

    // One client stops in the middle of a request head, another in the middle of an
    // authenticated ingestion body. Both stay connected through the shutdown.
    let mut partial_head = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    partial_head.write_all(b"GET /api/public/hea").unwrap();
    let token =
        base64::engine::general_purpose::STANDARD.encode(format!("{PUBLIC_KEY}:{SECRET_KEY}"));
    let mut partial_body = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    partial_body
        .write_all(
            format!(
                "POST /api/public/ingestion HTTP/1.1\r\nHost: localhost\r\n\
                 Authorization: Basic {token}\r\nContent-Type: application/json\r\n\
                 Content-Length: 100000\r\n\r\n{{\"batch\":["
            )
            .as_bytes(),
        )
        .unwrap();
    // Wait until the server has accepted connections made after both stalled ones: a full
    // request on a new connection is answered only once the listener got that far.
    api.get("/api/public/health").unwrap();

    // `terminate` fails the test when the process is still running after STOP_DEADLINE.
    let exited = server.terminate();
    assert_eq!(
        exited.status.code(),
        Some(0),
        "{}\nstderr:\n{}",
        exited.status,
        exited.stderr
    );
    drop((partial_head, partial_body));

    let server = Server::start(data_dir.path(), &env);
    verify_all(server.port, &expected);
}
