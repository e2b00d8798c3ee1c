//! Running the binary and talking to it.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_glassbox");

/// How long a start-up may take before the test gives up (not an assertion on speed).
const START_DEADLINE: Duration = Duration::from_secs(60);
/// How long a SIGTERM may take to stop the server before the test fails.
pub const STOP_DEADLINE: Duration = Duration::from_secs(30);

/// A command for the binary that does not inherit configuration from the caller's
/// environment (`LANGFUSE_INIT_*`, `GLASSBOX_*`, `SALT`, `DATABASE_URL`).
pub fn command() -> Command {
    let mut command = Command::new(BIN);
    for (name, _) in std::env::vars_os() {
        let text = name.to_string_lossy();
        if text.starts_with("LANGFUSE_")
            || text.starts_with("GLASSBOX_")
            || text == "SALT"
            || text == "DATABASE_URL"
        {
            command.env_remove(&name);
        }
    }
    command.env("GLASSBOX_LOG", "info");
    command
}

/// Output of a finished command-line invocation.
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `glassbox <args> --data-dir <dir>` to completion.
pub fn run_cli(data_dir: &Path, args: &[&str]) -> Output {
    let output = command()
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .stdin(Stdio::null())
        .output()
        .expect("running the glassbox binary");
    Output {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A port that was free a moment ago (the server may still lose a race for it; `start`
/// retries with another one).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("binding an ephemeral port")
        .port()
}

/// A running `glassbox serve`, killed when dropped.
pub struct Server {
    child: Child,
    pub port: u16,
    /// The `--otlp-grpc-port` it was given (`None`: started with `--no-otlp-grpc`).
    pub grpc_port: Option<u16>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

/// How a server process ended, with everything it printed.
pub struct Exited {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

fn collect(stream: impl Read + Send + 'static, sink: Arc<Mutex<String>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => sink
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&line)),
            }
        }
    })
}

impl Server {
    /// Starts `glassbox serve --port <free> --no-otlp-grpc --data-dir <dir>` (default
    /// host) with `env` added, and waits until `/api/public/health` answers 200. The gRPC
    /// receiver is off so that parallel tests never compete for its default port 4317.
    pub fn start(data_dir: &Path, env: &[(&str, &str)]) -> Server {
        Server::launch(data_dir, env, false, &[])
    }

    /// Like [`Server::start`], but with the OTLP/gRPC receiver on a free port
    /// (`--otlp-grpc-port <free>`, in [`Server::grpc_port`]) and `args` added.
    pub fn start_with_otlp_grpc(data_dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Server {
        Server::launch(data_dir, env, true, args)
    }

    fn launch(data_dir: &Path, env: &[(&str, &str)], grpc: bool, args: &[&str]) -> Server {
        let mut last_failure = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let grpc_port = grpc.then(|| {
                std::iter::repeat_with(free_port)
                    .find(|candidate| *candidate != port)
                    .expect("a second free port")
            });
            let mut command = command();
            command.arg("serve").arg("--port").arg(port.to_string());
            match grpc_port {
                Some(grpc_port) => command.arg("--otlp-grpc-port").arg(grpc_port.to_string()),
                None => command.arg("--no-otlp-grpc"),
            };
            let mut child = command
                .args(args)
                .arg("--data-dir")
                .arg(data_dir)
                .envs(env.iter().copied())
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawning glassbox serve");
            let stdout = Arc::new(Mutex::new(String::new()));
            let stderr = Arc::new(Mutex::new(String::new()));
            let readers = vec![
                collect(child.stdout.take().unwrap(), Arc::clone(&stdout)),
                collect(child.stderr.take().unwrap(), Arc::clone(&stderr)),
            ];
            let mut server = Server {
                child,
                port,
                grpc_port,
                stdout,
                stderr,
                readers,
            };
            match server.wait_healthy(START_DEADLINE) {
                Ok(()) => return server,
                Err(failure) => {
                    let exited = server.kill();
                    last_failure = format!(
                        "{failure}; status {:?}\nstdout:\n{}\nstderr:\n{}",
                        exited.status, exited.stdout, exited.stderr
                    );
                    // Only losing a port race (HTTP or gRPC) is worth another attempt.
                    if !exited.stderr.contains("binding") {
                        break;
                    }
                }
            }
        }
        panic!("glassbox serve did not become healthy: {last_failure}");
    }

    fn wait_healthy(&mut self, deadline: Duration) -> Result<(), String> {
        let started = Instant::now();
        let api = Api::anonymous(self.port);
        loop {
            if let Some(status) = self.child.try_wait().map_err(|error| error.to_string())? {
                return Err(format!("the server exited early with {status}"));
            }
            if let Ok(reply) = api.get("/api/public/health")
                && reply.status == 200
            {
                return Ok(());
            }
            if started.elapsed() > deadline {
                return Err(format!("no healthy answer within {deadline:?}"));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the server printed to stdout so far.
    pub fn stdout_so_far(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    fn finish(&mut self, status: ExitStatus) -> Exited {
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        Exited {
            status,
            stdout: self.stdout.lock().unwrap().clone(),
            stderr: self.stderr.lock().unwrap().clone(),
        }
    }

    /// SIGKILL (what `Child::kill` sends on unix): no chance to flush or clean up.
    pub fn kill(&mut self) -> Exited {
        let _ = self.child.kill();
        let status = self.child.wait().expect("waiting for the killed server");
        self.finish(status)
    }

    /// SIGTERM, then waits for the process to exit on its own. Fails the test (after
    /// killing the process) when it does not exit within [`STOP_DEADLINE`].
    pub fn terminate(&mut self) -> Exited {
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status()
            .expect("running kill -TERM");
        assert!(sent.success(), "kill -TERM {} failed: {sent}", self.pid());
        self.wait_exit()
    }

    /// Waits for an already signalled server to exit within [`STOP_DEADLINE`].
    pub fn wait_exit(&mut self) -> Exited {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("polling the server process") {
                return self.finish(status);
            }
            if started.elapsed() > STOP_DEADLINE {
                let exited = self.kill();
                panic!(
                    "the server did not exit within {STOP_DEADLINE:?} of SIGTERM\nstderr:\n{}",
                    exited.stderr
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A response: status and body text.
pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.body))
    }
}

/// A blocking HTTP client for one server, optionally with Basic auth.
#[derive(Clone)]
pub struct Api {
    agent: ureq::Agent,
    base: String,
    authorization: Option<String>,
}

impl Api {
    pub fn anonymous(port: u16) -> Api {
        let config = ureq::Agent::config_builder()
            // Statuses are data here, not errors.
            .http_status_as_error(false)
            // Never route loopback requests through a proxy from the environment.
            .proxy(None)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(Duration::from_secs(120)))
            .build();
        Api {
            agent: config.new_agent(),
            base: format!("http://127.0.0.1:{port}"),
            authorization: None,
        }
    }

    pub fn with_key(port: u16, public_key: &str, secret_key: &str) -> Api {
        let mut api = Api::anonymous(port);
        let token =
            base64::engine::general_purpose::STANDARD.encode(format!("{public_key}:{secret_key}"));
        api.authorization = Some(format!("Basic {token}"));
        api
    }

    pub fn get(&self, path: &str) -> Result<Reply, ureq::Error> {
        let mut request = self.agent.get(format!("{}{path}", self.base));
        if let Some(authorization) = &self.authorization {
            request = request.header("Authorization", authorization);
        }
        let mut response = request.call()?;
        Ok(Reply {
            status: response.status().as_u16(),
            body: response.body_mut().read_to_string()?,
        })
    }

    pub fn patch_json(&self, path: &str, body: &Value) -> Result<Reply, ureq::Error> {
        let mut request = self.agent.patch(format!("{}{path}", self.base));
        if let Some(authorization) = &self.authorization {
            request = request.header("Authorization", authorization);
        }
        let mut response = request
            .content_type("application/json")
            .send(body.to_string())?;
        Ok(Reply {
            status: response.status().as_u16(),
            body: response.body_mut().read_to_string()?,
        })
    }

    /// PUT of raw bytes with these headers (no Authorization: media uploads carry a token).
    pub fn put_bytes(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        bytes: &[u8],
    ) -> Result<u16, ureq::Error> {
        let mut request = self.agent.put(format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        Ok(request.send(bytes)?.status().as_u16())
    }

    /// GET of a body as bytes (no Authorization).
    pub fn get_bytes(&self, path: &str) -> Result<(u16, Vec<u8>), ureq::Error> {
        let mut response = self.agent.get(format!("{}{path}", self.base)).call()?;
        let status = response.status().as_u16();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_vec()?;
        Ok((status, bytes))
    }

    pub fn post_json(&self, path: &str, body: &Value) -> Result<Reply, ureq::Error> {
        let mut request = self.agent.post(format!("{}{path}", self.base));
        if let Some(authorization) = &self.authorization {
            request = request.header("Authorization", authorization);
        }
        let mut response = request
            .content_type("application/json")
            .send(body.to_string())?;
        Ok(Reply {
            status: response.status().as_u16(),
            body: response.body_mut().read_to_string()?,
        })
    }
}

/// The PostgreSQL server of the tests (`scripts/postgres-test-cluster.sh start`).
pub fn test_database_url() -> String {
    std::env::var("GLASSBOX_TEST_DATABASE_URL").expect(
        "GLASSBOX_TEST_DATABASE_URL must name a PostgreSQL server for the PostgreSQL tests: \
         run `scripts/postgres-test-cluster.sh start` and export the URL it prints",
    )
}

/// A schema name no other test uses (the server creates it).
pub fn fresh_schema(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// Environment that points `glassbox` at PostgreSQL, in `schema`.
pub fn postgres_env(schema: &str) -> Vec<(String, String)> {
    vec![
        ("DATABASE_URL".to_owned(), test_database_url()),
        ("GLASSBOX_DATABASE_SCHEMA".to_owned(), schema.to_owned()),
    ]
}

/// Polls `check` until it returns `Some`, failing the test after `deadline`.
pub fn poll<T>(what: &str, deadline: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            started.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Every file under `dir` whose bytes contain `needle`.
pub fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).expect("listing the data directory") {
            let path = entry.expect("reading a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if let Ok(bytes) = std::fs::read(&path)
                && bytes
                    .windows(needle.len())
                    .any(|window| window == needle.as_bytes())
            {
                found.push(path);
            }
        }
    }
    found
}

/// Number of files under `dir` (to show that a scan looked at something).
pub fn file_count(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| {
                    let path = entry.path();
                    if path.is_dir() { file_count(&path) } else { 1 }
                })
                .sum()
        })
        .unwrap_or(0)
}

/// The value of a `NAME=value` line in `text`.
pub fn line_value(text: &str, name: &str) -> Option<String> {
    let prefix = format!("{name}=");
    text.lines()
        .find_map(|line| line.trim().strip_prefix(&prefix).map(str::to_owned))
}
