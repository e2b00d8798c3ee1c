//! The OTLP/gRPC receiver of the real binary: a span exported with the generated tonic
//! client is readable over HTTP at once; `--no-otlp-grpc` (or its variable) leaves the
//! port closed; a busy port stops the start-up with an error that names the flag; an
//! idle gRPC connection does not hold up a SIGTERM.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::Engine;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValueKind;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

use crate::support::{Api, STOP_DEADLINE, Server, command, free_port};

const PUBLIC_KEY: &str = "pk-lf-grpc-test";
const SECRET_KEY: &str = "sk-lf-grpc-test-secret";
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN_ID: &str = "00f067aa0ba902b7";

fn init_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("LANGFUSE_INIT_ORG_ID", "grpc-org"),
        ("LANGFUSE_INIT_PROJECT_ID", "grpc-project"),
        ("LANGFUSE_INIT_PROJECT_PUBLIC_KEY", PUBLIC_KEY),
        ("LANGFUSE_INIT_PROJECT_SECRET_KEY", SECRET_KEY),
    ]
}

fn bytes_of(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&hex[at..at + 2], 16).expect("hex"))
        .collect()
}

fn one_span() -> ExportTraceServiceRequest {
    let start: u64 = 1_740_830_400_000_000_000;
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: bytes_of(TRACE_ID),
                    span_id: bytes_of(SPAN_ID),
                    name: "grpc-span".to_owned(),
                    kind: 1,
                    start_time_unix_nano: start,
                    end_time_unix_nano: start + 250_000_000,
                    attributes: vec![KeyValue {
                        key: "langfuse.trace.name".to_owned(),
                        value: Some(AnyValue {
                            value: Some(AnyValueKind::StringValue("grpc trace".to_owned())),
                        }),
                        ..KeyValue::default()
                    }],
                    ..Span::default()
                }],
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
fn accepts(port: u16) -> bool {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&address, Duration::from_secs(2)).is_ok()
}

#[test]
fn a_span_exported_over_grpc_is_readable_over_http() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_with_otlp_grpc(data_dir.path(), &init_env(), &[]);
    let grpc_port = server.grpc_port.expect("gRPC port");
    let runtime = runtime();
    let mut client = runtime
        .block_on(TraceServiceClient::connect(format!(
            "http://127.0.0.1:{grpc_port}"
        )))
        .expect("connect to the OTLP/gRPC receiver");
    let mut request = tonic::Request::new(one_span());
    let token =
        base64::engine::general_purpose::STANDARD.encode(format!("{PUBLIC_KEY}:{SECRET_KEY}"));
    request.metadata_mut().insert(
        "authorization",
        format!("Basic {token}").parse().expect("metadata value"),
    );
    let response = runtime
        .block_on(client.export(request))
        .expect("export accepted")
        .into_inner();
    assert_eq!(response.partial_success, None);

    let api = Api::with_key(server.port, PUBLIC_KEY, SECRET_KEY);
    let trace = api
        .get(&format!("/api/public/traces/{TRACE_ID}"))
        .expect("GET trace");
    assert_eq!(trace.status, 200, "{}", trace.body);
    let trace = trace.json();
    assert_eq!(trace["name"], "grpc trace");
    assert_eq!(trace["observations"][0]["id"], SPAN_ID);
    assert_eq!(trace["observations"][0]["name"], "grpc-span");

    // The client's HTTP/2 connection is still open: SIGTERM must still stop both
    // servers within the drain deadline, and cleanly.
    let started = Instant::now();
    let exited = server.terminate();
    assert!(exited.status.success(), "stderr:\n{}", exited.stderr);
    assert!(started.elapsed() < STOP_DEADLINE);
    // The log line may carry colour codes between the message and the field.
    assert!(
        exited.stderr.contains("OTLP/gRPC receiver is listening")
            && exited.stderr.contains(&format!("127.0.0.1:{grpc_port}")),
        "the gRPC address is logged at start:\n{}",
        exited.stderr
    );
    drop(client);
}

#[test]
fn no_otlp_grpc_leaves_the_port_closed() {
    let data_dir = tempfile::tempdir().unwrap();
    // The flag wins over the port it is given.
    let mut server = Server::start_with_otlp_grpc(data_dir.path(), &[], &["--no-otlp-grpc"]);
    let grpc_port = server.grpc_port.expect("gRPC port");
    assert!(!accepts(grpc_port), "port {grpc_port} accepts connections");
    let exited = server.terminate();
    assert!(exited.status.success());
    assert!(!exited.stderr.contains("OTLP/gRPC receiver is listening"));

    // So does its variable.
    let mut server = Server::start_with_otlp_grpc(
        data_dir.path(),
        &[("GLASSBOX_OTLP_GRPC_DISABLED", "true")],
        &[],
    );
    let grpc_port = server.grpc_port.expect("gRPC port");
    assert!(!accepts(grpc_port), "port {grpc_port} accepts connections");
    assert!(server.terminate().status.success());
}

#[test]
fn a_busy_grpc_port_fails_the_start_up_and_names_the_flag() {
    let data_dir = tempfile::tempdir().unwrap();
    let busy = TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let busy_port = busy.local_addr().unwrap().port();
    let mut last = String::new();
    for _attempt in 0..5 {
        let (code, stderr) = run_to_exit(data_dir.path(), free_port(), busy_port);
        if stderr.contains("OTLP/gRPC") {
            assert_ne!(code, Some(0), "stderr:\n{stderr}");
            assert!(stderr.contains("--otlp-grpc-port"), "stderr:\n{stderr}");
            assert!(stderr.contains(&busy_port.to_string()), "stderr:\n{stderr}");
            assert!(stderr.contains("--no-otlp-grpc"), "stderr:\n{stderr}");
            return;
        }
        // Lost the race for the HTTP port: try another.
        last = stderr;
    }
    panic!("never failed on the gRPC port:\n{last}");
}

/// Runs `glassbox serve` until it exits on its own (killed after a generous deadline).
fn run_to_exit(data_dir: &Path, port: u16, grpc_port: u16) -> (Option<i32>, String) {
    let mut child = command()
        .arg("serve")
        .args(["--port", &port.to_string()])
        .args(["--otlp-grpc-port", &grpc_port.to_string()])
        .arg("--data-dir")
        .arg(data_dir)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning glassbox serve");
    let started = Instant::now();
    loop {
        if child.try_wait().expect("polling the server").is_some() {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("server output");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
