//! The test harness: a router over a fresh store with two projects (A and B), each with
//! a Basic key pair, and helpers to send requests and read JSON answers.
//!
//! The backend comes from `GLASSBOX_TEST_BACKEND`: `sqlite` (default; a temporary data
//! directory) or `postgres` (a fresh schema per app in the database named by
//! `GLASSBOX_TEST_DATABASE_URL`, with the prompt change listener running as in
//! `glassbox serve`). `scripts/test-all.sh` runs this binary with both.

use std::io::Write;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use base64::Engine;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use glassbox_http::{AppState, HttpConfig, hash_secret_key, router};
use glassbox_model::time::now_micros;
use glassbox_model::{ApiKey, Organization, Project, ProjectId, ScoreCategory, ScoreConfig};
use glassbox_model::{Micros, ScoreDataType};
use glassbox_store::Stores;
use glassbox_store_postgres::{PgConfig, PgStore, PromptListener};
use glassbox_store_sqlite::SqliteStore;

pub const SALT: &str = "api-test-salt";
pub const PROJECT_A: &str = "project-a";
pub const PROJECT_B: &str = "project-b";
pub const PK_A: &str = "pk-lf-aaaa";
pub const SK_A: &str = "sk-lf-aaaa";
pub const PK_B: &str = "pk-lf-bbbb";
pub const SK_B: &str = "sk-lf-bbbb";

/// How a request authenticates.
#[derive(Debug, Clone)]
pub enum Auth {
    /// Basic key pair of project A (full access).
    A,
    /// Basic key pair of project B (full access).
    B,
    /// `Bearer <public key of A>`: the scores-only scope.
    BearerA,
    /// No `Authorization` header.
    None,
    /// This exact header value.
    Raw(String),
}

impl Auth {
    pub fn header(&self) -> Option<String> {
        let basic = |pk: &str, sk: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{pk}:{sk}"))
            )
        };
        match self {
            Auth::A => Some(basic(PK_A, SK_A)),
            Auth::B => Some(basic(PK_B, SK_B)),
            Auth::BearerA => Some(format!("Bearer {PK_A}")),
            Auth::None => None,
            Auth::Raw(value) => Some(value.clone()),
        }
    }

    pub fn basic(public_key: &str, secret_key: &str) -> Auth {
        Auth::Raw(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{public_key}:{secret_key}"))
        ))
    }
}

/// A response, fully read.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub bytes: Vec<u8>,
    /// The body parsed as JSON, `Value::Null` when it is not JSON.
    pub json: Value,
}

impl Resp {
    /// Asserts the status, printing the body on failure; returns the JSON body.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            String::from_utf8_lossy(&self.bytes)
        );
        &self.json
    }

    /// Asserts a Langfuse error body: the status, a string `message` and this `error`.
    #[track_caller]
    pub fn expect_error(&self, status: u16, error: &str) -> String {
        self.expect(status);
        assert_eq!(self.json["error"], error, "error name; body: {}", self.json);
        self.json["message"]
            .as_str()
            .unwrap_or_else(|| panic!("message must be a string: {}", self.json))
            .to_owned()
    }

    pub fn data(&self) -> &Vec<Value> {
        self.json["data"]
            .as_array()
            .unwrap_or_else(|| panic!("no data array in {}", self.json))
    }

    /// The `id`s of `data`, in order.
    pub fn ids(&self) -> Vec<String> {
        self.data()
            .iter()
            .map(|item| item["id"].as_str().expect("id").to_owned())
            .collect()
    }
}

pub struct TestApp {
    pub router: Router,
    pub stores: Stores,
    _backend: TestBackend,
}

/// The store behind a [`TestApp`], kept alive (and its temporary files) with it.
pub enum TestBackend {
    Sqlite { _dir: tempfile::TempDir },
    Postgres { _listener: PromptListener },
}

impl TestBackend {
    /// True when `GLASSBOX_TEST_BACKEND=postgres`.
    pub fn postgres_selected() -> bool {
        match std::env::var("GLASSBOX_TEST_BACKEND").as_deref() {
            Ok("postgres") => true,
            Ok("sqlite") | Ok("") | Err(_) => false,
            Ok(other) => panic!("GLASSBOX_TEST_BACKEND must be sqlite or postgres, not {other}"),
        }
    }

    async fn open() -> (TestBackend, Stores) {
        if Self::postgres_selected() {
            let url = std::env::var("GLASSBOX_TEST_DATABASE_URL").expect(
                "GLASSBOX_TEST_BACKEND=postgres needs GLASSBOX_TEST_DATABASE_URL \
                 (scripts/postgres-test-cluster.sh start prints one)",
            );
            let mut config = PgConfig::new(url);
            config.schema = Some(format!("api_{}", uuid::Uuid::new_v4().simple()));
            config.pool_size = 4;
            let store = PgStore::connect(config)
                .await
                .expect("connect to the test database");
            let stores = Stores::from_backend(store.clone());
            let listener = store.listen_for_prompt_changes(stores.prompt_cache.clone());
            (
                TestBackend::Postgres {
                    _listener: listener,
                },
                stores,
            )
        } else {
            let dir = tempfile::tempdir().expect("temp dir");
            let store = SqliteStore::open(dir.path()).expect("open sqlite store");
            let stores = Stores::from_backend(store.clone());
            (TestBackend::Sqlite { _dir: dir }, stores)
        }
    }
}

impl TestApp {
    pub async fn new() -> TestApp {
        Self::with_config(HttpConfig {
            salt: SALT.to_owned(),
            version: "test-version".to_owned(),
            ..HttpConfig::default()
        })
        .await
    }

    pub async fn with_config(config: HttpConfig) -> TestApp {
        let (backend, stores) = TestBackend::open().await;
        let now = now_micros();
        for (org, project, name, pk, sk) in [
            ("org-a", PROJECT_A, "Project A", PK_A, SK_A),
            ("org-b", PROJECT_B, "Project B", PK_B, SK_B),
        ] {
            stores
                .admin
                .ensure_organization(Organization {
                    id: org.to_owned(),
                    name: format!("Org of {name}"),
                    created_at: now,
                })
                .await
                .expect("organization");
            stores
                .admin
                .ensure_project(Project {
                    id: ProjectId(project.to_owned()),
                    org_id: org.to_owned(),
                    name: name.to_owned(),
                    retention_days: None,
                    metadata: serde_json::Map::new(),
                    created_at: now,
                })
                .await
                .expect("project");
            stores
                .admin
                .insert_api_key(ApiKey {
                    id: format!("key-{project}"),
                    project_id: ProjectId(project.to_owned()),
                    public_key: pk.to_owned(),
                    hashed_secret_key: hash_secret_key(sk, &config.salt),
                    display_secret_key: format!("{}...{}", &sk[..6], &sk[sk.len() - 4..]),
                    note: None,
                    created_at: now,
                    last_used_at: None,
                })
                .await
                .expect("api key");
        }
        let state = AppState {
            stores: stores.clone(),
            config: Arc::new(config),
        };
        TestApp {
            router: router(state),
            stores,
            _backend: backend,
        }
    }

    pub async fn send(&self, request: Request<Body>) -> Resp {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router is infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("read body")
            .to_bytes()
            .to_vec();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            bytes,
            json,
        }
    }

    /// A request with raw body bytes and extra headers.
    pub async fn raw(
        &self,
        method: Method,
        uri: &str,
        auth: &Auth,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Resp {
        let mut builder = Request::builder().method(method).uri(uri);
        if let Some(value) = auth.header() {
            builder = builder.header(header::AUTHORIZATION, value);
        }
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        // As an HTTP client does for a body it has in full (the ingestion admission
        // charges a request without it as a large streamed one).
        let declared = headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("content-length"));
        if !body.is_empty() && !declared {
            builder = builder.header(header::CONTENT_LENGTH, body.len());
        }
        self.send(builder.body(Body::from(body)).expect("request"))
            .await
    }

    pub async fn get(&self, uri: &str, auth: &Auth) -> Resp {
        self.raw(Method::GET, uri, auth, &[], Vec::new()).await
    }

    pub async fn delete(&self, uri: &str, auth: &Auth) -> Resp {
        self.raw(Method::DELETE, uri, auth, &[], Vec::new()).await
    }

    pub async fn json(&self, method: Method, uri: &str, auth: &Auth, body: &Value) -> Resp {
        self.raw(
            method,
            uri,
            auth,
            &[("content-type", "application/json")],
            serde_json::to_vec(body).expect("serialise"),
        )
        .await
    }

    pub async fn post(&self, uri: &str, auth: &Auth, body: &Value) -> Resp {
        self.json(Method::POST, uri, auth, body).await
    }

    pub async fn patch(&self, uri: &str, auth: &Auth, body: &Value) -> Resp {
        self.json(Method::PATCH, uri, auth, body).await
    }

    /// POSTs `bytes` gzip-compressed with `Content-Encoding: gzip`.
    pub async fn post_gzip(&self, uri: &str, auth: &Auth, bytes: &[u8]) -> Resp {
        self.raw(
            Method::POST,
            uri,
            auth,
            &[
                ("content-type", "application/json"),
                ("content-encoding", "gzip"),
            ],
            gzip(bytes),
        )
        .await
    }

    /// `POST /api/public/ingestion` of these events; asserts 207 and returns the body.
    pub async fn ingest(&self, auth: &Auth, events: Vec<Value>) -> Value {
        let response = self
            .post("/api/public/ingestion", auth, &json!({ "batch": events }))
            .await;
        response.expect(207).clone()
    }

    /// Ingests and asserts that every event (but `sdk-log`) succeeded.
    pub async fn ingest_ok(&self, auth: &Auth, events: Vec<Value>) -> Value {
        let count = events
            .iter()
            .filter(|event| event["type"] != "sdk-log")
            .count();
        let body = self.ingest(auth, events).await;
        assert_eq!(body["errors"], json!([]), "ingestion errors: {body}");
        assert_eq!(
            body["successes"].as_array().map(Vec::len),
            Some(count),
            "{body}"
        );
        body
    }

    /// GET with Basic A, asserting 200.
    pub async fn get_ok(&self, uri: &str) -> Value {
        self.get(uri, &Auth::A).await.expect(200).clone()
    }

    pub async fn insert_config(&self, project: &str, config: ScoreConfig) {
        self.stores
            .score_configs
            .insert_score_config(&ProjectId(project.to_owned()), config)
            .await
            .expect("insert score config");
    }
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// An ingestion event with a fresh envelope id and the envelope timestamp `timestamp`.
pub fn event_at(event_type: &str, timestamp: &str, body: Value) -> Value {
    json!({"id": new_id(), "type": event_type, "timestamp": timestamp, "body": body})
}

/// An ingestion event stamped now.
pub fn event(event_type: &str, body: Value) -> Value {
    event_at(
        event_type,
        &glassbox_model::time::format_iso(now_micros()),
        body,
    )
}

pub fn score_config(
    id: &str,
    name: &str,
    data_type: ScoreDataType,
    min_value: Option<f64>,
    max_value: Option<f64>,
    categories: Option<Vec<(&str, f64)>>,
) -> ScoreConfig {
    let now: Micros = now_micros();
    ScoreConfig {
        id: id.to_owned(),
        name: name.to_owned(),
        data_type,
        is_archived: false,
        min_value,
        max_value,
        categories: categories.map(|list| {
            list.into_iter()
                .map(|(label, value)| ScoreCategory {
                    label: label.to_owned(),
                    value,
                })
                .collect()
        }),
        description: None,
        created_at: now,
        updated_at: now,
    }
}

/// Percent-encodes a query value.
pub fn enc(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Parses an ISO timestamp of a response into microseconds.
pub fn micros(value: &Value) -> i64 {
    glassbox_model::time::parse_iso_with_offset(value.as_str().expect("timestamp string"))
        .expect("ISO timestamp")
}

/// Asserts `a` and `b` are equal floats within 1e-9.
#[track_caller]
pub fn assert_close(actual: &Value, expected: f64) {
    let actual = actual
        .as_f64()
        .unwrap_or_else(|| panic!("expected a number, got {actual}"));
    assert!(
        (actual - expected).abs() < 1e-9,
        "expected {expected}, got {actual}"
    );
}

/// A test vector of the repository's `testdata/` folder (copies of the shared SDK
/// captures and the Langfuse OpenAPI file), e.g. `sdk-wire/js-v3-legacy-ingestion.jsonl`.
pub fn testdata_path(relative: &str) -> std::path::PathBuf {
    let manifest = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let workspace = manifest.ancestors().nth(2).expect("workspace root");
    let path = workspace.join("testdata").join(relative);
    assert!(path.exists(), "{} is missing", path.display());
    path
}
