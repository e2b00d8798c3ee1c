//! OTLP/gRPC `TraceService/Export`: the tonic-generated client against the receiver on a
//! loopback port, over the same temporary store as the HTTP router, so that what the
//! receiver stored is read back through the public API, and OTLP/HTTP is checked to answer
//! the same way (both call one ingest path).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::Method;
use base64::Engine;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValueKind;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use tonic::codec::CompressionEncoding;
use tonic::transport::Channel;
use tonic::{Code, Request};

use glassbox_http::{AppState, HttpConfig, serve_otlp_grpc};

use crate::support::{Auth, PK_A, PROJECT_B, SALT, SK_A, TestApp, micros};

const TRACE_ID: [u8; 16] = [
    0x5b, 0x8e, 0xfa, 0xf1, 0x2c, 0x3d, 0x4e, 0x5f, 0x60, 0x71, 0x82, 0x93, 0xa4, 0xb5, 0xc6, 0xd7,
];
const ROOT_ID: [u8; 8] = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88];
const CHILD_ID: [u8; 8] = [0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x01];
/// 2025-03-01T12:00:00Z in nanoseconds.
const START_NANOS: u64 = 1_740_830_400_000_000_000;

/// The receiver on 127.0.0.1:0 over `app`'s stores; stops when dropped.
struct Receiver {
    address: SocketAddr,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Receiver {
    async fn start(app: &TestApp, config: HttpConfig) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let address = listener.local_addr().expect("local address");
        let state = AppState {
            stores: app.stores.clone(),
            config: Arc::new(config),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            serve_otlp_grpc(listener, state, async move {
                let _ = stopped.await;
            })
            .await
            .expect("serve OTLP/gRPC");
        });
        Receiver {
            address,
            _stop: stop,
        }
    }

    async fn client(&self) -> TraceServiceClient<Channel> {
        TraceServiceClient::connect(format!("http://{}", self.address))
            .await
            .expect("connect to the receiver")
    }
}

fn config() -> HttpConfig {
    HttpConfig {
        salt: SALT.to_owned(),
        ..HttpConfig::default()
    }
}

fn basic(public_key: &str, secret_key: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{public_key}:{secret_key}"))
    )
}

fn attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(AnyValueKind::StringValue(value.to_owned())),
        }),
        ..KeyValue::default()
    }
}

fn span(trace_id: &[u8], span_id: &[u8], name: &str, attributes: Vec<KeyValue>) -> Span {
    Span {
        trace_id: trace_id.to_vec(),
        span_id: span_id.to_vec(),
        name: name.to_owned(),
        kind: 1,
        start_time_unix_nano: START_NANOS,
        end_time_unix_nano: START_NANOS + 1_500_000_000,
        attributes,
        ..Span::default()
    }
}

fn export(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![attribute("service.name", "grpc-test")],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "grpc-test-scope".to_owned(),
                    version: "1.0.0".to_owned(),
                    ..InstrumentationScope::default()
                }),
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
}

/// A root span carrying trace attributes and a generation child.
fn trace_export() -> ExportTraceServiceRequest {
    let root = span(
        &TRACE_ID,
        &ROOT_ID,
        "grpc-root",
        vec![
            attribute("langfuse.trace.name", "grpc trace"),
            attribute("langfuse.user.id", "user-grpc"),
            attribute("langfuse.trace.input", r#"{"question":"hi"}"#),
        ],
    );
    let mut child = span(
        &TRACE_ID,
        &CHILD_ID,
        "llm-call",
        vec![
            attribute("langfuse.observation.type", "generation"),
            attribute("gen_ai.request.model", "gpt-4o"),
            attribute("langfuse.observation.output", r#""hello""#),
        ],
    );
    child.parent_span_id = ROOT_ID.to_vec();
    export(vec![root, child])
}

fn with_auth<T>(message: T, authorization: &str) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        authorization.parse().expect("ASCII metadata value"),
    );
    request
}

#[tokio::test]
async fn exported_spans_are_stored_and_readable_through_the_api() {
    let app = TestApp::new().await;
    let receiver = Receiver::start(&app, config()).await;
    let mut client = receiver.client().await;

    let response = client
        .export(with_auth(trace_export(), &basic(PK_A, SK_A)))
        .await
        .expect("export accepted")
        .into_inner();
    assert_eq!(response.partial_success, None, "every span was stored");

    // The answer came after the commit: readable at once, in project A only.
    let trace_id = hex_of(&TRACE_ID);
    let trace = app.get_ok(&format!("/api/public/traces/{trace_id}")).await;
    assert_eq!(trace["id"], trace_id.as_str());
    assert_eq!(trace["name"], "grpc trace");
    assert_eq!(trace["userId"], "user-grpc");
    assert_eq!(trace["input"]["question"], "hi");
    assert_eq!(micros(&trace["timestamp"]), (START_NANOS / 1_000) as i64);
    let observations = trace["observations"].as_array().expect("observations");
    assert_eq!(observations.len(), 2, "{trace}");

    let child_id = hex_of(&CHILD_ID);
    let child = app
        .get_ok(&format!("/api/public/observations/{child_id}"))
        .await;
    assert_eq!(child["traceId"], trace_id.as_str());
    assert_eq!(child["type"], "GENERATION");
    assert_eq!(child["name"], "llm-call");
    assert_eq!(child["model"], "gpt-4o");
    assert_eq!(child["output"], "hello");
    assert_eq!(child["parentObservationId"], hex_of(&ROOT_ID).as_str());
    assert_eq!(micros(&child["startTime"]), (START_NANOS / 1_000) as i64);
    assert_eq!(
        micros(&child["endTime"]),
        ((START_NANOS + 1_500_000_000) / 1_000) as i64
    );
    let root = app
        .get_ok(&format!("/api/public/observations/{}", hex_of(&ROOT_ID)))
        .await;
    assert_eq!(root["type"], "SPAN");
    assert_eq!(root["name"], "grpc-root");

    app.get(&format!("/api/public/traces/{trace_id}"), &Auth::B)
        .await
        .expect(404);
    let in_b = app
        .stores
        .traces
        .get_trace(&glassbox_model::ProjectId(PROJECT_B.to_owned()), &trace_id)
        .await
        .expect("store read");
    assert!(in_b.is_none(), "stored in the key's project only");

    // Re-sending the same spans (an exporter retry) replaces them: still two.
    client
        .export(with_auth(trace_export(), &basic(PK_A, SK_A)))
        .await
        .expect("retry accepted");
    let trace = app.get_ok(&format!("/api/public/traces/{trace_id}")).await;
    assert_eq!(trace["observations"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn gzip_compressed_exports_are_accepted() {
    let app = TestApp::new().await;
    let receiver = Receiver::start(&app, config()).await;
    let mut client = receiver
        .client()
        .await
        .send_compressed(CompressionEncoding::Gzip);
    let response = client
        .export(with_auth(trace_export(), &basic(PK_A, SK_A)))
        .await
        .expect("gzip export accepted")
        .into_inner();
    assert_eq!(response.partial_success, None);
    app.get_ok(&format!("/api/public/traces/{}", hex_of(&TRACE_ID)))
        .await;
}

#[tokio::test]
async fn credentials_are_checked_like_the_http_api() {
    let app = TestApp::new().await;
    let receiver = Receiver::start(&app, config()).await;
    let mut client = receiver.client().await;

    let missing = client
        .export(Request::new(trace_export()))
        .await
        .expect_err("no credentials");
    assert_eq!(missing.code(), Code::Unauthenticated, "{missing:?}");

    for authorization in [
        basic(PK_A, "sk-lf-not-the-secret"),
        "Basic !!not-base64!!".to_owned(),
        basic("", SK_A),
        "Digest abc".to_owned(),
    ] {
        let refused = client
            .export(with_auth(trace_export(), &authorization))
            .await
            .expect_err("bad credentials");
        assert_eq!(refused.code(), Code::Unauthenticated, "{authorization}");
    }

    // A public key alone has the scores-only scope.
    let bearer = client
        .export(with_auth(trace_export(), &format!("Bearer {PK_A}")))
        .await
        .expect_err("Bearer refused");
    assert_eq!(bearer.code(), Code::PermissionDenied, "{bearer:?}");

    // Nothing of the refused exports was stored.
    app.get(
        &format!("/api/public/traces/{}", hex_of(&TRACE_ID)),
        &Auth::A,
    )
    .await
    .expect(404);
}

#[tokio::test]
async fn invalid_spans_are_a_partial_success_or_invalid_argument() {
    let app = TestApp::new().await;
    let receiver = Receiver::start(&app, config()).await;
    let mut client = receiver.client().await;
    let auth = basic(PK_A, SK_A);

    // One valid span and one with a 3-byte span id: the valid one is stored.
    let good = span(&TRACE_ID, &ROOT_ID, "good", Vec::new());
    let bad = span(&TRACE_ID, &[1, 2, 3], "bad", Vec::new());
    let response = client
        .export(with_auth(export(vec![good, bad]), &auth))
        .await
        .expect("partially accepted")
        .into_inner();
    let partial = response.partial_success.expect("partial_success");
    assert_eq!(partial.rejected_spans, 1);
    assert!(
        partial.error_message.contains("invalid span id"),
        "{}",
        partial.error_message
    );
    let trace = app
        .get_ok(&format!("/api/public/traces/{}", hex_of(&TRACE_ID)))
        .await;
    assert_eq!(trace["observations"].as_array().map(Vec::len), Some(1));

    // Every span invalid: the export itself is refused (not retryable).
    let refused = client
        .export(with_auth(
            export(vec![span(&[0; 16], &CHILD_ID, "zero trace id", Vec::new())]),
            &auth,
        ))
        .await
        .expect_err("all spans invalid");
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(refused.message().contains("trace id"), "{refused:?}");

    // An export without spans is a plain success.
    let empty = client
        .export(with_auth(ExportTraceServiceRequest::default(), &auth))
        .await
        .expect("empty export")
        .into_inner();
    assert_eq!(empty.partial_success, None);
}

#[tokio::test]
async fn messages_over_the_otlp_limit_are_refused() {
    let app = TestApp::new().await;
    let receiver = Receiver::start(
        &app,
        HttpConfig {
            max_otlp_body_bytes: 2_048,
            ..config()
        },
    )
    .await;
    let mut client = receiver.client().await;
    let large = export(vec![span(
        &TRACE_ID,
        &ROOT_ID,
        "large",
        vec![attribute("langfuse.observation.input", &"x".repeat(4_096))],
    )]);
    let refused = client
        .export(with_auth(large, &basic(PK_A, SK_A)))
        .await
        .expect_err("over the limit");
    assert_eq!(refused.code(), Code::OutOfRange, "{refused:?}");
    // Compressed, the same message is small on the wire but still too large decoded.
    let mut gzip_client = receiver
        .client()
        .await
        .send_compressed(CompressionEncoding::Gzip);
    let large = export(vec![span(
        &TRACE_ID,
        &ROOT_ID,
        "large",
        vec![attribute("langfuse.observation.input", &"x".repeat(4_096))],
    )]);
    let refused = gzip_client
        .export(with_auth(large, &basic(PK_A, SK_A)))
        .await
        .expect_err("over the limit once decompressed");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    app.get(
        &format!("/api/public/traces/{}", hex_of(&TRACE_ID)),
        &Auth::A,
    )
    .await
    .expect(404);
}

/// OTLP/HTTP runs the same ingest path: the same export gets the same partial success,
/// and an all-invalid export the same refusal (400 there, INVALID_ARGUMENT here).
#[tokio::test]
async fn otlp_http_answers_like_grpc() {
    let app = TestApp::new().await;
    let partial_export = || {
        export(vec![
            span(&TRACE_ID, &ROOT_ID, "good", Vec::new()),
            span(&TRACE_ID, &[1, 2, 3], "bad", Vec::new()),
        ])
    };
    let protobuf = [("content-type", "application/x-protobuf")];
    let response = app
        .raw(
            Method::POST,
            "/api/public/otel/v1/traces",
            &Auth::A,
            &protobuf,
            partial_export().encode_to_vec(),
        )
        .await;
    response.expect(200);
    assert_eq!(
        response.headers["content-type"], "application/x-protobuf",
        "answered in the request's encoding"
    );
    let over_http = ExportTraceServiceResponse::decode(response.bytes.as_slice())
        .expect("protobuf answer")
        .partial_success
        .expect("partial_success");

    let receiver = Receiver::start(&app, config()).await;
    let over_grpc = receiver
        .client()
        .await
        .export(with_auth(partial_export(), &basic(PK_A, SK_A)))
        .await
        .expect("export accepted")
        .into_inner()
        .partial_success
        .expect("partial_success");
    assert_eq!(over_http, over_grpc);
    assert_eq!(over_http.rejected_spans, 1);

    let all_invalid = export(vec![span(&[0; 16], &CHILD_ID, "zero", Vec::new())]);
    let message = app
        .raw(
            Method::POST,
            "/api/public/otel/v1/traces",
            &Auth::A,
            &protobuf,
            all_invalid.encode_to_vec(),
        )
        .await
        .expect_error(400, "InvalidRequestError");
    assert!(message.contains("trace id"), "{message}");
    app.raw(
        Method::POST,
        "/api/public/otel/v1/traces",
        &Auth::BearerA,
        &protobuf,
        partial_export().encode_to_vec(),
    )
    .await
    .expect(403);
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
